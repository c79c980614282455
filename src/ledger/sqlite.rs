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

mod lookups;
mod schema;
mod write;

use super::checkpointer::{BACKSTOP_PAGES, Checkpointer};
use super::{
    EarlierSend, Entry, Ledger, LedgerError, Lookups, Refusal, Rules, SendState, SenderCount,
    Settled,
};
use lookups::On;
use schema::set_up;
use write::{HOLD, Ids, Writer};

/// How long a process waits for another one's write before giving up: far above any
/// batch's commit, well below anything a person would take for a hang.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// States that count as (possibly) sent: all but `NOT_SENT` (0).
const COUNTED: &str = "state > 0";

/// A number's id, for the lookups by number.
const SENDER: &str = "(SELECT id FROM names WHERE name = ?1)";

/// The first spelling of instance `?1` (a lower-case fingerprint) recorded, if any. Only the
/// instances' names are read (a range of the names' index): a list whose rows name their own
/// messages adds a name per message.
/// A hold of number `?1` made number `?2`'s, the later of the two kept.
const HOLD_MOVED: &str =
    "INSERT INTO holds (sender, until) SELECT ?2, until FROM holds WHERE sender = ?1
     ON CONFLICT (sender) DO UPDATE SET until = max(until, excluded.until)";

/// The number a key's alias names: `alias:<key>=<number>` in `names`, found by the range
/// of names that start `alias:<key>=` (see [`alias_range`]).
const ALIAS_OF: &str = "SELECT substr(name, length(?1) + 1) FROM names
     WHERE name >= ?1 AND name < ?2 ORDER BY id DESC LIMIT 1";

/// The names of `sender`'s alias, as a range: from `alias:<sender>=` to just before
/// `alias:<sender>>` (`>` follows `=`).
fn alias_range(sender: &str) -> (String, String) {
    (format!("alias:{sender}="), format!("alias:{sender}>"))
}

const KNOWN_AS: &str = "SELECT name FROM names
     WHERE name >= 'instance:' AND name < 'instance;' AND lower(name) = ?1
     ORDER BY id LIMIT 1";

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
        // Unopened: SQLite reading a pipe's (or a terminal's) first bytes would wait forever.
        crate::plain_file::check(path, "the ledger is a SQLite file")
            .map_err(|e| fail(e.to_string()))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| fail(format!("cannot create its folder: {e}")))?;
        }
        schema::recognize(path).map_err(fail)?;
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
        within: (i64, i64),
        settled: Settled<'_>,
    ) -> Result<u64, LedgerError> {
        (On(&self.read()).received_since(destination, within, settled)).map_err(|e| self.fail(e))
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

    fn sends_since(&self, sender: &str, within: (i64, i64)) -> Result<u64, LedgerError> {
        (On(&self.read()).sends_since(sender, within)).map_err(|e| self.fail(e))
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
        (since_ms, until_ms): (i64, i64),
        n: u64,
    ) -> Result<Option<i64>, LedgerError> {
        self.read()
            .prepare_cached(&format!(
                "SELECT at FROM sent WHERE sender = {SENDER} AND at >= ?2 AND at <= ?4
                 AND {COUNTED} ORDER BY at LIMIT 1 OFFSET ?3"
            ))
            .and_then(|mut s| {
                s.query_row(params![sender, since_ms, n as i64, until_ms], |r| r.get(0))
                    .optional()
            })
            .map_err(|e| self.fail(e))
    }

    fn last_send(&self, sender: &str) -> Result<Option<i64>, LedgerError> {
        self.read()
            .prepare_cached(&format!("SELECT max(at) FROM sent WHERE sender = {SENDER}"))
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
        let connection = self.read();
        // A key a senders file has tied to its number: the number, for runs by the key
        // alone too (an old cron job, another campaign).
        if sender.starts_with("key:") {
            let (from, to) = alias_range(sender);
            let number = (connection.prepare_cached(ALIAS_OF))
                .and_then(|mut s| s.query_row(params![from, to], |r| r.get(0)).optional())
                .map_err(|e| self.fail(e))?;
            return Ok(number.unwrap_or_else(|| sender.to_string()));
        }
        connection
            .prepare_cached(KNOWN_AS)
            .and_then(|mut s| s.query_row(params![sender], |r| r.get(0)).optional())
            .map(|known: Option<String>| known.unwrap_or_else(|| sender.to_string()))
            .map_err(|e| self.fail(e))
    }

    fn adopt(&self, earlier: &str, sender: &str) -> Result<(), LedgerError> {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let Writer {
            connection, names, ..
        } = &mut *writer;
        let adopted = connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .and_then(|transaction| {
                let id = |name: &str| {
                    (transaction.prepare_cached("SELECT id FROM names WHERE name = ?1")?)
                        .query_row([name], |r| r.get::<_, i64>(0))
                        .optional()
                };
                let (from, to) = alias_range(earlier);
                // The number this key was tied to before: another one (a mistyped number
                // since corrected, or a key moved) keeps what it counted, which may be
                // other keys' sends too, so it is said, not moved.
                let before: Option<String> = (transaction.prepare_cached(ALIAS_OF)?)
                    .query_row(params![from, to], |r| r.get(0))
                    .optional()?;
                if let Some(before) = before.filter(|b| b != sender) {
                    tracing::warn!(
                        "the ledger knew this key as {before}, and the senders file now names \
                         {sender}: the sends counted for {before} still count for it, not for \
                         {sender}; if {before} was a typo, lower --daily-cap for today by what \
                         it sent (`report --ledger`)"
                    );
                }
                transaction.execute("INSERT OR IGNORE INTO names (name) VALUES (?1)", [sender])?;
                let number = id(sender)?.expect("inserted just now");
                if let Some(old) = id(earlier)?.filter(|old| *old != number) {
                    transaction.execute(
                        "UPDATE sent SET sender = ?2 WHERE sender = ?1",
                        [old, number],
                    )?;
                    transaction.execute(HOLD_MOVED, [old, number])?;
                    transaction.execute("DELETE FROM holds WHERE sender = ?1", [old])?;
                }
                // The key's name stays (a run still holding its id adds to it, and the next
                // adoption moves those too); the alias says whose it is.
                transaction.execute(
                    "DELETE FROM names WHERE name >= ?1 AND name < ?2",
                    params![from, to],
                )?;
                transaction.execute(
                    "INSERT INTO names (name) VALUES (?1)",
                    [format!("{from}{sender}")],
                )?;
                transaction.commit()
            });
        // Cached ids may be of names this changed.
        names.clear();
        adopted.map_err(|e| self.fail(e))
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
    use super::lookups::{EARLIER_SEND, RECEIVED_SINCE};
    use super::schema::VERSION;
    use super::write::{OUTCOME, UPSERT};
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
            ledger.received_since(1001, (0, i64::MAX), EVERY).unwrap(),
            1,
            "not recorded"
        );
        assert_eq!(
            ledger.received_since(1003, (0, i64::MAX), EVERY).unwrap(),
            1
        );
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
    fn a_number_adopts_its_keys_sends_and_holds_and_merges_with_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = SqliteLedger::open(&dir.path().join("ledger.sqlite3")).unwrap();
        let sends = |sender: &str| ledger.sends_since(sender, (0, i64::MAX)).unwrap();
        // Key 1 sent twice and was held: the number takes its name over.
        (ledger.record(&[entry(1, 1, SendState::Accepted, 10)], None)).unwrap();
        (ledger.record(&[entry(1, 2, SendState::Accepted, 20)], None)).unwrap();
        ledger.hold("key:1", 500).unwrap();
        ledger.adopt("key:1", "number:+5511999990000").unwrap();
        assert_eq!((sends("key:1"), sends("number:+5511999990000")), (0, 2));
        assert_eq!(
            ledger.held_until("number:+5511999990000").unwrap(),
            Some(500)
        );
        // Another key of it sent once more, then is adopted too: merged, the later hold kept.
        let other = Entry {
            sender: "key:2",
            ..entry(2, 3, SendState::Accepted, 30)
        };
        ledger.record(&[other], None).unwrap();
        ledger.hold("key:2", 900).unwrap();
        ledger.adopt("key:2", "number:+5511999990000").unwrap();
        assert_eq!((sends("key:2"), sends("number:+5511999990000")), (0, 3));
        assert_eq!(
            ledger.held_until("number:+5511999990000").unwrap(),
            Some(900)
        );
        assert_eq!(ledger.held_until("key:2").unwrap(), None);
        // A key with no history: nothing to adopt.
        ledger.adopt("key:3", "number:+5511999990000").unwrap();
        assert_eq!(sends("number:+5511999990000"), 3);
        // A run by the key alone (no senders file) is the number's too.
        assert_eq!(ledger.known_as("key:1").unwrap(), "number:+5511999990000");
        assert_eq!(ledger.known_as("key:9").unwrap(), "key:9");
        // The number changed: the key is the new one's from now on; what the old one
        // counted stays its own (it may hold other keys' sends), and a warning says so.
        ledger.adopt("key:1", "number:+5511999990001").unwrap();
        assert_eq!(ledger.known_as("key:1").unwrap(), "number:+5511999990001");
        assert_eq!(sends("number:+5511999990000"), 3);
    }

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
        // Run 1's row 3 was refused (FAILED, or DEFERRED after an answer): its request
        // reached the API all the same, and holds the pace. Its row 4, dated far ahead by a
        // damaged clock, holds nothing.
        assert_eq!(record(&[entry(1, 3, SendState::NotSent, 2000)]), []);
        assert_eq!(record(&[entry(1, 4, SendState::Sending, 99_000)]), []);
        assert_eq!(
            record(&[entry(2, 2, SendState::Sending, 2100)]),
            waits(2500)
        );
        assert_eq!(record(&[entry(2, 2, SendState::Sending, 2500)]), []);
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
    fn a_send_dated_far_ahead_counts_for_no_cap() {
        use crate::ledger::checks::window;
        let dir = tempfile::tempdir().unwrap();
        let ledger = SqliteLedger::open(&dir.path().join("ledger.sqlite3")).unwrap();
        let year = 365 * 86_400_000;
        (ledger.record(&[entry(1, 1, SendState::Accepted, 1_000)], None)).unwrap();
        // A clock that once ran a year ahead dated this one.
        (ledger.record(&[entry(1, 3, SendState::Accepted, 1_000 + year)], None)).unwrap();
        let now = 2_000;
        assert_eq!(ledger.sends_since("key:1", window(0, now)).unwrap(), 1);
        assert_eq!(
            ledger.received_since(1003, window(0, now), EVERY).unwrap(),
            0
        );
        assert_eq!(
            ledger.nth_send_since("key:1", window(0, now), 1).unwrap(),
            None
        );
        // A little ahead (another host's clock) still counts.
        (ledger.record(&[entry(1, 5, SendState::Accepted, now + 60_000)], None)).unwrap();
        assert_eq!(ledger.sends_since("key:1", window(0, now)).unwrap(), 2);
    }

    #[test]
    fn another_programs_database_is_refused_and_left_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        for (setup, says) in [
            ("CREATE TABLE customers (id INTEGER);", "another program's"),
            (
                "CREATE TABLE x (id INTEGER); PRAGMA user_version = 1;",
                "schema version (1)",
            ),
        ] {
            let path = dir.path().join("crm.db");
            let _ = std::fs::remove_file(&path);
            Connection::open(&path)
                .unwrap()
                .execute_batch(setup)
                .unwrap();
            let before = std::fs::read(&path).unwrap();
            let error = SqliteLedger::open(&path).unwrap_err();
            assert!(error.problem.contains(says), "{says}: {}", error.problem);
            assert_eq!(
                std::fs::read(&path).unwrap(),
                before,
                "{says}: not even switched to WAL"
            );
            assert!(!dir.path().join("crm.db-wal").exists());
        }
        // A ledger with a view a person added to read it is still the ledger.
        let path = dir.path().join("ledger.sqlite3");
        drop(SqliteLedger::open(&path).unwrap());
        (Connection::open(&path).unwrap())
            .execute_batch("CREATE VIEW mine AS SELECT * FROM sent;")
            .unwrap();
        SqliteLedger::open(&path).unwrap();
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
        assert_eq!(ledger.sends_since("key:1", (0, i64::MAX)).unwrap(), 1);
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
    fn an_intent_then_its_outcome_is_one_send_and_a_refusal_counts_only_for_the_pace() {
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
        assert_eq!(ledger.sends_since("key:1", (0, i64::MAX)).unwrap(), 2);
        ledger
            .record(
                &[
                    entry(1, 1, SendState::Accepted, 10),
                    entry(1, 2, SendState::NotSent, 20),
                ],
                None,
            )
            .unwrap();
        assert_eq!(ledger.sends_since("key:1", (0, i64::MAX)).unwrap(), 1);
        assert_eq!(ledger.sends_since("key:1", (11, i64::MAX)).unwrap(), 0);
        // The refused request went to the API all the same: it is the last for the pace.
        assert_eq!(ledger.last_send("key:1").unwrap(), Some(20));
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
        assert_eq!(
            ledger
                .received_since(1001, (0, i64::MAX), checked("r.csv"))
                .unwrap(),
            1
        );
        assert_eq!(
            ledger
                .received_since(1001, (0, i64::MAX), checked("o.csv"))
                .unwrap(),
            2
        );
        assert_eq!(
            ledger.received_since(1001, (0, i64::MAX), EVERY).unwrap(),
            2
        );
        // The row's own line in r.csv says its attempt at 5 ms was not sent: that file's
        // possible sends then or before do not count, a later one (an older copy of the file
        // put back) does, and so does another file's.
        let settled = |file, until_ms| Settled {
            results: Some(file),
            all: false,
            until_ms: Some(until_ms),
        };
        assert_eq!(
            ledger
                .received_since(1001, (0, i64::MAX), settled("r.csv", 5))
                .unwrap(),
            1
        );
        assert_eq!(
            ledger
                .received_since(1001, (0, i64::MAX), settled("r.csv", 4))
                .unwrap(),
            2
        );
        assert_eq!(
            ledger
                .received_since(1001, (0, i64::MAX), settled("o.csv", 5))
                .unwrap(),
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
                .received_since(1000 + row, (row as i64, i64::MAX), EVERY)
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
