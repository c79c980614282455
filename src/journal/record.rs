//! One line of the results file: its fields, how they become cells (one line each, none a
//! spreadsheet would run), and how a line is read back from whatever a spreadsheet saved.

use std::borrow::Cow;

use super::delivery_state::{DELIVERY_COLUMNS, Delivery, DeliveryStatus};
use super::{COLUMNS, REQUIRED_COLUMNS, Status};

/// One line of the results file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The input row, from 1; 0 (an empty `row` cell) for a recipient no longer in the CSV.
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
    /// Where the row was sent (set by the runner, one line, opaque here); empty in files
    /// written before the column existed.
    pub target: String,
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
            target: String::new(),
        }
    }

    fn cells(&self) -> [Cow<'_, str>; COLUMNS.len()] {
        let row = match self.row {
            0 => String::new(),
            row => row.to_string(),
        };
        [
            Cow::Owned(row),
            destination_cell(&self.destination),
            Cow::Borrowed(self.status.as_str()),
            text_cell(&self.message_id),
            text_cell(&self.correlation_id),
            Cow::Owned(self.http_status.map(|s| s.to_string()).unwrap_or_default()),
            text_cell(&self.error_code),
            text_cell(&self.error),
            Cow::Owned(self.attempts.to_string()),
            text_cell(&self.sent_at),
            destination_cell(&self.raw_destination),
            text_cell(&self.sender),
            text_cell(&self.target),
        ]
    }
}

/// Where each known column sits in a file's header, and the file's delimiter: files
/// re-saved by a spreadsheet, or written by an older version, are read by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Layout {
    pub(super) delimiter: u8,
    columns: [Option<usize>; COLUMNS.len()],
    delivery_columns: [Option<usize>; DELIVERY_COLUMNS.len()],
}

impl Layout {
    /// The layout this version writes.
    pub(super) fn canonical(delimiter: u8, delivery: bool) -> Layout {
        Layout {
            delimiter,
            columns: std::array::from_fn(Some),
            delivery_columns: std::array::from_fn(|i| delivery.then_some(COLUMNS.len() + i)),
        }
    }

    /// Reads a header record; `None` unless it names every required column.
    pub(super) fn from_header(delimiter: u8, header: &csv::ByteRecord) -> Option<Layout> {
        let names: Vec<String> = header
            .iter()
            .map(|c| clean(&String::from_utf8_lossy(c)).to_ascii_lowercase())
            .collect();
        let find = |name: &str| names.iter().position(|n| n == &name.to_ascii_lowercase());
        let layout = Layout {
            delimiter,
            columns: COLUMNS.map(find),
            delivery_columns: DELIVERY_COLUMNS.map(find),
        };
        layout.columns[..REQUIRED_COLUMNS]
            .iter()
            .all(Option::is_some)
            .then_some(layout)
    }

    /// Whether the file carries the delivery columns a status pass adds.
    pub(super) fn delivery(&self) -> bool {
        self.delivery_columns.iter().any(Option::is_some)
    }

    /// Parses one line, leniently where a person's edit is unambiguous (`queued`, a `'`
    /// before a number, spaces around it); anything else is refused with the reason.
    pub(super) fn parse(&self, cells: &csv::ByteRecord) -> Result<(Record, Delivery), String> {
        let mut text = Vec::with_capacity(cells.len());
        for (i, cell) in cells.iter().enumerate() {
            match std::str::from_utf8(cell) {
                Ok(cell) => text.push(cell),
                Err(_) => return Err(format!("cell {} is not UTF-8 text", i + 1)),
            }
        }
        let at = |column: Option<usize>| column.and_then(|i| text.get(i).copied()).unwrap_or("");
        let cell = |i: usize| at(self.columns[i]);
        let row = match clean(cell(0)) {
            "" => 0,
            row => row
                .parse::<u32>()
                .ok()
                .filter(|r| *r > 0)
                .ok_or_else(|| format!("row number '{}' is not a row", shorten(row)))?,
        };
        let status = Status::parse_lenient(cell(2))
            .ok_or_else(|| format!("unknown status '{}'", shorten(cell(2))))?;
        let attempts = match clean(cell(8)) {
            "" => 0,
            n if n.bytes().all(|b| b.is_ascii_digit()) => n.parse().unwrap_or(u32::MAX),
            n => return Err(format!("attempts '{}' is not a number", shorten(n))),
        };
        let record = Record {
            row: u64::from(row),
            destination: unescape(cell(1)).into_owned(),
            status,
            message_id: unescape(cell(3)).into_owned(),
            correlation_id: unescape(cell(4)).into_owned(),
            http_status: clean(cell(5)).parse().ok(),
            error_code: unescape(cell(6)).into_owned(),
            error: unescape(cell(7)).into_owned(),
            attempts,
            sent_at: unescape(cell(9)).into_owned(),
            raw_destination: unescape(cell(10)).into_owned(),
            sender: unescape(cell(11)).into_owned(),
            target: unescape(cell(12)).into_owned(),
        };
        let extra = |i: usize| unescape(at(self.delivery_columns[i])).into_owned();
        let delivery = Delivery {
            status: DeliveryStatus::parse(&clean(&extra(0)).to_ascii_uppercase()),
            delivered_at: extra(1),
            read_at: extra(2),
            error: extra(3),
            checked_at: extra(4),
        };
        Ok((record, delivery))
    }
}

/// The first record of `bytes` (one line's cells).
pub(super) fn one_record(bytes: &[u8], delimiter: u8) -> csv::ByteRecord {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(bytes)
        .byte_records()
        .next()
        .and_then(Result::ok)
        .unwrap_or_default()
}

/// A cell as a person may have retyped it: spaces around it, or a leading `'`.
fn clean(cell: &str) -> &str {
    let cell = cell.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    cell.strip_prefix('\'').unwrap_or(cell).trim()
}

fn shorten(text: &str) -> String {
    text.chars().take(40).collect()
}

impl Status {
    /// Reads a `status` cell as written, or as a person retyped it (`queued`, ` Queued `).
    pub(super) fn parse_lenient(text: &str) -> Option<Status> {
        Status::parse(&clean(text).to_ascii_uppercase())
    }
}

/// The header line of `layout` (canonical layouts only), `\n`-terminated.
pub(super) fn header_line(delimiter: u8, delivery: bool) -> Vec<u8> {
    let extra: &[&str] = if delivery { &DELIVERY_COLUMNS } else { &[] };
    let mut line = [&COLUMNS[..], extra]
        .concat()
        .join(&(delimiter as char).to_string())
        .into_bytes();
    line.push(b'\n');
    line
}

/// Appends `record` (and its delivery cells, if the file has them) as one line.
pub(super) fn write_line(
    out: &mut Vec<u8>,
    delimiter: u8,
    record: &Record,
    delivery: Option<&Delivery>,
) {
    let mut writer = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .from_writer(out);
    let mut cells: Vec<Cow<'_, str>> = record.cells().into();
    if let Some(d) = delivery {
        cells.extend([
            Cow::Borrowed(d.status.map(DeliveryStatus::as_str).unwrap_or("")),
            text_cell(&d.delivered_at),
            text_cell(&d.read_at),
            text_cell(&d.error),
            text_cell(&d.checked_at),
        ]);
    }
    writer
        .write_record(cells.iter().map(|c| c.as_bytes()))
        .and_then(|()| writer.flush().map_err(csv::Error::from))
        .expect("writing to memory cannot fail");
}

/// Appends `record` as one line, without delivery cells.
pub(super) fn write_record(out: &mut Vec<u8>, delimiter: u8, record: &Record) {
    write_line(out, delimiter, record, None);
}

/// A free-text cell: one line, and never run by a spreadsheet.
fn text_cell(text: &str) -> Cow<'_, str> {
    match one_line(text) {
        Cow::Borrowed(text) => excel_safe(text),
        Cow::Owned(text) => Cow::Owned(excel_safe(&text).into_owned()),
    }
}

/// Spreadsheets run a cell that starts with `=`, `+`, `-`, `@`, tab or CR as a formula
/// (CSV injection). Such cells get a leading `'` (as does a cell that already starts with
/// one, so that [`unescape`] gives back exactly what was written).
pub(super) fn excel_safe(cell: &str) -> Cow<'_, str> {
    if needs_quote(cell) || cell.starts_with('\'') {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

fn needs_quote(cell: &str) -> bool {
    matches!(
        cell.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    )
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
        text_cell(destination)
    }
}

/// The inverse of [`excel_safe`]: one leading `'` goes when what follows needed it. A
/// spreadsheet that dropped the `'` on saving gives the same text.
pub(super) fn unescape(cell: &str) -> Cow<'_, str> {
    match cell.strip_prefix('\'') {
        Some(rest) if needs_quote(rest) || rest.starts_with('\'') => Cow::Borrowed(rest),
        _ => Cow::Borrowed(cell),
    }
}

/// Line breaks (CR, LF, CRLF) in a cell the tool writes become one space each, so that one
/// record is always one line.
pub(super) fn one_line(text: &str) -> Cow<'_, str> {
    if text.contains(['\n', '\r']) {
        Cow::Owned(text.replace("\r\n", " ").replace(['\r', '\n'], " "))
    } else {
        Cow::Borrowed(text)
    }
}
