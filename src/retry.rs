//! The one retry gate of every request to the API: a send (in the runner), a status lookup
//! and a cancel. backon draws the exponential backoff with jitter; what the gate adds is the
//! same for all of them: a `Retry-After` replaces the backoff's delay (but never revives
//! attempts that ran out), the `Retry-After` of any answer (retried or final: a 500, a 400)
//! holds the caller's pacer, a `Retry-After` beyond [`crate::pacing::MAX_RETRY_AFTER`] ends
//! the retries at once, and every wait goes through the injected clock and ends early on a
//! stop.
//!
//! What is worth another attempt is each caller's to say ([`Attempt::transient`]): a send
//! retries only what was definitely not accepted, a lookup or a cancel anything transient.

use std::future::Future;
use std::time::Duration;

use backon::Retryable as _;

use crate::clock::Clock;
use crate::pacing::{Backoff, Pacer, WaitTooLong};
use crate::provider::SendError;
use crate::shutdown::Shutdown;

/// A failed attempt, as the gate needs to see it.
pub(crate) trait Attempt: From<WaitTooLong> + Answered {
    /// The API's refusal behind this failure when another attempt may succeed; `None` ends
    /// the retries with this failure.
    fn transient(&self) -> Option<&SendError>;
}

/// The API's answer behind a failure, whether or not it is worth another attempt: the API
/// asks every client to honor a `Retry-After` before any further request, whatever the
/// answer's status.
pub(crate) trait Answered: From<WaitTooLong> {
    /// The answer behind this failure, if one came.
    fn answer(&self) -> Option<&SendError>;

    /// This final (not retried) failure once its answer asked for a wait beyond the ceiling.
    /// By default the ceiling's stop replaces it; a caller that must record the answer first
    /// keeps it, and stops itself.
    fn beyond_ceiling(self, wait: WaitTooLong) -> Self {
        Self::from(wait)
    }
}

/// Honors an answer's `Retry-After`: holds `pacer` that long, or, beyond
/// [`crate::pacing::MAX_RETRY_AFTER`], leaves the pacer as it is and says to stop instead.
pub(crate) fn honor(pacer: &Pacer, retry_after: Option<Duration>) -> Result<(), WaitTooLong> {
    if let Some(too_long) = WaitTooLong::check(retry_after) {
        return Err(too_long);
    }
    if let Some(wait) = retry_after {
        pacer.hold(wait);
    }
    Ok(())
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
            // Boxed: backon moves the attempt around as it retries, and an attempt holds a
            // whole request's state (several kilobytes) copied at every move.
            let result = Box::pin(attempt());
            async move {
                let error = match result.await {
                    Err(error) => error,
                    ok => return ok,
                };
                match honor(self.pacer, error.answer().and_then(|e| e.retry_after)) {
                    Ok(()) => Err(error),
                    Err(too_long) if error.transient().is_some() => Err(E::from(too_long)),
                    Err(too_long) => Err(error.beyond_ceiling(too_long)),
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

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::time::Duration;

    use super::*;
    use crate::pacing::{MAX_RETRY_AFTER, Spacing};
    use crate::provider::ErrorClass;

    /// A failure as a caller would have it: the API's error, or the gate's ceiling.
    #[derive(Debug)]
    enum Failure {
        Api(SendError),
        TooLong(WaitTooLong),
    }

    impl From<WaitTooLong> for Failure {
        fn from(wait: WaitTooLong) -> Failure {
            Failure::TooLong(wait)
        }
    }

    impl Attempt for Failure {
        fn transient(&self) -> Option<&SendError> {
            self.answer().filter(|e| e.class == ErrorClass::Retryable)
        }
    }

    impl Answered for Failure {
        fn answer(&self) -> Option<&SendError> {
            match self {
                Failure::Api(e) => Some(e),
                Failure::TooLong(_) => None,
            }
        }
    }

    fn refusal(class: ErrorClass, retry_after: Option<Duration>) -> Failure {
        Failure::Api(SendError {
            class,
            http_status: Some(429),
            code: "RATE_LIMITED".into(),
            message: "slow down".into(),
            retry_after,
        })
    }

    /// Runs `answer(n)` for attempts n = 1, 2, … through a gate of `max_attempts` whose own
    /// backoff is an hour; returns the outcome, the attempts made and the simulated time
    /// that passed until the pacer let the next request go.
    fn run(
        max_attempts: u32,
        answer: impl Fn(u32) -> Result<u32, Failure>,
    ) -> (Result<u32, Failure>, u32, Duration) {
        let start = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let clock = Clock::simulated(start);
        let hour = Duration::from_secs(3600);
        let backoff = Backoff {
            max_attempts,
            min: hour,
            max: hour,
        };
        let pacer = Pacer::new(None, Spacing::NONE, clock.clone(), None);
        let stop = Shutdown::new();
        let gate = RetryGate {
            backoff: &backoff,
            clock: &clock,
            pacer: &pacer,
            stop: &stop,
            halt: None,
        };
        let attempts = Cell::new(0);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let outcome = runtime.block_on(gate.run(
            || "test".into(),
            || {
                attempts.set(attempts.get() + 1);
                std::future::ready(answer(attempts.get()))
            },
        ));
        runtime.block_on(pacer.ready());
        let passed = clock.wall().duration_since(start).unsigned_abs();
        (outcome, attempts.get(), passed)
    }

    #[test]
    fn retry_after_replaces_the_backoff() {
        let seconds = |s| Some(Duration::from_secs(s));
        let (outcome, attempts, passed) = run(3, |n| match n {
            1 => Err(refusal(ErrorClass::Retryable, seconds(2))),
            2 => Err(refusal(ErrorClass::Retryable, seconds(3))),
            _ => Ok(n),
        });
        assert_eq!(outcome.unwrap(), 3);
        assert_eq!(attempts, 3);
        assert_eq!(
            passed,
            Duration::from_secs(5),
            "the waits were the Retry-Afters"
        );
    }

    #[test]
    fn retry_after_never_revives_exhausted_attempts() {
        // Without the limit the gate would go on; the tenth attempt ends any such loop.
        let (outcome, attempts, _) = run(2, |n| match n {
            10 => Err(refusal(ErrorClass::RowFatal, None)),
            _ => Err(refusal(ErrorClass::Retryable, Some(Duration::ZERO))),
        });
        assert_eq!(attempts, 2);
        assert!(
            outcome.unwrap_err().transient().is_some(),
            "the last 429 comes back"
        );
    }

    #[test]
    fn only_what_the_caller_calls_transient_is_tried_again() {
        let (outcome, attempts, passed) = run(5, |_| Err(refusal(ErrorClass::Ambiguous, None)));
        assert!(matches!(outcome, Err(Failure::Api(e)) if e.class == ErrorClass::Ambiguous));
        assert_eq!((attempts, passed), (1, Duration::ZERO));
    }

    #[test]
    fn a_final_answer_s_retry_after_holds_the_next_request_without_a_retry() {
        for class in [ErrorClass::Ambiguous, ErrorClass::RowFatal] {
            let (outcome, attempts, passed) =
                run(5, |_| Err(refusal(class, Some(Duration::from_secs(5)))));
            assert!(matches!(outcome, Err(Failure::Api(e)) if e.class == class));
            assert_eq!((attempts, passed), (1, Duration::from_secs(5)), "{class:?}");
        }
    }

    #[test]
    fn a_final_answer_beyond_the_ceiling_becomes_the_ceiling_s_stop() {
        let too_long = MAX_RETRY_AFTER + Duration::from_secs(1);
        let (outcome, attempts, passed) =
            run(5, |_| Err(refusal(ErrorClass::Ambiguous, Some(too_long))));
        assert!(matches!(outcome, Err(Failure::TooLong(WaitTooLong(w))) if w == too_long));
        assert_eq!((attempts, passed), (1, Duration::ZERO));
    }

    #[test]
    fn a_retry_after_beyond_the_ceiling_ends_the_retries_at_once() {
        let too_long = MAX_RETRY_AFTER + Duration::from_secs(1);
        let (outcome, attempts, passed) =
            run(5, |_| Err(refusal(ErrorClass::Retryable, Some(too_long))));
        assert!(matches!(outcome, Err(Failure::TooLong(WaitTooLong(w))) if w == too_long));
        assert_eq!((attempts, passed), (1, Duration::ZERO));
    }
}
