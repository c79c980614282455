//! The ledger: one small database every run appends to, shared by all campaigns on a
//! machine, so that questions across runs and results files can be answered: how many sends
//! a number made in the last 24 h (`--daily-cap`), when its last send was (`--rate` across a
//! restart), how many messages a recipient got lately (`--frequency-cap`), and whether this
//! campaign already reached a destination from another results file (`ALREADY_SENT`).
//!
//! It is never a second checkpoint: a campaign's progress is its results file. The ledger is
//! written by the journal's writer thread in the same step as the results lines (intents
//! included, so a kill -9 mid-request still counts as a possible send), and read by the
//! runner before each send. [`Ledger`] is the one interface the rest of the program sees, so
//! a shared database server could stand in for the SQLite file later.

mod checkpointer;
mod checks;
mod location;
mod run;
mod sink;
mod sqlite;
pub mod view;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use checks::{CapReached, Checks, DailyCap, Lookups, Refusal, Rules, Settled};
pub use location::{LEDGER_ENV, Location, own_file, resolve_location};
pub use run::RunLedger;
pub use sink::Sink;
pub use sqlite::SqliteLedger;

/// How a send stands in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendState {
    /// The request may have left (its intent is recorded); the outcome is not known yet, or
    /// never will be (a kill between request and answer). Counts as sent.
    Sending,
    /// Accepted by the API, with a message id.
    Accepted,
    /// The outcome is unknowable (`UNCERTAIN`). Counts as sent.
    Uncertain,
    /// Definitely not sent (`DEFERRED`, `FAILED`): counts for nothing.
    NotSent,
}

impl SendState {
    /// The word people read (the `sends` view, the first schema's column).
    pub fn as_str(self) -> &'static str {
        match self {
            SendState::Sending => "SENDING",
            SendState::Accepted => "ACCEPTED",
            SendState::Uncertain => "UNCERTAIN",
            SendState::NotSent => "NOT_SENT",
        }
    }

    /// The state a word of the first schema stands for; an unknown word counts as a
    /// possible send, the safe side.
    pub fn from_word(word: &str) -> SendState {
        [
            SendState::Accepted,
            SendState::Uncertain,
            SendState::NotSent,
        ]
        .into_iter()
        .find(|state| state.as_str() == word)
        .unwrap_or(SendState::Sending)
    }
}

/// One send as the ledger keeps it: one entry per row of a run, updated from intent to
/// outcome. It borrows its text from the run and the results line: the writer thread builds
/// one per send and the store keeps the run's text once, not per send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The process's run id, so the entry's intent and outcome are one entry.
    pub run: u64,
    pub row: u64,
    /// The results file, for people reading the ledger.
    pub results: &'a str,
    /// The sending number's fingerprint ([`sender_fingerprint`]).
    pub sender: &'a str,
    /// The destination's fingerprint ([`destination_fingerprint`]).
    pub destination: u64,
    /// The campaign's name, as recorded ([`Campaign`]).
    pub campaign: &'a str,
    /// The names the previous release gave the same campaign, looked up too.
    pub earlier: &'a [String],
    pub state: SendState,
    pub message_id: &'a str,
    /// When the send started, in milliseconds since the Unix epoch (the run's clock).
    pub at_ms: i64,
    /// An answer's `Retry-After`, as the instant it asked the number to wait until (ms
    /// since the epoch): kept for the number, so every later run of it waits too.
    pub hold_until_ms: Option<i64>,
    /// For an intent: when the row's own line last said it was not sent, if it did
    /// ([`Settled::until_ms`]).
    pub settled_ms: Option<i64>,
}

/// What a lookup for an earlier send of the same campaign found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlierSend {
    /// The message id, empty when the earlier send's outcome is not known.
    pub message_id: String,
    pub results: String,
}

/// Sends of one number within a window, for `report`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderCount {
    pub sender: String,
    pub sends: u64,
}

/// Why the ledger could not be used.
#[derive(Debug, thiserror::Error)]
#[error(
    "the ledger {path}: {problem}. Fix it, point --ledger elsewhere, or turn it off with --ledger off",
    path = crate::fmt::path(path)
)]
pub struct LedgerError {
    pub path: PathBuf,
    pub problem: String,
}

/// The ledger's interface: what a run records and asks ([`Lookups`]: what the rules ask,
/// also inside the transaction that records an intent). Implementations are shared by the
/// writer thread and the senders, and safe for several processes on one store.
pub trait Ledger: Lookups<Error = LedgerError> + Send + Sync + fmt::Debug {
    /// Records (or updates, by run and row) a batch of entries in one transaction. With
    /// `rules`, each intent is first judged by them inside that transaction, so no other
    /// process's intent can come between the check and the record: a refused intent is not
    /// recorded, and comes back (its index in `entries`, why).
    fn record(
        &self,
        entries: &[Entry<'_>],
        rules: Option<&Rules>,
    ) -> Result<Vec<(usize, Refusal)>, LedgerError>;
    /// When `sender`'s `n`-th send (from 0, oldest first) `within` a span started.
    fn nth_send_since(
        &self,
        sender: &str,
        within: (i64, i64),
        n: u64,
    ) -> Result<Option<i64>, LedgerError>;
    /// When `sender`'s last attempt started, whatever its outcome (a refused request paced
    /// the API as much as an accepted one).
    fn last_send(&self, sender: &str) -> Result<Option<i64>, LedgerError>;
    /// Every number's sends at or after `since_ms`, for `report`.
    fn senders_since(&self, since_ms: i64) -> Result<Vec<SenderCount>, LedgerError>;
    /// The latest instant an answer asked number `sender` to wait until (ms since the
    /// epoch), whichever run or results file got it.
    fn held_until(&self, sender: &str) -> Result<Option<i64>, LedgerError>;
    /// Keeps that an answer outside any send (`status`, `cancel`) asked number `sender` to
    /// wait until `until_ms`, so every later run of it waits too.
    fn hold(&self, sender: &str, until_ms: i64) -> Result<(), LedgerError>;
    /// Forgets what the API asked number `sender` to wait for (`--ignore-earlier-retry-after`).
    fn forget_hold(&self, sender: &str) -> Result<(), LedgerError>;
    /// The name the ledger keeps number `sender` (its [`sender_fingerprint`]) under: a
    /// MsgFlash instance id was recorded as typed before ids were compared in any case, so a
    /// number already known by another spelling keeps it (the first recorded), and its
    /// earlier sends and holds still count.
    fn known_as(&self, sender: &str) -> Result<String, LedgerError>;
    /// Makes the sends and holds recorded under number `earlier` (a key's digest) those of
    /// `sender` (the number itself), so a key rotated afterwards keeps the number's caps and
    /// holds. Nothing when `earlier` has none.
    fn adopt(&self, earlier: &str, sender: &str) -> Result<(), LedgerError>;
}

pub use crate::pacing::DAY;

/// `--frequency-cap N/DURATION`: at most `count` messages to one recipient within `within`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrequencyCap {
    pub count: u32,
    pub within: Duration,
}

impl std::str::FromStr for FrequencyCap {
    type Err = String;

    fn from_str(text: &str) -> Result<FrequencyCap, String> {
        let bad = || {
            format!(
                "'{}' is not a frequency cap (examples: 1/7d, 2/24h, 3/30d)",
                crate::fmt::shown(text)
            )
        };
        let (count, within) = text.trim().split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        if count == 0 {
            return Err(format!(
                "'{}': the count must be above zero",
                crate::fmt::shown(text)
            ));
        }
        let within = parse_days(within.trim()).ok_or_else(bad)?;
        if within.is_zero() {
            return Err(format!(
                "'{}': the duration must be above zero",
                crate::fmt::shown(text)
            ));
        }
        Ok(FrequencyCap { count, within })
    }
}

/// `7d`, `24h`, `90m`, or anything [`crate::pacing::parse_duration`] reads.
fn parse_days(text: &str) -> Option<Duration> {
    match text.strip_suffix('d') {
        Some(days) => days.parse::<u32>().ok().and_then(|d| DAY.checked_mul(d)),
        None => crate::pacing::parse_duration(text).ok(),
    }
}

/// The sending number's fingerprint: a MsgFlash instance id in lower case (it names the
/// number, and is no secret; a UUID is the same in any case); for Pilot Status, whose keys
/// are each scoped to one number, the number when the senders file gives it (`number:+55…`),
/// else a one-way 64-bit digest of the key, so the ledger tells numbers apart without
/// holding the key. A ledger may know an instance by an earlier spelling, and a number by
/// its key's digest: ask it with [`sender_name`].
pub fn sender_fingerprint(sender: &crate::senders::Sender) -> String {
    match (&sender.instance_id, &sender.number) {
        (Some(instance), _) => format!("instance:{}", instance.to_ascii_lowercase()),
        (None, Some(number)) => format!("number:{number}"),
        (None, None) => key_fingerprint(sender),
    }
}

fn key_fingerprint(sender: &crate::senders::Sender) -> String {
    format!("key:{:016x}", sender.credential.fingerprint())
}

/// The name a number's history is kept under in an earlier ledger, which its
/// [`sender_fingerprint`] now takes over: a Pilot Status key's digest, once the senders
/// file names the number that key sends from.
pub fn adopted_name(sender: &crate::senders::Sender) -> Option<String> {
    (sender.instance_id.is_none() && sender.number.is_some()).then(|| key_fingerprint(sender))
}

/// The name `ledger` keeps a number under: its `fingerprint` (see [`sender_fingerprint`]),
/// after the sends and holds recorded under the name it `adopts` (its key's digest) are
/// made its own ([`Ledger::adopt`]); an instance by the spelling first recorded
/// ([`Ledger::known_as`]).
pub fn sender_name(
    ledger: &dyn Ledger,
    fingerprint: &str,
    adopts: Option<&str>,
) -> Result<String, LedgerError> {
    if let Some(earlier) = adopts {
        ledger.adopt(earlier, fingerprint)?;
    }
    ledger.known_as(fingerprint)
}

/// The destination's fingerprint. Equality is all the ledger needs, and a long-lived file
/// shared by every campaign should not be a plain list of every number this machine ever
/// messaged; the results files keep the numbers. (A digest of a phone number can be found
/// by trying every number, so this keeps the ledger from casual reading, not from an
/// attacker: protect the file like the results.) A 64-bit integer, stored as one: the first
/// schema's 16 hex digits are the same number.
pub fn destination_fingerprint(e164: &str) -> u64 {
    use std::hash::Hasher as _;
    let mut hasher =
        siphasher::sip::SipHasher13::new_with_keys(0x6c65_6467_6572_0001, 0x6465_7374_0001);
    hasher.write(e164.as_bytes());
    hasher.finish()
}

/// A send's campaign: the name it is recorded under, and the names the previous release
/// recorded the same send under, which count as the same campaign (a list it sent is not
/// sent again after an upgrade).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Campaign {
    pub name: String,
    /// Looked up after `name`, never recorded.
    pub earlier: Vec<String>,
}

impl Campaign {
    /// A campaign no earlier release named otherwise.
    pub fn named(name: String) -> Campaign {
        Campaign {
            name,
            earlier: Vec::new(),
        }
    }
}

/// How one run names its sends' campaigns: the provider and the fingerprint of the message
/// a send carries ([`crate::identity`]). The number is kept apart (its own column), so a
/// recipient reached by one number is not sent the same message by another.
#[derive(Debug)]
pub struct Identity {
    provider: String,
    /// The campaign of a row with no message cells of its own.
    pub run: Campaign,
    /// What the previous release called the run's campaign: the untrimmed settings'
    /// fingerprint, which its rows' names were built on.
    earlier: String,
}

/// The run's campaign identity, for `defaults`' message settings.
pub fn campaign_identity(
    provider: crate::provider::ProviderKind,
    defaults: &crate::input::MessageDefaults,
) -> Identity {
    let provider = clap::ValueEnum::to_possible_value(&provider).expect("no provider is hidden");
    let provider = provider.get_name().to_owned();
    let name = format!(
        "{provider}/{}",
        crate::identity::message_fingerprint(defaults)
    );
    let earlier = format!(
        "{provider}/{}",
        crate::identity::untrimmed_fingerprint(defaults)
    );
    let mut run = Campaign::named(name);
    if earlier != run.name {
        run.earlier.push(earlier.clone());
    }
    Identity {
        provider,
        run,
        earlier,
    }
}

impl Identity {
    /// The campaign of a row whose message is not the run's, `None` for the run's own:
    /// `message` is the fingerprint of the row's message when its own cells set some
    /// ([`crate::identity::row_fingerprint`]), `content` what it sends.
    ///
    /// The previous release named such a row `<its campaign>/row/<the row's message>` when
    /// the campaign names no message, and before that by its campaign alone (both still
    /// count), `<its campaign>/own/<...>` when the row named another than the campaign's,
    /// and by its campaign alone when it did not tell the row's message apart (a template's
    /// media, a `text` cell under `--text`): a row counts the sends of every name the
    /// previous release would have given it. Only a row with cells of its own, or one that
    /// release named apart, pays for more than a comparison.
    pub fn row(
        &self,
        defaults: &crate::input::MessageDefaults,
        message: Option<crate::identity::MessageFingerprint>,
        content: &crate::message::Content,
    ) -> Option<Campaign> {
        let name = message
            .map(|m| format!("{}/{m}", self.provider))
            .filter(|name| *name != self.run.name);
        let own = crate::identity::earlier_row_message(defaults, content);
        if name.is_none() && own.is_none() {
            return None;
        }
        let overrides = crate::identity::names_a_message(defaults);
        let kind = if overrides { "own" } else { "row" };
        let own = own.map(|own| format!("{}/{kind}/{own}", self.earlier));
        let bare = (own.is_none() || !overrides).then(|| self.earlier.clone());
        let name = name.unwrap_or_else(|| self.run.name.clone());
        let earlier = (own.into_iter().chain(bare))
            .filter(|n| *n != name)
            .collect();
        Some(Campaign { name, earlier })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequency_caps_parse_and_reject_nonsense() {
        let cap: FrequencyCap = "1/7d".parse().unwrap();
        assert_eq!(cap.count, 1);
        assert_eq!(cap.within, Duration::from_secs(7 * 86_400));
        assert_eq!(
            "2/24h".parse::<FrequencyCap>().unwrap().within,
            Duration::from_secs(86_400)
        );
        for bad in ["", "1", "0/7d", "x/7d", "1/xd", "1/0d", "1/-2h"] {
            assert!(bad.parse::<FrequencyCap>().is_err(), "{bad}");
        }
    }

    /// A row's campaign is its message's, and counts every name the previous release would
    /// have given its send.
    #[test]
    fn a_row_is_named_by_its_message_and_counts_the_previous_release_s_names() {
        use crate::identity::{earlier_row_message, message_fingerprint, untrimmed_fingerprint};
        use crate::input::MessageDefaults;
        use crate::message::Content;
        let template = |id: &str| MessageDefaults {
            template_id: Some(id.into()),
            ..MessageDefaults::default()
        };
        let promo = Content::Template {
            id: "promo".into(),
            media: None,
            contact_id: None,
        };
        let named = |m| format!("pilot-status/{m}");
        let provider = crate::provider::ProviderKind::PilotStatus;
        let in_promo = message_fingerprint(&template("promo"));
        // --template " promo ": the campaign of --template promo, and the previous
        // release's name for it.
        let spaced = template(" promo ");
        let identity = campaign_identity(provider, &spaced);
        assert_eq!(identity.run.name, named(in_promo));
        let before = named(untrimmed_fingerprint(&spaced));
        assert_eq!(identity.run.earlier, [before]);
        assert_eq!(identity.row(&spaced, None, &promo), None, "the run's own");
        // A templateId column "promo", no --template: the campaign of --template promo;
        // the previous release's names were /row/ and, before those, the bare campaign.
        let none = MessageDefaults::default();
        let identity = campaign_identity(provider, &none);
        let own = earlier_row_message(&none, &promo).unwrap();
        let row = identity.row(&none, Some(in_promo), &promo).unwrap();
        let bare = named(message_fingerprint(&none));
        assert_eq!(row.name, named(in_promo));
        assert_eq!(row.earlier, [format!("{bare}/row/{own}"), bare]);
        // Under --template other: /own/ only.
        let other = template("other");
        let identity = campaign_identity(provider, &other);
        let row = identity.row(&other, Some(in_promo), &promo).unwrap();
        let bare = named(message_fingerprint(&other));
        assert_eq!(row.name, named(in_promo));
        assert_eq!(row.earlier, [format!("{bare}/own/{own}")]);
    }

    #[test]
    fn fingerprints_are_stable_and_tell_destinations_apart() {
        let a = destination_fingerprint("+5511987654321");
        assert_eq!(a, destination_fingerprint("+5511987654321"));
        assert_ne!(a, destination_fingerprint("+5511987654322"));
        // Pinned: ledgers store it, and the first schema's 16 hex digits are this number.
        assert_eq!(format!("{a:016x}"), "270639cdbabcda42");
    }
}
