//! How long the rest of a campaign takes, from its pacing: the mean spacing, the quota, the
//! numbers sending side by side and the daily send window. One function serves the preflight's
//! estimate and the bar's ETA, so the two never disagree; neither looks at the last few ticks,
//! which at an 8–25 s spacing swing from seconds to minutes.

use std::time::Duration;

use jiff::Timestamp;

use crate::fmt::human;
use crate::settings::Settings;
use crate::window::SendWindow;

/// The pace of one kind of work: how far apart the starts of one lane are on average, and
/// how many lanes start side by side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// The mean time between two starts of one lane: the mean spacing or the quota's
    /// interval, whichever is longer (both hold at once).
    pub gap: Duration,
    /// Lanes starting side by side, each at the full pace (one per sender number).
    /// Concurrency within a lane does not count: the pacer still starts its sends one gap
    /// apart, and in-flight requests only hide the API's latency.
    pub lanes: u32,
}

impl Pace {
    /// A send's pace: spacing and quota hold for each sender number.
    pub fn of_campaign(settings: &Settings) -> Pace {
        let quota = settings.rate.map(|r| r.interval()).unwrap_or_default();
        Pace {
            gap: settings.spacing.mean().max(quota),
            lanes: u32::try_from(settings.senders.len()).unwrap_or(u32::MAX),
        }
    }

    /// How long `starts` more starts take at this pace, the first one at once: each lane
    /// takes its share, one gap apart.
    fn busy(&self, starts: u64) -> Duration {
        let per_lane = starts.div_ceil(u64::from(self.lanes.max(1)));
        let gaps = u32::try_from(per_lane.saturating_sub(1)).unwrap_or(u32::MAX);
        self.gap.saturating_mul(gaps)
    }
}

/// When the last of `starts` more starts goes out, if the first may go at `from` (now, or
/// when the pacer's next turn comes): the starts at `pace`, spent only while `window` is open
/// for sends.
pub fn finish(pace: Pace, starts: u64, window: Option<&SendWindow>, from: Timestamp) -> Timestamp {
    let busy = pace.busy(starts);
    match window {
        Some(window) if starts > 0 => window.after_open(from, busy),
        _ => from.checked_add(busy).unwrap_or(Timestamp::MAX),
    }
}

/// A stretch of time for people: `3m 05s`, `41h 10m`, and whole days from two days on
/// (`about 8 days`), where hours stop meaning much.
pub fn span(duration: Duration) -> String {
    const DAY: u64 = 24 * 3600;
    match duration.as_secs() {
        secs if secs >= 2 * DAY => format!("about {} days", (secs + DAY / 2) / DAY),
        _ => human(duration),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// A window in UTC; `deliver_until`: whether its close is the sends' deadline.
    fn hours(spec: &str, deliver_until: bool) -> SendWindow {
        SendWindow {
            window: crate::window::Window::parse(spec, "UTC").unwrap(),
            wait: false,
            deliver_until,
        }
    }

    #[test]
    fn the_eta_follows_the_pacing_and_the_window() {
        let spacing = Pace {
            gap: secs(16),
            lanes: 1,
        };
        let day = hours("09:00-20:00", false);
        let night = hours("22:00-06:00", false);
        let deadline = hours("09:00-20:00", true);
        let start = "2026-06-01T10:00:00Z";
        // (what, pace, starts, window, from, last start)
        type Case<'w> = (
            &'static str,
            Pace,
            u64,
            Option<&'w SendWindow>,
            &'static str,
            &'static str,
        );
        let table: [Case; 11] = [
            ("nothing left", spacing, 0, Some(&day), start, start),
            ("one start goes at once", spacing, 1, None, start, start),
            (
                "spacing only",
                spacing,
                226,
                None,
                start,
                "2026-06-01T11:00:00Z",
            ),
            (
                "quota-bound: 30/min is a 2 s gap",
                Pace {
                    gap: secs(2),
                    lanes: 1,
                },
                1801,
                None,
                start,
                "2026-06-01T11:00:00Z",
            ),
            (
                "several lanes share the starts",
                Pace {
                    gap: secs(16),
                    lanes: 3,
                },
                676,
                None,
                start,
                "2026-06-01T11:00:00Z",
            ),
            (
                "the window closes overnight",
                spacing,
                677,
                Some(&day),
                "2026-06-01T17:00:00Z",
                "2026-06-02T09:00:16Z",
            ),
            (
                "a closed window first waits for the morning",
                spacing,
                226,
                Some(&day),
                "2026-06-01T05:00:00Z",
                "2026-06-01T10:00:00Z",
            ),
            (
                "a night window wraps midnight",
                spacing,
                1801,
                Some(&night),
                "2026-06-01T23:00:00Z",
                "2026-06-02T23:00:00Z",
            ),
            (
                "lanes and a window together",
                Pace {
                    gap: secs(16),
                    lanes: 2,
                },
                1352,
                Some(&day),
                "2026-06-01T19:00:00Z",
                "2026-06-02T11:00:00Z",
            ),
            (
                "the close as the sends' deadline: its last minute sends nothing",
                spacing,
                677,
                Some(&deadline),
                "2026-06-01T17:00:00Z",
                "2026-06-02T09:01:16Z",
            ),
            (
                "in that last minute the window is already closed",
                spacing,
                2,
                Some(&deadline),
                "2026-06-01T19:59:10Z",
                "2026-06-02T09:00:16Z",
            ),
        ];
        for (what, pace, starts, window, from, expected) in table {
            assert_eq!(
                finish(pace, starts, window, at(from)),
                at(expected),
                "{what}"
            );
        }
    }

    #[test]
    fn twenty_thousand_rows_in_an_eleven_hour_window_take_about_eight_days() {
        let pace = Pace {
            gap: secs(33) / 2,
            lanes: 1,
        };
        let window = hours("09:00-20:00", false);
        let from = at("2026-06-01T09:00:00Z");
        let last = finish(pace, 20_000, Some(&window), from);
        let took = Duration::try_from(from.duration_until(last)).unwrap();
        assert_eq!(span(took), "about 8 days");
        assert_eq!(human(pace.busy(20_000)), "91h 39m", "without the window");
    }

    #[test]
    fn no_pace_or_count_overflows() {
        let pace = Pace {
            gap: Duration::MAX,
            lanes: 0,
        };
        let from = at("2026-06-01T09:00:00Z");
        assert_eq!(finish(pace, u64::MAX, None, from), Timestamp::MAX);
        let window = hours("09:00-20:00", false);
        assert_eq!(finish(pace, u64::MAX, Some(&window), from), Timestamp::MAX);
    }

    #[test]
    fn spans_turn_to_days_after_two_days() {
        assert_eq!(span(secs(185)), "3m 05s");
        assert_eq!(span(secs(47 * 3600)), "47h 00m");
        assert_eq!(span(secs(8 * 86400 + 3 * 3600)), "about 8 days");
    }
}
