//! Why the flags and the campaign file cannot make a run.

use std::path::PathBuf;

use super::options::FlagOnly;
use crate::input::{InputError, RowError};
use crate::provider::ProviderKind;

/// A set-up mistake found by [`super::Settings::resolve`]: the run stops before anything is
/// sent (exit 2), and the message says what to change. Variants are what a caller (or a
/// test) can tell apart; the words are for the person fixing it.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read the campaign file {}: {source}", crate::fmt::path(&path))]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not TOML, or a value of the wrong kind.
    #[error("campaign file {}: {problem}", crate::fmt::path(&path))]
    Syntax { path: PathBuf, problem: String },
    /// A key that is no setting, usually a typo: refused rather than silently ignored.
    /// `key` is `None` when it does not look like a setting's name (it may be a secret).
    #[error(
        "campaign file {}, line {line}: {} is not a setting (a typo?); the keys are the flag \
         names without the dashes, listed by campaign-sender --help",
        crate::fmt::path(&path),
        key.as_deref().unwrap_or("this key")
    )]
    UnknownKey {
        path: PathBuf,
        line: usize,
        key: Option<String>,
    },
    /// A decision for one run written in the file.
    #[error(
        "campaign file {} sets {}, which only the --{} flag may: {}. Nothing was sent; remove \
         it from the file",
        crate::fmt::path(&path),
        flag.key(),
        flag.key(),
        flag.why()
    )]
    FlagOnly { path: PathBuf, flag: FlagOnly },
    /// A value that does not parse or is out of range.
    #[error("--{flag}: {problem}")]
    Value { flag: &'static str, problem: String },
    #[error("choose one mode: --template, --text or --media (a template may carry --media)")]
    TwoModes,
    /// A message setting with a control character, which every row would send.
    #[error("{problem}. Nothing was sent")]
    ControlCharacter { flag: String, problem: String },
    /// A message setting no row can cure (a bad value, or a field the provider lacks).
    #[error("campaign setting {0}")]
    Message(RowError),
    #[error("{}", no_key(*provider))]
    NoKey { provider: ProviderKind },
    /// The senders file, or the instance a sender needs.
    #[error("{0}")]
    Senders(String),
    #[error("--suppress: {0}")]
    Suppress(InputError),
    #[error(
        "--window {} needs --tz, the recipients' time zone, e.g. --tz America/Sao_Paulo (or \
         tz = \"America/Sao_Paulo\" in the campaign file). None is assumed: the server's zone is \
         often not the recipients'",
        crate::fmt::shown(spec)
    )]
    WindowWithoutZone { spec: String },
    #[error("--tz only sets the zone of --window: add --window HH:MM-HH:MM, or remove --tz")]
    ZoneWithoutWindow,
    #[error("--wait-for-window needs a window: add --window HH:MM-HH:MM --tz ZONE, or remove it")]
    WaitWithoutWindow,
    /// A cap counted in the ledger, with the ledger off: it would hold nothing, silently.
    #[error(
        "{cap} is counted in the ledger, which is off (--ledger off, or {} = off): turn the \
         ledger on (remove the off), or remove {cap}. Nothing was sent",
        crate::ledger::LEDGER_ENV
    )]
    CapWithoutLedger { cap: &'static str },
}

/// Where the key goes, for the provider's variables.
fn no_key(provider: ProviderKind) -> &'static str {
    match provider {
        ProviderKind::PilotStatus => {
            "no API key: set PILOT_STATUS_API_KEY (sent as x-api-key) or PILOT_STATUS_API_KEY_ID \
             (sent as x-api-key-id) in the environment, e.g. `export PILOT_STATUS_API_KEY=ps_...`; \
             to rehearse without one, add --sandbox"
        }
        ProviderKind::MsgFlash => {
            "no API key: set MSGFLASH_API_KEY (sent as x-api-key) in the environment, e.g. \
             `export MSGFLASH_API_KEY=msgf_live_...`; to rehearse without one, add --sandbox"
        }
    }
}
