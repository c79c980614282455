//! Where the CSV's quotes stand, followed on the very bytes the CSV reader reads.
//!
//! The `csv` crate reads a quote that is never closed as a cell running to the end of the
//! file, without an error: one stray `"Ana (VIP` would turn every later row into text of
//! that one cell, sent to one recipient. [`Quotes`] replays the reader's quoting rules (a
//! quote opens a cell only at its start; inside, `""` is a quote and `"` closes) as the
//! bytes stream past, so the end of the file inside a quoted cell is known with no second
//! pass. Runs of ordinary bytes are skipped with `memchr`. Following the same bytes, it
//! counts the file's lines as an editor does and knows the line each record starts on, which
//! messages name beside a row's number ([`Quotes::next_record_line`]).

use std::collections::VecDeque;
use std::io::Read;

/// The most bytes one record (a row, with the line breaks of its quoted cells) may take.
/// A spreadsheet cell holds at most 32,767 characters (Excel's limit), so a longer row is
/// not a contact list, and reading it on would hold all of it in memory: the reading
/// stops there with [`TooLong`].
pub(crate) const MAX_RECORD: u64 = 1 << 20;

/// A record longer than [`MAX_RECORD`], starting on line `line` of the file: what a read
/// fails with, for the caller to name that line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("line {line} is longer than {MAX_RECORD} bytes")]
pub(crate) struct TooLong {
    pub line: u64,
}

/// Where the reader's state machine is; the same states as `csv-core`'s, for the default
/// dialect (quotes doubled inside quoted cells, no escape character, CR, LF or CRLF lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a cell (or of a record: blank lines are skipped by both).
    CellStart,
    /// Inside a cell that did not start with a quote: quotes are plain text.
    Unquoted,
    /// Inside a quoted cell.
    Quoted,
    /// Just after a quote inside a quoted cell: `"` makes it a literal quote, anything else
    /// closes the quoted part.
    QuoteInQuoted,
}

/// A quote that opened a cell: the record it is in (1-based, the header is record 1, as
/// the CSV reader counts them: blank lines are no record), the line of the file it is on,
/// and the cell's 0-based position in its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Opened {
    pub record: u64,
    pub line: u64,
    pub cell: usize,
}

/// A reader that passes bytes through unchanged and keeps the quoting state of the CSV
/// they form.
pub(crate) struct Quotes<R> {
    inner: R,
    delimiter: u8,
    state: State,
    /// 1-based line of the next byte: a line ends at LF, CRLF or a lone CR (old Mac
    /// exports), as editors count them.
    line: u64,
    /// Whether the last byte of the chunk before was a CR (a LF right after it ends no
    /// second line).
    after_cr: bool,
    /// 0-based position, in its record, of the cell being read.
    cell: usize,
    /// Records started so far.
    records: u64,
    /// Whether a record has started and not ended (a line break outside quotes ends it).
    in_record: bool,
    /// The last quote that opened a cell.
    opened: Opened,
    /// Bytes passed through before the chunk being tracked.
    offset: u64,
    /// Where the record being read started: the byte after the last line break outside
    /// quotes, and its line.
    record_start: u64,
    record_line: u64,
    /// The first line of a record found longer than [`MAX_RECORD`].
    too_long: Option<u64>,
    /// Line minus record number of the last record started (wrapping: lone CRs end records
    /// but count no line).
    shift: u64,
    /// Where that difference changed (record, shift), for records the CSV reader has not
    /// handed out yet: these bytes run ahead of it by its buffer. Empty in a file without
    /// blank lines or cells with line breaks; never more than that buffer's records.
    shifts: VecDeque<(u64, u64)>,
    /// Records the CSV reader handed out ([`Quotes::next_record_line`]), and their shift.
    taken: u64,
    taken_shift: u64,
}

impl<R: Read> Quotes<R> {
    pub(crate) fn new(inner: R, delimiter: u8) -> Quotes<R> {
        Quotes {
            inner,
            delimiter,
            state: State::CellStart,
            line: 1,
            after_cr: false,
            cell: 0,
            records: 0,
            in_record: false,
            opened: Opened {
                record: 0,
                line: 1,
                cell: 0,
            },
            offset: 0,
            record_start: 0,
            record_line: 1,
            too_long: None,
            shift: 0,
            shifts: VecDeque::new(),
            taken: 0,
            taken_shift: 0,
        }
    }

    /// The same, for bytes that start after the file's first `lines` lines (taken off
    /// before the CSV): lines are counted as the file's.
    pub(crate) fn after_lines(mut self, lines: u64) -> Quotes<R> {
        self.line += lines;
        self.record_line = self.line;
        self
    }

    /// The line of the file the record the CSV reader has just handed out starts on (after
    /// any blank lines above it, counting the line breaks inside the cells of the records
    /// before it): to be called once for each record it reads, header included, in order.
    pub(crate) fn next_record_line(&mut self) -> u64 {
        self.taken += 1;
        while let Some(&(record, shift)) = self.shifts.front()
            && record <= self.taken
        {
            self.taken_shift = shift;
            self.shifts.pop_front();
        }
        self.taken.wrapping_add(self.taken_shift)
    }

    /// Once everything has been read: the quote still open at the end of the file, if any.
    pub(crate) fn unclosed(&self) -> Option<Opened> {
        (self.state == State::Quoted).then_some(self.opened)
    }

    /// Advances the state over `bytes`.
    fn track(&mut self, bytes: &[u8]) {
        let mut i = 0;
        while i < bytes.len() {
            match self.state {
                State::Quoted => match memchr::memchr3(b'"', b'\n', b'\r', &bytes[i..]) {
                    Some(at) => {
                        i += at;
                        if bytes[i] == b'"' {
                            self.state = State::QuoteInQuoted;
                        } else {
                            self.line += self.breaks(bytes, i);
                        }
                        i += 1;
                    }
                    None => return,
                },
                State::Unquoted => {
                    match memchr::memchr3(self.delimiter, b'\n', b'\r', &bytes[i..]) {
                        Some(at) => {
                            i += at;
                            self.end_cell(bytes, i);
                            i += 1;
                        }
                        None => return,
                    }
                }
                State::CellStart | State::QuoteInQuoted => {
                    let b = bytes[i];
                    let newline = b == b'\n' || b == b'\r';
                    if !self.in_record && !newline {
                        self.in_record = true;
                        self.records += 1;
                        self.record_line = self.line;
                        let shift = self.line.wrapping_sub(self.records);
                        if shift != self.shift {
                            self.shift = shift;
                            self.shifts.push_back((self.records, shift));
                        }
                    }
                    match (self.state, b) {
                        (State::CellStart, b'"') => {
                            self.state = State::Quoted;
                            self.opened = Opened {
                                record: self.records,
                                line: self.line,
                                cell: self.cell,
                            };
                        }
                        (State::QuoteInQuoted, b'"') => self.state = State::Quoted,
                        _ if b == self.delimiter || newline => self.end_cell(bytes, i),
                        _ => self.state = State::Unquoted,
                    }
                    i += 1;
                }
            }
        }
    }

    /// Lines the CR or LF at `at` in the chunk ends: none for the LF of a CRLF.
    fn breaks(&self, bytes: &[u8], at: usize) -> u64 {
        let after_cr = match at.checked_sub(1) {
            Some(before) => bytes[before] == b'\r',
            None => self.after_cr,
        };
        u64::from(bytes[at] == b'\r' || !after_cr)
    }

    /// A delimiter or a line break outside quotes (at `at` in the chunk): the next cell (of
    /// this record or the next).
    fn end_cell(&mut self, bytes: &[u8], at: usize) {
        let b = bytes[at];
        self.state = State::CellStart;
        if b == self.delimiter {
            self.cell += 1;
        } else {
            self.cell = 0;
            self.in_record = false;
            let end = self.offset + at as u64;
            if end - self.record_start > MAX_RECORD {
                self.too_long.get_or_insert(self.record_line);
            }
            self.line += self.breaks(bytes, at);
            self.record_start = end + 1;
        }
    }
}

impl<R: Read> Read for Quotes<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.track(&buf[..n]);
        if let Some(&last) = buf[..n].last() {
            self.after_cr = last == b'\r';
        }
        self.offset += n as u64;
        let unended = (self.offset - self.record_start > MAX_RECORD).then_some(self.record_line);
        if let Some(line) = self.too_long.or(unended) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                TooLong { line },
            ));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The state after reading `text` in chunks of `chunk` bytes, with a comma delimiter.
    fn after(text: &str, chunk: usize) -> Option<Opened> {
        let mut quotes = Quotes::new(text.as_bytes(), b',');
        let mut buf = vec![0; chunk];
        while quotes.read(&mut buf).unwrap() > 0 {}
        quotes.unclosed()
    }

    #[test]
    fn a_quote_left_open_at_the_end_is_found_with_its_line_and_cell() {
        // The blank line is a line, not a record.
        let text = "phone,nome\n+551,Ana\n\n+552,\"Ana (VIP\n+553,Bea\n+554,Caio\n";
        for chunk in [1, 2, 3, 7, 64] {
            assert_eq!(
                after(text, chunk),
                Some(Opened {
                    record: 3,
                    line: 4,
                    cell: 1
                }),
                "chunk {chunk}"
            );
        }
        assert_eq!(
            after("a;b\r\n\"x\"\"\r\n", 5),
            Some(Opened {
                record: 2,
                line: 2,
                cell: 0
            })
        );
    }

    #[test]
    fn closed_doubled_and_mid_cell_quotes_are_not_open() {
        for text in [
            "phone,nome\n+551,\"Ana, \"\"VIP\"\"\"\n",
            "phone,nome\n+551,\"Ana\nSilva\"\n+552,Bea\n",
            "phone,nome\n+551,Ana \"VIP\n+552,Bea\n",
            "phone,nome\n+551,\"Ana\" VIP\n",
            "phone,nome\n+551,\"\"\n",
            "",
        ] {
            for chunk in [1, 4, 64] {
                assert_eq!(after(text, chunk), None, "{text:?} chunk {chunk}");
            }
        }
    }

    #[test]
    fn a_record_over_the_limit_fails_the_read_naming_its_first_line() {
        let long = "x".repeat(MAX_RECORD as usize);
        for (text, line) in [
            (format!("a,b\n\n1,{long}\n"), 3),
            (format!("a,b\n1,\"q\n{long}\"\n"), 2),
            (format!("{long}{long}"), 1),
        ] {
            let mut quotes = Quotes::new(text.as_bytes(), b',');
            let e = std::io::copy(&mut quotes, &mut std::io::sink()).unwrap_err();
            let too_long = e.get_ref().and_then(|e| e.downcast_ref::<TooLong>());
            assert_eq!(too_long, Some(&TooLong { line }));
        }
        // Many rows just under the limit each, with blank lines and CRLF, read through.
        let row = format!("1,{}\r\n\r\n", "x".repeat(MAX_RECORD as usize - 10));
        let rows = row.repeat(3);
        let mut quotes = Quotes::new(rows.as_bytes(), b',');
        std::io::copy(&mut quotes, &mut std::io::sink()).unwrap();
    }

    #[test]
    fn lines_end_at_lf_crlf_or_a_lone_cr_whatever_the_chunks() {
        // h on line 1, a on 2, b on 3, a blank line 4, the cell over lines 5-8, g on 9.
        let text = "h\r\na\rb\n\r\n\"c\r\nd\re\nf\"\r\ng";
        for chunk in [1, 2, 3, 64] {
            let mut quotes = Quotes::new(text.as_bytes(), b',');
            let mut buf = vec![0; chunk];
            while quotes.read(&mut buf).unwrap() > 0 {}
            let lines: Vec<u64> = (0..5).map(|_| quotes.next_record_line()).collect();
            assert_eq!(lines, [1, 2, 3, 5, 9], "chunk {chunk}");
        }
    }

    #[test]
    fn the_delimiter_is_the_files_own() {
        let mut quotes = Quotes::new(&b"a;b\nx;\"y"[..], b';');
        std::io::copy(&mut quotes, &mut std::io::sink()).unwrap();
        assert_eq!(
            quotes.unclosed(),
            Some(Opened {
                record: 2,
                line: 2,
                cell: 1
            })
        );
        // With `,` as the delimiter, `x;"y` is one unquoted cell.
        let mut quotes = Quotes::new(&b"a;b\nx;\"y"[..], b',');
        std::io::copy(&mut quotes, &mut std::io::sink()).unwrap();
        assert_eq!(quotes.unclosed(), None);
    }
}
