//! The one question before a real send: a person at a terminal sees how many messages go out,
//! from which number(s) and through which provider, and must answer yes. Never asked without
//! a terminal (cron), nor with `--yes`, `--sandbox` or `--dry-run`.

use std::io::{BufRead, IsTerminal, Write};

use crate::connect::Target;
use crate::settings::Settings;

/// Whether this process talks to a person: stdin (the answer) and stderr (the question) are
/// both terminals. A cron job, a pipe or a CI runner is not, and is never asked.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Whether a run with these settings must be confirmed by a person who can be asked.
pub(crate) fn needed(settings: &Settings, interactive: bool) -> bool {
    interactive
        && !settings.yes
        && !settings.dry_run
        && !matches!(settings.target, Target::Sandbox { .. })
}

/// The question, e.g. `Send 1,234 messages from 2 numbers (centro, norte) via Pilot Status
/// (https://pilotstatus.com.br)? [y/N] `. With `ledger` (the run checks one) it says "up
/// to": the preflight counts rows, and the ledger may still skip some (`ALREADY_SENT`,
/// `FREQUENCY_CAP`) or a daily cap stop a number, never send more.
pub(crate) fn question(messages: u64, settings: &Settings, ledger: bool) -> String {
    let labels: Vec<&str> = settings
        .senders
        .iter()
        .map(|s| s.label.as_str())
        .filter(|l| !l.is_empty())
        .collect();
    // Pilot Status tells the number behind a key only in its answers: until the first send,
    // a sender is known by its label, or a MsgFlash instance by its id.
    let instance = settings
        .senders
        .iter()
        .find_map(|s| s.instance_id.as_deref());
    let from = match (labels.as_slice(), instance) {
        ([], Some(id)) => format!("instance {id}"),
        ([], None) => "the number of your API key".to_owned(),
        ([one], _) => format!("number {one}"),
        (many, _) => format!("{} numbers ({})", many.len(), many.join(", ")),
    };
    let noun = if messages == 1 { "message" } else { "messages" };
    let to = match &settings.target {
        Target::Remote { base_url } => {
            format!(" ({})", crate::connect::without_credentials(base_url))
        }
        Target::Sandbox { .. } => String::new(),
    };
    let may_skip = ledger
        && (!settings.allow_resend
            || settings.frequency_cap.is_some()
            || settings.daily_cap.is_some()
            || settings.senders.iter().any(|s| s.daily_cap.is_some()));
    let up_to = if may_skip { "up to " } else { "" };
    format!(
        "Send {up_to}{} {noun} from {from} via {}{to}? [y/N] ",
        grouped(messages),
        settings.provider.capabilities().name
    )
}

/// Asks `question` on stderr and reads one answer line from stdin: only `y` or `yes` (any
/// case) agrees; anything else, an empty line, end of input or a read error declines. At
/// most a short line is read, so a paste of a file cannot hold the run.
pub(crate) fn ask(question: &str) -> bool {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(question.as_bytes());
    let _ = err.flush();
    let mut answer = Vec::new();
    let stdin = std::io::stdin().lock();
    if std::io::Read::take(stdin, 64)
        .read_until(b'\n', &mut answer)
        .is_err()
    {
        return false;
    }
    yes(&String::from_utf8_lossy(&answer))
}

/// Whether an answer agrees.
fn yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// `1234567` → `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_y_or_yes_agrees() {
        for agree in ["y", "Y\n", " yes \r\n", "YES"] {
            assert!(yes(agree), "{agree:?}");
        }
        for decline in ["", "\n", "n", "no", "yep", "sim", "y y"] {
            assert!(!yes(decline), "{decline:?}");
        }
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_234), "1,234");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }
}
