//! The results file of a running campaign: opened under the lock, appended, compacted.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::checkpoint::{Entry, Slot};
use super::layout::{Fields, Layout, writes_back_as_is};
use super::lock::{Lock, lock, resolve};
use super::place::{self, Identity, Replacement};
use super::record::{header_line, write_line};
use super::records::Records;
use super::scan::scan_lines;
use super::{Checkpoint, JournalError, Record, Status, io_error, write_record};

/// The results file of a running campaign: locked, append-only, fsynced.
pub struct Journal {
    /// The real file (symlinks resolved): compaction replaces it, not a link to it.
    pub(super) path: PathBuf,
    /// The path as the user gave it: what the next run reads, so what must lead to this
    /// run's file (see [`place::check`]).
    pub(super) named: PathBuf,
    pub(super) file: File,
    pub(super) checkpoint: Checkpoint,
    pub(super) lock: Arc<Lock>,
}

impl Journal {
    /// [`Journal::open_as_is`], then [`Journal::settle`]: ready to append at once.
    pub fn open(path: &Path, delimiter: u8) -> Result<Journal, JournalError> {
        let mut journal = Journal::open_as_is(path, delimiter)?;
        journal.settle()?;
        Ok(journal)
    }

    /// Takes the run's exclusive lock, loads the checkpoint, and creates the file with its
    /// header if it is new. `delimiter` applies to new files; an existing file keeps its
    /// own. A file a spreadsheet re-saved (BOM, CRLF, quotes, other column order, no line
    /// break after its last line), or one ending in a line torn by a crash, is left as it
    /// is until [`Journal::settle`] (or the first append), so a run refused after reading
    /// it (another campaign's file, a missing key, other message settings) leaves the
    /// user's file byte for byte as it was.
    pub fn open_as_is(path: &Path, delimiter: u8) -> Result<Journal, JournalError> {
        super::plain_file(path)?;
        let named = path.to_path_buf();
        let path = resolve(path).map_err(io_error("open", path))?;
        let path = path.as_path();
        let lock = lock(path)?;
        if let Some(rescue) = place::unsaved(path) {
            return Err(JournalError::Unsaved {
                path: path.to_path_buf(),
                rescue,
            });
        }
        // Appending: a line always lands after the file's last byte, never over a line
        // someone else added (a run started beside this one after its lock file was
        // deleted), which the writer then notices ([`JournalError::Shared`]).
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io_error("open", path))?;
        // Before anything reads or repairs it: a second name would escape the lock.
        place::single_name(path, &file)?;
        let (mut checkpoint, intact) = Checkpoint::read(path, &file)?;
        if intact == 0 {
            // New, or a header torn while it was being created: nothing to keep.
            file.set_len(0).map_err(io_error("repair", path))?;
            checkpoint = Checkpoint::empty(path, delimiter);
        }
        file.seek(SeekFrom::End(0))
            .map_err(io_error("open", path))?;
        let mut journal = Journal {
            path: path.to_path_buf(),
            named,
            file,
            checkpoint,
            lock: Arc::new(lock),
        };
        if intact == 0 {
            journal.write_durably(&header_line(delimiter, false))?;
            place::sync_directory(path).map_err(io_error("create", path))?;
        }
        Ok(journal)
    }

    /// Rewrites a file a spreadsheet re-saved (safely, see [`Journal::compact`]) into the
    /// form lines are appended to, dropping a line torn by a crash at its end; nothing to
    /// do for a file this program wrote. Every append settles first, so calling it early
    /// only moves the rewrite off the send path.
    pub fn settle(&mut self) -> Result<(), JournalError> {
        if self.checkpoint.canonical {
            return Ok(());
        }
        if self.checkpoint.torn > 0 {
            tracing::warn!(
                "{}: dropping {} bytes after the last line break: a line cut short by an earlier crash or a full disk",
                crate::fmt::path(&self.path),
                self.checkpoint.torn
            );
        }
        self.compact()?;
        self.checkpoint.torn = 0;
        Ok(())
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
        self.settle()?;
        let mut lines = Lines::default();
        lines.format(self.delimiter(), records);
        let start = self
            .file
            .stream_position()
            .map_err(io_error("write", &self.path))?;
        self.file
            .write_all(&lines.bytes)
            .map_err(io_error("write", &self.path))?;
        self.noted(records, &lines, start);
        Ok(())
    }

    /// Updates the resume index for `records`, appended as `lines` from offset `start`
    /// (by [`Journal::write`], or by [`Shared`]'s writer on its own handle, so that a
    /// sender looking the index up never waits for a `write`).
    ///
    /// [`Shared`]: super::Shared
    pub(super) fn noted(&mut self, records: &[Record], lines: &Lines, start: u64) {
        for (record, at) in records.iter().zip(&lines.starts) {
            self.checkpoint.note(&record.kept(), start + at);
        }
    }

    /// The delimiter lines are written with.
    pub(super) fn delimiter(&self) -> u8 {
        self.checkpoint.layout.delimiter
    }

    /// Makes everything written so far durable.
    pub fn sync(&self) -> Result<(), JournalError> {
        self.file.sync_data().map_err(io_error("write", &self.path))
    }

    /// The run's own file's records, read through the run's handle: the path may name
    /// another file by now (a spreadsheet's save renamed over it), whose lines are not where
    /// the index has them. The lines of the run's file are put back at the end (see
    /// [`Journal::compact`]).
    pub(super) fn own_records(&self) -> Result<Records, JournalError> {
        let delimiter = self.checkpoint.layout.delimiter;
        (self.file.try_clone())
            .and_then(|file| {
                Ok(Records::new(
                    file,
                    delimiter,
                    0,
                    self.file.metadata()?.len(),
                ))
            })
            .map_err(io_error("read", &self.path))
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

    /// `--retarget`: compacts the file with `target` on every line, before anything is
    /// sent, so that later runs (without the flag) find the file recorded against the
    /// target it now goes to, even when this run sends nothing new.
    pub fn retarget(&mut self, target: &str) -> Result<(), JournalError> {
        self.rewrite(self.checkpoint.layout.delivery(), Some(target))?;
        self.checkpoint.retargeted(target);
        Ok(())
    }

    /// [`Journal::compact`], with or without the delivery columns.
    pub(super) fn compact_with(&mut self, delivery: bool) -> Result<(), JournalError> {
        self.rewrite(delivery, None)
    }

    /// [`Journal::compact_with`], with every line's target replaced by `target` if given.
    fn rewrite(&mut self, delivery: bool, target: Option<&str>) -> Result<(), JournalError> {
        let place = self.place();
        let temp = beside(&place);
        let result = self
            .write_compacted(&temp, delivery, target)
            .and_then(|digest| self.verify(&temp, digest));
        let moved = match result {
            Ok(moved) => moved,
            Err(e) => {
                let _ = fs::remove_file(&temp);
                return Err(e);
            }
        };
        if let Err(e) = self.keep_foreign(&place) {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
        let installed = self.install(&temp, &place);
        if installed.is_err() {
            let _ = fs::remove_file(&temp);
            // Not installed: the run's file is as it was, and if the path no longer leads to
            // it, nothing but this handle holds its lines.
            self.put_back()?;
        }
        let replacement = installed.map_err(io_error("replace", &place))?;
        // The index moves to the lines' places in the new file, as read back from it.
        self.checkpoint.moved_to(&moved.offsets, moved.changed);
        self.checkpoint.layout = Layout::canonical(self.checkpoint.layout.delimiter, delivery);
        self.checkpoint.canonical = true;
        self.kept_in_place(replacement.into_iter().collect())
    }

    /// Before a rewrite drops the columns a person added ([`Checkpoint::foreign`]): the
    /// file as it is, with them, gets a second name beside it, which the rewrite leaves it.
    /// If it cannot be kept, nothing is rewritten.
    ///
    /// [`Checkpoint::foreign`]: super::Checkpoint
    fn keep_foreign(&mut self, place: &Path) -> Result<(), JournalError> {
        if self.checkpoint.foreign.is_empty() {
            return Ok(());
        }
        let aside = place::keep_aside(place).map_err(io_error("keep a copy of", place))?;
        tracing::warn!(
            "{}: its column(s) {} are not this tool's, and the file is rewritten without \
             them: the file as it was, with them, is kept as {}. Keep notes in a copy of \
             the results (every run rewrites this one)",
            crate::fmt::path(&place),
            named(&self.checkpoint.foreign),
            crate::fmt::path(&aside)
        );
        self.checkpoint.foreign.clear();
        Ok(())
    }

    /// Where the run's file belongs now: where the path as given leads (through symlinks as
    /// they are now), which is what the next run reads.
    fn place(&self) -> PathBuf {
        resolve(&self.named).unwrap_or_else(|_| self.path.clone())
    }

    /// Puts `temp` (this run's file, fsynced and checked) at the path and appends to it from
    /// now on. A file found there that is not this run's (a spreadsheet saved over it) is
    /// kept beside it, not overwritten: see [`place::install`].
    fn install(&mut self, temp: &Path, place: &Path) -> io::Result<Option<Replacement>> {
        let ours = Identity::of(&self.file)?;
        // Opened before the rename: the handle is the file renamed into place, whatever
        // lands at the path after it (checked by [`Journal::kept_in_place`]).
        let mut file = OpenOptions::new().read(true).append(true).open(temp)?;
        let replacement = place::install(temp, place, ours, &self.path)?;
        // Appends take their offsets from the position: at the end, not at 0.
        file.seek(SeekFrom::End(0))?;
        self.file = file;
        place.clone_into(&mut self.path);
        Ok(replacement)
    }

    /// When the path no longer leads to this run's file (a spreadsheet saved over it or
    /// over a symlink on the way during the run, or it was deleted), puts this run's file
    /// back, every byte of it as read through the run's handle, keeping the other file
    /// beside it, and fails with what happened. Run once nothing writes any more; nothing
    /// to do when the path is intact.
    pub(super) fn put_back(&mut self) -> Result<(), JournalError> {
        self.kept_in_place(Vec::new())
    }

    /// Makes sure the path still leads to this run's file, putting it back (each time as
    /// [`Journal::put_back`] says, a few times at most) while saves keep landing over it;
    /// then reports what was found (`found`, and what each look found) and stops the run
    /// if anything was. If it cannot be put back, its lines are saved elsewhere and the
    /// run stops saying where ([`Journal::rescued`]).
    fn kept_in_place(&mut self, mut found: Vec<Replacement>) -> Result<(), JournalError> {
        for _ in 0..PUT_BACK_TRIES {
            let ours = Identity::of(&self.file).map_err(io_error("check", &self.named))?;
            if !matches!(
                place::check(&self.named, ours),
                Err(JournalError::Replaced { .. })
            ) {
                return match found.first() {
                    None => Ok(()),
                    Some(first) => {
                        let error = first.report(&self.named);
                        for again in &found[1..] {
                            again.report(&self.named);
                        }
                        Err(error)
                    }
                };
            }
            let place = self.place();
            let temp = beside(&place);
            let installed =
                place::copy_out(&self.file, &temp).and_then(|()| self.install(&temp, &place));
            match installed {
                Ok(replacement) => found.extend(replacement),
                Err(e) => {
                    let _ = fs::remove_file(&temp);
                    return Err(self.rescued(e.to_string()));
                }
            }
        }
        Err(self.rescued(format!(
            "another file took its place each of the {PUT_BACK_TRIES} times it was put back"
        )))
    }

    /// This run's file could not be put back (`why`): saves its lines elsewhere
    /// ([`place::rescue`]), says so and where, and returns the error that stops the run.
    /// A later run on the path is refused while the saved copy is there ([`place::unsaved`]).
    fn rescued(&self, why: String) -> JournalError {
        let place = self.place();
        let saved = match place::rescue(&self.file, &place) {
            Ok(rescue) => format!(
                "every line this run wrote is saved as {} instead. Put that file in place of \
                 {} (keep the file there now if it has anything you need), delete it, then \
                 rerun the same command; until it is deleted every run on these results is \
                 refused",
                crate::fmt::path(&rescue),
                crate::fmt::path(&self.named)
            ),
            Err(failures) => format!(
                "this run's lines could not be saved anywhere either ({failures}) and are LOST \
                 when this process ends: the file at {} lacks the sends this run recorded (see \
                 the log), and a rerun would send those rows again",
                crate::fmt::path(&self.named)
            ),
        };
        let error = JournalError::NotPutBack {
            path: self.named.clone(),
            why,
            saved,
        };
        tracing::error!("{error}");
        error
    }

    /// Writes the compacted file to `temp` and fsyncs it; returns the digest of its lines,
    /// in the order written.
    fn write_compacted(
        &self,
        temp: &Path,
        delivery: bool,
        target: Option<&str>,
    ) -> Result<u64, JournalError> {
        let out = place::create_like(temp, &self.file).map_err(io_error("create", temp))?;
        let mut out = io::BufWriter::with_capacity(1 << 20, out);
        let layout = self.checkpoint.layout;
        let header = header_line(layout.delimiter, delivery);
        out.write_all(&header).map_err(io_error("write", temp))?;
        let mut digest = chain(DIGEST_SEED, &header);
        // The lines, in row order: read where they are, and copied, not parsed and written
        // again, when already as this version writes them.
        let copy = self.checkpoint.canonical && !layout.delivery() && !delivery && target.is_none();
        let mut records = self.own_records()?;
        let mut bytes = Vec::with_capacity(512);
        for (slot, entry) in self.checkpoint.slots() {
            let fields = (records.at(entry.offset)).map_err(io_error("read", &self.path))?;
            if let (true, Fields::Split { line, .. }, Slot::Row(row)) = (copy, fields, slot)
                && writes_back_as_is(fields, row, entry.status)
            {
                bytes.clear();
                bytes.extend_from_slice(line);
                bytes.push(b'\n');
                out.write_all(&bytes).map_err(io_error("write", temp))?;
                digest = chain(digest, &bytes);
                continue;
            }
            let (mut record, cells) = layout.parse(fields).map_err(|e| {
                io_error("read", &self.path)(io::Error::other(format!(
                    "a line changed while reading: {e}"
                )))
            })?;
            record.row = match slot {
                Slot::Row(row) => u64::from(row),
                Slot::Elsewhere(_) => 0,
            };
            if record.status == Status::Sending && entry.status == Status::Uncertain {
                // An in-flight send whose recipient left the list: nobody will resolve it.
                record.status = Status::Uncertain;
                record.error_code = crate::journal::INTERRUPTED.into();
            }
            if let Some(target) = target {
                target.clone_into(&mut record.target);
            }
            bytes.clear();
            write_line(
                &mut bytes,
                layout.delimiter,
                &record,
                delivery.then_some(&cells),
            );
            out.write_all(&bytes).map_err(io_error("write", temp))?;
            digest = chain(digest, &bytes);
        }
        let out = out
            .into_inner()
            .map_err(|e| io_error("write", temp)(e.into_error()))?;
        out.sync_all().map_err(io_error("write", temp))?;
        Ok(digest)
    }

    /// Reads the compacted file back and checks it holds exactly the bytes written, line by
    /// line in order (`digest`), that it parses to one line per row of the index, in the
    /// index's order, each line where the parse says it starts, with the destination and
    /// state the index has for its row; returns where each line starts (and the few
    /// entries that read back otherwise). Comparing bytes,
    /// not cells, leaves one parse per line: a line that reads back byte for byte reads
    /// back cell for cell. No second index is built: the read is checked against the index
    /// line by line (a million rows' copy would take ~40 MiB).
    fn verify(&self, temp: &Path, digest: u64) -> Result<Moved, JournalError> {
        let file = File::open(temp).map_err(io_error("read", temp))?;
        let mut want = self.checkpoint.slots();
        let mut moved = Moved {
            offsets: Vec::with_capacity(self.checkpoint.len()),
            changed: Vec::new(),
        };
        let mut same = true;
        scan_lines(temp, &file, |offset, layout, cells| {
            let got = layout.kept(cells)?;
            // A line with no row is the n-th elsewhere, after every row's line.
            let slot = match (
                got.row,
                moved.offsets.len().checked_sub(self.checkpoint.rows.len()),
            ) {
                (0, Some(i)) => Some(Slot::Elsewhere(i)),
                (0, None) => None,
                (row, _) => u32::try_from(row).ok().map(Slot::Row),
            };
            let read = Entry::of(&got, offset);
            same &= want.next().is_some_and(|(s, e)| {
                if (e.destination_hash, e.raw_hash) != (read.destination_hash, read.raw_hash) {
                    // A cell the writer made safe (a line break in it) reads back changed.
                    moved.changed.push((moved.offsets.len(), read));
                }
                Some(s) == slot && (e.status, e.attempts) == (read.status, read.attempts)
            });
            moved.offsets.push(offset);
            Ok(())
        })?;
        same &= want.next().is_none();
        let mut source = io::BufReader::with_capacity(1 << 20, file);
        source
            .seek(SeekFrom::Start(0))
            .map_err(io_error("read", temp))?;
        let mut line = Vec::with_capacity(512);
        let mut next = |line: &mut Vec<u8>| {
            line.clear();
            source
                .read_until(b'\n', line)
                .map_err(io_error("read", temp))
        };
        next(&mut line)?;
        let mut offset = line.len() as u64;
        let mut read = chain(DIGEST_SEED, &line);
        for at in &moved.offsets {
            if !same {
                break;
            }
            next(&mut line)?;
            same = *at == offset;
            offset += line.len() as u64;
            read = chain(read, &line);
        }
        same = same && next(&mut line)? == 0 && read == digest;
        if !same {
            return Err(io_error("compact", &self.path)(io::Error::other(
                "the rewritten file did not read back as written, so the original was kept as it is",
            )));
        }
        Ok(moved)
    }
}

/// Where the lines of a compacted file start, in [`Checkpoint::slots`] order, and the
/// entries (by that order) whose cells read back otherwise than the index had them.
struct Moved {
    offsets: Vec<u64>,
    changed: Vec<(usize, Entry)>,
}

/// The most columns a person added that the warning about them names: the rest are counted
/// (a header may add a million, and each would cost the log line a few bytes).
const FOREIGN_NAMED: usize = 10;

/// The columns a person added ([`Checkpoint::foreign`](super::Checkpoint)) as the warning
/// names them: the first [`FOREIGN_NAMED`], each quoted as values are ([`crate::fmt::shown`]),
/// then how many more.
fn named(foreign: &[String]) -> String {
    crate::fmt::listed(foreign, FOREIGN_NAMED, |name| {
        crate::fmt::shown(name).into_owned()
    })
}

/// How many times [`Journal::kept_in_place`] puts the run's file back before it stops trying.
const PUT_BACK_TRIES: usize = 3;

/// Where a compaction's line digest starts.
const DIGEST_SEED: u64 = 0x6469_6765_7374;

/// The digest of the lines so far, `line` added: written and read back alike, one line at a
/// time, so that the same bytes give the same digest however they were buffered.
fn chain(digest: u64, line: &[u8]) -> u64 {
    use std::hash::BuildHasher as _;
    foldhash::quality::FixedState::with_seed(digest).hash_one(line)
}

/// The temporary file compaction writes, beside the real file (same file system).
fn beside(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    let own = path.file_name().unwrap_or_default();
    name.push(crate::file_name::fitted(
        own,
        ".".len() + ".compacting".len(),
    ));
    name.push(".compacting");
    path.with_file_name(name)
}

/// A batch of records as the lines they append, and where each starts in the batch; kept
/// by the writer and reused, round after round.
#[derive(Default)]
pub(super) struct Lines {
    bytes: Vec<u8>,
    starts: Vec<u64>,
}

impl Lines {
    /// Formats `records`, replacing what the batch held.
    pub(super) fn format(&mut self, delimiter: u8, records: &[Record]) {
        self.bytes.clear();
        self.starts.clear();
        for record in records {
            self.starts.push(self.bytes.len() as u64);
            write_record(&mut self.bytes, delimiter, record);
        }
    }

    /// The lines, one after the other.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The read-back is all that stands between a faulty rewrite and the user's only copy:
    /// a rewrite that differs from what was written (a cell, a line, a line's place) is
    /// refused, even where it still reads as a valid results file.
    #[test]
    fn a_rewrite_that_does_not_read_back_as_written_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let mut journal = Journal::open(&path, b',').unwrap();
        for row in 1..=3 {
            let destination = format!("+551199999{row:04}");
            let record = Record {
                attempts: 1,
                message_id: format!("msg_{row}"),
                ..Record::new(row, &destination, Status::Queued)
            };
            journal.append(&[record]).unwrap();
        }
        let temp = beside(&path);
        let digest = journal.write_compacted(&temp, false, None).unwrap();
        assert!(journal.verify(&temp, digest).is_ok());
        let good = String::from_utf8(fs::read(&temp).unwrap()).unwrap();
        let lines: Vec<&str> = good.lines().collect();
        let joined = |lines: &[&str]| lines.join("\n") + "\n";
        let damaged = [
            // A cell changed: the file still reads, only the bytes differ.
            good.replace("msg_2", "msg_9"),
            // The last line lost.
            joined(&lines[..3]),
            // Two lines swapped.
            joined(&[lines[0], lines[2], lines[1], lines[3]]),
            // A line too many.
            good.clone() + lines[3] + "\n",
        ];
        for bad in damaged {
            fs::write(&temp, &bad).unwrap();
            assert!(journal.verify(&temp, digest).is_err(), "accepted:\n{bad}");
        }
    }
}
