//! What a rerun does with a row it has seen before: pure decisions from its recorded state.

use crate::input::{Row, Verdict};
use crate::journal::{Checkpoint, Prior, Status};
use crate::settings::Settings;

use super::RunError;

/// A row already handled must still be the same recipient, or a rerun would skip or resend
/// the wrong people. INVALID rows were never sent, so a fixed row is simply re-validated.
pub(super) fn check_same_input(
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
pub(super) fn settled_cell(prior: Option<Prior>, settings: &Settings) -> Option<u32> {
    let prior = prior?;
    let settled = match prior.status {
        Status::Queued | Status::Failed => true,
        Status::Uncertain => !settings.resend_uncertain,
        Status::Sending | Status::Deferred | Status::Invalid | Status::Skipped => false,
    };
    settled.then(|| prior.raw_fingerprint())
}

/// Whether a valid row still has to be sent, given its last recorded state.
pub(super) fn needs_send(prior: Option<Prior>, settings: &Settings) -> bool {
    match prior.map(|p| p.status) {
        None | Some(Status::Deferred | Status::Invalid) => true,
        Some(Status::Uncertain | Status::Sending) => settings.resend_uncertain,
        Some(Status::Queued | Status::Failed | Status::Skipped) => false,
    }
}
