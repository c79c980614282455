//! The resume index: what a rerun needs to know about each row, read from the results file.
//!
//! Reading is a real CSV read of whatever the file holds, as this tool or a spreadsheet
//! saved it: a BOM, CRLF, `;` or tab, every cell quoted, columns found by name, a cell with
//! line breaks (quoted, as a person typed it). Only a last line that cannot be whole, and
//! whose loss cannot lose a send (see [`scan`]), is a write torn by a crash; any other line
//! that does not read stops the run, naming it. A row's state is its latest line in its own
//! history, not the file's last: a spreadsheet's sort reorders lines ([`Entry::follows`]).
//!
//! Rows are kept by row number in [`Rows`]: a vector for the rows a file holds densely, a
//! map for numbers far past them, so a corrupted row number costs one entry, not gigabytes.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::delivery_state::DELIVERY_COLUMNS;
use super::record::{
    DeliveryView, Fields, Kept, Layout, RecordView, header_line, one_record, printable, utf16,
};
use super::records::Records;
use super::rows::Rows;
use super::{COLUMNS, JournalError, REQUIRED_COLUMNS, Record, Status, io_error};
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
    /// For a `FAILED` row, the [short fingerprint](crate::fingerprint::short) of its
    /// `errorCode`.
    failed_code: Option<u32>,
}

impl Prior {
    /// Whether the row is `FAILED` with error code `code`.
    pub fn failed_with(&self, code: &str) -> bool {
        self.failed_code == Some(crate::fingerprint::short(code))
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
    /// provider or sandbox a file was ever used with).
    targets: Vec<String>,
    /// The latest instant each sender label's lines say the API asked to wait until
    /// ([`crate::pacing::hold`]); few: one per number ever held.
    holds: Vec<(String, Timestamp)>,
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

/// A line's message fingerprint and (for `FAILED`) the short fingerprint of its error code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
struct Tag {
    message: Option<MessageFingerprint>,
    failed_code: Option<u32>,
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

    fn of(&mut self, record: &Kept<'_>) -> u8 {
        let tag = Tag {
            message: MessageFingerprint::parse(record.message),
            failed_code: (record.status == Status::Failed)
                .then(|| crate::fingerprint::short(record.error_code)),
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
            failed_code: tag.failed_code,
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
            holds: Vec::new(),
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

    /// The distinct non-empty targets recorded in the file, so a run can refuse a file
    /// made against another target.
    pub fn targets(&self) -> Vec<String> {
        self.targets.clone()
    }

    /// Until when the lines of each sender label say the API asked to wait, the latest per
    /// label: a run's first sends honor what is left.
    pub fn holds(&self) -> &[(String, Timestamp)] {
        &self.holds
    }

    /// After [`Journal::retarget`](super::Journal::retarget): every line holds `target`.
    pub(super) fn retargeted(&mut self, target: &str) {
        self.targets = vec![target.to_string()];
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

    /// The number that last tried `row`, so an interrupted send is reported against it.
    pub fn recorded_sender(&self, row: u64) -> Option<String> {
        Some(self.recorded(row)?.sender)
    }

    /// The last line recorded for `row` (read from the file: rarely needed).
    fn recorded(&self, row: u64) -> Option<Record> {
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
        let entry = Entry {
            tag: self.tags.of(record),
            ..Entry::of(record, offset)
        };
        let target = record.target;
        if !target.is_empty() && !self.targets.iter().any(|t| t == target) {
            self.targets.push(target.to_string());
        }
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
        match u32::try_from(record.row) {
            Ok(0) | Err(_) => self.note_elsewhere(entry),
            Ok(row) => match self.rows.get_mut(row) {
                Some(kept) if !entry.follows(kept) => {}
                _ => self.rows.insert(row, entry),
            },
        }
    }

    fn note_hold(&mut self, sender: &str, until: Timestamp) {
        match self.holds.iter_mut().find(|(label, _)| label == sender) {
            Some((_, held)) => *held = (*held).max(until),
            None => self.holds.push((sender.to_string(), until)),
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

/// What [`scan`] learned about a results file besides its lines.
pub(super) struct Scanned {
    pub(super) layout: Layout,
    /// Its header's columns that are not this tool's ([`Layout::foreign`]).
    foreign: Vec<String>,
    /// Exactly what this version writes (see [`Checkpoint::canonical`]).
    canonical: bool,
    /// The length of what was read: the whole file but a torn write at its end.
    intact: u64,
    /// How many bytes at the end are a write torn by a crash, left out.
    torn: u64,
    /// The last line read has no line break after it.
    unterminated: bool,
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
    // A quote never closed runs to the end of the file and takes every line after it.
    let quoted =
        read_span(file, last, intact.min(last + (64 << 20))).map_err(io_error("read", path))?;
    if quoted.iter().filter(|b| **b == b'"').count() % 2 == 1 {
        return Err(damaged(
            last,
            "a quote opened on this line is never closed".into(),
        ));
    }
    Ok(Scanned {
        foreign: Layout::foreign(&one_record(&head, layout.delimiter)),
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

/// What a rerun knows about a destination that must follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// The row it is recorded under; `None` for no row.
    pub row: Option<u32>,
    pub status: Status,
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

/// The input's fingerprint of the same destination, so a rerun can seed its duplicate
/// check from the index.
pub(super) fn hash(destination: &str) -> u64 {
    crate::fingerprint::of(destination)
}
