//! The preflight report: what the first pass over the input found and what the run will do,
//! as a table for people or one JSON event, with the estimate of how long it takes.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;

use crate::input::RowAt;
use crate::input::validate::RowErrorCode;
use crate::settings::Settings;
use crate::window::SendWindow;

use super::eta::{self, Pace};
use super::logging::{json_logs, print_err};

/// The preflight report: the table on stderr, or under `--log-format json` one event with
/// its counts (and one per note).
pub fn show_preflight(found: &Preflight) {
    if !json_logs() {
        print_err(found);
        return;
    }
    for note in &found.notes {
        tracing::warn!(csv = %crate::fmt::path(&found.csv), "{note}");
    }
    let invalid: Vec<String> = found
        .invalid
        .iter()
        .map(|(code, rows)| format!("{code} {} ({rows})", rows.count))
        .collect();
    tracing::info!(
        csv = %crate::fmt::path(&found.csv),
        rows = found.rows,
        valid = found.valid,
        invalid = found.invalid_count(true),
        duplicates = found.duplicates().map_or(0, |rows| rows.count),
        opted_out = found.opted_out.count,
        empty_rows = found.empty.count,
        already_done = found.done,
        to_send = found.to_send,
        estimated_secs = found.estimate().as_secs(),
        pace = %found.pace_text,
        window = found.window.as_ref().map_or("", |(_, line)| line.as_str()),
        invalid_rows = %invalid.join("; "),
        "preflight: {} rows, {} to send",
        found.rows,
        found.to_send
    );
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
    /// Invalid rows by error code.
    pub invalid: BTreeMap<&'static str, Rows>,
    pub opted_out: Rows,
    /// Rows whose every cell is empty (skipped, not invalid).
    pub empty: Rows,
    /// Input warnings (encoding fallback, unused columns...).
    pub notes: Vec<String>,
    pace: Pace,
    /// The pace in words: quota, spacing, numbers.
    pace_text: String,
    strict: bool,
    max_invalid: f64,
    /// The send window, which the estimate counts, and its line: whether it is open at the
    /// start of the run.
    window: Option<(SendWindow, String)>,
    /// When the report was made: the estimate counts from here.
    now: Timestamp,
}

const EXAMPLES: usize = 5;

impl Preflight {
    /// An empty report for this campaign's settings, at `now`.
    pub fn new(settings: &Settings, now: Timestamp) -> Preflight {
        let numbers = settings.senders.len() as u32;
        let per_number = match numbers {
            1 => String::new(),
            n => {
                let shown = settings
                    .senders
                    .iter()
                    .take(EXAMPLES)
                    .map(|s| s.label.as_str());
                let mut labels = shown.collect::<Vec<_>>().join(", ");
                if settings.senders.len() > EXAMPLES {
                    labels.push_str(", …");
                }
                format!(" per number, {n} numbers ({labels})")
            }
        };
        Preflight {
            csv: settings.csv.clone(),
            rows: 0,
            valid: 0,
            done: 0,
            to_send: 0,
            invalid: BTreeMap::new(),
            opted_out: Rows::default(),
            empty: Rows::default(),
            notes: Vec::new(),
            pace: Pace::of_campaign(settings),
            pace_text: format!(
                "{}, spacing {}{per_number}",
                settings
                    .rate
                    .map_or("no quota".to_string(), |r| r.to_string()),
                settings.spacing
            ),
            strict: settings.strict,
            max_invalid: settings.max_invalid,
            window: settings
                .window
                .as_ref()
                .map(|w| (w.clone(), w.outlook(now))),
            now,
        }
    }

    /// Counts an invalid row under its code.
    pub fn count_invalid(&mut self, row: RowAt, code: RowErrorCode) {
        self.invalid.entry(code.as_str()).or_default().add(row);
    }

    fn invalid_count(&self, skip_duplicates: bool) -> u64 {
        self.invalid
            .iter()
            .filter(|(code, _)| {
                !(skip_duplicates && **code == RowErrorCode::DuplicateDestination.as_str())
            })
            .map(|(_, rows)| rows.count)
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

    /// Rows refused as duplicates.
    fn duplicates(&self) -> Option<&Rows> {
        self.invalid
            .get(RowErrorCode::DuplicateDestination.as_str())
    }

    /// How long the sends take at the campaign's pace, counting only the hours the send
    /// window is open (see [`eta::finish`]).
    fn estimate(&self) -> Duration {
        let window = self.window.as_ref().map(|(window, _)| window);
        let last = eta::finish(self.pace, self.to_send, window, self.now);
        Duration::try_from(self.now.duration_until(last)).unwrap_or(Duration::MAX)
    }

    /// The estimate's pace in words, and the window when it counts.
    fn estimate_basis(&self) -> String {
        match &self.window {
            Some((window, _)) => format!("at {}, sending only {}", self.pace_text, window.window),
            None => format!("at {}", self.pace_text),
        }
    }
}

/// Rows of one kind: how many, and the first few to look at.
#[derive(Debug, Default)]
pub struct Rows {
    pub count: u64,
    first: Vec<RowAt>,
}

impl Rows {
    /// Counts `row`, kept as an example while there are few.
    pub fn add(&mut self, row: RowAt) {
        self.count += 1;
        if self.first.len() < EXAMPLES {
            self.first.push(row);
        }
    }
}

/// `rows 3, 7 (line 9), ...`: the first few, each with its line when it moved.
impl fmt::Display for Rows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("rows ")?;
        for (i, row) in self.first.iter().enumerate() {
            let comma = if i == 0 { "" } else { ", " };
            write!(f, "{comma}{}", row.number())?;
        }
        if self.count > self.first.len() as u64 {
            f.write_str(", ...")?;
        }
        Ok(())
    }
}

impl fmt::Display for Preflight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Preflight: {}", crate::fmt::path(&self.csv))?;
        for note in &self.notes {
            writeln!(f, "  note: {note}")?;
        }
        writeln!(f, "  rows            {:>8}", self.rows)?;
        writeln!(f, "  valid           {:>8}", self.valid)?;
        writeln!(f, "  invalid         {:>8}", self.invalid_count(true))?;
        for (code, rows) in &self.invalid {
            if *code != RowErrorCode::DuplicateDestination.as_str() {
                writeln!(f, "    {code:<28}{:>6}  {rows}", rows.count)?;
            }
        }
        let none = Rows::default();
        let empty = (self.empty.count > 0).then_some(("empty rows", &self.empty));
        for (label, rows) in [
            ("duplicates", self.duplicates().unwrap_or(&none)),
            ("opted out", &self.opted_out),
        ]
        .into_iter()
        .chain(empty)
        {
            write!(f, "  {label:<16}{:>8}", rows.count)?;
            if rows.count > 0 {
                write!(f, "  {rows}")?;
            }
            writeln!(f)?;
        }
        writeln!(f, "  already done    {:>8}", self.done)?;
        writeln!(f, "  to send         {:>8}", self.to_send)?;
        writeln!(
            f,
            "  estimated time  {:>8}  {}",
            eta::span(self.estimate()),
            self.estimate_basis()
        )?;
        match &self.window {
            Some((_, line)) => writeln!(f, "  window          {line}"),
            None => Ok(()),
        }
    }
}
