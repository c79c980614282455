//! The report's figures, as the text, the JSON and the page show them (counted by
//! [`Tally`](super::Tally)).

use serde::Serialize;

/// The whole report; its JSON form is the `--json` output.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub results: String,
    /// The zone local times are shown in (`--tz`, else the machine's).
    pub time_zone: String,
    /// Lines in the results file: one per data row of the CSV (row 1 = spreadsheet line 2),
    /// plus one per recipient no longer in it.
    pub rows: u64,
    /// Lines of recipients no longer in the CSV (an empty `row` cell), counted in `rows`.
    pub not_in_csv: u64,
    /// Rows not refused by local validation (everything but INVALID).
    pub valid: u64,
    /// Rows by send status, in the README's order; statuses with no rows are left out.
    pub send: Vec<Count>,
    /// Rows the API accepted (QUEUED): the base of every delivery figure.
    pub queued: u64,
    /// Queued rows whose delivery status a status pass has learned.
    pub checked: u64,
    /// Queued rows by delivery status; `NOT_FOUND` (the lookup found no such message),
    /// `UNANSWERED` (looked up, no state of its own) and `NOT_CHECKED` (never looked up)
    /// come last.
    pub delivery: Vec<Count>,
    /// Queued rows that reached the device (DELIVERED or READ); None until a row is checked.
    pub delivered: Option<u64>,
    /// Queued rows READ; None until a row is checked.
    pub read: Option<u64>,
    /// `delivered`, in % of queued; None (not 0) until a row is checked.
    pub delivered_rate: Option<f64>,
    /// `read`, in % of queued (a floor: only recipients with read receipts on report it).
    pub read_rate: Option<f64>,
    /// Failures by stage and code, most frequent first.
    pub failures: Vec<Failure>,
    /// The first and last `sentAt`, RFC 3339 in UTC, full precision.
    pub first_sent_at: Option<String>,
    pub last_sent_at: Option<String>,
    /// From the first to the last `sentAt`.
    pub duration_seconds: Option<f64>,
    /// Sends per minute between the first and last send: (sends − 1) / duration.
    pub sends_per_minute: Option<f64>,
    /// Sends by local hour (or wider bars for a long campaign), empty bars included.
    pub sends_over_time: SendsOverTime,
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
    /// DELIVERED or READ, in % of this number's queued rows; None until one is checked.
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

/// Where a failure happened, so a reader knows who can fix it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Refused by local validation (INVALID): never sent; fix the cell.
    Input,
    /// Refused or unsure at send time (FAILED, UNCERTAIN, an interrupted SENDING).
    Send,
    /// FAILED after the API accepted it.
    Delivery,
    /// A lookup or cancel that did not succeed.
    Check,
}

impl Stage {
    /// The word reports print.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Input => "input",
            Stage::Send => "send",
            Stage::Delivery => "delivery",
            Stage::Check => "check",
        }
    }
}

/// Rows that failed with one code, at one stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    pub stage: Stage,
    pub code: String,
    pub rows: u64,
    /// The first few rows, to look at in the sheet.
    pub examples: Vec<Example>,
}

/// A row to look at, by its number only: a blank line or a cell with line breaks above it
/// moves it off line row + 1 of the sheet, and the results file does not say where (an
/// earlier version guessed row + 1, and sent people to the wrong line).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Example {
    /// Data row (1 = the first row after the header), as the results' `row` column.
    pub row: u64,
}

/// The sends-over-time chart's data.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SendsOverTime {
    /// Hours each bar covers (1 unless the campaign spans more than 120 of them).
    pub hours_per_bar: i64,
    pub bars: Vec<Bar>,
}

/// Sends that started in one bar's span.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bar {
    /// The span's start, local time (`YYYY-MM-DD HH:00`).
    pub start: String,
    pub sends: u64,
}

/// The label for accepted rows no status pass has looked up yet.
pub const NOT_CHECKED: &str = "NOT_CHECKED";

/// `part` in % of `whole`, to one decimal (0 of nothing is 0).
pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / whole as f64).round() / 10.0
    }
}
