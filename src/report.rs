//! `campaign-sender report RESULTS.csv`: the campaign on one screen (or as JSON). Rows by
//! send status and by delivery status, failures by code with example rows, delivery and
//! read rates, how long sending took and the pace achieved. Read-only and lock-free, so it
//! works while a send or status pass is running.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use crate::fmt::human;
use crate::journal::Status;
use crate::journal::delivery::{DeliveryStatus, ResultRow, read_rows};

/// `campaign-sender report` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// The campaign's results CSV.
    #[arg(value_name = "RESULTS.csv")]
    pub results: PathBuf,

    /// Print the figures as one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// How many example rows a failure line names.
const EXAMPLES: usize = 3;

/// The label for accepted rows no status pass has looked up yet.
const NOT_CHECKED: &str = "NOT_CHECKED";

/// The whole report; its JSON form is the `--json` output.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub results: String,
    pub rows: u64,
    /// Rows by send status, in the README's order; statuses with no rows are left out.
    pub send: Vec<Count>,
    /// Rows the API accepted (QUEUED): the base of every delivery figure.
    pub queued: u64,
    /// Queued rows by delivery status (`NOT_CHECKED` before any status pass).
    pub delivery: Vec<Count>,
    /// DELIVERED or READ, in % of queued; None with nothing queued.
    pub delivered_rate: Option<f64>,
    /// READ, in % of queued (a floor: only recipients with read receipts on report it).
    pub read_rate: Option<f64>,
    /// Failures by stage and code, most frequent first.
    pub failures: Vec<Failure>,
    pub first_sent_at: Option<String>,
    pub last_sent_at: Option<String>,
    /// From the first to the last `sentAt`.
    pub duration_seconds: Option<f64>,
    /// Sends per minute between the first and last send: (sends − 1) / duration.
    pub sends_per_minute: Option<f64>,
    /// Per sender number, when the campaign used several (empty otherwise).
    pub senders: Vec<SenderFigures>,
}

/// One number's share: a number whose delivery lags the others may be flagged or banned.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SenderFigures {
    pub sender: String,
    /// Rows this number tried (whatever the outcome).
    pub rows: u64,
    pub queued: u64,
    /// DELIVERED or READ, in % of this number's queued rows.
    pub delivered_rate: Option<f64>,
    pub read_rate: Option<f64>,
}

/// A number of rows in one state, with its share of the section's base.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Count {
    pub status: String,
    pub rows: u64,
    pub percent: f64,
}

/// Rows that failed with one code, at one stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// `send` (refused or unsure at send time), `delivery` (FAILED after acceptance) or
    /// `check` (a lookup or cancel that did not succeed).
    pub stage: &'static str,
    pub code: String,
    pub rows: u64,
    /// The first few row numbers, to look at in the sheet.
    pub examples: Vec<u64>,
}

/// Runs the report and returns the exit code (2 if the file cannot be read).
pub fn run(args: &ReportArgs) -> u8 {
    let rows = match read_rows(&args.results) {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!("{e}");
            return 2;
        }
    };
    let report = Report::new(&args.results.display().to_string(), &rows);
    if args.json {
        let json = serde_json::to_string_pretty(&report).expect("a report always serializes");
        crate::progress::print_out(format_args!("{json}\n"));
    } else {
        crate::progress::print_out(&report);
    }
    0
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / whole as f64).round() / 10.0
    }
}

fn counts<K: Ord>(tally: &BTreeMap<K, u64>, name: impl Fn(&K) -> String, base: u64) -> Vec<Count> {
    tally
        .iter()
        .filter(|(_, rows)| **rows > 0)
        .map(|(key, rows)| Count {
            status: name(key),
            rows: *rows,
            percent: percent(*rows, base),
        })
        .collect()
}

/// Send statuses in the README's order (SENDING is a row whose request was in flight).
const SEND_ORDER: [Status; 7] = [
    Status::Queued,
    Status::Failed,
    Status::Invalid,
    Status::Uncertain,
    Status::Skipped,
    Status::Deferred,
    Status::Sending,
];

impl Report {
    /// Computes every figure from the rows' last lines.
    pub fn new(results: &str, rows: &[ResultRow]) -> Report {
        let total = rows.len() as u64;
        let mut send = BTreeMap::new();
        // Keyed by lifecycle position; rows never looked up (None) come last.
        let mut delivery: BTreeMap<(bool, Option<DeliveryStatus>), u64> = BTreeMap::new();
        let mut failures: BTreeMap<(&'static str, String), Vec<u64>> = BTreeMap::new();
        let mut sent_at: Vec<Timestamp> = Vec::new();
        let mut senders: BTreeMap<&str, (u64, u64, u64, u64)> = BTreeMap::new();
        for row in rows {
            let (record, status) = (&row.record, row.record.status);
            if !record.sender.is_empty() {
                let tally = senders.entry(&record.sender).or_default();
                let delivery = row.delivery.status.filter(|_| status == Status::Queued);
                tally.0 += 1;
                tally.1 += u64::from(status == Status::Queued);
                tally.2 += u64::from(delivery.is_some_and(DeliveryStatus::reached_device));
                tally.3 += u64::from(delivery == Some(DeliveryStatus::Read));
            }
            let order = SEND_ORDER.iter().position(|s| *s == status).unwrap_or(0);
            *send.entry(order).or_insert(0) += 1;
            if let Ok(at) = record.sent_at.parse() {
                sent_at.push(at);
            }
            if !matches!(status, Status::Queued | Status::Skipped) {
                let code = if record.error_code.is_empty() {
                    "-"
                } else {
                    &record.error_code
                };
                failures
                    .entry(("send", code.to_string()))
                    .or_default()
                    .push(record.row);
            }
            if status != Status::Queued {
                continue;
            }
            let status = row.delivery.status;
            *delivery.entry((status.is_none(), status)).or_insert(0) += 1;
            let error = row.delivery.error.split(':').next().unwrap_or("").trim();
            if !error.is_empty() {
                let stage = match row.delivery.status {
                    Some(DeliveryStatus::Failed) => "delivery",
                    _ => "check",
                };
                failures
                    .entry((stage, error.to_string()))
                    .or_default()
                    .push(record.row);
            }
        }
        let queued = send.get(&0).copied().unwrap_or(0);
        let reached: u64 = delivery
            .iter()
            .filter(|((_, s), _)| s.is_some_and(DeliveryStatus::reached_device))
            .map(|(_, n)| n)
            .sum();
        let read = delivery
            .get(&(false, Some(DeliveryStatus::Read)))
            .copied()
            .unwrap_or(0);
        let mut failures: Vec<Failure> = failures
            .into_iter()
            .map(|((stage, code), rows)| Failure {
                stage,
                code,
                rows: rows.len() as u64,
                // Row 0: a recipient no longer in the CSV, counted but not a row to look at.
                examples: rows.into_iter().filter(|r| *r > 0).take(EXAMPLES).collect(),
            })
            .collect();
        failures.sort_by_key(|f| std::cmp::Reverse(f.rows));
        let first = sent_at.iter().min();
        let last = sent_at.iter().max();
        let duration = first
            .zip(last)
            .map(|(a, b)| b.duration_since(*a).as_secs_f64());
        Report {
            results: results.to_string(),
            rows: total,
            send: counts(&send, |i| SEND_ORDER[*i].as_str().to_string(), total),
            queued,
            delivery: counts(
                &delivery,
                |(_, s)| s.map_or(NOT_CHECKED.to_string(), |s| s.as_str().to_string()),
                queued,
            ),
            delivered_rate: (queued > 0).then(|| percent(reached, queued)),
            read_rate: (queued > 0).then(|| percent(read, queued)),
            failures,
            first_sent_at: first.map(ToString::to_string),
            last_sent_at: last.map(ToString::to_string),
            duration_seconds: duration,
            sends_per_minute: duration
                .filter(|d| *d > 0.0)
                .map(|d| ((sent_at.len() - 1) as f64 * 600.0 / d).round() / 10.0),
            senders: senders
                .into_iter()
                .map(|(sender, (rows, queued, reached, read))| SenderFigures {
                    sender: sender.to_string(),
                    rows,
                    queued,
                    delivered_rate: (queued > 0).then(|| percent(reached, queued)),
                    read_rate: (queued > 0).then(|| percent(read, queued)),
                })
                .collect(),
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .failures
            .iter()
            .map(|x| x.stage.len() + 1 + x.code.len())
            .chain([26])
            .max()
            .unwrap_or(26);
        let line = |f: &mut fmt::Formatter<'_>, label: &str, rows: u64, pct: f64| {
            writeln!(f, "  {label:<width$} {rows:>7} {pct:>7.1}%")
        };
        writeln!(f, "Campaign report: {}", self.results)?;
        writeln!(f)?;
        writeln!(f, "{:<w$} {:>7} {:>8}", "Send", "rows", "%", w = width + 2)?;
        for count in &self.send {
            line(f, &count.status, count.rows, count.percent)?;
        }
        line(
            f,
            "total",
            self.rows,
            if self.rows > 0 { 100.0 } else { 0.0 },
        )?;
        if self.queued > 0 {
            writeln!(f)?;
            let title = format!("Delivery (of {} queued)", self.queued);
            writeln!(f, "{title:<w$} {:>7} {:>8}", "rows", "%", w = width + 2)?;
            for count in &self.delivery {
                line(f, &count.status, count.rows, count.percent)?;
            }
            writeln!(f)?;
            writeln!(f, "Rates (of queued)")?;
            let rate = |r: Option<f64>| r.unwrap_or(0.0);
            writeln!(
                f,
                "  {:<width$} {:>15.1}%",
                "delivered (DELIVERED+READ)",
                rate(self.delivered_rate)
            )?;
            writeln!(f, "  {:<width$} {:>15.1}%", "read*", rate(self.read_rate))?;
        }
        if !self.senders.is_empty() {
            writeln!(f)?;
            writeln!(
                f,
                "{:<w$} {:>7} {:>7} {:>10} {:>6}",
                "By number",
                "rows",
                "queued",
                "delivered",
                "read*",
                w = width + 2
            )?;
            for s in &self.senders {
                let rate = |r: Option<f64>| r.map_or("-".into(), |r| format!("{r:.1}%"));
                writeln!(
                    f,
                    "  {:<width$} {:>7} {:>7} {:>10} {:>6}",
                    s.sender,
                    s.rows,
                    s.queued,
                    rate(s.delivered_rate),
                    rate(s.read_rate)
                )?;
            }
        }
        if !self.failures.is_empty() {
            writeln!(f)?;
            writeln!(
                f,
                "{:<w$} {:>7}  example rows",
                "Failures",
                "rows",
                w = width + 2
            )?;
            for failure in &self.failures {
                let label = format!("{} {}", failure.stage, failure.code);
                let examples: Vec<String> =
                    failure.examples.iter().map(ToString::to_string).collect();
                writeln!(
                    f,
                    "  {label:<width$} {:>7}  {}",
                    failure.rows,
                    examples.join(", ")
                )?;
            }
        }
        if let (Some(first), Some(last), Some(seconds)) = (
            &self.first_sent_at,
            &self.last_sent_at,
            self.duration_seconds,
        ) {
            writeln!(f)?;
            writeln!(f, "Sending")?;
            writeln!(f, "  {:<width$} {}", "first", to_second(first))?;
            writeln!(f, "  {:<width$} {}", "last", to_second(last))?;
            let took = human(Duration::from_secs_f64(seconds));
            writeln!(f, "  {:<width$} {took:>16}", "duration")?;
            if let Some(pace) = self.sends_per_minute {
                writeln!(f, "  {:<width$} {:>16}", "pace", format!("{pace:.1}/min"))?;
            }
        }
        if self.queued > 0 {
            writeln!(f)?;
            writeln!(
                f,
                "* READ is only reported by recipients with read receipts on: a floor, not the true read rate."
            )?;
            if self.delivery.iter().any(|c| c.status == NOT_CHECKED) {
                writeln!(
                    f,
                    "  NOT_CHECKED rows have not been looked up: run `campaign-sender status` first."
                )?;
            }
        }
        Ok(())
    }
}

/// A timestamp for people: to the second (the JSON keeps the full precision).
fn to_second(text: &str) -> String {
    text.parse::<Timestamp>()
        .and_then(|t| t.round(jiff::Unit::Second))
        .map_or_else(|_| text.to_string(), |t| t.to_string())
}
