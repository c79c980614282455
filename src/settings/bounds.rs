//! The longest wait each setting may ask for. Everything a user types is bounded at set-up:
//! a spacing of 2,912,109 days or a timeout of a century is a slipped unit, not a pace, and
//! would hold the campaign's lock (and a terminal) for ever instead of stopping before any
//! send with a message saying what to write.

use std::time::Duration;

use crate::pacing::{DAY, MAX_RETRY_AFTER, Spacing, parse_timeout};

/// A user-given wait and the longest this tool accepts for it.
pub struct Limit {
    /// The flag, which is also the campaign-file key.
    flag: &'static str,
    max: Duration,
    /// Why nobody needs more, for the message.
    why: &'static str,
    /// A value to write instead.
    example: &'static str,
}

/// `--spacing`: at most 24 h between two sends. The slowest quota `--rate` writes is N/d,
/// so a longer pause is slower than any pace the tool can express, and a marketing pace is
/// seconds to minutes; a campaign meant to go out once a day uses `--rate 1/d` or `--window`.
pub const SPACING: Limit = Limit {
    flag: "spacing",
    max: DAY,
    why: "a pause longer than a day is slower than the slowest --rate (N/d); to send once a \
          day use --rate 1/d or --window",
    example: "8s..25s",
};

/// `--backoff`: at most 1 h between two attempts of a row, the longest `Retry-After` a run
/// honors ([`MAX_RETRY_AFTER`]): waiting longer than the API itself may ask helps no one, and
/// a row not accepted by then is left DEFERRED for a rerun.
pub const BACKOFF: Limit = Limit {
    flag: "backoff",
    max: MAX_RETRY_AFTER,
    why: "the longest Retry-After a run waits for; a row still refused is left DEFERRED for a \
          rerun",
    example: "1s..60s",
};

/// `--timeout`: at most 10 min for one answer. The default is 30 s and an API that takes
/// minutes to answer one request is down; every second past that is a send whose outcome
/// stays unknown (UNCERTAIN) the longer.
pub const TIMEOUT: Limit = Limit {
    flag: "timeout",
    max: Duration::from_secs(600),
    why: "an API that has not answered one request in 10 minutes is down",
    example: "30s",
};

/// `--keep-alive`: at most 5 min of idle reuse. Servers close idle connections after seconds
/// to a few minutes; a client keeping one longer only meets the close more often.
pub const KEEP_ALIVE: Limit = Limit {
    flag: "keep-alive",
    max: Duration::from_secs(300),
    why: "servers close idle connections sooner, and a send on a connection being closed ends \
          UNCERTAIN",
    example: "2s",
};

/// `--frequency-cap`'s period: at most 366 days, a year with its leap day, the longest
/// "at most N messages per recipient" a marketing calendar speaks of.
pub const FREQUENCY_CAP: Limit = Limit {
    flag: "frequency-cap",
    max: Duration::from_secs(366 * 24 * 3600),
    why: "a year (366 days) is the longest period a frequency cap counts over",
    example: "1/7d",
};

/// `--sandbox-faults` `latency` and `late-by`: a rehearsal's slowness, at most the longest
/// [`TIMEOUT`]; slower than that it rehearses nothing more than an answer that never comes.
pub const SANDBOX_DELAY: Limit = Limit {
    flag: "sandbox-faults",
    max: TIMEOUT.max,
    why: "slower than the longest --timeout, every request already times out",
    example: "latency=20ms,late-by=3s",
};

/// `--max-attempts`: at most 100 attempts of one row in one run. Even at the shortest
/// backoff that is minutes of one row's retrying, at the longest over an hour and a half;
/// a row the API still refuses is left DEFERRED for a rerun, which starts its count again.
pub const MAX_ATTEMPTS: u32 = 100;

/// Where the value may have been written, for the fix the message suggests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// A command whose options are flags only (`status`, `cancel`).
    Flag,
    /// A campaign setting: a flag or the campaign file's key of the same name.
    FlagOrFile,
}

impl Limit {
    /// The same limit on a flag of another name (a subcommand's spelling of it).
    pub const fn named(self, flag: &'static str) -> Limit {
        Limit { flag, ..self }
    }

    /// `Ok` when `value` (written `given`) is within the limit; else the problem, naming the
    /// value, the maximum and the fix (the caller names the flag, see [`super::flag`]).
    pub fn check(&self, given: &str, value: Duration, written: Written) -> Result<(), String> {
        if value <= self.max {
            return Ok(());
        }
        let Limit {
            flag, why, example, ..
        } = self;
        let max = jiff::SignedDuration::try_from(self.max)
            .map_or_else(|_| crate::fmt::human(self.max), |max| format!("{max:#}"));
        let file = match written {
            Written::Flag => String::new(),
            Written::FlagOrFile => format!(" (or {flag} = \"{example}\" in the campaign file)"),
        };
        Err(format!(
            "'{}' is longer than {max}, the longest allowed: {why}. Write a shorter one, \
             e.g. --{flag} {example}{file}",
            crate::fmt::shown(given)
        ))
    }
}

/// A `MIN..MAX` range no longer than `limit`.
pub fn range(limit: &Limit, text: &str, written: Written) -> Result<Spacing, String> {
    let range: Spacing = text.parse()?;
    limit.check(text, range.max, written).map(|()| range)
}

/// `--timeout`: above zero (see [`parse_timeout`]) and within [`TIMEOUT`].
pub fn timeout(text: &str, written: Written) -> Result<Duration, String> {
    let timeout = parse_timeout(text)?;
    TIMEOUT.check(text, timeout, written).map(|()| timeout)
}

/// `--keep-alive`: any duration (0: a new connection for every send) within [`KEEP_ALIVE`].
pub fn keep_alive(text: &str, written: Written) -> Result<Duration, String> {
    let idle = match text.trim() {
        "0" => Duration::ZERO,
        _ => crate::pacing::parse_duration(text)?,
    };
    KEEP_ALIVE.check(text, idle, written).map(|()| idle)
}

/// The value parser of a flag-only `--timeout` (see [`timeout`]).
pub fn timeout_flag(text: &str) -> Result<Duration, String> {
    timeout(text, Written::Flag)
}

/// The value parser of a flag-only `--backoff`, within [`BACKOFF`].
pub fn backoff_flag(text: &str) -> Result<Spacing, String> {
    range(&BACKOFF, text, Written::Flag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_value_the_maximum_and_the_fix() {
        let problem = range(&SPACING, "1s..2912109h", Written::FlagOrFile).unwrap_err();
        for needle in [
            "'1s..2912109h'",
            "24h",
            "--spacing 8s..25s",
            "spacing = \"8s..25s\"",
        ] {
            assert!(problem.contains(needle), "{needle}: {problem}");
        }
        let flag_only = timeout_flag("601s").unwrap_err();
        assert!(flag_only.ends_with("e.g. --timeout 30s"), "{flag_only}");
        assert_eq!(range(&SPACING, "24h", Written::Flag).unwrap().max, DAY);
        assert!(timeout_flag("10m").is_ok());
        assert!(backoff_flag("1s..1h").is_ok() && backoff_flag("1s..61m").is_err());
    }
}
