//! One line of the results file: its fields, how they become cells (one line each, none a
//! spreadsheet would run), and how a line is read back from whatever a spreadsheet saved.

use std::borrow::Cow;

use super::cells::{Line, Lost, Number, is_e164, needs_quote, number, sent_destination, unescape};
use super::delivery_state::{DELIVERY_COLUMNS, Delivery, DeliveryStatus};
use super::{COLUMNS, REQUIRED_COLUMNS, Status};

/// One line of the results file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
    /// The [fingerprint](crate::identity::message_fingerprint) of the campaign's message
    /// settings the row was sent with; empty when not sent, or in files written before the
    /// column existed ("unknown").
    pub message: String,
    /// Not a column: the ledger's campaign for this send when the row's message is not the
    /// run's (see [`crate::ledger::Identity::row`]); `None` for the run's own.
    pub campaign: Option<std::sync::Arc<crate::ledger::Campaign>>,
    /// Not a column: for an intent, when the row's line last said it was not sent (its
    /// `sentAt`, ms since the epoch), for the ledger ([`crate::ledger::Settled::until_ms`]).
    pub settled_ms: Option<i64>,
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
            message: String::new(),
            campaign: None,
            settled_ms: None,
        }
    }

    /// Writes the record's cells, in [`COLUMNS`] order, as they go into the file.
    fn write_cells(&self, line: &mut Line<'_>) {
        match self.row {
            0 => line.cell(""),
            row => line.number(row),
        }
        line.destination(&self.destination);
        line.cell(self.status.as_str());
        line.text(&self.message_id);
        line.text(&self.correlation_id);
        match self.http_status {
            Some(status) => line.number(u64::from(status)),
            None => line.cell(""),
        }
        line.text(&self.error_code);
        line.text(&self.error);
        line.number(u64::from(self.attempts));
        line.text(&self.sent_at);
        line.destination(&self.raw_destination);
        line.text(&self.sender);
        line.text(&self.target);
        line.text(&self.message);
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

    /// Reads a header record; `None` unless it names every required column. A name is
    /// found spelled exactly, else in another case ([`Layout::twice`] refuses a name found
    /// in more than one column).
    pub(super) fn from_header(delimiter: u8, header: &csv::ByteRecord) -> Option<Layout> {
        let names = titles(header);
        let find = |name: &str| place(&names, name).unwrap_or_else(|all| all.first().copied());
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

    /// Why `header` cannot be read safely: one of this tool's column names in two columns
    /// (a person's column named `Destination` or `MessageID` beside ours), so which holds the
    /// tool's cells is not known; reading the wrong one would send rows again or lose ids.
    pub(super) fn twice(header: &csv::ByteRecord) -> Option<String> {
        let names = titles(header);
        (COLUMNS.iter().chain(&DELIVERY_COLUMNS)).find_map(|name| {
            let all = place(&names, name).err()?;
            let letters: Vec<String> = all.iter().map(|i| column_letter(*i)).collect();
            Some(format!(
                "the header names the column {name} in columns {}, so which one this tool \
                 wrote is not known: rename the column you added (or delete it)",
                letters.join(" and ")
            ))
        })
    }

    /// The columns of `header` that are not this tool's (a person's notes; an unnamed one
    /// too, as a spreadsheet saves a column typed in without a title): a rewrite does not
    /// carry them, so the file with them is kept aside first.
    pub(super) fn foreign(&self, header: &csv::ByteRecord) -> Vec<String> {
        let ours: Vec<usize> = (self.columns.iter().chain(&self.delivery_columns))
            .flatten()
            .copied()
            .collect();
        (titles(header).into_iter().enumerate())
            .filter(|(i, _)| !ours.contains(i))
            .map(|(i, name)| match name.is_empty() {
                true => format!("{} (no title)", column_letter(i)),
                false => shorten(&name),
            })
            .collect()
    }

    /// Whether the file carries the delivery columns a status pass adds.
    pub(super) fn delivery(&self) -> bool {
        self.delivery_columns.iter().any(Option::is_some)
    }

    /// Parses one line, leniently where a person's edit is unambiguous (`queued`, a `'`
    /// before a number, spaces around it); anything else is refused with the reason.
    pub(super) fn parse<'a>(
        &self,
        cells: impl Into<Fields<'a>>,
    ) -> Result<(Record, Delivery), String> {
        let (record, delivery) = self.view(cells)?;
        Ok((record.into_owned(), delivery.into_owned()))
    }

    /// [`Layout::parse`] before it owns anything: every cell borrowed from the line, read
    /// and refused as `parse` reads and refuses it (`parse` is this, then owned), so that
    /// `report` counts a million lines without a string per cell.
    pub(super) fn view<'a>(
        &self,
        cells: impl Into<Fields<'a>>,
    ) -> Result<(RecordView<'a>, DeliveryView<'a>), String> {
        let cells = Cells::read(cells.into())?;
        let (row, status, attempts) = self.checked(&cells)?;
        let destination = self.destination(&cells, status)?;
        let message_id = self.message_id(&cells)?;
        let cell = |i: usize| unescape(cells.get(self.columns[i]));
        let record = RecordView {
            row,
            destination,
            status,
            message_id,
            correlation_id: cell(4),
            http_status: clean(cells.get(self.columns[5])).parse().ok(),
            error_code: cell(6),
            error: cell(7),
            attempts,
            sent_at: cell(9),
            raw_destination: cell(10),
            sender: cell(11),
            target: cell(12),
            message: cell(13),
        };
        let extra = |i: usize| unescape(cells.get(self.delivery_columns[i]));
        let delivery = DeliveryView {
            status: delivery_status(extra(0)),
            delivered_at: extra(1),
            read_at: extra(2),
            error: extra(3),
            checked_at: extra(4),
        };
        Ok((record, delivery))
    }

    /// The cells of a line the resume index keeps, borrowed from it, checked as
    /// [`Layout::parse`] checks the whole line (it refuses exactly the lines this refuses):
    /// reading a million-line checkpoint owns no string per line.
    pub(super) fn kept<'a>(&self, cells: impl Into<Fields<'a>>) -> Result<Kept<'a>, String> {
        self.kept_of(&Cells::read(cells.into())?)
    }

    fn kept_of<'a>(&self, cells: &Cells<'a>) -> Result<Kept<'a>, String> {
        let (row, status, attempts) = self.checked(cells)?;
        let destination = self.destination(cells, status)?;
        let id = clean(self.message_id(cells)?);
        if !id.is_empty() && !status.may_hold_an_id() {
            // This tool never writes one: the status was typed over an accepted send's.
            return Err(format!(
                "its status is {status}, but column D (messageId) holds '{}', an id the API \
                 gives only a send it accepted, so a rerun would send that row again. Set \
                 the status back to what it was (QUEUED, if the id is the send's), or \
                 restore the file from a copy",
                shorten(id)
            ));
        }
        let text = |i: usize| unescape(cells.get(self.columns[i]));
        Ok(Kept {
            row,
            destination,
            status,
            error_code: text(6),
            error: text(7),
            attempts,
            raw_destination: text(10),
            sender: text(11),
            target: text(12),
            message: text(13),
        })
    }

    /// What [`Layout::parse`] refuses a line for, and the numbers it reads: the row, the
    /// status and the attempts.
    fn checked(&self, cells: &Cells<'_>) -> Result<(u64, Status, u32), String> {
        let cell = |i: usize| cells.get(self.columns[i]);
        let row = match clean(cell(0)) {
            "" => 0,
            row => row
                .parse::<u32>()
                .ok()
                .filter(|r| *r > 0)
                .ok_or_else(|| format!("row number '{}' is not a row", shorten(row)))?,
        };
        let status = Status::parse(cell(2))
            .or_else(|| Status::parse_lenient(cell(2)))
            .ok_or_else(|| format!("unknown status '{}'", shorten(cell(2))))?;
        let attempts = match clean(cell(8)) {
            "" => 0,
            n if n.bytes().all(|b| b.is_ascii_digit()) => n.parse().unwrap_or(u32::MAX),
            n => return Err(format!("attempts '{}' is not a number", shorten(n))),
        };
        Ok((u64::from(row), status, attempts))
    }

    /// The `destination` cell of a line in `status`. A row judged valid holds the
    /// destination it was sent to (or is to be sent to), which decides what a rerun sends
    /// again: a cell a spreadsheet turned into a number reads as the number it was, or is
    /// refused when digits were lost ([`sent_destination`]). An `INVALID` row's cell is what
    /// the input held (`5.51E+12` included), read as it is.
    fn destination<'a>(&self, cells: &Cells<'a>, status: Status) -> Result<Cow<'a, str>, String> {
        let cell = cells.get(self.columns[1]);
        if status == Status::Invalid {
            return Ok(Cow::Borrowed(unescape(cell)));
        }
        sent_destination(cell).map_err(|lost| {
            let why = match lost {
                Lost::Reformatted(Number::Scientific) => {
                    "the phone number as a spreadsheet showed it in a narrow column, its \
                     digits rounded away"
                }
                Lost::Reformatted(_) => "the phone number in a spreadsheet's number format",
                Lost::NotE164 => {
                    "not a number this tool wrote (E.164: a + and at most 15 digits, the \
                     first not 0), so the one the row was sent to is not known"
                }
            };
            self.reformatted(1, cell, why)
        })
    }

    /// The `messageId` cell, refused when a spreadsheet rounded a numeric id to scientific
    /// notation: the id that status checks and cancels ask the API about would be lost.
    fn message_id<'a>(&self, cells: &Cells<'a>) -> Result<&'a str, String> {
        let cell = unescape(cells.get(self.columns[3]));
        match number(clean(cell)) {
            Some(Number::Scientific) => {
                Err(self.reformatted(3, cell, "a number a spreadsheet rounded, its digits lost"))
            }
            _ => Ok(cell),
        }
    }

    /// Why the cell of column `i` is refused, and how to get it back.
    fn reformatted(&self, i: usize, cell: &str, why: &str) -> String {
        let name = COLUMNS[i];
        let letter = self.columns[i].map(column_letter).unwrap_or_default();
        format!(
            "column {letter} ({name}) reads '{}': {why}. Restore the file from a copy made \
             before the spreadsheet saved it, or open that copy with the {name} column \
             formatted as Text, then save it",
            shorten(cell)
        )
    }
}

/// A header's cells as titles: trimmed, a stray BOM or `'` gone.
fn titles(header: &csv::ByteRecord) -> Vec<String> {
    (header.iter())
        .map(|c| clean(&String::from_utf8_lossy(c)).to_string())
        .collect()
}

/// Where the column `name` is among `titles`: the one spelled exactly so, else the one
/// spelled so in another case; `Err` with every such column when that is not one.
fn place(titles: &[String], name: &str) -> Result<Option<usize>, Vec<usize>> {
    let all = |same: &dyn Fn(&str) -> bool| -> Vec<usize> {
        (titles.iter().enumerate())
            .filter(|(_, t)| same(t))
            .map(|(i, _)| i)
            .collect()
    };
    let exact = all(&|t| t == name);
    let found = match exact.len() {
        0 => all(&|t| t.eq_ignore_ascii_case(name)),
        _ => exact,
    };
    match found[..] {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(found),
    }
}

/// A column's name in a spreadsheet (`A`, `B`, … `Z`, `AA`…) from its index.
fn column_letter(index: usize) -> String {
    let mut letters = Vec::new();
    let mut n = index + 1;
    while n > 0 {
        n -= 1;
        letters.push(char::from(b'A' + (n % 26) as u8));
        n /= 26;
    }
    letters.iter().rev().collect()
}

/// A line's cells: a CSV record, or a line with no quote split at its delimiters (the
/// bytes of cell `i` end at `ends[i]`, the next starts one byte after).
#[derive(Debug, Clone, Copy)]
pub(super) enum Fields<'a> {
    Record(&'a csv::ByteRecord),
    Split { line: &'a [u8], ends: &'a [usize] },
}

impl<'a> Fields<'a> {
    /// The bytes of every cell, and where in them cell `i` is.
    fn bytes(&self) -> &'a [u8] {
        match self {
            Fields::Record(record) => record.as_slice(),
            Fields::Split { line, .. } => line,
        }
    }

    fn range(&self, i: usize) -> Option<std::ops::Range<usize>> {
        match self {
            Fields::Record(record) => record.range(i),
            Fields::Split { ends, .. } => {
                let start = i
                    .checked_sub(1)
                    .map_or(Some(0), |j| Some(ends.get(j)? + 1))?;
                Some(start..*ends.get(i)?)
            }
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Fields::Record(record) => record.len(),
            Fields::Split { ends, .. } => ends.len(),
        }
    }

    /// Each cell's bytes, in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        let bytes = self.bytes();
        (0..self.len()).filter_map(move |i| bytes.get(self.range(i)?))
    }
}

impl<'a> From<&'a csv::ByteRecord> for Fields<'a> {
    fn from(record: &'a csv::ByteRecord) -> Fields<'a> {
        Fields::Record(record)
    }
}

/// A line's cells, checked to be UTF-8 text each.
struct Cells<'a> {
    fields: Fields<'a>,
    /// Every cell's bytes (as [`Fields::bytes`] holds them), as text.
    line: &'a str,
}

impl<'a> Cells<'a> {
    /// The cells of `fields`, or which is not text. The line is checked at once (one pass
    /// over its bytes, not a call per cell), then that no cell cuts a character in two:
    /// the cells are exactly what checking each cell alone accepts.
    fn read(fields: Fields<'a>) -> Result<Cells<'a>, String> {
        if let Ok(line) = std::str::from_utf8(fields.bytes()) {
            let whole = |i: usize| fields.range(i).is_some_and(|r| line.get(r).is_some());
            // A split line is cut only at its (ASCII) delimiters, never inside a character.
            let split = matches!(fields, Fields::Split { .. });
            if split || line.is_ascii() || (0..fields.len()).all(whole) {
                return Ok(Cells { fields, line });
            }
        }
        let i = (fields.iter())
            .position(|c| std::str::from_utf8(c).is_err())
            .unwrap_or_default();
        Err(format!("cell {} is not UTF-8 text", i + 1))
    }

    /// The text of `column` (empty when the file lacks it).
    fn get(&self, column: Option<usize>) -> &'a str {
        (column.and_then(|i| self.fields.range(i)))
            .and_then(|r| self.line.get(r))
            .unwrap_or_default()
    }
}

/// What the resume index keeps of a line (see [`Layout::kept`]), or of a record written.
pub(super) struct Kept<'a> {
    pub(super) row: u64,
    pub(super) destination: Cow<'a, str>,
    pub(super) status: Status,
    pub(super) error_code: &'a str,
    /// Read only for a `Retry-After` written down ([`crate::pacing::hold`]).
    pub(super) error: &'a str,
    pub(super) attempts: u32,
    pub(super) raw_destination: &'a str,
    pub(super) sender: &'a str,
    pub(super) target: &'a str,
    pub(super) message: &'a str,
}

/// A line's send fields borrowed from it ([`Layout::view`]) or from a [`Record`]: what a
/// reader that keeps little (the report) reads, copying a cell only when it keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordView<'a> {
    pub row: u64,
    /// Borrowed from the line, unless a spreadsheet dropped its `+` (see
    /// [`sent_destination`]).
    pub destination: Cow<'a, str>,
    pub status: Status,
    pub message_id: &'a str,
    pub correlation_id: &'a str,
    pub http_status: Option<u16>,
    pub error_code: &'a str,
    pub error: &'a str,
    pub attempts: u32,
    pub sent_at: &'a str,
    pub raw_destination: &'a str,
    pub sender: &'a str,
    pub target: &'a str,
    pub message: &'a str,
}

/// A line's delivery cells borrowed from it, as [`RecordView`] is its send fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryView<'a> {
    pub status: Option<DeliveryStatus>,
    pub delivered_at: &'a str,
    pub read_at: &'a str,
    pub error: &'a str,
    pub checked_at: &'a str,
}

impl RecordView<'_> {
    /// The record, every cell owned.
    pub fn into_owned(self) -> Record {
        Record {
            row: self.row,
            destination: self.destination.into_owned(),
            status: self.status,
            message_id: self.message_id.to_string(),
            correlation_id: self.correlation_id.to_string(),
            http_status: self.http_status,
            error_code: self.error_code.to_string(),
            error: self.error.to_string(),
            attempts: self.attempts,
            sent_at: self.sent_at.to_string(),
            raw_destination: self.raw_destination.to_string(),
            sender: self.sender.to_string(),
            target: self.target.to_string(),
            message: self.message.to_string(),
            campaign: None,
            settled_ms: None,
        }
    }
}

impl<'a> From<&'a Record> for RecordView<'a> {
    fn from(record: &'a Record) -> RecordView<'a> {
        RecordView {
            row: record.row,
            destination: Cow::Borrowed(&record.destination),
            status: record.status,
            message_id: &record.message_id,
            correlation_id: &record.correlation_id,
            http_status: record.http_status,
            error_code: &record.error_code,
            error: &record.error,
            attempts: record.attempts,
            sent_at: &record.sent_at,
            raw_destination: &record.raw_destination,
            sender: &record.sender,
            target: &record.target,
            message: &record.message,
        }
    }
}

impl DeliveryView<'_> {
    /// The delivery cells, owned.
    pub fn into_owned(self) -> Delivery {
        Delivery {
            status: self.status,
            delivered_at: self.delivered_at.to_string(),
            read_at: self.read_at.to_string(),
            error: self.error.to_string(),
            checked_at: self.checked_at.to_string(),
        }
    }
}

impl<'a> From<&'a Delivery> for DeliveryView<'a> {
    fn from(delivery: &'a Delivery) -> DeliveryView<'a> {
        DeliveryView {
            status: delivery.status,
            delivered_at: &delivery.delivered_at,
            read_at: &delivery.read_at,
            error: &delivery.error,
            checked_at: &delivery.checked_at,
        }
    }
}

/// A `deliveryStatus` cell as a person may have retyped it (` read `), read with no copy:
/// the words are ASCII capitals, so any case matches.
fn delivery_status(cell: &str) -> Option<DeliveryStatus> {
    let cell = clean(cell);
    (DeliveryStatus::ALL.into_iter()).find(|s| s.as_str().eq_ignore_ascii_case(cell))
}

impl Record {
    /// The cells of this record the resume index keeps.
    pub(super) fn kept(&self) -> Kept<'_> {
        Kept {
            row: self.row,
            destination: Cow::Borrowed(&self.destination),
            status: self.status,
            error_code: &self.error_code,
            error: &self.error,
            attempts: self.attempts,
            raw_destination: &self.raw_destination,
            sender: &self.sender,
            target: &self.target,
            message: &self.message,
        }
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
    // Most cells hold nothing to clean: they cost no walk over characters from each end.
    let plain = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
    if cell.is_empty() || (plain(cell.as_bytes().first()) && plain(cell.as_bytes().last())) {
        return cell;
    }
    trimmed(cell)
}

/// [`clean`] for a cell that may hold something to clean.
fn trimmed(cell: &str) -> &str {
    let cell = cell.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    cell.strip_prefix('\'').unwrap_or(cell).trim()
}

fn shorten(text: &str) -> String {
    printable(text.as_bytes()).chars().take(40).collect()
}

/// The UTF-16 encoding `bytes` are in, if they are UTF-16 text ("Unicode Text" in Excel):
/// NUL bytes make a quarter of them, at even places (big-endian) or odd ones.
pub(super) fn utf16(bytes: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let nuls = |from: usize| {
        bytes
            .iter()
            .skip(from)
            .step_by(2)
            .filter(|b| **b == 0)
            .count()
    };
    let (even, odd) = (nuls(0), nuls(1));
    (even + odd > bytes.len() / 4).then_some(if odd >= even {
        encoding_rs::UTF_16LE
    } else {
        encoding_rs::UTF_16BE
    })
}

/// Text from the file, fit for a message on a terminal: at most 200 characters, control
/// characters written out (`\u{1b}`), never sent raw; text saved as UTF-16 (NUL bytes
/// between its letters) read as such.
pub(super) fn printable(bytes: &[u8]) -> String {
    let text = match utf16(bytes) {
        Some(encoding) => encoding.decode_without_bom_handling(bytes).0,
        None => String::from_utf8_lossy(bytes),
    };
    let text = text.trim_start_matches('\u{feff}');
    let mut shown = String::new();
    for c in text.chars().take(200) {
        match c {
            '\t' => shown.push(c),
            c if c.is_control() => shown.extend(c.escape_default()),
            c => shown.push(c),
        }
    }
    shown
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

/// Appends `record` (and its delivery cells, if the file has them) as one line, quoted as
/// the `csv` crate's writer quotes (a cell holding the delimiter, a quote or a line break is
/// quoted, its quotes doubled), straight into `out`: no writer and no buffer of its own, as
/// this runs for every line of every send and of every compaction.
pub(super) fn write_line(
    out: &mut Vec<u8>,
    delimiter: u8,
    record: &Record,
    delivery: Option<&Delivery>,
) {
    let mut line = Line::new(out, delimiter);
    record.write_cells(&mut line);
    if let Some(d) = delivery {
        line.cell(d.status.map(DeliveryStatus::as_str).unwrap_or(""));
        line.text(&d.delivered_at);
        line.text(&d.read_at);
        line.text(&d.error);
        line.text(&d.checked_at);
    }
    line.end();
}

/// Whether `fields` (a line of the canonical layout without delivery columns) is exactly
/// what [`write_line`] writes for what it reads as, numbered `row`, in `status`: compaction then copies
/// the line as it is instead of parsing and writing it again. Only a line split at its
/// delimiters (no quote, no line break) with every cell as this tool writes it qualifies:
/// numbers without spaces or leading zeros, statuses as named, text neutralized.
pub(super) fn writes_back_as_is(fields: Fields<'_>, row: u32, status: Status) -> bool {
    let Fields::Split { line, ends } = fields else {
        return false;
    };
    let (Ok(line), true) = (std::str::from_utf8(line), ends.len() == COLUMNS.len()) else {
        return false;
    };
    // Cut at ASCII delimiters: every cell is whole text.
    let mut cells = [""; COLUMNS.len()];
    let mut start = 0;
    for (cell, &end) in cells.iter_mut().zip(ends) {
        *cell = &line[start..end];
        start = end + 1;
    }
    let number = |cell: &str, max: u64| {
        let digits = !cell.is_empty() && cell.bytes().all(|b| b.is_ascii_digit());
        digits
            && (cell == "0" || !cell.starts_with('0'))
            && cell.parse::<u64>().is_ok_and(|n| n <= max)
    };
    // What [`text_cell`] writes for the cell's text, without building it: the line has no
    // line break, so only the `'` of [`excel_safe`] can differ, and [`unescape`] took one
    // exactly when the text needs it again.
    let text = |cell: &str| {
        let read = unescape(cell);
        (read.len() != cell.len()) == (needs_quote(read) || read.starts_with('\''))
    };
    let destination = |cell: &str| match is_e164(unescape(cell)) {
        true => !cell.starts_with('\''),
        false => text(cell),
    };
    // A sent row's destination reads as its cell's text unless a spreadsheet changed it.
    let sent = |cell: &str| {
        status == Status::Invalid || sent_destination(cell).is_ok_and(|d| d == unescape(cell))
    };
    number(cells[0], u64::from(u32::MAX))
        && cells[0].parse() == Ok(row)
        && sent(cells[1])
        && destination(cells[1])
        && cells[2] == status.as_str()
        && [3, 4, 6, 7, 9, 11, 12, 13]
            .into_iter()
            .all(|i| text(cells[i]))
        && (cells[5].is_empty() || number(cells[5], u64::from(u16::MAX)))
        && number(cells[8], u64::from(u32::MAX))
        && destination(cells[10])
}

/// Appends `record` as one line, without delivery cells.
pub(super) fn write_record(out: &mut Vec<u8>, delimiter: u8, record: &Record) {
    write_line(out, delimiter, record, None);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use std::borrow::Cow;

    use super::super::cells::{destination_cell, sent_destination, text_cell};
    use super::*;

    #[test]
    fn columns_a_person_added_are_named_and_ours_are_not_in_any_case() {
        let mut header: Vec<String> = COLUMNS.iter().map(|c| c.to_uppercase()).collect();
        header.extend(["deliveryStatus", " notes ", "", "Owner"].map(String::from));
        let header = csv::ByteRecord::from(header);
        let layout = Layout::from_header(b',', &header).unwrap();
        assert_eq!(layout.foreign(&header), ["notes", "Q (no title)", "Owner"]);
        let ours = csv::ByteRecord::from(COLUMNS.to_vec());
        assert!(
            Layout::from_header(b',', &ours)
                .unwrap()
                .foreign(&ours)
                .is_empty()
        );
        assert_eq!(Layout::twice(&ours), None);
        // A person's `Destination` beside ours is theirs; a second `destination` is not
        // knowable, nor two in another case.
        let mut added = vec!["Destination"];
        added.extend(COLUMNS);
        let added = csv::ByteRecord::from(added);
        let layout = Layout::from_header(b',', &added).unwrap();
        assert_eq!(layout.foreign(&added), ["Destination"]);
        assert_eq!(Layout::twice(&added), None);
        for (theirs, ours) in [("destination", "destination"), ("MESSAGEID", "MessageId")] {
            let mut both: Vec<&str> = COLUMNS
                .iter()
                .map(
                    |c| match *c == ours.to_lowercase() || c.eq_ignore_ascii_case(ours) {
                        true => ours,
                        false => c,
                    },
                )
                .collect();
            both.insert(0, theirs);
            let why = Layout::twice(&csv::ByteRecord::from(both)).unwrap();
            assert!(why.contains("columns A and"), "{why}");
        }
    }

    /// Text with every byte the quoting, the neutralizing and the line rule look at.
    fn text() -> impl Strategy<Value = String> {
        "[a-z0-9 ,;|\t\"'=+@\r\n\u{e9}-]{0,10}"
    }

    /// A cell of a hostile line: what a person or a spreadsheet leaves (statuses in any
    /// case, numbers with spaces, a `'` or a BOM), bytes that are not UTF-8, and the two
    /// halves of `é`, which read as text together but not alone.
    fn hostile_cell() -> impl Strategy<Value = Vec<u8>> {
        let words = [
            "QUEUED",
            " queued ",
            "Failed",
            "read",
            " DELIVERED",
            "'12",
            "7",
            " 3 ",
            "0",
            "-1",
            "4294967296",
            "\u{feff}5",
            "'=x",
            "é",
            "\u{a0}8\u{a0}",
            "5,51E+12",
            "5511900000001",
        ];
        prop_oneof![
            prop::sample::select(words.to_vec()).prop_map(|w| w.as_bytes().to_vec()),
            Just(vec![0xC3]),
            Just(vec![0xA9]),
            Just(vec![0xFF]),
            "[ a-z0-9'=+-]{0,6}".prop_map(String::into_bytes),
        ]
    }

    /// A cell of a line compaction may copy: as this tool writes it, or almost (leading
    /// zeros, spaces, a sign, a `'` too many or too few, a lower-case status).
    fn copy_cell() -> impl Strategy<Value = Vec<u8>> {
        let words = [
            "1",
            "01",
            " 1",
            "+1",
            "",
            "QUEUED",
            "queued",
            "202",
            "0202",
            "msg_1",
            "+5511999990001",
            "5511999990001",
            "'=x",
            "=x",
            "'a",
            "''=x",
            "-3",
            "'-3",
            "m:0000abcd",
            "99999999999",
        ];
        prop_oneof![
            3 => prop::sample::select(words.to_vec()).prop_map(|w| w.as_bytes().to_vec()),
            1 => hostile_cell(),
        ]
    }

    /// The lines a send writes are copied as they are by compaction.
    #[test]
    fn a_line_this_tool_writes_is_copied() {
        let record = Record {
            message_id: "msg_1".into(),
            correlation_id: "corr_1".into(),
            http_status: Some(202),
            attempts: 1,
            sent_at: "2026-01-15T12:00:00.000Z".into(),
            raw_destination: "+5511999990001".into(),
            target: "pilot-status:https://api.example".into(),
            message: "m:0000abcd".into(),
            ..Record::new(7, "+5511999990001", Status::Queued)
        };
        let mut line = Vec::new();
        write_record(&mut line, b',', &record);
        line.pop();
        let mut ends: Vec<usize> = (line.iter().enumerate())
            .filter_map(|(i, b)| (*b == b',').then_some(i))
            .collect();
        ends.push(line.len());
        let fields = Fields::Split {
            line: &line,
            ends: &ends,
        };
        assert!(writes_back_as_is(fields, 7, Status::Queued));
        assert!(
            !writes_back_as_is(fields, 8, Status::Queued),
            "renumbered: written again"
        );
        assert!(
            !writes_back_as_is(fields, 7, Status::Uncertain),
            "another state: written"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// A line compaction copies as it is reads and writes back to exactly its bytes.
        #[test]
        fn a_line_copied_as_it_is_writes_back_the_same(
            changes in prop::collection::vec((0usize..15, copy_cell()), 0..3),
        ) {
            // A line as this tool writes it, a cell or two changed (or one added).
            let mut cells: Vec<Vec<u8>> = [
                "1", "+5511999990001", "QUEUED", "msg_1", "corr_1", "202", "", "", "1",
                "2026-01-15T12:00:00.000Z", "+5511999990001", "", "", "m:0000abcd",
            ]
            .map(|c| c.as_bytes().to_vec())
            .to_vec();
            for (i, cell) in changes {
                match cells.get_mut(i) {
                    Some(at) => *at = cell,
                    None => cells.push(cell),
                }
            }
            let line = cells.join(&b',');
            let mut ends: Vec<usize> = (line.iter().enumerate())
                .filter_map(|(i, b)| (*b == b',').then_some(i))
                .collect();
            ends.push(line.len());
            let fields = Fields::Split { line: &line, ends: &ends };
            if writes_back_as_is(fields, 1, Status::Queued) {
                let (record, _) = Layout::canonical(b',', false).parse(fields).unwrap();
                let mut written = Vec::new();
                write_line(&mut written, b',', &Record { row: 1, ..record }, None);
                prop_assert_eq!(written, [&line[..], b"\n"].concat());
            }
        }

        /// A line is refused for the first cell that is not text on its own, however the
        /// cells' bytes join up, and every field the view reads is its cell's text: the
        /// report reads and refuses exactly what a rerun does (`parse` is the view, owned).
        #[test]
        fn the_view_reads_each_cell_alone(
            cells in prop::collection::vec(hostile_cell(), 0..22),
            delivery in any::<bool>(),
        ) {
            let record = csv::ByteRecord::from(cells.clone());
            let layout = Layout::canonical(b',', delivery);
            let alone = |i: usize| cells.get(i).map(|c| std::str::from_utf8(c));
            match cells.iter().position(|c| std::str::from_utf8(c).is_err()) {
                Some(bad) => {
                    let why = format!("cell {} is not UTF-8 text", bad + 1);
                    prop_assert_eq!(layout.view(&record).err(), Some(why.clone()));
                    prop_assert_eq!(layout.kept(&record).err(), Some(why));
                }
                None => {
                    let text = |i: usize| unescape(alone(i).map_or("", Result::unwrap));
                    let Ok((record_view, delivery_view)) = layout.view(&record) else {
                        prop_assert!(layout.kept(&record).is_err());
                        return Ok(());
                    };
                    let parsed = layout.parse(&record).unwrap();
                    prop_assert_eq!(&parsed.0, &record_view.clone().into_owned());
                    prop_assert_eq!(&parsed.1, &delivery_view.into_owned());
                    let cell = alone(1).map_or("", Result::unwrap);
                    let destination = match record_view.status {
                        Status::Invalid => Cow::Borrowed(unescape(cell)),
                        _ => sent_destination(cell).unwrap(),
                    };
                    prop_assert_eq!(&record_view.destination, &destination);
                    let texts = [
                        (&record_view.message_id, 3),
                        (&record_view.correlation_id, 4),
                        (&record_view.error_code, 6),
                        (&record_view.error, 7),
                        (&record_view.sent_at, 9),
                        (&record_view.raw_destination, 10),
                        (&record_view.sender, 11),
                        (&record_view.target, 12),
                        (&record_view.message, 13),
                    ];
                    for (field, i) in texts {
                        prop_assert_eq!(field, &text(i), "column {}", i);
                    }
                    let status = clean(text(14)).to_ascii_uppercase();
                    let want = delivery.then(|| DeliveryStatus::parse(&status)).flatten();
                    prop_assert_eq!(delivery_view.status, want);
                    if delivery {
                        prop_assert_eq!(&delivery_view.error, &text(17));
                    }
                }
            }
        }

        /// Cleaning skips its walk only for cells it would leave as they are.
        #[test]
        fn a_plain_cell_is_clean_as_it_is(cell in "[ '\u{feff}\u{a0}a-z0-9é.-]{0,8}") {
            prop_assert_eq!(clean(&cell), trimmed(&cell));
        }

        /// Lines are written without the `csv` crate's writer: they must be the bytes it
        /// writes for the same cells (files written before, and readers, rely on them).
        #[test]
        fn a_line_is_what_the_csv_writer_writes(
            texts in prop::collection::vec(text(), 16),
            numbers in (0u32..=u32::MAX, prop::option::of(any::<u16>()), any::<u32>()),
            status in prop::sample::select(crate::journal::Status::ALL.to_vec()),
            delimiter in prop::sample::select(vec![b',', b';', b'\t', b'|']),
            delivery in any::<bool>(),
        ) {
            let (row, http_status, attempts) = numbers;
            let t = |i: usize| texts[i].clone();
            let record = Record {
                row: u64::from(row),
                destination: t(0),
                status,
                message_id: t(1),
                correlation_id: t(2),
                http_status,
                error_code: t(3),
                error: t(4),
                attempts,
                sent_at: t(5),
                raw_destination: t(6),
                sender: t(7),
                target: t(8),
                message: t(15),
                campaign: None,
            settled_ms: None,
            };
            let delivery = delivery.then(|| Delivery {
                status: None,
                delivered_at: t(9),
                read_at: t(10),
                error: t(11),
                checked_at: t(12),
            });
            let mut line = Vec::new();
            write_line(&mut line, delimiter, &record, delivery.as_ref());
            let mut cells: Vec<Cow<'_, str>> = vec![
                Cow::Owned(if row == 0 { String::new() } else { row.to_string() }),
                destination_cell(&record.destination),
                Cow::Borrowed(status.as_str()),
                text_cell(&record.message_id),
                text_cell(&record.correlation_id),
                Cow::Owned(http_status.map(|s| s.to_string()).unwrap_or_default()),
                text_cell(&record.error_code),
                text_cell(&record.error),
                Cow::Owned(attempts.to_string()),
                text_cell(&record.sent_at),
                destination_cell(&record.raw_destination),
                text_cell(&record.sender),
                text_cell(&record.target),
                text_cell(&record.message),
            ];
            if let Some(d) = &delivery {
                cells.extend([
                    Cow::Borrowed(""),
                    text_cell(&d.delivered_at),
                    text_cell(&d.read_at),
                    text_cell(&d.error),
                    text_cell(&d.checked_at),
                ]);
            }
            let mut writer = csv::WriterBuilder::new()
                .delimiter(delimiter)
                .has_headers(false)
                .from_writer(Vec::new());
            writer.write_record(cells.iter().map(|c| c.as_bytes())).unwrap();
            let expected = writer.into_inner().unwrap();
            prop_assert_eq!(String::from_utf8(line).unwrap(), String::from_utf8(expected).unwrap());
        }
    }
}
