//! The numbers a `status` or `cancel` pass asks with, and the census of what it has to do.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;

use crate::blocking::blocking;
use crate::clock::Clock;
use crate::connect::Reached;
use crate::journal::delivery::{DeliveryStatus, Walk};
use crate::journal::{Journal, JournalError, Record};
use crate::ledger::{Ledger as _, SqliteLedger};
use crate::pacing::Pacer;
use crate::pacing::hold::{Held, asked_until, same};
use crate::provider::messages::Messages;

use super::Refused;

/// The API to talk to, one client per number; holds the target (an in-process sandbox
/// for `--sandbox`) alive.
pub struct Numbers {
    pub(super) numbers: Vec<Number>,
    /// The target in the words of the results file's `target` column (see
    /// [`settings::target_id`]): a file recorded against another is refused.
    pub(super) target: String,
    /// The ledger, if there is one: where waits asked of the numbers are read and kept.
    pub(super) ledger: Option<SqliteLedger>,
    /// The wait asked of each number before this pass (by label), until its first request.
    pub(super) asked: Mutex<HashMap<String, Timestamp>>,
    pub(super) _target: Reached,
}

/// One number the pass asks with.
pub(super) struct Number {
    pub(super) label: String,
    pub(super) messages: Messages,
    /// The number as the ledger knows it ([`sender_fingerprint`]).
    pub(super) fingerprint: String,
    /// The name its earlier history may be under ([`crate::ledger::adopted_name`]).
    pub(super) adopts: Option<String>,
}

impl Numbers {
    /// The number that sent `record` (checked to exist by [`ApiArgs::start`]).
    pub(super) fn number(&self, record: &Record) -> &Number {
        self.named(&record.sender)
            .expect("every row's sender was checked at start")
    }

    /// Whether this pass has a key for the number labeled `sender`.
    fn knows(&self, sender: &str) -> bool {
        self.named(sender).is_some()
    }

    /// The number a `sender` cell names: its label as written, or as a spreadsheet re-saved
    /// a label of digits (`01` as `1`, see [`same`]); one at most, since a senders file
    /// holding two labels that compare the same is refused.
    fn named(&self, sender: &str) -> Option<&Number> {
        (self.numbers.iter())
            .find(|number| number.label == sender)
            .or_else(|| (self.numbers.iter()).find(|number| same(sender, &number.label)))
    }

    /// Before the first request to `number`: holds `pacer` for what is left of the wait
    /// asked of it earlier, said once; a wait beyond what a run waits refuses instead.
    pub(super) fn wait_asked(
        &self,
        number: &Number,
        pacer: &Pacer,
        clock: &Clock,
    ) -> Result<(), Refused> {
        let mut asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
        let Some(&until) = asked.get(&number.label) else {
            return Ok(());
        };
        let who = who(&number.label);
        match Held::at(Some(until), clock.wall()) {
            Held::No => {}
            Held::For(left) => {
                tracing::warn!(
                    "waiting until {until} before asking about the messages of {who}: an \
                     earlier answer asked it to wait (Retry-After, noted in the results file or \
                     kept in the ledger); --ignore-earlier-retry-after asks at once"
                );
                pacer.hold(left);
            }
            Held::Beyond(until) => return Err(Refused::Held { who, until }),
        }
        asked.remove(&number.label);
        Ok(())
    }

    /// Keeps in the ledger that an answer at `now` asked `number` to wait `retry_after`.
    /// A ledger that cannot take it is said, not fatal: this pass honors the wait anyway.
    pub(super) fn keep_wait(&self, number: &Number, retry_after: Option<Duration>, now: Timestamp) {
        let (Some(ledger), Some(until)) = (&self.ledger, asked_until(retry_after, now)) else {
            return;
        };
        let kept = blocking(|| ledger.hold(&number.fingerprint, until.as_millisecond()));
        if let Err(e) = kept {
            tracing::warn!("the wait asked of {} is not kept: {e}", who(&number.label));
        }
    }
}

/// A number in a log line: its label, or the single key's.
fn who(label: &str) -> String {
    match label {
        "" => "the number".into(),
        label => format!("number {label}"),
    }
}

/// What one walk over the rows before the first request finds: how much there is to do,
/// and the numbers this pass has no key for.
#[derive(Debug, Default)]
pub struct Census {
    /// Accepted rows whose delivery state can still change: the ones `status` looks up.
    pub open: u64,
    /// Accepted rows whose delivery state is final (READ, FAILED, CANCELED).
    pub settled: u64,
    /// Accepted rows last known as QUEUED or never looked up: the ones `cancel` tries.
    pub scheduled: u64,
    /// Labels of the accepted rows' numbers this pass has no key for (the first few).
    pub(super) missing: Vec<String>,
    /// Whether more numbers have no key than [`Census::missing`] names.
    pub(super) more_missing: bool,
}

/// How many unknown numbers a refusal names (a hostile file may hold a million).
const MISSING_NAMED: usize = 10;

impl Census {
    /// Walks every row once (a batch at a time, see [`Walk`]).
    pub(super) fn take(journal: &Journal, api: &Numbers) -> Result<Census, JournalError> {
        let mut census = Census::default();
        let mut walk = Walk::default();
        loop {
            let rows = walk.next(journal)?;
            if rows.is_empty() {
                return Ok(census);
            }
            for row in rows.iter().filter(|r| r.is_trackable()) {
                let status = row.delivery.status;
                if status.is_some_and(DeliveryStatus::is_terminal) {
                    census.settled += 1;
                } else {
                    census.open += 1;
                }
                census.scheduled +=
                    u64::from(matches!(status, None | Some(DeliveryStatus::Queued)));
                let sender = &row.record.sender;
                if api.knows(sender) || census.missing.contains(sender) {
                    continue;
                }
                if census.missing.len() < MISSING_NAMED {
                    census.missing.push(sender.clone());
                } else {
                    census.more_missing = true;
                }
            }
        }
    }
}
