//! Every request of a `status` or `cancel` pass: paced, retried when safe, and held by the
//! `Retry-After` of any answer.

use std::time::Duration;

use jiff::Timestamp;

use crate::clock::Clock;
use crate::journal::Record;
use crate::pacing::{Backoff, MAX_RETRY_AFTER, Pacer, WaitTooLong};
use crate::provider::messages::Messages;
use crate::provider::{ErrorClass, SendError};
use crate::retry::{Attempt, RetryGate};
use crate::shutdown::Shutdown;

use super::Numbers;

/// Why a request through the [`Gate`] did not succeed.
#[derive(Debug)]
pub enum Refused {
    /// SIGINT/SIGTERM: stop the pass, keep what was learned (exit 3).
    Stopped,
    /// A `Retry-After` above [`crate::pacing::MAX_RETRY_AFTER`]: stop, rerun later.
    WaitTooLong(WaitTooLong),
    /// An earlier answer asked number `who` to wait until `until`, beyond what a run waits.
    Held { who: String, until: Timestamp },
    /// The API's answer after any retries; its class says whether the pass goes on.
    Api(SendError),
}

impl Refused {
    /// One line for the log and the summary: why the pass stopped.
    pub fn reason(&self) -> String {
        match self {
            Refused::Stopped => "interrupted".into(),
            Refused::WaitTooLong(wait) => wait.to_string(),
            Refused::Held { who, until } => format!(
                "an earlier answer asked {who} to wait until {until}, beyond the {} this tool \
                 waits: rerun after then (or with --ignore-earlier-retry-after once the API \
                 lifted its limit)",
                crate::fmt::human(MAX_RETRY_AFTER)
            ),
            // The client has already made its texts fit for one line (`messages::shown`).
            Refused::Api(e) => format!(
                "HTTP {} {}: {}",
                e.http_status.map_or("-".into(), |s| s.to_string()),
                e.code,
                e.message
            ),
        }
    }
}

impl From<WaitTooLong> for Refused {
    fn from(wait: WaitTooLong) -> Refused {
        Refused::WaitTooLong(wait)
    }
}

impl Attempt for Refused {
    /// Lookups and cancels are safe to repeat: anything transient is asked again.
    fn transient(&self) -> Option<&SendError> {
        match self {
            Refused::Api(error) if error.class == ErrorClass::Retryable => Some(error),
            _ => None,
        }
    }
}

/// A lookup's or a cancel's failure: a final answer beyond the ceiling stops the pass like a
/// retried one (the request is safe to repeat on the rerun).
impl crate::retry::Answered for Refused {
    fn answer(&self) -> Option<&SendError> {
        match self {
            Refused::Api(error) => Some(error),
            _ => None,
        }
    }
}

/// An answer that can ask the next request to wait (a `Retry-After` on a 200).
pub trait AsksToWait {
    fn retry_after(&self) -> Option<Duration>;
}

impl AsksToWait for crate::provider::messages::MessageState {
    fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl AsksToWait for crate::provider::messages::CancelAnswer {
    fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

/// Paces every request and retries the transient ones through the [`RetryGate`].
pub struct Gate {
    pub(super) pacer: Pacer,
    pub(super) backoff: Backoff,
    pub(super) clock: Clock,
    pub(super) shutdown: Shutdown,
    /// A successful answer's `Retry-After` beyond what this tool waits: that answer is kept,
    /// and every later request stops with it.
    pub(super) too_long: std::sync::Mutex<Option<WaitTooLong>>,
}

impl Gate {
    /// Where the pacer publishes the next request's turn, for the progress view.
    pub fn next_start(&self) -> crate::pacing::NextStart {
        self.pacer.next_start()
    }

    /// Runs `request` with the client of the number that sent `record`, in its turn, until
    /// it succeeds, fails for good, or attempts run out (then the last error comes back,
    /// still [`ErrorClass::Retryable`]). The number's first request waits what an earlier
    /// answer asked of it; any answer's `Retry-After` holds the next request, and is kept
    /// for the number in the ledger.
    pub async fn call<'a, T, F, Fut>(
        &self,
        api: &'a Numbers,
        record: &Record,
        what: &str,
        mut request: F,
    ) -> Result<T, Refused>
    where
        T: AsksToWait,
        F: FnMut(&'a Messages) -> Fut,
        Fut: Future<Output = Result<T, SendError>>,
    {
        let too_long = || self.too_long.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(wait) = *too_long() {
            return Err(Refused::WaitTooLong(wait));
        }
        let number = api.number(record);
        api.wait_asked(number, &self.pacer, &self.clock)?;
        let gate = RetryGate {
            backoff: &self.backoff,
            clock: &self.clock,
            pacer: &self.pacer,
            stop: &self.shutdown,
            halt: None,
        };
        let attempt = || {
            let request = request(&number.messages);
            async move {
                tokio::select! {
                    biased;
                    _ = self.shutdown.requested() => return Err(Refused::Stopped),
                    _ = self.pacer.ready() => {}
                }
                let answer = request.await;
                let asked = match &answer {
                    Ok(answer) => answer.retry_after(),
                    Err(error) => error.retry_after,
                };
                api.keep_wait(number, asked, self.clock.wall());
                answer.map_err(Refused::Api)
            }
        };
        let answer = gate.run(|| what.to_string(), attempt).await?;
        if let Err(wait) = crate::retry::honor(&self.pacer, answer.retry_after()) {
            too_long().get_or_insert(wait);
        }
        Ok(answer)
    }
}
