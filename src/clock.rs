//! One source of time for pacing, retries, schedules and timestamps.
//!
//! Production uses the real clock. Tests inject a virtual clock whose sleeps return at once
//! and move time forward, so hours of an 8–25 s marketing pace (and every `Retry-After`)
//! run in milliseconds while the HTTP traffic stays real. tokio's paused clock cannot do
//! that: it auto-advances while a request waits on the socket and fires its timeout.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;

/// A monotonic instant: the time elapsed since the clock was created.
pub type Instant = Duration;

/// The clock every time-dependent part of a run shares.
#[derive(Debug, Clone)]
pub struct Clock {
    origin_wall: Timestamp,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Real(std::time::Instant),
    Virtual(Arc<Mutex<Duration>>),
}

impl Clock {
    /// The wall clock, for real campaigns.
    pub fn real() -> Clock {
        Clock {
            origin_wall: Timestamp::now(),
            kind: Kind::Real(std::time::Instant::now()),
        }
    }

    /// A simulated clock starting at `start`: sleeping advances it instantly.
    pub fn simulated(start: Timestamp) -> Clock {
        Clock {
            origin_wall: start,
            kind: Kind::Virtual(Arc::new(Mutex::new(Duration::ZERO))),
        }
    }

    /// Monotonic now, for measuring waits.
    pub fn now(&self) -> Instant {
        match &self.kind {
            Kind::Real(origin) => origin.elapsed(),
            Kind::Virtual(elapsed) => *elapsed.lock().expect("clock mutex"),
        }
    }

    /// Calendar now, for `sentAt`, schedules and send windows (the last representable
    /// instant rather than an overflow).
    pub fn wall(&self) -> Timestamp {
        let elapsed = self.now();
        self.origin_wall
            .checked_add(elapsed)
            .unwrap_or(Timestamp::MAX)
    }

    /// Waits `duration` on this clock. Any duration is safe: the virtual clock saturates,
    /// and tokio's timer treats an unreachable deadline as "never".
    pub async fn sleep(&self, duration: Duration) {
        match &self.kind {
            Kind::Real(_) => tokio::time::sleep(duration).await,
            Kind::Virtual(elapsed) => {
                {
                    let mut elapsed = elapsed.lock().expect("clock mutex");
                    *elapsed = elapsed.saturating_add(duration);
                }
                tokio::task::yield_now().await;
            }
        }
    }

    /// Waits until the monotonic instant `deadline` (at once if it has passed).
    pub async fn sleep_until(&self, deadline: Instant) {
        let now = self.now();
        if deadline > now {
            self.sleep(deadline - now).await;
        }
    }
}

/// governor reads the same clock, so quota and spacing agree on what time it is.
impl governor::clock::Clock for Clock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        Clock::now(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn simulated_sleep_advances_both_clocks_without_waiting() {
        let start: Timestamp = "2026-06-01T12:00:00Z".parse().unwrap();
        let clock = Clock::simulated(start);
        let before = std::time::Instant::now();
        clock.sleep(Duration::from_secs(3600)).await;
        assert!(before.elapsed() < Duration::from_secs(1));
        assert_eq!(clock.now(), Duration::from_secs(3600));
        assert_eq!(clock.wall().to_string(), "2026-06-01T13:00:00Z");
    }

    #[tokio::test]
    async fn the_longest_sleep_saturates_instead_of_overflowing() {
        let clock = Clock::simulated(Timestamp::UNIX_EPOCH);
        clock.sleep(Duration::from_secs(10)).await;
        clock.sleep(Duration::MAX).await;
        assert_eq!(clock.now(), Duration::MAX);
        assert_eq!(clock.wall(), Timestamp::MAX);
    }

    #[tokio::test]
    async fn sleep_until_a_past_deadline_returns_at_once() {
        let clock = Clock::simulated(Timestamp::UNIX_EPOCH);
        clock.sleep(Duration::from_secs(10)).await;
        clock.sleep_until(Duration::from_secs(5)).await;
        assert_eq!(clock.now(), Duration::from_secs(10));
    }
}
