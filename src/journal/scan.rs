//! Reading a results file's lines as a rerun reads them: the header found by name (any
//! delimiter, a BOM), each line checked and handed on with its offset, a cell with line
//! breaks told from a quote never closed, and the file's end judged: a write torn by a crash
//! (only where no send can be lost with it) is left out, anything else that does not read
//! is refused naming its line. [`super::checkpoint`] builds the resume index from it, and
//! `status` and `report` read through it.

use std::fs::File;
use std::io::{self, BufReader, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::delivery_state::DELIVERY_COLUMNS;
use super::layout::{Fields, Layout};
use super::record::{DeliveryView, RecordView, header_line, one_record, printable, utf16};
use super::records::Records;
use super::{COLUMNS, JournalError, REQUIRED_COLUMNS, Status, io_error};
use crate::identity::MessageFingerprint;

/// How much of the file's last record is read to tell a quote never closed.
const LAST_RECORD_READ: u64 = 64 << 20;
/// What [`scan`] learned about a results file besides its lines.
pub(super) struct Scanned {
    pub(super) layout: Layout,
    /// Its header's columns that are not this tool's ([`Layout::foreign`]).
    pub(super) foreign: Vec<String>,
    /// Exactly what this version writes (see [`Checkpoint::canonical`]).
    pub(super) canonical: bool,
    /// The length of what was read: the whole file but a torn write at its end.
    pub(super) intact: u64,
    /// How many bytes at the end are a write torn by a crash, left out.
    pub(super) torn: u64,
    /// The last line read has no line break after it.
    pub(super) unterminated: bool,
}

/// Reads every line of a results file once, in file order, checked as a rerun checks it,
/// and hands each to `visit`, borrowed ([`Layout::view`]), with the offset it starts at;
/// `report`'s single pass is one use of it. A line that does not read is an error naming
/// it. A line of empty cells only (a spreadsheet's rows after the data) is a blank line.
///
/// A last line with no line break is a whole line (spreadsheets and editors save so)
/// unless it can be a write torn by a crash: this tool only appends to a file as it writes
/// it ([`Checkpoint::canonical`]), so only there, and only when it is not a whole line as
/// this tool writes it ([`is_whole_line`]), is it left out; and only when leaving it out
/// cannot lose a send ([`Tail`]): else the file is refused, naming the line.
pub(super) fn scan(
    path: &Path,
    file: &File,
    mut visit: impl FnMut(u64, RecordView<'_>, DeliveryView<'_>),
) -> Result<Scanned, JournalError> {
    scan_lines(path, file, |offset, layout, cells| {
        let (record, delivery) = layout.view(cells)?;
        visit(offset, record, delivery);
        Ok(())
    })
}

/// [`scan`], handing each line's cells to `visit` to read what it needs (the index reads
/// only what it keeps); `visit`'s error is the line's.
pub(super) fn scan_lines(
    path: &Path,
    file: &File,
    mut visit: impl FnMut(u64, &Layout, Fields<'_>) -> Result<(), String>,
) -> Result<Scanned, JournalError> {
    let length = file.metadata().map_err(io_error("read", path))?.len();
    let terminated = terminated_length(file, length).map_err(io_error("read", path))?;
    // The line a record starts on, counted when one is refused (`Place::line` counts as
    // `csv` does, one short after a carriage return).
    let damaged = |offset: u64, detail: String| match line_at(file, offset) {
        Ok(line) => JournalError::Damaged {
            path: path.to_path_buf(),
            line,
            detail,
        },
        Err(e) => io_error("read", path)(e),
    };
    let mut start = [0u8; 4];
    let got = file
        .read_at(&mut start, 0)
        .map_err(io_error("read", path))?;
    // A zip archive: a workbook (.xlsx, .ods) given a .csv name. Said before anything reads
    // its bytes as lines, which would blame its line endings.
    if start[..got] == *b"PK\x03\x04" {
        return Err(damaged(
            0,
            "the file is a spreadsheet workbook (.xlsx or .ods, a zip archive), not CSV text: \
             open it in the spreadsheet and save it as CSV UTF-8 under this name"
                .into(),
        ));
    }
    let bom = if start[..got.min(3)] == [0xEF, 0xBB, 0xBF] {
        3
    } else {
        0
    };
    if terminated <= bom {
        // No complete line: a new file, or a header torn while being created.
        let fragment =
            read_span(file, bom, length.min(bom + 512)).map_err(io_error("read", path))?;
        if header_line(b',', false).starts_with(&fragment)
            || header_line(b';', false).starts_with(&fragment)
        {
            return Ok(Scanned {
                layout: Layout::canonical(b',', false),
                foreign: Vec::new(),
                canonical: true,
                intact: 0,
                torn: length,
                unterminated: false,
            });
        }
        return Err(damaged(
            0,
            "the file has no line break: if it was saved with old Mac (CR) line endings, \
             re-save it as CSV UTF-8"
                .into(),
        ));
    }
    let mut source = BufReader::new(file);
    source
        .seek(SeekFrom::Start(bom))
        .map_err(io_error("read", path))?;
    let head = first_line(&mut source).map_err(io_error("read", path))?;
    let layout = [b',', b';', b'\t']
        .into_iter()
        .find_map(|d| Layout::from_header(d, &one_record(&head, d)))
        .ok_or_else(|| JournalError::NotOurs {
            path: path.to_path_buf(),
            header: printable(head.trim_ascii_end()),
            saved_as: match utf16(&head) {
                Some(_) => " and it was saved as UTF-16 text",
                None => "",
            },
            lacks: lacking(&head),
        })?;
    if let Some(why) = Layout::twice(&one_record(&head, layout.delimiter)) {
        return Err(damaged(bom, why));
    }
    let canonical = bom == 0
        && head == header_line(layout.delimiter, layout.delivery())
        && layout == Layout::canonical(layout.delimiter, layout.delivery());
    // Files an older version wrote (fewer columns) were appended to as they were, too.
    let older = (REQUIRED_COLUMNS..COLUMNS.len()).find(|k| {
        let names = COLUMNS[..*k].join(&char::from(layout.delimiter).to_string());
        bom == 0 && head == [names.as_bytes(), b"\n"].concat()
    });
    let appended = match (canonical, older) {
        (true, _) => Some(COLUMNS.len() + usize::from(layout.delivery()) * DELIVERY_COLUMNS.len()),
        (false, older) => older,
    };
    let whole = match appended {
        _ if terminated == length => true,
        None => true,
        Some(cells) => is_whole_line(file, terminated..length, &layout, cells, canonical)
            .map_err(io_error("read", path))?,
    };
    let intact = if whole { length } else { terminated };
    // A tail that is not whole is dropped only if that cannot lose a send ([`Tail`]).
    let mut tail = match whole {
        true => Tail::Droppable,
        false => Tail::read(file, terminated..length, layout.delimiter)
            .map_err(io_error("read", path))?,
    };
    let own = file.try_clone().map_err(io_error("read", path))?;
    let mut records = Records::new(own, layout.delimiter, bom, intact);
    let mut header = true;
    let mut last = bom;
    let header_cells = one_record(&head, layout.delimiter);
    let mut foreign = layout.foreign(&header_cells);
    // Cells past the header's last column: typed in beside a line, with no title at all.
    let mut past = false;
    while let Some(place) = records.next().map_err(io_error("read", path))? {
        if std::mem::take(&mut header) {
            continue;
        }
        let offset = place.offset;
        let fields = records.fields();
        if fields.iter().all(<[u8]>::is_empty) {
            continue;
        }
        if place.next_line - place.line > 1 {
            swallowed(fields, layout.delimiter).map_err(|d| damaged(offset, d))?;
        }
        visit(offset, &layout, fields).map_err(|d| damaged(offset, d))?;
        past = past
            || fields.len() > header_cells.len()
                && fields
                    .iter()
                    .skip(header_cells.len())
                    .any(|c| !c.is_empty());
        if let Tail::Refused { row: Some(row), .. } = tail
            && layout.kept(fields).is_ok_and(|k| k.row == u64::from(row))
        {
            tail = Tail::Droppable;
        }
        last = offset;
    }
    match tail {
        Tail::Refused { row, status } => return Err(damaged(terminated, refusal(row, status))),
        Tail::Intent { row } => return Err(damaged(terminated, cut_intent(row))),
        Tail::Droppable => {}
    }
    // A quote never closed runs to the end of the file and takes every line after it. A last
    // record longer than that read is no line this tool wrote (64 KiB at most), and said so:
    // counted on part of it, its quotes would blame a quote it may well close.
    if intact - last > LAST_RECORD_READ {
        return Err(damaged(
            last,
            format!(
                "this line runs on for over {} MiB, far longer than any line this tool writes",
                LAST_RECORD_READ >> 20
            ),
        ));
    }
    let quoted = read_span(file, last, intact).map_err(io_error("read", path))?;
    if quoted.iter().filter(|b| **b == b'"').count() % 2 == 1 {
        return Err(damaged(
            last,
            "a quote opened on this line is never closed".into(),
        ));
    }
    if past {
        // First: the warning names only the first few of a long list.
        foreign.insert(0, "cells past the last titled column".into());
    }
    Ok(Scanned {
        foreign,
        layout,
        canonical,
        intact,
        torn: length - intact,
        unterminated: intact != terminated,
    })
}

/// Whether the bytes of `file` in `span` (after its last line break) are a whole line of
/// `cells` cells as this tool writes it in `layout`, not a prefix of one torn by a crash:
/// every cell there, read as the index reads them, every quote closed, and in this
/// version's layout (`canonical`) the last one complete. That cell is `message` (`m:` and 8 hex digits, or
/// empty for a row never sent) or, with the delivery columns, `checkedAt` (an RFC 3339
/// time, or empty): a prefix of either is not. An older version's last cell cannot tell:
/// a line cut inside it reads as whole, with what was being recorded (never a send lost).
fn is_whole_line(
    file: &File,
    span: std::ops::Range<u64>,
    layout: &Layout,
    cells: usize,
    canonical: bool,
) -> io::Result<bool> {
    // Longer than any line this tool writes: a torn batch.
    if span.end - span.start > 64 * 1024 {
        return Ok(false);
    }
    let bytes = read_span(file, span.start, span.end)?;
    let record = one_record(&bytes, layout.delimiter);
    let last = record
        .get(cells - 1)
        .and_then(|c| std::str::from_utf8(c).ok());
    let complete = match last {
        Some(_) if !canonical => true,
        Some("") => true,
        Some(cell) if layout.delivery() => cell.parse::<jiff::Timestamp>().is_ok(),
        Some(cell) => cell.len() == 10 && MessageFingerprint::parse(cell).is_some(),
        None => false,
    };
    // A quote opened and never closed (cut inside a quoted cell) reads as a cell ended.
    let closed = bytes.iter().filter(|b| **b == b'"').count() % 2 == 0;
    Ok(closed && complete && record.len() == cells && layout.kept(&record).is_ok())
}

/// What an incomplete last line (after the file's last line break, not a whole line as this
/// tool writes it) may be: dropped only when dropping it cannot lose a send.
///
/// A crash tears only the line being appended: the tool makes a row's intent (`SENDING`)
/// durable before its request leaves, and compaction replaces the file whole (rename). So
/// a torn intent is a send that never left (torn where a write stops: at a page boundary,
/// see [`Tail::Intent`]); a torn outcome has its row's intent earlier in
/// the same file, and the row stays at that state (`SENDING`, read as `UNCERTAIN`, never
/// resent). A copy, sync or edit cut short can instead cut a finished file's only line for
/// a row, with its message id: that is refused, never dropped, lest the row be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tail {
    /// A whole line, or one that records no send (`INVALID`, `SKIPPED`, an intent torn
    /// where a write stops, a cut status cell only those can complete, empty cells only),
    /// or whose row has an earlier line in the file.
    Droppable,
    /// Refused unless the file holds an earlier line for its row (`None`: the number is cut
    /// or empty, so it may be any row's only line). Its status, when it can be read, says a
    /// request went or may have gone.
    Refused {
        row: Option<u32>,
        status: Option<Status>,
    },
    /// An intent (`SENDING`) cut where no interrupted write ends: refused whatever lines the
    /// row has before it (after a `DEFERRED` one, dropping it would send the row again).
    Intent { row: Option<u32> },
}

impl Tail {
    /// Reads the row and status cells of the incomplete line in `span` (its first 64 KiB:
    /// those cells come first).
    fn read(file: &File, span: std::ops::Range<u64>, delimiter: u8) -> io::Result<Tail> {
        let bytes = read_span(file, span.start, span.end.min(span.start + 64 * 1024))?;
        let record = one_record(&bytes, delimiter);
        let cell = |i: usize| record.get(i).and_then(|c| std::str::from_utf8(c).ok());
        let parse_row = || {
            (record.len() >= 2)
                .then(|| cell(0)?.trim().parse::<u32>().ok().filter(|r| *r > 0))
                .flatten()
        };
        // A cell is complete when a delimiter follows it; the last one may be cut short.
        let status = match record.len() {
            4.. => cell(2).and_then(Status::parse_lenient),
            3 => cell(2).and_then(completed),
            _ => None,
        };
        // A line of empty cells is a blank line, whole or not.
        if status.is_some_and(records_no_send) || record.iter().all(<[u8]>::is_empty) {
            return Ok(Tail::Droppable);
        }
        // An intent: durable before its request left, so only a write that never finished
        // (never fsynced, never sent) may be dropped. A write stopped by a kill or a full
        // disk ends where the kernel's copy stopped, at a page boundary of the file; an
        // intent cut anywhere else was cut after the fact (an edit, `truncate`), and its
        // request may have left.
        if status == Some(Status::Sending) {
            return Ok(match span.end.is_multiple_of(PAGE) {
                true => Tail::Droppable,
                false => Tail::Intent { row: parse_row() },
            });
        }
        Ok(Tail::Refused {
            row: parse_row(),
            status,
        })
    }
}

/// Why a [`Tail::Refused`] line stops the run, and how to mend the file.
fn refusal(row: Option<u32>, status: Option<Status>) -> String {
    let (which, row) = match row {
        Some(row) => (format!("the only line for row {row}"), format!("row {row}")),
        None => (
            "cut in its row number, so it may be a row's only line".to_string(),
            "which row it was".to_string(),
        ),
    };
    let recorded = status.map_or(String::new(), |s| format!(", recorded as {s}"));
    format!(
        "it is incomplete, its last cells missing, as an interrupted copy, sync or edit \
         leaves a file; it is {which}{recorded}, and dropping it could send that row again. \
         Restore the complete file, or finish or delete that line by hand after checking \
         {row} with the provider"
    )
}

/// Why a cut intent ([`Tail::Intent`]) stops the run, and how to mend the file.
fn cut_intent(row: Option<u32>) -> String {
    let row = row.map_or("its row".to_string(), |row| format!("row {row}"));
    format!(
        "it is incomplete, its last cells missing, as an edit or an interrupted copy or sync \
         leaves a file, not as a crash does; it records that {row} was being sent (SENDING), \
         written before its request left, so dropping it could send that row again. Restore \
         the complete file, or finish that line by hand (a complete SENDING line reads as \
         UNCERTAIN, never resent) after checking {row} with the provider"
    )
}

/// The required columns a header names most of but not all (a column deleted in a
/// spreadsheet), as `; it lacks the column(s) a, b`; empty when it is not such a header.
fn lacking(head: &[u8]) -> String {
    let missing = [b',', b';', b'\t']
        .into_iter()
        .map(|delimiter| {
            let names: Vec<String> = one_record(head, delimiter)
                .iter()
                .map(|c| String::from_utf8_lossy(c).trim().to_ascii_lowercase())
                .collect();
            let have = |name: &&str| names.contains(&name.to_ascii_lowercase());
            COLUMNS[..REQUIRED_COLUMNS]
                .iter()
                .filter(|name| !have(name))
                .copied()
                .collect::<Vec<_>>()
        })
        .min_by_key(Vec::len)
        .unwrap_or_default();
    match missing.len() {
        1..=4 => format!("; it lacks the column(s) {}", missing.join(", ")),
        _ => String::new(),
    }
}

/// Whether a line of this status records no request: a refusal. (An intent records one
/// that was about to leave: see [`Tail::Intent`].)
fn records_no_send(status: Status) -> bool {
    matches!(status, Status::Invalid | Status::Skipped)
}

/// The page size the kernel copies a write in: a write cut short by a signal or a full
/// disk stops at a multiple of it.
const PAGE: u64 = 4096;

/// The status a cut `status` cell was the start of, when every status it may have been
/// [records no send](records_no_send) or is the intent (a cut `SEN` was `SENDING`): `None`
/// otherwise.
fn completed(cut: &str) -> Option<Status> {
    let cut = cut.trim().to_ascii_uppercase();
    let mut could = Status::ALL
        .into_iter()
        .filter(|s| s.as_str().starts_with(&cut));
    let first = could.next()?;
    let known = |s: Status| s == Status::Sending || records_no_send(s);
    (known(first) && could.all(known)).then_some(first)
}

/// The 1-based line of the file the record starting at `offset` is on: past the line
/// breaks (and blank lines) a reader takes before it.
fn line_at(file: &File, offset: u64) -> io::Result<u64> {
    let mut line = 1;
    let mut buffer = vec![0u8; 64 * 1024];
    let mut at = 0;
    loop {
        let n = file.read_at(&mut buffer, at)?;
        let chunk = &buffer[..n];
        let within = offset.saturating_sub(at).min(n as u64) as usize;
        line += memchr::memchr_iter(b'\n', &chunk[..within]).count() as u64;
        // Line breaks at the offset belong to the lines before the record.
        let breaks = chunk[within..]
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'));
        let past = breaks.clone().count();
        line += breaks.filter(|b| **b == b'\n').count() as u64;
        if n == 0 || within + past < n {
            return Ok(line);
        }
        at += n as u64;
    }
}

/// A record that spans several lines holds a cell with line breaks, as a person may type
/// (Alt+Enter). If a line inside it reads like a results row of its own, a stray quote
/// has swallowed the lines after it: refuse rather than lose them.
fn swallowed(record: Fields<'_>, delimiter: u8) -> Result<(), String> {
    let inner = record
        .iter()
        .filter(|c| c.contains(&b'\n'))
        .flat_map(|c| c.split(|b| *b == b'\n').skip(1));
    for text in inner {
        let cells = one_record(text, delimiter);
        let looks_like_row = cells.len() >= 3
            && std::str::from_utf8(&cells[0])
                .is_ok_and(|r| r.trim().parse::<u32>().is_ok_and(|r| r > 0))
            && std::str::from_utf8(&cells[2]).is_ok_and(|s| Status::parse_lenient(s).is_some());
        if looks_like_row {
            return Err(
                "a quote opened on this line is not closed where the line ends, so the \
                 lines after it read as part of one cell"
                    .into(),
            );
        }
    }
    Ok(())
}

fn first_line(source: &mut impl io::BufRead) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    source.read_until(b'\n', &mut line)?;
    Ok(line)
}

/// Length of the file up to and including its last line break.
fn terminated_length(file: &File, length: u64) -> io::Result<u64> {
    let mut end = length;
    let mut buffer = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buffer.len() as u64);
        let chunk = &mut buffer[..(end - start) as usize];
        file.read_exact_at(chunk, start)?;
        if let Some(i) = chunk.iter().rposition(|b| *b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

fn read_span(file: &File, start: u64, end: u64) -> io::Result<Vec<u8>> {
    let mut bytes = vec![0; end.saturating_sub(start) as usize];
    file.read_exact_at(&mut bytes, start)?;
    Ok(bytes)
}
