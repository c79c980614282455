//! The run of a campaign, as a small pipeline of rooms: [`preflight`] reads every row once to
//! prove the checkpoint belongs to the input and to count the work; [`resume`] decides from a
//! row's recorded state whether it still needs a send; [`dispatch`] feeds rows in order to one
//! [`lanes`] entry per sender number; [`send`] waits for a row's turn, records the intent,
//! sends, and records the outcome (retry, stop the lane, mark `UNCERTAIN`); [`stop`] says why
//! a run or a lane ended early; [`summary`] says what the campaign's state is at the end and
//! which exit code follows.

mod dispatch;
mod lanes;
mod ledger;
mod preflight;
mod resume;
mod send;
mod stop;
mod summary;

pub use summary::{Summary, show_summary};

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::blocking::blocking;
use crate::clock::Clock;
use crate::input::{CsvInput, InputError};
use crate::journal::{self, Checkpoint, Journal, JournalError};
use crate::ledger::RunLedger;
use crate::progress::{Pace, Plan, Progress, Work};
use crate::provider::Provider;
use crate::settings::Settings;
use crate::shutdown::Shutdown;

use dispatch::{Past, Pending, Source, Stamp};
use lanes::{Lane, held, lanes};
use preflight::prepare;
use stop::log_stop;

/// Why a run could not start or had to stop; each maps to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The input file as a whole is unusable (exit 2, nothing sent).
    #[error("{0}")]
    Input(#[from] InputError),
    /// The results file cannot be used: locked, foreign, damaged, unwritable at start (exit 2).
    #[error("{}", unusable(.0))]
    Checkpoint(JournalError),
    /// The results file belongs to another input (exit 2, nothing sent).
    #[error("{0}")]
    Mismatch(String),
    /// The results file was sent to another target (exit 2, nothing sent).
    #[error("{0}")]
    Target(String),
    /// The message settings differ from those the results file was sent with (exit 2,
    /// nothing sent).
    #[error("{0}")]
    MessageChanged(String),
    /// `--strict` or `--max-invalid` refused the file (exit 2, nothing sent).
    #[error("{0}")]
    TooManyInvalid(String),
    /// The person at the terminal did not confirm the send (exit 2, nothing sent).
    #[error("not confirmed: nothing was sent. Run again and answer y, or pass --yes")]
    Declined,
    /// The ledger cannot be opened or read (exit 2 before the first send, else the run
    /// stops before the next send).
    #[error("{0}")]
    Ledger(#[from] crate::ledger::LedgerError),
    /// Writing the results failed mid-run; the run stopped before the next send (exit 3).
    #[error("{0}; stopped before the next send. {advice}", advice = .0.advice())]
    Disk(JournalError),
}

/// A results file refused at the start. The other refusals say what to do themselves; a
/// failed read or write (a full disk, a folder without write access) gets the advice a run
/// stopped by the same failure gives.
fn unusable(error: &JournalError) -> String {
    match error {
        JournalError::Io { .. } => format!("{error}. Nothing was sent. {}", error.advice()),
        _ => error.to_string(),
    }
}

impl RunError {
    /// Exit 2 for anything found before the first send, 3 for a run cut short, 4 when
    /// another run holds the campaign.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Disk(_) => 3,
            RunError::Checkpoint(e) => crate::exit_code_of(e),
            _ => 2,
        }
    }
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
    /// A person is at a terminal ([`crate::confirm::interactive`]): a real send asks first.
    pub interactive: bool,
}

/// Runs (or with `--dry-run`, previews) a campaign and returns its summary. `providers`
/// are the clients of [`Settings::senders`], in order (see [`crate::connect::Reached::providers`]).
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
    open_input()?;
    if settings.dry_run {
        let mut checkpoint =
            blocking(|| Checkpoint::load(&settings.results)).map_err(RunError::Checkpoint)?;
        check_target(&checkpoint, settings)?;
        let preview = providers[0].as_ref();
        let preflight = blocking(|| {
            prepare(
                &open_input,
                &mut checkpoint,
                settings,
                context,
                Some(preview),
            )
        })?;
        return Ok(Summary::from_checkpoint(
            &checkpoint,
            preflight.0.rows,
            &settings.results,
            true,
        ));
    }
    // The cold paths (open, the preflight's full read, compaction) keep off the workers.
    // A ledger that cannot be opened stops the run before the preflight and the question.
    let ledger = blocking(|| RunLedger::open(settings, context.clock.wall()))?;
    // Nothing may be dangling if no file was there before and the run stops before it
    // records anything (a refused target, too many invalid rows, a "no" at the question).
    let existed = std::fs::symlink_metadata(&settings.results).is_ok();
    let stamp = Stamp::of(&settings.csv);
    let mut journal =
        blocking(|| Journal::open_as_is(&settings.results, settings.results_delimiter))
            .map_err(RunError::Checkpoint)?;
    let (preflight, pending) = match check_target(journal.checkpoint(), settings)
        .and_then(|()| blocking(|| prepare(&open_input, &mut journal, settings, context, None)))
        .and_then(|preflight| {
            let ledger = ledger.is_some();
            confirmed(preflight.0.to_send, settings, context.interactive, ledger)
                .map(|()| preflight)
        }) {
        Ok(preflight) => preflight,
        Err(refused) => {
            if !existed && journal.checkpoint().is_empty() {
                drop(journal);
                // The lock sidecar stays: deleting a lock another run may be opening could
                // let two runs in.
                let _ = std::fs::remove_file(&settings.results);
            }
            return Err(refused);
        }
    };
    // A file a spreadsheet re-saved is rewritten only now that nothing refuses the run.
    blocking(|| journal.settle()).map_err(RunError::Checkpoint)?;
    if settings.retarget
        && (journal.checkpoint().targets().iter()).any(|t| *t != settings.target_id)
    {
        // Durably before the first send: the next run, without the flag, is not refused
        // again because no line carries the new target.
        let target = &settings.target_id;
        blocking(|| journal.retarget(target)).map_err(RunError::Checkpoint)?;
    }
    let rows = match pending {
        Pending::Kept(rows) => {
            let past = Past {
                open: &open_input,
                stamp,
                read: preflight.rows,
            };
            Source::Kept(rows.into_iter(), Some(past))
        }
        Pending::Reread => {
            let mut rows = open_input()?;
            rows.already_sent(journal.checkpoint().attempted());
            Source::Input(rows)
        }
    };
    if let Some(ledger) = ledger
        .as_ref()
        .filter(|_| settings.ignore_earlier_retry_after)
    {
        blocking(|| ledger.forget_holds())?;
    }
    let mut lanes = lanes(settings, providers, context);
    if let Some(ledger) = &ledger {
        for lane in &mut lanes {
            lane.pacer.after_last_send(ledger.last_send(lane.label)?);
        }
    }
    // What answers asked each number to wait for: in this file, and, through the ledger,
    // in any run of the number.
    let mut holds = journal.checkpoint().holds().to_vec();
    if let Some(ledger) = &ledger {
        for lane in &lanes {
            if let Some(until) = ledger.held_until(lane.label)? {
                holds.push((lane.label.to_string(), until));
            }
        }
    }
    let held = held(&lanes, &holds, settings, context.clock.wall());
    let sink = ledger.as_ref().map(|l| l.sink.clone());
    let plan = Plan {
        work: Work::Sends,
        total: preflight.rows,
        done: preflight.done,
        starts: preflight.to_send,
        pace: Pace::of_campaign(settings),
        window: settings.window.clone(),
        next: lanes.iter().map(|lane| lane.pacer.next_start()).collect(),
    };
    let runner = Runner {
        settings,
        context,
        lanes,
        journal: journal::Shared::with_ledger(journal, sink).map_err(RunError::Checkpoint)?,
        ledger,
        message: settings.message.to_string(),
        accepted_ids: Default::default(),
        progress: Arc::new(Progress::new(
            plan,
            context.clock.clone(),
            context.show_progress,
        )),
    };
    // One step of the clock per poll: a finished send is replaced before time moves on.
    let stops = context.clock.scope(runner.send_all(rows, held)).await?;
    let mut journal = blocking(|| runner.journal.finish()).map_err(RunError::Disk)?;
    // A stopped run compacts too: its rows' lines are all written (a disk error never gets
    // here), and a file left with several lines a row is what a spreadsheet's sort reorders.
    blocking(|| journal.compact()).map_err(RunError::Disk)?;
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

/// After the preflight, before the first send: the person at the terminal, if one must be
/// asked ([`crate::confirm::needed`]; `interactive`: a person is at a terminal), agrees to
/// send `messages` messages (at most, with a `ledger` that may skip some). Also asked by
/// `test`, which sends for real too.
pub(crate) fn confirmed(
    messages: u64,
    settings: &Settings,
    interactive: bool,
    ledger: bool,
) -> Result<(), RunError> {
    if messages == 0 || !crate::confirm::needed(settings, interactive) {
        return Ok(());
    }
    let question = crate::confirm::question(messages, settings, ledger);
    if blocking(|| crate::confirm::ask(&question)) {
        Ok(())
    } else {
        Err(RunError::Declined)
    }
}

/// Before anything is sent or previewed: the results file was recorded against this run's
/// target (see [`Settings::foreign_target`]).
fn check_target(checkpoint: &Checkpoint, settings: &Settings) -> Result<(), RunError> {
    match settings.foreign_target(&checkpoint.targets()) {
        Some(why) => Err(RunError::Target(why)),
        None => Ok(()),
    }
}

pub(super) struct Runner<'a> {
    settings: &'a Settings,
    context: &'a Context,
    lanes: Vec<Lane<'a>>,
    journal: journal::Shared,
    /// The ledger shared across runs, unless it is off.
    ledger: Option<RunLedger>,
    /// Shared with the journal, which reports an accepted row once it is on disk.
    progress: Arc<Progress>,
    /// The message fingerprint as recorded, formatted once rather than twice a send.
    message: String,
    /// Digests of the message ids accepted in this run: an id given to a second row (a
    /// proxy replaying one answer) tracks neither ([`Runner::first_use`]).
    accepted_ids: std::sync::Mutex<std::collections::HashSet<u64>>,
}
