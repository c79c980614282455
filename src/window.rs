//! The daily send window (`--window 09:00-20:00 --tz America/Sao_Paulo`): nobody should get
//! a campaign message at 23:00 their time, so no send starts outside the window. At its end
//! a run stops cleanly (exit 3, a rerun resumes), or with `--wait-for-window` it sleeps until
//! the window opens again.
//!
//! The hours are the recipients' wall clock in the named zone, so a window keeps its local
//! hours across daylight-saving changes (the night of a change it is an hour longer or
//! shorter in absolute time). `22:00-06:00` wraps midnight.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use jiff::civil::{Date, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Timestamp, ZonedDateTime};

use crate::clock::Clock;
use crate::fmt::human;
use crate::message::{DeliverUntil, Message};
use crate::shutdown::Shutdown;

/// A daily window of local time in one zone, opening at `start` and closing at `end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    start: Time,
    end: Time,
    zone: TimeZone,
}

/// Whether the window is open at an instant, and when that changes (in the window's zone).
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Open until `closes`.
    Open { closes: ZonedDateTime },
    /// Closed until `opens`; that window then lasts until `closes`.
    Closed {
        opens: ZonedDateTime,
        closes: ZonedDateTime,
    },
}

impl State {
    /// The close of the window open now, or else of the next one: the end of the window
    /// a send at this instant goes out in.
    pub fn closes(&self) -> &ZonedDateTime {
        match self {
            State::Open { closes } | State::Closed { closes, .. } => closes,
        }
    }
}

impl Window {
    /// Parses `HH:MM-HH:MM` (24-hour; `24:00` may end a window) in the IANA zone `zone`.
    /// Errors say how to write it right.
    pub fn parse(spec: &str, zone: &str) -> Result<Window, WindowError> {
        let bad = || WindowError::Malformed(spec.to_string());
        let (start, end) = spec.trim().split_once('-').ok_or_else(bad)?;
        let start = clock_time(start, false).ok_or_else(bad)?;
        let end = clock_time(end, true).ok_or_else(bad)?;
        if start == end {
            return Err(WindowError::Empty(spec.to_string()));
        }
        let zone =
            TimeZone::get(zone.trim()).map_err(|_| WindowError::UnknownZone(zone.to_string()))?;
        Ok(Window { start, end, zone })
    }

    /// The zone's IANA name, for messages.
    fn zone_name(&self) -> &str {
        self.zone.iana_name().unwrap_or("?")
    }

    /// Whether the window is open at `at`, and until when; or when it next opens.
    pub fn state(&self, at: Timestamp) -> State {
        let today = self.zone.to_datetime(at).date();
        // A window that wraps midnight and opened yesterday may still be open.
        for day in [previous(today), today] {
            let (opens, closes) = self.span(day);
            if opens <= at && at < closes {
                return State::Open {
                    closes: self.zoned(closes),
                };
            }
        }
        let mut day = today;
        loop {
            let (opens, closes) = self.span(day);
            // A window can be empty only when both its ends fall in one daylight-saving
            // jump; the next day's is not.
            if opens > at && opens < closes {
                return State::Closed {
                    opens: self.zoned(opens),
                    closes: self.zoned(closes),
                };
            }
            day = next(day);
        }
    }

    /// When `work` of sending time is done if it starts at `from` and goes on only while the
    /// window is open: the estimate of a campaign that waits for the window (a run that stops
    /// at its close and is rerun by cron each morning takes the same days). Bounded: past the
    /// year 9000 (centuries of work) the answer is [`Timestamp::MAX`], never a panic.
    pub fn after_open(&self, from: Timestamp, work: Duration) -> Timestamp {
        let horizon = Timestamp::constant(221_845_392_000, 0); // 9000-01-01T00:00:00Z
        let (mut at, mut work) = (from, work);
        while at < horizon {
            let closes = match self.state(at) {
                State::Open { closes } => closes.timestamp(),
                State::Closed { opens, .. } => {
                    at = opens.timestamp();
                    continue;
                }
            };
            let open = until(at, &self.zoned(closes));
            if work <= open {
                return at
                    .checked_add(work)
                    .expect("within the window's close, so within range");
            }
            work -= open;
            at = closes;
        }
        Timestamp::MAX
    }

    /// The instants the window that opens on `day` opens and closes.
    fn span(&self, day: Date) -> (Timestamp, Timestamp) {
        let end_day = if self.end > self.start {
            day
        } else {
            next(day)
        };
        (
            self.instant(day, self.start),
            self.instant(end_day, self.end),
        )
    }

    /// The first instant the zone's clock reads `time` on `day`: a time skipped by a
    /// daylight-saving jump resolves to the jump itself, a time that happens twice to its
    /// first occurrence. Either way no local time outside the window is ever inside it.
    fn instant(&self, day: Date, time: Time) -> Timestamp {
        let ambiguous = self.zone.to_ambiguous_timestamp(day.to_datetime(time));
        let earlier = ambiguous.earlier().expect("a date within jiff's range");
        match ambiguous.offset() {
            AmbiguousOffset::Gap { .. } => self
                .zone
                .following(earlier)
                .next()
                .map_or(earlier, |jump| jump.timestamp()),
            AmbiguousOffset::Unambiguous { .. } | AmbiguousOffset::Fold { .. } => earlier,
        }
    }

    fn zoned(&self, at: Timestamp) -> ZonedDateTime {
        at.to_zoned_datetime(self.zone.clone())
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{} {}",
            self.start.strftime("%H:%M"),
            self.end.strftime("%H:%M"),
            self.zone_name()
        )
    }
}

fn next(day: Date) -> Date {
    day.tomorrow().expect("a date within jiff's range")
}

fn previous(day: Date) -> Date {
    day.yesterday().expect("a date within jiff's range")
}

/// `9:00`, `09:00`; `24:00` only as an end (midnight, so the window wraps to it).
fn clock_time(text: &str, is_end: bool) -> Option<Time> {
    let (hour, minute) = text.trim().split_once(':')?;
    let number = |s: &str, lengths: std::ops::RangeInclusive<usize>| {
        (lengths.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i8>().ok())
            .flatten()
    };
    let (hour, minute) = (number(hour, 1..=2)?, number(minute, 2..=2)?);
    match (hour, minute) {
        (24, 0) if is_end => Some(Time::midnight()),
        _ => Time::new(hour, minute, 0, 0).ok(),
    }
}

/// A window setting that cannot work; each message says how to write it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error(
        "'{0}' is not a window: write the local opening and closing times as HH:MM-HH:MM in 24-hour time, e.g. 09:00-20:00 (22:00-06:00 wraps midnight)"
    )]
    Malformed(String),
    #[error(
        "'{0}' opens and closes at the same time: give two different times, e.g. 09:00-20:00 (to send at any hour, leave the window out)"
    )]
    Empty(String),
    #[error(
        "'{0}' is not a time zone we know: use an IANA name such as America/Sao_Paulo, Europe/Lisbon or UTC"
    )]
    UnknownZone(String),
}

/// A campaign's window and what to do outside it, as settings resolved them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendWindow {
    pub window: Window,
    /// `--wait-for-window`: sleep until the window opens instead of stopping with exit 3.
    pub wait: bool,
    /// Whether a send with no `deliverUntil` gets the window's close as its deadline (only
    /// for providers that can carry one).
    pub deliver_until: bool,
}

impl SendWindow {
    /// One line for the preflight report: the window, and whether it is open now.
    pub fn outlook(&self, now: Timestamp) -> String {
        match self.window.state(now) {
            State::Open { closes } => format!(
                "{}: open now, closes {}",
                self.window,
                closes.strftime("%H:%M")
            ),
            State::Closed { opens, .. } => format!(
                "{}: closed now, opens {} (in {}); {}",
                self.window,
                local(&opens),
                human(until(now, &opens)),
                if self.wait {
                    "the run waits for it (--wait-for-window)"
                } else {
                    "nothing is sent before then (rerun then, or add --wait-for-window)"
                }
            ),
        }
    }
}

/// A local time for people: `Tue 2026-06-02 09:00 -03`.
fn local(at: &ZonedDateTime) -> String {
    at.strftime("%a %Y-%m-%d %H:%M %Z").to_string()
}

fn until(now: Timestamp, at: &ZonedDateTime) -> Duration {
    Duration::try_from(now.duration_until(at.timestamp())).unwrap_or_default()
}

/// What the window says to a send that has just been given its turn by the pacer.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// Go: the send starts at this instant (its `sentAt`), inside the window.
    Open(Timestamp),
    /// It was closed and we waited until it opened (or until a stop was asked for): take a
    /// fresh turn from the pacer, whose quota and spacing still hold (and which notices a stop).
    Waited,
    /// Closed, and the campaign does not wait: stop starting sends.
    Closed(Closed),
}

/// Why a run stopped at the window: when it opens next, and how to continue.
#[derive(Debug, Clone, PartialEq)]
pub struct Closed {
    pub window: Window,
    pub opens: ZonedDateTime,
}

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the send window {} is closed: no new send starts. It opens again {}; rerun the same \
             command then (a cron job can), or add --wait-for-window to wait for it",
            self.window,
            local(&self.opens)
        )
    }
}

/// Decides whether a send may start now. Without a window every send may.
pub async fn admit(window: Option<&SendWindow>, clock: &Clock, shutdown: &Shutdown) -> Admission {
    let now = clock.wall();
    let Some(window) = window else {
        return Admission::Open(now);
    };
    match window.window.state(now) {
        State::Open { .. } => Admission::Open(now),
        State::Closed { opens, .. } if !window.wait => Admission::Closed(Closed {
            window: window.window.clone(),
            opens,
        }),
        State::Closed { opens, .. } => {
            let wait = until(now, &opens);
            tracing::info!(
                "the send window {} is closed: waiting until it opens at {} (in {})",
                window.window,
                local(&opens),
                human(wait)
            );
            tokio::select! {
                _ = clock.sleep(wait) => {}
                _ = shutdown.requested() => {}
            }
            Admission::Waited
        }
    }
}

/// The message as it goes out at `at`. One with no `deliverUntil` of its own (row or
/// campaign) gets the close of the window it goes out in, so a message the API holds up is
/// not delivered at night; a scheduled one, of the window its `deliverAt` falls in (or the
/// next one).
pub fn with_deadline<'m>(
    window: Option<&SendWindow>,
    message: &'m Message,
    at: Timestamp,
) -> Cow<'m, Message> {
    match window {
        Some(window) if window.deliver_until && message.deliver_until.is_none() => {
            let goes = message.deliver_at.map_or(at, |scheduled| scheduled.max(at));
            let closes = window.window.state(goes).closes().timestamp();
            Cow::Owned(Message {
                deliver_until: Some(DeliverUntil::At(closes)),
                ..message.clone()
            })
        }
        _ => Cow::Borrowed(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(spec: &str, zone: &str) -> Window {
        Window::parse(spec, zone).unwrap()
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    /// Checks the state at each instant (UTC): `Ok(closes)` where the window is open,
    /// `Err(opens)` where it is closed.
    fn assert_states(w: &Window, cases: &[(&str, Result<&str, &str>)]) {
        for (when, expected) in cases {
            let found = match w.state(at(when)) {
                State::Open { closes } => Ok(closes.timestamp()),
                State::Closed { opens, .. } => Err(opens.timestamp()),
            };
            assert_eq!(found, expected.map(at).map_err(at), "{w} at {when}");
        }
    }

    #[test]
    fn a_day_window_is_open_between_its_local_hours() {
        // São Paulo is UTC-3 all year: 09:00-20:00 local is 12:00Z-23:00Z.
        assert_states(
            &window("09:00-20:00", "America/Sao_Paulo"),
            &[
                ("2026-06-01T11:59:59Z", Err("2026-06-01T12:00:00Z")),
                ("2026-06-01T12:00:00Z", Ok("2026-06-01T23:00:00Z")),
                ("2026-06-01T22:59:59Z", Ok("2026-06-01T23:00:00Z")),
                // At 20:00 sharp it is closed, until 09:00 the next day.
                ("2026-06-01T23:00:00Z", Err("2026-06-02T12:00:00Z")),
                // 01:00 local, already the next UTC day.
                ("2026-06-02T04:00:00Z", Err("2026-06-02T12:00:00Z")),
            ],
        );
    }

    #[test]
    fn a_night_window_wraps_midnight() {
        assert_states(
            &window("22:00-06:00", "UTC"),
            &[
                ("2026-06-01T23:00:00Z", Ok("2026-06-02T06:00:00Z")),
                ("2026-06-02T03:00:00Z", Ok("2026-06-02T06:00:00Z")),
                ("2026-06-02T06:00:00Z", Err("2026-06-02T22:00:00Z")),
                ("2026-06-02T21:59:00Z", Err("2026-06-02T22:00:00Z")),
            ],
        );
        assert_states(
            &window("09:00-24:00", "UTC"),
            &[
                ("2026-06-01T23:59:00Z", Ok("2026-06-02T00:00:00Z")),
                ("2026-06-02T00:00:00Z", Err("2026-06-02T09:00:00Z")),
            ],
        );
    }

    #[test]
    fn local_hours_hold_across_daylight_saving_changes() {
        // New York springs forward on 2026-03-08 (EST -5 to EDT -4): 09:00 moves from 14:00Z
        // to 13:00Z.
        assert_states(
            &window("09:00-20:00", "America/New_York"),
            &[
                ("2026-03-07T13:00:00Z", Err("2026-03-07T14:00:00Z")),
                ("2026-03-08T12:00:00Z", Err("2026-03-08T13:00:00Z")),
                ("2026-03-08T13:00:00Z", Ok("2026-03-09T00:00:00Z")),
            ],
        );
        // The night of that change is an hour shorter (22:00 EST to 06:00 EDT, 7 hours), the
        // night it falls back (2026-11-01) an hour longer (22:00 EDT to 06:00 EST, 9 hours).
        assert_states(
            &window("22:00-06:00", "America/New_York"),
            &[
                ("2026-03-08T03:00:00Z", Ok("2026-03-08T10:00:00Z")),
                ("2026-11-01T01:59:00Z", Err("2026-11-01T02:00:00Z")),
                ("2026-11-01T02:00:00Z", Ok("2026-11-01T11:00:00Z")),
            ],
        );
        // Lisbon jumps 01:00 WET -> 02:00 WEST on 2026-03-29: 09:00 is 09:00Z, then 08:00Z.
        assert_states(
            &window("09:00-20:00", "Europe/Lisbon"),
            &[
                ("2026-03-28T08:30:00Z", Err("2026-03-28T09:00:00Z")),
                ("2026-03-29T08:30:00Z", Ok("2026-03-29T19:00:00Z")),
            ],
        );
    }

    #[test]
    fn a_window_end_that_does_not_exist_or_happens_twice_never_stretches_the_window() {
        // 02:30 does not exist in New York on 2026-03-08: the clock jumps from 02:00 EST
        // (07:00Z) to 03:00 EDT. A window ending at 02:30 closes at the jump; one starting
        // at 02:30 opens there.
        let jump = "2026-03-08T07:00:00Z";
        assert_states(
            &window("22:00-02:30", "America/New_York"),
            &[("2026-03-08T06:00:00Z", Ok(jump))],
        );
        assert_states(
            &window("02:30-05:00", "America/New_York"),
            &[("2026-03-08T06:00:00Z", Err(jump))],
        );
        // 01:30 happens twice on 2026-11-01 (EDT, then EST): the window closes at the first
        // and does not open again at the second.
        assert_states(
            &window("22:00-01:30", "America/New_York"),
            &[
                ("2026-11-01T05:00:00Z", Ok("2026-11-01T05:30:00Z")),
                ("2026-11-01T06:10:00Z", Err("2026-11-02T03:00:00Z")),
            ],
        );
        // A window entirely inside the jump is empty that day: the next one is the next day's.
        assert_states(
            &window("02:10-02:50", "America/New_York"),
            &[("2026-03-08T06:00:00Z", Err("2026-03-09T06:10:00Z"))],
        );
    }

    #[test]
    fn sending_time_is_spent_only_while_the_window_is_open() {
        let w = window("09:00-20:00", "UTC");
        let after =
            |from: &str, hours: u64| w.after_open(at(from), Duration::from_secs(hours * 3600));
        assert_eq!(after("2026-06-01T10:00:00Z", 2), at("2026-06-01T12:00:00Z"));
        assert_eq!(
            after("2026-06-01T19:00:00Z", 2),
            at("2026-06-02T10:00:00Z"),
            "overnight"
        );
        assert_eq!(
            after("2026-06-01T05:00:00Z", 1),
            at("2026-06-01T10:00:00Z"),
            "closed at first"
        );
        // 20,000 sends at 16.5 s: 91h 40m of sending, 11 hours a day: eight days and 3h 40m.
        let days = w.after_open(
            at("2026-06-01T09:00:00Z"),
            Duration::from_secs(20_000 * 33 / 2),
        );
        assert_eq!(days, at("2026-06-09T12:40:00Z"));
        let night = window("22:00-06:00", "UTC");
        assert_eq!(
            night.after_open(at("2026-06-01T23:00:00Z"), Duration::from_secs(8 * 3600)),
            at("2026-06-02T23:00:00Z"),
            "a night window wraps midnight"
        );
        assert_eq!(
            w.after_open(at("2026-06-01T10:00:00Z"), Duration::MAX),
            Timestamp::MAX
        );
    }

    #[test]
    fn bad_windows_and_zones_are_refused_saying_how_to_fix_them() {
        for bad in [
            "9-20",
            "09:00",
            "09:00-25:00",
            "09:60-10:00",
            "9:0-10:00",
            "a-b",
            "24:00-09:00",
            "",
        ] {
            let e = Window::parse(bad, "UTC").unwrap_err();
            assert_eq!(e, WindowError::Malformed(bad.into()), "{bad}");
            assert!(e.to_string().contains("09:00-20:00"));
        }
        let e = Window::parse("09:00-09:00", "UTC").unwrap_err();
        assert!(matches!(e, WindowError::Empty(_)), "{e}");
        let e = Window::parse("09:00-20:00", "Sao Paulo").unwrap_err();
        assert!(e.to_string().contains("America/Sao_Paulo"), "{e}");
        assert_eq!(
            window(" 9:00-20:30 ", "america/sao_paulo").to_string(),
            "09:00-20:30 America/Sao_Paulo"
        );
    }

    fn send_window(deliver_until: bool) -> SendWindow {
        SendWindow {
            window: window("09:00-20:00", "America/Sao_Paulo"),
            wait: false,
            deliver_until,
        }
    }

    fn message(deliver_at: Option<&str>, deliver_until: Option<DeliverUntil>) -> Message {
        Message {
            destination: crate::message::Destination::Phone("+5511988887777".into()),
            content: crate::message::Content::Text { body: "oi".into() },
            variables: Default::default(),
            interactive: Default::default(),
            labels: Vec::new(),
            ai_rewrite: false,
            deliver_at: deliver_at.map(at),
            deliver_until,
        }
    }

    fn deadline(window: &SendWindow, message: &Message, when: &str) -> Option<DeliverUntil> {
        with_deadline(Some(window), message, at(when)).deliver_until
    }

    #[test]
    fn a_send_without_a_deadline_gets_the_close_of_its_window() {
        let w = send_window(true);
        let evening = Some(DeliverUntil::At(at("2026-06-01T23:00:00Z")));
        assert_eq!(
            deadline(&w, &message(None, None), "2026-06-01T15:00:00Z"),
            evening
        );
        // Scheduled for the next morning: that day's close.
        let scheduled = message(Some("2026-06-02T13:00:00Z"), None);
        assert_eq!(
            deadline(&w, &scheduled, "2026-06-01T15:00:00Z"),
            Some(DeliverUntil::At(at("2026-06-02T23:00:00Z")))
        );
        // Its own deadline is kept, and so is a provider's lack of one.
        let own = Some(DeliverUntil::After(jiff::SignedDuration::from_hours(4)));
        assert_eq!(
            deadline(&w, &message(None, own), "2026-06-01T15:00:00Z"),
            own
        );
        assert_eq!(
            deadline(
                &send_window(false),
                &message(None, None),
                "2026-06-01T15:00:00Z"
            ),
            None
        );
        let plain = message(None, None);
        assert!(matches!(
            with_deadline(None, &plain, at("2026-06-01T15:00:00Z")),
            Cow::Borrowed(_)
        ));
    }

    #[tokio::test]
    async fn closed_stops_or_waits_on_the_clock_until_it_opens() {
        let clock = Clock::simulated(at("2026-06-01T23:30:00Z"));
        let shutdown = Shutdown::new();
        let mut w = send_window(false);
        let opens = "2026-06-02T12:00:00Z";
        match admit(Some(&w), &clock, &shutdown).await {
            Admission::Closed(closed) => {
                assert_eq!(closed.opens.timestamp(), at(opens));
                assert!(
                    closed.to_string().contains("Tue 2026-06-02 09:00 -03"),
                    "{closed}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            clock.wall(),
            at("2026-06-01T23:30:00Z"),
            "a stop does not wait"
        );
        w.wait = true;
        assert_eq!(admit(Some(&w), &clock, &shutdown).await, Admission::Waited);
        assert_eq!(clock.wall(), at(opens));
        assert_eq!(
            admit(Some(&w), &clock, &shutdown).await,
            Admission::Open(at(opens))
        );
        assert_eq!(
            admit(None, &clock, &shutdown).await,
            Admission::Open(at(opens))
        );
    }

    #[tokio::test]
    async fn a_stop_request_ends_the_wait() {
        let clock = Clock::real();
        let shutdown = Shutdown::new();
        shutdown.request();
        // A window that opens two hours from now: a real wait would take that long.
        let now = clock.wall().to_zoned_datetime(TimeZone::UTC);
        let hours = |h: i64| {
            now.checked_add(jiff::SignedDuration::from_hours(h))
                .unwrap()
        };
        let spec = format!(
            "{}-{}",
            hours(2).strftime("%H:%M"),
            hours(3).strftime("%H:%M")
        );
        let w = SendWindow {
            window: window(&spec, "UTC"),
            wait: true,
            deliver_until: false,
        };
        assert_eq!(admit(Some(&w), &clock, &shutdown).await, Admission::Waited);
    }

    #[test]
    fn the_outlook_says_whether_it_is_open_and_when_it_opens() {
        let w = send_window(false);
        assert_eq!(
            w.outlook(at("2026-06-01T15:00:00Z")),
            "09:00-20:00 America/Sao_Paulo: open now, closes 20:00"
        );
        let closed = w.outlook(at("2026-06-02T02:00:00Z"));
        assert!(
            closed.starts_with(
                "09:00-20:00 America/Sao_Paulo: closed now, opens Tue 2026-06-02 09:00 -03 (in 10h 00m)"
            ),
            "{closed}"
        );
        assert!(closed.contains("--wait-for-window"), "{closed}");
    }
}
