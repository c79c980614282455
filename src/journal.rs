//! The results CSV, which is also the checkpoint a rerun resumes from.
//!
//! Append-only while a run is on: an intent (`SENDING`) is made durable before a request
//! leaves and an outcome after it returns, each fsynced before the next send. A rerun reads
//! the last line of each row; a `SENDING` with no outcome means the process died with the
//! request in flight, so that row becomes `UNCERTAIN` instead of being sent twice. When a
//! run reaches the end of its input, the file is rewritten atomically to one line per row.
//!
//! This module is the only code that reads or writes the results file. It knows nothing
//! about HTTP; it holds the run's exclusive lock.

use std::borrow::Cow;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub mod delivery;
mod writer;

pub use writer::{Durability, Shared};

/// The columns every results file starts with, in order; later columns may follow.
pub const COLUMNS: [&str; 13] = [
    "row",
    "destination",
    "status",
    "messageId",
    "correlationId",
    "httpStatus",
    "errorCode",
    "error",
    "attempts",
    "sentAt",
    "rawDestination",
    "sender",
    "target",
];

/// Where `target` is in [`COLUMNS`].
const TARGET_COLUMN: usize = 12;

/// The first columns a file must have to be taken as ours (older files lack the rest).
const REQUIRED_COLUMNS: usize = 10;

/// A row's state in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Internal: a request is (or was) in flight. Never left in a compacted file.
    Sending,
    /// Accepted by the API (202), with its message id.
    Queued,
    /// Refused by the API for this row (400/402/404...).
    Failed,
    /// Refused by local validation; never sent.
    Invalid,
    /// The request may have been accepted; never resent without `--resend-uncertain`.
    Uncertain,
    /// Definitely not accepted yet (retries exhausted, campaign stopped): a rerun sends it.
    Deferred,
    /// Deliberately not sent (opted out).
    Skipped,
}

impl Status {
    const ALL: [Status; 7] = [
        Status::Sending,
        Status::Queued,
        Status::Failed,
        Status::Invalid,
        Status::Uncertain,
        Status::Deferred,
        Status::Skipped,
    ];

    /// The word written in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Sending => "SENDING",
            Status::Queued => "QUEUED",
            Status::Failed => "FAILED",
            Status::Invalid => "INVALID",
            Status::Uncertain => "UNCERTAIN",
            Status::Deferred => "DEFERRED",
            Status::Skipped => "SKIPPED",
        }
    }

    /// Reads a `status` cell.
    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Final statuses are never retried by a rerun (UNCERTAIN only with `--resend-uncertain`).
    pub fn is_final(self) -> bool {
        !matches!(self, Status::Sending | Status::Deferred)
    }

    /// Whether a request for the row went, or may have gone, to the API.
    pub fn reached_api(self) -> bool {
        matches!(
            self,
            Status::Queued | Status::Failed | Status::Uncertain | Status::Sending
        )
    }

    /// Whether the row counts as handled successfully for the exit code.
    pub fn is_success(self) -> bool {
        matches!(self, Status::Queued | Status::Skipped)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    /// Where the send went (see [`crate::settings::Settings::target_id`]): a results file
    /// is refused against another target.
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

    fn cells(&self) -> [Cow<'_, str>; 13] {
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
            Cow::Borrowed(&self.target),
        ]
    }
}

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

/// Why the results file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "{path} is in use by another run ({holder}); wait for it to finish, or point --results elsewhere"
    )]
    Locked { path: PathBuf, holder: String },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(
        "{path} line {line} is damaged ({detail}); move the file aside or fix that line, then rerun"
    )]
    Damaged {
        path: PathBuf,
        line: u64,
        detail: String,
    },
    #[error(
        "{path} is not a campaign-sender results file (its header is '{header}'); pass --results with another path"
    )]
    NotOurs { path: PathBuf, header: String },
}

fn io_error<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> JournalError + 'a {
    move |source| JournalError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// The resume index: per row, its last status, where its last line starts and fingerprints
/// of its destination and destination cell. Compact (24 bytes a row) so a checkpoint of
/// millions of rows loads fast and stays small.
#[derive(Debug, Default)]
pub struct Checkpoint {
    entries: Vec<Entry>,
    delimiter: u8,
    path: PathBuf,
    /// The header carries the delivery columns a status pass added; compaction keeps them.
    delivery: bool,
    /// The header has the `target` column (files written before it do not).
    has_target: bool,
    /// The distinct non-empty targets recorded, in order of appearance.
    targets: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    offset: u64,
    destination_hash: u64,
    raw_hash: u32,
    /// Saturates: a row is never attempted 65,535 times.
    attempts: u16,
    status: Option<Status>,
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
    fn note(&mut self, record: &Record, offset: u64) {
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
        self.note_target(&record.target);
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
        self.recorded_cell(row, TARGET_COLUMN - 1)
    }

    /// The distinct non-empty targets the file's lines were sent to: a results file belongs
    /// to one target (files written before the `target` column have none).
    pub fn targets(&self) -> Vec<String> {
        self.targets.clone()
    }

    /// The send columns of this file: [`COLUMNS`], without `target` in a file written
    /// before it (lines appended to such a file keep its layout).
    fn columns(&self) -> &'static [&'static str] {
        &COLUMNS[..if self.has_target {
            COLUMNS.len()
        } else {
            TARGET_COLUMN
        }]
    }

    fn note_target(&mut self, target: &str) {
        if !target.is_empty() && !self.targets.iter().any(|t| t == target) {
            self.targets.push(target.to_string());
        }
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
    fn read(path: &Path, mut file: File) -> Result<(Checkpoint, u64), JournalError> {
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
            delivery: false,
            has_target: head.trim_end().split(delimiter as char).nth(TARGET_COLUMN)
                == Some(COLUMNS[TARGET_COLUMN]),
            targets: Vec::new(),
        };
        checkpoint.delivery = delivery::has_columns(head.trim_end(), &checkpoint);
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
        if self.has_target {
            let target = record
                .get(TARGET_COLUMN)
                .map_or(Ok(""), std::str::from_utf8);
            self.note_target(target.map_err(|e| e.to_string())?);
        }
        Ok(())
    }
}

/// The results file of a running campaign: locked, append-only, fsynced.
pub struct Journal {
    path: PathBuf,
    file: File,
    checkpoint: Checkpoint,
    _lock: File,
}

impl Journal {
    /// Takes the run's exclusive lock, loads the checkpoint, cuts a torn last line, and
    /// creates the file with its header if it is new. `delimiter` applies to new files; an
    /// existing file keeps its own.
    pub fn open(path: &Path, delimiter: u8) -> Result<Journal, JournalError> {
        let lock = lock(path)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_error("open", path))?;
        let (mut checkpoint, intact) =
            Checkpoint::read(path, file.try_clone().map_err(io_error("open", path))?)?;
        let length = file.metadata().map_err(io_error("read", path))?.len();
        if intact != length {
            tracing::warn!(
                "{}: dropping {} bytes of a line torn by an earlier crash",
                path.display(),
                length - intact
            );
            file.set_len(intact).map_err(io_error("repair", path))?;
        }
        file.seek(SeekFrom::End(0))
            .map_err(io_error("open", path))?;
        let mut journal = Journal {
            path: path.to_path_buf(),
            file,
            checkpoint: Checkpoint::default(),
            _lock: lock,
        };
        checkpoint.path = path.to_path_buf();
        if intact == 0 {
            checkpoint.delimiter = delimiter;
            checkpoint.has_target = true;
            journal.checkpoint = checkpoint;
            journal.write_durably(&header_line(&journal.checkpoint))?;
            sync_directory(path).map_err(io_error("create", path))?;
        } else {
            journal.checkpoint = checkpoint;
        }
        Ok(journal)
    }

    /// The resume index, kept current as records are appended.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// Appends records and makes them durable together (one fsync for the batch) before
    /// returning: nothing may be sent that could not be recorded.
    pub fn append(&mut self, records: &[Record]) -> Result<(), JournalError> {
        self.write(records)?;
        self.sync()
    }

    /// Appends records without waiting for the disk; [`Journal::sync`] (or [`Shared`]'s
    /// writer) makes them durable. The resume index is updated at once.
    pub fn write(&mut self, records: &[Record]) -> Result<(), JournalError> {
        let mut bytes = Vec::with_capacity(128 * records.len());
        let mut offsets = Vec::with_capacity(records.len());
        let start = self
            .file
            .stream_position()
            .map_err(io_error("write", &self.path))?;
        for record in records {
            offsets.push(start + bytes.len() as u64);
            write_record(&mut bytes, &self.checkpoint, record);
        }
        self.file
            .write_all(&bytes)
            .map_err(io_error("write", &self.path))?;
        for (record, offset) in records.iter().zip(offsets) {
            self.checkpoint.note(record, offset);
        }
        Ok(())
    }

    /// Makes everything written so far durable.
    pub fn sync(&self) -> Result<(), JournalError> {
        self.file.sync_data().map_err(io_error("write", &self.path))
    }

    fn write_durably(&mut self, bytes: &[u8]) -> Result<(), JournalError> {
        self.file
            .write_all(bytes)
            .and_then(|()| self.file.sync_data())
            .map_err(io_error("write", &self.path))
    }

    /// Rewrites the file to exactly one line per input row, in row order, atomically
    /// (temp file, fsync, rename, fsync the directory): a crash leaves the old or the new.
    pub fn compact(&mut self, rows: u64) -> Result<(), JournalError> {
        let temp = self.path.with_extension("csv.compacting");
        let offsets = match self.write_compacted(&temp, rows) {
            Ok(offsets) => offsets,
            Err(e) => {
                let _ = fs::remove_file(&temp);
                return Err(e);
            }
        };
        fs::rename(&temp, &self.path).map_err(io_error("replace", &self.path))?;
        sync_directory(&self.path).map_err(io_error("replace", &self.path))?;
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&self.path)
            .map_err(io_error("reopen", &self.path))?;
        // The index only moves to the lines' new places: reading the new file into a second
        // index would hold two at once.
        let entries = &mut self.checkpoint.entries;
        entries.truncate(usize::try_from(rows).unwrap_or(usize::MAX));
        for (entry, offset) in entries
            .iter_mut()
            .filter(|e| e.status.is_some())
            .zip(offsets)
        {
            entry.offset = offset;
        }
        self.file = file;
        Ok(())
    }

    /// Writes the compacted file to `temp`; returns where each recorded row's line starts
    /// in it, in row order.
    fn write_compacted(&self, temp: &Path, rows: u64) -> Result<Vec<u64>, JournalError> {
        let out = File::create(temp).map_err(io_error("create", temp))?;
        let mut out = io::BufWriter::with_capacity(1 << 20, out);
        let mut source =
            BufReader::new(File::open(&self.path).map_err(io_error("read", &self.path))?);
        let mut line = Vec::new();
        let header = header_line(&self.checkpoint);
        out.write_all(&header).map_err(io_error("write", temp))?;
        let mut offset = header.len() as u64;
        let mut offsets = Vec::new();
        // Where `source` stands: lines already in row order are read on, not sought (a seek
        // empties the buffer and costs a read per line).
        let mut at = 0;
        for entry in self.checkpoint.entries.iter().take(rows as usize) {
            if entry.status.is_none() {
                continue;
            }
            if entry.offset != at {
                source
                    .seek(SeekFrom::Start(entry.offset))
                    .map_err(io_error("read", &self.path))?;
            }
            line.clear();
            source
                .read_until(b'\n', &mut line)
                .map_err(io_error("read", &self.path))?;
            at = entry.offset + line.len() as u64;
            out.write_all(&line).map_err(io_error("write", temp))?;
            offsets.push(offset);
            offset += line.len() as u64;
        }
        let out = out
            .into_inner()
            .map_err(|e| io_error("write", temp)(e.into_error()))?;
        out.sync_all().map_err(io_error("write", temp))?;
        Ok(offsets)
    }
}

/// Takes `<results>.lock` exclusively. The OS drops the lock when the process dies (kill -9
/// included), so a crashed run never blocks the next. The lock file is never deleted:
/// deleting it would let two runs lock two different files.
fn lock(results: &Path) -> Result<File, JournalError> {
    let path = lock_path(results);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_error("create the lock file", &path))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(JournalError::Locked {
                path: results.to_path_buf(),
                holder: if holder.is_empty() {
                    "a process that has not written its id yet".to_string()
                } else {
                    holder.to_string()
                },
            });
        }
        Err(fs::TryLockError::Error(e)) => return Err(io_error("lock", &path)(e)),
    }
    let who = format!(
        "pid {} since {}",
        std::process::id(),
        jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap_or_else(|_| jiff::Timestamp::now())
    );
    file.set_len(0)
        .and_then(|()| file.write_all(who.as_bytes()))
        .and_then(|()| file.sync_data())
        .map_err(io_error("write the lock file", &path))?;
    Ok(file)
}

/// Where the lock for a results file lives.
pub fn lock_path(results: &Path) -> PathBuf {
    let mut name = results.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    results.with_file_name(name)
}

fn header_line(layout: &Checkpoint) -> Vec<u8> {
    let extra: &[&str] = if layout.delivery {
        &delivery::DELIVERY_COLUMNS
    } else {
        &[]
    };
    let mut line = [layout.columns(), extra]
        .concat()
        .join(&(layout.delimiter as char).to_string())
        .into_bytes();
    line.push(b'\n');
    line
}

fn write_record(out: &mut Vec<u8>, layout: &Checkpoint, record: &Record) {
    let mut writer = csv::WriterBuilder::new()
        .delimiter(layout.delimiter)
        .has_headers(false)
        .from_writer(out);
    let cells = record.cells();
    writer
        .write_record(cells[..layout.columns().len()].iter().map(|c| c.as_bytes()))
        .expect("writing to memory cannot fail");
    writer.flush().expect("writing to memory cannot fail");
}

/// Length of the file up to and including its last newline: the rest is a torn write.
fn intact_length(file: &mut File) -> io::Result<u64> {
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

fn read_line_at(path: &Path, offset: u64) -> io::Result<String> {
    let mut reader = BufReader::new(File::open(path)?);
    reader.seek(SeekFrom::Start(offset))?;
    let mut line = String::new();
    reader.read_line(&mut line)?;
    Ok(line)
}

fn sync_directory(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// The input's fingerprint of the same destination, so a rerun can seed its duplicate
/// check from the index.
fn hash(destination: &str) -> u64 {
    crate::fingerprint::of(destination)
}

/// Spreadsheets run a cell that starts with `=`, `+`, `-`, `@`, tab or CR as a formula
/// (CSV injection). Such cells from the input or the API get a leading `'`.
fn excel_safe(cell: &str) -> Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// An E.164 destination (`+` and digits only, as validated) stays usable as is; anything
/// else is neutralized like any other cell.
fn destination_cell(destination: &str) -> Cow<'_, str> {
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
fn unquote_destination(cell: &str) -> Cow<'_, str> {
    match cell.strip_prefix('\'') {
        Some(rest) if excel_safe(rest) != rest => Cow::Owned(rest.to_string()),
        _ => Cow::Borrowed(cell),
    }
}

fn one_line(text: &str) -> Cow<'_, str> {
    if text.contains(['\n', '\r']) {
        Cow::Owned(text.replace(['\r', '\n'], " "))
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(row: u64, status: Status) -> Record {
        Record {
            attempts: 1,
            ..Record::new(row, &format!("+551199999{row:04}"), status)
        }
    }

    #[test]
    fn a_rerun_sees_the_last_line_of_each_row_and_drops_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        {
            let mut journal = Journal::open(&path, b',').unwrap();
            journal.append(&[record(1, Status::Sending)]).unwrap();
            journal
                .append(&[record(1, Status::Queued), record(2, Status::Sending)])
                .unwrap();
        }
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"3,+5511999990003,SEND").unwrap();
        let journal = Journal::open(&path, b',').unwrap();
        let checkpoint = journal.checkpoint();
        assert_eq!(checkpoint.prior(1).unwrap().status, Status::Queued);
        assert_eq!(checkpoint.prior(2).unwrap().status, Status::Sending);
        assert!(checkpoint.prior(3).is_none());
        assert!(
            checkpoint
                .prior(2)
                .unwrap()
                .same_destination("+5511999990002")
        );
        assert!(
            !checkpoint
                .prior(2)
                .unwrap()
                .same_destination("+5511999990003")
        );
        assert!(
            fs::read_to_string(&path)
                .unwrap()
                .ends_with("SENDING,,,,,,1,,,,\n")
        );
    }

    #[test]
    fn damage_before_the_last_line_is_refused_not_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        drop(Journal::open(&path, b',').unwrap());
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"x,garbage\n1,+5511999990001,QUEUED,m,c,202,,,1,,\n")
            .unwrap();
        let error = Journal::open(&path, b',').err().unwrap();
        assert!(
            matches!(error, JournalError::Damaged { line: 2, .. }),
            "{error}"
        );
    }

    #[test]
    fn compaction_leaves_one_line_per_row_in_row_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let mut journal = Journal::open(&path, b';').unwrap();
        for rec in [
            record(2, Status::Sending),
            record(2, Status::Deferred),
            record(1, Status::Sending),
            record(1, Status::Queued),
            record(2, Status::Sending),
            record(2, Status::Uncertain),
        ] {
            journal.append(&[rec]).unwrap();
        }
        journal.compact(2).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("row;destination;status"));
        assert!(lines[1].starts_with("1;+5511999990001;QUEUED"));
        assert!(lines[2].starts_with("2;+5511999990002;UNCERTAIN"));
        assert_eq!(
            journal.checkpoint().prior(2).unwrap().status,
            Status::Uncertain
        );
        // The index points into the compacted file, not the old one.
        for row in [1, 2] {
            assert_eq!(
                journal.checkpoint().recorded_destination(row).as_deref(),
                Some(format!("+551199999{row:04}").as_str())
            );
        }
        journal.append(&[record(3, Status::Invalid)]).unwrap();
        assert!(
            fs::read_to_string(&path)
                .unwrap()
                .ends_with("3;+5511999990003;INVALID;;;;;;1;;;;\n")
        );
    }

    #[test]
    fn a_second_run_is_refused_while_the_first_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let first = Journal::open(&path, b',').unwrap();
        let error = Journal::open(&path, b',').err().unwrap();
        assert!(
            error
                .to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{error}"
        );
        drop(first);
        assert!(
            Journal::open(&path, b',').is_ok(),
            "the lock is released with the run"
        );
    }

    #[test]
    fn cells_that_spreadsheets_would_run_are_neutralized_but_e164_stays_usable() {
        let mut rec = record(1, Status::Invalid);
        rec.destination = "=HYPERLINK(\"x\")".into();
        rec.raw_destination = "+55 11 9999".into();
        rec.error = "-bad\nthing".into();
        let mut out = Vec::new();
        let layout = Checkpoint {
            delimiter: b',',
            has_target: true,
            ..Checkpoint::default()
        };
        write_record(&mut out, &layout, &rec);
        let line = String::from_utf8(out).unwrap();
        assert!(
            line.starts_with("1,\"'=HYPERLINK(\"\"x\"\")\",INVALID"),
            "{line}"
        );
        assert!(line.contains(",'-bad thing,"), "{line}");
        assert!(line.ends_with(",'+55 11 9999,,\n"), "{line}");
        assert_eq!(destination_cell("+5511999990001"), "+5511999990001");
        assert_eq!(
            unquote_destination("'=HYPERLINK(\"x\")"),
            "=HYPERLINK(\"x\")"
        );
    }

    #[test]
    fn a_foreign_file_is_not_taken_for_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        fs::write(&path, "phone,nome\n+5511999990001,Ana\n").unwrap();
        assert!(matches!(
            Journal::open(&path, b','),
            Err(JournalError::NotOurs { .. })
        ));
    }
}
