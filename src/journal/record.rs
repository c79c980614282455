//! One line of the results file: its fields, and how they become cells a spreadsheet cannot run.

use std::borrow::Cow;

use super::{COLUMNS, Status, delivery};

/// One line of the results file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub row: u64,
    pub destination: String,
    pub status: Status,
    pub message_id: String,
    pub correlation_id: String,
    pub http_status: Option<u16>,
    pub error_code: String,
    pub error: String,
    pub attempts: u32,
    pub sent_at: String,
    pub raw_destination: String,
    /// The label of the number that sent (or tried to send) the row; empty with one sender.
    pub sender: String,
}

impl Record {
    /// A record for `row` in `status`, other fields empty.
    pub fn new(row: u64, destination: &str, status: Status) -> Record {
        Record {
            row,
            destination: destination.to_string(),
            status,
            message_id: String::new(),
            correlation_id: String::new(),
            http_status: None,
            error_code: String::new(),
            error: String::new(),
            attempts: 0,
            sent_at: String::new(),
            raw_destination: String::new(),
            sender: String::new(),
        }
    }

    fn cells(&self) -> [Cow<'_, str>; 12] {
        [
            Cow::Owned(self.row.to_string()),
            destination_cell(&self.destination),
            Cow::Borrowed(self.status.as_str()),
            excel_safe(&self.message_id),
            excel_safe(&self.correlation_id),
            Cow::Owned(self.http_status.map(|s| s.to_string()).unwrap_or_default()),
            excel_safe(&self.error_code),
            Cow::Owned(excel_safe(&one_line(&self.error)).into_owned()),
            Cow::Owned(self.attempts.to_string()),
            Cow::Borrowed(&self.sent_at),
            destination_cell(&self.raw_destination),
            Cow::Borrowed(&self.sender),
        ]
    }
}

pub(super) fn header_line(delimiter: u8, delivery: bool) -> Vec<u8> {
    let extra: &[&str] = if delivery {
        &delivery::DELIVERY_COLUMNS
    } else {
        &[]
    };
    let mut line = [&COLUMNS[..], extra]
        .concat()
        .join(&(delimiter as char).to_string())
        .into_bytes();
    line.push(b'\n');
    line
}

pub(super) fn write_record(out: &mut Vec<u8>, delimiter: u8, record: &Record) {
    let mut writer = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .from_writer(out);
    writer
        .write_record(record.cells().iter().map(|c| c.as_bytes()))
        .expect("writing to memory cannot fail");
    writer.flush().expect("writing to memory cannot fail");
}

/// Spreadsheets run a cell that starts with `=`, `+`, `-`, `@`, tab or CR as a formula
/// (CSV injection). Such cells from the input or the API get a leading `'`.
pub(super) fn excel_safe(cell: &str) -> Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// An E.164 destination (`+` and digits only, as validated) stays usable as is; anything
/// else is neutralized like any other cell.
pub(super) fn destination_cell(destination: &str) -> Cow<'_, str> {
    let e164 = destination
        .strip_prefix('+')
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
    if e164 {
        Cow::Borrowed(destination)
    } else {
        excel_safe(destination)
    }
}

/// The inverse of [`destination_cell`], so resume compares what was really sent.
pub(super) fn unquote_destination(cell: &str) -> Cow<'_, str> {
    match cell.strip_prefix('\'') {
        Some(rest) if excel_safe(rest) != rest => Cow::Owned(rest.to_string()),
        _ => Cow::Borrowed(cell),
    }
}

pub(super) fn one_line(text: &str) -> Cow<'_, str> {
    if text.contains(['\n', '\r']) {
        Cow::Owned(text.replace(['\r', '\n'], " "))
    } else {
        Cow::Borrowed(text)
    }
}
