//! The fault mix: which failures the sandbox injects, and how often.
//!
//! One uniform draw per request (past auth, billing and the rate limit) picks at most one fault: the probabilities are laid end to
//! end on `[0, 1)` (429, 503, 500, drop, late, in that order), so a spec like `500=1.0` makes
//! every accepted request fail the same way and a test can rely on it.

use std::str::FromStr;
use std::time::Duration;

use crate::fmt::shown;

/// The keys a spec may use, listed in every parse error so a typo is easy to fix.
const VALID_KEYS: &str = "429, 503, 500, drop, late, latency, late-by, retry-after, billing-suspended-after, monthly-quota-after";

/// `late-by` when the spec does not say: long enough to trip a careless client timeout.
const DEFAULT_LATE_BY: Duration = Duration::from_secs(3);

/// `retry-after` when the spec does not say, in seconds.
const DEFAULT_RETRY_AFTER: u64 = 1;

/// Fault mix, parsed from a spec string such as
/// `"429=0.1,503=0.05,500=0.02,drop=0.02,late=0.02,latency=20ms,late-by=3s,retry-after=0,billing-suspended-after=50"`,
/// so a rehearsal can exercise every failure path the real API can produce.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultSpec {
    /// Share of requests answered 429 before validation (not accepted).
    pub p429: f64,
    /// Share of requests answered 503 before validation (not accepted).
    pub p503: f64,
    /// Share of accepted requests answered 500: stored, but the client cannot know.
    pub p500: f64,
    /// Share of accepted requests whose connection is closed with no answer at all.
    pub drop: f64,
    /// Share of accepted requests answered 202 only after [`FaultSpec::late_by`].
    pub late: f64,
    /// Added before every response, to make pacing visible.
    pub latency: Duration,
    /// How late a `late` answer is; `None` means 3 s.
    pub late_by: Option<Duration>,
    /// The `Retry-After` seconds sent with 429 and 503; `None` means 1.
    pub retry_after: Option<u64>,
    /// After this many accepted messages every request gets 422 `BILLING_SUSPENDED`
    /// (MsgFlash: 403 `SUBSCRIPTION_INACTIVE`).
    pub billing_suspended_after: Option<u64>,
    /// MsgFlash only: after this many accepted messages every request gets 429
    /// `MONTHLY_OUTBOUND_QUOTA_EXCEEDED`, the quota that must not be mistaken for a rate limit.
    pub monthly_quota_after: Option<u64>,
}

/// The one fault a request's draw landed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    TooManyRequests,
    Unavailable,
    Internal,
    Drop,
    Late,
}

impl Fault {
    /// The name recorded in [`super::LogEntry::fault`], matching the spec's keys.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Fault::TooManyRequests => "429",
            Fault::Unavailable => "503",
            Fault::Internal => "500",
            Fault::Drop => "drop",
            Fault::Late => "late",
        }
    }
}

impl FaultSpec {
    /// How late a `late` answer arrives.
    pub fn late_by(&self) -> Duration {
        self.late_by.unwrap_or(DEFAULT_LATE_BY)
    }

    /// The `Retry-After` value, in seconds.
    pub fn retry_after(&self) -> u64 {
        self.retry_after.unwrap_or(DEFAULT_RETRY_AFTER)
    }

    /// The fault a uniform `draw` in `[0, 1)` selects, if any.
    pub(crate) fn pick(&self, draw: f64) -> Option<Fault> {
        let bands = [
            (self.p429, Fault::TooManyRequests),
            (self.p503, Fault::Unavailable),
            (self.p500, Fault::Internal),
            (self.drop, Fault::Drop),
            (self.late, Fault::Late),
        ];
        let mut upper = 0.0;
        bands.into_iter().find_map(|(p, fault)| {
            upper += p;
            (draw < upper).then_some(fault)
        })
    }

    fn total_probability(&self) -> f64 {
        self.p429 + self.p503 + self.p500 + self.drop + self.late
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "429" => self.p429 = probability(value)?,
            "503" => self.p503 = probability(value)?,
            "500" => self.p500 = probability(value)?,
            "drop" => self.drop = probability(value)?,
            "late" => self.late = probability(value)?,
            "latency" => self.latency = duration(value)?,
            "late-by" => self.late_by = Some(duration(value)?),
            "retry-after" => self.retry_after = Some(count(value)?),
            "billing-suspended-after" => self.billing_suspended_after = Some(count(value)?),
            "monthly-quota-after" => self.monthly_quota_after = Some(count(value)?),
            _ => return Err(format!("unknown key `{}`", shown(key))),
        }
        Ok(())
    }
}

impl FromStr for FaultSpec {
    type Err = String;

    /// Parses `key=value` items separated by commas; an empty string is "no faults".
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut spec = FaultSpec::default();
        let mut seen = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let fail = |why: String| {
                format!(
                    "fault spec item `{}`: {why} (valid keys: {VALID_KEYS})",
                    shown(item)
                )
            };
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| fail("expected key=value".into()))?;
            let key = key.trim();
            if seen.contains(&key) {
                return Err(fail(format!("`{}` given twice", shown(key))));
            }
            seen.push(key);
            spec.set(key, value.trim()).map_err(fail)?;
        }
        if spec.total_probability() > 1.0 {
            return Err(format!(
                "fault spec `{}`: the probabilities of 429, 503, 500, drop and late add up to more than 1",
                shown(s)
            ));
        }
        Ok(spec)
    }
}

fn probability(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!(
            "`{}` is not a probability between 0 and 1",
            shown(value)
        )),
    }
}

/// A non-negative duration in jiff's friendly format (`20ms`, `3s`, `1m 30s`).
fn duration(value: &str) -> Result<Duration, String> {
    value
        .parse::<jiff::SignedDuration>()
        .ok()
        .and_then(|d| Duration::try_from(d).ok())
        .ok_or_else(|| {
            format!(
                "`{}` is not a non-negative duration such as 20ms or 3s",
                shown(value)
            )
        })
}

fn count(value: &str) -> Result<u64, String> {
    value
        .parse::<u64>()
        .map_err(|_| format!("`{}` is not a non-negative whole number", shown(value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_key() {
        let spec: FaultSpec = "429=0.1, 503=0.05,500=0.02,drop=0.02,late=0.02,latency=20ms,late-by=300ms,retry-after=0,billing-suspended-after=50"
            .parse()
            .unwrap();
        assert_eq!(
            spec,
            FaultSpec {
                p429: 0.1,
                p503: 0.05,
                p500: 0.02,
                drop: 0.02,
                late: 0.02,
                latency: Duration::from_millis(20),
                late_by: Some(Duration::from_millis(300)),
                retry_after: Some(0),
                billing_suspended_after: Some(50),
                monthly_quota_after: None,
            }
        );
    }

    #[test]
    fn empty_spec_means_no_faults_and_documented_defaults() {
        let spec: FaultSpec = "".parse().unwrap();
        assert_eq!(spec, FaultSpec::default());
        assert_eq!(spec.late_by(), Duration::from_secs(3));
        assert_eq!(spec.retry_after(), 1);
        assert_eq!(spec.pick(0.0), None);
    }

    #[test]
    fn rejects_bad_items_naming_them_and_listing_keys() {
        for (bad, named) in [
            ("timeout=0.1", "timeout=0.1"),
            ("429", "429"),
            ("500=1.5", "500=1.5"),
            ("drop=-0.1", "drop=-0.1"),
            ("latency=-5ms", "latency=-5ms"),
            ("late-by=soon", "late-by=soon"),
            ("retry-after=1.5", "retry-after=1.5"),
            ("429=0.1,429=0.2", "429=0.2"),
        ] {
            let err = bad.parse::<FaultSpec>().unwrap_err();
            assert!(err.contains(named), "{bad}: {err}");
            assert!(err.contains(VALID_KEYS), "{bad}: {err}");
        }
    }

    #[test]
    fn rejects_probabilities_adding_up_to_more_than_one() {
        let err = "429=0.6,500=0.6".parse::<FaultSpec>().unwrap_err();
        assert!(err.contains("more than 1"), "{err}");
    }

    #[test]
    fn draw_bands_follow_the_documented_order() {
        let spec: FaultSpec = "429=0.1,503=0.1,500=0.1,drop=0.1,late=0.1".parse().unwrap();
        let picks: Vec<_> = [0.05, 0.15, 0.25, 0.35, 0.45, 0.55]
            .into_iter()
            .map(|d| spec.pick(d))
            .collect();
        assert_eq!(
            picks,
            [
                Some(Fault::TooManyRequests),
                Some(Fault::Unavailable),
                Some(Fault::Internal),
                Some(Fault::Drop),
                Some(Fault::Late),
                None
            ]
        );
    }
}
