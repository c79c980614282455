//! Reading a results line back by its columns' names: where each of this tool's columns
//! sits in a header a spreadsheet may have reordered, renamed in another case or padded
//! with its own, and each cell read back from what the spreadsheet made of it.

use std::borrow::Cow;

use super::cells::{
    Lost, Number, clean, is_e164, needs_quote, rounded_id, sent_destination, unescape,
};
use super::delivery_state::{DELIVERY_COLUMNS, Delivery, DeliveryStatus};
use super::record::{DeliveryView, Kept, Record, RecordView, printable};
use super::{COLUMNS, REQUIRED_COLUMNS, Status};

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
                Lost::Retyped => {
                    "a phone number retyped or formatted (this tool writes a + and the \
                     digits with the country code, nothing else, as +5511988887777), so \
                     the one the row was sent to is not known for sure and a rerun would \
                     send it again. Type the number back in that form, with no space or sign"
                }
            };
            self.reformatted(1, cell, why)
        })
    }

    /// The `messageId` cell, refused when a spreadsheet rounded a numeric id to scientific
    /// notation: the id that status checks and cancels ask the API about would be lost.
    fn message_id<'a>(&self, cells: &Cells<'a>) -> Result<&'a str, String> {
        let cell = unescape(cells.get(self.columns[3]));
        if rounded_id(cell) {
            return Err(self.reformatted(
                3,
                cell,
                "a number a spreadsheet rounded, its digits lost",
            ));
        }
        Ok(cell)
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

/// A `deliveryStatus` cell as a person may have retyped it (` read `), read with no copy:
/// the words are ASCII capitals, so any case matches.
fn delivery_status(cell: &str) -> Option<DeliveryStatus> {
    let cell = clean(cell);
    (DeliveryStatus::ALL.into_iter()).find(|s| s.as_str().eq_ignore_ascii_case(cell))
}

fn shorten(text: &str) -> String {
    printable(text.as_bytes()).chars().take(40).collect()
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
