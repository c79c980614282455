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
//! | `QUEUED`, `FAILED`, `SKIPPED` | nothing            | nothing                   |
//!
//! A row that no longer validates, or is now opted out, is recorded as such unless its
//! destination already reached the API for good (`QUEUED`, `FAILED`, `UNCERTAIN`): that
//! record is never overwritten.

use std::collections::HashMap;

use crate::input::{Row, Verdict};
use crate::journal::{Checkpoint, Prior, Status};
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
        "row {} of {} still reads '{}', which {} recorded as {recorded} (its message may have \
         gone out), but it now reads as {}. Nothing was sent. Use the settings of the earlier \
         run (--default-country, the phone column) so the row reads as it did",
        row.index,
        settings.csv.display(),
        row.raw_destination,
        settings.results.display(),
        row.destination,
    )))
}

/// For a row the checkpoint has settled for good (nothing this run does can send it or
/// change its record: `QUEUED`, `FAILED`, `UNCERTAIN` without `--resend-uncertain`), the
/// short fingerprint its destination cell had, so the input can skip judging it again.
pub(super) fn settled_cell(prior: Option<Prior>, settings: &Settings) -> Option<u32> {
    let prior = prior?;
    settled(prior.status, settings.resend_uncertain).then(|| prior.raw_fingerprint())
}

fn settled(status: Status, resend_uncertain: bool) -> bool {
    match status {
        Status::Queued | Status::Failed => true,
        Status::Uncertain => !resend_uncertain,
        Status::Sending | Status::Deferred | Status::Invalid | Status::Skipped => false,
    }
}

/// Whether a valid row still has to be sent, given its last recorded state.
pub(super) fn needs_send(prior: Option<Prior>, settings: &Settings) -> bool {
    sends(prior.map(|p| p.status), settings.resend_uncertain)
}

fn sends(status: Option<Status>, resend_uncertain: bool) -> bool {
    match status {
        None | Some(Status::Deferred | Status::Invalid) => true,
        Some(Status::Uncertain | Status::Sending) => resend_uncertain,
        Some(Status::Queued | Status::Failed | Status::Skipped) => false,
    }
}

/// Whether a row that is not sent (invalid or opted out now) must leave its record alone:
/// a destination that reached the API for good keeps that record.
pub(super) fn keeps_record(prior: Option<Prior>, settings: &Settings) -> bool {
    prior.is_some_and(|p| settled(p.status, settings.resend_uncertain))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The row-state diagram of the module doc, row by row.
    #[test]
    fn the_row_state_diagram() {
        use Status::*;
        // (recorded, sends, sends with --resend-uncertain, settled, settled with it)
        let table = [
            (None, true, true, false, false),
            (Some(Deferred), true, true, false, false),
            (Some(Invalid), true, true, false, false),
            (Some(Sending), false, true, false, false),
            (Some(Uncertain), false, true, true, false),
            (Some(Queued), false, false, true, true),
            (Some(Failed), false, false, true, true),
            (Some(Skipped), false, false, false, false),
        ];
        for (status, send, send_anyway, done, done_anyway) in table {
            assert_eq!(sends(status, false), send, "{status:?}");
            assert_eq!(sends(status, true), send_anyway, "{status:?}");
            if let Some(status) = status {
                assert_eq!(settled(status, false), done, "{status:?}");
                assert_eq!(settled(status, true), done_anyway, "{status:?}");
            }
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
