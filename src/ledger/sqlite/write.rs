//! The writer's side: a batch of entries in one `BEGIN IMMEDIATE` transaction, each intent
//! judged by the run's rules inside it, the ids of names and runs looked up once a process.

use std::collections::HashMap;

use rusqlite::{Connection, params};

use super::lookups::On;
use crate::ledger::{Entry, Refusal, Rules, SendState};

/// A number's hold, kept at the latest instant asked.
pub(super) const HOLD: &str = "INSERT INTO holds (sender, until) VALUES (?1, ?2)
     ON CONFLICT (sender) DO UPDATE SET until = max(until, excluded.until)";

/// An intent inserts the send (a retried row of the same run updates it, to the retry's
/// time: the number's last send is the retry, for the pace restored after a restart).
pub(super) const UPSERT: &str =
    "INSERT INTO sent (run, row, sender, destination, campaign, state, message_id, at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
     ON CONFLICT (run, row) DO UPDATE SET state = excluded.state,
         message_id = excluded.message_id, at = max(at, excluded.at)";

/// An outcome updates its intent's row.
pub(super) const OUTCOME: &str =
    "UPDATE sent SET state = ?3, message_id = ?4 WHERE run = ?1 AND row = ?2";

impl SendState {
    /// The state's number in the `sent` table.
    pub(super) fn code(self) -> i64 {
        match self {
            SendState::NotSent => 0,
            SendState::Sending => 1,
            SendState::Accepted => 2,
            SendState::Uncertain => 3,
        }
    }
}

/// The writer's connection, with the ids of the text it has written: a run's results path,
/// its number and campaign are looked up (or added) once per process, not per send.
#[derive(Debug)]
pub(super) struct Writer {
    pub(super) connection: Connection,
    pub(super) names: HashMap<String, i64>,
    pub(super) runs: HashMap<u64, i64>,
}

/// The ids of one transaction, added to the writer's once it commits (a rolled-back id may
/// be given to another text by another process).
#[derive(Default)]
pub(super) struct Ids<'a> {
    names: HashMap<&'a str, i64>,
    runs: HashMap<u64, i64>,
}

impl<'a> Ids<'a> {
    pub(super) fn name(
        &mut self,
        known: &HashMap<String, i64>,
        transaction: &rusqlite::Transaction<'_>,
        name: &'a str,
    ) -> Result<i64, rusqlite::Error> {
        if let Some(&id) = known.get(name).or_else(|| self.names.get(name)) {
            return Ok(id);
        }
        (transaction.prepare_cached("INSERT OR IGNORE INTO names (name) VALUES (?1)")?)
            .execute([name])?;
        let id = (transaction.prepare_cached("SELECT id FROM names WHERE name = ?1")?)
            .query_row([name], |r| r.get(0))?;
        self.names.insert(name, id);
        Ok(id)
    }

    pub(super) fn run(
        &mut self,
        known: &HashMap<u64, i64>,
        transaction: &rusqlite::Transaction<'_>,
        entry: &Entry<'_>,
    ) -> Result<i64, rusqlite::Error> {
        if let Some(&id) = known.get(&entry.run).or_else(|| self.runs.get(&entry.run)) {
            return Ok(id);
        }
        let token = entry.run as i64;
        (transaction
            .prepare_cached("INSERT OR IGNORE INTO runs (token, results) VALUES (?1, ?2)")?)
        .execute(params![token, entry.results])?;
        let id = (transaction.prepare_cached("SELECT id FROM runs WHERE token = ?1")?)
            .query_row([token], |r| r.get(0))?;
        self.runs.insert(entry.run, id);
        Ok(id)
    }
}

impl Writer {
    /// Records `entries` in one transaction, each intent judged by `rules` first. The
    /// transaction takes the write lock before it reads (`IMMEDIATE`), so what it judges by
    /// cannot change before it commits.
    pub(super) fn record(
        &mut self,
        entries: &[Entry<'_>],
        rules: Option<&Rules>,
    ) -> Result<Vec<(usize, Refusal)>, rusqlite::Error> {
        let Writer {
            connection,
            names,
            runs,
        } = self;
        let transaction =
            connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut ids = Ids::default();
        let refused = write(&transaction, entries, rules, &mut ids, names, runs)?;
        transaction.commit()?;
        names.extend(ids.names.into_iter().map(|(k, v)| (k.to_owned(), v)));
        runs.extend(ids.runs);
        Ok(refused)
    }
}

/// Writes `entries` in `transaction`: an intent as a new row (unless `rules` refuse it), an
/// outcome onto its intent's (or as a new row when the intent is not there). Returns the
/// refused intents.
pub(super) fn write<'a>(
    transaction: &rusqlite::Transaction<'_>,
    entries: &[Entry<'a>],
    rules: Option<&Rules>,
    ids: &mut Ids<'a>,
    names: &HashMap<String, i64>,
    runs: &HashMap<u64, i64>,
) -> Result<Vec<(usize, Refusal)>, rusqlite::Error> {
    let mut upsert = transaction.prepare_cached(UPSERT)?;
    let mut outcome = transaction.prepare_cached(OUTCOME)?;
    let mut refused = Vec::new();
    for (index, e) in entries.iter().enumerate() {
        if let Some(until) = e.hold_until_ms {
            let sender = ids.name(names, transaction, e.sender)?;
            (transaction.prepare_cached(HOLD)?).execute(params![sender, until])?;
        }
        if e.state == SendState::Sending
            && let Some(rules) = rules
        {
            let on = On(transaction);
            let asked = (e.campaign, e.earlier, e.results);
            let destination = (e.destination, e.settled_ms);
            let refusal = match rules.refusal(&on, asked, e.run, destination, e.at_ms)? {
                Some(refusal) => Some(refusal),
                None => match rules.cap_spent(&on, e.sender, e.at_ms)? {
                    Some(refusal) => Some(refusal),
                    None => rules.paced(&on, e.sender, e.run, e.at_ms)?,
                },
            };
            if let Some(refusal) = refusal {
                refused.push((index, refusal));
                continue;
            }
        }
        let run = ids.run(runs, transaction, e)?;
        let row = e.row as i64;
        if e.state != SendState::Sending
            && outcome.execute(params![run, row, e.state.code(), e.message_id])? == 1
        {
            continue;
        }
        upsert.execute(params![
            run,
            row,
            ids.name(names, transaction, e.sender)?,
            e.destination as i64,
            ids.name(names, transaction, e.campaign)?,
            e.state.code(),
            e.message_id,
            e.at_ms
        ])?;
    }
    Ok(refused)
}
