//! The results file of a running campaign: opened under the lock, appended, compacted.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::lock::lock;
use super::{Checkpoint, JournalError, Record, header_line, io_error, write_record};

/// The results file of a running campaign: locked, append-only, fsynced.
pub struct Journal {
    pub(super) path: PathBuf,
    pub(super) file: File,
    pub(super) checkpoint: Checkpoint,
    pub(super) _lock: File,
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
            journal.checkpoint = checkpoint;
            journal.write_durably(&header_line(delimiter, false))?;
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
            write_record(&mut bytes, self.checkpoint.delimiter, record);
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
        let header = header_line(self.checkpoint.delimiter, self.checkpoint.delivery);
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

pub(super) fn sync_directory(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}
