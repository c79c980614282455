//! The ledger's view for `report`: each number's sends in the last 24 h, against its cap.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use super::{
    DAY, Ledger as _, LedgerError, Location, SqliteLedger, resolve_location, sender_fingerprint,
};
use crate::provider::ProviderKind;
use crate::senders::KeySource;

/// The ledger a command that only reads a campaign's results (`report`, `status`, `cancel`)
/// uses, found as a send finds it (`--ledger`, `CAMPAIGN_SENDER_LEDGER`, the state
/// directory; with `sandbox`, the rehearsal's own beside `results`); `None` when it is off or
/// does not exist: such a command creates no ledger.
pub fn existing(flag: Option<&str>, sandbox: bool, results: &Path) -> Option<std::path::PathBuf> {
    let env = |name: &str| std::env::var(name).ok();
    match resolve_location(flag, &env, sandbox, false, results) {
        Ok(Location::File(path)) if path.is_file() => Some(path),
        _ => None,
    }
}

/// What each number in the ledger is called and may send a day: `--daily-cap` for all,
/// and with a senders file each number's label and own `daily-cap`.
#[derive(Debug, Default)]
pub struct Caps {
    /// `--daily-cap`.
    pub all: Option<u64>,
    /// By the ledger's sender fingerprint: the label and the number's own cap.
    pub numbers: HashMap<String, (String, Option<u64>)>,
}

impl Caps {
    /// Reads `senders` (keys from `env`, as a send reads them: the ledger knows a Pilot
    /// Status number only by a digest of its key).
    pub fn of(
        all: Option<u64>,
        senders: Option<&Path>,
        provider: ProviderKind,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Caps, String> {
        let mut caps = Caps {
            all,
            ..Caps::default()
        };
        if let Some(path) = senders {
            let keys = KeySource {
                env,
                sandbox: false,
                optional: false,
            };
            for sender in crate::senders::load(path, provider, None, &keys)? {
                let fingerprint = sender_fingerprint(&sender);
                caps.numbers
                    .insert(fingerprint, (sender.label, sender.daily_cap));
            }
        }
        Ok(caps)
    }
}

/// A section of text: every number in the ledger with its sends in the 24 h before `now`,
/// against its cap when it has one.
pub fn last_day(path: &Path, caps: &Caps, now: jiff::Timestamp) -> Result<String, LedgerError> {
    let ledger = SqliteLedger::open(path)?;
    let since = now.as_millisecond() - DAY.as_millis() as i64;
    let mut text = format!(
        "\nLedger {} (sends in the last 24 h, every campaign):\n",
        crate::fmt::path(&path)
    );
    let counts = ledger.senders_since(since)?;
    if counts.is_empty() {
        text.push_str("  no sends\n");
    }
    for count in counts {
        // An instance the ledger knows by an upper-case spelling is the senders file's
        // number all the same ([`sender_fingerprint`] is in lower case).
        let (name, cap) = match caps.numbers.get(&count.sender.to_ascii_lowercase()) {
            Some((label, own)) => (label.as_str(), own.or(caps.all)),
            None => (count.sender.as_str(), caps.all),
        };
        let _ = match cap {
            Some(cap) => writeln!(text, "  {name:<40} {:>8} of {cap}", count.sends),
            None => writeln!(text, "  {name:<40} {:>8}", count.sends),
        };
    }
    Ok(text)
}
