//! Where text goes: log lines on stderr (text for people, JSON for collectors), command
//! output on stdout, and the bar's place among them, so a log line never tears the bar.

use std::fmt;
use std::io::{self, IsTerminal, Write};
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
/// ends the output quietly: the command still finishes and exits with its own code. Any
/// other failure (a full disk under `> report.txt`) comes back: output that is the command's
/// product (a report, a script) must then fail the command, not exit 0 with half of it.
pub fn print_out(text: impl fmt::Display) -> io::Result<()> {
    let mut out = io::stdout().lock();
    quiet_if_gone(write!(out, "{text}").and_then(|()| out.flush()), ())
}

/// `result`, with a reader that went away counted as success: `done`.
fn quiet_if_gone<T>(result: io::Result<T>, done: T) -> io::Result<T> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(done),
        result => result,
    }
}

/// [`print_out`], for output that only reports work already done and recorded elsewhere (a
/// send's summary, the results file holds it): a failure is said, and the exit code stays
/// the work's.
pub(crate) fn print_done(text: impl fmt::Display) {
    if let Err(e) = print_out(text) {
        tracing::warn!("cannot write to stdout: {e}");
    }
}

/// Stdout for output written as it is made (a dry run's bodies, through a buffer): the
/// first failure is kept, so the command can fail for it at the end, however the buffer
/// happened to meet it; a reader that went away is not one ([`print_out`]).
#[derive(Debug, Clone, Default)]
pub struct Stdout {
    lost: std::sync::Arc<OnceLock<String>>,
}

impl Stdout {
    /// Why some output never reached stdout, if it did not.
    pub fn lost(&self) -> Option<&str> {
        self.lost.get().map(String::as_str)
    }

    fn kept<T>(&self, result: io::Result<T>, done: T) -> io::Result<T> {
        quiet_if_gone(result, done).inspect_err(|e| {
            self.lost.get_or_init(|| e.to_string());
        })
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // A reader gone: everything counts as written, so the run goes on quietly.
        self.kept(io::stdout().write(buf), buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.kept(io::stdout().flush(), ())
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
