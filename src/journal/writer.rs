//! The journal's writer thread: group commit for concurrent senders.
//!
//! Senders queue their records; one thread takes everything queued, writes it with one
//! `write` call, fsyncs, tells that batch's waiters, and starts over with whatever arrived
//! meanwhile. While one `fdatasync` runs the next batch is already filling, so N senders
//! cost one fsync per round, nobody waits for a batch to fill, and no fsync blocks a
//! runtime thread.
//!
//! An intent's sender waits for its fsync ([`Shared::record`]). An outcome's sender does
//! not ([`Shared::record_then`]): its report (log line, progress) runs on a reporter thread
//! once the line is on disk, and the sender's next intent, queued behind the outcome, rides
//! the same fsync, so a send costs one fsync round instead of two.
//!
//! A failed write or fsync is final: the thread stops writing (a torn line can only be the
//! file's last), every waiter, report and later record gets the error, and
//! [`Shared::finish`] returns it, so a run stops before its next send.

use std::collections::VecDeque;
use std::io::{self, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::file::Lines;
use super::place::{self, Identity};
use super::{Journal, JournalError, Lock, Prior, Record, Status, io_error};
use crate::ledger::{LedgerError, Refusal, Sink};

mod recorder;
use recorder::Recorder;

/// Whether a record must be on disk before the caller goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Intents (and outcomes that must be on disk before the sender goes on): fsynced
    /// before [`Shared::record`] returns.
    Now,
    /// Rows that are never sent (INVALID, SKIPPED): written with the next batch and made
    /// durable by the next fsync (or the final compaction).
    Lazy,
}

/// How long an outcome may wait for the next intent to share its fsync. At one request in
/// flight the next intent comes microseconds after the outcome, so both take one fsync
/// round instead of two; with a spacing between sends none comes, and the outcome is
/// fsynced on its own this much later.
const LINGER: Duration = Duration::from_millis(1);

/// How many times the writer, its queue emptied, yields the processor before it sleeps.
/// An intent that comes meanwhile is taken without a sleep and a wake-up: on a machine whose
/// cores are busy, a woken thread waited in the run queue about 70 µs a wake-up (the writer
/// 2.2 s of a 6 s run at `--concurrency 64`, twice a round), and every send of the next
/// batch waits with it. A yield hands the processor to whoever is ready, so the writer
/// costs little meanwhile; idle, ten of them take a few microseconds. Measured at c64:
/// 4–6 % more sends/s (two sets of 8 alternating runs, 12 of the 16 pairs won); 50 did
/// no better.
const YIELDS: u32 = 10;

/// The `errorCode` of an intent whose request never left because the run stopped on
/// [`JournalError::Shared`].
const NOT_SENT: &str = "NOT_SENT";

/// What runs once an outcome is on disk, or with the error that kept it off.
type Report = Box<dyn FnOnce(Result<(), JournalError>) + Send>;

/// A journal shared by concurrent senders, written by its own thread with group commit.
pub struct Shared {
    /// The journal itself; the writer thread locks it only to append a batch.
    journal: Arc<Mutex<Journal>>,
    queue: Arc<Queue>,
    /// The writer and reporter threads, until [`Shared::finish`] (or drop) joins them.
    threads: Vec<JoinHandle<()>>,
    /// For error messages, shared so the per-record path does not allocate.
    path: Arc<Path>,
    /// The results path as the user gave it, which must still lead to `ours`.
    named: PathBuf,
    /// The run's lock, checked before each intent.
    lock: Arc<Lock>,
    /// The file the writer appends to, which `path` must still name before each intent.
    ours: Identity,
    /// When the lock and the path were last found intact, in nanoseconds after `opened`
    /// (0: never).
    lock_seen: AtomicU64,
    opened: Instant,
    /// [`Shared::finish`] has already put the run's file back if it had to.
    put_back: bool,
}

/// How long a lock and a path found intact stay trusted. A run that took the lock after it
/// was deleted must still open the results file, read it and judge the input before its
/// first send, far longer than this; a spreadsheet's save found this much later costs no
/// line (the run's file is put back); checking before every intent within it only added two
/// `stat`s a send.
const LOCK_TRUSTED: Duration = Duration::from_millis(1);

/// Records waiting for the writer, and what it must do with them.
struct Queue {
    state: Mutex<Pending>,
    /// Wakes the writer when it is idle.
    wake: Condvar,
}

#[derive(Default)]
struct Pending {
    records: Vec<Record>,
    /// The reports of queued outcomes, by the outcome's sequence number.
    reports: Vec<(u64, Report)>,
    /// Sequence number of the last record queued (records are numbered from 1).
    queued: u64,
    /// The senders of queued intents, each told once its line is fsynced (only they are
    /// woken, not every sender on every fsync), by their record's sequence number.
    waiters: Vec<(u64, Waiter)>,
    /// The highest sequence number a report waits to see fsynced (within [`LINGER`]).
    reported: u64,
    /// The writer sleeps on the condition variable (so a push must wake it).
    idle: bool,
    /// No more records will come: write what is queued, fsync what is waited for, stop.
    closing: bool,
    /// Set once a write or fsync failed; nothing is written after it.
    failed: Option<Arc<JournalError>>,
}

/// What waits on a queued record, which decides when it needs an fsync.
enum Then {
    /// Its sender: fsync as soon as it is written, then tell the sender.
    Wait(Waiter),
    /// Only its report: fsync within [`LINGER`], or sooner with an intent.
    Report(Report),
    /// Nothing: it rides on whichever fsync comes next.
    Nothing,
}

/// Tells an intent's sender that its line is on disk (and whether the run's rules, judged
/// again as the ledger recorded it, refused it), or why it is not.
type Waiter = oneshot::Sender<Result<Option<Refusal>, Arc<JournalError>>>;

/// Reports whose fate is known, handed to the reporter thread.
struct Settled {
    reports: Vec<Report>,
    failure: Option<Arc<JournalError>>,
}

impl Shared {
    /// Starts the writer and reporter threads for an open journal.
    pub fn new(journal: Journal) -> Result<Shared, JournalError> {
        Shared::with_ledger(journal, None)
    }

    /// The same, also recording each batch's sends in `ledger` (one transaction per batch)
    /// before anyone waiting on the batch is told it is durable.
    pub fn with_ledger(mut journal: Journal, ledger: Option<Sink>) -> Result<Shared, JournalError> {
        // The writer appends through a handle of its own on this file: a file a spreadsheet
        // re-saved is rewritten (a new file) now, not under that handle.
        journal.settle()?;
        let path: Arc<Path> = journal.path.clone().into();
        let named = journal.named.clone();
        let held = Arc::clone(&journal.lock);
        let ours = Identity::of(&journal.file).map_err(io_error("open", &path))?;
        let file = journal.file.try_clone().map_err(io_error("open", &path))?;
        let end = (&journal.file)
            .stream_position()
            .map_err(io_error("write", &path))?;
        let delimiter = journal.delimiter();
        let journal = Arc::new(Mutex::new(journal));
        let queue = Arc::new(Queue {
            state: Mutex::new(Pending::default()),
            wake: Condvar::new(),
        });
        let (settled, reports) = mpsc::channel::<Settled>();
        let reporter = {
            let for_reports = Arc::clone(&path);
            spawn("journal-reporter", &path, move || {
                report_loop(&reports, &for_reports)
            })?
        };
        let recorder = ledger.clone().and_then(Recorder::start);
        let writer = Writer {
            delimiter,
            end,
            journal: Arc::clone(&journal),
            queue: Arc::clone(&queue),
            file,
            settled,
            path: path.to_path_buf(),
            ledger,
            recorder,
        };
        let writer = spawn("journal-writer", &path, move || writer.run())?;
        Ok(Shared {
            journal,
            queue,
            threads: vec![writer, reporter],
            path,
            named,
            lock: held,
            ours,
            lock_seen: AtomicU64::new(0),
            opened: Instant::now(),
            put_back: false,
        })
    }

    /// Fails once the run's lock file was deleted or replaced (see [`Lock::check`]), or the
    /// results path no longer names the file the writer appends to, or by another name too
    /// (see [`place::check`]); looks again only when the last look is older than
    /// [`LOCK_TRUSTED`].
    fn check_lock(&self) -> Result<(), JournalError> {
        let now = u64::try_from(self.opened.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let seen = self.lock_seen.load(Ordering::Relaxed);
        if seen != 0 && now.saturating_sub(seen) < LOCK_TRUSTED.as_nanos() as u64 {
            return Ok(());
        }
        self.lock.check()?;
        place::check(&self.named, self.ours)?;
        self.lock_seen.store(now.max(1), Ordering::Relaxed);
        Ok(())
    }

    /// The last recorded state of `row`.
    pub fn prior(&self, row: u64) -> Option<Prior> {
        lock(&self.journal).checkpoint().prior(row)
    }

    /// Reads the resume index as it stands (the send pass seeds a second read of the input).
    pub fn read_checkpoint<R>(&self, read: impl FnOnce(&super::Checkpoint) -> R) -> R {
        read(lock(&self.journal).checkpoint())
    }

    /// The last line recorded for `row` (see [`super::Checkpoint::recorded`]).
    pub fn recorded(&self, row: u64) -> Option<Record> {
        lock(&self.journal).checkpoint().recorded(row)
    }

    /// Records one line; with [`Durability::Now`], returns once it is on disk. After a disk
    /// error every call fails at once. Takes the record: it is queued as it is, not copied.
    /// Intents go through [`Shared::intend`], which tells of a refusal.
    pub async fn record(&self, record: Record, durability: Durability) -> Result<(), JournalError> {
        debug_assert_ne!(
            record.status,
            Status::Sending,
            "an intent goes through intend"
        );
        if durability == Durability::Lazy {
            return self.queue.push(record, Then::Nothing, &self.path);
        }
        self.written(record).await.map(drop)
    }

    /// Records a send's intent and returns once it is on disk: the request may leave then,
    /// unless the ledger refused it (`Some`: another run recorded a send the run's rules
    /// forbid since the runner asked).
    pub async fn intend(&self, intent: Record) -> Result<Option<Refusal>, JournalError> {
        // A request follows. Not if another run may have the file now.
        self.check_lock()?;
        self.written(intent).await
    }

    async fn written(&self, record: Record) -> Result<Option<Refusal>, JournalError> {
        let (waiter, written) = oneshot::channel();
        self.queue.push(record, Then::Wait(waiter), &self.path)?;
        match written.await {
            Ok(Ok(refusal)) => Ok(refusal),
            Ok(Err(failure)) => Err(repeat(&failure, &self.path)),
            Err(_) => Err(io_error("write", &self.path)(io::Error::other(
                "the writer stopped",
            ))),
        }
    }

    /// Records an outcome without making the sender wait for the disk: `then` runs (on the
    /// reporter thread) once the line is on disk, or with the error that kept it off. The
    /// line is queued ahead of any later intent, so it is on disk before any request that
    /// starts after this call leaves. If the journal has already failed, `then` gets the
    /// error at once and so does the caller.
    pub fn record_then(
        &self,
        record: Record,
        then: impl FnOnce(Result<(), JournalError>) + Send + 'static,
    ) -> Result<(), JournalError> {
        let report: Report = Box::new(then);
        self.queue.push(record, Then::Report(report), &self.path)
    }

    /// Waits for the writer to write what is queued and fsync what is waited for, and for
    /// every report to have run; gives the journal back (its last lines may still need
    /// [`Journal::sync`]). A disk error the writer met, even on a line nobody waited for,
    /// is returned here. So is a results path that no longer names the run's file, once the
    /// file is put back ([`Journal::put_back`]).
    pub fn finish(mut self) -> Result<Journal, JournalError> {
        self.stop_threads();
        let failed = self.queue.lock().failed.clone();
        if let Some(failure) = failed {
            return Err(repeat(&failure, &self.path));
        }
        self.put_back = true;
        lock(&self.journal).put_back()?;
        let journal = Arc::clone(&self.journal);
        drop(self);
        let journal = Arc::into_inner(journal).expect("the writer has stopped");
        Ok(journal.into_inner().unwrap_or_else(PoisonError::into_inner))
    }

    fn stop_threads(&mut self) {
        self.queue.lock().closing = true;
        self.queue.wake.notify_one();
        // The writer first: the reporter stops once the writer has hung up. A thread only
        // panics on a bug; the journal is then unusable anyway.
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for Shared {
    /// A run that ends early still lets its queued lines reach the file, and puts the file
    /// back if the path no longer names it (the error that stopped the run refers to that).
    fn drop(&mut self) {
        self.stop_threads();
        if !std::mem::replace(&mut self.put_back, true)
            && let Err(e) = lock(&self.journal).put_back()
            // Both were logged as they happened, with where the lines are.
            && !matches!(
                e,
                JournalError::Replaced { .. } | JournalError::NotPutBack { .. }
            )
        {
            tracing::error!("{e}");
        }
    }
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a record, waking the writer if it sleeps. A refused record's report runs
    /// here, with the error.
    fn push(&self, record: Record, then: Then, path: &Path) -> Result<(), JournalError> {
        let mut pending = self.lock();
        if let Some(failure) = &pending.failed {
            let failure = Arc::clone(failure);
            drop(pending);
            if let Then::Report(report) = then {
                report(Err(repeat(&failure, path)));
            }
            return Err(repeat(&failure, path));
        }
        pending.records.push(record);
        pending.queued += 1;
        match then {
            Then::Wait(waiter) => {
                let mine = pending.queued;
                pending.waiters.push((mine, waiter));
            }
            Then::Report(report) => {
                pending.reported = pending.queued;
                let mine = pending.queued;
                pending.reports.push((mine, report));
            }
            Then::Nothing => {}
        }
        if std::mem::take(&mut pending.idle) {
            self.wake.notify_one();
        }
        Ok(())
    }
}

/// What the writer thread holds.
struct Writer {
    /// The file's delimiter, which nothing changes while the writer runs.
    delimiter: u8,
    /// Where the next batch goes: the writer is the file's only appender while it runs.
    end: u64,
    journal: Arc<Mutex<Journal>>,
    queue: Arc<Queue>,
    /// A second handle on the file, so a write and an fsync run without holding the
    /// journal: a sender looking up the resume index (on the one runtime worker) waits
    /// only for the index's update, not for the disk.
    file: std::fs::File,
    settled: mpsc::Sender<Settled>,
    path: PathBuf,
    /// Where each batch's sends also go, in the same step.
    ledger: Option<Sink>,
    /// With a ledger: the ledger's own thread, so its commit hides behind the fsync.
    recorder: Option<Recorder>,
}

impl Writer {
    /// Takes what is queued, writes it in one call, fsyncs when a sender waits (or a report
    /// has lingered), tells those waiting; until closed or a disk error.
    fn run(mut self) {
        let mut batch = Vec::new();
        let mut lines = Lines::default();
        let mut waiters = Vec::new();
        let mut waiting: VecDeque<(u64, Report)> = VecDeque::new();
        let mut synced = 0;
        let mut linger_until: Option<Instant> = None;
        loop {
            let (last, reported, closing) = {
                let mut pending = self.wait_for_work(linger_until);
                std::mem::swap(&mut batch, &mut pending.records);
                std::mem::swap(&mut waiters, &mut pending.waiters);
                waiting.extend(pending.reports.drain(..));
                (pending.queued, pending.reported, pending.closing)
            };
            if batch.is_empty() && closing && reported <= synced {
                return; // everything is written and fsynced as asked
            }
            let written = match batch.is_empty() {
                true => Ok(()),
                false => self.write(&batch, &mut lines),
            };
            let lingered = closing || linger_until.is_some_and(|until| until <= Instant::now());
            let sync = written.is_ok() && (!waiters.is_empty() || (reported > synced && lingered));
            // The batch's records are numbered up to `last`.
            let first = (last + 1).saturating_sub(batch.len() as u64);
            // Before the waiters are told: an intent is in the ledger before its request
            // leaves, so a kill mid-request still counts as a possible send.
            let recorded = written.and_then(|()| self.sync_and_record(&mut batch, sync));
            match recorded {
                // Only intents are refused, and an intent always has its waiter (so `sync`).
                Ok(mut refused) if sync => {
                    synced = last;
                    linger_until = None;
                    for (seq, waiter) in waiters.drain(..) {
                        let at = refused.iter().position(|(i, _)| first + *i as u64 == seq);
                        let refusal = at.map(|at| refused.swap_remove(at).1);
                        let _ = waiter.send(Ok(refusal)); // a sender that gave up no longer listens
                    }
                    let done = waiting.iter().take_while(|(seq, _)| *seq <= synced).count();
                    self.settle(waiting.drain(..done), None);
                }
                Ok(_) => {
                    if reported > synced && linger_until.is_none() {
                        linger_until = Some(Instant::now() + LINGER);
                    }
                }
                Err(e) => {
                    let failure = Arc::new(e);
                    // Another process wrote too: what this run wrote is whole in the file, and
                    // once durable its outcomes stand (an accepted send's id is recorded). No
                    // intent of the batch goes ahead, and the file says so.
                    if matches!(*failure, JournalError::Shared { .. }) {
                        self.not_sent(&batch, &mut lines);
                        if self.file.sync_data().is_ok() {
                            let done = waiting.iter().take_while(|(seq, _)| *seq <= last).count();
                            self.settle(waiting.drain(..done), None);
                        }
                    }
                    let (refused, unwritten) = {
                        let mut pending = self.queue.lock();
                        pending.failed = Some(Arc::clone(&failure));
                        let waiters = std::mem::take(&mut pending.waiters);
                        (std::mem::take(&mut pending.reports), waiters)
                    };
                    for (_, waiter) in waiters.drain(..).chain(unwritten) {
                        let _ = waiter.send(Err(Arc::clone(&failure)));
                    }
                    self.settle(waiting.drain(..).chain(refused), Some(failure));
                    return;
                }
            }
            batch.clear();
        }
    }

    /// Appends `batch` through the writer's own handle, then notes it in the resume index
    /// (the only moment the journal is locked).
    fn write(&mut self, batch: &[Record], lines: &mut Lines) -> Result<(), JournalError> {
        lines.format(self.delimiter, batch);
        append(&self.file, lines.bytes()).map_err(io_error("write", &self.path))?;
        let end = self.end + lines.bytes().len() as u64;
        // The handle appends, so it now sits at the file's end: anywhere else, another
        // process wrote too, and the resume index (offsets) no longer matches the file.
        // Stopping keeps every line whole; the next run reads them all.
        if (&self.file).stream_position().ok() != Some(end) {
            return Err(JournalError::Shared {
                path: self.path.clone(),
            });
        }
        lock(&self.journal).noted(batch, lines, self.end);
        self.end = end;
        Ok(())
    }

    /// Appends a `DEFERRED` line for each intent of `batch`, whose senders are told of a
    /// failure instead (so no request leaves): a rerun sends those rows rather than taking
    /// them for maybe sent (`UNCERTAIN`). Best effort: the run is stopping on that failure.
    fn not_sent(&self, batch: &[Record], lines: &mut Lines) {
        let not_sent: Vec<Record> = (batch.iter())
            .filter(|record| record.status == Status::Sending)
            .map(|intent| Record {
                status: Status::Deferred,
                error_code: NOT_SENT.into(),
                error: "not sent: this run stopped before the request left, because another \
                        process wrote to the results file"
                    .into(),
                ..intent.clone()
            })
            .collect();
        if !not_sent.is_empty() {
            lines.format(self.delimiter, &not_sent);
            let _ = append(&self.file, lines.bytes());
        }
    }

    /// Records `batch` in the ledger (if any) and, with `sync`, fsyncs the journal: side by
    /// side, the ledger on its own thread, when both are due, so the ledger's commit hides
    /// behind the fsync instead of adding to every round (it cost a fifth of the sends/s at
    /// c64 in line). Returns once both are done; the first error wins.
    fn sync_and_record(
        &self,
        batch: &mut Vec<Record>,
        sync: bool,
    ) -> Result<Vec<(usize, Refusal)>, JournalError> {
        let fsync = || self.file.sync_data().map_err(io_error("write", &self.path));
        let failed = |problem: String| io_error("write", &self.path)(io::Error::other(problem));
        let Some(ledger) = self.ledger.as_ref().filter(|_| !batch.is_empty()) else {
            return if sync {
                fsync().map(|()| Vec::new())
            } else {
                Ok(Vec::new())
            };
        };
        match (sync, &self.recorder) {
            (false, _) => Ok(unrecorded(batch, ledger.record(batch))),
            (true, Some(recorder)) => match recorder.record_while(batch, fsync) {
                (Some(recorded), synced) => synced.map(|()| unrecorded(batch, recorded)),
                (None, synced) => synced.and(Err(failed("the ledger's thread stopped".into()))),
            },
            // No thread to be had: one after the other.
            (true, None) => {
                let refused = unrecorded(batch, ledger.record(batch));
                fsync().map(|()| refused)
            }
        }
    }

    /// Sleeps until records are queued, the run closes, or a lingering report is due,
    /// after [`YIELDS`] chances for them to come without a sleep.
    fn wait_for_work(&self, linger_until: Option<Instant>) -> MutexGuard<'_, Pending> {
        let mut pending = self.queue.lock();
        for _ in 0..YIELDS {
            if !pending.records.is_empty() || pending.closing {
                return pending;
            }
            drop(pending);
            std::thread::yield_now();
            pending = self.queue.lock();
        }
        while pending.records.is_empty() && !pending.closing {
            let wait = match linger_until {
                Some(until) => match until.checked_duration_since(Instant::now()) {
                    Some(wait) if !wait.is_zero() => Some(wait),
                    _ => break,
                },
                None => None,
            };
            pending.idle = true;
            let wake = &self.queue.wake;
            pending = match wait {
                Some(wait) => {
                    (wake.wait_timeout(pending, wait))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => wake.wait(pending).unwrap_or_else(PoisonError::into_inner),
            };
        }
        pending.idle = false;
        pending
    }

    fn settle(
        &self,
        reports: impl Iterator<Item = (u64, Report)>,
        failure: Option<Arc<JournalError>>,
    ) {
        let reports: Vec<Report> = reports.map(|(_, report)| report).collect();
        if !reports.is_empty() {
            // The reporter only stops after the writer, so it is still listening.
            let _ = self.settled.send(Settled { reports, failure });
        }
    }
}

/// The intents the ledger refused; when it could record none of `batch` (locked past its
/// busy timeout, read-only, damaged), every intent of it, so none of their requests leave:
/// their results lines stay good, and the run stops on the first. Outcomes it could not
/// record leave their sends' intents in the ledger, counted as possible sends.
fn unrecorded(
    batch: &[Record],
    recorded: Result<Vec<(usize, Refusal)>, LedgerError>,
) -> Vec<(usize, Refusal)> {
    let problem = match recorded {
        Ok(refused) => return refused,
        Err(e) => e.to_string(),
    };
    let intents: Vec<_> = (batch.iter().enumerate())
        .filter(|(_, record)| record.status == Status::Sending)
        .map(|(index, _)| (index, Refusal::Unrecorded(problem.clone())))
        .collect();
    if intents.is_empty() {
        tracing::warn!("{problem}: {} outcome(s) not recorded there", batch.len());
    }
    intents
}

/// Appends `bytes` whole, or fails. A write that stops part-way (a full disk takes what
/// fits) would leave the file ending in part of a line: the file is cut back to the last
/// line break that made it, so the lines written whole stay (an accepted send's id among
/// them) and the file still ends as a line this tool wrote. Only this run appends to the
/// file (it holds the lock), so its length less what this call wrote is where it began.
fn append(file: &std::fs::File, bytes: &[u8]) -> io::Result<()> {
    let mut written = 0;
    while written < bytes.len() {
        let failed = match (&*file).write(&bytes[written..]) {
            Ok(0) => io::Error::from(io::ErrorKind::WriteZero),
            Ok(n) => {
                written += n;
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => e,
        };
        if written > 0 {
            let whole = bytes[..written]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
            // At best: a part left anyway is dropped by the next open as a torn line, and
            // the write's own error is what the run reports.
            if let Ok(meta) = file.metadata() {
                let began = meta.len().saturating_sub(written as u64);
                let _ = file.set_len(began + whole as u64);
            }
        }
        return Err(failed);
    }
    Ok(())
}

/// The reporter thread: runs reports as the writer settles them, off the writer's path
/// (a report may write a log line), until the writer hangs up.
fn report_loop(settled: &mpsc::Receiver<Settled>, path: &Path) {
    for batch in settled {
        for report in batch.reports {
            match &batch.failure {
                None => report(Ok(())),
                Some(failure) => report(Err(repeat(failure, path))),
            }
        }
    }
}

fn spawn(
    name: &str,
    path: &Path,
    body: impl FnOnce() + Send + 'static,
) -> Result<JoinHandle<()>, JournalError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(body)
        .map_err(io_error("start the writer for", path))
}

fn lock(journal: &Mutex<Journal>) -> MutexGuard<'_, Journal> {
    journal.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The writer's error again, for one more caller (an `io::Error` cannot be cloned).
fn repeat(failure: &JournalError, path: &Path) -> JournalError {
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
        JournalError::Shared { path } => JournalError::Shared { path: path.clone() },
        other => io_error("write", path)(io::Error::other(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use std::fs::{self, File};

    use super::*;

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
                shared.intend(record(row, Status::Sending)).await.unwrap();
                let text = fs::read_to_string(path).unwrap();
                assert!(text.contains(&format!("\n{row},")), "row {row} not written");
            }
        });
        futures_util::future::join_all(sends).await;
        shared
            .record(record(65, Status::Invalid), Durability::Lazy)
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
    async fn an_outcome_is_reported_once_its_line_is_written_even_with_no_intent_behind_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let shared = Shared::new(Journal::open(&path, b',').unwrap()).unwrap();
        let (reported, report) = std::sync::mpsc::channel();
        let seen = path.clone();
        shared
            .record_then(record(1, Status::Queued), move |written| {
                let text = fs::read_to_string(&seen).unwrap();
                reported.send((written.is_ok(), text)).unwrap();
            })
            .unwrap();
        // No intent follows, so only the linger can trigger the fsync that reports it.
        let (ok, text) = report.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(ok);
        assert!(text.contains("\n1,+5511999990001,QUEUED,"), "{text}");
        shared.finish().unwrap();
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
        let (reported, report) = std::sync::mpsc::channel();
        let queued = reported.clone();
        shared
            .record_then(record(4, Status::Queued), move |written| {
                queued.send(written.is_ok()).unwrap();
            })
            .unwrap();
        let error = shared.intend(record(1, Status::Sending)).await.unwrap_err();
        assert!(error.to_string().contains("r.csv"), "{error}");
        let later = shared
            .record(record(2, Status::Invalid), Durability::Lazy)
            .await;
        assert!(later.is_err(), "a record after the failure is refused");
        let outcome = shared.record_then(record(3, Status::Queued), move |written| {
            reported.send(written.is_ok()).unwrap();
        });
        assert!(outcome.is_err());
        let reports: Vec<bool> = report.iter().take(2).collect();
        assert_eq!(
            reports,
            [false, false],
            "queued and later outcomes hear of it"
        );
        assert!(shared.finish().is_err(), "finish reports the failure");
        assert_eq!(fs::read_to_string(&path).unwrap(), before);
    }
}
