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
        assert!(text.starts_with("row,destination,status,messageId,correlationId,httpStatus,errorCode,error,attempts,sentAt,rawDestination,sender,target,deliveryStatus,deliveredAt,readAt,deliveryError,checkedAt\n"), "{text}");
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
