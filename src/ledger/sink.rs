//! The journal's side of the ledger: the writer thread hands each batch of results lines
//! here, and every line that is a send (an intent, an outcome) becomes one ledger entry, all
//! in one transaction, before the batch's waiters are told it is on disk.

use std::collections::HashMap;
use std::sync::Arc;

use crate::journal::Record;

use super::{Entry, Ledger, LedgerError, SendState, destination_fingerprint};

/// Turns results lines into ledger entries and records them.
#[derive(Debug, Clone)]
pub struct Sink {
    pub ledger: Arc<dyn Ledger>,
    /// This process's run id ([`Entry::run`]).
    pub run: u64,
    pub results: String,
    pub campaign: String,
    /// Each sender's fingerprint, by the label the results lines carry.
    pub senders: HashMap<String, String>,
}

impl Sink {
    /// Records the sends among `batch` in one transaction. A line with no send time (a row
    /// never sent, or an earlier run's interrupted send marked `UNCERTAIN` now) is no send
    /// of this run and is left out.
    pub fn record(&self, batch: &[Record]) -> Result<(), LedgerError> {
        let entries: Vec<Entry<'_>> = batch.iter().filter_map(|r| self.entry(r)).collect();
        self.ledger.record(&entries)
    }

    fn entry<'a>(&'a self, record: &'a Record) -> Option<Entry<'a>> {
        let state = SendState::of(record.status)?;
        let at: jiff::Timestamp = record.sent_at.parse().ok()?;
        Some(Entry {
            run: self.run,
            row: record.row,
            results: &self.results,
            sender: self.senders.get(&record.sender).map_or("", String::as_str),
            destination: destination_fingerprint(&record.destination),
            campaign: &self.campaign,
            state,
            message_id: &record.message_id,
            at_ms: at.as_millisecond(),
        })
    }
}
