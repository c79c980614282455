//! Where text goes: log lines on stderr (text for people, JSON for collectors), command
//! output on stdout, and the bar's place among them, so a log line never tears the bar.

use std::fmt;
use std::io::{IsTerminal, Write};
use std::sync::{Mutex, OnceLock};

use indicatif::ProgressBar;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The bar currently drawn, so log lines can be printed above it without tearing it.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// How log lines look: `text` for people, `json` for log collectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The format chosen at start-up: the preflight report and the summary follow it too.
static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Whether stderr carries JSON lines only (no table, no bar).
pub(crate) fn json_logs() -> bool {
    FORMAT.get() == Some(&LogFormat::Json)
}

/// Whether log lines may carry colours: only on a terminal, and never when `NO_COLOR` is set
/// to anything but the empty string (no-color.org).
fn ansi(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Starts logging to stderr. `verbosity` counts -v minus -q: 0 is info, 1 debug, -1 warnings.
/// `RUST_LOG` still wins for whoever needs a finer filter.
pub fn init_logging(verbosity: i8, format: LogFormat) {
    let _ = FORMAT.set(format);
    let level = match verbosity {
        i8::MIN..=-2 => "error",
        -1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    // Our crate at the chosen level; dependencies (hyper, reqwest) stay at warn so request
    // internals never flood the log.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("warn,campaign_sender={level}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(BarAwareStderr)
        // A log that cannot be written (a cron log on a full disk) must not stop the run:
        // the subscriber's own report of it goes to the same stderr, and panics there.
        .log_internal_errors(false)
        .with_target(false)
        .with_ansi(ansi(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR"),
        ));
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Writes a command's output to stdout. A reader that went away (`| head -1`, `| true`)
/// ends the output quietly: the command still finishes and exits with its own code.
pub fn print_out(text: impl fmt::Display) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = write!(out, "{text}").and_then(|()| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        tracing::warn!("cannot write to stdout: {e}");
    }
}

/// Writes text meant for people to stderr (a closed stderr is not worth failing for).
pub(crate) fn print_err(text: impl fmt::Display) {
    let _ = write!(BarAwareStderr, "{text}");
}

/// Makes `bar` the one log lines are printed above (`None` once it is cleared).
pub(super) fn set_bar(bar: Option<ProgressBar>) {
    *BAR.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = bar;
}

/// Writes log lines to stderr, hiding the bar for the moment of the write.
struct BarAwareStderr;

impl<'a> MakeWriter<'a> for BarAwareStderr {
    type Writer = BarAwareStderr;

    fn make_writer(&'a self) -> Self::Writer {
        BarAwareStderr
    }
}

impl Write for BarAwareStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = BAR
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match bar {
            Some(bar) => bar
                .suspend(|| std::io::stderr().write_all(buf))
                .map(|()| buf.len()),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_only_on_a_terminal_and_never_with_no_color() {
        assert!(ansi(true, None));
        assert!(ansi(true, Some("".into())), "an empty NO_COLOR is unset");
        assert!(!ansi(true, Some("1".into())));
        assert!(!ansi(false, None));
    }
}
