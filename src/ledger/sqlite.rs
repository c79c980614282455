//! The ledger in one SQLite file: WAL, so readers never wait for the writer; a busy timeout
//! and `BEGIN IMMEDIATE` writes, so several processes on one file queue instead of failing;
//! `synchronous=NORMAL`: a commit is in the WAL before the batch's waiters are told, so a
//! kill -9 loses nothing, but it is not fsynced by itself (WAL checkpoints are): a power cut
//! may lose the last commits. FULL cost a second fsync per batch, -45 % sends/s at c64, and
//! each campaign's durable record is its results file anyway.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension as _, params};

use super::checkpointer::{BACKSTOP_PAGES, Checkpointer};
use super::{
    EarlierSend, Entry, Ledger, LedgerError, Lookups, Refusal, Rules, SendState, SenderCount,
    Settled,
};

/// How long a process waits for another one's write before giving up: far above any
/// batch's commit, well below anything a person would take for a hang.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The schema's version in `PRAGMA user_version`. 0 is the first schema (one `sends` table
/// with every key as text, written by releases before this one): it is migrated on open.
/// 2 lacks the `holds` table, and its releases record an intent without judging the rules
/// again in its transaction: a ledger they shared with this release would let them send
/// what this one refused, so it is raised to 3 on open, and they refuse it ("update").
const VERSION: i64 = 3;

/// The schema. A send row holds small integers: the run, number and campaign are ids into
/// `runs` and `names` (their text is kept once, not on every row), the destination its 64-bit
/// fingerprint. The row is keyed by (run, row) without a rowid, so an intent is one append
/// to the table and one to each index (the number's index appends too: `at` grows); only the
/// destination index takes a write at random, and a narrow one. An outcome updates the row in
/// place and touches no index.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    token INTEGER NOT NULL UNIQUE,
    results TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sent (
    run INTEGER NOT NULL,
    row INTEGER NOT NULL,
    sender INTEGER NOT NULL,
    destination INTEGER NOT NULL,
    campaign INTEGER NOT NULL,
    state INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (run, row)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sent_by_sender ON sent (sender, at);
CREATE INDEX IF NOT EXISTS sent_by_destination ON sent (destination, at);
";

/// The first schema's table, by the same name and columns, for people (and their queries)
/// reading the ledger with `sqlite3`. An older release refuses a migrated ledger at open (its
/// set-up cannot index a view) instead of writing a table no one reads.
const VIEW: &str = "
CREATE VIEW IF NOT EXISTS sends AS
SELECT r.token AS run, s.row AS row, r.results AS results, n.name AS sender,
    printf('%016x', s.destination) AS destination, c.name AS campaign,
    CASE s.state WHEN 0 THEN 'NOT_SENT' WHEN 1 THEN 'SENDING' WHEN 2 THEN 'ACCEPTED'
        ELSE 'UNCERTAIN' END AS state,
    s.message_id AS message_id, s.at AS at
FROM sent s JOIN runs r ON r.id = s.run JOIN names n ON n.id = s.sender
    JOIN names c ON c.id = s.campaign;
";

/// What answers asked each number to wait until (`Retry-After`), by the number's id in
/// `names` (schema 3).
const HOLDS: &str =
    "CREATE TABLE IF NOT EXISTS holds (sender INTEGER PRIMARY KEY, until INTEGER NOT NULL);";

/// A number's hold, kept at the latest instant asked.
const HOLD: &str = "INSERT INTO holds (sender, until) VALUES (?1, ?2)
     ON CONFLICT (sender) DO UPDATE SET until = max(until, excluded.until)";

/// States that count as (possibly) sent: all but `NOT_SENT` (0).
const COUNTED: &str = "state > 0";

/// An intent inserts the send (a retried row of the same run updates it, to the retry's
/// time: the number's last send is the retry, for the pace restored after a restart).
const UPSERT: &str =
    "INSERT INTO sent (run, row, sender, destination, campaign, state, message_id, at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
     ON CONFLICT (run, row) DO UPDATE SET state = excluded.state,
         message_id = excluded.message_id, at = max(at, excluded.at)";

/// An outcome updates its intent's row.
const OUTCOME: &str = "UPDATE sent SET state = ?3, message_id = ?4 WHERE run = ?1 AND row = ?2";

/// The lookup that runs before every send (`ALREADY_SENT`): every matching send (hardly
/// ever more than one), the best picked in [`SqliteLedger::earlier_send`]. An `ORDER BY`
/// here cost each lookup a temporary table, about 40 % of its instructions.
const EARLIER_SEND: &str = "SELECT s.message_id, r.results, s.state, s.at
     FROM sent s JOIN runs r ON r.id = s.run
     WHERE s.destination = ?2 AND s.campaign = (SELECT id FROM names WHERE name = ?1)
     AND r.token != ?3 AND (s.state = 2 OR (s.state IN (1, 3) AND NOT (r.results IS ?4 AND (?5 OR s.at <= ?6))))";

/// The lookup of `--frequency-cap`, before every send.
const RECEIVED_SINCE: &str = "SELECT count(*) FROM sent s JOIN runs r ON r.id = s.run
     WHERE s.destination = ?1 AND s.at >= ?2
     AND (s.state = 2 OR (s.state IN (1, 3) AND NOT (r.results IS ?3 AND (?4 OR s.at <= ?5))))";

/// The latest send of a number by other runs within a span, for the pace two runs of one
/// number share ([`Rules::paced`]): a range of the number's index, a few sends long.
const OTHERS_LAST_SEND: &str = "SELECT max(s.at) FROM sent s JOIN runs r ON r.id = s.run
     WHERE s.sender = (SELECT id FROM names WHERE name = ?1) AND s.at > ?3 AND s.at <= ?4
     AND r.token != ?2 AND s.state > 0";

/// A number's id, for the lookups by number.
const SENDER: &str = "(SELECT id FROM names WHERE name = ?1)";

/// The first spelling of instance `?1` (a lower-case fingerprint) recorded, if any. Only the
/// instances' names are read (a range of the names' index): a list whose rows name their own
/// messages adds a name per message.
const KNOWN_AS: &str = "SELECT name FROM names
     WHERE name >= 'instance:' AND name < 'instance;' AND lower(name) = ?1
     ORDER BY id LIMIT 1";

/// A number's sends (possible ones included) since `?2`, for `--daily-cap`.
const SENDS_SINCE: &str = "SELECT count(*) FROM sent
     WHERE sender = (SELECT id FROM names WHERE name = ?1) AND at >= ?2 AND state > 0";

impl SendState {
    /// The state's number in the `sent` table.
    fn code(self) -> i64 {
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
struct Writer {
    connection: Connection,
    names: HashMap<String, i64>,
    runs: HashMap<u64, i64>,
}

/// The ids of one transaction, added to the writer's once it commits (a rolled-back id may
/// be given to another text by another process).
#[derive(Default)]
struct Ids<'a> {
    names: HashMap<&'a str, i64>,
    runs: HashMap<u64, i64>,
}

impl<'a> Ids<'a> {
    fn name(
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

    fn run(
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
    fn record(
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
fn write<'a>(
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

/// The rules' lookups on one connection: the reader's, or the writer's inside its
/// transaction (which sees its own batch's intents too).
struct On<'c>(&'c Connection);

impl Lookups for On<'_> {
    type Error = rusqlite::Error;

    /// An accepted send first, then the earliest.
    fn earlier_send(
        &self,
        campaign: &str,
        destination: u64,
        run: u64,
        settled: Settled<'_>,
    ) -> Result<Option<EarlierSend>, rusqlite::Error> {
        // One fixed statement (prepared once per connection): this runs before every send.
        let mut statement = self.0.prepare_cached(EARLIER_SEND)?;
        let rows = statement.query_map(
            params![
                campaign,
                destination as i64,
                run as i64,
                settled.results,
                settled.all,
                settled.until_ms.unwrap_or(i64::MIN)
            ],
            |r| {
                let key = (r.get::<_, i64>(2)? != SendState::Accepted.code(), r.get(3)?);
                let earlier = EarlierSend {
                    message_id: r.get(0)?,
                    results: r.get(1)?,
                };
                Ok((key, earlier))
            },
        )?;
        let mut best: Option<((bool, i64), EarlierSend)> = None;
        for row in rows {
            let (key, earlier) = row?;
            if best.as_ref().is_none_or(|(known, _)| key < *known) {
                best = Some((key, earlier));
            }
        }
        Ok(best.map(|(_, earlier)| earlier))
    }

    fn received_since(
        &self,
        destination: u64,
        since_ms: i64,
        settled: Settled<'_>,
    ) -> Result<u64, rusqlite::Error> {
        let until = settled.until_ms.unwrap_or(i64::MIN);
        let params = params![
            destination as i64,
            since_ms,
            settled.results,
            settled.all,
            until
        ];
        count(self.0, RECEIVED_SINCE, params)
    }

    fn sends_since(&self, sender: &str, since_ms: i64) -> Result<u64, rusqlite::Error> {
        count(self.0, SENDS_SINCE, params![sender, since_ms])
    }

    fn others_last_send(
        &self,
        sender: &str,
        run: u64,
        (from_ms, to_ms): (i64, i64),
    ) -> Result<Option<i64>, rusqlite::Error> {
        (self.0.prepare_cached(OTHERS_LAST_SEND)?)
            .query_row(params![sender, run as i64, from_ms, to_ms], |r| r.get(0))
    }
}

/// The one number a counting statement answers.
fn count(
    connection: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<u64, rusqlite::Error> {
    let count: i64 = (connection.prepare_cached(sql)?).query_row(params, |r| r.get(0))?;
    Ok(count.max(0) as u64)
}

/// Brings the ledger on `connection` to [`VERSION`]: creates the schema, or migrates the
/// first one's sends into it. Run in one write transaction, so of two processes opening an
/// old ledger at once, one migrates and the other finds it done.
fn set_up(connection: &mut Connection) -> Result<(), String> {
    let version = |c: &Connection| -> Result<i64, rusqlite::Error> {
        c.query_row("PRAGMA user_version", [], |r| r.get(0))
    };
    if version(connection).map_err(|e| e.to_string())? == VERSION {
        return Ok(());
    }
    let transaction = connection
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| e.to_string())?;
    match version(&transaction).map_err(|e| e.to_string())? {
        VERSION => return Ok(()),
        0 | 2 => {}
        newer if newer > VERSION => {
            return Err(format!(
                "it was written by a newer campaign-sender (schema {newer}, this one knows {VERSION}); \
                 update campaign-sender"
            ));
        }
        other => {
            return Err(format!(
                "its schema version ({other}) is not one campaign-sender writes: it is not a \
                 ledger, or it was changed by hand; move it aside, or pass --ledger PATH"
            ));
        }
    }
    let migrate = || -> Result<(), rusqlite::Error> {
        let first: bool = transaction.query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'sends'",
            [],
            |r| r.get(0),
        )?;
        transaction.execute_batch(SCHEMA)?;
        transaction.execute_batch(HOLDS)?;
        if first {
            migrate_first(&transaction)?;
            transaction.execute_batch("DROP TABLE sends")?;
        }
        transaction.execute_batch(VIEW)?;
        transaction.pragma_update(None, "user_version", VERSION)
    };
    migrate().map_err(|e| format!("cannot set up its tables: {e}"))?;
    transaction.commit().map_err(|e| e.to_string())
}

/// Copies the first schema's sends (text keys) into the current tables, a chunk at a time.
fn migrate_first(transaction: &rusqlite::Transaction<'_>) -> Result<(), rusqlite::Error> {
    type Old = (
        i64,
        i64,
        String,
        String,
        String,
        String,
        String,
        String,
        i64,
    );
    const CHUNK: i64 = 10_000;
    let mut select = transaction.prepare(
        "SELECT rowid, run, row, results, sender, destination, campaign, state, message_id, at
         FROM sends WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
    )?;
    let (names, runs) = (HashMap::new(), HashMap::new());
    let mut after = i64::MIN;
    loop {
        let mut last = None;
        let rows: Vec<Old> = select
            .query_map(params![after, CHUNK], |r| {
                last = Some(r.get::<_, i64>(0)?);
                Ok((
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                ))
            })?
            .collect::<Result<_, _>>()?;
        let Some(last) = last else {
            return Ok(());
        };
        after = last;
        let entries: Vec<Entry<'_>> = rows
            .iter()
            .map(
                |(run, row, results, sender, destination, campaign, state, id, at)| Entry {
                    run: *run as u64,
                    row: *row as u64,
                    results,
                    sender,
                    destination: old_destination(destination),
                    campaign,
                    earlier: &[],
                    state: SendState::from_word(state),
                    message_id: id,
                    at_ms: *at,
                    hold_until_ms: None,
                    settled_ms: None,
                },
            )
            .collect();
        write(
            transaction,
            &entries,
            None,
            &mut Ids::default(),
            &names,
            &runs,
        )?;
    }
}

/// The first schema's destination: the fingerprint in 16 hex digits. Anything else (a hand
/// edit) is kept apart as a digest of its text rather than dropped.
fn old_destination(text: &str) -> u64 {
    u64::from_str_radix(text, 16).unwrap_or_else(|_| {
        use std::hash::Hasher as _;
        let mut hasher = siphasher::sip::SipHasher13::new();
        hasher.write(text.as_bytes());
        hasher.finish()
    })
}

/// A ledger in a SQLite file: one connection for the writer thread's batches, one for the
/// senders' lookups, so a lookup never waits behind a commit.
#[derive(Debug)]
pub struct SqliteLedger {
    path: PathBuf,
    writer: Mutex<Writer>,
    reader: Mutex<Connection>,
    /// Checkpoints the WAL off the writer's path, when a thread could be had.
    checkpointer: Option<Checkpointer>,
}

/// Puts the file in WAL mode. Switching a new file takes an exclusive lock, and SQLite
/// answers "database is locked" at once, without the busy timeout's wait, to a second
/// process doing the same at that moment (two cron runs opening a new ledger together): it
/// is tried again until the timeout.
fn wal(connection: &Connection) -> Result<(), rusqlite::Error> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match connection.pragma_update(None, "journal_mode", "WAL") {
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            done => return done,
        }
    }
}

impl SqliteLedger {
    /// Opens (creating it, and its directory, if missing) the ledger at `path`; a ledger of
    /// the first schema is migrated.
    pub fn open(path: &Path) -> Result<SqliteLedger, LedgerError> {
        let fail = |problem: String| LedgerError {
            path: path.to_path_buf(),
            problem,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| fail(format!("cannot create its folder: {e}")))?;
        }
        let connect = || -> Result<Connection, rusqlite::Error> {
            let connection = Connection::open(path)?;
            connection.busy_timeout(BUSY_TIMEOUT)?;
            wal(&connection)?;
            connection.pragma_update(None, "synchronous", "NORMAL")?;
            // The query planner's stability guarantee: without it this SQLite (built with
            // STAT4) recompiles a statement each time a bound value changes, which was most of
            // a lookup's cost.
            connection.set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
                true,
            )?;
            Ok(connection)
        };
        let mut writer = connect().map_err(|e| fail(e.to_string()))?;
        set_up(&mut writer).map_err(fail)?;
        // SQLite opens a file it may not write read-only, without a word: the run would
        // find out at its first intent, with a results line already written.
        if writer.is_readonly(rusqlite::MAIN_DB).unwrap_or(true) {
            return Err(fail(
                "it cannot be written (read-only: its file or folder may belong to another \
                 user): fix its permissions, or pass --ledger PATH for one this user can write"
                    .into(),
            ));
        }
        let reader = connect().map_err(|e| fail(e.to_string()))?;
        let checkpointer = connect().ok().and_then(Checkpointer::start);
        if checkpointer.is_some() {
            (writer.pragma_update(None, "wal_autocheckpoint", BACKSTOP_PAGES))
                .map_err(|e| fail(e.to_string()))?;
        }
        Ok(SqliteLedger {
            path: path.to_path_buf(),
            writer: Mutex::new(Writer {
                connection: writer,
                names: HashMap::new(),
                runs: HashMap::new(),
            }),
            reader: Mutex::new(reader),
            checkpointer,
        })
    }

    fn fail(&self, error: rusqlite::Error) -> LedgerError {
        LedgerError {
            path: self.path.clone(),
            problem: error.to_string(),
        }
    }

    fn read(&self) -> MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Lookups for SqliteLedger {
    type Error = LedgerError;

    fn received_since(
        &self,
        destination: u64,
        since_ms: i64,
        settled: Settled<'_>,
    ) -> Result<u64, LedgerError> {
        (On(&self.read()).received_since(destination, since_ms, settled)).map_err(|e| self.fail(e))
    }

    fn earlier_send(
        &self,
        campaign: &str,
        destination: u64,
        run: u64,
        settled: Settled<'_>,
    ) -> Result<Option<EarlierSend>, LedgerError> {
        (On(&self.read()).earlier_send(campaign, destination, run, settled))
            .map_err(|e| self.fail(e))
    }

    fn sends_since(&self, sender: &str, since_ms: i64) -> Result<u64, LedgerError> {
        (On(&self.read()).sends_since(sender, since_ms)).map_err(|e| self.fail(e))
    }

    fn others_last_send(
        &self,
        sender: &str,
        run: u64,
        within: (i64, i64),
    ) -> Result<Option<i64>, LedgerError> {
        (On(&self.read()).others_last_send(sender, run, within)).map_err(|e| self.fail(e))
    }
}

impl Ledger for SqliteLedger {
    fn record(
        &self,
        entries: &[Entry<'_>],
        rules: Option<&Rules>,
    ) -> Result<Vec<(usize, Refusal)>, LedgerError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let refused = writer.record(entries, rules).map_err(|e| self.fail(e))?;
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.committed();
        }
        Ok(refused)
    }

    fn nth_send_since(
        &self,
        sender: &str,
        since_ms: i64,
        n: u64,
    ) -> Result<Option<i64>, LedgerError> {
        self.read()
            .prepare_cached(&format!(
                "SELECT at FROM sent WHERE sender = {SENDER} AND at >= ?2 AND {COUNTED}
                 ORDER BY at LIMIT 1 OFFSET ?3"
            ))
            .and_then(|mut s| {
                s.query_row(params![sender, since_ms, n as i64], |r| r.get(0))
                    .optional()
            })
            .map_err(|e| self.fail(e))
    }

    fn last_send(&self, sender: &str) -> Result<Option<i64>, LedgerError> {
        self.read()
            .prepare_cached(&format!(
                "SELECT max(at) FROM sent WHERE sender = {SENDER} AND {COUNTED}"
            ))
            .and_then(|mut s| s.query_row(params![sender], |r| r.get(0)))
            .map_err(|e| self.fail(e))
    }

    fn held_until(&self, sender: &str) -> Result<Option<i64>, LedgerError> {
        self.read()
            .prepare_cached(&format!("SELECT until FROM holds WHERE sender = {SENDER}"))
            .and_then(|mut s| s.query_row(params![sender], |r| r.get(0)).optional())
            .map_err(|e| self.fail(e))
    }

    fn hold(&self, sender: &str, until_ms: i64) -> Result<(), LedgerError> {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let Writer {
            connection, names, ..
        } = &mut *writer;
        let kept = connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .and_then(|transaction| {
                let id = Ids::default().name(names, &transaction, sender)?;
                (transaction.prepare_cached(HOLD)?).execute(params![id, until_ms])?;
                transaction.commit()
            });
        kept.map_err(|e| self.fail(e))
    }

    fn forget_hold(&self, sender: &str) -> Result<(), LedgerError> {
        let writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        (writer.connection)
            .execute(
                &format!("DELETE FROM holds WHERE sender = {SENDER}"),
                params![sender],
            )
            .map(drop)
            .map_err(|e| self.fail(e))
    }

    fn known_as(&self, sender: &str) -> Result<String, LedgerError> {
        self.read()
            .prepare_cached(KNOWN_AS)
            .and_then(|mut s| s.query_row(params![sender], |r| r.get(0)).optional())
            .map(|known: Option<String>| known.unwrap_or_else(|| sender.to_string()))
            .map_err(|e| self.fail(e))
    }

    fn senders_since(&self, since_ms: i64) -> Result<Vec<SenderCount>, LedgerError> {
        let connection = self.read();
        let mut statement = connection
            .prepare_cached(&format!(
                "SELECT n.name, count(*) FROM sent s JOIN names n ON n.id = s.sender
                 WHERE s.at >= ?1 AND s.{COUNTED} GROUP BY n.name ORDER BY n.name"
            ))
            .map_err(|e| self.fail(e))?;
        let rows = statement
            .query_map(params![since_ms], |r| {
                Ok(SenderCount {
                    sender: r.get(0)?,
                    sends: r.get::<_, i64>(1)?.max(0) as u64,
                })
            })
            .map_err(|e| self.fail(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.fail(e))
    }
}

impl SendState {
    /// The state a results line's status stands for in the ledger; `None` for a line that
    /// is no send at all.
    pub fn of(status: crate::journal::Status) -> Option<SendState> {
        use crate::journal::Status;
        match status {
            Status::Sending => Some(SendState::Sending),
            Status::Queued => Some(SendState::Accepted),
            Status::Uncertain => Some(SendState::Uncertain),
            Status::Deferred | Status::Failed => Some(SendState::NotSent),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every possible send counts.
    const EVERY: Settled<'static> = Settled {
        results: None,
        all: false,
        until_ms: None,
    };

    /// `--resend-uncertain` of `file`.
    fn checked(file: &str) -> Settled<'_> {
        Settled {
            results: Some(file),
            all: true,
            until_ms: None,
        }
    }

    fn entry(run: u64, row: u64, state: SendState, at_ms: i64) -> Entry<'static> {
        Entry {
            run,
            row,
            results: "r.csv",
            sender: "key:1",
            destination: 1000 + row,
            campaign: "c",
            earlier: &[],
            state,
            message_id: ["m-a", "m-b"][row as usize % 2],
            at_ms,
            hold_until_ms: None,
            settled_ms: None,
        }
    }

    /// What the writer's transaction refuses: the intents another run's sends forbid, by
    /// the run's own rules; outcomes never; a refused intent leaves no entry.
    #[test]
    fn intents_are_judged_by_the_rules_in_the_transaction_that_records_them() {
        use crate::ledger::{FrequencyCap, Refusal};
        let dir = tempfile::tempdir().unwrap();
        let ledger = SqliteLedger::open(&dir.path().join("ledger.sqlite3")).unwrap();
        let strict = Rules {
            allow_resend: false,
            accepted_only: false,
            frequency_cap: None,
            daily_caps: HashMap::new(),
            pace: None,
        };
        // Run 1 has row 1 (destination 1001) in flight and row 2 (1002) accepted.
        let first = [
            entry(1, 1, SendState::Sending, 10),
            entry(1, 2, SendState::Accepted, 10),
        ];
        assert_eq!(ledger.record(&first, Some(&strict)).unwrap(), []);
        // Run 2 of the same campaign: both refused; its row 3 (1003) goes ahead.
        let second = [
            entry(2, 1, SendState::Sending, 20),
            entry(2, 3, SendState::Sending, 20),
            entry(2, 2, SendState::Sending, 20),
        ];
        let refused = ledger.record(&second, Some(&strict)).unwrap();
        let earlier = |id: &str| {
            Refusal::AlreadySent(EarlierSend {
                message_id: id.into(),
                results: "r.csv".into(),
            })
        };
        assert_eq!(refused, [(0, earlier("m-b")), (2, earlier("m-a"))]);
        assert_eq!(
            ledger.received_since(1001, 0, EVERY).unwrap(),
            1,
            "not recorded"
        );
        assert_eq!(ledger.received_since(1003, 0, EVERY).unwrap(), 1);
        // Outcomes are not judged; --allow-resend refuses nothing.
        let outcome = [entry(2, 1, SendState::NotSent, 20)];
        assert_eq!(ledger.record(&outcome, Some(&strict)).unwrap(), []);
        let lenient = Rules {
            allow_resend: true,
            ..strict.clone()
        };
        let again = [entry(3, 1, SendState::Sending, 30)];
        assert_eq!(ledger.record(&again, Some(&lenient)).unwrap(), []);
        // --resend-uncertain: only accepted sends count, so run 4 may send row 1 again
        // (its sends are in flight or uncertain) but not row 2 (accepted).
        let checked = Rules {
            accepted_only: true,
            ..strict.clone()
        };
        let fourth = [
            entry(4, 1, SendState::Sending, 40),
            entry(4, 2, SendState::Sending, 40),
        ];
        let refused = ledger.record(&fourth, Some(&checked)).unwrap();
        assert_eq!(refused.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [1]);
        // Another campaign under a frequency cap of 3 in 100 ms: 1001 got 3 by now.
        let capped = Rules {
            allow_resend: true,
            accepted_only: false,
            frequency_cap: Some(FrequencyCap {
                count: 3,
                within: std::time::Duration::from_millis(100),
            }),
            daily_caps: HashMap::new(),
            pace: None,
        };
        let other = [Entry {
            campaign: "d",
            ..entry(5, 1, SendState::Sending, 50)
        }];
        let refused = ledger.record(&other, Some(&capped)).unwrap();
        assert!(
            matches!(refused[..], [(0, Refusal::FrequencyCap { got: 3, .. })]),
            "{refused:?}"
        );
        // The number (key:1) has 5 sends that count: a daily cap of 6 lets one more through,
        // counting the batch's own.
        let daily = Rules {
            daily_caps: HashMap::from([("key:1".to_string(), 6)]),
            ..lenient
        };
        let last = [
            entry(6, 7, SendState::Sending, 60),
            entry(6, 8, SendState::Sending, 60),
        ];
        let refused = ledger.record(&last, Some(&daily)).unwrap();
        assert_eq!(refused, [(1, Refusal::DailyCap { cap: 6 })]);
        // A campaign's sends under the name the previous release gave it ("c") count
        // for it; a campaign with no such earlier name does not take them for its own.
        let earlier = ["c".to_string()];
        let per_row = [
            Entry {
                campaign: "c2",
                earlier: &earlier,
                ..entry(7, 2, SendState::Sending, 70)
            },
            Entry {
                campaign: "c3",
                ..entry(7, 1, SendState::Sending, 70)
            },
        ];
        let refused = ledger.record(&per_row, Some(&strict)).unwrap();
        assert_eq!(refused.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0]);
    }

    /// Two runs of one number share its pace: an intent closer than the gap to another
    /// run's send (a possible one included) waits until the gap is over; the run's own
    /// sends, a send not sent, and one dated further ahead than the gap do not hold it.
    #[test]
    fn an_intent_closer_than_the_pace_to_another_runs_send_waits_for_it() {
        use crate::ledger::Refusal;
        let dir = tempfile::tempdir().unwrap();
        let ledger = SqliteLedger::open(&dir.path().join("ledger.sqlite3")).unwrap();
        let paced = Rules {
            allow_resend: true,
            accepted_only: false,
            frequency_cap: None,
            daily_caps: HashMap::new(),
            pace: Some(std::time::Duration::from_millis(500)),
        };
        let record = |entries: &[Entry<'_>]| ledger.record(entries, Some(&paced)).unwrap();
        assert_eq!(record(&[entry(1, 1, SendState::Sending, 1000)]), []);
        assert_eq!(
            record(&[entry(1, 2, SendState::Sending, 1100)]),
            [],
            "its own"
        );
        let waits = |until_ms| vec![(0, Refusal::Paced { until_ms })];
        assert_eq!(
            record(&[entry(2, 1, SendState::Sending, 1200)]),
            waits(1600)
        );
        assert_eq!(record(&[entry(2, 1, SendState::Sending, 1600)]), []);
        // Run 1's row 3 was never sent: it holds nothing. Its row 4, dated far ahead by a
        // damaged clock, holds nothing either.
        assert_eq!(record(&[entry(1, 3, SendState::NotSent, 2000)]), []);
        assert_eq!(record(&[entry(1, 4, SendState::Sending, 99_000)]), []);
        assert_eq!(record(&[entry(2, 2, SendState::Sending, 2100)]), []);
        // The batch's own intents count: run 3 after run 2's 2100, in the same batch.
        let batch = [
            entry(2, 5, SendState::Sending, 2700),
            entry(3, 1, SendState::Sending, 2800),
        ];
        assert_eq!(record(&batch), [(1, Refusal::Paced { until_ms: 3200 })]);
        assert_eq!(
            ledger.others_last_send("key:1", 3, (2200, 3300)).unwrap(),
            Some(2700),
            "the reader's lookup, before an intent, answers the same"
        );
    }

    #[test]
    fn a_ledger_of_schema_2_is_raised_to_3_and_keeps_its_sends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite3");
        let ledger = SqliteLedger::open(&path).unwrap();
        ledger
            .record(&[entry(1, 1, SendState::Accepted, 10)], None)
            .unwrap();
        drop(ledger);
        let old = Connection::open(&path).unwrap();
        old.execute_batch("DROP TABLE holds; PRAGMA user_version = 2;")
            .unwrap();
        drop(old);
        let ledger = SqliteLedger::open(&path).unwrap();
        assert_eq!(ledger.sends_since("key:1", 0).unwrap(), 1);
        let hold = Entry {
            hold_until_ms: Some(99),
            ..entry(1, 1, SendState::Accepted, 10)
        };
        ledger.record(&[hold], None).unwrap();
        assert_eq!(ledger.held_until("key:1").unwrap(), Some(99));
        let version: i64 = (ledger.read())
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, VERSION);
    }

    #[test]
    fn several_opening_a_new_ledger_at_once_all_get_it() {
        let dir = tempfile::tempdir().unwrap();
        for attempt in 0..20 {
            let path = dir.path().join(format!("{attempt}.sqlite3"));
            let start = std::sync::Barrier::new(6);
            std::thread::scope(|scope| {
                let opened: Vec<_> = (0..6)
                    .map(|_| {
                        scope.spawn(|| {
                            start.wait();
                            SqliteLedger::open(&path).map(|_| ())
                        })
                    })
                    .collect();
                for open in opened {
                    open.join().unwrap().unwrap();
                }
            });
        }
    }

    #[test]
    fn a_schema_version_no_release_wrote_is_refused_as_such() {
        let dir = tempfile::tempdir().unwrap();
        for (version, said) in [(-5, "not one campaign-sender writes"), (9, "newer")] {
            let path = dir.path().join(format!("l{version}.sqlite3"));
            let sql = Connection::open(&path).unwrap();
            sql.pragma_update(None, "user_version", version).unwrap();
            drop(sql);
            let refused = SqliteLedger::open(&path).unwrap_err().to_string();
            assert!(refused.contains(said), "{version}: {refused}");
        }
    }

    #[test]
    fn an_intent_then_its_outcome_is_one_send_and_a_refusal_counts_for_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = SqliteLedger::open(&dir.path().join("a/b/ledger.sqlite3")).unwrap();
        ledger
            .record(
                &[
                    entry(1, 1, SendState::Sending, 10),
                    entry(1, 2, SendState::Sending, 20),
                ],
                None,
            )
            .unwrap();
        assert_eq!(ledger.sends_since("key:1", 0).unwrap(), 2);
        ledger
            .record(
                &[
                    entry(1, 1, SendState::Accepted, 10),
                    entry(1, 2, SendState::NotSent, 20),
                ],
                None,
            )
            .unwrap();
        assert_eq!(ledger.sends_since("key:1", 0).unwrap(), 1);
        assert_eq!(ledger.sends_since("key:1", 11).unwrap(), 0);
        assert_eq!(ledger.last_send("key:1").unwrap(), Some(10));
        assert_eq!(ledger.last_send("key:2").unwrap(), None);
        // An earlier interrupted send of another run does not hide the accepted one.
        let interrupted = Entry {
            message_id: "",
            ..entry(3, 1, SendState::Sending, 5)
        };
        ledger.record(&[interrupted], None).unwrap();
        let earlier = ledger.earlier_send("c", 1001, 2, EVERY).unwrap().unwrap();
        assert_eq!(earlier.message_id, "m-b");
        assert_eq!(
            ledger.earlier_send("c", 1001, 1, checked("r.csv")).unwrap(),
            None,
            "its own run"
        );
        assert_eq!(
            (ledger.earlier_send("c", 1001, 1, EVERY).unwrap()).map(|e| e.message_id),
            Some(String::new()),
            "another run's interrupted send"
        );
        assert_eq!(
            ledger.earlier_send("c", 1002, 2, EVERY).unwrap(),
            None,
            "not sent"
        );
        // Its file's uncertain send checked by the person: only the accepted one counts;
        // another file's uncertain sends still count.
        assert_eq!(ledger.received_since(1001, 0, checked("r.csv")).unwrap(), 1);
        assert_eq!(ledger.received_since(1001, 0, checked("o.csv")).unwrap(), 2);
        assert_eq!(ledger.received_since(1001, 0, EVERY).unwrap(), 2);
        // The row's own line in r.csv says its attempt at 5 ms was not sent: that file's
        // possible sends then or before do not count, a later one (an older copy of the file
        // put back) does, and so does another file's.
        let settled = |file, until_ms| Settled {
            results: Some(file),
            all: false,
            until_ms: Some(until_ms),
        };
        assert_eq!(
            ledger.received_since(1001, 0, settled("r.csv", 5)).unwrap(),
            1
        );
        assert_eq!(
            ledger.received_since(1001, 0, settled("r.csv", 4)).unwrap(),
            2
        );
        assert_eq!(
            ledger.received_since(1001, 0, settled("o.csv", 5)).unwrap(),
            2
        );
        assert_eq!(
            (ledger
                .earlier_send("c", 1001, 1, settled("r.csv", 5))
                .unwrap()),
            None,
            "settled by its own line"
        );
        let counts = ledger.senders_since(0).unwrap();
        assert_eq!(
            counts,
            [SenderCount {
                sender: "key:1".into(),
                sends: 2
            }],
            "the accepted send and the interrupted one"
        );
    }

    #[test]
    fn the_per_send_lookups_are_compiled_once() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = SqliteLedger::open(&dir.path().join("ledger.sqlite3")).unwrap();
        for row in 0..200 {
            ledger
                .record(&[entry(1, row, SendState::Sending, row as i64)], None)
                .unwrap();
            ledger
                .record(&[entry(1, row, SendState::Accepted, row as i64)], None)
                .unwrap();
            ledger
                .earlier_send("c", 1000 + row, 2, checked("r.csv"))
                .unwrap();
            ledger
                .received_since(1000 + row, row as i64, EVERY)
                .unwrap();
        }
        let writer = ledger.writer.lock().unwrap();
        let reader = ledger.read();
        for (connection, sql) in [
            (&writer.connection, UPSERT),
            (&writer.connection, OUTCOME),
            (&*reader, EARLIER_SEND),
            (&*reader, RECEIVED_SINCE),
        ] {
            let statement = connection.prepare_cached(sql).unwrap();
            assert_eq!(
                statement.get_status(rusqlite::StatementStatus::RePrepare),
                0,
                "{sql}"
            );
        }
    }
}
