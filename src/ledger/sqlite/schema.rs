//! The ledger's tables, and bringing an older ledger to them in one transaction: the first
//! schema's text keys become integer ones, schema 2 gains `holds`; a schema no release wrote
//! is refused.

use std::collections::HashMap;

use rusqlite::{Connection, params};

use super::write::{Ids, write};
use crate::ledger::{Entry, SendState};

/// The schema's version in `PRAGMA user_version`. 0 is the first schema (one `sends` table
/// with every key as text, written by releases before this one): it is migrated on open.
/// 2 lacks the `holds` table, and its releases record an intent without judging the rules
/// again in its transaction: a ledger they shared with this release would let them send
/// what this one refused, so it is raised to 3 on open, and they refuse it ("update").
pub(super) const VERSION: i64 = 3;

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

/// Refuses, before anything writes to it (not even the switch to WAL), a SQLite file at
/// `path` that is no ledger: another program's database (its own tables, `user_version`
/// 0), or one whose schema version no release wrote. A missing or empty file is a new
/// ledger; a newer release's is left to [`set_up`], which says to update.
pub(super) fn recognize(path: &std::path::Path) -> Result<(), String> {
    if std::fs::metadata(path).map_or(true, |m| m.len() == 0) {
        return Ok(());
    }
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags).map_err(|e| e.to_string())?;
    let read = || -> Result<(i64, Vec<String>), rusqlite::Error> {
        let version = connection.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let mut names = connection.prepare(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')
             AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )?;
        let names = names
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok((version, names))
    };
    let (version, names) = read().map_err(|e| e.to_string())?;
    let ours = ["holds", "names", "runs", "sends", "sent"];
    let foreign: Vec<&String> = names
        .iter()
        .filter(|n| !ours.contains(&n.as_str()))
        .collect();
    let ledger_like = names.iter().any(|n| ours.contains(&n.as_str()));
    match version {
        // A ledger's own version: a view or table a person added beside it is theirs.
        2 | VERSION => Ok(()),
        // No version yet: a new file, or the first schema (`sends`), whatever was added.
        0 if foreign.is_empty() || ledger_like => Ok(()),
        newer if newer > VERSION => Ok(()),
        0 => Err(format!(
            "it is another program's SQLite database (its tables: {}), not a ledger; it was \
             left as it is: pass --ledger PATH for a ledger of its own",
            foreign
                .iter()
                .take(5)
                .map(|n| crate::fmt::shown(n))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        other => Err(format!(
            "its schema version ({other}) is not one campaign-sender writes: it is not a \
             ledger, or it was changed by hand; it was left as it is: move it aside, or pass \
             --ledger PATH"
        )),
    }
}

/// Brings the ledger on `connection` to [`VERSION`]: creates the schema, or migrates the
/// first one's sends into it. Run in one write transaction, so of two processes opening an
/// old ledger at once, one migrates and the other finds it done.
pub(super) fn set_up(connection: &mut Connection) -> Result<(), String> {
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
