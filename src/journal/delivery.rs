//! The delivery columns a status or cancel pass adds to the results file.
//!
//! They live here, inside the journal, because the journal is the only code that touches
//! the file. A pass appends one line per row it learned something about: the row's send
//! fields verbatim, then the delivery cells. The last line of a row still wins, so a send
//! rerun reads the same status it always did, a killed pass keeps every line it fsynced,
//! and compaction (which copies last lines) keeps the delivery cells.

use std::fmt;

use super::{
    COLUMNS, Checkpoint, Journal, JournalError, Record, Status, excel_safe, io_error,
    unquote_destination,
};
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;

/// The columns after [`COLUMNS`] once a status or cancel pass has run, in order.
pub const DELIVERY_COLUMNS: [&str; 5] = [
    "deliveryStatus",
    "deliveredAt",
    "readAt",
    "deliveryError",
    "checkedAt",
];

/// Where an accepted message is, as `GET /v1/messages/{id}` last reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeliveryStatus {
    /// Waiting to be processed, or scheduled for a later `deliverAt`.
    Queued,
    /// Handed to WhatsApp.
    Sent,
    /// On the recipient's device; READ may still follow, so it is looked up again.
    Delivered,
    /// Read. Only ever reported when the recipient has read receipts on.
    Read,
    /// Failed after acceptance; `deliveryError` holds the API's error code.
    Failed,
    /// A scheduled send canceled through the cancel endpoint.
    Canceled,
}

impl DeliveryStatus {
    /// Every state, in lifecycle order: the order reports list them in.
    pub const ALL: [DeliveryStatus; 6] = [
        DeliveryStatus::Queued,
        DeliveryStatus::Sent,
        DeliveryStatus::Delivered,
        DeliveryStatus::Read,
        DeliveryStatus::Failed,
        DeliveryStatus::Canceled,
    ];

    /// The word in the `deliveryStatus` column (the API's own word).
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Queued => "QUEUED",
            DeliveryStatus::Sent => "SENT",
            DeliveryStatus::Delivered => "DELIVERED",
            DeliveryStatus::Read => "READ",
            DeliveryStatus::Failed => "FAILED",
            DeliveryStatus::Canceled => "CANCELED",
        }
    }

    /// Reads a `deliveryStatus` cell or the API's `status` field.
    pub fn parse(text: &str) -> Option<DeliveryStatus> {
        DeliveryStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Nothing can change any more, so a status pass does not look the row up again.
    /// DELIVERED is not terminal: READ may follow (if the recipient has read receipts on).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            DeliveryStatus::Read | DeliveryStatus::Failed | DeliveryStatus::Canceled
        )
    }

    /// Whether the message reached the device (READ implies DELIVERED), for delivery rates.
    pub fn reached_device(self) -> bool {
        matches!(self, DeliveryStatus::Delivered | DeliveryStatus::Read)
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The delivery cells of one row; all empty until a pass has looked the row up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    pub status: Option<DeliveryStatus>,
    pub delivered_at: String,
    pub read_at: String,
    /// The API's `errorMessage` for FAILED, or why a lookup or cancel did not succeed.
    pub error: String,
    /// When the row was last looked up or canceled (RFC 3339, UTC).
    pub checked_at: String,
}

impl Delivery {
    fn from_cells(cells: &csv::StringRecord) -> Delivery {
        let cell = |i: usize| cells.get(COLUMNS.len() + i).unwrap_or("").to_string();
        Delivery {
            status: DeliveryStatus::parse(&cell(0)),
            delivered_at: cell(1),
            read_at: cell(2),
            error: cell(3),
            checked_at: cell(4),
        }
    }
}

/// A row's last line: its send record and its delivery cells.
#[derive(Debug, Clone)]
pub struct ResultRow {
    pub record: Record,
    pub delivery: Delivery,
}

impl ResultRow {
    /// Accepted with an id: the rows a status or cancel pass can ask the API about.
    pub fn is_trackable(&self) -> bool {
        self.record.status == Status::Queued && !self.record.message_id.is_empty()
    }
}

/// Whether a header line already carries the delivery columns.
pub(super) fn has_columns(header: &str, delimiter: u8) -> bool {
    header
        .split(delimiter as char)
        .skip(COLUMNS.len())
        .take(DELIVERY_COLUMNS.len())
        .eq(DELIVERY_COLUMNS)
}

/// Every row's last line, in row order, without locking: for reports, which may run while
/// a send is appending (a torn last line is left out, as a rerun would).
pub fn read_rows(path: &Path) -> Result<Vec<ResultRow>, JournalError> {
    if !path.exists() {
        return Err(io_error("read", path)(std::io::ErrorKind::NotFound.into()));
    }
    rows_of(&Checkpoint::load(path)?)
}

fn rows_of(checkpoint: &Checkpoint) -> Result<Vec<ResultRow>, JournalError> {
    let path = &checkpoint.path;
    let mut rows = Vec::new();
    if checkpoint.entries.is_empty() {
        return Ok(rows);
    }
    let mut source = BufReader::new(File::open(path).map_err(io_error("read", path))?);
    let mut line = Vec::new();
    for (entry, status) in checkpoint
        .entries
        .iter()
        .filter_map(|e| Some((e, e.status?)))
    {
        let cells = read_cells(&mut source, &mut line, entry.offset, checkpoint.delimiter)
            .map_err(io_error("read", path))?;
        rows.push(ResultRow {
            record: record_from(&cells, status),
            delivery: Delivery::from_cells(&cells),
        });
    }
    Ok(rows)
}

fn read_cells(
    source: &mut BufReader<File>,
    line: &mut Vec<u8>,
    offset: u64,
    delimiter: u8,
) -> std::io::Result<csv::StringRecord> {
    source.seek(SeekFrom::Start(offset))?;
    line.clear();
    source.read_until(b'\n', line)?;
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(line.as_slice())
        .records()
        .next()
        .unwrap_or_else(|| Ok(csv::StringRecord::new()))
        .map_err(std::io::Error::other)
}

/// A record from a line the checkpoint already validated; its status comes from there.
fn record_from(cells: &csv::StringRecord, status: Status) -> Record {
    let cell = |i: usize| cells.get(i).unwrap_or("");
    Record {
        row: cell(0).parse().unwrap_or(0),
        destination: unquote_destination(cell(1)).into_owned(),
        status,
        message_id: cell(3).to_string(),
        correlation_id: cell(4).to_string(),
        http_status: cell(5).parse().ok(),
        error_code: cell(6).to_string(),
        error: cell(7).to_string(),
        attempts: cell(8).parse().unwrap_or(0),
        sent_at: cell(9).to_string(),
        raw_destination: cell(10).to_string(),
        sender: cell(11).to_string(),
    }
}

impl Journal {
    /// Every row's last line, in row order, as of this (locked) moment.
    pub fn rows(&self) -> Result<Vec<ResultRow>, JournalError> {
        rows_of(&self.checkpoint)
    }

    /// Records what a pass learned about rows, durably (one fsync for the batch) before
    /// returning. The first call on a file without the delivery columns rewrites it
    /// atomically with them in its header and every line padded to match.
    pub fn record_deliveries(&mut self, updates: &[(u64, Delivery)]) -> Result<(), JournalError> {
        if updates.is_empty() {
            return Ok(());
        }
        if !self.checkpoint.delivery {
            let padded: Vec<(u64, Delivery)> = (self.checkpoint.statuses())
                .map(|(row, _)| (row, Delivery::default()))
                .collect();
            self.append_deliveries(&padded)?;
            self.checkpoint.delivery = true;
            self.compact(self.checkpoint.entries.len() as u64)?;
        }
        self.append_deliveries(updates)
    }

    fn append_deliveries(&mut self, updates: &[(u64, Delivery)]) -> Result<(), JournalError> {
        let delimiter = self.checkpoint.delimiter;
        let mut source =
            BufReader::new(File::open(&self.path).map_err(io_error("read", &self.path))?);
        let mut line = Vec::new();
        let start = self
            .file
            .seek(SeekFrom::End(0))
            .map_err(io_error("write", &self.path))?;
        let mut bytes = Vec::new();
        let mut offsets = Vec::with_capacity(updates.len());
        for (row, delivery) in updates {
            let slot = *row as usize - 1;
            let entry = self.checkpoint.entries[slot];
            let cells = read_cells(&mut source, &mut line, entry.offset, delimiter)
                .map_err(io_error("read", &self.path))?;
            let mut out: Vec<String> = (0..COLUMNS.len())
                .map(|i| cells.get(i).unwrap_or("").to_string())
                .collect();
            out.extend([
                delivery
                    .status
                    .map(DeliveryStatus::as_str)
                    .unwrap_or("")
                    .to_string(),
                delivery.delivered_at.clone(),
                delivery.read_at.clone(),
                excel_safe(&delivery.error.replace(['\r', '\n'], " ")).into_owned(),
                delivery.checked_at.clone(),
            ]);
            offsets.push((slot, start + bytes.len() as u64));
            let mut writer = csv::WriterBuilder::new()
                .delimiter(delimiter)
                .from_writer(&mut bytes);
            writer
                .write_record(&out)
                .and_then(|()| writer.flush().map_err(csv::Error::from))
                .expect("writing to memory cannot fail");
        }
        self.write_durably(&bytes)?;
        for (slot, offset) in offsets {
            self.checkpoint.entries[slot].offset = offset;
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
        journal.record_deliveries(&[(1, read.clone())]).unwrap();
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
        journal.compact(2).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("row,destination,status,messageId,correlationId,httpStatus,errorCode,error,attempts,sentAt,rawDestination,sender,deliveryStatus,deliveredAt,readAt,deliveryError,checkedAt\n"), "{text}");
        assert_eq!(text.lines().count(), 3, "{text}");
        let rows = read_rows(&path).unwrap();
        assert_eq!(rows[0].delivery.status, Some(DeliveryStatus::Read));
        assert_eq!(rows[0].delivery.error, "'=oops");
        assert_eq!(rows[0].record.message_id, "msg_1");
        assert_eq!(rows[1].record.status, Status::Queued);
        assert_eq!(rows[1].delivery, Delivery::default());
    }
}
