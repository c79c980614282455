//! The loop that ties the pipeline together: for each row, in order, read it (input), decide
//! from the checkpoint whether it still needs sending, wait for its turn (pacing), record the
//! intent (journal), send (provider), record the outcome (journal). All "what do we do about
//! it" decisions live here: retry, stop the campaign, mark `UNCERTAIN`.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use backon::Retryable as _;
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;

use crate::clock::Clock;
use crate::input::validate::RowError;
use crate::input::{CsvInput, InputError, Row, Verdict};
use crate::journal::{self, Checkpoint, Durability, Journal, JournalError, Prior, Record, Status};
use crate::message::Message;
use crate::pacing::Pacer;
use crate::progress::{Preflight, Progress, Summary};
use crate::provider::{Accepted, ErrorClass, Provider, SendError};
use crate::settings::Settings;
use crate::shutdown::Shutdown;
use crate::window::{self, Admission, SendWindow};

/// Why a run could not start or had to stop; each maps to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The input file as a whole is unusable (exit 2, nothing sent).
    #[error("{0}")]
    Input(#[from] InputError),
    /// The results file cannot be used: locked, foreign, damaged, unwritable at start (exit 2).
    #[error("{0}")]
    Checkpoint(JournalError),
    /// The results file belongs to another input (exit 2, nothing sent).
    #[error("{0}")]
    Mismatch(String),
    /// `--strict` or `--max-invalid` refused the file (exit 2, nothing sent).
    #[error("{0}")]
    TooManyInvalid(String),
    /// Writing the results failed mid-run; the run stopped before the next send (exit 3).
    #[error(
        "{0}; stopped before the next send. Free disk space or fix permissions, then rerun the same command"
    )]
    Disk(JournalError),
}

impl RunError {
    /// Exit 2 for anything found before the first send, 3 for a run cut short.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Disk(_) => 3,
            _ => 2,
        }
    }
}

/// Why the send loop ended early.
#[derive(Debug)]
enum Stop {
    Shutdown,
    Fatal(SendError),
    RetriesExhausted(SendError),
    Window(window::Closed),
}

/// What one attempt produced, for backon to decide on.
#[derive(Debug)]
enum AttemptError {
    Stopped,
    Retry(SendError),
    Final(SendError),
    Disk(JournalError),
    Closed(window::Closed),
}

/// What the run needs besides settings: the clock, the stop signal, where dry-run bodies go,
/// and an optional seed for the spacing draws.
pub struct Context {
    pub clock: Clock,
    pub shutdown: Shutdown,
    pub seed: Option<u64>,
    /// Progress bar and preflight report (off with `-q`; a dry run always reports).
    pub show_progress: bool,
    pub out: Mutex<Box<dyn Write + Send>>,
}

/// Runs (or with `--dry-run`, previews) a campaign and returns its summary. `providers`
/// are the clients of [`Settings::senders`], in order (see [`Settings::connect`]).
pub async fn run_campaign(
    settings: &Settings,
    providers: &[Box<dyn Provider>],
    context: &Context,
) -> Result<Summary, RunError> {
    assert_eq!(
        providers.len(),
        settings.senders.len(),
        "one provider per sender"
    );
    let mut input_options = settings.input.clone();
    input_options.now = context.clock.wall();
    let open_input = || CsvInput::open(&settings.csv, &input_options);
    // Opened before the results file is touched: a bad header stops the run right here.
    let input = open_input()?;
    if settings.dry_run {
        let checkpoint = Checkpoint::load(&settings.results).map_err(RunError::Checkpoint)?;
        let preview = providers[0].as_ref();
        let preflight = preflight(input, &checkpoint, settings, context, Some(preview))?;
        return Ok(Summary::from_checkpoint(
            &checkpoint,
            preflight.rows,
            &settings.results,
            true,
        ));
    }
    let journal = Journal::open(&settings.results, settings.results_delimiter)
        .map_err(RunError::Checkpoint)?;
    let preflight = preflight(input, journal.checkpoint(), settings, context, None)?;
    let mut rows = open_input()?;
    rows.already_sent(journal.checkpoint().attempted());
    let runner = Runner {
        settings,
        context,
        lanes: lanes(settings, providers, context),
        journal: journal::Shared::new(journal).map_err(RunError::Checkpoint)?,
        progress: Arc::new(Progress::new(
            preflight.rows,
            preflight.done,
            context.show_progress,
        )),
    };
    let stops = runner.send_all(rows).await?;
    let mut journal = runner.journal.finish().map_err(RunError::Disk)?;
    if stops.is_empty() {
        journal.compact(preflight.rows).map_err(RunError::Disk)?;
    } else {
        journal.sync().map_err(RunError::Disk)?;
    }
    runner.progress.finish();
    let summary = Summary::from_checkpoint(
        journal.checkpoint(),
        preflight.rows,
        &settings.results,
        false,
    );
    for (label, stop) in &stops {
        log_stop(label, stop, settings);
    }
    Ok(summary)
}

/// Why the run, or one sender's lane (`label`), stopped early.
fn log_stop(label: &str, stop: &Stop, settings: &Settings) {
    let who = match label {
        "" => String::new(),
        label => format!("sender {label}: "),
    };
    let rest = match label {
        "" => "nothing more was sent",
        _ => "this number sent nothing more; the other numbers went on",
    };
    match stop {
        Stop::Shutdown => {
            tracing::warn!("stopped on request; rerun the same command to continue")
        }
        Stop::Fatal(e) => tracing::error!(
            "{who}the API refused the campaign (HTTP {} {}: {}); {rest}. Fix the account or key, then rerun the same command",
            e.http_status.map_or("-".into(), |s| s.to_string()),
            e.code,
            e.message
        ),
        Stop::RetriesExhausted(e) => tracing::error!(
            "{who}the API kept refusing for now ({}: {}) after {} attempts; the row is DEFERRED and {rest}. Rerun later to continue",
            e.code,
            e.message,
            settings.backoff.max_attempts
        ),
        Stop::Window(closed) => tracing::warn!("{closed}"),
    }
}

/// One lane per sender: its client and a pace of its own.
fn lanes<'a>(
    settings: &'a Settings,
    providers: &'a [Box<dyn Provider>],
    context: &Context,
) -> Vec<Lane<'a>> {
    settings
        .senders
        .iter()
        .zip(providers)
        .zip(0u64..)
        .map(|((sender, provider), i)| Lane {
            label: &sender.label,
            provider: provider.as_ref(),
            pacer: Pacer::new(
                settings.rate,
                settings.spacing,
                context.clock.clone(),
                context.seed.map(|seed| seed.wrapping_add(i)),
            ),
            halt: Shutdown::new(),
        })
        .collect()
}

/// Validates every row, checks the checkpoint belongs to this input, counts the work,
/// prints the report and applies `--strict` / `--max-invalid`. With `dry_run` (the
/// provider that would send), prints each body that would be sent and every invalid row.
fn preflight(
    mut input: CsvInput,
    checkpoint: &Checkpoint,
    settings: &Settings,
    context: &Context,
    dry_run: Option<&dyn Provider>,
) -> Result<Preflight, RunError> {
    let mut found = Preflight::new(settings, context.clock.wall());
    found.notes = input.warnings().to_vec();
    input.already_sent(checkpoint.attempted());
    std::thread::scope(|scope| {
        let window = settings.window.as_ref();
        let mut bodies = dry_run.map(|provider| Bodies::start(scope, provider, window, context));
        while let Some(row) = input.next_row(|i| settled_cell(checkpoint.prior(i), settings)) {
            let row = row?;
            found.rows = row.index;
            let prior = checkpoint.prior(row.index);
            check_same_input(&row, prior, checkpoint, settings)?;
            match row.verdict {
                Verdict::Send(message) => {
                    found.valid += 1;
                    if !needs_send(prior, settings) {
                        found.done += 1;
                        continue;
                    }
                    found.to_send += 1;
                    if let Some(bodies) = &mut bodies {
                        bodies.push(row.index, message);
                    }
                }
                Verdict::Invalid(error) => {
                    found.count_invalid(row.index, error.code);
                    if dry_run.is_some() {
                        tracing::warn!(
                            "row {}: INVALID {}: {error}",
                            row.index,
                            error.code.as_str()
                        );
                    }
                }
                Verdict::Skip(_) => found.opted_out.push(row.index),
                Verdict::Unchanged => {
                    found.valid += 1;
                    found.done += 1;
                }
            }
        }
        Ok::<(), RunError>(())
    })?;
    if checkpoint.last_row() > found.rows {
        return Err(RunError::Mismatch(format!(
            "{} records row {} but {} has only {} rows: the results belong to another input. \
             Use the CSV they were made from, or pass --results with a new path",
            settings.results.display(),
            checkpoint.last_row(),
            settings.csv.display(),
            found.rows
        )));
    }
    if context.show_progress || dry_run.is_some() {
        eprint!("{found}");
    }
    found.check_limits().map_err(RunError::TooManyInvalid)?;
    Ok(found)
}

/// Rows of `--dry-run` on their way to the body writer, and back to be freed.
type Batch = Vec<(u64, Box<Message>)>;

/// `--dry-run`'s request bodies, built and written by a second thread in row order, so that
/// judging the next rows does not wait for JSON. Messages go back to be freed by the thread
/// that made them: glibc frees from another thread contend on the maker's arena.
struct Bodies {
    batch: Batch,
    to_writer: std::sync::mpsc::SyncSender<Batch>,
    written: std::sync::mpsc::Receiver<Batch>,
}

impl Bodies {
    /// Rows handed over at a time: one channel message and one output lock per batch.
    const BATCH: usize = 256;

    fn start<'scope, 'env>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        provider: &'env dyn Provider,
        window: Option<&'env SendWindow>,
        context: &'env Context,
    ) -> Bodies {
        let (to_writer, batches) = std::sync::mpsc::sync_channel::<Batch>(8);
        let (back, written) = std::sync::mpsc::channel::<Batch>();
        scope.spawn(move || {
            // A batch's lines are serialized into memory, then written at once: serde_json
            // writes token by token, each a call through the boxed writer otherwise.
            let mut lines = Vec::new();
            for batch in batches {
                lines.clear();
                for (row, message) in &batch {
                    let now = context.clock.wall();
                    let body = provider.body(&window::with_deadline(window, message, now), now);
                    let line = BodyLine {
                        row: *row,
                        body: &body,
                    };
                    serde_json::to_writer(&mut lines, &line).expect("a Value serializes");
                    lines.push(b'\n');
                }
                let _ = back.send(batch);
                let _ = context.out.lock().expect("output mutex").write_all(&lines);
            }
        });
        Bodies {
            batch: Vec::with_capacity(Self::BATCH),
            to_writer,
            written,
        }
    }

    fn push(&mut self, row: u64, message: Box<Message>) {
        self.batch.push((row, message));
        if self.batch.len() == Self::BATCH {
            self.hand_over();
        }
    }

    fn hand_over(&mut self) {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(Self::BATCH));
        // The writer only stops once this sender is gone.
        let _ = self.to_writer.send(batch);
        self.written.try_iter().for_each(drop);
    }
}

impl Drop for Bodies {
    /// The last rows; the scope then waits for the writer to finish them.
    fn drop(&mut self) {
        if !self.batch.is_empty() {
            self.hand_over();
        }
    }
}

/// One line of `--dry-run`'s output: `{"row": N, "body": {...}}`.
#[derive(serde::Serialize)]
struct BodyLine<'a> {
    row: u64,
    body: &'a serde_json::Value,
}

/// A row already handled must still be the same recipient, or a rerun would skip or resend
/// the wrong people. INVALID rows were never sent, so a fixed row is simply re-validated.
fn check_same_input(
    row: &Row,
    prior: Option<Prior>,
    checkpoint: &Checkpoint,
    settings: &Settings,
) -> Result<(), RunError> {
    let Some(prior) = prior.filter(|p| p.status != Status::Invalid) else {
        return Ok(());
    };
    if row.verdict == Verdict::Unchanged {
        return Ok(()); // the very cell the checkpoint recorded
    }
    if prior.same_destination(&row.destination) {
        return Ok(());
    }
    let recorded = checkpoint
        .recorded_destination(row.index)
        .unwrap_or_else(|| "another destination".into());
    Err(RunError::Mismatch(format!(
        "row {} of {} is now {}, but {} recorded {recorded} for it: the CSV changed since the last run. \
         Nothing was sent. Restore the original CSV, or pass --results with a new path to start a separate campaign",
        row.index,
        settings.csv.display(),
        row.destination,
        settings.results.display()
    )))
}

/// For a row the checkpoint has settled for good (nothing this run does can send it or
/// change its record: `QUEUED`, `FAILED`, `UNCERTAIN` without `--resend-uncertain`), the
/// short fingerprint its destination cell had, so the input can skip judging it again.
fn settled_cell(prior: Option<Prior>, settings: &Settings) -> Option<u32> {
    let prior = prior?;
    let settled = match prior.status {
        Status::Queued | Status::Failed => true,
        Status::Uncertain => !settings.resend_uncertain,
        Status::Sending | Status::Deferred | Status::Invalid | Status::Skipped => false,
    };
    settled.then(|| prior.raw_fingerprint())
}

/// Whether a valid row still has to be sent, given its last recorded state.
fn needs_send(prior: Option<Prior>, settings: &Settings) -> bool {
    match prior.map(|p| p.status) {
        None | Some(Status::Deferred | Status::Invalid) => true,
        Some(Status::Uncertain | Status::Sending) => settings.resend_uncertain,
        Some(Status::Queued | Status::Failed | Status::Skipped) => false,
    }
}

struct Runner<'a> {
    settings: &'a Settings,
    context: &'a Context,
    lanes: Vec<Lane<'a>>,
    journal: journal::Shared,
    /// Shared with the journal, which reports an accepted row once it is on disk.
    progress: Arc<Progress>,
}

/// One sending number: its client, its own quota and spacing (a `Retry-After` holds only
/// this number), and its own stop, so a refusal of one number leaves the others sending.
struct Lane<'a> {
    label: &'a str,
    provider: &'a dyn Provider,
    pacer: Pacer,
    /// Requested when this lane stops; waits of its in-flight sends end with it.
    halt: Shutdown,
}

/// The send pass's bookkeeping: rows waiting for their lane, sends in flight per lane, and
/// the lanes that stopped.
struct Dispatch {
    queues: Vec<VecDeque<Row>>,
    busy: Vec<usize>,
    stopped: Vec<Option<Stop>>,
    /// Rows read ahead and not yet started, across lanes.
    waiting: usize,
}

impl Runner<'_> {
    /// The second pass: rows in order, each sender's rows in its own lane with up to
    /// `concurrency` in flight, until the end or a stop. A stop (signal, disk, or every lane
    /// stopped) lets sends already in flight finish and be recorded; nothing new starts.
    /// Returns each stop with the label of the lane it stopped ("" for the whole run).
    async fn send_all(&self, input: CsvInput) -> Result<Vec<(String, Stop)>, RunError> {
        let lanes = self.lanes.len();
        let concurrency = self.settings.concurrency;
        // Rows read ahead, so a lane waiting for its spacing does not hold the others back.
        let read_ahead = lanes * concurrency * 4;
        let mut dispatch = Dispatch {
            queues: (0..lanes).map(|_| VecDeque::new()).collect(),
            busy: vec![0; lanes],
            stopped: (0..lanes).map(|_| None).collect(),
            waiting: 0,
        };
        let mut in_flight = FuturesUnordered::new();
        let mut stop = None;
        let mut failure = None;
        let mut rows = input;
        let mut exhausted = false;
        loop {
            while !exhausted
                && stop.is_none()
                && failure.is_none()
                && dispatch.waiting + in_flight.len() < read_ahead
            {
                if self.context.shutdown.is_requested() {
                    stop = Some(Stop::Shutdown);
                    break;
                }
                let settled = |i| settled_cell(self.journal.prior(i), self.settings);
                match rows.next_row(settled) {
                    // Settled for good and unchanged: nothing to send or record.
                    Some(Ok(row)) if row.verdict == Verdict::Unchanged => {}
                    Some(Ok(row)) => match self.lane_for(&row) {
                        None => in_flight.push(self.handle(row, None)),
                        Some(lane) if dispatch.stopped[lane].is_some() => {}
                        Some(lane) => {
                            dispatch.queues[lane].push_back(row);
                            dispatch.waiting += 1;
                        }
                    },
                    Some(Err(e)) => failure = Some(RunError::Input(e)),
                    None => exhausted = true,
                }
            }
            if stop.is_none() && failure.is_none() {
                for lane in 0..lanes {
                    while dispatch.busy[lane] < concurrency
                        && let Some(row) = dispatch.queues[lane].pop_front()
                    {
                        dispatch.busy[lane] += 1;
                        dispatch.waiting -= 1;
                        in_flight.push(self.handle(row, Some(lane)));
                    }
                }
            }
            let Some((lane, done)) = in_flight.next().await else {
                break;
            };
            if let Some(lane) = lane {
                dispatch.busy[lane] -= 1;
            }
            match (done, lane) {
                (Ok(None), _) => {}
                // The lane's own stop already ended this send's wait: nothing new to report.
                (Ok(Some(Stop::Shutdown)), Some(lane))
                    if !self.context.shutdown.is_requested()
                        && dispatch.stopped[lane].is_some() => {}
                (Ok(Some(reason @ (Stop::Fatal(_) | Stop::RetriesExhausted(_)))), Some(lane)) => {
                    self.lanes[lane].halt.request();
                    if dispatch.stopped[lane].is_none() {
                        dispatch.waiting -= dispatch.queues[lane].len();
                        dispatch.queues[lane].clear();
                        dispatch.stopped[lane] = Some(reason);
                    }
                    if dispatch.stopped.iter().all(Option::is_some) {
                        self.context.shutdown.request();
                    }
                }
                (Ok(Some(reason)), _) => {
                    self.context.shutdown.request();
                    stop.get_or_insert(reason);
                }
                (Err(e), _) => {
                    self.context.shutdown.request();
                    failure.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        let mut stops: Vec<(String, Stop)> = Vec::new();
        for (lane, stopped) in self.lanes.iter().zip(dispatch.stopped) {
            if let Some(reason) = stopped {
                stops.push((lane.label.to_string(), reason));
            }
        }
        // Every lane stopped: that is the run's stop, not a signal.
        if let Some(reason) = stop.filter(|_| stops.len() < lanes) {
            stops.push((String::new(), reason));
        }
        Ok(stops)
    }

    /// The lane a row is sent in, or `None` when the row is only recorded (invalid, opted
    /// out, interrupted earlier) or needs nothing at all.
    fn lane_for(&self, row: &Row) -> Option<usize> {
        let send = matches!(row.verdict, Verdict::Send(_))
            && needs_send(self.journal.prior(row.index), self.settings);
        send.then(|| crate::senders::assign(&self.settings.senders, &row.destination))
    }

    /// Records or sends one row; `lane` is [`Runner::lane_for`]'s answer, handed back with
    /// the outcome so the dispatcher knows which lane has room again.
    async fn handle(
        &self,
        row: Row,
        lane: Option<usize>,
    ) -> (Option<usize>, Result<Option<Stop>, RunError>) {
        let outcome = match lane {
            Some(lane) => self.send_in(&self.lanes[lane], &row).await,
            None => self.record_only(&row).await,
        };
        (lane, outcome)
    }

    async fn send_in(&self, lane: &Lane<'_>, row: &Row) -> Result<Option<Stop>, RunError> {
        let Verdict::Send(message) = &row.verdict else {
            unreachable!("only rows to send get a lane")
        };
        let attempts = self.journal.prior(row.index).map_or(0, |p| p.attempts);
        self.send(lane, row, message, attempts).await
    }

    /// A row that gets a record but no send: invalid, opted out, or interrupted earlier.
    async fn record_only(&self, row: &Row) -> Result<Option<Stop>, RunError> {
        let prior = self.journal.prior(row.index);
        let status = prior.map(|p| p.status);
        if status == Some(Status::Sending) && !self.settings.resend_uncertain {
            let mut record = self.record(row, Status::Uncertain, prior.map_or(0, |p| p.attempts));
            record.sender = self.journal.recorded_sender(row.index).unwrap_or_default();
            record.error_code = "INTERRUPTED".into();
            record.error =
                "an earlier run was stopped while this send was in flight; it may have been \
                delivered. Check before using --resend-uncertain"
                    .into();
            self.append(&record, Durability::Lazy)
                .await
                .map_err(RunError::Disk)?;
            self.progress.row_done(Status::Uncertain);
            return Ok(None);
        }
        match &row.verdict {
            Verdict::Invalid(error) => {
                self.record_refusal(row, prior, Status::Invalid, error)
                    .await
            }
            Verdict::Skip(error) => {
                self.record_refusal(row, prior, Status::Skipped, error)
                    .await
            }
            Verdict::Send(_) | Verdict::Unchanged => Ok(None),
        }
    }

    /// Records a row that is not sent. Never sent, so its line need not be on disk before
    /// the next send: the next fsync (or the final compaction) takes it along.
    async fn record_refusal(
        &self,
        row: &Row,
        prior: Option<Prior>,
        status: Status,
        error: &RowError,
    ) -> Result<Option<Stop>, RunError> {
        if prior.is_some_and(|p| p.status == status) {
            return Ok(None);
        }
        let mut record = self.record(row, status, 0);
        record.error_code = error.code.as_str().into();
        record.error = error.to_string();
        tracing::warn!(
            "row {}: {status} {}: {error}",
            row.index,
            error.code.as_str()
        );
        self.append(&record, Durability::Lazy)
            .await
            .map_err(RunError::Disk)?;
        self.progress.row_done(status);
        Ok(None)
    }

    /// Sends one row with retries: every attempt waits its turn, records its intent, and
    /// records a definite refusal as DEFERRED before waiting to retry.
    async fn send(
        &self,
        lane: &Lane<'_>,
        row: &Row,
        message: &Message,
        prior_attempts: u32,
    ) -> Result<Option<Stop>, RunError> {
        let attempts = AtomicU32::new(prior_attempts);
        let attempt = || self.attempt(lane, row, message, &attempts);
        let clock = self.context.clock.clone();
        let (shutdown, halt) = (self.context.shutdown.clone(), lane.halt.clone());
        let result = attempt
            .retry(self.settings.backoff.policy())
            .sleep(move |wait| {
                let (clock, shutdown, halt) = (clock.clone(), shutdown.clone(), halt.clone());
                async move {
                    tokio::select! {
                        _ = clock.sleep(wait) => {}
                        _ = shutdown.requested() => {}
                        _ = halt.requested() => {}
                    }
                }
            })
            .when(|e| matches!(e, AttemptError::Retry(_)))
            .adjust(|e, backoff| match e {
                // Retry-After replaces the backoff, but never revives exhausted attempts.
                AttemptError::Retry(SendError {
                    retry_after: Some(wait),
                    ..
                }) => backoff.map(|_| *wait),
                _ => backoff,
            })
            .notify(|e, wait| {
                if let AttemptError::Retry(e) = e {
                    tracing::info!(
                        "row {}: {} ({}), retrying in {}",
                        row.index,
                        e.code,
                        e.message,
                        crate::progress::human(wait)
                    );
                }
            })
            .await;
        let attempts = attempts.load(Ordering::SeqCst);
        let error = match result {
            Ok((accepted, sent_at)) => {
                self.record_accepted(lane, row, accepted, attempts, sent_at)?;
                return Ok(None);
            }
            Err(AttemptError::Stopped) => return Ok(Some(Stop::Shutdown)),
            Err(AttemptError::Closed(closed)) => return Ok(Some(Stop::Window(closed))),
            Err(AttemptError::Disk(e)) => return Err(RunError::Disk(e)),
            Err(AttemptError::Retry(e)) => {
                self.progress.row_done(Status::Deferred);
                return Ok(Some(Stop::RetriesExhausted(e)));
            }
            Err(AttemptError::Final(e)) => e,
        };
        let status = match error.class {
            ErrorClass::RowFatal => Status::Failed,
            ErrorClass::Ambiguous => Status::Uncertain,
            ErrorClass::CampaignFatal | ErrorClass::Retryable => Status::Deferred,
        };
        let mut record = self.sent_record(lane, row, status, attempts);
        fill_error(&mut record, &error);
        record.sent_at = self.context.clock.wall().to_string();
        tracing::warn!(
            "row {} {}{}: {status} HTTP {} {}: {}",
            row.index,
            row.destination,
            lane.via(),
            record.http_status.map_or("-".into(), |s| s.to_string()),
            error.code,
            error.message
        );
        self.append(&record, Durability::Now)
            .await
            .map_err(RunError::Disk)?;
        if error.class == ErrorClass::CampaignFatal {
            return Ok(Some(Stop::Fatal(error)));
        }
        self.progress.row_done(status);
        Ok(None)
    }

    async fn attempt(
        &self,
        lane: &Lane<'_>,
        row: &Row,
        message: &Message,
        attempts: &AtomicU32,
    ) -> Result<(Accepted, String), AttemptError> {
        let (clock, shutdown) = (&self.context.clock, &self.context.shutdown);
        let window = self.settings.window.as_ref();
        let now = loop {
            tokio::select! {
                biased;
                _ = shutdown.requested() => return Err(AttemptError::Stopped),
                _ = lane.halt.requested() => return Err(AttemptError::Stopped),
                _ = lane.pacer.ready() => {}
            }
            match window::admit(window, clock, shutdown).await {
                Admission::Open(now) => break now,
                Admission::Waited => {}
                Admission::Closed(closed) => return Err(AttemptError::Closed(closed)),
            }
        };
        let attempt = attempts.fetch_add(1, Ordering::SeqCst) + 1;
        let body = lane
            .provider
            .body(&window::with_deadline(window, message, now), now);
        let mut intent = self.sent_record(lane, row, Status::Sending, attempt);
        intent.sent_at = now.to_string();
        self.append(&intent, Durability::Now)
            .await
            .map_err(AttemptError::Disk)?;
        match lane.provider.send(&body).await {
            Ok(accepted) => Ok((accepted, intent.sent_at)),
            Err(error) if error.class == ErrorClass::Retryable => {
                // Limits are per number: the other numbers keep their pace.
                if let Some(wait) = error.retry_after {
                    lane.pacer.hold(wait);
                }
                let mut deferred = intent;
                deferred.status = Status::Deferred;
                fill_error(&mut deferred, &error);
                self.append(&deferred, Durability::Now)
                    .await
                    .map_err(AttemptError::Disk)?;
                Err(AttemptError::Retry(error))
            }
            Err(error) => Err(AttemptError::Final(error)),
        }
    }

    /// Records an accepted send. The sender goes on without waiting for the disk (its next
    /// intent rides the same fsync); the row is reported QUEUED only once its line is on
    /// disk.
    fn record_accepted(
        &self,
        lane: &Lane<'_>,
        row: &Row,
        accepted: Accepted,
        attempts: u32,
        sent_at: String,
    ) -> Result<(), RunError> {
        let mut record = self.sent_record(lane, row, Status::Queued, attempts);
        record.http_status = Some(accepted.http_status);
        record.message_id = accepted.message_id;
        record.correlation_id = accepted.correlation_id.unwrap_or_default();
        record.sent_at = sent_at;
        let (index, destination, via) = (row.index, row.destination.clone(), lane.via());
        let (id, progress) = (record.message_id.clone(), Arc::clone(&self.progress));
        let report = move |written: Result<(), JournalError>| match written {
            Ok(()) => {
                tracing::info!("row {index} {destination}{via}: QUEUED {id}");
                progress.row_done(Status::Queued);
            }
            // Never lost: the id goes to the log, and the intent already on disk makes the
            // row UNCERTAIN (not resent) on the next run. The writer's error stops the run.
            Err(_) => tracing::error!("row {index} was accepted as {id} but could not be recorded"),
        };
        self.journal
            .record_then(&record, report)
            .map_err(RunError::Disk)
    }

    fn record(&self, row: &Row, status: Status, attempts: u32) -> Record {
        Record {
            attempts,
            raw_destination: row.raw_destination.clone(),
            ..Record::new(row.index, &row.destination, status)
        }
    }

    /// A record of a send attempt by `lane`'s number.
    fn sent_record(&self, lane: &Lane<'_>, row: &Row, status: Status, attempts: u32) -> Record {
        Record {
            sender: lane.label.to_string(),
            ..self.record(row, status, attempts)
        }
    }

    async fn append(&self, record: &Record, durability: Durability) -> Result<(), JournalError> {
        self.journal.record(record, durability).await
    }
}

impl Lane<'_> {
    /// ` via LABEL` for log lines when there are several numbers; nothing otherwise.
    fn via(&self) -> String {
        match self.label {
            "" => String::new(),
            label => format!(" via {label}"),
        }
    }
}

fn fill_error(record: &mut Record, error: &SendError) {
    record.http_status = error.http_status;
    record.error_code = error.code.clone();
    record.error = error.message.clone();
}
