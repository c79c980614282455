//! The delivery columns a status or cancel pass adds to the results file.
//!
//! They live here, inside the journal, because the journal is the only code that touches
//! the file. A pass appends one line per row it learned something about: the row's send
//! fields verbatim, then the delivery cells. The last line of a row still wins, so a send
//! rerun reads the same status it always did, a killed pass keeps every line it fsynced,
//! and compaction (which copies last lines) keeps the delivery cells.

use std::io::{Seek, SeekFrom};
use std::path::Path;

use super::checkpoint::Lines;
pub use super::checkpoint::Slot;
pub use super::delivery_state::{DELIVERY_COLUMNS, Delivery, DeliveryStatus};
use super::record::write_line;
use super::{Checkpoint, Journal, JournalError, Record, Status, io_error};

/// A row's last line: its send record and its delivery cells.
#[derive(Debug, Clone)]
pub struct ResultRow {
    pub record: Record,
    pub delivery: Delivery,
    /// Where the line belongs (its row, or no row), to record a delivery against it.
    pub slot: Slot,
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
    if !path.exists() {
        return Err(io_error("read", path)(std::io::ErrorKind::NotFound.into()));
    }
    rows_of(&Checkpoint::load(path)?)
}

/// Every row's last line like [`read_rows`], but one at a time and in file order (not row
/// order): what `report` reads, so a million-row file costs its index and one line at a
/// time, never every row at once. The file is read front to back, once, after the index.
pub fn stream_rows(path: &Path) -> Result<RowStream, JournalError> {
    if !path.exists() {
        return Err(io_error("read", path)(std::io::ErrorKind::NotFound.into()));
    }
    let checkpoint = Checkpoint::load(path)?;
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
    let reader = csv::ReaderBuilder::new()
        .delimiter(checkpoint.layout.delimiter)
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(std::fs::File::open(path).map_err(io_error("read", path))?);
    Ok(RowStream {
        checkpoint,
        order,
        reader,
        started: false,
        record: csv::ByteRecord::new(),
    })
}

/// The iterator [`stream_rows`] returns: each row's last line, skipping the lines a later
/// one replaced.
pub struct RowStream {
    checkpoint: Checkpoint,
    order: Order,
    reader: csv::Reader<std::fs::File>,
    started: bool,
    record: csv::ByteRecord,
}

/// The order lines are read in: the index's own (after the last slot read), or offsets
/// sorted apart from it.
enum Order {
    Slots(Option<Slot>),
    Sorted(std::vec::IntoIter<(u64, Slot)>),
}

impl RowStream {
    fn next_row(&mut self, offset: u64, slot: Slot) -> std::io::Result<ResultRow> {
        if !std::mem::replace(&mut self.started, true) {
            // The index counts bytes from the file's start (a BOM included): start there.
            let mut position = csv::Position::new();
            position.set_byte(offset);
            self.reader.seek(position).map_err(std::io::Error::other)?;
        }
        loop {
            let at = self.reader.position().byte();
            if !self
                .reader
                .read_byte_record(&mut self.record)
                .map_err(std::io::Error::other)?
            {
                return Err(std::io::Error::other("the file ended early"));
            }
            if at == offset {
                break;
            }
            if at > offset {
                return Err(std::io::Error::other("a line changed while reading"));
            }
        }
        let (record, delivery) = (self.checkpoint.layout.parse(&self.record))
            .map_err(|e| std::io::Error::other(format!("a line changed while reading: {e}")))?;
        Ok(ResultRow {
            record,
            delivery,
            slot,
        })
    }
}

impl RowStream {
    /// The next line to read: where it starts and its slot.
    fn next_wanted(&mut self) -> Option<(u64, Slot)> {
        let index = &self.checkpoint;
        let (slot, entry) = match &mut self.order {
            Order::Sorted(wanted) => return wanted.next(),
            Order::Slots(last) => {
                let after = match *last {
                    None => Some(0),
                    Some(Slot::Row(row)) => row.checked_add(1),
                    Some(Slot::Elsewhere(_)) => None,
                };
                let next_row = after
                    .and_then(|from| index.rows.range(from..).next())
                    .map(|(row, e)| (Slot::Row(*row), e));
                let elsewhere = match *last {
                    Some(Slot::Elsewhere(i)) => i + 1,
                    _ => 0,
                };
                let next = next_row.or_else(|| {
                    (index.elsewhere.get(elsewhere)).map(|e| (Slot::Elsewhere(elsewhere), e))
                })?;
                *last = Some(next.0);
                next
            }
        };
        Some((entry.offset, slot))
    }
}

impl Iterator for RowStream {
    type Item = Result<ResultRow, JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (offset, slot) = self.next_wanted()?;
        let row = self.next_row(offset, slot);
        if row.is_err() {
            // One error ends the stream: what follows cannot be trusted either.
            self.order = Order::Sorted(Vec::new().into_iter());
        }
        Some(row.map_err(io_error("read", &self.checkpoint.path)))
    }
}

fn rows_of(checkpoint: &Checkpoint) -> Result<Vec<ResultRow>, JournalError> {
    let path = &checkpoint.path;
    let mut rows = Vec::with_capacity(checkpoint.len());
    if checkpoint.is_empty() {
        return Ok(rows);
    }
    let mut lines = Lines::open(path, checkpoint.layout).map_err(io_error("read", path))?;
    for (slot, entry) in checkpoint.slots() {
        let (record, delivery) = lines.at(entry.offset).map_err(io_error("read", path))?;
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
        rows_of(&self.checkpoint)
    }

    /// Records what a pass learned about rows ([`ResultRow::slot`]), durably (one fsync for
    /// the batch) before returning. The first call on a file without the delivery columns
    /// rewrites it (safely, see [`Journal::compact`]) with them.
    pub fn record_deliveries(&mut self, updates: &[(Slot, Delivery)]) -> Result<(), JournalError> {
        if updates.is_empty() {
            return Ok(());
        }
        if !self.checkpoint.layout.delivery() {
            self.compact_with(true)?;
        }
        let layout = self.checkpoint.layout;
        let mut lines = Lines::open(&self.path, layout).map_err(io_error("read", &self.path))?;
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
            let (record, _) = lines
                .at(entry.offset)
                .map_err(io_error("read", &self.path))?;
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
