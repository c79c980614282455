//! The resume index: what a rerun needs to know about each row, read from the results file.
//!
//! Reading is a real CSV read of whatever the file holds, as this tool or a spreadsheet
//! saved it: a BOM, CRLF, `;` or tab, every cell quoted, columns found by name, a cell with
//! line breaks (quoted, as a person typed it). Only a last line that cannot be whole, and
//! whose loss cannot lose a send (see [`super::scan`]), is a write torn by a crash; any other line
//! that does not read stops the run, naming it. A row's state is its latest line in its own
//! history, not the file's last: a spreadsheet's sort reorders lines ([`Entry::follows`]).
//!
//! Rows are kept by row number in [`Rows`]: a vector for the rows a file holds densely, a
//! map for numbers far past them, so a corrupted row number costs one entry, not gigabytes.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::layout::Layout;
use super::record::Kept;
use super::records::Records;
use super::rows::Rows;
use super::scan::scan_lines;
use super::{JournalError, Record, Status, io_error};
use crate::identity::MessageFingerprint;
use jiff::Timestamp;

/// What a rerun needs to know about a row it has seen before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prior {
    pub status: Status,
    pub attempts: u32,
    destination_hash: u64,
    raw_hash: u32,
    /// The message settings the row was last sent with, when the file says.
    pub message: Option<MessageFingerprint>,
    /// For a row not sent (`FAILED`, `INVALID`, `SKIPPED`), the [short
    /// fingerprint](crate::fingerprint::short) of its `errorCode` in upper case.
    code: Option<u32>,
}

impl Prior {
    /// Whether the row was recorded (`FAILED`, `INVALID` or `SKIPPED`) with the error code
    /// `code`, given in upper case.
    pub fn has_code(&self, code: &str) -> bool {
        self.code == Some(crate::fingerprint::short(code))
    }

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

/// Where a recorded line belongs: an input row, or (after a re-exported list dropped its
/// recipient) no row, as the n-th such line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Slot {
    Row(u32),
    Elsewhere(usize),
}

/// The resume index: per row, its latest status, where its latest line starts and fingerprints
/// of its destination and destination cell (24 bytes a row, see [`Rows`]).
#[derive(Debug)]
pub struct Checkpoint {
    pub(super) rows: Rows<Entry>,
    /// Lines of recipients no longer in the CSV (empty `row` cell), kept after the rows;
    /// a later line for the same destination replaces an earlier one.
    pub(super) elsewhere: Vec<Entry>,
    elsewhere_by_destination: HashMap<u64, usize>,
    pub(super) layout: Layout,
    pub(super) path: PathBuf,
    /// Every distinct non-empty `target` recorded, in the order first seen (few: one per
    /// provider or sandbox a file was ever used with); a [`Tag`] names one by its index.
    targets: Vec<String>,
    /// After [`Journal::retarget`](super::Journal::retarget): the one target of every line.
    retargeted: Option<String>,
    /// The latest instant each sender label's lines say the API asked to wait until
    /// ([`crate::pacing::hold`]); few: one per number ever held.
    holds: Vec<(String, Timestamp)>,
    /// Where each label's hold is in `holds`: a hostile file may hold many labels.
    held_at: HashMap<String, usize>,
    /// What lines say about their message and refusal, each distinct pair once; an
    /// [`Entry::tag`] is an index here.
    tags: Tags,
    /// The file is exactly what this version writes (header, delimiter, LF, no BOM), so
    /// lines can be appended to it as they are.
    pub(super) canonical: bool,
    /// Columns a person added to the header ([`Layout::foreign`]), until a rewrite drops
    /// them (keeping the file with them aside).
    pub(super) foreign: Vec<String>,
    /// How many bytes at the end of the file are a write torn by a crash, left out of the
    /// index: the next rewrite ([`Journal::settle`](super::Journal::settle)) drops them.
    pub(super) torn: u64,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    pub(super) offset: u64,
    pub(super) destination_hash: u64,
    pub(super) raw_hash: u32,
    /// Saturates: a row is never attempted 65,535 times.
    pub(super) attempts: u16,
    pub(super) status: Status,
    /// Its message fingerprint and error code, as an index into [`Checkpoint`]'s tags (in
    /// the byte the fields above leave free).
    pub(super) tag: u8,
}

/// A line's message fingerprint and (for a row not sent) the short fingerprint of its error
/// code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
struct Tag {
    message: Option<MessageFingerprint>,
    code: Option<u32>,
    /// The line's target, as an index into [`Checkpoint`]'s targets.
    target: Option<u8>,
}

/// The distinct [`Tag`]s of a file, interned so each row keeps one byte. Index 0 is
/// "nothing known"; a file with more than 255 distinct pairs (a hostile server inventing
/// error codes) leaves the rest unknown: such rows are retried only by a `--retry-failed`
/// without codes, and count as sent with unknown settings.
#[derive(Debug)]
struct Tags {
    all: Vec<Tag>,
    index: HashMap<Tag, u8>,
    /// The last tag asked for and its index: lines mostly repeat the line before.
    last: (Tag, u8),
}

impl Tags {
    fn new() -> Tags {
        Tags {
            all: vec![Tag::default()],
            index: HashMap::from([(Tag::default(), 0)]),
            last: (Tag::default(), 0),
        }
    }

    fn of(&mut self, record: &Kept<'_>, target: Option<u8>) -> u8 {
        let tag = Tag {
            target,
            message: MessageFingerprint::parse(record.message),
            // In upper case, as `--retry-failed` reads the codes asked for.
            code: matches!(
                record.status,
                Status::Failed | Status::Invalid | Status::Skipped
            )
            .then(|| crate::fingerprint::short(&record.error_code.to_ascii_uppercase())),
        };
        if self.last.0 == tag {
            return self.last.1;
        }
        let i = match self.index.get(&tag) {
            Some(&i) => i,
            None => {
                let Ok(i) = u8::try_from(self.all.len()) else {
                    return 0;
                };
                self.all.push(tag);
                self.index.insert(tag, i);
                i
            }
        };
        self.last = (tag, i);
        i
    }

    fn get(&self, tag: u8) -> Tag {
        self.all.get(usize::from(tag)).copied().unwrap_or_default()
    }

    /// Whether some lines' tags were left unknown (index 0): more distinct tags than fit.
    fn overflowed(&self) -> bool {
        self.all.len() > usize::from(u8::MAX)
    }
}

impl Entry {
    pub(super) fn of(record: &Kept<'_>, offset: u64) -> Entry {
        Entry {
            offset,
            destination_hash: hash(&record.destination),
            raw_hash: crate::fingerprint::short(record.raw_destination),
            attempts: u16::try_from(record.attempts).unwrap_or(u16::MAX),
            status: record.status,
            tag: 0,
        }
    }

    fn prior(&self, tags: &Tags) -> Prior {
        let tag = tags.get(self.tag);
        Prior {
            status: self.status,
            attempts: u32::from(self.attempts),
            destination_hash: self.destination_hash,
            raw_hash: self.raw_hash,
            message: tag.message,
            code: tag.code,
        }
    }

    /// Where the line sits in its row's history, whatever the file's line order: a row's
    /// own lines are written with `attempts` never decreasing, each intent (`SENDING`)
    /// before its outcome, and a refusal (`INVALID`, `SKIPPED`, which carry the attempts
    /// before them) after the outcome it follows. A spreadsheet's sort reorders lines, not
    /// this; lines that tie keep their file order.
    fn chronology(&self) -> (u16, u8) {
        let phase = match self.status {
            Status::Sending => 0,
            Status::Invalid | Status::Skipped => 2,
            _ => 1,
        };
        (self.attempts, phase)
    }

    /// Whether this line, read after `earlier`, is the row's later state.
    fn follows(&self, earlier: &Entry) -> bool {
        self.chronology() >= earlier.chronology()
    }

    /// Whether the line says something about its destination that must follow it to
    /// whichever row holds it now: sent, maybe sent, deferred (with its attempts), opted out.
    fn follows_destination(&self) -> bool {
        self.status != Status::Invalid
    }
}

impl Checkpoint {
    /// An empty checkpoint for a new file at `path`.
    pub(super) fn empty(path: &Path, delimiter: u8) -> Checkpoint {
        Checkpoint {
            rows: Rows::default(),
            elsewhere: Vec::new(),
            elsewhere_by_destination: HashMap::new(),
            targets: Vec::new(),
            retargeted: None,
            holds: Vec::new(),
            held_at: HashMap::new(),
            tags: Tags::new(),
            layout: Layout::canonical(delimiter, false),
            path: path.to_path_buf(),
            canonical: true,
            foreign: Vec::new(),
            torn: 0,
        }
    }

    /// Reads a results file without locking or changing it (`--dry-run`, reports).
    /// A missing file is an empty checkpoint.
    pub fn load(path: &Path) -> Result<Checkpoint, JournalError> {
        super::plain_file(path)?;
        match File::open(path) {
            Ok(file) => Ok(Checkpoint::read(path, &file)?.0),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Checkpoint::empty(path, b',')),
            Err(e) => Err(io_error("read", path)(e)),
        }
    }

    /// The last recorded state of `row` (1-based), if any.
    pub fn prior(&self, row: u64) -> Option<Prior> {
        Some(self.rows.get(u32::try_from(row).ok()?)?.prior(&self.tags))
    }

    /// How many rows whose request went (or may have gone) to the API were sent with each
    /// known message fingerprint, most first: a run with other message settings is told.
    pub fn sent_messages(&self) -> Vec<(MessageFingerprint, usize)> {
        let mut counts: HashMap<MessageFingerprint, usize> = HashMap::new();
        let entries = self.rows.values().chain(&self.elsewhere);
        for entry in entries.filter(|e| e.status.reached_api()) {
            if let Some(message) = self.tags.get(entry.tag).message {
                *counts.entry(message).or_default() += 1;
            }
        }
        let mut counts: Vec<_> = counts.into_iter().collect();
        counts.sort_by_key(|(m, n)| (std::cmp::Reverse(*n), m.to_string()));
        counts
    }

    /// Rows whose request went, or may have gone, to the API (`QUEUED`, `FAILED`,
    /// `UNCERTAIN`, `SENDING`), with their destination's fingerprint: a rerun must not send
    /// those destinations again from another row. Row 0 stands for a recipient no longer
    /// in the CSV.
    pub fn attempted(&self) -> impl Iterator<Item = (u64, u64)> + Clone + '_ {
        let rows = self.rows.iter().map(|(row, e)| (u64::from(row), e));
        rows.chain(self.elsewhere.iter().map(|e| (0, e)))
            .filter(|(_, e)| e.status.reached_api())
            .map(|(row, e)| (row, e.destination_hash))
    }

    /// The distinct non-empty targets of the rows whose request went (or may have gone)
    /// to the API, so a run can refuse a file made against another target. A row whose
    /// latest line says nothing reached any server (`DEFERRED` after a connection that never
    /// opened, `INVALID`, `SKIPPED`) does not tie the file to its target: a mistyped address
    /// that never answered does not keep the campaign from the right one.
    pub fn targets(&self) -> Vec<String> {
        if let Some(target) = &self.retargeted {
            return vec![target.clone()];
        }
        if self.tags.overflowed() || self.targets.len() > usize::from(u8::MAX) {
            return self.targets.clone();
        }
        let mut used = vec![false; self.targets.len()];
        let entries = self.rows.values().chain(&self.elsewhere);
        for entry in entries.filter(|e| e.status.reached_api()) {
            if let Some(i) = self.tags.get(entry.tag).target {
                used[usize::from(i)] = true;
            }
        }
        (self.targets.iter().zip(used))
            .filter(|(_, used)| *used)
            .map(|(target, _)| target.clone())
            .collect()
    }

    /// Until when the lines of each sender label say the API asked to wait, the latest per
    /// label: a run's first sends honor what is left.
    pub fn holds(&self) -> &[(String, Timestamp)] {
        &self.holds
    }

    /// After [`Journal::retarget`](super::Journal::retarget): every line holds `target`.
    pub(super) fn retargeted(&mut self, target: &str) {
        self.targets = vec![target.to_string()];
        self.retargeted = Some(target.to_string());
    }

    /// The highest row number recorded.
    pub fn last_row(&self) -> u64 {
        u64::from(self.rows.last())
    }

    /// How many lines the file must keep: one per row, one per recipient elsewhere.
    pub fn len(&self) -> usize {
        self.rows.len() + self.elsewhere.len()
    }

    /// Whether nothing is recorded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The destination recorded for `row`, for a mismatch message.
    pub fn recorded_destination(&self, row: u64) -> Option<String> {
        Some(self.recorded(row)?.destination)
    }

    /// The last line recorded for `row`, read from the file: for what the index does not
    /// keep and a few rows need (the number that last tried an interrupted send, when a
    /// row's attempt was refused).
    pub fn recorded(&self, row: u64) -> Option<Record> {
        let entry = self.rows.get(u32::try_from(row).ok()?)?;
        let mut records = Records::open(&self.path, self.layout.delimiter).ok()?;
        Some(records.line_at(entry.offset, self.layout).ok()?.0)
    }

    /// Every recorded row's last status, in row order.
    pub fn statuses(&self) -> impl Iterator<Item = (u64, Status)> + '_ {
        self.rows.iter().map(|(row, e)| (u64::from(row), e.status))
    }

    /// The last status of each recipient recorded without a row in an input of `rows` rows:
    /// taken off a re-exported list (empty `row`), or past its end.
    pub fn gone(&self, rows: u64) -> impl Iterator<Item = Status> + '_ {
        let past = (self.rows.iter()).filter(move |(row, _)| u64::from(*row) > rows);
        (past.map(|(_, e)| e.status)).chain(self.elsewhere.iter().map(|e| e.status))
    }

    /// Every line the file must keep, in the order compaction writes them.
    pub(super) fn slots(&self) -> impl Iterator<Item = (Slot, &Entry)> + '_ {
        let rows = self.rows.iter().map(|(row, e)| (Slot::Row(row), e));
        rows.chain(
            self.elsewhere
                .iter()
                .enumerate()
                .map(|(i, e)| (Slot::Elsewhere(i), e)),
        )
    }

    pub(super) fn entry_mut(&mut self, slot: Slot) -> Option<&mut Entry> {
        match slot {
            Slot::Row(row) => self.rows.get_mut(row),
            Slot::Elsewhere(i) => self.elsewhere.get_mut(i),
        }
    }

    /// After compaction: each line (in [`Checkpoint::slots`] order) starts at the offset
    /// given for it in the new file; `changed` entries (by that order) are as the new file
    /// reads, their tag (an index into these tags) kept.
    pub(super) fn moved_to(&mut self, offsets: &[u64], changed: Vec<(usize, Entry)>) {
        let mut changed = changed.into_iter().peekable();
        let entries = self.rows.values_mut().chain(&mut self.elsewhere);
        for (i, (entry, offset)) in entries.zip(offsets).enumerate() {
            entry.offset = *offset;
            if let Some((_, read)) = changed.next_if(|(at, _)| *at == i) {
                *entry = Entry {
                    tag: entry.tag,
                    ..read
                };
            }
        }
    }

    /// Records where `record`'s line starts, as its row's latest state.
    pub(super) fn note(&mut self, record: &Kept<'_>, offset: u64) {
        let target = record.target;
        let known = (!target.is_empty()).then(|| {
            (self.targets.iter().position(|t| t == target)).unwrap_or_else(|| {
                self.targets.push(target.to_string());
                self.targets.len() - 1
            })
        });
        let entry = Entry {
            tag: (self.tags).of(record, known.and_then(|i| u8::try_from(i).ok())),
            ..Entry::of(record, offset)
        };
        // Only an answer's line: an INVALID line's text may quote the input's cells.
        let answered = matches!(
            record.status,
            Status::Queued | Status::Deferred | Status::Failed | Status::Uncertain
        );
        if let Some(until) = answered
            .then(|| crate::pacing::hold::until(record.error))
            .flatten()
        {
            self.note_hold(record.sender, until);
        }
        let row = match u32::try_from(record.row) {
            Ok(0) | Err(_) => return self.note_elsewhere(entry),
            Ok(row) => row,
        };
        let (later, earlier) = match self.rows.get(row).copied() {
            None => return self.rows.insert(row, entry),
            Some(kept) if entry.follows(&kept) => (entry, kept),
            Some(kept) => (kept, entry),
        };
        self.rows.insert(row, later);
        // Lines of one row with another destination are not its history: a person's edit
        // (a row cell filled down) put them under one number. An earlier send keeps its own
        // state as a recipient with no row, which follows its person back to a row, so it is
        // neither sent again nor lost. (This tool moves a sent row's line before it writes
        // another destination under its number.)
        if earlier.destination_hash != later.destination_hash && earlier.status.reached_api() {
            self.note_elsewhere(earlier);
        }
    }

    fn note_hold(&mut self, sender: &str, until: Timestamp) {
        match self.held_at.get(sender) {
            Some(&i) => self.holds[i].1 = self.holds[i].1.max(until),
            None => {
                self.held_at.insert(sender.to_string(), self.holds.len());
                self.holds.push((sender.to_string(), until));
            }
        }
    }

    fn note_elsewhere(&mut self, entry: Entry) {
        match self.elsewhere_by_destination.get(&entry.destination_hash) {
            Some(&i) if entry.follows(&self.elsewhere[i]) => self.elsewhere[i] = entry,
            Some(_) => {}
            None => {
                let i = self.elsewhere.len();
                self.elsewhere.push(entry);
                self.elsewhere_by_destination
                    .insert(entry.destination_hash, i);
            }
        }
    }

    /// Each destination whose state must follow it (sent, maybe sent, deferred, opted
    /// out), with the row it is recorded under (`None`: no row). A destination recorded
    /// twice keeps the state that matters most for not sending twice.
    pub fn destinations(&self) -> HashMap<u64, Recorded> {
        let mut found: HashMap<u64, Recorded> = HashMap::new();
        for (slot, entry) in self.slots().filter(|(_, e)| e.follows_destination()) {
            let row = match slot {
                Slot::Row(row) => Some(row),
                Slot::Elsewhere(_) => None,
            };
            let candidate = Recorded {
                row,
                status: entry.status,
            };
            found
                .entry(entry.destination_hash)
                .and_modify(|kept| {
                    if candidate.status.reached_api() && !kept.status.reached_api() {
                        *kept = candidate;
                    }
                })
                .or_insert(candidate);
        }
        found
    }

    /// Whether every state is recorded under its own row of an input of `rows` rows, with
    /// no recipient elsewhere and no destination followed from two rows. Then, if each of
    /// those rows still holds the destination recorded for it, [`Checkpoint::renumber`]
    /// would change nothing: a rerun of the list as exported needs none of its maps.
    pub fn in_place(&self, rows: u64) -> bool {
        if !self.elsewhere.is_empty() || self.last_row() > rows {
            return false;
        }
        let mut followed: Vec<u64> = (self.rows.values())
            .filter(|e| e.follows_destination())
            .map(|e| e.destination_hash)
            .collect();
        followed.sort_unstable();
        followed.windows(2).all(|pair| pair[0] != pair[1])
    }

    /// Whether [`Checkpoint::renumber`] would change anything.
    pub fn needs_renumbering(&self, moves: &HashMap<u64, u32>, rows: u64) -> bool {
        let (placed, elsewhere) = self.placement(moves, rows);
        let now = placed
            .iter()
            .map(|(r, e)| (Slot::Row(r), e.destination_hash, e.status));
        let now = now.chain(
            (elsewhere.iter().enumerate())
                .map(|(i, e)| (Slot::Elsewhere(i), e.destination_hash, e.status)),
        );
        !now.eq(self.slots().map(|(s, e)| (s, e.destination_hash, e.status)))
    }

    /// Moves every destination's state to the row that holds it now (`moves`: destination
    /// fingerprint to its row, for those the input holds); a destination no row holds
    /// keeps its line with no row, and an in-flight one there becomes `UNCERTAIN` (nobody
    /// will resolve it). An `INVALID` line stays with its row unless a moved state takes
    /// the row, and goes to no row if the input (`rows` rows) no longer reaches it. The
    /// file changes only when the journal compacts.
    pub fn renumber(&mut self, moves: &HashMap<u64, u32>, rows: u64) {
        let (placed, elsewhere) = self.placement(moves, rows);
        self.rows = placed;
        self.elsewhere.clear();
        self.elsewhere_by_destination.clear();
        for entry in elsewhere {
            self.note_elsewhere(entry);
        }
    }

    fn placement(&self, moves: &HashMap<u64, u32>, rows: u64) -> (Rows<Entry>, Vec<Entry>) {
        let mut placed = Rows::default();
        let mut elsewhere = Vec::new();
        let old = || {
            let rows = self.rows.iter().map(|(r, e)| (Some(r), e));
            rows.chain(self.elsewhere.iter().map(|e| (None, e)))
        };
        // States that reached the API first: a destination recorded twice keeps its row
        // for the one that matters for not sending twice.
        let following = old()
            .filter(|(_, e)| e.follows_destination() && e.status.reached_api())
            .chain(old().filter(|(_, e)| e.follows_destination() && !e.status.reached_api()));
        // A destination's strongest state is its only one kept: one line per destination.
        let mut kept = std::collections::HashSet::new();
        for (_, entry) in following {
            if !kept.insert(entry.destination_hash) {
                continue;
            }
            match moves.get(&entry.destination_hash) {
                Some(&row) if !placed.contains(row) => {
                    placed.insert(row, *entry);
                }
                _ => {
                    let mut entry = *entry;
                    if entry.status == Status::Sending {
                        entry.status = Status::Uncertain;
                    }
                    elsewhere.push(entry);
                }
            }
        }
        for (row, entry) in old().filter(|(_, e)| !e.follows_destination()) {
            match row {
                Some(row) if u64::from(row) <= rows => placed.insert_new(row, *entry),
                _ if kept.insert(entry.destination_hash) => elsewhere.push(*entry),
                _ => {}
            }
        }
        (placed, elsewhere)
    }

    /// Parses a results file; returns the index and the length of what it read (not a
    /// line torn by a crash, see [`scan`]; 0 for a new file).
    pub(super) fn read(path: &Path, file: &File) -> Result<(Checkpoint, u64), JournalError> {
        let mut checkpoint = Checkpoint::empty(path, b',');
        let scanned = scan_lines(path, file, |offset, layout, cells| {
            checkpoint.note(&layout.kept(cells)?, offset);
            Ok(())
        })?;
        checkpoint.layout = scanned.layout;
        checkpoint.foreign = scanned.foreign;
        // A torn tail, or a last line with no line break, must go before lines are appended.
        checkpoint.canonical = scanned.canonical && scanned.torn == 0 && !scanned.unterminated;
        checkpoint.torn = scanned.torn;
        Ok((checkpoint, scanned.intact))
    }
}

/// What a rerun knows about a destination that must follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// The row it is recorded under; `None` for no row.
    pub row: Option<u32>,
    pub status: Status,
}

/// The input's fingerprint of the same destination, so a rerun can seed its duplicate
/// check from the index.
pub(super) fn hash(destination: &str) -> u64 {
    crate::fingerprint::of(destination)
}
