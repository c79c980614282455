//! The delivery columns a status or cancel pass adds to the results file.
//!
//! They live here, inside the journal, because the journal is the only code that touches
//! the file. A pass appends one line per row it learned something about: the row's send
//! fields verbatim, then the delivery cells. The last line of a row still wins, so a send
//! rerun reads the same status it always did, a killed pass keeps every line it fsynced,
//! and compaction (which copies last lines) keeps the delivery cells.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::Path;

pub use super::checkpoint::Slot;
use super::checkpoint::{Entry, hash};
pub use super::delivery_state::{DELIVERY_COLUMNS, Delivery, DeliveryStatus};
use super::record::write_line;
pub use super::record::{DeliveryView, RecordView};
use super::records::Records;
use super::scan::scan;
use super::{Checkpoint, Journal, JournalError, Record, Status, io_error};

/// A row's last line: its send record and its delivery cells.
#[derive(Debug, Clone)]
pub struct ResultRow {
    pub record: Record,
    pub delivery: Delivery,
    /// Where the line belongs (its row, or no row), to record a delivery against it.
    pub slot: Slot,
}

/// A row's last line borrowed: what [`fold_rows`] hands over, so that a reader that keeps
/// little of each row (the report) owns no string per row.
#[derive(Debug, Clone)]
pub struct RowView<'a> {
    pub record: RecordView<'a>,
    pub delivery: DeliveryView<'a>,
    pub slot: Slot,
}

impl<'a> From<&'a ResultRow> for RowView<'a> {
    fn from(row: &'a ResultRow) -> RowView<'a> {
        RowView {
            record: (&row.record).into(),
            delivery: (&row.delivery).into(),
            slot: row.slot,
        }
    }
}

impl ResultRow {
    /// Accepted with an id: the rows a status or cancel pass can ask the API about.
    pub fn is_trackable(&self) -> bool {
        self.record.status == Status::Queued && !self.record.message_id.is_empty()
    }
}

/// Every row's last line, in row order, then those of recipients no longer in the CSV,
/// without locking: for reports, which may run while a send is appending (a torn last
/// line is left out, as a rerun would).
pub fn read_rows(path: &Path) -> Result<Vec<ResultRow>, JournalError> {
    let (checkpoint, lines) = indexed(path, open(path)?)?;
    rows_of(&checkpoint, lines)
}

/// The results file at `path`, opened to be read (a pipe or folder refused unopened).
fn open(path: &Path) -> Result<File, JournalError> {
    super::plain_file(path)?;
    File::open(path).map_err(io_error("read", path))
}

/// A results file's index and its lines, both read through the one handle `file`: a file
/// renamed over the path in between (a pass's compaction, a spreadsheet's save) is never
/// read at the offsets of the file the index was built from.
fn indexed(path: &Path, file: File) -> Result<(Checkpoint, Records), JournalError> {
    let (checkpoint, _) = Checkpoint::read(path, &file)?;
    let end = file.metadata().map_err(io_error("read", path))?.len();
    let lines = Records::new(file, checkpoint.layout.delimiter, 0, end);
    Ok((checkpoint, lines))
}

/// Folds every row's last line into a value, in file order, without locking (see
/// [`read_rows`]): what `report` reads, each line borrowed. A file where no line replaces
/// an earlier one (a compacted file, the usual case) is read once, with no index;
/// otherwise the first pass's value is dropped and the rows come from [`stream_rows`] into
/// a fresh `init()`.
pub fn fold_rows<T>(
    path: &Path,
    init: impl Fn() -> T,
    mut add: impl FnMut(&mut T, RowView<'_>),
) -> Result<T, JournalError> {
    let file = open(path)?;
    let mut value = init();
    // Replaced lines show as a row number not above the last one (compaction writes rows
    // in order) or a second line for a recipient no longer in the CSV.
    let (mut last_row, mut elsewhere, mut replaced) = (0, HashSet::new(), false);
    scan(path, &file, |_, record, delivery| {
        let slot = match u32::try_from(record.row) {
            Ok(row) if row > last_row => Slot::Row(row),
            Ok(0) | Err(_) if elsewhere.insert(hash(&record.destination)) => {
                Slot::Elsewhere(elsewhere.len() - 1)
            }
            _ => {
                replaced = true;
                return;
            }
        };
        if let Slot::Row(row) = slot {
            last_row = row;
        }
        if !replaced {
            let row = RowView {
                record,
                delivery,
                slot,
            };
            add(&mut value, row);
        }
    })?;
    if !replaced {
        return Ok(value);
    }
    let mut value = init();
    for row in stream_from(path, file)? {
        add(&mut value, RowView::from(&row?));
    }
    Ok(value)
}

/// Every row's last line like [`read_rows`], but one at a time and in file order (not row
/// order): what `report` reads, so a million-row file costs its index and one line at a
/// time, never every row at once. The file is read front to back, once, after the index.
pub fn stream_rows(path: &Path) -> Result<RowStream, JournalError> {
    stream_from(path, open(path)?)
}

/// [`stream_rows`] of the file `file`, opened from `path`.
fn stream_from(path: &Path, file: File) -> Result<RowStream, JournalError> {
    let (checkpoint, lines) = indexed(path, file)?;
    // A compacted file holds the lines in slot order: walk the index itself. Otherwise
    // (a pass appended lines and did not compact) sort the offsets once.
    let order = if checkpoint.slots().map(|(_, e)| e.offset).is_sorted() {
        Order::Slots(None)
    } else {
        let mut wanted: Vec<(u64, Slot)> = (checkpoint.slots())
            .map(|(slot, entry)| (entry.offset, slot))
            .collect();
        wanted.sort_unstable_by_key(|(offset, _)| *offset);
        Order::Sorted(wanted.into_iter())
    };
    Ok(RowStream {
        checkpoint,
        order,
        lines,
    })
}

/// The iterator [`stream_rows`] returns: each row's last line, skipping the lines a later
/// one replaced.
pub struct RowStream {
    checkpoint: Checkpoint,
    order: Order,
    lines: Records,
}

/// The order lines are read in: the index's own (after the last slot read), or offsets
/// sorted apart from it.
enum Order {
    Slots(Option<Slot>),
    Sorted(std::vec::IntoIter<(u64, Slot)>),
}

/// The index's slots after `after` (all of them after `None`), in slot order: rows, then
/// recipients no longer in the CSV.
fn slots_after(index: &Checkpoint, after: Option<Slot>) -> impl Iterator<Item = (Slot, &Entry)> {
    let (rows_from, elsewhere_from) = match after {
        None => (Some(0), 0),
        Some(Slot::Row(row)) => (row.checked_add(1), 0),
        Some(Slot::Elsewhere(i)) => (None, i + 1),
    };
    let rows = (rows_from.into_iter())
        .flat_map(|from| index.rows.from(from))
        .map(|(row, entry)| (Slot::Row(row), entry));
    let elsewhere = (index.elsewhere.iter().enumerate())
        .skip(elsewhere_from)
        .map(|(i, entry)| (Slot::Elsewhere(i), entry));
    rows.chain(elsewhere)
}

impl RowStream {
    /// The next line to read: where it starts and its slot.
    fn next_wanted(&mut self) -> Option<(u64, Slot)> {
        match &mut self.order {
            Order::Sorted(wanted) => wanted.next(),
            Order::Slots(last) => {
                let (slot, entry) = slots_after(&self.checkpoint, *last).next()?;
                *last = Some(slot);
                Some((entry.offset, slot))
            }
        }
    }
}

impl Iterator for RowStream {
    type Item = Result<ResultRow, JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (offset, slot) = self.next_wanted()?;
        let layout = self.checkpoint.layout;
        let row = self
            .lines
            .line_at(offset, layout)
            .map(|(record, delivery)| ResultRow {
                record,
                delivery,
                slot,
            });
        if row.is_err() {
            // One error ends the stream: what follows cannot be trusted either.
            self.order = Order::Sorted(Vec::new().into_iter());
        }
        Some(row.map_err(io_error("read", &self.checkpoint.path)))
    }
}

/// How many rows a pass that writes as it goes holds at once ([`Walk`]).
const BATCH: usize = 256;

/// A walk over every row's last line, in row order, a batch at a time: what `status` and
/// `cancel` read, so they hold one batch, never every row. It keeps only where it is, not
/// the journal, so the pass can record what it learns between batches; each batch reads the
/// file afresh, so lines appended meanwhile and a compaction's new file are read as they are.
#[derive(Debug, Default)]
pub struct Walk {
    after: Option<Slot>,
}

impl Walk {
    /// The next batch of rows (at most [`BATCH`]), in row order; empty at the end.
    pub fn next(&mut self, journal: &Journal) -> Result<Vec<ResultRow>, JournalError> {
        let rows = journal.rows_after(self.after)?;
        if let Some(last) = rows.last() {
            self.after = Some(last.slot);
        }
        Ok(rows)
    }
}

fn rows_of(checkpoint: &Checkpoint, mut lines: Records) -> Result<Vec<ResultRow>, JournalError> {
    let path = &checkpoint.path;
    let mut rows = Vec::with_capacity(checkpoint.len());
    let layout = checkpoint.layout;
    for (slot, entry) in checkpoint.slots() {
        let (record, delivery) =
            (lines.line_at(entry.offset, layout)).map_err(io_error("read", path))?;
        rows.push(ResultRow {
            record,
            delivery,
            slot,
        });
    }
    Ok(rows)
}

impl Journal {
    /// Every row's last line, in row order, as of this (locked) moment.
    pub fn rows(&self) -> Result<Vec<ResultRow>, JournalError> {
        rows_of(&self.checkpoint, self.own_records()?)
    }

    /// The last lines of the (at most [`BATCH`]) rows that come after `after` in row order
    /// (from the first for `None`), read from the file as it is now, in file order.
    fn rows_after(&self, after: Option<Slot>) -> Result<Vec<ResultRow>, JournalError> {
        let mut wanted: Vec<(u64, Slot)> = slots_after(&self.checkpoint, after)
            .take(BATCH)
            .map(|(slot, entry)| (entry.offset, slot))
            .collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        wanted.sort_unstable_by_key(|(offset, _)| *offset);
        let layout = self.checkpoint.layout;
        let read = |e| io_error("read", &self.path)(e);
        let mut lines = self.own_records()?;
        let mut rows = Vec::with_capacity(wanted.len());
        for (offset, slot) in wanted {
            let (record, delivery) = lines.line_at(offset, layout).map_err(read)?;
            rows.push(ResultRow {
                record,
                delivery,
                slot,
            });
        }
        rows.sort_unstable_by_key(|row| row.slot);
        Ok(rows)
    }

    /// Records what a pass learned about rows ([`ResultRow::slot`]), durably (one fsync for
    /// the batch) before returning. The first call on a file without the delivery columns,
    /// or as a spreadsheet re-saved it, rewrites it (safely, see [`Journal::compact`]).
    pub fn record_deliveries(&mut self, updates: &[(Slot, Delivery)]) -> Result<(), JournalError> {
        if updates.is_empty() {
            return Ok(());
        }
        if !self.checkpoint.canonical || !self.checkpoint.layout.delivery() {
            self.compact_with(true)?;
        }
        let layout = self.checkpoint.layout;
        let mut lines = self.own_records()?;
        let start = self
            .file
            .seek(SeekFrom::End(0))
            .map_err(io_error("write", &self.path))?;
        let mut bytes = Vec::new();
        let mut offsets = Vec::with_capacity(updates.len());
        for (slot, delivery) in updates {
            let Some(entry) = self.checkpoint.entry_mut(*slot) else {
                continue;
            };
            let (record, _) =
                (lines.line_at(entry.offset, layout)).map_err(io_error("read", &self.path))?;
            offsets.push((*slot, start + bytes.len() as u64));
            write_line(&mut bytes, layout.delimiter, &record, Some(delivery));
        }
        self.write_durably(&bytes)?;
        for (slot, offset) in offsets {
            if let Some(entry) = self.checkpoint.entry_mut(slot) {
                entry.offset = offset;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn the_stream_yields_each_rows_last_line_once_as_read_rows_does() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let mut journal = Journal::open(&path, b',').unwrap();
        let mut records: Vec<Record> = (1..=4)
            .map(|row| Record::new(row, &format!("+551199999000{row}"), Status::Queued))
            .collect();
        records.push(Record::new(0, "+5511999990009", Status::Queued));
        journal.append(&records).unwrap();
        let failed = Delivery {
            status: Some(DeliveryStatus::Failed),
            ..Delivery::default()
        };
        // Appended after every row: row 1's last line now comes after row 4's.
        journal
            .record_deliveries(&[(Slot::Row(1), failed.clone())])
            .unwrap();
        drop(journal);
        let streamed: Vec<ResultRow> = stream_rows(&path).unwrap().map(Result::unwrap).collect();
        let rows: Vec<u64> = streamed.iter().map(|r| r.record.row).collect();
        assert_eq!(rows, [2, 3, 4, 0, 1], "file order, one line per row");
        assert_eq!(streamed[4].delivery, failed);
        assert_eq!(streamed[3].slot, Slot::Elsewhere(0));
        let mut sorted: Vec<Slot> = streamed.iter().map(|r| r.slot).collect();
        sorted.sort();
        let read: Vec<Slot> = read_rows(&path).unwrap().iter().map(|r| r.slot).collect();
        assert_eq!(sorted, read);

        // Compacted: one line per row in row order, walked through the index itself.
        Journal::open(&path, b',').unwrap().compact().unwrap();
        let compacted: Vec<ResultRow> = stream_rows(&path).unwrap().map(Result::unwrap).collect();
        let rows: Vec<u64> = compacted.iter().map(|r| r.record.row).collect();
        assert_eq!(rows, [1, 2, 3, 4, 0]);
        assert_eq!(compacted[0].delivery, failed);

        // A BOM and CRLF (a spreadsheet's save) shift every offset: still each row once.
        let text = fs::read_to_string(&path).unwrap().replace('\n', "\r\n");
        fs::write(&path, format!("\u{feff}{text}")).unwrap();
        let streamed: Vec<u64> = (stream_rows(&path).unwrap())
            .map(|r| r.unwrap().record.row)
            .collect();
        assert_eq!(streamed, [1, 2, 3, 4, 0]);
    }

    #[test]
    fn fold_reads_a_compacted_file_once_and_falls_back_when_a_line_replaces_another() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let mut journal = Journal::open(&path, b',').unwrap();
        let gone = Record::new(0, "+5511999990009", Status::Deferred);
        let mut records: Vec<Record> = (1..=3)
            .map(|row| Record::new(row, &format!("+551199999000{row}"), Status::Queued))
            .collect();
        records.push(gone.clone());
        journal.append(&records).unwrap();
        let read = Delivery {
            status: Some(DeliveryStatus::Read),
            ..Delivery::default()
        };
        journal
            .record_deliveries(&[(Slot::Row(2), read.clone())])
            .unwrap();
        let fold = |path: &Path| {
            let inits = std::cell::Cell::new(0);
            let rows = fold_rows(
                path,
                || {
                    inits.set(inits.get() + 1);
                    Vec::new()
                },
                |rows: &mut Vec<(u64, Option<DeliveryStatus>)>, row| {
                    rows.push((row.record.row, row.delivery.status));
                },
            );
            let mut rows = rows.unwrap();
            rows.sort();
            (rows, inits.get())
        };
        let want = vec![
            (0, None),
            (1, None),
            (2, Some(DeliveryStatus::Read)),
            (3, None),
        ];
        assert_eq!(fold(&path), (want.clone(), 2), "row 2 replaced: two passes");
        journal.compact().unwrap();
        assert_eq!(fold(&path), (want.clone(), 1), "compacted: one pass");
        // A second line for a recipient no longer in the CSV replaces the first.
        journal.append(&[gone]).unwrap();
        assert_eq!(fold(&path), (want, 2));
        drop(journal);
        let missing = fold_rows(&dir.path().join("none.csv"), || 0, |_, _| {});
        assert!(missing.is_err());
    }

    #[test]
    fn a_pass_reads_and_records_its_own_files_lines_after_a_save_replaced_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let mut journal = Journal::open(&path, b',').unwrap();
        let records: Vec<Record> = (1..=3)
            .map(|row| {
                let mut r = Record::new(row, &format!("+551199999000{row}"), Status::Queued);
                r.message_id = format!("msg_{row}");
                r
            })
            .collect();
        journal.append(&records).unwrap();
        let read = Delivery {
            status: Some(DeliveryStatus::Read),
            ..Delivery::default()
        };
        // The pass's first answer gives the file its delivery columns.
        journal
            .record_deliveries(&[(Slot::Row(3), read.clone())])
            .unwrap();
        // A spreadsheet sorts the rows the other way and saves: lines of the same length
        // at the same offsets, other people on them.
        let text = fs::read_to_string(&path).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines[1..].reverse();
        fs::write(dir.path().join("saved.csv"), lines.join("\n") + "\n").unwrap();
        fs::rename(dir.path().join("saved.csv"), &path).unwrap();

        let walked = Walk::default().next(&journal).unwrap();
        let ids: Vec<&str> = walked
            .iter()
            .map(|r| r.record.message_id.as_str())
            .collect();
        assert_eq!(ids, ["msg_1", "msg_2", "msg_3"]);
        journal
            .record_deliveries(&[(Slot::Row(1), read.clone())])
            .unwrap();
        let rows = journal.rows().unwrap();
        assert_eq!(rows[0].record.message_id, "msg_1");
        assert_eq!(rows[0].delivery, read);
        assert_eq!(rows[2].record.message_id, "msg_3");
    }

    #[test]
    fn delivery_lines_survive_a_send_rerun_and_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let mut journal = Journal::open(&path, b',').unwrap();
        let mut queued = Record::new(1, "+5511999990001", Status::Queued);
        queued.message_id = "msg_1".into();
        journal
            .append(&[queued, Record::new(2, "+5511999990002", Status::Deferred)])
            .unwrap();
        let read = Delivery {
            status: Some(DeliveryStatus::Read),
            read_at: "2026-01-01T00:00:30Z".into(),
            error: "=oops".into(),
            ..Delivery::default()
        };
        journal
            .record_deliveries(&[(Slot::Row(1), read.clone())])
            .unwrap();
        drop(journal);

        // A send rerun: same statuses, and its own appends and compaction keep the cells.
        let mut journal = Journal::open(&path, b',').unwrap();
        assert_eq!(
            journal.checkpoint().prior(1).unwrap().status,
            Status::Queued
        );
        assert!(
            journal
                .checkpoint()
                .prior(1)
                .unwrap()
                .same_destination("+5511999990001")
        );
        journal
            .append(&[Record::new(2, "+5511999990002", Status::Queued)])
            .unwrap();
        journal.compact().unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("row,destination,status,messageId,correlationId,httpStatus,errorCode,error,attempts,sentAt,rawDestination,sender,target,message,deliveryStatus,deliveredAt,readAt,deliveryError,checkedAt\n"), "{text}");
        assert_eq!(text.lines().count(), 3, "{text}");
        let rows = read_rows(&path).unwrap();
        assert_eq!(rows[0].delivery.status, Some(DeliveryStatus::Read));
        assert_eq!(rows[0].delivery.error, "=oops");
        assert!(text.contains(",'=oops,"), "written neutralized: {text}");
        assert_eq!(rows[0].record.message_id, "msg_1");
        assert_eq!(rows[1].record.status, Status::Queued);
        assert_eq!(rows[1].delivery, Delivery::default());
    }
}
