//! A cell as the results file holds it: quoted as the `csv` crate quotes, one line, and never
//! run by a spreadsheet as a formula; and the way back ([`unescape`]). Pure text functions,
//! shared by the line writer ([`super::record`]) and the readers.

use std::borrow::Cow;

/// One line being appended, a cell at a time.
pub(super) struct Line<'o> {
    out: &'o mut Vec<u8>,
    delimiter: u8,
    first: bool,
}

impl<'o> Line<'o> {
    /// A line appended to `out`, its cells separated by `delimiter`.
    pub(super) fn new(out: &'o mut Vec<u8>, delimiter: u8) -> Line<'o> {
        Line {
            out,
            delimiter,
            first: true,
        }
    }

    /// Ends the line.
    pub(super) fn end(self) {
        self.out.push(b'\n');
    }

    /// One text cell, quoted when it holds the delimiter, a quote or a line break.
    pub(super) fn cell(&mut self, cell: &str) {
        self.separate();
        let bytes = cell.as_bytes();
        if self.plain(bytes) {
            self.out.extend_from_slice(bytes);
            return;
        }
        self.out.push(b'"');
        for part in bytes.split_inclusive(|&b| b == b'"') {
            self.out.extend_from_slice(part);
            if part.ends_with(b"\"") {
                self.out.push(b'"');
            }
        }
        self.out.push(b'"');
    }

    /// A free-text cell: what `cell(&text_cell(text))` writes, with one look at the text
    /// when it needs no change, as most cells of every line do.
    pub(super) fn text(&mut self, text: &str) {
        if self.plain(text.as_bytes()) && !needs_quote(text) && !text.starts_with('\'') {
            self.separate();
            self.out.extend_from_slice(text.as_bytes());
        } else {
            self.cell(&text_cell(text));
        }
    }

    /// A destination cell: what `cell(&destination_cell(destination))` writes.
    pub(super) fn destination(&mut self, destination: &str) {
        self.cell(&destination_cell(destination));
    }

    /// One number cell, in decimal digits.
    pub(super) fn number(&mut self, n: u64) {
        self.separate();
        crate::fmt::push_decimal(self.out, n);
    }

    /// Whether `bytes` go in as they are: no delimiter, quote or line break to quote.
    fn plain(&self, bytes: &[u8]) -> bool {
        let delimiter = self.delimiter;
        !bytes
            .iter()
            .any(|&b| b == delimiter || matches!(b, b'"' | b'\n' | b'\r'))
    }

    fn separate(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.out.push(self.delimiter);
        }
    }
}

/// A free-text cell: one line, and never run by a spreadsheet.
pub(super) fn text_cell(text: &str) -> Cow<'_, str> {
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

/// Whether a spreadsheet would run `cell` as a formula.
pub(super) fn needs_quote(cell: &str) -> bool {
    matches!(
        cell.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    )
}

/// An E.164 destination (`+` and digits only, as validated) stays usable as is; anything
/// else is neutralized like any other cell.
pub(super) fn destination_cell(destination: &str) -> Cow<'_, str> {
    if is_e164(destination) {
        Cow::Borrowed(destination)
    } else {
        text_cell(destination)
    }
}

/// `+` and digits only.
pub(super) fn is_e164(destination: &str) -> bool {
    (destination.strip_prefix('+'))
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// The inverse of [`excel_safe`]: one leading `'` goes when what follows needed it. A
/// spreadsheet that dropped the `'` on saving gives the same text.
pub(super) fn unescape(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if needs_quote(rest) || rest.starts_with('\'') => rest,
        _ => cell,
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
