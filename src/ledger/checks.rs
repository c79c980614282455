//! What a run asks the ledger before a send: has this campaign already reached the
//! destination from another results file (`ALREADY_SENT`), has the recipient had enough
//! lately (`FREQUENCY_CAP`), has the number used up its rolling 24 h (`--daily-cap`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{
    Campaign, DAY, EarlierSend, FrequencyCap, Identity, Ledger, LedgerError,
    destination_fingerprint,
};

/// Why a row is skipped instead of sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The same campaign reached this destination in another run or results file.
    AlreadySent(EarlierSend),
    /// The recipient already got `got` messages within the cap's window.
    FrequencyCap { got: u64, cap: FrequencyCap },
    /// The sending number's `--daily-cap` is spent: another run's sends used it up since
    /// this run counted. Not a reason to skip the row: its lane stops, the row left to send.
    DailyCap { cap: u64 },
    /// The ledger could not record the intent (another process held its write lock past the
    /// busy timeout, a read-only or damaged file): a send it did not count would break its
    /// caps and `ALREADY_SENT` for every later run, so the request does not leave. Not the
    /// row's doing: the row is left to send and the run stops.
    Unrecorded(String),
    /// Another run's send by the same number started less than the run's pace (the quota's
    /// interval or the spacing's minimum, whichever is longer) before this one: two
    /// campaigns of one number at once share its pace. Not the row's doing, and nothing was
    /// sent: the send waits until `until_ms` (ms since the epoch) and goes on.
    Paced { until_ms: i64 },
}

impl Refusal {
    /// The results' `errorCode` of [`Refusal::AlreadySent`], which `--allow-resend` sends
    /// again on a rerun.
    pub const ALREADY_SENT: &'static str = "ALREADY_SENT";

    /// The results' `errorCode`.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::AlreadySent(_) => Refusal::ALREADY_SENT,
            Refusal::FrequencyCap { .. } => "FREQUENCY_CAP",
            Refusal::DailyCap { .. } => "DAILY_CAP",
            Refusal::Unrecorded(_) => "LEDGER_UNAVAILABLE",
            Refusal::Paced { .. } => "PACED",
        }
    }

    /// The earlier message id, for the results' `messageId` (empty when unknown).
    pub fn message_id(&self) -> &str {
        match self {
            Refusal::AlreadySent(earlier) => &earlier.message_id,
            Refusal::FrequencyCap { .. }
            | Refusal::DailyCap { .. }
            | Refusal::Unrecorded(_)
            | Refusal::Paced { .. } => "",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::AlreadySent(earlier) => {
                let id = match earlier.message_id.as_str() {
                    "" => "its outcome not known there: still in flight, or UNCERTAIN".to_string(),
                    id => format!("message id {id}"),
                };
                write!(
                    f,
                    "the ledger shows this campaign already sent to this number ({id}, recorded in {}); \
                     pass --allow-resend if a second send is intended",
                    earlier.results
                )
            }
            Refusal::FrequencyCap { got, cap } => write!(
                f,
                "the ledger shows {got} message(s) to this number within the last {} (--frequency-cap {}/{})",
                crate::fmt::human(cap.within),
                cap.count,
                crate::fmt::human(cap.within)
            ),
            Refusal::DailyCap { cap } => write!(
                f,
                "the ledger shows {cap} sends by this number in the last 24 h, by other runs \
                 too (--daily-cap {cap})"
            ),
            Refusal::Unrecorded(problem) => {
                write!(f, "the ledger could not record the send: {problem}")
            }
            Refusal::Paced { until_ms } => {
                write!(
                    f,
                    "another run of this number sent moments before, closer than --rate and \
                     --spacing allow; this send waits"
                )?;
                match jiff::Timestamp::from_millisecond(*until_ms) {
                    Ok(until) => write!(f, " until {until}"),
                    Err(_) => Ok(()),
                }
            }
        }
    }
}

/// A run's rules for whom it may send to (`--allow-resend`, `--resend-uncertain`,
/// `--frequency-cap`). They are asked before a send ([`Checks::refusal`]) and asked again in
/// the transaction that records its intent ([`Ledger::record`]): two runs at once (two copies
/// of a campaign's folder, two campaigns to one person) cannot both pass a check that
/// neither has recorded yet, since the second transaction sees the first's intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub allow_resend: bool,
    /// `--resend-uncertain`: the run's own results file's uncertain sends do not count (the
    /// person checked them), for `ALREADY_SENT` and the frequency cap alike; only its
    /// accepted ones, and every other file's, do.
    pub accepted_only: bool,
    pub frequency_cap: Option<FrequencyCap>,
    /// Each capped number's `--daily-cap`, by its fingerprint. Judged only as an intent is
    /// recorded (before a send, the run's own count answers: [`DailyCap`]).
    pub daily_caps: HashMap<String, u64>,
    /// The shortest gap between two sends of one number (the quota's interval or the
    /// spacing's minimum, whichever is longer; `None`: unpaced). Judged against other runs'
    /// sends only: the run's own pacer keeps its own sends apart, and another run's pacer
    /// knows nothing of this one's ([`Rules::paced`]).
    pub pace: Option<Duration>,
}

/// The possible sends (in flight, uncertain) of the run's own results file that do not
/// count against a row: the file itself says how they ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled<'a> {
    /// The run's results file, as the ledger names it (`None`: every send counts).
    pub results: Option<&'a str>,
    /// `--resend-uncertain`: none of them count (a person checked them).
    pub all: bool,
    /// Those started at or before this instant (ms since the epoch) do not count: the row's
    /// own line says its attempt of then was not sent (`DEFERRED`, `FAILED`), and a kill
    /// between that line and its ledger record left it "in flight" there. A later one (the
    /// file restored from an older copy) still counts.
    pub until_ms: Option<i64>,
}

/// What the rules look up, on whichever connection asks: the reader's before a send, the
/// writer's inside its transaction.
pub trait Lookups {
    type Error;
    /// An earlier send of `campaign` to `destination` by another run than `run`, but for
    /// the possible sends `settled` leaves out.
    fn earlier_send(
        &self,
        campaign: &str,
        destination: u64,
        run: u64,
        settled: Settled<'_>,
    ) -> Result<Option<EarlierSend>, Self::Error>;
    /// How many messages `destination` got (possible ones included) `within` a span
    /// ([`window`]), from any campaign, but for the possible sends `settled` leaves out.
    fn received_since(
        &self,
        destination: u64,
        within: (i64, i64),
        settled: Settled<'_>,
    ) -> Result<u64, Self::Error>;
    /// How many sends (possible ones included) `sender` made `within` a span ([`window`]).
    fn sends_since(&self, sender: &str, within: (i64, i64)) -> Result<u64, Self::Error>;
    /// When the latest send (possible ones included) of `sender` by another run than `run`
    /// started, of those started after `from_ms` and no later than `to_ms`.
    fn others_last_send(
        &self,
        sender: &str,
        run: u64,
        within: (i64, i64),
    ) -> Result<Option<i64>, Self::Error>;
}

impl Rules {
    /// Whether the rules can refuse anything (else nothing need be looked up).
    pub fn may_refuse(&self) -> bool {
        !self.allow_resend
            || self.frequency_cap.is_some()
            || !self.daily_caps.is_empty()
            || self.pace.is_some()
    }

    /// Whether a send by `sender` (its fingerprint) for run `run` at `now_ms` must wait for
    /// another run's send of the number: `Some` with when it may go. Each run's own pacer
    /// knows only its own sends, so two campaigns of one number started together, or one
    /// started while another sends, would each keep the pace alone and together break it.
    pub fn paced<L: Lookups + ?Sized>(
        &self,
        lookups: &L,
        sender: &str,
        run: u64,
        now_ms: i64,
    ) -> Result<Option<Refusal>, L::Error> {
        let Some(gap) = self.pace else {
            return Ok(None);
        };
        let gap = i64::try_from(gap.as_millis()).unwrap_or(i64::MAX);
        // Another process's clock may read a little ahead; a send dated further ahead than
        // the gap is a damaged ledger's, and waiting for it could be years.
        let within = (now_ms.saturating_sub(gap), now_ms.saturating_add(gap));
        let last = lookups.others_last_send(sender, run, within)?;
        Ok(last.map(|last| Refusal::Paced {
            until_ms: last.saturating_add(gap),
        }))
    }

    /// Whether number `sender` (its fingerprint) has spent its daily cap at `now_ms`,
    /// counting every run's sends, this one's included.
    pub(super) fn cap_spent<L: Lookups + ?Sized>(
        &self,
        lookups: &L,
        sender: &str,
        now_ms: i64,
    ) -> Result<Option<Refusal>, L::Error> {
        let Some(&cap) = self.daily_caps.get(sender) else {
            return Ok(None);
        };
        let used = lookups.sends_since(sender, window(window_start(now_ms), now_ms))?;
        Ok((used >= cap).then_some(Refusal::DailyCap { cap }))
    }

    /// Whether run `run` of `campaign` (its name and the previous release's names for it)
    /// must not send to `destination` (its fingerprint) at `now_ms`.
    /// `results`: the run's results file; with `--resend-uncertain` its own uncertain sends
    /// (the ones the person checked) do not count, but another file's, or a run's still in
    /// flight, do; nor do its possible sends at or before `settled_ms`, when the row's own
    /// line says that attempt was not sent ([`Settled::until_ms`]).
    pub(super) fn refusal<L: Lookups + ?Sized>(
        &self,
        lookups: &L,
        (campaign, earlier, results): (&str, &[String], &str),
        run: u64,
        (destination, settled_ms): (u64, Option<i64>),
        now_ms: i64,
    ) -> Result<Option<Refusal>, L::Error> {
        let checked = Settled {
            results: Some(results),
            all: self.accepted_only,
            until_ms: settled_ms,
        };
        if !self.allow_resend {
            for name in std::iter::once(campaign).chain(earlier.iter().map(String::as_str)) {
                if let Some(earlier) = lookups.earlier_send(name, destination, run, checked)? {
                    return Ok(Some(Refusal::AlreadySent(earlier)));
                }
            }
        }
        if let Some(cap) = self.frequency_cap {
            let since = now_ms.saturating_sub(cap.within.as_millis() as i64);
            let got = lookups.received_since(destination, window(since, now_ms), checked)?;
            if got >= u64::from(cap.count) {
                return Ok(Some(Refusal::FrequencyCap { got, cap }));
            }
        }
        Ok(None)
    }
}

/// The ledger's checks for one run.
#[derive(Debug)]
pub struct Checks {
    pub ledger: Arc<dyn Ledger>,
    pub run: u64,
    /// How the run names its sends' campaigns.
    pub identity: Identity,
    /// The run's results file, as the ledger names it.
    pub results: String,
    pub rules: Rules,
    /// Each capped number's budget, by the label its lane carries.
    pub caps: HashMap<String, DailyCap>,
}

impl Checks {
    /// Whether `destination` (E.164) must be skipped, at `now_ms`; `campaign` is the row's
    /// own ([`Identity::row`]) when it has one, else the run's; `settled_ms`: when the row's
    /// own line last said it was not sent ([`Settled::until_ms`]).
    pub fn refusal(
        &self,
        destination: &str,
        campaign: Option<&Campaign>,
        settled_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<Option<Refusal>, LedgerError> {
        let fingerprint = destination_fingerprint(destination);
        let ledger: &dyn Ledger = self.ledger.as_ref();
        let campaign = campaign.unwrap_or(&self.identity.run);
        let asked = (
            campaign.name.as_str(),
            &campaign.earlier[..],
            self.results.as_str(),
        );
        let destination = (fingerprint, settled_ms);
        (self.rules).refusal(ledger, asked, self.run, destination, now_ms)
    }

    /// `label`'s daily cap, found spent as an intent was recorded ([`Refusal::DailyCap`]):
    /// nothing more is taken from it this run.
    pub fn cap_reached(&self, label: &str, cap: u64, now_ms: i64) -> CapReached {
        match self.caps.get(label) {
            Some(budget) => budget.reached(self.ledger.as_ref(), now_ms),
            None => CapReached { cap, next_ms: None },
        }
    }

    /// Takes one send from `label`'s daily budget; `Err` with when the next send is allowed
    /// once it is spent.
    pub fn take(&self, label: &str, now_ms: i64) -> Result<(), CapReached> {
        match self.caps.get(label) {
            Some(cap) => cap.take(self.ledger.as_ref(), now_ms),
            None => Ok(()),
        }
    }
}

/// One number's rolling 24 h budget: the ledger's count at the start of the run, plus the
/// sends this run started since (conservative: a send of this run that turns out refused
/// still counts until the next run).
#[derive(Debug)]
pub struct DailyCap {
    pub cap: u64,
    pub sender: String,
    used: AtomicU64,
}

/// A number's daily cap is spent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapReached {
    pub cap: u64,
    /// When the oldest send in the window leaves it (ms since the epoch), if known.
    pub next_ms: Option<i64>,
}

impl DailyCap {
    /// `sender`'s budget of `cap`, with what the ledger counts in the 24 h before `now_ms`.
    pub fn load(
        ledger: &dyn Ledger,
        sender: String,
        cap: u64,
        now_ms: i64,
    ) -> Result<DailyCap, LedgerError> {
        let used = ledger.sends_since(&sender, window(window_start(now_ms), now_ms))?;
        Ok(DailyCap {
            cap,
            sender,
            used: AtomicU64::new(used),
        })
    }

    fn take(&self, ledger: &dyn Ledger, now_ms: i64) -> Result<(), CapReached> {
        let taken = self
            .used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                (used < self.cap).then_some(used + 1)
            });
        taken.map(drop).map_err(|_| self.reached(ledger, now_ms))
    }

    /// The cap spent at `now_ms`, with when the next send is allowed.
    fn reached(&self, ledger: &dyn Ledger, now_ms: i64) -> CapReached {
        self.used.store(self.cap, Ordering::SeqCst);
        CapReached {
            cap: self.cap,
            next_ms: next_allowed(ledger, &self.sender, self.cap, now_ms),
        }
    }
}

/// How far ahead of this run's clock a send may be dated and still count: another host's
/// clock a little ahead. A send dated further (a clock that once ran a year ahead, a
/// damaged file) would otherwise count against the caps until that date.
pub const FUTURE_SKEW_MS: i64 = 3_600_000;

/// The span a cap counts in: from `since_ms` to [`FUTURE_SKEW_MS`] after `now_ms`.
pub fn window(since_ms: i64, now_ms: i64) -> (i64, i64) {
    (since_ms, now_ms.saturating_add(FUTURE_SKEW_MS))
}

/// When the window's count falls below `cap`: once its oldest sends beyond the cap leave it.
fn next_allowed(ledger: &dyn Ledger, sender: &str, cap: u64, now_ms: i64) -> Option<i64> {
    let within = window(window_start(now_ms), now_ms);
    let count = ledger.sends_since(sender, within).ok()?;
    let leaving = ledger
        .nth_send_since(sender, within, count.saturating_sub(cap))
        .ok()??;
    Some(leaving.saturating_add(DAY.as_millis() as i64))
}

impl std::fmt::Display for CapReached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the daily cap of {} sends in any 24 h is reached (--daily-cap, counted across every campaign in the ledger)",
            self.cap
        )?;
        match self
            .next_ms
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        {
            Some(next) => write!(f, "; the next send is allowed at {next}"),
            None => Ok(()),
        }
    }
}

fn window_start(now_ms: i64) -> i64 {
    now_ms.saturating_sub(DAY.as_millis() as i64)
}
