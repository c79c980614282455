//! The runner's questions to the ledger before a send (see [`crate::ledger`]): a row this
//! campaign already sent from another results file, or whose recipient is over the frequency
//! cap, is `SKIPPED`; a number over its daily cap stops its lane, rows left pending.

use std::sync::Arc;

use crate::input::{Row, Verdict};
use crate::journal::{Durability, Record, Status};
use crate::ledger::{Campaign, CapReached, LedgerError, Refusal};

use super::lanes::Lane;
use super::stop::Stop;
use super::{RunError, Runner};

impl Runner<'_> {
    /// `Some` when the row is not sent: skipped (recorded here). The daily cap is taken
    /// later, in the send's turn ([`Runner::take_from_cap`]).
    pub(super) async fn ledger_gate(&self, row: &Row) -> Option<Result<Option<Stop>, RunError>> {
        let ledger = self.ledger.as_ref()?;
        let now_ms = self.context.clock.wall().as_millisecond();
        let campaign = self.row_campaign(row);
        let ask = |settled| {
            (ledger.checks).refusal(&row.destination, campaign.as_deref(), settled, now_ms)
        };
        // The row's own line is read only when the ledger says no: it may settle the no.
        let refusal = ask(None).and_then(|refusal| match refusal {
            Some(_) => match self.settled(row) {
                Some(settled) => ask(Some(settled)),
                None => Ok(refusal),
            },
            None => Ok(None),
        });
        match refusal {
            Err(e) => Some(Err(RunError::Ledger(e))),
            Ok(Some(refusal)) => {
                let attempts = self.journal.prior(row.index).map_or(0, |p| p.attempts);
                Some(self.record_ledger_skip(row, &refusal, attempts).await)
            }
            Ok(None) => None,
        }
    }

    /// When the row's own line last said it was not sent (`DEFERRED`, `FAILED`: its
    /// `sentAt`, ms since the epoch): a possible send of this results file's recorded in the
    /// ledger from then or before is that attempt, its outcome lost to a kill between the
    /// line and its ledger record ([`crate::ledger::Settled::until_ms`]).
    pub(super) fn settled(&self, row: &Row) -> Option<i64> {
        self.ledger.as_ref()?;
        let prior = self.journal.prior(row.index)?;
        if !matches!(prior.status, Status::Deferred | Status::Failed) {
            return None;
        }
        let line = self.journal.recorded(row.index)?;
        let sent_at: jiff::Timestamp = line.sent_at.parse().ok()?;
        Some(sent_at.as_millisecond())
    }

    /// Takes one send from the lane's daily cap, in the send's turn (after its pace): sends
    /// waiting their turn have taken nothing, so when the cap is spent the ones it stops
    /// never had a share of it.
    pub(super) fn take_from_cap(&self, lane: &Lane<'_>) -> Result<(), CapReached> {
        match self.ledger.as_ref() {
            Some(ledger) => {
                let now_ms = self.context.clock.wall().as_millisecond();
                ledger.checks.take(lane.label, now_ms)
            }
            None => Ok(()),
        }
    }

    /// The ledger's campaign for `row` when its message is not the run's
    /// ([`crate::ledger::Identity::row`]); `None` for the run's own.
    pub(super) fn row_campaign(&self, row: &Row) -> Option<Arc<Campaign>> {
        let ledger = self.ledger.as_ref()?;
        let Verdict::Send(message) = &row.verdict else {
            return None;
        };
        let defaults = &self.settings.input.defaults;
        let campaign = (ledger.checks.identity).row(defaults, row.message, &message.content)?;
        Some(Arc::new(campaign))
    }

    /// A row whose intent the ledger refused as it was recorded (`attempts`: the row's,
    /// this intent's included, so its line sorts after the intent's). The rules' refusals
    /// skip it; a daily cap other runs' sends
    /// spent since, or a ledger that could not record the intent, is not the row's doing:
    /// it goes back to be sent (`DEFERRED`, nothing was sent) and its lane, or the run,
    /// stops.
    pub(super) async fn record_ledger_refusal(
        &self,
        lane: &Lane<'_>,
        row: &Row,
        refusal: Refusal,
        attempts: u32,
    ) -> Result<Option<Stop>, RunError> {
        let (error, stop) = match refusal {
            Refusal::DailyCap { cap } => {
                let now_ms = self.context.clock.wall().as_millisecond();
                let reached = match self.ledger.as_ref() {
                    Some(ledger) => ledger.checks.cap_reached(lane.label, cap, now_ms),
                    None => crate::ledger::CapReached { cap, next_ms: None },
                };
                (format!("not sent: {reached}"), Stop::DailyCap(reached))
            }
            Refusal::Unrecorded(ref problem) => (
                format!("not sent: {refusal}"),
                Stop::Ledger(problem.clone()),
            ),
            // The send waits for it ([`Runner::attempt`]); were it to get here, the run
            // stops with the row left to send, the safe side.
            Refusal::Paced { .. } => (
                format!("not sent: {refusal}"),
                Stop::Ledger(refusal.to_string()),
            ),
            Refusal::AlreadySent(_) | Refusal::FrequencyCap { .. } => {
                return self.record_ledger_skip(row, &refusal, attempts).await;
            }
        };
        let record = Record {
            error,
            ..self.ledger_deferred(lane, row, &refusal, attempts)
        };
        self.journal
            .record(record, Durability::Now)
            .await
            .map_err(RunError::Disk)?;
        Ok(Some(stop))
    }

    /// The line of a row whose intent the ledger refused, not the row's doing: `DEFERRED`,
    /// nothing was sent.
    pub(super) fn ledger_deferred(
        &self,
        lane: &Lane<'_>,
        row: &Row,
        refusal: &Refusal,
        attempts: u32,
    ) -> Record {
        Record {
            sender: lane.label.to_string(),
            error_code: refusal.code().into(),
            error: format!("not sent yet: {refusal}"),
            attempts,
            raw_destination: row.raw_destination.clone(),
            target: self.settings.target_id.clone(),
            ..Record::new(row.index, &row.destination, Status::Deferred)
        }
    }

    /// When lane's send at `now` must first wait for another run's send of its number (the
    /// pace two runs of a number share), the instant it may go (ms since the epoch).
    pub(super) fn paced_by_other_runs(
        &self,
        lane: &Lane<'_>,
        now: jiff::Timestamp,
    ) -> Result<Option<i64>, LedgerError> {
        let Some(ledger) = self.ledger.as_ref() else {
            return Ok(None);
        };
        Ok(match ledger.paced(lane.label, now.as_millisecond())? {
            Some(Refusal::Paced { until_ms }) => {
                tracing::debug!(
                    "{}: waits for another run's send of this number",
                    lane.label
                );
                Some(until_ms)
            }
            _ => None,
        })
    }

    /// Holds lane's sends until `until_ms` (ms since the epoch), as a `Retry-After` would.
    pub(super) fn hold_until(&self, lane: &Lane<'_>, until_ms: i64) {
        let now_ms = self.context.clock.wall().as_millisecond();
        let wait = u64::try_from(until_ms.saturating_sub(now_ms)).unwrap_or(0);
        lane.pacer.hold(std::time::Duration::from_millis(wait));
    }

    /// Records a row the ledger refused as `SKIPPED`, before its send or as its intent was
    /// recorded.
    pub(super) async fn record_ledger_skip(
        &self,
        row: &Row,
        refusal: &Refusal,
        attempts: u32,
    ) -> Result<Option<Stop>, RunError> {
        let record = Record {
            raw_destination: row.raw_destination.clone(),
            target: self.settings.target_id.clone(),
            error_code: refusal.code().into(),
            error: refusal.to_string(),
            message_id: refusal.message_id().into(),
            attempts,
            ..Record::new(row.index, &row.destination, Status::Skipped)
        };
        tracing::warn!("{}: SKIPPED {}: {refusal}", row.at(), refusal.code());
        self.journal
            .record(record, Durability::Lazy)
            .await
            .map_err(RunError::Disk)?;
        self.progress.row_done(Status::Skipped);
        Ok(None)
    }
}
