//! The journal's writer thread: group commit for concurrent senders.
//!
//! Senders hand their records to one thread and wait for the batch that carries them to be
//! fsynced. The thread takes everything queued, writes it with one `write` call, fsyncs,
//! wakes that batch's waiters, and starts over with whatever arrived meanwhile: while one
//! `fdatasync` runs, the next batch is already filling, so N senders cost one fsync per
//! round, nobody waits for a batch to fill, and no fsync blocks a runtime thread.
//!
//! A failed write or fsync is final: the thread stops writing (a torn line can only be the
//! file's last), every waiter and every later record gets the error, and [`Shared::finish`]
//! reports it, so a run stops before its next send.

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use tokio::sync::watch;

use super::{Journal, JournalError, Prior, Record, io_error};

/// Whether a record must be on disk before the caller goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Intents and outcomes of sends: fsynced before [`Shared::record`] returns.
    Now,
    /// Rows that are never sent (INVALID, SKIPPED): written with the next batch and made
    /// durable by the next fsync (or the final compaction).
    Lazy,
}

/// A journal shared by concurrent senders, written by its own thread with group commit.
pub struct Shared {
    /// The journal itself; the writer thread locks it only to append a batch.
    journal: Arc<Mutex<Journal>>,
    queue: Arc<Queue>,
    /// How far the file is durable, published by the writer after each fsync.
    durable: watch::Receiver<Durable>,
    writer: Option<JoinHandle<()>>,
    /// For error messages, kept here so the per-record path does not allocate.
    path: PathBuf,
}

/// Records waiting for the writer, and what it must do with them.
struct Queue {
    state: Mutex<Pending>,
    /// Wakes the writer when it is idle.
    wake: Condvar,
}

#[derive(Default)]
struct Pending {
    records: Vec<Record>,
    /// Sequence number of the last record queued (records are numbered from 1).
    queued: u64,
    /// The highest sequence number some sender waits to see fsynced.
    wanted: u64,
    /// The writer sleeps on the condition variable (so a push must wake it).
    idle: bool,
    /// No more records will come: write what is queued and stop.
    closing: bool,
    /// Set once a write or fsync failed; nothing is written after it.
    failed: Option<Arc<JournalError>>,
}

/// What the writer has made durable so far.
#[derive(Debug, Clone, Default)]
struct Durable {
    /// Every record up to this sequence number is fsynced.
    synced: u64,
    failed: Option<Arc<JournalError>>,
}

impl Shared {
    /// Starts the writer thread for an open journal.
    pub fn new(journal: Journal) -> Result<Shared, JournalError> {
        let path = journal.path.clone();
        let sync_file = journal.file.try_clone().map_err(io_error("open", &path))?;
        let journal = Arc::new(Mutex::new(journal));
        let queue = Arc::new(Queue {
            state: Mutex::new(Pending::default()),
            wake: Condvar::new(),
        });
        let (publish, durable) = watch::channel(Durable::default());
        let writer = Writer {
            journal: Arc::clone(&journal),
            queue: Arc::clone(&queue),
            sync_file,
            publish,
            path: path.clone(),
        };
        let writer = std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || writer.run())
            .map_err(io_error("start the writer for", &path))?;
        Ok(Shared {
            journal,
            queue,
            durable,
            writer: Some(writer),
            path,
        })
    }

    /// The last recorded state of `row`.
    pub fn prior(&self, row: u64) -> Option<Prior> {
        lock(&self.journal).checkpoint().prior(row)
    }

    /// Records one line; with [`Durability::Now`], returns once it is on disk. After a disk
    /// error every call fails at once.
    pub async fn record(
        &self,
        record: &Record,
        durability: Durability,
    ) -> Result<(), JournalError> {
        let mine = self.queue.push(record.clone(), durability, &self.path)?;
        if durability == Durability::Lazy {
            return Ok(());
        }
        let mut durable = self.durable.clone();
        let state = durable
            .wait_for(|d| d.synced >= mine || d.failed.is_some())
            .await
            .map_err(|_| io_error("write", &self.path)(io::Error::other("the writer stopped")))?;
        match &state.failed {
            Some(failure) if state.synced < mine => Err(repeat(failure, &self.path)),
            _ => Ok(()),
        }
    }

    /// Waits for the writer to write what is queued and stop, and gives the journal back
    /// (its last lines may still need [`Journal::sync`]). A disk error the writer met, even
    /// on a line nobody waited for, is returned here.
    pub fn finish(mut self) -> Result<Journal, JournalError> {
        self.stop_writer();
        if let Some(failure) = &self.durable.borrow().failed {
            return Err(repeat(failure, &self.path));
        }
        let journal = Arc::clone(&self.journal);
        drop(self);
        let journal = Arc::into_inner(journal).expect("the writer has stopped");
        Ok(journal.into_inner().unwrap_or_else(PoisonError::into_inner))
    }

    fn stop_writer(&mut self) {
        let Some(writer) = self.writer.take() else {
            return;
        };
        self.queue.lock().closing = true;
        self.queue.wake.notify_one();
        // The loop only panics on a bug; its journal is then unusable anyway.
        let _ = writer.join();
    }
}

impl Drop for Shared {
    /// A run that ends early still lets its queued lines reach the file.
    fn drop(&mut self) {
        self.stop_writer();
    }
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a record and returns its sequence number, waking the writer if it sleeps.
    fn push(
        &self,
        record: Record,
        durability: Durability,
        path: &std::path::Path,
    ) -> Result<u64, JournalError> {
        let mut pending = self.lock();
        if let Some(failure) = &pending.failed {
            return Err(repeat(failure, path));
        }
        pending.records.push(record);
        pending.queued += 1;
        let mine = pending.queued;
        if durability == Durability::Now {
            pending.wanted = mine;
        }
        if std::mem::take(&mut pending.idle) {
            self.wake.notify_one();
        }
        Ok(mine)
    }
}

/// What the writer thread holds.
struct Writer {
    journal: Arc<Mutex<Journal>>,
    queue: Arc<Queue>,
    /// A second handle on the file, so an fsync runs without holding the journal.
    sync_file: std::fs::File,
    publish: watch::Sender<Durable>,
    path: PathBuf,
}

impl Writer {
    /// Takes what is queued, writes it in one call, fsyncs if anyone waits, publishes;
    /// until closed or a disk error.
    fn run(self) {
        let mut batch = Vec::new();
        let mut synced = 0;
        loop {
            let (last, wanted) = {
                let mut pending = self.queue.lock();
                while pending.records.is_empty() && !pending.closing {
                    pending.idle = true;
                    pending =
                        (self.queue.wake.wait(pending)).unwrap_or_else(PoisonError::into_inner);
                }
                pending.idle = false;
                if pending.records.is_empty() {
                    return; // closing, and everything is written
                }
                std::mem::swap(&mut batch, &mut pending.records);
                (pending.queued, pending.wanted)
            };
            let mut result = lock(&self.journal).write(&batch);
            batch.clear();
            if result.is_ok() && wanted > synced {
                result = (self.sync_file.sync_data()).map_err(io_error("write", &self.path));
                if result.is_ok() {
                    synced = last;
                    self.publish.send_modify(|d| d.synced = synced);
                }
            }
            if let Err(e) = result {
                let failure = Arc::new(e);
                self.queue.lock().failed = Some(Arc::clone(&failure));
                self.publish.send_modify(|d| d.failed = Some(failure));
                return;
            }
        }
    }
}

fn lock(journal: &Mutex<Journal>) -> MutexGuard<'_, Journal> {
    journal.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The writer's error again, for one more caller (an `io::Error` cannot be cloned).
fn repeat(failure: &JournalError, path: &std::path::Path) -> JournalError {
    match failure {
        JournalError::Io {
            action,
            path,
            source,
        } => JournalError::Io {
            action,
            path: path.clone(),
            source: io::Error::new(source.kind(), source.to_string()),
        },
        other => io_error("write", path)(io::Error::other(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use std::fs::{self, File};

    use super::*;
    use crate::journal::Status;

    fn record(row: u64, status: Status) -> Record {
        Record::new(row, &format!("+551199999{row:04}"), status)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_senders_each_return_once_their_line_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let shared = Shared::new(Journal::open(&path, b',').unwrap()).unwrap();
        let sends = (1..=64).map(|row| {
            let (shared, path) = (&shared, &path);
            async move {
                shared
                    .record(&record(row, Status::Sending), Durability::Now)
                    .await
                    .unwrap();
                let text = fs::read_to_string(path).unwrap();
                assert!(text.contains(&format!("\n{row},")), "row {row} not written");
            }
        });
        futures_util::future::join_all(sends).await;
        shared
            .record(&record(65, Status::Invalid), Durability::Lazy)
            .await
            .unwrap();
        assert_eq!(shared.prior(7).unwrap().status, Status::Sending);
        let journal = shared.finish().unwrap();
        assert_eq!(
            journal.checkpoint().prior(65).unwrap().status,
            Status::Invalid
        );
        assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), 66);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn after_a_failed_write_nothing_more_is_written_and_every_caller_hears_of_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let mut journal = Journal::open(&path, b',').unwrap();
        let before = fs::read_to_string(&path).unwrap();
        // A handle that cannot write makes the writer's next write fail, as a full disk would.
        journal.file = File::open(&path).unwrap();
        let shared = Shared::new(journal).unwrap();
        let error = shared
            .record(&record(1, Status::Sending), Durability::Now)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("r.csv"), "{error}");
        let later = shared
            .record(&record(2, Status::Invalid), Durability::Lazy)
            .await;
        assert!(later.is_err(), "a record after the failure is refused");
        assert!(shared.finish().is_err(), "finish reports the failure");
        assert_eq!(fs::read_to_string(&path).unwrap(), before);
    }
}
