//! The ledger's view for `report`: each number's sends in the last 24 h, against a cap.

use std::fmt::Write as _;

use super::{DAY, Ledger as _, LedgerError, Location, SqliteLedger, resolve_location};

/// Where `report` looks, with `--ledger` or `CAMPAIGN_SENDER_LEDGER` or the state directory;
/// `None` when it is off or does not exist (a report creates no ledger).
pub fn existing(flag: Option<&str>) -> Option<std::path::PathBuf> {
    let env = |name: &str| std::env::var(name).ok();
    match resolve_location(flag, &env, false, false, std::path::Path::new("")) {
        Ok(Location::File(path)) if path.is_file() => Some(path),
        _ => None,
    }
}

/// A section of text: every number in the ledger with its sends in the 24 h before `now`,
/// against `cap` when one is given.
pub fn last_day(
    path: &std::path::Path,
    cap: Option<u64>,
    now: jiff::Timestamp,
) -> Result<String, LedgerError> {
    let ledger = SqliteLedger::open(path)?;
    let since = now.as_millisecond() - DAY.as_millis() as i64;
    let mut text = format!(
        "\nLedger {} (sends in the last 24 h, every campaign):\n",
        path.display()
    );
    let counts = ledger.senders_since(since)?;
    if counts.is_empty() {
        text.push_str("  no sends\n");
    }
    for count in counts {
        let _ = match cap {
            Some(cap) => writeln!(text, "  {:<40} {:>8} of {cap}", count.sender, count.sends),
            None => writeln!(text, "  {:<40} {:>8}", count.sender, count.sends),
        };
    }
    Ok(text)
}
