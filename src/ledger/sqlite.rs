//! The ledger in one SQLite file: WAL, so readers never wait for the writer; a busy timeout
//! and `BEGIN IMMEDIATE` writes, so several processes on one file queue instead of failing;
//! `synchronous=NORMAL`: a commit is in the WAL before the batch's waiters are told, so a
//! kill -9 loses nothing, but it is not fsynced by itself (WAL checkpoints are): a power cut
//! may lose the last commits. FULL cost a second fsync per batch, -45 % sends/s at c64, and
//! each campaign's durable record is its results file anyway.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension as _, params};

use super::{EarlierSend, Entry, Ledger, LedgerError, SendState, SenderCount};

/// How long a process waits for another one's write before giving up: far above any
/// batch's commit, well below anything a person would take for a hang.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The schema, created if missing. One row per send (run, row). Two indexes serve the
/// questions a run asks (a number's sends, a destination's sends, the campaign filtered among
/// those): each index costs every intent and outcome a write.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sends (
    run INTEGER NOT NULL,
    row INTEGER NOT NULL,
    results TEXT NOT NULL,
    sender TEXT NOT NULL,
    destination TEXT NOT NULL,
    campaign TEXT NOT NULL,
    state TEXT NOT NULL,
    message_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (run, row)
);
CREATE INDEX IF NOT EXISTS sends_by_sender ON sends (sender, at);
CREATE INDEX IF NOT EXISTS sends_by_destination ON sends (destination, at);
";

/// States that count as (possibly) sent.
const COUNTED: &str = "state IN ('SENDING', 'ACCEPTED', 'UNCERTAIN')";

/// An intent inserts the send; its outcome updates it.
const UPSERT: &str =
    "INSERT INTO sends (run, row, results, sender, destination, campaign, state, message_id, at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
     ON CONFLICT (run, row) DO UPDATE SET state = excluded.state, message_id = excluded.message_id";

/// The lookup that runs before every send (`ALREADY_SENT`).
const EARLIER_SEND: &str = "SELECT message_id, results FROM sends
     WHERE destination = ?2 AND campaign = ?1 AND run != ?3
     AND (state = 'ACCEPTED' OR (?4 = 0 AND state IN ('SENDING', 'UNCERTAIN')))
     ORDER BY state = 'ACCEPTED' DESC, at LIMIT 1";

/// The lookup of `--frequency-cap`, before every send.
const RECEIVED_SINCE: &str = "SELECT count(*) FROM sends WHERE destination = ?1 AND at >= ?2
     AND (state = 'ACCEPTED' OR (?3 = 0 AND state IN ('SENDING', 'UNCERTAIN')))";

/// A ledger in a SQLite file: one connection for the writer thread's batches, one for the
/// senders' lookups, so a lookup never waits behind a commit.
#[derive(Debug)]
pub struct SqliteLedger {
    path: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

impl SqliteLedger {
    /// Opens (creating it, and its directory, if missing) the ledger at `path`.
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
            connection.pragma_update(None, "journal_mode", "WAL")?;
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
        let writer = connect().map_err(|e| fail(e.to_string()))?;
        writer
            .execute_batch(SCHEMA)
            .map_err(|e| fail(e.to_string()))?;
        let reader = connect().map_err(|e| fail(e.to_string()))?;
        Ok(SqliteLedger {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
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

    fn count(&self, sql: &str, params: impl rusqlite::Params) -> Result<u64, LedgerError> {
        let count: i64 = self
            .read()
            .prepare_cached(sql)
            .and_then(|mut statement| statement.query_row(params, |r| r.get(0)))
            .map_err(|e| self.fail(e))?;
        Ok(count.max(0) as u64)
    }
}

impl Ledger for SqliteLedger {
    fn record(&self, entries: &[Entry]) -> Result<(), LedgerError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut connection = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let write = |connection: &mut Connection| -> Result<(), rusqlite::Error> {
            let transaction =
                connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            {
                let mut upsert = transaction.prepare_cached(UPSERT)?;
                for e in entries {
                    upsert.execute(params![
                        e.run as i64,
                        e.row as i64,
                        e.results,
                        e.sender,
                        e.destination,
                        e.campaign,
                        e.state.as_str(),
                        e.message_id,
                        e.at_ms
                    ])?;
                }
            }
            transaction.commit()
        };
        write(&mut connection).map_err(|e| self.fail(e))
    }

    fn sends_since(&self, sender: &str, since_ms: i64) -> Result<u64, LedgerError> {
        self.count(
            &format!("SELECT count(*) FROM sends WHERE sender = ?1 AND at >= ?2 AND {COUNTED}"),
            params![sender, since_ms],
        )
    }

    fn nth_send_since(
        &self,
        sender: &str,
        since_ms: i64,
        n: u64,
    ) -> Result<Option<i64>, LedgerError> {
        self.read()
            .prepare_cached(&format!(
                "SELECT at FROM sends WHERE sender = ?1 AND at >= ?2 AND {COUNTED}
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
                "SELECT max(at) FROM sends WHERE sender = ?1 AND {COUNTED}"
            ))
            .and_then(|mut s| s.query_row(params![sender], |r| r.get(0)))
            .map_err(|e| self.fail(e))
    }

    fn received_since(
        &self,
        destination: &str,
        since_ms: i64,
        accepted_only: bool,
    ) -> Result<u64, LedgerError> {
        self.count(
            RECEIVED_SINCE,
            params![destination, since_ms, accepted_only],
        )
    }

    fn earlier_send(
        &self,
        campaign: &str,
        destination: &str,
        run: u64,
        accepted_only: bool,
    ) -> Result<Option<EarlierSend>, LedgerError> {
        // One fixed statement (prepared once per connection): this runs before every send.
        self.read()
            .prepare_cached(EARLIER_SEND)
            .and_then(|mut s| {
                s.query_row(
                    params![campaign, destination, run as i64, accepted_only],
                    |r| {
                        Ok(EarlierSend {
                            message_id: r.get(0)?,
                            results: r.get(1)?,
                        })
                    },
                )
                .optional()
            })
            .map_err(|e| self.fail(e))
    }

    fn senders_since(&self, since_ms: i64) -> Result<Vec<SenderCount>, LedgerError> {
        let connection = self.read();
        let mut statement = connection
            .prepare_cached(&format!(
                "SELECT sender, count(*) FROM sends WHERE at >= ?1 AND {COUNTED}
                 GROUP BY sender ORDER BY sender"
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

    fn entry(run: u64, row: u64, state: SendState, at_ms: i64) -> Entry {
        Entry {
            run,
            row,
            results: "r.csv".into(),
            sender: "key:1".into(),
            destination: format!("d{row}"),
            campaign: "c".into(),
            state,
            message_id: format!("m{run}-{row}"),
            at_ms,
        }
    }

    #[test]
    fn an_intent_then_its_outcome_is_one_send_and_a_refusal_counts_for_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = SqliteLedger::open(&dir.path().join("a/b/ledger.sqlite3")).unwrap();
        ledger
            .record(&[
                entry(1, 1, SendState::Sending, 10),
                entry(1, 2, SendState::Sending, 20),
            ])
            .unwrap();
        assert_eq!(ledger.sends_since("key:1", 0).unwrap(), 2);
        ledger
            .record(&[
                entry(1, 1, SendState::Accepted, 10),
                entry(1, 2, SendState::NotSent, 20),
            ])
            .unwrap();
        assert_eq!(ledger.sends_since("key:1", 0).unwrap(), 1);
        assert_eq!(ledger.sends_since("key:1", 11).unwrap(), 0);
        assert_eq!(ledger.last_send("key:1").unwrap(), Some(10));
        assert_eq!(ledger.last_send("key:2").unwrap(), None);
        let earlier = ledger.earlier_send("c", "d1", 2, false).unwrap().unwrap();
        assert_eq!(earlier.message_id, "m1-1");
        assert_eq!(
            ledger.earlier_send("c", "d1", 1, false).unwrap(),
            None,
            "its own run"
        );
        assert_eq!(
            ledger.earlier_send("c", "d2", 2, false).unwrap(),
            None,
            "not sent"
        );
        assert_eq!(ledger.received_since("d1", 0, true).unwrap(), 1);
        let counts = ledger.senders_since(0).unwrap();
        assert_eq!(
            counts,
            [SenderCount {
                sender: "key:1".into(),
                sends: 1
            }]
        );
    }

    #[test]
    fn the_per_send_lookups_are_compiled_once() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = SqliteLedger::open(&dir.path().join("ledger.sqlite3")).unwrap();
        for row in 0..200 {
            ledger
                .record(&[entry(1, row, SendState::Sending, row as i64)])
                .unwrap();
            ledger
                .earlier_send("c", &format!("d{row}"), 2, row % 2 == 0)
                .unwrap();
            ledger
                .received_since(&format!("d{row}"), row as i64, false)
                .unwrap();
        }
        let writer = ledger.writer.lock().unwrap();
        let reader = ledger.read();
        for (connection, sql) in [
            (&*writer, UPSERT),
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
