//! The records of a results file, read as the `csv` crate reads them (same cells, same
//! offsets, same line numbers), but a line with no quote and no carriage return is split at
//! its delimiters directly: such a line is exactly its cells, and the lines this tool writes
//! nearly all are. Only the others go through `csv-core`'s state machine, which cost ~12
//! instructions a byte, two thirds of reading a million-row checkpoint.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use csv_core::ReadRecordResult;

use super::Record;
use super::delivery_state::Delivery;
use super::layout::{Fields, Layout};

/// A forward reader of the records of `file` from one offset to another.
pub(super) struct Records {
    file: File,
    delimiter: u8,
    buffer: Vec<u8>,
    /// The unread bytes are `buffer[start..filled]`.
    start: usize,
    filled: usize,
    /// The file offset of `buffer[0]`, and where reading stops.
    at: u64,
    end: u64,
    /// The line `buffer[start]` is on (1-based, as `csv` counts: one per `\n`).
    line: u64,
    core: csv_core::Reader,
    /// No record read yet.
    first: bool,
    /// A record `core` reads: its cells' bytes and where each ends.
    out: Vec<u8>,
    ends: Vec<usize>,
    /// The record last read, if `csv-core` read it.
    record: csv::ByteRecord,
    /// The line last read, if split directly: `buffer[split]`, its cells ending at `cuts`.
    split: Option<std::ops::Range<usize>>,
    cuts: Vec<usize>,
    /// The most the next refill reads: small after a seek away from the buffer (a line is
    /// wanted, not the megabyte after it), doubling while reading on.
    ahead: usize,
}

/// What the first refill after a seek away from the buffer reads.
const JUMP_READ: usize = 16 * 1024;

/// Where a record starts (as `csv::Reader::position` gives it before the read: blank lines
/// before it included) and the line it starts on, and the line the next starts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Place {
    pub(super) offset: u64,
    pub(super) line: u64,
    pub(super) next_line: u64,
}

impl Records {
    /// The records of `file` between offsets `start` and `end`.
    pub(super) fn new(file: File, delimiter: u8, start: u64, end: u64) -> Records {
        Records {
            file,
            delimiter,
            buffer: vec![0; 1 << 20],
            start: 0,
            filled: 0,
            at: start,
            end,
            line: 1,
            core: csv_core::ReaderBuilder::new().delimiter(delimiter).build(),
            first: true,
            out: vec![0; 1024],
            ends: vec![0; 32],
            record: csv::ByteRecord::new(),
            split: None,
            cuts: Vec::with_capacity(32),
            ahead: usize::MAX,
        }
    }

    /// The records of the file at `path`, as far as it is long now.
    pub(super) fn open(path: &std::path::Path, delimiter: u8) -> io::Result<Records> {
        let file = File::open(path)?;
        let end = file.metadata()?.len();
        Ok(Records::new(file, delimiter, 0, end))
    }

    /// Moves to the record that starts at `offset` (a [`Place::offset`] read before),
    /// keeping the buffer when `offset` is in it, which holds the bytes just read and an
    /// eighth of a buffer before them: compaction visits lines in row order, and a file
    /// written by concurrent lanes has them only nearly in that order. Line numbers in
    /// [`Place`] count from the seek, not from the top of the file.
    pub(super) fn seek(&mut self, offset: u64) {
        self.core.reset();
        if offset != 0 {
            // A blank line read first, as if the lines above had been: `csv-core` drops a
            // BOM only at the top of the file.
            let _ = self.core.read_record(b"\n", &mut [], &mut []);
        }
        self.split = None;
        self.first = offset == 0;
        self.line = 1;
        let here = offset
            .checked_sub(self.at)
            .filter(|i| *i <= self.filled as u64);
        match here {
            Some(i) => self.start = i as usize,
            None => {
                (self.at, self.start, self.filled) = (offset, 0, 0);
                self.ahead = JUMP_READ;
            }
        }
    }

    /// The cells of the record that starts at `offset` (see [`Records::seek`]).
    pub(super) fn at(&mut self, offset: u64) -> io::Result<Fields<'_>> {
        self.seek(offset);
        match self.next()? {
            Some(_) => Ok(self.fields()),
            None => Err(io::Error::other("the file ended early")),
        }
    }

    /// [`Records::at`], read as `layout` reads a results line.
    pub(super) fn line_at(
        &mut self,
        offset: u64,
        layout: Layout,
    ) -> io::Result<(Record, Delivery)> {
        let fields = self.at(offset)?;
        (layout.parse(fields))
            .map_err(|e| io::Error::other(format!("a line changed while reading: {e}")))
    }

    /// The cells of the record last read.
    pub(super) fn fields(&self) -> Fields<'_> {
        match &self.split {
            Some(line) => Fields::Split {
                line: &self.buffer[line.clone()],
                ends: &self.cuts,
            },
            None => Fields::Record(&self.record),
        }
    }

    /// Reads the next record into [`Records::record`]; `None` at the end.
    pub(super) fn next(&mut self) -> io::Result<Option<Place>> {
        let offset = self.offset();
        let line = self.line;
        // The first record goes through `csv-core`, which drops a BOM there as `csv` does.
        if !std::mem::take(&mut self.first) {
            while let Some(length) = self.next_line()? {
                let text = &self.buffer[self.start..self.start + length];
                if text.is_empty() {
                    // A blank line: `csv` skips it.
                    self.start += 1;
                    self.line += 1;
                    continue;
                }
                self.cuts.clear();
                if !cut(text, self.delimiter, &mut self.cuts) {
                    break;
                }
                self.cuts.push(length);
                self.split = Some(self.start..self.start + length);
                self.start += length + 1;
                self.line += 1;
                return Ok(Some(Place {
                    offset,
                    line,
                    next_line: self.line,
                }));
            }
        }
        self.split = None;
        if !self.read_with_core()? {
            return Ok(None);
        }
        Ok(Some(Place {
            offset,
            line,
            next_line: self.line,
        }))
    }

    /// The offset of the next unread byte.
    pub(super) fn offset(&self) -> u64 {
        self.at + self.start as u64
    }

    /// The length of the next line (without its `\n`), the line in the buffer; `None` if
    /// the buffer cannot hold it whole, or no `\n` ends it before the end.
    fn next_line(&mut self) -> io::Result<Option<usize>> {
        if let Some(i) = memchr::memchr(b'\n', &self.buffer[self.start..self.filled]) {
            return Ok(Some(i));
        }
        let searched = self.filled - self.start;
        self.refill()?;
        let found = memchr::memchr(b'\n', &self.buffer[self.start + searched..self.filled]);
        Ok(found.map(|i| searched + i))
    }

    /// Moves the unread bytes (and an eighth of a buffer before them, for
    /// [`Records::seek`]) to the front and reads more after them; returns how many.
    fn refill(&mut self) -> io::Result<usize> {
        let keep = self.start.saturating_sub(self.buffer.len() / 8);
        self.buffer.copy_within(keep..self.filled, 0);
        self.at += keep as u64;
        self.filled -= keep;
        self.start -= keep;
        let from = self.at + self.filled as u64;
        let room = (self.buffer.len() - self.filled)
            .min((self.end - from.min(self.end)) as usize)
            .min(self.ahead);
        self.ahead = self.ahead.saturating_mul(2);
        let mut read = 0;
        while read < room {
            let n = self.file.read_at(
                &mut self.buffer[self.filled..self.filled + room - read],
                from + read as u64,
            )?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file got shorter while being read",
                ));
            }
            read += n;
            self.filled += n;
        }
        Ok(read)
    }

    /// One record through `csv-core`, as `csv::Reader::read_byte_record` reads it.
    fn read_with_core(&mut self) -> io::Result<bool> {
        let (mut out, mut ends) = (0, 0);
        loop {
            if self.start == self.filled {
                self.refill()?;
            }
            let input = &self.buffer[self.start..self.filled];
            let (result, nin, nout, nend) =
                (self.core).read_record(input, &mut self.out[out..], &mut self.ends[ends..]);
            self.line += memchr::memchr_iter(b'\n', &input[..nin]).count() as u64;
            self.start += nin;
            out += nout;
            ends += nend;
            match result {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => self.out.resize(self.out.len() * 2, 0),
                ReadRecordResult::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                ReadRecordResult::Record => {
                    self.record.clear();
                    let mut from = 0;
                    for &end in &self.ends[..ends] {
                        self.record.push_field(&self.out[from..end]);
                        from = end;
                    }
                    return Ok(true);
                }
                ReadRecordResult::End => return Ok(false),
            }
        }
    }
}

/// Pushes where the delimiters of `text` are to `cuts`; `false` at the first quote or
/// carriage return (the line is then not just its cells). Eight bytes at a time: a
/// call per delimiter (`memchr_iter`) cost more than the line.
fn cut(text: &[u8], delimiter: u8, cuts: &mut Vec<usize>) -> bool {
    const LOW: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let every = |byte: u8| u64::from_ne_bytes([byte; 8]);
    // The high bit of each byte of `word` that is zero, exactly: no borrow crosses bytes.
    let zeros = |word: u64| !(((word & LOW) + LOW) | word | LOW);
    let (delimiters, quotes, returns) = (every(delimiter), every(b'"'), every(b'\r'));
    let mut chunks = text.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        if zeros(word ^ quotes) | zeros(word ^ returns) != 0 {
            return false;
        }
        let mut found = zeros(word ^ delimiters);
        while found != 0 {
            cuts.push(at + found.trailing_zeros() as usize / 8);
            found &= found - 1;
        }
        at += 8;
    }
    for (i, &byte) in chunks.remainder().iter().enumerate() {
        match byte {
            b'"' | b'\r' => return false,
            _ if byte == delimiter => cuts.push(at + i),
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// What `csv::Reader` reads from `bytes`: each record's cells, where it starts, its
    /// line and the next record's.
    fn by_csv(bytes: &[u8], delimiter: u8) -> Vec<(Vec<Vec<u8>>, Place)> {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes);
        let mut record = csv::ByteRecord::new();
        let mut all = Vec::new();
        loop {
            let (offset, line) = (reader.position().byte(), reader.position().line());
            if !reader.read_byte_record(&mut record).unwrap() {
                return all;
            }
            let next_line = reader.position().line();
            let cells = record.iter().map(<[u8]>::to_vec).collect();
            all.push((
                cells,
                Place {
                    offset,
                    line,
                    next_line,
                },
            ));
        }
    }

    fn by_records(bytes: &[u8], delimiter: u8, buffer: usize) -> Vec<(Vec<Vec<u8>>, Place)> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        std::fs::write(&path, bytes).unwrap();
        let file = File::open(&path).unwrap();
        let mut records = Records::new(file, delimiter, 0, bytes.len() as u64);
        records.buffer.truncate(buffer);
        let mut all = Vec::new();
        while let Some(place) = records.next().unwrap() {
            let cells = records.fields().iter().map(<[u8]>::to_vec).collect();
            all.push((cells, place));
        }
        all
    }

    /// Text made of what CSV readers trip on.
    fn text() -> impl Strategy<Value = Vec<u8>> {
        let pieces = prop_oneof![
            Just(b"\"".to_vec()),
            Just(b"\"\"".to_vec()),
            Just(b",".to_vec()),
            Just(b";".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\n\n".to_vec()),
            Just(b"\xEF\xBB\xBF".to_vec()),
            Just(b" ".to_vec()),
            Just(b"1,+5511999990001,QUEUED,msg_1,,202,,,1,,,\n".to_vec()),
            "[a-z0-9+]{1,8}".prop_map(String::into_bytes),
            prop::collection::vec(any::<u8>(), 1..4),
        ];
        prop::collection::vec(pieces, 0..40).prop_map(|p| p.concat())
    }

    proptest! {
        /// Whatever the bytes, the records, offsets and line numbers are the `csv` crate's,
        /// with a buffer large or small enough to cut lines and records (not a BOM: it is read
        /// from a buffer of at least a MiB, as `csv` reads it from its own).
        #[test]
        fn reads_as_the_csv_crate_reads(
            bytes in text(),
            delimiter in prop::sample::select(vec![b',', b';']),
            buffer in prop::sample::select(vec![4usize, 7, 64, 1 << 20]),
        ) {
            prop_assert_eq!(by_records(&bytes, delimiter, buffer), by_csv(&bytes, delimiter));
        }

        /// Visited by seeking, in any order (compaction visits them in row order), each
        /// record reads as it read front to back, whether the seek lands in the buffer or
        /// away from it.
        #[test]
        fn a_seek_reads_the_record_that_starts_there(
            bytes in text(),
            delimiter in prop::sample::select(vec![b',', b';']),
            buffer in prop::sample::select(vec![4usize, 7, 64, 1 << 20]),
            order in prop::collection::vec(any::<prop::sample::Index>(), 0..60),
        ) {
            let all = by_csv(&bytes, delimiter);
            prop_assume!(!all.is_empty());
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("r.csv");
            std::fs::write(&path, &bytes).unwrap();
            let file = File::open(&path).unwrap();
            let mut records = Records::new(file, delimiter, 0, bytes.len() as u64);
            records.buffer.truncate(buffer);
            for i in order {
                let (cells, place) = &all[i.index(all.len())];
                records.seek(place.offset);
                let read = records.next().unwrap().map(|p| p.offset);
                prop_assert_eq!(read, Some(place.offset));
                let got: Vec<Vec<u8>> = records.fields().iter().map(<[u8]>::to_vec).collect();
                prop_assert_eq!(&got, cells);
            }
        }
    }
}
