//! The APIs we send through, behind one small trait.
//!
//! A provider turns a [`Message`] into an HTTP request and the answer into a typed
//! [`SendOutcome`], and does nothing else: no retries, no sleeping, no files. Every
//! "what do we do about it" decision lives in the runner, driven by [`ErrorClass`].

pub mod http;
pub mod messages;
pub mod pilot_status;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use crate::message::Message;

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
}

/// The typed answer to one send attempt.
pub type SendOutcome = Result<Accepted, SendError>;

/// A boxed future, so providers can live behind `dyn Provider`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One WhatsApp API. Implementations are cheap to share across concurrent sends.
pub trait Provider: Send + Sync {
    /// The provider's name for logs and errors (`pilot-status`).
    fn name(&self) -> &'static str;

    /// The JSON body this provider would send for `message` at `now`; used by the send
    /// itself and printed by `--dry-run`, so what you preview is what goes out.
    fn body(&self, message: &Message, now: Timestamp) -> Value;

    /// Sends one prepared body once. Never retries and never sleeps.
    fn send<'a>(&'a self, body: &'a Value) -> BoxFuture<'a, SendOutcome>;
}
