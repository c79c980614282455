//! The results file of a running campaign: opened under the lock, appended, compacted.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::checkpoint::{Entry, Lines, Slot};
use super::delivery_state::Delivery;
use super::lock::{Lock, lock, resolve};
use super::record::{Layout, LineReader, header_line, write_line};
use super::{Checkpoint, JournalError, Record, Status, io_error, write_record};

/// The results file of a running campaign: locked, append-only, fsynced.
pub struct Journal {
    /// The real file (symlinks resolved): compaction replaces it, not a link to it.
    pub(super) path: PathBuf,
    pub(super) file: File,
    pub(super) checkpoint: Checkpoint,
    pub(super) lock: Arc<Lock>,
}

impl Journal {
    /// Takes the run's exclusive lock, loads the checkpoint, cuts a torn last line, and
    /// creates the file with its header if it is new. `delimiter` applies to new files; an
    /// existing file keeps its own. A file a spreadsheet re-saved (BOM, CRLF, quotes, other
    /// column order) is rewritten, safely, into the form lines are appended to.
    pub fn open(path: &Path, delimiter: u8) -> Result<Journal, JournalError> {
        let path = resolve(path).map_err(io_error("open", path))?;
        let path = path.as_path();
        let lock = lock(path)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_error("open", path))?;
        let (mut checkpoint, intact) = Checkpoint::read(path, &file)?;
        let length = file.metadata().map_err(io_error("read", path))?.len();
        if intact != length {
            tracing::warn!(
                "{}: dropping {} bytes after the last line break: a line torn by an earlier crash",
                path.display(),
                length - intact
            );
            file.set_len(intact).map_err(io_error("repair", path))?;
        }
        file.seek(SeekFrom::End(0))
            .map_err(io_error("open", path))?;
        if intact == 0 {
            checkpoint = Checkpoint::empty(path, delimiter);
        }
        let mut journal = Journal {
            path: path.to_path_buf(),
            file,
            checkpoint,
            lock: Arc::new(lock),
        };
        if intact == 0 {
            journal.write_durably(&header_line(delimiter, false))?;
            sync_directory(path).map_err(io_error("create", path))?;
        } else if !journal.checkpoint.canonical {
            journal.compact()?;
        }
        Ok(journal)
    }

    /// The resume index, kept current as records are appended.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The resume index, to move rows to a re-exported list's numbering ([`Checkpoint::rekey`])
    /// before [`Journal::compact`] writes it.
    pub fn checkpoint_mut(&mut self) -> &mut Checkpoint {
        &mut self.checkpoint
    }

    /// Appends records and makes them durable together (one fsync for the batch) before
    /// returning: nothing may be sent that could not be recorded.
    pub fn append(&mut self, records: &[Record]) -> Result<(), JournalError> {
        self.write(records)?;
        self.sync()
    }

    /// Appends records without waiting for the disk; [`Journal::sync`] (or [`Shared`]'s
    /// writer) makes them durable. The resume index is updated at once.
    ///
    /// [`Shared`]: super::Shared
    pub fn write(&mut self, records: &[Record]) -> Result<(), JournalError> {
        let mut bytes = Vec::with_capacity(128 * records.len());
        let mut offsets = Vec::with_capacity(records.len());
        let start = self
            .file
            .stream_position()
            .map_err(io_error("write", &self.path))?;
        for record in records {
            offsets.push(start + bytes.len() as u64);
            write_record(&mut bytes, self.checkpoint.layout.delimiter, record);
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

    pub(super) fn write_durably(&mut self, bytes: &[u8]) -> Result<(), JournalError> {
        self.file
            .write_all(bytes)
            .and_then(|()| self.file.sync_data())
            .map_err(io_error("write", &self.path))
    }

    /// Rewrites the file to one line per row, in row order, then one per recipient no
    /// longer in the CSV, each with its last state. Nothing is lost on the way: the new
    /// file is written beside the old, fsynced, read back and compared with every line it
    /// must hold, and only then renamed over the old one (then the directory is fsynced):
    /// a crash or a mismatch leaves the old file as it was.
    pub fn compact(&mut self) -> Result<(), JournalError> {
        self.compact_with(self.checkpoint.layout.delivery())
    }

    /// [`Journal::compact`], with or without the delivery columns.
    pub(super) fn compact_with(&mut self, delivery: bool) -> Result<(), JournalError> {
        let temp = beside(&self.path);
        let result = self
            .write_compacted(&temp, delivery)
            .and_then(|written| self.verify(&temp, &written).map(|()| written));
        let written = match result {
            Ok(written) => written,
            Err(e) => {
                let _ = fs::remove_file(&temp);
                return Err(e);
            }
        };
        fs::rename(&temp, &self.path).map_err(io_error("replace", &self.path))?;
        sync_directory(&self.path).map_err(io_error("replace", &self.path))?;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&self.path)
            .map_err(io_error("reopen", &self.path))?;
        // Appends take their offsets from the position: at the end, not at 0.
        file.seek(SeekFrom::End(0))
            .map_err(io_error("reopen", &self.path))?;
        // The index only moves to the lines' new places: reading the new file into a second
        // index would hold two at once.
        for line in written {
            if let Some(entry) = self.checkpoint.entry_mut(line.slot) {
                // The same record at a new offset: its tag stands.
                *entry = Entry {
                    tag: entry.tag,
                    ..line.entry
                };
            }
        }
        self.checkpoint.layout = Layout::canonical(self.checkpoint.layout.delimiter, delivery);
        self.checkpoint.canonical = true;
        self.file = file;
        Ok(())
    }

    /// Writes the compacted file to `temp` and fsyncs it; returns each line's place and
    /// what it records, in the order written.
    fn write_compacted(&self, temp: &Path, delivery: bool) -> Result<Vec<Written>, JournalError> {
        let out = File::create(temp).map_err(io_error("create", temp))?;
        let mut out = io::BufWriter::with_capacity(1 << 20, out);
        let layout = self.checkpoint.layout;
        let header = header_line(layout.delimiter, delivery);
        out.write_all(&header).map_err(io_error("write", temp))?;
        let mut offset = header.len() as u64;
        let mut lines = Lines::open(&self.path, layout).map_err(io_error("read", &self.path))?;
        let mut written = Vec::with_capacity(self.checkpoint.len());
        let mut bytes = Vec::with_capacity(512);
        let canonical = Layout::canonical(layout.delimiter, delivery);
        let mut parse = LineReader::new(layout.delimiter);
        for (slot, entry) in self.checkpoint.slots() {
            let (mut record, cells) = lines
                .at(entry.offset)
                .map_err(io_error("read", &self.path))?;
            record.row = match slot {
                Slot::Row(row) => u64::from(row),
                Slot::Elsewhere(_) => 0,
            };
            if record.status == Status::Sending && entry.status == Status::Uncertain {
                // An in-flight send whose recipient left the list: nobody will resolve it.
                record.status = Status::Uncertain;
                record.error_code = "INTERRUPTED".into();
            }
            bytes.clear();
            write_line(
                &mut bytes,
                layout.delimiter,
                &record,
                delivery.then_some(&cells),
            );
            out.write_all(&bytes).map_err(io_error("write", temp))?;
            // What the line will read back as (a person's line breaks are now spaces).
            let line = canonical
                .parse(parse.read(&bytes))
                .map_err(|e| io_error("compact", &self.path)(io::Error::other(e)))?;
            written.push(Written {
                slot,
                entry: Entry::of(&line.0, offset),
                digest: digest(&line),
            });
            offset += bytes.len() as u64;
        }
        let out = out
            .into_inner()
            .map_err(|e| io_error("write", temp)(e.into_error()))?;
        out.sync_all().map_err(io_error("write", temp))?;
        Ok(written)
    }

    /// Reads the compacted file back and checks it holds exactly the lines written, in
    /// order, each with the state the index has for its row and every cell as written.
    fn verify(&self, temp: &Path, written: &[Written]) -> Result<(), JournalError> {
        let file = File::open(temp).map_err(io_error("read", temp))?;
        let (copy, _) = Checkpoint::read(temp, &file)?;
        let mut lines = Lines::open(temp, copy.layout).map_err(io_error("read", temp))?;
        let mut same = copy.len() == written.len() && self.checkpoint.len() == written.len();
        for (((slot, want), (copied, got)), line) in
            self.checkpoint.slots().zip(copy.slots()).zip(written)
        {
            if !same {
                break;
            }
            let cells = lines.at(got.offset).map_err(io_error("read", temp))?;
            same = slot == copied
                && slot == line.slot
                && got.offset == line.entry.offset
                && (want.status, want.attempts) == (got.status, got.attempts)
                && same_state(&line.entry, got)
                && digest(&cells) == line.digest;
        }
        if !same {
            return Err(io_error("compact", &self.path)(io::Error::other(
                "the rewritten file did not read back as written, so the original was kept as it is",
            )));
        }
        Ok(())
    }
}

/// A line compaction wrote: where it belongs, what it records, and a digest of its cells.
struct Written {
    slot: Slot,
    entry: Entry,
    digest: u64,
}

/// Every cell of a line, hashed field by field (formatting a million lines to compare them
/// cost more than writing them).
fn digest(cells: &(Record, Delivery)) -> u64 {
    use std::hash::BuildHasher as _;
    foldhash::quality::FixedState::with_seed(0x6469_6765_7374).hash_one(cells)
}

/// Whether two index entries record the same state (their places may differ).
fn same_state(a: &Entry, b: &Entry) -> bool {
    (a.status, a.destination_hash, a.raw_hash, a.attempts)
        == (b.status, b.destination_hash, b.raw_hash, b.attempts)
}

/// The temporary file compaction writes, beside the real file (same file system).
fn beside(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(".compacting");
    path.with_file_name(name)
}

pub(super) fn sync_directory(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}
