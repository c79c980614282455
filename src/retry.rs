//! The one retry gate of every request to the API: a send (in the runner), a status lookup
//! and a cancel. backon draws the exponential backoff with jitter; what the gate adds is the
//! same for all of them: a `Retry-After` replaces the backoff's delay (but never revives
//! attempts that ran out) and holds the caller's pacer, a `Retry-After` beyond
//! [`crate::pacing::MAX_RETRY_AFTER`] ends the retries at once, and every wait goes through
//! the injected clock and ends early on a stop.
//!
//! What is worth another attempt is each caller's to say ([`Attempt::transient`]): a send
//! retries only what was definitely not accepted, a lookup or a cancel anything transient.

use std::future::Future;

use backon::Retryable as _;

use crate::clock::Clock;
use crate::pacing::{Backoff, Pacer, WaitTooLong};
use crate::provider::SendError;
use crate::shutdown::Shutdown;

/// A failed attempt, as the gate needs to see it.
pub(crate) trait Attempt: From<WaitTooLong> {
    /// The API's refusal behind this failure when another attempt may succeed; `None` ends
    /// the retries with this failure.
    fn transient(&self) -> Option<&SendError>;
}

/// How one caller retries: its backoff, its clock, its pacer (held by a `Retry-After`), and
/// the stop signals that cut a wait short.
pub(crate) struct RetryGate<'a> {
    pub(crate) backoff: &'a Backoff,
    pub(crate) clock: &'a Clock,
    pub(crate) pacer: &'a Pacer,
    pub(crate) stop: &'a Shutdown,
    /// A second stop: a lane's own, when one number stops and the others go on.
    pub(crate) halt: Option<&'a Shutdown>,
}

impl RetryGate<'_> {
    /// Runs `attempt` until it succeeds, fails for good, or attempts run out (then its last
    /// failure comes back, still transient). `what` names the request in the log line of
    /// each retry.
    pub(crate) async fn run<T, E, F, Fut>(
        &self,
        what: impl Fn() -> String,
        mut attempt: F,
    ) -> Result<T, E>
    where
        E: Attempt,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let once = || {
            let result = attempt();
            async move {
                let error = match result.await {
                    Err(error) => error,
                    ok => return ok,
                };
                let retry_after = error.transient().and_then(|e| e.retry_after);
                if let Some(wait) = retry_after {
                    self.pacer.hold(wait);
                }
                match WaitTooLong::check(retry_after) {
                    Some(too_long) => Err(E::from(too_long)),
                    None => Err(error),
                }
            }
        };
        // backon wants a sleeper that owns what it waits on.
        let (clock, stop, halt) = (self.clock.clone(), self.stop.clone(), self.halt.cloned());
        once.retry(self.backoff.policy())
            .sleep(move |wait| {
                let (clock, stop, halt) = (clock.clone(), stop.clone(), halt.clone());
                async move {
                    let halted = async {
                        match &halt {
                            Some(halt) => halt.requested().await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        _ = clock.sleep(wait) => {}
                        _ = stop.requested() => {}
                        _ = halted => {}
                    }
                }
            })
            .when(|e: &E| e.transient().is_some())
            .adjust(|e, backoff| match e.transient() {
                // Retry-After replaces the backoff, but never revives exhausted attempts.
                Some(SendError {
                    retry_after: Some(wait),
                    ..
                }) => backoff.map(|_| *wait),
                _ => backoff,
            })
            .notify(|e, wait| {
                if let Some(e) = e.transient() {
                    tracing::info!(
                        "{}: {} ({}), retrying in {}",
                        what(),
                        e.code,
                        e.message,
                        crate::fmt::human(wait)
                    );
                }
            })
            .await
    }
}
