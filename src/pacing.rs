//! When the next attempt may start: the governor quota, the randomized spacing between
//! consecutive sends, the hold a `429 Retry-After` puts on everyone, and the backoff policy.
//!
//! Every attempt (retries included) passes through [`Pacer::ready`], and every wait runs on
//! the injected [`Clock`], so the pace can be proven in tests without waiting for it.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub mod hold;

/// A rolling day: the `/d` in a rate, and the window of daily caps and ledger views.
pub const DAY: Duration = Duration::from_secs(24 * 3600);

use backon::ExponentialBuilder;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng};

use crate::clock::{Clock, Instant};
use crate::fmt::shown;

/// Parses `30s`, `500ms`, `4h` (jiff's friendly format); negative spans are refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let span: jiff::SignedDuration = text.trim().parse().map_err(|_| {
        format!(
            "'{}' is not a duration (examples: 500ms, 8s, 4h, 1m30s)",
            shown(text)
        )
    })?;
    Duration::try_from(span).map_err(|_| format!("'{}' must not be negative", shown(text)))
}

/// Parses `--timeout`: a duration above zero (a zero timeout would give up on every answer,
/// turning accepted sends into `UNCERTAIN` ones).
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        timeout if timeout.is_zero() => Err(format!(
            "'{}': the timeout must be above zero (the default is 30s)",
            shown(text)
        )),
        timeout => Ok(timeout),
    }
}

/// The longest `Retry-After` a run waits for: one hour. A longer (or absurd) one stops that
/// number's sends for this run instead of holding the lock for days; a rerun continues.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A `Retry-After` above [`MAX_RETRY_AFTER`]: what the API asked, for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitTooLong(pub Duration);

impl WaitTooLong {
    /// `Some` when `retry_after` asks for more than this tool waits.
    pub fn check(retry_after: Option<Duration>) -> Option<WaitTooLong> {
        retry_after
            .filter(|wait| *wait > MAX_RETRY_AFTER)
            .map(WaitTooLong)
    }
}

impl fmt::Display for WaitTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (asked, most) = (
            crate::fmt::human(self.0),
            crate::fmt::human(MAX_RETRY_AFTER),
        );
        // Past the ceiling by less than a minute, both read `1h 00m`: then in seconds.
        let asked = match asked == most {
            true => format!("{} s", self.0.as_secs()),
            false => asked,
        };
        write!(
            f,
            "the API asks to wait {asked}, longer than the {most} this tool waits; rerun later"
        )
    }
}

/// A quota such as `30/min`: at most `count` sends in any window of `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: NonZeroU32,
    pub per: Duration,
}

impl Rate {
    /// The even interval between sends that keeps every window within the quota.
    pub fn interval(&self) -> Duration {
        self.per / self.count.get()
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Rate, String> {
        let bad = || {
            format!(
                "'{}' is not a rate (examples: 30/min, 5/s, 1000/h, 1000/d)",
                shown(text)
            )
        };
        let (count, unit) = text.trim().split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let count = NonZeroU32::new(count)
            .ok_or_else(|| format!("'{}': the rate must be above zero", shown(text)))?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "min" | "m" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            "d" | "day" => DAY,
            _ => return Err(bad()),
        };
        Ok(Rate { count, per })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "s",
            60 => "min",
            3600 => "h",
            _ => "d",
        };
        write!(f, "{}/{unit}", self.count)
    }
}

/// The shortest gap a number's sends keep: the quota's interval (a burst of one) or the
/// spacing's minimum, whichever is longer. What a run restored after a restart, or a run
/// beside another of the same number, keeps from the number's last send.
pub fn shortest_gap(rate: Option<Rate>, spacing: Spacing) -> Duration {
    rate.map_or(Duration::ZERO, |rate| rate.interval())
        .max(spacing.min)
}

/// The uniform random pause between the starts of consecutive sends (`8s..25s`); `0` disables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spacing {
    pub min: Duration,
    pub max: Duration,
}

impl Spacing {
    /// No pause: for utility campaigns paced by the quota alone.
    pub const NONE: Spacing = Spacing {
        min: Duration::ZERO,
        max: Duration::ZERO,
    };

    /// The expected pause, for estimating a campaign's duration.
    pub fn mean(&self) -> Duration {
        (self.min + self.max) / 2
    }

    /// Whether any pause is drawn at all.
    pub fn is_none(&self) -> bool {
        self.max.is_zero()
    }
}

impl FromStr for Spacing {
    type Err = String;

    fn from_str(text: &str) -> Result<Spacing, String> {
        let text = text.trim();
        if text == "0" {
            return Ok(Spacing::NONE);
        }
        let (min, max) = match text.split_once("..") {
            Some((min, max)) => (parse_duration(min)?, parse_duration(max)?),
            None => {
                let fixed = parse_duration(text)?;
                (fixed, fixed)
            }
        };
        if min > max {
            return Err(format!(
                "spacing '{}': the minimum is above the maximum",
                shown(text)
            ));
        }
        Ok(Spacing { min, max })
    }
}

impl fmt::Display for Spacing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_none() {
            return f.write_str("0");
        }
        let show = |d: Duration| jiff::SignedDuration::try_from(d).map(|s| format!("{s:#}"));
        match (show(self.min), show(self.max)) {
            (Ok(min), Ok(max)) => write!(f, "{min}..{max}"),
            _ => write!(f, "{:?}..{:?}", self.min, self.max),
        }
    }
}

/// Exponential backoff with jitter for retryable answers that carry no `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Attempts per row per run, the first one included.
    pub max_attempts: u32,
    pub min: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The backon policy: `max_attempts - 1` retries between `min` and `max`, jittered.
    pub fn policy(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min)
            .with_max_delay(self.max)
            .with_jitter()
            .with_max_times(self.max_attempts.saturating_sub(1) as usize)
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, Clock, NoOpMiddleware<Duration>>;

/// The gate every send attempt passes. Shared by all concurrent senders of one lane.
pub struct Pacer {
    clock: Clock,
    limiter: Option<Limiter>,
    /// The quota the limiter enforces, for [`Pacer::after_last_send`].
    rate: Option<Rate>,
    spacing: Spacing,
    /// Start order and the spacing draw; held across the wait so starts stay in turn.
    turn: tokio::sync::Mutex<Turn>,
    /// No attempt starts before this instant (a `429 Retry-After` from anyone).
    hold_until: Mutex<Instant>,
    /// When the next attempt may start, as far as this pacer knows, for the progress bar.
    next: NextStart,
}

/// When a pacer's next attempt may start, published for whoever watches (the progress bar's
/// "next send in 12s"): a shared instant on the pacer's clock, read without waiting for its
/// turn (which a sleeping send holds).
#[derive(Debug, Clone, Default)]
pub struct NextStart(Arc<AtomicU64>);

impl NextStart {
    /// The instant last published (nanoseconds since the clock's origin, saturated).
    pub fn get(&self) -> Instant {
        Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }

    fn set(&self, at: Instant) {
        let nanos = u64::try_from(at.as_nanos()).unwrap_or(u64::MAX);
        self.0.store(nanos, Ordering::Relaxed);
    }
}

struct Turn {
    next_start: Instant,
    rng: StdRng,
}

impl Pacer {
    /// `seed` makes the spacing draws reproducible (tests, benchmarks); `None` seeds from the OS.
    pub fn new(rate: Option<Rate>, spacing: Spacing, clock: Clock, seed: Option<u64>) -> Pacer {
        let limiter = rate.map(|rate| {
            // Burst of one: evenly spaced, so no window of `per` ever holds more than `count`.
            let quota = Quota::with_period(rate.interval().max(Duration::from_nanos(1)))
                .expect("a non-zero period");
            RateLimiter::direct_with_clock(quota, clock.clone())
        });
        let rng = match seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => rand::make_rng(),
        };
        Pacer {
            limiter,
            rate,
            spacing,
            turn: tokio::sync::Mutex::new(Turn {
                next_start: clock.now(),
                rng,
            }),
            hold_until: Mutex::new(Duration::ZERO),
            next: NextStart::default(),
            clock,
        }
    }

    /// Where this pacer publishes when its next attempt may start.
    pub fn next_start(&self) -> NextStart {
        self.next.clone()
    }

    /// Restores the pace across runs: the next send may start no sooner than the quota's
    /// interval (a burst of one) and a spacing drawn as for any send after `last` (this
    /// number's last send, from the ledger), so a restart never lets more than the quota
    /// through in any window, nor two sends closer than the spacing.
    pub fn after_last_send(&mut self, last: Option<jiff::Timestamp>) {
        let Some(last) = last else {
            return;
        };
        let interval = self.rate.map_or(Duration::ZERO, |rate| rate.interval());
        let turn = self.turn.get_mut();
        let spacing = draw(&self.spacing, &mut turn.rng);
        let mut since = self.clock.wall().duration_since(last);
        if since.is_negative() {
            // A clock that ran ahead, or a damaged ledger: waiting for it could be years.
            tracing::warn!(
                "this number's last send is dated {last}, later than now by this machine's \
                 clock: counted as just now"
            );
            since = jiff::SignedDuration::ZERO;
        }
        let wait = jiff::SignedDuration::try_from(interval.max(spacing))
            .map_or(jiff::SignedDuration::ZERO, |gap| gap - since);
        if let Ok(wait) = Duration::try_from(wait) {
            turn.next_start = turn.next_start.max(self.clock.now().saturating_add(wait));
        }
    }

    /// Waits until an attempt may start and returns its start instant. Cancel-safe: a wait
    /// abandoned (e.g. on SIGINT) leaves the pace untouched.
    pub async fn ready(&self) -> Instant {
        // A wait on the clock: the turn's holder is asleep on it.
        let mut turn = self.clock.waiting(self.turn.lock()).await;
        loop {
            let now = self.clock.now();
            let target = turn
                .next_start
                .max(*self.hold_until.lock().expect("hold mutex"));
            if target > now {
                self.next.set(target);
                self.clock.sleep_until(target).await;
                continue;
            }
            if let Some(Err(not_until)) = self.limiter.as_ref().map(|l| l.check()) {
                let wait = not_until.wait_time_from(self.clock.now());
                self.next.set(now.saturating_add(wait));
                self.clock.sleep(wait).await;
                continue;
            }
            turn.next_start = now.saturating_add(draw(&self.spacing, &mut turn.rng));
            self.next.set(turn.next_start);
            return now;
        }
    }

    /// Holds every sender for `duration` from now: what `429 Retry-After` asks of all of us.
    /// Saturates: no `duration` can overflow the clock.
    pub fn hold(&self, duration: Duration) {
        let until = self.clock.now().saturating_add(duration);
        let mut hold = self.hold_until.lock().expect("hold mutex");
        *hold = (*hold).max(until);
        self.next.set(self.next.get().max(*hold));
    }
}

/// One gap between sends, drawn from `spacing`.
fn draw(spacing: &Spacing, rng: &mut StdRng) -> Duration {
    if spacing.min == spacing.max {
        return spacing.min;
    }
    rng.random_range(spacing.min..=spacing.max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    fn clock() -> Clock {
        Clock::simulated(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn rates_and_spacings_parse_and_reject_nonsense() {
        assert_eq!(
            "30/min".parse::<Rate>().unwrap().interval(),
            Duration::from_secs(2)
        );
        assert_eq!("5/s".parse::<Rate>().unwrap().to_string(), "5/s");
        assert!("0/s".parse::<Rate>().is_err());
        for day in ["1000/d", "1000/day"] {
            let rate = day.parse::<Rate>().unwrap();
            assert_eq!(rate.interval(), Duration::from_millis(86_400));
            assert_eq!(rate.to_string(), "1000/d");
        }
        assert!("30 per minute".parse::<Rate>().is_err());
        let s: Spacing = "8s..25s".parse().unwrap();
        assert_eq!(
            (s.min, s.max),
            (Duration::from_secs(8), Duration::from_secs(25))
        );
        assert_eq!(
            "500ms..1s".parse::<Spacing>().unwrap().min,
            Duration::from_millis(500)
        );
        assert!("0".parse::<Spacing>().unwrap().is_none());
        assert!("25s..8s".parse::<Spacing>().is_err());
        assert!("-1s".parse::<Spacing>().is_err());
    }

    #[tokio::test]
    async fn spacing_draws_stay_in_range_and_average_to_the_midpoint() {
        let clock = clock();
        let pacer = Pacer::new(None, "8s..25s".parse().unwrap(), clock.clone(), Some(7));
        let mut starts = Vec::new();
        for _ in 0..2000 {
            starts.push(pacer.ready().await);
        }
        let gaps: Vec<f64> = starts
            .windows(2)
            .map(|w| (w[1] - w[0]).as_secs_f64())
            .collect();
        assert!(
            gaps.iter().all(|g| (8.0..=25.0).contains(g)),
            "a gap left 8s..25s"
        );
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        assert!((mean - 16.5).abs() < 0.5, "mean spacing {mean}");
        assert_eq!(starts[0], Duration::ZERO, "the first send does not wait");
    }

    #[tokio::test]
    async fn the_quota_is_never_exceeded_in_any_window() {
        let clock = clock();
        let pacer = Pacer::new(Some("30/min".parse().unwrap()), Spacing::NONE, clock, None);
        let mut starts = Vec::new();
        for _ in 0..200 {
            starts.push(pacer.ready().await);
        }
        for (i, start) in starts.iter().enumerate() {
            let in_window = starts[i..]
                .iter()
                .take_while(|s| **s < *start + Duration::from_secs(60))
                .count();
            assert!(
                in_window <= 30,
                "{in_window} sends within a minute of {start:?}"
            );
        }
        assert_eq!(starts[1] - starts[0], Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_hold_delays_the_next_start_beyond_the_spacing() {
        let clock = clock();
        let pacer = Pacer::new(None, "1s".parse().unwrap(), clock.clone(), None);
        let first = pacer.ready().await;
        pacer.hold(Duration::from_secs(30));
        let second = pacer.ready().await;
        assert_eq!(second - first, Duration::from_secs(30));
        let third = pacer.ready().await;
        assert_eq!(third - second, Duration::from_secs(1));
    }

    #[tokio::test]
    async fn the_next_start_is_published_for_the_spacing_the_quota_and_a_hold() {
        let clock = clock();
        let pacer = Pacer::new(None, "12s".parse().unwrap(), clock.clone(), None);
        let next = pacer.next_start();
        let first = pacer.ready().await;
        assert_eq!(next.get(), first + Duration::from_secs(12), "spacing");
        pacer.hold(Duration::from_secs(40));
        assert_eq!(next.get(), first + Duration::from_secs(40), "a hold");
        let quota = Pacer::new(
            Some("1/min".parse().unwrap()),
            Spacing::NONE,
            clock.clone(),
            None,
        );
        let start = quota.ready().await;
        tokio::select! {
            biased;
            _ = quota.ready() => panic!("the quota lets a second request through at once"),
            () = std::future::ready(()) => {}
        }
        assert_eq!(
            quota.next_start().get(),
            start + Duration::from_secs(60),
            "quota"
        );
    }

    #[tokio::test]
    async fn the_longest_hold_saturates_instead_of_overflowing() {
        let clock = clock();
        let pacer = Pacer::new(None, Spacing::NONE, clock.clone(), None);
        clock.sleep(Duration::from_secs(5)).await;
        pacer.hold(Duration::MAX);
        pacer.hold(Duration::from_secs(u64::MAX));
        assert_eq!(*pacer.hold_until.lock().unwrap(), Duration::MAX);
    }

    #[test]
    fn a_wait_just_past_the_ceiling_reads_as_longer() {
        let message = WaitTooLong(Duration::from_secs(3601)).to_string();
        assert!(
            message.starts_with("the API asks to wait 3601 s, longer than the 1h 00m"),
            "{message}"
        );
    }

    #[test]
    fn retry_after_above_the_ceiling_is_too_long_to_wait() {
        assert_eq!(WaitTooLong::check(None), None);
        assert_eq!(WaitTooLong::check(Some(MAX_RETRY_AFTER)), None);
        let huge = Duration::from_secs(u64::MAX);
        assert_eq!(WaitTooLong::check(Some(huge)), Some(WaitTooLong(huge)));
        let text = WaitTooLong(Duration::from_secs(7200)).to_string();
        assert!(
            text.contains("wait 2h 00m") && text.contains("rerun later"),
            "{text}"
        );
    }

    #[test]
    fn a_zero_timeout_is_refused() {
        assert!(parse_timeout("0s").unwrap_err().contains("above zero"));
        assert_eq!(parse_timeout("1ms"), Ok(Duration::from_millis(1)));
    }

    #[test]
    fn backoff_policy_gives_max_attempts_minus_one_retries() {
        use backon::BackoffBuilder;
        let backoff = Backoff {
            max_attempts: 4,
            min: Duration::from_millis(10),
            max: Duration::from_secs(1),
        };
        let delays: Vec<Duration> = backoff.policy().build().collect();
        assert_eq!(delays.len(), 3);
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(2)));
    }
}
