//! One row's send: wait for its turn, record the intent, send, record the outcome; retries,
//! stops and `UNCERTAIN` are decided here.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::input::validate::{RowError, deliverable};
use crate::input::{Row, Verdict};
use crate::journal::{Durability, JournalError, Prior, Record, Status};
use crate::ledger::{CapReached, LedgerError, Refusal};
use crate::message::{Content, Message};
use crate::pacing::{WaitTooLong, hold};
use crate::provider::{Accepted, ErrorClass, MessageSetting, SendError};
use crate::retry::{Answered, Attempt, RetryGate};
use crate::window::{self, Admission};
use jiff::Timestamp;

use super::lanes::Lane;
use super::stop::Stop;
use super::{RunError, Runner};

/// What one attempt produced, for backon to decide on.
#[derive(Debug)]
enum AttemptError {
    Stopped,
    Retry(SendError),
    /// Recorded `DEFERRED`; the `Retry-After` is too long to wait for in this run.
    WaitTooLong(WaitTooLong),
    Final(SendError),
    Disk(JournalError),
    Closed(window::Closed),
    /// The ledger refused the intent: another run recorded a send the run's rules forbid
    /// after the runner asked ([`crate::ledger::Rules`]). Nothing was sent.
    Refused(Refusal),
    /// The lane's daily cap is spent, in this send's turn: nothing was recorded or sent.
    CapSpent(CapReached),
    /// The ledger could not say whether another run's send holds this one: nothing was
    /// recorded or sent.
    Ledger(LedgerError),
    /// The message's own deadline (`deliverUntil` as an instant) is past, or under a
    /// minute away, when its turn came: nothing was recorded or sent.
    Expired(RowError),
}

impl From<WaitTooLong> for AttemptError {
    fn from(wait: WaitTooLong) -> AttemptError {
        AttemptError::WaitTooLong(wait)
    }
}

impl Attempt for AttemptError {
    /// Only a definite refusal (recorded `DEFERRED`) is sent again.
    fn transient(&self) -> Option<&SendError> {
        match self {
            AttemptError::Retry(error) => Some(error),
            _ => None,
        }
    }
}

impl Answered for AttemptError {
    fn answer(&self) -> Option<&SendError> {
        match self {
            AttemptError::Retry(error) | AttemptError::Final(error) => Some(error),
            _ => None,
        }
    }

    /// A final answer is kept: its row is recorded from it, then the lane stops
    /// ([`Runner::send`]).
    fn beyond_ceiling(self, _: WaitTooLong) -> AttemptError {
        self
    }
}

impl Runner<'_> {
    pub(super) async fn send_in(
        &self,
        lane: &Lane<'_>,
        row: &Row,
    ) -> Result<Option<Stop>, RunError> {
        let Verdict::Send(message) = &row.verdict else {
            unreachable!("only rows to send get a lane")
        };
        if let Some(gated) = self.ledger_gate(row).await {
            return gated;
        }
        if let Err(expired) = deliverable(message, self.context.clock.wall()) {
            return self.record_expired(row, &expired).await;
        }
        let attempts = self.journal.prior(row.index).map_or(0, |p| p.attempts);
        self.send(lane, row, message, attempts).await
    }

    /// A row that gets a record but no send: invalid, opted out, or interrupted earlier.
    pub(super) async fn record_only(&self, row: &Row) -> Result<Option<Stop>, RunError> {
        let prior = self.journal.prior(row.index);
        let status = prior.map(|p| p.status);
        if status == Some(Status::Sending) && !self.settings.resend_uncertain {
            let mut record = self.record(row, Status::Uncertain, prior.map_or(0, |p| p.attempts));
            // The intent's number and start: where and when to look for the message in the
            // provider's history.
            if let Some(intent) = self.journal.recorded(row.index) {
                (record.sender, record.sent_at) = (intent.sender, intent.sent_at);
            }
            // Sent (maybe) with the message its intent recorded.
            record.message = prior
                .and_then(|p| p.message)
                .map_or_else(String::new, |m| m.to_string());
            record.error_code = crate::journal::INTERRUPTED.into();
            record.interrupted_earlier = true;
            record.error =
                "an earlier run was stopped while this send was in flight; it may have been \
                delivered. Check before using --resend-uncertain"
                    .into();
            self.append(record, Durability::Lazy)
                .await
                .map_err(RunError::Disk)?;
            self.progress.row_done(Status::Uncertain);
            return Ok(None);
        }
        match &row.verdict {
            Verdict::Invalid(error) => {
                self.record_refusal(row, prior, Status::Invalid, error)
                    .await
            }
            Verdict::Skip(error) => {
                self.record_refusal(row, prior, Status::Skipped, error)
                    .await
            }
            Verdict::Send(_) | Verdict::Unchanged => Ok(None),
        }
    }

    /// Records a row that is not sent. Never sent, so its line need not be on disk before
    /// the next send: the next fsync (or the final compaction) takes it along.
    async fn record_refusal(
        &self,
        row: &Row,
        prior: Option<Prior>,
        status: Status,
        error: &RowError,
    ) -> Result<Option<Stop>, RunError> {
        // Recorded already, unless for another reason (a row fixed, then wrong otherwise).
        if prior.is_some_and(|p| p.status == status && p.has_code(error.code.as_str())) {
            return Ok(None);
        }
        let mut record = self.record(row, status, prior.map_or(0, |p| p.attempts));
        record.error_code = error.code.as_str().into();
        // The row's line when it is not row + 1, for whoever reads the results alone.
        record.error = match row.at().moved_line() {
            Some(line) => format!("line {line} of the file: {error}"),
            None => error.to_string(),
        };
        tracing::warn!("{}: {status} {}: {error}", row.at(), error.code.as_str());
        self.append(record, Durability::Lazy)
            .await
            .map_err(RunError::Disk)?;
        self.progress.row_done(status);
        Ok(None)
    }

    /// A row whose deadline passed before it could go out (it was judged deliverable when
    /// the run started): `INVALID` as a rerun judges it, rather than sent to expire.
    async fn record_expired(&self, row: &Row, error: &RowError) -> Result<Option<Stop>, RunError> {
        let prior = self.journal.prior(row.index);
        self.record_refusal(row, prior, Status::Invalid, error)
            .await
    }

    /// Sends one row with retries: every attempt waits its turn, records its intent, and
    /// records a definite refusal as DEFERRED before waiting to retry. A final answer is
    /// recorded as it came (`FAILED`, `UNCERTAIN`); its `Retry-After` holds the lane, or,
    /// beyond the ceiling, stops it once the row is recorded.
    async fn send(
        &self,
        lane: &Lane<'_>,
        row: &Row,
        message: &Message,
        prior_attempts: u32,
    ) -> Result<Option<Stop>, RunError> {
        let attempts = AtomicU32::new(prior_attempts);
        let gate = RetryGate {
            backoff: &self.settings.backoff,
            clock: &self.context.clock,
            // Limits are per number: the other numbers keep their pace.
            pacer: &lane.pacer,
            stop: &self.context.shutdown,
            halt: Some(&lane.halt),
        };
        let result = (gate.run(
            || row.at().to_string(),
            || self.attempt(lane, row, message, &attempts),
        ))
        .await;
        let attempts = attempts.load(Ordering::SeqCst);
        let mut error = match result {
            Ok((accepted, sent_at)) => {
                let hold = accepted.retry_after;
                self.record_accepted(lane, row, accepted, attempts, sent_at)?;
                // Recorded first; then its Retry-After holds the number's next send, or,
                // beyond the ceiling, stops the lane.
                let too_long = crate::retry::honor(&lane.pacer, hold).err();
                return Ok(too_long.map(|wait| Stop::WaitTooLong(wait, Status::Queued)));
            }
            Err(AttemptError::Stopped) => return Ok(Some(Stop::Shutdown)),
            Err(AttemptError::Closed(closed)) => return Ok(Some(Stop::Window(closed))),
            Err(AttemptError::Disk(e)) => return Err(RunError::Disk(e)),
            Err(AttemptError::Ledger(e)) => return Err(RunError::Ledger(e)),
            Err(AttemptError::CapSpent(reached)) => return Ok(Some(Stop::DailyCap(reached))),
            Err(AttemptError::Expired(expired)) => return self.record_expired(row, &expired).await,
            Err(AttemptError::Refused(refusal)) => {
                return self
                    .record_ledger_refusal(lane, row, refusal, attempts)
                    .await;
            }
            Err(AttemptError::Retry(e)) => {
                self.progress.row_done(Status::Deferred);
                return Ok(Some(Stop::RetriesExhausted(e)));
            }
            Err(AttemptError::WaitTooLong(wait)) => {
                self.progress.row_done(Status::Deferred);
                return Ok(Some(Stop::WaitTooLong(wait, Status::Deferred)));
            }
            Err(AttemptError::Final(e)) => e,
        };
        let class = match error.class {
            // A refusal of a template (a 404: the only one the API documents) to a message
            // that has none is not about a cell: the address is not the send endpoint.
            ErrorClass::Setting(MessageSetting::Template)
                if !matches!(message.content, Content::Template { .. }) =>
            {
                let class = ErrorClass::Misdirected {
                    may_have_sent: false,
                };
                error.message = format!(
                    "the API answered {} ({}) to a message without a template, which only a \
                     wrong address explains: check --base-url",
                    error.http_status.map_or("-".into(), |s| s.to_string()),
                    error.message
                );
                error.class = class;
                class
            }
            // The row's own cell named it: that row's mistake only.
            ErrorClass::Setting(setting) if !self.campaign_set(setting, message) => {
                ErrorClass::RowFatal
            }
            class => class,
        };
        let status = match class {
            _ if class.may_have_sent() => Status::Uncertain,
            ErrorClass::RowFatal => Status::Failed,
            _ => Status::Deferred,
        };
        let mut record = self.sent_record(lane, row, status, attempts);
        fill_error(&mut record, &error, self.context.clock.wall());
        record.sent_at = self.context.clock.wall().to_string();
        tracing::warn!(
            "{} {}{}: {status} HTTP {} {}: {}",
            row.at(),
            row.destination,
            lane.via(),
            record.http_status.map_or("-".into(), |s| s.to_string()),
            error.code,
            error.message
        );
        self.append(record, Durability::Now)
            .await
            .map_err(RunError::Disk)?;
        match class {
            ErrorClass::CampaignFatal => return Ok(Some(Stop::Fatal(error))),
            ErrorClass::Misdirected { .. } => return Ok(Some(Stop::Misdirected(error))),
            ErrorClass::Setting(setting) => return Ok(Some(Stop::Setting(setting, error))),
            _ => {}
        }
        self.progress.row_done(status);
        let tripped = lane.breaker.tripped(status, &error.code);
        // Recorded as it was answered; only then does a wait too long stop the lane.
        if let Some(wait) = WaitTooLong::check(error.retry_after) {
            return Ok(Some(Stop::WaitTooLong(wait, status)));
        }
        Ok(match (tripped, status) {
            (false, _) => None,
            (true, Status::Uncertain) => Some(Stop::UncertainStreak(error)),
            (true, _) => Some(Stop::Breaker(error)),
        })
    }

    /// Whether the campaign (its flag or file), not the row's own cell, gave the message
    /// `setting` the API refused: then every row carries the same mistake.
    fn campaign_set(&self, setting: MessageSetting, message: &Message) -> bool {
        let defaults = &self.settings.input.defaults;
        let campaign = match setting {
            MessageSetting::Template => defaults.template_id.as_deref(),
            MessageSetting::Media => defaults.media.as_deref(),
            MessageSetting::Addressed => {
                // The instance is always the campaign's: a row that named no template or
                // contact of its own carries the campaign's mistake. One that did may carry
                // its own: it fails alone (the failure breaker stops a run of them).
                let own = |campaign: &Option<String>, row: &str| {
                    campaign.as_deref().map(str::trim) != Some(row.trim())
                };
                let named_own = match &message.content {
                    Content::Template { id, contact_id, .. } => {
                        own(&defaults.template_id, id)
                            || contact_id
                                .as_deref()
                                .is_some_and(|c| own(&defaults.contact_id, c))
                    }
                    Content::Contact { contact_id } => own(&defaults.contact_id, contact_id),
                    _ => false,
                };
                return !named_own;
            }
        };
        let row = match (setting, &message.content) {
            (MessageSetting::Template, Content::Template { id, .. }) => Some(id.as_str()),
            (
                MessageSetting::Media,
                Content::Template {
                    media: Some(media), ..
                }
                | Content::Media { media, .. },
            ) => Some(media.url.as_str()),
            _ => None,
        };
        campaign.is_some_and(|c| Some(c.trim()) == row.map(str::trim))
    }

    async fn attempt(
        &self,
        lane: &Lane<'_>,
        row: &Row,
        message: &Message,
        attempts: &AtomicU32,
    ) -> Result<(Accepted, String), AttemptError> {
        let (now, attempt, body) = loop {
            let now = self.turn(lane).await?;
            deliverable(message, now).map_err(AttemptError::Expired)?;
            self.take_from_cap(lane).map_err(AttemptError::CapSpent)?;
            let attempt = attempts.fetch_add(1, Ordering::SeqCst) + 1;
            let mut body = Vec::with_capacity(512);
            let message = window::with_deadline(self.settings.window.as_ref(), message, now);
            lane.provider.write_body(&message, now, &mut body);
            let mut intent = self.sent_record(lane, row, Status::Sending, attempt);
            intent.sent_at = now.to_string();
            intent.settled_ms = self.settled(row);
            match (self.journal.intend(intent).await).map_err(AttemptError::Disk)? {
                None => break (now, attempt, body),
                // Another run of the number sent in between: nothing left, the row waits.
                Some(refusal @ Refusal::Paced { until_ms }) => {
                    let line = self.ledger_deferred(lane, row, &refusal, attempt);
                    self.append(line, Durability::Lazy)
                        .await
                        .map_err(AttemptError::Disk)?;
                    self.hold_until(lane, until_ms);
                }
                Some(refusal) => return Err(AttemptError::Refused(refusal)),
            }
        };
        let sent_at = now.to_string();
        match lane.provider.send(body).await {
            Ok(accepted) if !crate::journal::id_reads_back(&accepted.message_id) => {
                Err(AttemptError::Final(unrecordable_id(accepted)))
            }
            Ok(accepted) if !self.first_use(&accepted.message_id) => {
                Err(AttemptError::Final(reused_id(accepted)))
            }
            Ok(accepted) => Ok((accepted, sent_at)),
            Err(error) if error.class == ErrorClass::Retryable => {
                let mut deferred = self.sent_record(lane, row, Status::Deferred, attempt);
                deferred.sent_at = sent_at;
                fill_error(&mut deferred, &error, self.context.clock.wall());
                // On disk before anything waits or stops: a rerun sends the row.
                self.append(deferred, Durability::Now)
                    .await
                    .map_err(AttemptError::Disk)?;
                Err(AttemptError::Retry(error))
            }
            Err(error) => Err(AttemptError::Final(error)),
        }
    }

    /// Whether no other row of this run was accepted with message id `id` (and it is now
    /// this row's).
    fn first_use(&self, id: &str) -> bool {
        let mut ids = (self.accepted_ids.lock()).unwrap_or_else(|e| e.into_inner());
        ids.insert(crate::fingerprint::of(id))
    }

    /// Waits for the lane's turn: its pace, the sending window, and another run's send of
    /// its number; returns when the send starts.
    async fn turn(&self, lane: &Lane<'_>) -> Result<Timestamp, AttemptError> {
        let (clock, shutdown) = (&self.context.clock, &self.context.shutdown);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.requested() => return Err(AttemptError::Stopped),
                _ = lane.halt.requested() => return Err(AttemptError::Stopped),
                _ = lane.pacer.ready() => {}
            }
            match window::admit(self.settings.window.as_ref(), clock, shutdown).await {
                Admission::Open(now) => match self.paced_by_other_runs(lane, now) {
                    Ok(None) => return Ok(now),
                    Ok(Some(until_ms)) => self.hold_until(lane, until_ms),
                    Err(e) => return Err(AttemptError::Ledger(e)),
                },
                Admission::Waited => {}
                Admission::Closed(closed) => return Err(AttemptError::Closed(closed)),
            }
        }
    }

    /// Records an accepted send. The sender goes on without waiting for the disk (its next
    /// intent rides the same fsync); the row is reported QUEUED only once its line is on
    /// disk.
    fn record_accepted(
        &self,
        lane: &Lane<'_>,
        row: &Row,
        accepted: Accepted,
        attempts: u32,
        sent_at: String,
    ) -> Result<(), RunError> {
        lane.breaker.passed();
        let mut record = self.sent_record(lane, row, Status::Queued, attempts);
        record.http_status = Some(accepted.http_status);
        record.message_id = accepted.message_id;
        record.correlation_id = accepted.correlation_id.unwrap_or_default();
        record.error =
            hold::note(accepted.retry_after, self.context.clock.wall()).unwrap_or_default();
        record.sent_at = sent_at;
        let (at, destination, via) = (row.at(), row.destination.clone(), lane.via());
        let (id, progress) = (record.message_id.clone(), Arc::clone(&self.progress));
        let report = move |written: Result<(), JournalError>| match written {
            Ok(()) => {
                tracing::info!("{at} {destination}{via}: QUEUED {id}");
                progress.row_done(Status::Queued);
            }
            // Never lost: the id goes to the log, and the intent already on disk makes the
            // row UNCERTAIN (not resent) on the next run. The writer's error stops the run.
            Err(_) => tracing::error!("{at} was accepted as {id} but could not be recorded"),
        };
        self.journal
            .record_then(record, report)
            .map_err(RunError::Disk)
    }

    fn record(&self, row: &Row, status: Status, attempts: u32) -> Record {
        Record {
            attempts,
            raw_destination: row.raw_destination.clone(),
            target: self.settings.target_id.clone(),
            ..Record::new(row.index, &row.destination, status)
        }
    }

    /// A record of a send attempt by `lane`'s number.
    fn sent_record(&self, lane: &Lane<'_>, row: &Row, status: Status, attempts: u32) -> Record {
        Record {
            sender: lane.label.to_string(),
            message: self.message.clone(),
            campaign: self.row_campaign(row),
            ..self.record(row, status, attempts)
        }
    }

    async fn append(&self, record: Record, durability: Durability) -> Result<(), JournalError> {
        self.journal.record(record, durability).await
    }
}

/// The answer's status, code and text on its row's line, with the wait it asked for, if any,
/// written down for the next run ([`hold`]).
fn fill_error(record: &mut Record, error: &SendError, now: Timestamp) {
    record.http_status = error.http_status;
    record.error_code = error.code.clone();
    record.error = hold::noted(&error.message, hold::note(error.retry_after, now));
}

/// An accepted send whose message id the API already gave another row of this run (a proxy
/// or cache replaying one answer): it tracks neither row, and this request may never have
/// reached the API. `UNCERTAIN` `DUPLICATE_MESSAGE_ID`, never resent, the wait it asked for
/// kept; the breaker counts it like any uncertain row.
fn reused_id(accepted: Accepted) -> SendError {
    SendError {
        class: ErrorClass::Ambiguous,
        http_status: Some(accepted.http_status),
        code: "DUPLICATE_MESSAGE_ID".to_string(),
        message: format!(
            "the API answered {} with the message id '{}', which it already gave another row \
             of this run: not this row's own, so it cannot be looked up or canceled; it may \
             have been delivered",
            accepted.http_status, accepted.message_id
        ),
        retry_after: accepted.retry_after,
    }
}

/// An accepted send whose message id the results file would not read back as itself
/// ([`crate::journal::id_reads_back`]: `5.51E+12` reads as a spreadsheet's rounding, and the
/// next run would refuse the file). Recorded as an answer without a usable id is: `UNCERTAIN`
/// `NO_MESSAGE_ID`, never resent, the wait it asked for kept.
fn unrecordable_id(accepted: Accepted) -> SendError {
    SendError {
        class: ErrorClass::Ambiguous,
        http_status: Some(accepted.http_status),
        code: crate::provider::http::NO_MESSAGE_ID.to_string(),
        message: format!(
            "the API answered {} with the message id '{}', written as a number in scientific \
             notation, which the results file cannot tell from a spreadsheet's rounding; it \
             was probably accepted",
            accepted.http_status, accepted.message_id
        ),
        retry_after: accepted.retry_after,
    }
}
