//! The first pass: every row judged once, the checkpoint proved to belong to the input, the
//! work counted and reported; with `--dry-run`, the bodies that would be sent.

use std::io::Write;

use crate::input::{CsvInput, Verdict};
use crate::journal::Checkpoint;
use crate::message::Message;
use crate::progress::Preflight;
use crate::provider::Provider;
use crate::settings::Settings;
use crate::window::{self, SendWindow};

use super::resume::{check_same_input, needs_send, settled_cell};
use super::{Context, RunError};

/// Validates every row, checks the checkpoint belongs to this input, counts the work,
/// prints the report and applies `--strict` / `--max-invalid`. With `dry_run` (the
/// provider that would send), prints each body that would be sent and every invalid row.
pub(super) fn preflight(
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
        crate::progress::show_preflight(&found);
    }
    found.check_limits().map_err(RunError::TooManyInvalid)?;
    Ok(found)
}

/// Rows of `--dry-run` on their way to the body writer, and back to be freed.
pub(super) type Batch = Vec<(u64, Box<Message>)>;

/// `--dry-run`'s request bodies, built and written by a second thread in row order, so that
/// judging the next rows does not wait for JSON. Messages go back to be freed by the thread
/// that made them: glibc frees from another thread contend on the maker's arena.
pub(super) struct Bodies {
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
pub(super) struct BodyLine<'a> {
    row: u64,
    body: &'a serde_json::Value,
}
