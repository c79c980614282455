//! The journal's side of the ledger: the writer thread hands each batch of results lines
//! here, and every line that is a send (an intent, an outcome) becomes one ledger entry, all
//! in one transaction, before the batch's waiters are told it is on disk.

use std::collections::HashMap;
use std::sync::Arc;

use crate::journal::Record;

use super::{
    Campaign, Entry, Ledger, LedgerError, Refusal, Rules, SendState, destination_fingerprint,
};

/// Turns results lines into ledger entries and records them.
#[derive(Debug, Clone)]
pub struct Sink {
    pub ledger: Arc<dyn Ledger>,
    /// This process's run id ([`Entry::run`]).
    pub run: u64,
    pub results: String,
    /// The run's campaign, a row's own when its line carries one.
    pub campaign: Campaign,
    /// Each sender's fingerprint, by the label the results lines carry.
    pub senders: HashMap<String, String>,
    /// The run's rules, judged again as each intent is recorded (`None`: none can refuse).
    pub rules: Option<Rules>,
}

impl Sink {
    /// Records the sends among `batch` in one transaction. A line with no send time (a row
    /// never sent) or an earlier run's interrupted send marked `UNCERTAIN` now is no send of
    /// this run and is left out. Returns the intents the run's rules refused, by their
    /// index in `batch`: another run recorded a send they forbid since this one asked.
    pub fn record(&self, batch: &[Record]) -> Result<Vec<(usize, Refusal)>, LedgerError> {
        let (at, entries): (Vec<usize>, Vec<Entry<'_>>) = (batch.iter().enumerate())
            .filter_map(|(i, r)| Some((i, self.entry(r)?)))
            .unzip();
        let refused = self.ledger.record(&entries, self.rules.as_ref())?;
        Ok(refused.into_iter().map(|(i, why)| (at[i], why)).collect())
    }

    fn entry<'a>(&'a self, record: &'a Record) -> Option<Entry<'a>> {
        if record.interrupted_earlier {
            // The earlier run's send, recorded by that run's intent.
            return None;
        }
        let state = SendState::of(record.status)?;
        let campaign = record.campaign.as_deref().unwrap_or(&self.campaign);
        let at: jiff::Timestamp = record.sent_at.parse().ok()?;
        Some(Entry {
            run: self.run,
            row: record.row,
            results: &self.results,
            sender: self.senders.get(&record.sender).map_or("", String::as_str),
            destination: destination_fingerprint(&record.destination),
            campaign: &campaign.name,
            earlier: &campaign.earlier,
            state,
            message_id: &record.message_id,
            at_ms: at.as_millisecond(),
            // Read as the results file's notes are, from an answer's own line.
            hold_until_ms: (state != SendState::Sending)
                .then(|| crate::pacing::hold::until(&record.error))
                .flatten()
                .map(|until| until.as_millisecond()),
            settled_ms: record.settled_ms,
        })
    }
}
