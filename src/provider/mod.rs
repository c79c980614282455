//! The APIs we send through, behind one small trait.
//!
//! A provider turns a [`Message`] into an HTTP request and the answer into a typed
//! [`SendOutcome`], and does nothing else: no retries, no sleeping, no files. Every
//! "what do we do about it" decision lives in the runner, driven by [`ErrorClass`].

pub mod http;
mod json;
pub mod messages;
pub mod msgflash;
pub mod pilot_status;
pub mod untrusted;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use jiff::Timestamp;

use reqwest::Url;

use crate::message::{Capabilities, Message};
use http::{Api, Credential};

/// Which API a campaign goes through (`--provider`, or `provider` in a campaign file).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// Pilot Status (the default, for campaigns written before there was a choice).
    #[default]
    PilotStatus,
    /// MsgFlash.
    #[value(name = "msgflash")]
    #[serde(rename = "msgflash")]
    MsgFlash,
}

impl ProviderKind {
    /// What the provider can send, checked before anything is sent.
    pub fn capabilities(self) -> &'static Capabilities {
        match self {
            ProviderKind::PilotStatus => &pilot_status::CAPABILITIES,
            ProviderKind::MsgFlash => &msgflash::CAPABILITIES,
        }
    }

    /// The production API, unless `--base-url` says otherwise.
    pub fn default_base_url(self) -> &'static str {
        match self {
            ProviderKind::PilotStatus => pilot_status::DEFAULT_BASE_URL,
            ProviderKind::MsgFlash => msgflash::DEFAULT_BASE_URL,
        }
    }

    /// The environment variable that may hold the base URL.
    pub fn base_url_env(self) -> &'static str {
        match self {
            ProviderKind::PilotStatus => "PILOT_STATUS_BASE_URL",
            ProviderKind::MsgFlash => "MSGFLASH_BASE_URL",
        }
    }

    /// The client that sends through this API at `base`, with `credential` (the key and
    /// the header it goes in), from `instance_id` where the API names the sending instance,
    /// over `client` (the run's one client, which carries the timeout).
    pub fn build(
        self,
        base: &Url,
        credential: Credential,
        instance_id: Option<&str>,
        client: &reqwest::Client,
    ) -> Result<Box<dyn Provider>, BuildError> {
        let api = Api::new(base, credential, client)?;
        Ok(match (self, instance_id) {
            (ProviderKind::PilotStatus, _) => Box::new(pilot_status::PilotStatus::new(api)),
            (ProviderKind::MsgFlash, Some(instance_id)) => {
                Box::new(msgflash::MsgFlash::new(api, instance_id))
            }
            (ProviderKind::MsgFlash, None) => return Err(BuildError::NoInstance),
        })
    }

    /// The environment variables that may hold a single number's key, as people read them.
    pub fn key_variables(self) -> &'static str {
        match self {
            ProviderKind::PilotStatus => "PILOT_STATUS_API_KEY (or PILOT_STATUS_API_KEY_ID)",
            ProviderKind::MsgFlash => "MSGFLASH_API_KEY",
        }
    }

    /// A key the in-process sandbox accepts, so a rehearsal never needs a real one.
    pub const fn sandbox_key(self) -> &'static str {
        match self {
            ProviderKind::PilotStatus => "ps_sandbox",
            ProviderKind::MsgFlash => "msgf_sandbox",
        }
    }
}

/// Why a provider's client cannot be built: found at start-up, before anything is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// A key with characters (a newline, a control character) no HTTP header can carry.
    #[error("the API key contains characters a header cannot carry")]
    KeyNotAHeader,
    /// MsgFlash sends from one named instance, and none was given.
    #[error("MsgFlash needs the instance to send from (--instance-id)")]
    NoInstance,
}

/// What the runner must do about a failed send. Each provider maps its HTTP statuses and
/// error codes onto these in one table-like function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The API refused this row (bad payload, unknown template...): record `FAILED`, go on.
    RowFatal,
    /// Nothing else can succeed (bad key, billing suspended...): stop the campaign, exit 3,
    /// leave unsent rows pending for a rerun.
    CampaignFatal,
    /// Definitely not accepted, worth another try (429, 503, could not connect).
    Retryable,
    /// The request may have been accepted (timeout, dropped connection, 5xx): record
    /// `UNCERTAIN` and never resend on our own.
    Ambiguous,
    /// The API refused a message setting (an unknown or unapproved template, media it cannot
    /// send): the campaign's own mistake when the campaign set it, so every row would fail
    /// the same way. The runner stops the lane at the first one and leaves the row pending
    /// (`DEFERRED`); when the row's own cell set it, it is that row's [`ErrorClass::RowFatal`].
    Setting(MessageSetting),
    /// The address answered with a redirect (never followed: it would carry the key
    /// elsewhere). Like [`ErrorClass::CampaignFatal`], but the fix is `--base-url`, not the
    /// account. `may_have_sent`: a `303 See Other`, whose request HTTP says was carried out
    /// (its result is elsewhere): the row is `UNCERTAIN`, not left to send again.
    Misdirected { may_have_sent: bool },
}

impl ErrorClass {
    /// Whether the request may have been carried out: the row is `UNCERTAIN` (never sent
    /// again on the tool's own), and the message counts wherever a send counts.
    pub fn may_have_sent(self) -> bool {
        matches!(
            self,
            ErrorClass::Ambiguous
                | ErrorClass::Misdirected {
                    may_have_sent: true
                }
        )
    }
}

/// The message setting a [`ErrorClass::Setting`] refusal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageSetting {
    /// `--template`: not found, or without an approved version.
    Template,
    /// `--media`: a file the API will not send.
    Media,
    /// MsgFlash's `NOT_FOUND`: the template, or the instance or contact it was sent with;
    /// which, the answer does not say. The instance is always the campaign's.
    Addressed,
}

impl MessageSetting {
    /// The flag (and campaign-file key) that sets it, for the message saying what to fix.
    pub fn flag(self) -> &'static str {
        match self {
            MessageSetting::Template => "--template",
            MessageSetting::Media => "--media",
            MessageSetting::Addressed => "--instance-id, --contact-id or --template",
        }
    }
}

/// A failed send, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    pub class: ErrorClass,
    /// The HTTP status, when an answer arrived.
    pub http_status: Option<u16>,
    /// The API's error code (`BILLING_SUSPENDED`), or ours for transport failures (`TIMEOUT`).
    pub code: String,
    /// A human sentence: the API's `error` text or what went wrong on the wire.
    pub message: String,
    /// The server's `Retry-After`, honored before any further send.
    pub retry_after: Option<Duration>,
}

/// An accepted send: the ids needed to track and cancel it later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub http_status: u16,
    pub message_id: String,
    pub correlation_id: Option<String>,
    /// The answer's `Retry-After`: an accepted send may ask, too, that the next one wait.
    pub retry_after: Option<Duration>,
}

/// The typed answer to one send attempt.
pub type SendOutcome = Result<Accepted, SendError>;

/// A boxed future, so providers can live behind `dyn Provider`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One WhatsApp API. Implementations are cheap to share across concurrent sends.
pub trait Provider: Send + Sync {
    /// The provider's name for logs and errors (`pilot-status`).
    fn name(&self) -> &'static str;

    /// The JSON body this provider sends for `message` at `now`, appended to `out` as JSON
    /// text written straight from the message (no JSON value in between: `--dry-run` prints
    /// a body a row, and every send serializes one). Used by the send itself and printed by
    /// `--dry-run`, so what you preview is what goes out.
    fn write_body(&self, message: &Message, now: Timestamp, out: &mut Vec<u8>);

    /// Sends one prepared body ([`Provider::write_body`]'s text) once. Never retries and
    /// never sleeps.
    fn send(&self, body: Vec<u8>) -> BoxFuture<'_, SendOutcome>;
}
