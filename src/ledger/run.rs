//! The ledger as one run uses it: opened at the start (a problem stops the run before any
//! send), with this run's id, campaign identity and numbers.

use std::collections::HashMap;
use std::sync::Arc;

use crate::settings::Settings;

use super::{
    Checks, DailyCap, Ledger, LedgerError, Location, Rules, Sink, SqliteLedger, campaign_identity,
    sender_fingerprint,
};

/// The ledger's two sides for one run: what the journal's writer records, what the senders
/// ask.
#[derive(Debug)]
pub struct RunLedger {
    pub sink: Sink,
    pub checks: Checks,
}

impl RunLedger {
    /// Opens the run's ledger; `None` when it is off. `now` is the run's clock.
    pub fn open(
        settings: &Settings,
        now: jiff::Timestamp,
    ) -> Result<Option<RunLedger>, LedgerError> {
        let Location::File(path) = &settings.ledger else {
            return Ok(None);
        };
        let ledger: Arc<dyn Ledger> = Arc::new(SqliteLedger::open(path)?);
        let run: u64 = rand::random();
        let campaign = campaign_identity(settings.provider, &settings.input.defaults);
        let senders: HashMap<String, String> = settings
            .senders
            .iter()
            .map(|s| (s.label.clone(), sender_fingerprint(s)))
            .collect();
        let now_ms = now.as_millisecond();
        let mut caps = HashMap::new();
        let mut daily_caps = HashMap::new();
        // A number's own cap in the senders file overrides --daily-cap.
        for number in &settings.senders {
            if let Some(cap) = number.daily_cap.or(settings.daily_cap) {
                let sender = sender_fingerprint(number);
                daily_caps.insert(sender.clone(), cap);
                let budget = DailyCap::load(ledger.as_ref(), sender, cap, now_ms)?;
                caps.insert(number.label.clone(), budget);
            }
        }
        let rules = Rules {
            allow_resend: settings.allow_resend,
            accepted_only: settings.resend_uncertain,
            frequency_cap: settings.frequency_cap,
            daily_caps,
        };
        let results = settings.results.display().to_string();
        let checks = Checks {
            ledger: Arc::clone(&ledger),
            run,
            campaign: campaign.clone(),
            results: results.clone(),
            rules: rules.clone(),
            caps,
        };
        let sink = Sink {
            ledger,
            run,
            results,
            campaign,
            senders,
            // Judged again as each intent is recorded.
            rules: rules.may_refuse().then_some(rules),
        };
        let ledger = RunLedger { sink, checks };
        if settings.ignore_earlier_retry_after {
            for sender in ledger.sink.senders.values() {
                ledger.checks.ledger.forget_hold(sender)?;
            }
        }
        Ok(Some(ledger))
    }

    /// When the number of lane `label` last sent, by any campaign, for the quota's restore.
    pub fn last_send(&self, label: &str) -> Result<Option<jiff::Timestamp>, LedgerError> {
        self.instant(label, |ledger, sender| ledger.last_send(sender))
    }

    /// Until when an answer to any run asked the number of lane `label` to wait
    /// (`Retry-After`): a wait outlives the run and the results file it was answered in.
    pub fn held_until(&self, label: &str) -> Result<Option<jiff::Timestamp>, LedgerError> {
        self.instant(label, |ledger, sender| ledger.held_until(sender))
    }

    /// An instant the ledger keeps for the number of lane `label`.
    fn instant(
        &self,
        label: &str,
        read: impl Fn(&dyn Ledger, &str) -> Result<Option<i64>, LedgerError>,
    ) -> Result<Option<jiff::Timestamp>, LedgerError> {
        let Some(sender) = self.sink.senders.get(label) else {
            return Ok(None);
        };
        let ms = read(self.checks.ledger.as_ref(), sender)?;
        Ok(ms.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok()))
    }
}
