//! The first pass: every row judged once, the checkpoint proved to belong to the input, the
//! work counted and reported; with `--dry-run`, the bodies that would be sent.

use std::collections::HashMap;
use std::io::Write;

use jiff::Timestamp;

use crate::input::{CsvInput, InputError, Row, RowAt, RowErrorCode, Verdict};
use crate::journal::{Checkpoint, Journal};
use crate::message::Message;
use crate::pacing::hold::Held;
use crate::progress::Preflight;
use crate::provider::Provider;
use crate::settings::{RetryFailed, Settings};
use crate::window::{self, SendWindow};

use super::dispatch::{Pending, acts_on};
use super::resume::{
    Claims, check_message, check_same_cell, destination_of, keeps_record, needs_send, retried,
    settled_cell,
};
use super::{Context, RunError};

/// What a preflight pass found: the work, or that the checkpoint must first be renumbered
/// to the input's rows (a re-exported list), moving each destination's state to its row.
pub(super) enum Plan {
    /// The work, and the rows the send pass acts on while few.
    Ready(Box<Preflight>, Pending),
    Renumber(HashMap<u64, u32>, u64),
    /// A row no longer holds its recorded destination: read again, finding which row holds
    /// each one (see [`judge`]).
    Claim,
}

/// Where a renumbering goes: the index only (`--dry-run`), or the journal, compacted
/// (atomically, verified) before any send, so the file never holds two numberings.
pub(super) trait Renumber {
    fn checkpoint(&self) -> &Checkpoint;
    fn renumber(&mut self, moves: &HashMap<u64, u32>, rows: u64) -> Result<(), RunError>;
}

impl Renumber for Checkpoint {
    fn checkpoint(&self) -> &Checkpoint {
        self
    }

    fn renumber(&mut self, moves: &HashMap<u64, u32>, rows: u64) -> Result<(), RunError> {
        Checkpoint::renumber(self, moves, rows);
        Ok(())
    }
}

impl Renumber for Journal {
    fn checkpoint(&self) -> &Checkpoint {
        Journal::checkpoint(self)
    }

    fn renumber(&mut self, moves: &HashMap<u64, u32>, rows: u64) -> Result<(), RunError> {
        tracing::info!("the list was re-exported: results move to its new row numbers");
        self.checkpoint_mut().renumber(moves, rows);
        self.compact().map_err(RunError::Checkpoint)
    }
}

/// The preflight of a run: renumbers the checkpoint to the input's rows first if the list
/// was re-exported, then counts the work, prints the report (and with `dry_run`, the
/// bodies) and applies `--strict` / `--max-invalid`. Returns the work and, when few, the
/// rows the send pass acts on.
pub(super) fn prepare(
    open_input: &dyn Fn() -> Result<CsvInput, InputError>,
    target: &mut impl Renumber,
    settings: &Settings,
    context: &Context,
    dry_run: Option<&dyn Provider>,
) -> Result<(Preflight, Pending), RunError> {
    // A resumed dry run finds out first, without printing bodies, whether rows moved.
    let first = if target.checkpoint().is_empty() {
        dry_run
    } else {
        None
    };
    let (found, pending) = match judge(open_input, target.checkpoint(), settings, context, first)? {
        Plan::Ready(found, pending) if first.is_some() || dry_run.is_none() => (*found, pending),
        plan => {
            // This pass takes the maps unless the first found every row in place.
            let claim = match &plan {
                Plan::Ready(found, _) => !target.checkpoint().in_place(found.rows),
                _ => true,
            };
            if let Plan::Renumber(moves, rows) = plan {
                target.renumber(&moves, rows)?;
            }
            let input = open_input()?;
            match preflight(
                input,
                target.checkpoint(),
                settings,
                context,
                dry_run,
                claim,
            )? {
                Plan::Ready(found, pending) => (*found, pending),
                Plan::Renumber(..) | Plan::Claim => {
                    return Err(RunError::Mismatch(format!(
                        "{} changed while it was being read. Nothing was sent; rerun the same command",
                        crate::fmt::path(&settings.csv)
                    )));
                }
            }
        }
    };
    if context.show_progress || dry_run.is_some() {
        crate::progress::show_preflight(&found);
    }
    found.check_limits().map_err(RunError::TooManyInvalid)?;
    Ok((found, pending))
}

/// [`preflight`], first without the maps that find which row holds each recorded
/// destination: a rerun of the list as it was exported (each recorded row still holding its
/// destination, [`Checkpoint::in_place`]) needs none, and a million rows' maps would take
/// hundreds of MiB. Only when a row moved is the input read again with them (`dry_run`
/// prints bodies only for an empty checkpoint, which has nothing to claim).
fn judge(
    open_input: &dyn Fn() -> Result<CsvInput, InputError>,
    checkpoint: &Checkpoint,
    settings: &Settings,
    context: &Context,
    dry_run: Option<&dyn Provider>,
) -> Result<Plan, RunError> {
    match preflight(open_input()?, checkpoint, settings, context, dry_run, false)? {
        Plan::Claim => preflight(open_input()?, checkpoint, settings, context, dry_run, true),
        plan => Ok(plan),
    }
}

/// Validates every row and counts the work against the checkpoint; with `dry_run` (the
/// provider that would send), prints each body that would be sent and every invalid row.
/// With `claim`, finds which row holds each recorded destination and asks for a
/// renumbering if any moved; without, asks for a pass with `claim` if any row might have.
fn preflight(
    input: CsvInput,
    checkpoint: &Checkpoint,
    settings: &Settings,
    context: &Context,
    dry_run: Option<&dyn Provider>,
    claim: bool,
) -> Result<Plan, RunError> {
    // The whole file is read at once: its records are split on a thread of their own,
    // their destinations read there too unless a previous run settled rows.
    let mut input = input.read_ahead(checkpoint.is_empty())?;
    let mut found = Preflight::new(settings, context.clock.wall());
    found.notes = input.warnings().to_vec();
    input.already_sent(checkpoint.attempted());
    let mut claims = (claim && !checkpoint.is_empty()).then(|| Claims::new(checkpoint));
    // Every row with a recorded state still holds the destination recorded for it.
    let mut aligned = true;
    let mut retrying = 0;
    // Rows to send whose deliverAt has passed: the API delivers them at once.
    let (now, mut late) = (context.clock.wall(), 0u64);
    // Which codes `--retry-failed=CODE,CODE` asked for matched a row to send.
    let mut matched = match &settings.retry_failed {
        RetryFailed::Codes(codes) => vec![false; codes.len()],
        _ => Vec::new(),
    };
    let mut pending = Pending::new(dry_run.is_none());
    std::thread::scope(|scope| {
        let window = settings.window.as_ref();
        let mut bodies = dry_run.map(|provider| Bodies::start(scope, provider, window, context));
        while let Some(row) = input.next_row(|i| settled_cell(checkpoint.prior(i), settings)) {
            let row = row?;
            found.rows = row.index;
            let prior = checkpoint.prior(row.index);
            check_same_cell(&row, prior, checkpoint, settings)?;
            let destination = destination_of(&row, prior);
            match &mut claims {
                Some(claims) => claims.see(row.index, destination),
                None => {
                    aligned &= prior.is_none_or(|p| p.destination_fingerprint() == destination);
                }
            }
            if acts_on(&row, || prior, settings) {
                pending.keep(&row);
            }
            let settled = !matches!(row.verdict, Verdict::Send(_)) && keeps_record(prior, settings);
            let Row {
                index,
                line,
                raw_destination,
                destination,
                verdict,
                ..
            } = row;
            input.recycle_strings([raw_destination, destination]);
            match verdict {
                Verdict::Send(message) => {
                    found.valid += 1;
                    if !needs_send(prior, settings) {
                        found.done += 1;
                        continue;
                    }
                    found.to_send += 1;
                    late += u64::from(message.deliver_at.is_some_and(|at| at < now));
                    retrying += u64::from(retried(prior, settings));
                    if let Some(i) = prior.and_then(|p| settings.retry_failed.code_of(&p)) {
                        matched[i] = true;
                    }
                    if let Some(bodies) = &mut bodies {
                        bodies.push(index, message, |used| input.recycle(used));
                    }
                }
                // Reached the API for good: whatever the row says now, it is done.
                Verdict::Unchanged | Verdict::Invalid(_) | Verdict::Skip(_) if settled => {
                    found.valid += 1;
                    found.done += 1;
                }
                Verdict::Invalid(error) => {
                    let at = RowAt { row: index, line };
                    found.count_invalid(at, error.code);
                    if dry_run.is_some() {
                        tracing::warn!("{at}: INVALID {}: {error}", error.code.as_str());
                    }
                }
                Verdict::Skip(e) if e.code == RowErrorCode::EmptyRow => {
                    found.empty.add(RowAt { row: index, line })
                }
                Verdict::Skip(_) => found.opted_out.add(RowAt { row: index, line }),
                Verdict::Unchanged => {
                    found.valid += 1;
                    found.done += 1;
                }
            }
        }
        Ok::<(), RunError>(())
    })?;
    // Its duplicate table goes before the check below sorts every recorded destination.
    drop(input);
    match claims {
        Some(claims) => {
            let moves = claims.moves();
            if checkpoint.needs_renumbering(&moves, found.rows) {
                return Ok(Plan::Renumber(moves, found.rows));
            }
        }
        None if !(checkpoint.is_empty() || aligned && checkpoint.in_place(found.rows)) => {
            return Ok(Plan::Claim);
        }
        None => {}
    }
    if late > 0 {
        found.notes.push(format!(
            "{late} rows to send have a deliverAt that has already passed: they are delivered \
             at once, not scheduled (so `cancel` cannot stop them). To schedule them, fix the \
             dates (or --deliver-at) before sending"
        ));
    }
    if let RetryFailed::Codes(codes) = &settings.retry_failed {
        let unmatched: Vec<&str> = (codes.iter().zip(&matched))
            .filter(|(_, m)| !**m)
            .map(|(code, _)| code.as_str())
            .collect();
        if !unmatched.is_empty() {
            found.notes.push(format!(
                "--retry-failed: no FAILED row of this CSV has these codes, so none is sent \
                 again for them: {} (codes are read in upper case; `campaign-sender report` \
                 lists the codes the FAILED rows have)",
                crate::fmt::listed(&unmatched, 10, |code| crate::fmt::shown(code).into_owned())
            ));
        }
    }
    if retrying > 0 {
        let rows = found.to_send;
        found.notes.push(format!(
            "--retry-failed: {retrying} FAILED rows will be sent again (of {rows} to send)"
        ));
    }
    check_message(
        checkpoint,
        settings,
        (found.to_send, retrying),
        &mut found.notes,
    )?;
    held_notes(checkpoint, settings, context.clock.wall(), &mut found.notes);
    Ok(Plan::Ready(Box::new(found), pending))
}

/// The waits earlier runs wrote down that are not over ([`crate::pacing::hold`]), for the
/// preflight (a `--dry-run` above all) to say why a number's first send will wait.
fn held_notes(
    checkpoint: &Checkpoint,
    settings: &Settings,
    now: Timestamp,
    notes: &mut Vec<String>,
) {
    if settings.ignore_earlier_retry_after {
        return;
    }
    // A few notes at most: a hostile file may name thousands of senders.
    const MOST: usize = 5;
    let (mut said, mut more) = (0, 0);
    for (label, until) in checkpoint.holds() {
        let then = match Held::at(Some(*until), now) {
            Held::No => continue,
            Held::For(_) => "the first send waits until then",
            Held::Beyond(_) => "beyond the hour a run waits, so nothing is sent for it before then",
        };
        if said == MOST {
            more += 1;
            continue;
        }
        said += 1;
        let who = match label.as_str() {
            "" => String::new(),
            label => format!(" (sender {})", crate::fmt::shown(label)),
        };
        notes.push(format!(
            "an earlier run's answer{who} asked to wait until {until}: {then}"
        ));
    }
    if more > 0 {
        notes.push(format!(
            "and {more} more senders an earlier answer asked to wait"
        ));
    }
}

/// Rows of `--dry-run` on their way to the body writer, and back to be freed.
pub(super) type Batch = Vec<(u64, Box<Message>)>;

/// `--dry-run`'s request bodies, built and written by a second thread in row order, so that
/// judging the next rows does not wait for JSON. Messages go back to the reading thread, which
/// fills them again for later rows ([`CsvInput::recycle`]): allocating and freeing each one
/// was a sixth of a row's cost (and glibc frees from another thread contend on the maker's
/// arena).
pub(super) struct Bodies {
    batch: Batch,
    to_writer: std::sync::mpsc::SyncSender<Batch>,
    written: std::sync::mpsc::Receiver<Batch>,
    /// An emptied batch, to fill again.
    spare: Option<Batch>,
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
            // writes token by token, each a call through the boxed writer otherwise. Each
            // line is `{"row":N,"body":{...}}`, the body written straight from the message.
            let mut lines = Vec::new();
            for batch in batches {
                lines.clear();
                // Read once a batch: a batch is written within a millisecond, and reading
                // the clock was a tenth of writing a body.
                let now = context.clock.wall();
                for (row, message) in &batch {
                    lines.extend_from_slice(b"{\"row\":");
                    crate::fmt::push_decimal(&mut lines, *row);
                    lines.extend_from_slice(b",\"body\":");
                    let message = window::with_deadline(window, message, now);
                    provider.write_body(&message, now, &mut lines);
                    lines.extend_from_slice(b"}\n");
                }
                let _ = back.send(batch);
                let _ = context.out.lock().expect("output mutex").write_all(&lines);
            }
        });
        Bodies {
            batch: Vec::with_capacity(Self::BATCH),
            to_writer,
            written,
            spare: None,
        }
    }

    /// Queues one row's message; `recycle` takes back those already written.
    fn push(&mut self, row: u64, message: Box<Message>, mut recycle: impl FnMut(Box<Message>)) {
        self.batch.push((row, message));
        if self.batch.len() == Self::BATCH {
            self.hand_over();
            for mut batch in self.written.try_iter() {
                batch.drain(..).for_each(|(_, message)| recycle(message));
                self.spare = Some(batch);
            }
        }
    }

    fn hand_over(&mut self) {
        let next = self
            .spare
            .take()
            .unwrap_or_else(|| Vec::with_capacity(Self::BATCH));
        let batch = std::mem::replace(&mut self.batch, next);
        // The writer only stops once this sender is gone.
        let _ = self.to_writer.send(batch);
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
