//! One lane per sender number: its client, its own pace, its own failure breaker and its
//! own stop.

use std::sync::Mutex;

use crate::journal::Status;
use crate::pacing::Pacer;
use crate::pacing::hold::Held;
use crate::provider::Provider;
use crate::settings::Settings;
use crate::shutdown::Shutdown;

use super::Context;
use super::stop::Stop;
use jiff::Timestamp;

/// One lane per sender: its client and a pace of its own.
pub(super) fn lanes<'a>(
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
            breaker: Breaker::new(settings.max_consecutive_failures),
        })
        .collect()
}

/// Honors the waits earlier runs wrote down ([`crate::pacing::hold`]), unless
/// `--ignore-earlier-retry-after`: a lane waits what is left up to the ceiling, or starts
/// stopped beyond it (the lane's stop, or `None`). A wait recorded without a label (a run
/// without `--senders`) holds every lane, and a run with one lane honors every label's:
/// which number it is, is not known.
pub(super) fn held(
    lanes: &[Lane<'_>],
    holds: &[(String, Timestamp)],
    settings: &Settings,
    now: Timestamp,
) -> Vec<Option<Stop>> {
    let honored = |lane: &Lane<'_>| {
        crate::pacing::hold::asked_of(holds, lane.label, lanes.len())
            .filter(|_| !settings.ignore_earlier_retry_after)
    };
    (lanes.iter())
        .map(|lane| match Held::at(honored(lane), now) {
            Held::No => None,
            Held::For(left) => {
                lane.pacer.hold(left);
                None
            }
            Held::Beyond(until) => Some(Stop::Held(until)),
        })
        .collect()
}

/// One sending number: its client, its own quota and spacing (a `Retry-After` holds only
/// this number), and its own stop, so a refusal of one number leaves the others sending.
pub(super) struct Lane<'a> {
    pub(super) label: &'a str,
    pub(super) provider: &'a dyn Provider,
    pub(super) pacer: Pacer,
    /// Requested when this lane stops; waits of its in-flight sends end with it.
    pub(super) halt: Shutdown,
    /// Counts this number's consecutive `FAILED` (or `UNCERTAIN`) rows with one error code.
    pub(super) breaker: Breaker,
}

/// The failure breaker (`--max-consecutive-failures`): a campaign whose every row the API
/// refuses the same way (a wrong setting, an account problem the API reports per row) stops
/// after a few rows instead of failing through the whole list; so does one whose every send
/// an outage leaves `UNCERTAIN` (all 500s, all timeouts), instead of leaving the whole list
/// for a person to check by hand.
pub(super) struct Breaker {
    /// Consecutive outcomes that stop the lane ([`Breaker::tripped`]); 0: never.
    limit: u32,
    /// The outcome and error code of the current run, and its length.
    streak: Mutex<(Status, String, u32)>,
}

impl Breaker {
    fn new(limit: u32) -> Breaker {
        Breaker {
            limit,
            streak: Mutex::new((Status::Failed, String::new(), 0)),
        }
    }

    /// A row sent and recorded `status` with `code`: `true` when that makes `limit` rows in
    /// a row `FAILED` with that code, or `UNCERTAIN` with any: an outage answers 500, 502
    /// and 504 by turns, and each such row is one more for a person to check. Any other
    /// outcome ends the run.
    pub(super) fn tripped(&self, status: Status, code: &str) -> bool {
        let code = match status {
            Status::Failed => code,
            Status::Uncertain => "",
            _ => {
                self.passed();
                return false;
            }
        };
        let mut streak = self.streak.lock().expect("breaker mutex");
        if (streak.0, streak.1.as_str()) == (status, code) {
            streak.2 += 1;
        } else {
            *streak = (status, code.to_string(), 1);
        }
        self.limit > 0 && streak.2 >= self.limit
    }

    /// An accepted row: the run is broken.
    pub(super) fn passed(&self) {
        self.streak.lock().expect("breaker mutex").2 = 0;
    }
}

impl Lane<'_> {
    /// ` via LABEL` for log lines when there are several numbers; nothing otherwise.
    pub(super) fn via(&self) -> String {
        match self.label {
            "" => String::new(),
            label => format!(" via {label}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Breaker;
    use crate::journal::Status::{Deferred, Failed, Uncertain};

    #[test]
    fn the_breaker_trips_on_a_run_of_one_code_only() {
        let breaker = Breaker::new(3);
        assert!(!breaker.tripped(Failed, "A"));
        assert!(!breaker.tripped(Failed, "A"));
        assert!(
            !breaker.tripped(Failed, "B"),
            "another code starts a new run"
        );
        assert!(!breaker.tripped(Failed, "B"));
        breaker.passed();
        assert!(!breaker.tripped(Failed, "B"), "a success ends the run");
        assert!(!breaker.tripped(Failed, "B"));
        assert!(breaker.tripped(Failed, "B"));
        let off = Breaker::new(0);
        assert!((0..100).all(|_| !off.tripped(Failed, "A")));
        assert!((0..100).all(|_| !off.tripped(Uncertain, "A")));
    }

    #[test]
    fn an_uncertain_run_trips_it_too_but_never_mixed_with_failures() {
        let breaker = Breaker::new(3);
        assert!(!breaker.tripped(Uncertain, "A"));
        assert!(!breaker.tripped(Uncertain, "A"));
        assert!(
            !breaker.tripped(Failed, "A"),
            "another outcome starts a new run"
        );
        assert!(!breaker.tripped(Uncertain, "A"));
        assert!(!breaker.tripped(Uncertain, "A"));
        assert!(
            !breaker.tripped(Deferred, "A"),
            "any other outcome ends the run"
        );
        assert!(!breaker.tripped(Uncertain, "A"));
        assert!(!breaker.tripped(Uncertain, "A"));
        assert!(breaker.tripped(Uncertain, "A"));
    }

    #[test]
    fn an_uncertain_run_trips_it_whatever_codes_the_outage_answers() {
        let breaker = Breaker::new(3);
        assert!(!breaker.tripped(Uncertain, "HTTP_500"));
        assert!(!breaker.tripped(Uncertain, "HTTP_502"));
        assert!(breaker.tripped(Uncertain, "TIMEOUT"));
    }
}
