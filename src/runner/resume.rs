//! What a rerun does with a row it has seen before: pure decisions from its recorded state.
//!
//! A results file remembers destinations, not positions: a re-exported list (rows in
//! another order, rows added or removed) resumes. The preflight tells [`Claims`] which
//! destination each row holds; a destination this campaign already settled follows it to
//! its new row (the journal is renumbered, atomically, before any send), new destinations
//! are sent, and a recipient no longer in the list keeps its line with no row.
//!
//! The row-state diagram, for a valid row (`Send`), by its last recorded status:
//!
//! | recorded            | this run                     | with `--resend-uncertain` |
//! |---------------------|------------------------------|---------------------------|
//! | none, `DEFERRED`, `INVALID` | send                 | send                      |
//! | `SENDING`           | record `UNCERTAIN`, no send  | send                      |
//! | `UNCERTAIN`         | nothing                      | send                      |
//! | `FAILED`            | nothing                      | nothing                   |
//! | `QUEUED`, `SKIPPED` | nothing                      | nothing                   |
//!
//! `--retry-failed` sends a `FAILED` row again (all of them, or those with the error codes
//! it names): the API refused it, so it was definitely not accepted and cannot be a
//! duplicate. `--allow-resend` sends a row `SKIPPED` as `ALREADY_SENT` (another results
//! file reached that person with this campaign), as its refusal advised. Neither changes
//! anything else in the table.
//!
//! A row that no longer validates, or is now opted out, is recorded as such unless its
//! destination already reached the API for good (`QUEUED`, `FAILED`, `UNCERTAIN`): that
//! record is never overwritten.

use std::collections::HashMap;

use crate::identity::MessageFingerprint;
use crate::input::{Row, Verdict};
use crate::journal::{Checkpoint, Prior, Status};
use crate::ledger::Refusal;
use crate::settings::Settings;

use super::RunError;

type Map<V> = HashMap<u64, V, foldhash::fast::FixedState>;

/// Which row holds each destination the checkpoint has a state for, as the preflight reads
/// the input.
pub(super) struct Claims {
    by_destination: Map<Claim>,
}

#[derive(Debug, Clone, Copy)]
struct Claim {
    /// The row the state is recorded under (`None`: no row).
    recorded: Option<u32>,
    /// The row that holds the destination now: the recorded row if it still does, else
    /// the first row that does.
    now: Option<u32>,
}

impl Claims {
    pub(super) fn new(checkpoint: &Checkpoint) -> Claims {
        let by_destination = checkpoint
            .destinations()
            .into_iter()
            .map(|(destination, recorded)| {
                let claim = Claim {
                    recorded: recorded.row,
                    now: None,
                };
                (destination, claim)
            })
            .collect();
        Claims { by_destination }
    }

    /// Row `row` of the input holds `destination` (its [`fingerprint`](crate::fingerprint)).
    pub(super) fn see(&mut self, row: u64, destination: u64) {
        let (Ok(row), Some(claim)) = (
            u32::try_from(row),
            self.by_destination.get_mut(&destination),
        ) else {
            return;
        };
        if claim.recorded == Some(row) || claim.now.is_none() {
            claim.now = Some(row);
        }
    }

    /// Each claimed destination's row now.
    pub(super) fn moves(&self) -> HashMap<u64, u32> {
        self.by_destination
            .iter()
            .filter_map(|(d, c)| Some((*d, c.now?)))
            .collect()
    }
}

/// The row's destination fingerprint as the preflight knows it: for a row skipped as
/// unchanged, the one recorded for it.
pub(super) fn destination_of(row: &Row, prior: Option<Prior>) -> u64 {
    match (&row.verdict, prior) {
        (Verdict::Unchanged, Some(prior)) => prior.destination_fingerprint(),
        _ => crate::fingerprint::of(&row.destination),
    }
}

/// The one change a re-export may not make: the very cell recorded for a row whose
/// request went (or may have gone) to the API now reads as another destination (another
/// `--default-country`, say). Sending it would risk a second message to the same person.
pub(super) fn check_same_cell(
    row: &Row,
    prior: Option<Prior>,
    checkpoint: &Checkpoint,
    settings: &Settings,
) -> Result<(), RunError> {
    let Some(prior) = prior.filter(|p| p.status.reached_api()) else {
        return Ok(());
    };
    let normalized = matches!(row.verdict, Verdict::Send(_) | Verdict::Skip(_));
    let same_cell = crate::fingerprint::short(&row.raw_destination) == prior.raw_fingerprint();
    if !normalized || !same_cell || prior.same_destination(&row.destination) {
        return Ok(());
    }
    let recorded = checkpoint
        .recorded_destination(row.index)
        .unwrap_or_else(|| "another destination".into());
    Err(RunError::Mismatch(format!(
        "{} of {} still reads '{}', which {} recorded as {recorded} (its message may have \
         gone out), but it now reads as {}. Nothing was sent. Use the settings of the earlier \
         run (--default-country, the phone column) so the row reads as it did",
        row.at(),
        crate::fmt::path(&settings.csv),
        row.raw_destination,
        crate::fmt::path(&settings.results),
        row.destination,
    )))
}

/// For a row the checkpoint has settled for good (nothing this run does can send it or
/// change its record: `QUEUED`, `FAILED`, `UNCERTAIN` without `--resend-uncertain`), the
/// short fingerprint its destination cell had, so the input can skip judging it again.
pub(super) fn settled_cell(prior: Option<Prior>, settings: &Settings) -> Option<u32> {
    let prior = prior?;
    settled(prior.status, Again::of(&prior, settings)).then(|| prior.raw_fingerprint())
}

/// Which of its recorded states this run sends again.
#[derive(Debug, Clone, Copy, Default)]
struct Again {
    /// `--resend-uncertain`.
    uncertain: bool,
    /// `--retry-failed` covers the row.
    failed: bool,
    /// `--allow-resend`, and the row was skipped as `ALREADY_SENT`.
    skipped: bool,
}

impl Again {
    fn of(prior: &Prior, settings: &Settings) -> Again {
        Again {
            uncertain: settings.resend_uncertain,
            failed: settings.retry_failed.covers(prior),
            skipped: settings.allow_resend && prior.has_code(Refusal::ALREADY_SENT),
        }
    }
}

fn settled(status: Status, again: Again) -> bool {
    match status {
        Status::Queued => true,
        Status::Failed => !again.failed,
        Status::Uncertain => !again.uncertain,
        Status::Sending | Status::Deferred | Status::Invalid | Status::Skipped => false,
    }
}

/// Whether a valid row still has to be sent, given its last recorded state.
pub(super) fn needs_send(prior: Option<Prior>, settings: &Settings) -> bool {
    match prior {
        None => true,
        Some(prior) => sends(prior.status, Again::of(&prior, settings)),
    }
}

/// Whether a valid row is sent again by `--retry-failed`.
pub(super) fn retried(prior: Option<Prior>, settings: &Settings) -> bool {
    prior.is_some_and(|p| settings.retry_failed.covers(&p))
}

fn sends(status: Status, again: Again) -> bool {
    match status {
        Status::Deferred | Status::Invalid => true,
        Status::Uncertain | Status::Sending => again.uncertain,
        Status::Failed => again.failed,
        Status::Skipped => again.skipped,
        Status::Queued => false,
    }
}

/// Whether a row that is not sent (invalid or opted out now) must leave its record alone:
/// a destination that reached the API for good keeps that record.
pub(super) fn keeps_record(prior: Option<Prior>, settings: &Settings) -> bool {
    prior.is_some_and(|p| settled(p.status, Again::of(&p, settings)))
}

/// The rows that went to the API with other message settings than this run's, by their
/// fingerprint, when there are any: `None` when every sent row says it was sent with this
/// run's settings (`now`, or as the previous release wrote them) or does not say.
fn other_messages(checkpoint: &Checkpoint, now: [MessageFingerprint; 2]) -> Option<String> {
    let others: Vec<String> = (checkpoint.sent_messages().into_iter())
        .filter(|(m, _)| !now.contains(m))
        .map(|(m, n)| format!("{n} rows sent with {m}"))
        .collect();
    (!others.is_empty()).then(|| others.join(", "))
}

/// The message settings changed since rows were sent: said in the preflight's `notes`, and
/// refused (before any send) unless `--message-changed` says it is intended or the only
/// rows left to send are `FAILED` ones `--retry-failed` sends again (`to_send` rows, of
/// which `retried`).
pub(super) fn check_message(
    checkpoint: &Checkpoint,
    settings: &Settings,
    (to_send, retried): (u64, u64),
    notes: &mut Vec<String>,
) -> Result<(), RunError> {
    let Some(others) = other_messages(checkpoint, [settings.message, settings.earlier_message])
    else {
        return Ok(());
    };
    let mut now: Vec<String> = crate::identity::message_settings(&settings.input.defaults)
        .map(|(name, _)| name.to_string())
        .collect();
    if now.is_empty() {
        now.push("no message settings".into());
    }
    let said = format!(
        "the message settings changed: {} records {others}, and this run's settings ({}) are {}",
        crate::fmt::path(&settings.results),
        now.join(", "),
        settings.message
    );
    if settings.message_changed || to_send == retried {
        notes.push(said);
        return Ok(());
    }
    Err(RunError::MessageChanged(format!(
        "{said}. Nothing was sent: a campaign half on one message and half on another is \
         usually a mistake. Put back the settings the earlier rows were sent with (the \
         template, text, media, buttons, header, footer or caption), or, if the change is \
         intended, rerun with --message-changed"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The row-state diagram of the module doc, row by row.
    #[test]
    fn the_row_state_diagram() {
        use Status::*;
        // (recorded, sends, with --resend-uncertain, with --retry-failed, settled, settled
        // with --resend-uncertain, settled with --retry-failed)
        let table = [
            (Deferred, true, true, true, false, false, false),
            (Invalid, true, true, true, false, false, false),
            (Sending, false, true, false, false, false, false),
            (Uncertain, false, true, false, true, false, true),
            (Queued, false, false, false, true, true, true),
            (Failed, false, false, true, true, true, false),
            (Skipped, false, false, false, false, false, false),
        ];
        let uncertain = Again {
            uncertain: true,
            ..Again::default()
        };
        let failed = Again {
            failed: true,
            ..Again::default()
        };
        let skipped = Again {
            skipped: true,
            ..Again::default()
        };
        // Only a SKIPPED row is sent by --allow-resend (of an ALREADY_SENT one).
        for status in [
            Deferred, Invalid, Sending, Uncertain, Queued, Failed, Skipped,
        ] {
            let alone = sends(status, Again::default());
            assert_eq!(
                sends(status, skipped),
                alone || status == Skipped,
                "{status:?}"
            );
            assert_eq!(settled(status, skipped), settled(status, Again::default()));
        }
        for (status, send, resend, retry, done, done_resend, done_retry) in table {
            assert_eq!(sends(status, Again::default()), send, "{status:?}");
            assert_eq!(sends(status, uncertain), resend, "{status:?}");
            assert_eq!(sends(status, failed), retry, "{status:?}");
            assert_eq!(settled(status, Again::default()), done, "{status:?}");
            assert_eq!(settled(status, uncertain), done_resend, "{status:?}");
            assert_eq!(settled(status, failed), done_retry, "{status:?}");
        }
    }

    fn claims(recorded: &[(u64, Option<u32>)]) -> Claims {
        let by_destination = recorded
            .iter()
            .map(|&(d, row)| {
                (
                    d,
                    Claim {
                        recorded: row,
                        now: None,
                    },
                )
            })
            .collect();
        Claims { by_destination }
    }

    #[test]
    fn a_destination_follows_its_row_stays_where_it_was_or_goes_to_no_row() {
        let mut claims = claims(&[(0xA, Some(1)), (0xB, Some(2)), (0xC, Some(3)), (0xD, None)]);
        // Re-exported: B first, a new E, A; C is gone; D (no row) is back at row 4; A is
        // also at row 5, after its first place in the new order.
        for (row, destination) in [(1, 0xB), (2, 0xE), (3, 0xA), (4, 0xD), (5, 0xA)] {
            claims.see(row, destination);
        }
        let moves = claims.moves();
        assert_eq!(moves.get(&0xA), Some(&3));
        assert_eq!(moves.get(&0xB), Some(&1));
        assert_eq!(moves.get(&0xC), None, "no longer in the list: no row");
        assert_eq!(moves.get(&0xD), Some(&4));
        assert_eq!(moves.get(&0xE), None, "new: nothing recorded");
        // A row that still holds its recorded destination keeps it, even after an earlier
        // row that also holds it.
        let mut claims = claims_of_one();
        claims.see(1, 0xA);
        claims.see(7, 0xA);
        assert_eq!(claims.moves().get(&0xA), Some(&7));
    }

    fn claims_of_one() -> Claims {
        claims(&[(0xA, Some(7))])
    }
}
