//! Why a run, or one sender's lane, ended before the end of its input, and how that is told.

use crate::provider::SendError;
use crate::settings::Settings;
use crate::window;

/// Why the send loop ended early.
#[derive(Debug)]
pub(super) enum Stop {
    Shutdown,
    Fatal(SendError),
    RetriesExhausted(SendError),
    Window(window::Closed),
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
        Stop::RetriesExhausted(e) => tracing::error!(
            "{who}the API kept refusing for now ({}: {}) after {} attempts; the row is DEFERRED and {rest}. Rerun later to continue",
            e.code,
            e.message,
            settings.backoff.max_attempts
        ),
        Stop::Window(closed) => tracing::warn!("{closed}"),
    }
}
