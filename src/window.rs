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
use crate::fmt::{human, shown};
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
        "'{}' is not a window: write the local opening and closing times as HH:MM-HH:MM in 24-hour time, e.g. 09:00-20:00 (22:00-06:00 wraps midnight)",
        shown(.0)
    )]
    Malformed(String),
    #[error(
        "'{}' opens and closes at the same time: give two different times, e.g. 09:00-20:00 (to send at any hour, leave the window out)",
        shown(.0)
    )]
    Empty(String),
    #[error(
        "'{}' is not a time zone we know: use an IANA name such as America/Sao_Paulo, Europe/Lisbon or UTC",
        shown(.0)
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
    /// The window as a send starting at `at` finds it. When sends get its close as their
    /// deadline, its last minute ([`DeliverUntil::SHORTEST`], the least a row's own deadline
    /// must leave) counts as closed: a send started then would expire before it could be
    /// delivered, and, recorded as accepted, never be sent again.
    pub fn state(&self, at: Timestamp) -> State {
        match self.window.state(at) {
            State::Open { closes }
                if self.deliver_until
                    && closes.timestamp().duration_since(at) < DeliverUntil::SHORTEST =>
            {
                self.window.state(closes.timestamp())
            }
            state => state,
        }
    }

    /// When `work` of sending time is done if it starts at `from` and goes on only while the
    /// window is open for sends (its last minute closed, as [`SendWindow::state`] says): the
    /// estimate of a campaign that waits for the window (a run that stops at its close and
    /// is rerun by cron each morning takes the same days). Bounded: past the year 9000
    /// (centuries of work) the answer is [`Timestamp::MAX`], never a panic.
    pub fn after_open(&self, from: Timestamp, work: Duration) -> Timestamp {
        let horizon = Timestamp::constant(221_845_392_000, 0); // 9000-01-01T00:00:00Z
        let tail = if self.deliver_until {
            DeliverUntil::SHORTEST.unsigned_abs()
        } else {
            Duration::ZERO
        };
        let (mut at, mut work) = (from, work);
        while at < horizon {
            let closes = match self.state(at) {
                State::Open { closes } => closes,
                State::Closed { opens, .. } => {
                    at = opens.timestamp();
                    continue;
                }
            };
            // Open for sends at least until `tail` before the close, or `state` says closed.
            let open = until(at, &closes).saturating_sub(tail);
            if work <= open {
                return at
                    .checked_add(work)
                    .expect("within the window's close, so within range");
            }
            work -= open;
            at = closes.timestamp();
        }
        Timestamp::MAX
    }

    /// Whether a delivery scheduled at `at` falls outside the window (its last minute
    /// included, when that counts as closed: see [`SendWindow::state`]): where it falls,
    /// in words.
    pub fn outside(&self, at: Timestamp) -> Option<String> {
        if !matches!(self.state(at), State::Closed { .. }) {
            return None;
        }
        let when = local(&at.to_zoned_datetime(self.window.zone.clone()));
        Some(match self.window.state(at) {
            State::Open { .. } => format!(
                "{when}, in the last minute of the send window {}, too late to be delivered \
                 before its close",
                self.window
            ),
            State::Closed { .. } => format!("{when}, outside the send window {}", self.window),
        })
    }

    /// One line for the preflight report: the window, and whether it is open now.
    pub fn outlook(&self, now: Timestamp) -> String {
        match self.state(now) {
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
    match window.state(now) {
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
/// not delivered at night; a scheduled one, of the window its `deliverAt` falls in (the
/// input refuses one outside it, see [`SendWindow::outside`]).
pub fn with_deadline<'m>(
    window: Option<&SendWindow>,
    message: &'m Message,
    at: Timestamp,
) -> Cow<'m, Message> {
    match window {
        Some(window) if window.deliver_until && message.deliver_until.is_none() => {
            let goes = message.deliver_at.map_or(at, |scheduled| scheduled.max(at));
            let closes = window.state(goes).closes().timestamp();
            Cow::Owned(Message {
                deliver_until: Some(DeliverUntil::At(closes)),
                ..message.clone()
            })
        }
        _ => Cow::Borrowed(message),
    }
}

#[cfg(test)]
mod tests;
