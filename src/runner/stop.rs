//! Why a run, or one sender's lane, ended before the end of its input, and how that is told.

use crate::journal::Status;
use crate::pacing::WaitTooLong;
use crate::provider::{ErrorClass, MessageSetting, SendError};
use crate::settings::Settings;
use crate::window;

/// Why the send loop ended early.
#[derive(Debug)]
pub(super) enum Stop {
    Shutdown,
    Fatal(SendError),
    /// The API's address answered with a redirect (never followed): fix `--base-url`.
    Misdirected(SendError),
    RetriesExhausted(SendError),
    /// `--max-consecutive-failures` rows in a row `FAILED` with this error.
    Breaker(SendError),
    /// `--max-consecutive-failures` rows in a row `UNCERTAIN` with this error: an outage.
    UncertainStreak(SendError),
    /// The API refused a message setting the campaign gave (its template, its media).
    Setting(MessageSetting, SendError),
    /// A `Retry-After` beyond [`crate::pacing::MAX_RETRY_AFTER`]: not waited for here. The
    /// status the answer left its row in: `DEFERRED` for a refusal to retry, else the final
    /// one (`FAILED`, `UNCERTAIN`).
    WaitTooLong(WaitTooLong, Status),
    /// An earlier run's answer asked this number to wait until then, beyond what a run
    /// waits ([`crate::pacing::hold`]): it sent nothing this run.
    Held(jiff::Timestamp),
    Window(window::Closed),
    /// The number's `--daily-cap` is spent for the rolling 24 h.
    DailyCap(crate::ledger::CapReached),
    /// The ledger could not record a send's intent (the problem, naming the ledger): the
    /// run cannot keep its caps, so it sends nothing more, whichever number.
    Ledger(String),
}

impl Stop {
    /// Whether this stops only the lane (number) it happened in: its account, address or
    /// limits; the other numbers go on.
    pub(super) fn ends_lane(&self) -> bool {
        match self {
            Stop::Fatal(_)
            | Stop::Misdirected(_)
            | Stop::RetriesExhausted(_)
            | Stop::WaitTooLong(..)
            | Stop::Held(_)
            | Stop::Breaker(_)
            | Stop::UncertainStreak(_)
            | Stop::Setting(..)
            | Stop::DailyCap(_) => true,
            Stop::Shutdown | Stop::Window(_) | Stop::Ledger(_) => false,
        }
    }
}

/// Why the run, or one sender's lane (`label`), stopped early.
pub(super) fn log_stop(label: &str, stop: &Stop, settings: &Settings) {
    let who = match label {
        "" => String::new(),
        label => format!("sender {label}: "),
    };
    let rest = match label {
        "" => "nothing more was sent",
        _ => "this number sent nothing more; the other numbers went on",
    };
    match stop {
        Stop::Shutdown => {
            tracing::warn!("stopped on request; rerun the same command to continue")
        }
        Stop::Fatal(e) => tracing::error!(
            "{who}the API refused the campaign (HTTP {} {}: {}); {rest}. Fix the account or key, then rerun the same command",
            e.http_status.map_or("-".into(), |s| s.to_string()),
            e.code,
            e.message
        ),
        Stop::Misdirected(e) => tracing::error!(
            "{who}{}; the row is {} and {rest}. With --base-url (or {}) corrected, rerun \
             with --retarget: the results file remembers this address",
            e.message,
            match e.class {
                ErrorClass::Misdirected {
                    may_have_sent: true,
                } => "UNCERTAIN (check it before --resend-uncertain)",
                _ => "DEFERRED",
            },
            settings.provider.base_url_env()
        ),
        Stop::WaitTooLong(wait, status) => {
            let rerun = match status {
                Status::Deferred => "a rerun once the wait is over sends it",
                Status::Uncertain => {
                    "it may have been delivered and is not resent (check it by hand); a rerun \
                     once the wait is over continues with the rows not reached"
                }
                _ => "a rerun once the wait is over continues with the rows not reached",
            };
            tracing::error!("{who}{wait}. The row is {status} and {rest}; {rerun}")
        }
        Stop::Held(until) => tracing::error!(
            "{who}an earlier run's answer asked to wait until {until}, more than the {} a run \
             waits; {}. Rerun the same command after that time (a cron rerun goes on by \
             itself then), or with --ignore-earlier-retry-after if the API lifted its limit",
            crate::fmt::human(crate::pacing::MAX_RETRY_AFTER),
            match label {
                "" => "nothing was sent",
                _ => "this number sent nothing; the other numbers went on",
            }
        ),
        Stop::RetriesExhausted(e) => tracing::error!(
            "{who}the API kept refusing for now ({}: {}) after {} attempts; the row is DEFERRED and {rest}. Rerun later to continue",
            e.code,
            e.message,
            settings.backoff.max_attempts
        ),
        Stop::Breaker(e) => tracing::error!(
            "{who}{} rows in a row FAILED with {} (HTTP {}: {}); {rest}. This is usually the \
             campaign's mistake, not the recipients': fix what {} says (the template, a \
             field, the account), then rerun with --retry-failed={} to send the FAILED rows \
             again with the rest (or raise --max-consecutive-failures, 0 turns it off)",
            settings.max_consecutive_failures,
            e.code,
            e.http_status.map_or("-".into(), |s| s.to_string()),
            e.message,
            e.code,
            e.code
        ),
        Stop::UncertainStreak(e) => tracing::error!(
            "{who}{} rows in a row are UNCERTAIN, the last with {} (HTTP {}: {}): the API's answers left \
             those sends uncertain, so {rest}. They may have been delivered and are not resent: \
             check them (dashboard, or `GET /v1/messages/history` for those numbers) before \
             any --resend-uncertain. Rerun the same command later: it continues with the rows \
             not reached",
            settings.max_consecutive_failures,
            e.code,
            e.http_status.map_or("-".into(), |s| s.to_string()),
            e.message
        ),
        Stop::Setting(setting, e) => tracing::error!(
            "{who}the API refused the campaign's {} (HTTP {} {}: {}); the row is DEFERRED and \
             {rest}. Fix {} (or the campaign file's key), then rerun the same command: every \
             row not yet sent goes out once",
            setting.flag(),
            e.http_status.map_or("-".into(), |s| s.to_string()),
            e.code,
            e.message,
            setting.flag()
        ),
        Stop::Window(closed) => tracing::warn!("{closed}"),
        Stop::Ledger(problem) => tracing::error!(
            "the ledger could not record the send, so its request did not leave, and nothing \
             more was sent (the row is DEFERRED: a rerun sends it). Once the ledger is free \
             (another program holding it, its permissions, its disk), rerun the same \
             command. {problem}"
        ),
        Stop::DailyCap(reached) => {
            tracing::warn!("{who}{reached}; {rest}, its rows stay pending: rerun then to continue")
        }
    }
}
