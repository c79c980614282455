//! What the people watching see: a progress bar on a terminal, plain log lines for cron, and
//! the end-of-run summary that says what happened and what to do next.

use std::fmt;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use jiff::Timestamp;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use std::collections::BTreeMap;

use crate::fmt::human;
use crate::input::validate::RowErrorCode;
use crate::journal::{Checkpoint, Status};
use crate::settings::Settings;

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
fn json_logs() -> bool {
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
fn print_err(text: impl fmt::Display) {
    let _ = write!(BarAwareStderr, "{text}");
}

/// The end-of-run summary: on stdout after a send, on stderr after a dry run (whose stdout is
/// the request bodies alone), and one JSON event with its counts under `--log-format json`.
pub fn show_summary(summary: &Summary) {
    if json_logs() {
        let text = summary.to_string();
        tracing::info!(
            rows = summary.rows,
            queued = summary.queued,
            failed = summary.failed,
            invalid = summary.invalid,
            uncertain = summary.uncertain,
            skipped = summary.skipped,
            pending = summary.pending,
            results = %summary.results.display(),
            dry_run = summary.dry_run,
            "{}",
            text.trim_end().replace('\n', "; ")
        );
    } else if summary.dry_run {
        print_err(summary);
    } else {
        print_out(summary);
    }
}

/// The preflight report: the table on stderr, or under `--log-format json` one event with
/// its counts (and one per note).
pub fn show_preflight(found: &Preflight) {
    if !json_logs() {
        print_err(found);
        return;
    }
    for note in &found.notes {
        tracing::warn!(csv = %found.csv.display(), "{note}");
    }
    let invalid: Vec<String> = found
        .invalid
        .iter()
        .map(|(code, (count, rows))| format!("{code} {count} ({})", rows_list(rows, *count)))
        .collect();
    tracing::info!(
        csv = %found.csv.display(),
        rows = found.rows,
        valid = found.valid,
        invalid = found.invalid_count(true),
        duplicates = found.duplicates().0,
        opted_out = found.opted_out.len(),
        already_done = found.done,
        to_send = found.to_send,
        estimated_secs = found.estimate().as_secs(),
        pace = %found.pace,
        window = found.window.as_deref().unwrap_or(""),
        invalid_rows = %invalid.join("; "),
        "preflight: {} rows, {} to send",
        found.rows,
        found.to_send
    );
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
        let bar = BAR.lock().expect("bar mutex").clone();
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

/// Live counts for the bar: rows done of total, queued and failed, ETA at the current pace.
pub struct Progress {
    bar: Option<ProgressBar>,
    queued: AtomicU64,
    failed: AtomicU64,
}

impl Progress {
    /// A bar over `total` rows, `done` of them already final; drawn only when `show` and
    /// stderr is a terminal (cron gets the log lines alone).
    pub fn new(total: u64, done: u64, show: bool) -> Progress {
        let bar = (show && std::io::stderr().is_terminal() && !json_logs()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30.green/dim} {pos}/{len} rows  {msg}  ETA {eta}",
                )
                .expect("a valid template"),
            );
            bar.set_position(done);
            bar.reset_eta();
            *BAR.lock().expect("bar mutex") = Some(bar.clone());
            bar
        });
        Progress {
            bar,
            queued: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    /// Counts one row that reached a status in this run.
    pub fn row_done(&self, status: Status) {
        match status {
            Status::Queued => self.queued.fetch_add(1, Ordering::Relaxed),
            Status::Failed | Status::Invalid | Status::Uncertain => {
                self.failed.fetch_add(1, Ordering::Relaxed)
            }
            _ => 0,
        };
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(format!(
                "{} queued, {} not accepted",
                self.queued.load(Ordering::Relaxed),
                self.failed.load(Ordering::Relaxed)
            ));
        }
    }

    /// Removes the bar before the summary is printed.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            *BAR.lock().expect("bar mutex") = None;
        }
    }
}

/// The state of the whole campaign after a run, read from the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub rows: u64,
    pub queued: u64,
    pub failed: u64,
    pub invalid: u64,
    pub uncertain: u64,
    pub skipped: u64,
    /// DEFERRED, SENDING, or not reached yet: a rerun will handle them.
    pub pending: u64,
    pub results: PathBuf,
    pub dry_run: bool,
}

impl Summary {
    /// Counts every input row by its last recorded status.
    pub fn from_checkpoint(
        checkpoint: &Checkpoint,
        rows: u64,
        results: &Path,
        dry_run: bool,
    ) -> Summary {
        let mut summary = Summary {
            rows,
            queued: 0,
            failed: 0,
            invalid: 0,
            uncertain: 0,
            skipped: 0,
            pending: rows,
            results: results.to_path_buf(),
            dry_run,
        };
        for (_, status) in checkpoint.statuses().take_while(|(row, _)| *row <= rows) {
            let counter = match status {
                Status::Queued => &mut summary.queued,
                Status::Failed => &mut summary.failed,
                Status::Invalid => &mut summary.invalid,
                Status::Uncertain => &mut summary.uncertain,
                Status::Skipped => &mut summary.skipped,
                Status::Sending | Status::Deferred => continue,
            };
            *counter += 1;
            summary.pending -= 1;
        }
        summary
    }

    /// 0: every row final and accepted; 1: every row final, some not accepted; 3: rows
    /// remain for a rerun. A dry run that got this far exits 0.
    pub fn exit_code(&self) -> u8 {
        if self.dry_run {
            0
        } else if self.pending > 0 {
            3
        } else if self.failed + self.invalid + self.uncertain > 0 {
            1
        } else {
            0
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dry_run {
            return writeln!(
                f,
                "dry run: nothing was sent and {} was not touched",
                self.results.display()
            );
        }
        writeln!(
            f,
            "{} rows: {} queued, {} failed, {} invalid, {} uncertain, {} skipped, {} pending",
            self.rows,
            self.queued,
            self.failed,
            self.invalid,
            self.uncertain,
            self.skipped,
            self.pending
        )?;
        writeln!(f, "results: {}", self.results.display())?;
        if self.uncertain > 0 {
            writeln!(
                f,
                "UNCERTAIN rows may have been delivered: check them (dashboard or `GET /v1/messages`) before \
                 rerunning with --resend-uncertain"
            )?;
        }
        if self.pending > 0 {
            writeln!(f, "not finished: rerun the same command to continue")?;
        } else {
            writeln!(
                f,
                "campaign done: every row is final; rerunning the same command sends nothing"
            )?;
        }
        Ok(())
    }
}

/// What the first pass over the input found, before anything is sent: printed before every
/// run and as the report of `--dry-run`, and the basis of `--strict` / `--max-invalid`.
#[derive(Debug)]
pub struct Preflight {
    pub csv: PathBuf,
    pub rows: u64,
    pub valid: u64,
    /// Rows valid but already final in the checkpoint.
    pub done: u64,
    pub to_send: u64,
    /// Invalid rows by error code: count and the first few row numbers.
    pub invalid: BTreeMap<&'static str, (u64, Vec<u64>)>,
    pub opted_out: Vec<u64>,
    /// Input warnings (encoding fallback, unused columns...).
    pub notes: Vec<String>,
    per_send: Duration,
    pace: String,
    strict: bool,
    max_invalid: f64,
    /// The send window's line: whether it is open at the start of the run.
    window: Option<String>,
}

const EXAMPLES: usize = 5;

impl Preflight {
    /// An empty report for this campaign's settings, at `now`.
    pub fn new(settings: &Settings, now: Timestamp) -> Preflight {
        let rate = settings.rate.map(|r| r.interval()).unwrap_or_default();
        let numbers = settings.senders.len() as u32;
        let per_number = match numbers {
            1 => String::new(),
            n => {
                let labels: Vec<&str> = settings.senders.iter().map(|s| s.label.as_str()).collect();
                format!(" per number, {n} numbers ({})", labels.join(", "))
            }
        };
        Preflight {
            csv: settings.csv.clone(),
            rows: 0,
            valid: 0,
            done: 0,
            to_send: 0,
            invalid: BTreeMap::new(),
            opted_out: Vec::new(),
            notes: Vec::new(),
            // The numbers send side by side, each at the full pace.
            per_send: settings.spacing.mean().max(rate) / numbers.max(1),
            pace: format!(
                "{}, spacing {}{per_number}",
                settings
                    .rate
                    .map_or("no quota".to_string(), |r| r.to_string()),
                settings.spacing
            ),
            strict: settings.strict,
            max_invalid: settings.max_invalid,
            window: settings.window.as_ref().map(|w| w.outlook(now)),
        }
    }

    /// Counts an invalid row under its code.
    pub fn count_invalid(&mut self, row: u64, code: RowErrorCode) {
        let entry = self.invalid.entry(code.as_str()).or_default();
        entry.0 += 1;
        if entry.1.len() < EXAMPLES {
            entry.1.push(row);
        }
    }

    fn invalid_count(&self, skip_duplicates: bool) -> u64 {
        self.invalid
            .iter()
            .filter(|(code, _)| {
                !(skip_duplicates && **code == RowErrorCode::DuplicateDestination.as_str())
            })
            .map(|(_, (n, _))| n)
            .sum()
    }

    /// `--strict` and `--max-invalid`: a file this bad is almost always the wrong column or
    /// the wrong file, and nothing should go out.
    pub fn check_limits(&self) -> Result<(), String> {
        let invalid = self.invalid_count(false);
        if self.strict && invalid > 0 {
            return Err(format!(
                "--strict: {invalid} of {} rows are invalid; fix them (see the report above) or drop --strict. Nothing was sent",
                self.rows
            ));
        }
        let bad = self.invalid_count(true);
        if self.rows > 0 && bad as f64 > self.max_invalid * self.rows as f64 {
            return Err(format!(
                "{bad} of {} rows ({:.0}%) are invalid, more than --max-invalid {:.0}%: this is usually the wrong \
                 file or column. Nothing was sent. Check the report above, or raise --max-invalid",
                self.rows,
                100.0 * bad as f64 / self.rows as f64,
                100.0 * self.max_invalid
            ));
        }
        Ok(())
    }

    /// Rows refused as duplicates: how many, and the first few.
    fn duplicates(&self) -> (u64, &[u64]) {
        self.invalid
            .get(RowErrorCode::DuplicateDestination.as_str())
            .map_or((0, &[][..]), |(n, rows)| (*n, &rows[..]))
    }

    fn estimate(&self) -> Duration {
        let gaps = self.to_send.saturating_sub(1).min(u64::from(u32::MAX)) as u32;
        self.per_send.saturating_mul(gaps)
    }
}

fn rows_list(rows: &[u64], total: u64) -> String {
    let listed: Vec<String> = rows.iter().map(u64::to_string).collect();
    let more = if total > rows.len() as u64 {
        ", ..."
    } else {
        ""
    };
    format!("rows {}{more}", listed.join(", "))
}

impl fmt::Display for Preflight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Preflight: {}", self.csv.display())?;
        for note in &self.notes {
            writeln!(f, "  note: {note}")?;
        }
        writeln!(f, "  rows            {:>8}", self.rows)?;
        writeln!(f, "  valid           {:>8}", self.valid)?;
        writeln!(f, "  invalid         {:>8}", self.invalid_count(true))?;
        for (code, (count, rows)) in &self.invalid {
            if *code != RowErrorCode::DuplicateDestination.as_str() {
                writeln!(f, "    {code:<28}{count:>6}  {}", rows_list(rows, *count))?;
            }
        }
        let (dup_count, dup_rows) = self.duplicates();
        write!(f, "  duplicates      {dup_count:>8}")?;
        if dup_count > 0 {
            write!(f, "  {}", rows_list(dup_rows, dup_count))?;
        }
        writeln!(f)?;
        write!(f, "  opted out       {:>8}", self.opted_out.len())?;
        if !self.opted_out.is_empty() {
            let shown = &self.opted_out[..self.opted_out.len().min(EXAMPLES)];
            write!(f, "  {}", rows_list(shown, self.opted_out.len() as u64))?;
        }
        writeln!(f)?;
        writeln!(f, "  already done    {:>8}", self.done)?;
        writeln!(f, "  to send         {:>8}", self.to_send)?;
        writeln!(
            f,
            "  estimated time  {:>8}  at {}",
            human(self.estimate()),
            self.pace
        )?;
        match &self.window {
            Some(window) => writeln!(f, "  window          {window}"),
            None => Ok(()),
        }
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
