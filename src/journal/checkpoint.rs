//! The resume index: what a rerun needs to know about each row, read from the results file.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::{
    COLUMNS, JournalError, REQUIRED_COLUMNS, Record, Status, delivery, io_error,
    unquote_destination,
};

/// What a rerun needs to know about a row it has seen before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prior {
    pub status: Status,
    pub attempts: u32,
    destination_hash: u64,
    raw_hash: u32,
}

impl Prior {
    /// Whether the journal's destination for this row is `destination`.
    pub fn same_destination(&self, destination: &str) -> bool {
        self.destination_hash == hash(destination)
    }

    /// The [`fingerprint`](crate::fingerprint) of the destination recorded for the row.
    pub fn destination_fingerprint(&self) -> u64 {
        self.destination_hash
    }

    /// The [short fingerprint](crate::fingerprint::short) of the destination cell as the
    /// CSV held it (`rawDestination`), so a rerun can tell an unchanged cell without
    /// normalizing it again.
    pub fn raw_fingerprint(&self) -> u32 {
        self.raw_hash
    }
}

/// The resume index: per row, its last status, where its last line starts and fingerprints
/// of its destination and destination cell. Compact (24 bytes a row) so a checkpoint of
/// millions of rows loads fast and stays small.
#[derive(Debug, Default)]
pub struct Checkpoint {
    pub(super) entries: Vec<Entry>,
    pub(super) delimiter: u8,
    pub(super) path: PathBuf,
    /// The header carries the delivery columns a status pass added; compaction keeps them.
    pub(super) delivery: bool,
}

#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Entry {
    pub(super) offset: u64,
    pub(super) destination_hash: u64,
    pub(super) raw_hash: u32,
    /// Saturates: a row is never attempted 65,535 times.
    pub(super) attempts: u16,
    pub(super) status: Option<Status>,
}

impl Entry {
    fn new(offset: u64, destination: &str, raw: &str, attempts: u32, status: Status) -> Entry {
        Entry {
            offset,
            destination_hash: hash(destination),
            raw_hash: crate::fingerprint::short(raw),
            attempts: u16::try_from(attempts).unwrap_or(u16::MAX),
            status: Some(status),
        }
    }
}

impl Checkpoint {
    /// Reads a results file without locking or changing it (`--dry-run`, reports).
    /// A missing file is an empty checkpoint.
    pub fn load(path: &Path) -> Result<Checkpoint, JournalError> {
        match File::open(path) {
            Ok(file) => Ok(Checkpoint::read(path, file)?.0),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Checkpoint::default()),
            Err(e) => Err(io_error("read", path)(e)),
        }
    }

    /// The last recorded state of `row` (1-based), if any.
    pub fn prior(&self, row: u64) -> Option<Prior> {
        let entry = self
            .entries
            .get(usize::try_from(row).ok()?.checked_sub(1)?)?;
        Some(Prior {
            status: entry.status?,
            attempts: u32::from(entry.attempts),
            destination_hash: entry.destination_hash,
            raw_hash: entry.raw_hash,
        })
    }

    /// Rows whose request went, or may have gone, to the API (`QUEUED`, `FAILED`,
    /// `UNCERTAIN`, `SENDING`), with their destination's fingerprint: a rerun must not send
    /// those destinations again from another row.
    pub fn attempted(&self) -> impl Iterator<Item = (u64, u64)> + Clone + '_ {
        self.entries
            .iter()
            .zip(1..)
            .filter(|(e, _)| e.status.is_some_and(Status::reached_api))
            .map(|(e, row)| (row, e.destination_hash))
    }

    /// Records where `record`'s line starts, as its row's latest state.
    pub(super) fn note(&mut self, record: &Record, offset: u64) {
        let slot = record.row as usize - 1;
        if slot >= self.entries.len() {
            self.entries.resize(slot + 1, Entry::default());
        }
        self.entries[slot] = Entry::new(
            offset,
            &record.destination,
            &record.raw_destination,
            record.attempts,
            record.status,
        );
    }

    /// The highest row number recorded: a checkpoint with rows beyond the input's end
    /// belongs to another file.
    pub fn last_row(&self) -> u64 {
        self.entries
            .iter()
            .rposition(|e| e.status.is_some())
            .map_or(0, |i| i as u64 + 1)
    }

    /// The destination recorded for `row`, for a mismatch message.
    pub fn recorded_destination(&self, row: u64) -> Option<String> {
        self.recorded_cell(row, 1)
            .map(|cell| unquote_destination(&cell).into_owned())
    }

    /// The number that last tried `row`, so an interrupted send is reported against it.
    pub fn recorded_sender(&self, row: u64) -> Option<String> {
        self.recorded_cell(row, COLUMNS.len() - 1)
    }

    /// One cell of the last line recorded for `row` (read from the file: rarely needed).
    fn recorded_cell(&self, row: u64, column: usize) -> Option<String> {
        let entry = self
            .entries
            .get(usize::try_from(row).ok()?.checked_sub(1)?)?;
        let line = read_line_at(&self.path, entry.offset).ok()?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(self.delimiter)
            .from_reader(line.as_bytes());
        let record = reader.records().next()?.ok()?;
        record.get(column).map(str::to_owned)
    }

    /// Every recorded row's last status, in row order.
    pub fn statuses(&self) -> impl Iterator<Item = (u64, Status)> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| Some((i as u64 + 1, e.status?)))
    }

    /// Parses a results file; returns the index and the length of its intact prefix (a torn
    /// last line, from a crash mid-write, is left out).
    pub(super) fn read(path: &Path, mut file: File) -> Result<(Checkpoint, u64), JournalError> {
        let intact = intact_length(&mut file).map_err(io_error("read", path))?;
        file.rewind().map_err(io_error("read", path))?;
        let mut head = String::new();
        BufReader::new((&file).take(intact))
            .read_line(&mut head)
            .map_err(io_error("read", path))?;
        if intact == 0 {
            return Ok((Checkpoint::default(), 0));
        }
        let delimiter = [b',', b';', b'\t']
            .into_iter()
            .find(|d| {
                let names = head.trim_end().split(*d as char).take(REQUIRED_COLUMNS);
                names.eq(COLUMNS[..REQUIRED_COLUMNS].iter().copied())
            })
            .ok_or_else(|| JournalError::NotOurs {
                path: path.to_path_buf(),
                header: head.trim_end().to_string(),
            })?;
        file.rewind().map_err(io_error("read", path))?;
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .from_reader(BufReader::with_capacity(1 << 20, (&file).take(intact)));
        let mut checkpoint = Checkpoint {
            entries: Vec::new(),
            delimiter,
            path: path.to_path_buf(),
            delivery: delivery::has_columns(head.trim_end(), delimiter),
        };
        reader.byte_headers().map_err(|e| JournalError::Damaged {
            path: path.to_path_buf(),
            line: 1,
            detail: e.to_string(),
        })?;
        let mut record = csv::ByteRecord::new();
        let mut damaged: Option<(u64, u64, String)> = None;
        loop {
            let offset = reader.position().byte();
            let line = reader.position().line();
            match reader.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {
                    if let Some((line, _, detail)) = damaged.take() {
                        return Err(JournalError::Damaged {
                            path: path.to_path_buf(),
                            line,
                            detail,
                        });
                    }
                    if let Err(detail) = checkpoint.index(&record, offset) {
                        damaged = Some((line, offset, detail));
                    }
                }
                Err(e) => damaged = Some((line, offset, e.to_string())),
            }
        }
        // A bad line at the very end is the torn write of a crash: drop it.
        let intact = damaged.map_or(intact, |(_, offset, _)| offset);
        Ok((checkpoint, intact))
    }

    fn index(&mut self, record: &csv::ByteRecord, offset: u64) -> Result<(), String> {
        let text = |i: usize| {
            std::str::from_utf8(record.get(i).unwrap_or_default()).map_err(|e| e.to_string())
        };
        let row: u64 = text(0)?.parse().map_err(|_| "no row number".to_string())?;
        let status = Status::parse(text(2)?)
            .ok_or_else(|| format!("unknown status '{}'", text(2).unwrap_or_default()))?;
        let attempts = text(8)?.parse().unwrap_or(0);
        let slot = usize::try_from(row)
            .ok()
            .and_then(|r| r.checked_sub(1))
            .ok_or("row 0 does not exist")?;
        if slot >= self.entries.len() {
            self.entries.resize(slot + 1, Entry::default());
        }
        let raw = record.get(10).map_or(Ok(""), |c| std::str::from_utf8(c));
        self.entries[slot] = Entry::new(
            offset,
            &unquote_destination(text(1)?),
            &unquote_destination(raw.map_err(|e| e.to_string())?),
            attempts,
            status,
        );
        Ok(())
    }
}

/// Length of the file up to and including its last newline: the rest is a torn write.
pub(super) fn intact_length(file: &mut File) -> io::Result<u64> {
    let length = file.metadata()?.len();
    let mut end = length;
    let mut buffer = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buffer.len() as u64);
        file.seek(SeekFrom::Start(start))?;
        let chunk = &mut buffer[..(end - start) as usize];
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|b| *b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

pub(super) fn read_line_at(path: &Path, offset: u64) -> io::Result<String> {
    let mut reader = BufReader::new(File::open(path)?);
    reader.seek(SeekFrom::Start(offset))?;
    let mut line = String::new();
    reader.read_line(&mut line)?;
    Ok(line)
}

/// The input's fingerprint of the same destination, so a rerun can seed its duplicate
/// check from the index.
pub(super) fn hash(destination: &str) -> u64 {
    crate::fingerprint::of(destination)
}
