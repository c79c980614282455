//! The sandbox after the send: `GET /v1/messages/{id}` and `DELETE /v1/messages/cancel`.
//!
//! Every accepted send is stored, and its state is derived from its age on the sandbox's
//! own clock, so nothing needs a timer: QUEUED until its `deliverAt` (the only cancellable
//! state), then SENT, DELIVERED and, for most, READ. A hash of the id decides each
//! message's fate, deterministically: about 1 in 10 FAILS with a documented log error
//! code, about 3 in 10 stop at DELIVERED (read receipts off). The clock can run faster than
//! real time (`--time-factor`) and tests move it forward with [`super::super::Sandbox::advance`].

use std::collections::HashMap;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::super::api::Api;
use super::super::error::ApiError;
use super::super::faults::Fault;
use super::super::validate::destination;
use super::{Book, Outcome, Received, Shared};

/// Where the message endpoints live; `/send` below it stays the send handler's.
const PREFIX: &str = "/v1/messages/";
const CANCEL_PATH: &str = "/v1/messages/cancel";
/// The most ids one cancel request may carry.
const MAX_CANCEL: usize = 100;

/// Lifecycle, counted from the moment a message may go (its `deliverAt`, else acceptance).
const SENT_AFTER: SignedDuration = SignedDuration::from_secs(2);
const DELIVERED_AFTER: SignedDuration = SignedDuration::from_secs(5);
const READ_AFTER: SignedDuration = SignedDuration::from_secs(30);

/// The log error codes a failing message is given (from the vendor's list).
const FAILURE_CODES: [&str; 4] = [
    "WHATSAPP_NOT_EXIST",
    "INVALID_DESTINATION",
    "DELIVERY_TIMEOUT",
    "DELIVERED_NOT_CONFIRMED",
];

/// The sandbox's notion of now: real time, sped up by `factor`, plus what tests added.
pub(crate) struct SandboxClock {
    origin: std::time::Instant,
    origin_wall: Timestamp,
    factor: f64,
    offset: Duration,
}

impl SandboxClock {
    fn new(factor: f64) -> SandboxClock {
        SandboxClock {
            origin: std::time::Instant::now(),
            origin_wall: Timestamp::now(),
            factor: if factor.is_finite() && factor > 0.0 {
                factor
            } else {
                1.0
            },
            offset: Duration::ZERO,
        }
    }

    fn now(&self) -> Timestamp {
        let elapsed = self.origin.elapsed().mul_f64(self.factor) + self.offset;
        self.origin_wall
            .checked_add(elapsed)
            .unwrap_or(self.origin_wall)
    }
}

/// Every message the sandbox accepted, by id.
pub(crate) struct Store {
    clock: SandboxClock,
    messages: HashMap<String, Stored>,
}

struct Stored {
    id: String,
    /// The number ([`crate::sandbox::number_of`]) that sent it: keys are number-scoped, so
    /// another number's key cannot see or cancel it.
    owner: String,
    correlation_id: String,
    destination: Option<String>,
    template: Option<String>,
    created_at: Timestamp,
    deliver_at: Option<Timestamp>,
    canceled_at: Option<Timestamp>,
}

impl Store {
    pub(crate) fn new(time_factor: f64) -> Store {
        Store {
            clock: SandboxClock::new(time_factor),
            messages: HashMap::new(),
        }
    }

    /// Keeps an accepted send so it can be looked up and canceled by the number that sent it.
    pub(crate) fn insert(&mut self, id: &str, correlation_id: &str, body: &Value, owner: &str) {
        let message = Stored {
            id: id.to_string(),
            owner: owner.to_string(),
            correlation_id: correlation_id.to_string(),
            destination: destination(body),
            template: body["templateId"].as_str().map(str::to_string),
            created_at: self.clock.now(),
            deliver_at: body["deliverAt"].as_str().and_then(|t| t.parse().ok()),
            canceled_at: None,
        };
        self.messages.insert(id.to_string(), message);
    }

    /// By `id` or by `correlationId`, as the API documents; `owner` None sees every number.
    fn find(&mut self, id: &str, owner: Option<&str>) -> Option<&mut Stored> {
        let message = match self.messages.contains_key(id) {
            true => self.messages.get_mut(id),
            false => self.messages.values_mut().find(|m| m.correlation_id == id),
        }?;
        owner.is_none_or(|o| o == message.owner).then_some(message)
    }
}

/// A message's state at `now`, with the instants of each step reached.
struct State {
    status: &'static str,
    sent_at: Option<Timestamp>,
    delivered_at: Option<Timestamp>,
    read_at: Option<Timestamp>,
    error: Option<&'static str>,
}

impl Stored {
    fn fate(&self) -> u64 {
        // FNV-1a: stable across runs and platforms, unlike std's hasher.
        self.id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    }

    fn go_time(&self) -> Timestamp {
        self.deliver_at
            .map_or(self.created_at, |at| at.max(self.created_at))
    }

    fn state(&self, now: Timestamp) -> State {
        let mut state = State {
            status: "QUEUED",
            sent_at: None,
            delivered_at: None,
            read_at: None,
            error: None,
        };
        if self.canceled_at.is_some() {
            state.status = "CANCELED";
            return state;
        }
        let start = self.go_time();
        let reached = |after: SignedDuration| Some(start + after).filter(|t| *t <= now);
        let fate = self.fate() % 100;
        if let Some(at) = reached(SENT_AFTER) {
            (state.status, state.sent_at) = ("SENT", Some(at));
        }
        if fate < 10 {
            if reached(DELIVERED_AFTER).is_some() {
                state.status = "FAILED";
                state.error = Some(FAILURE_CODES[(self.fate() / 100) as usize % 4]);
            }
            return state;
        }
        if let Some(at) = reached(DELIVERED_AFTER) {
            (state.status, state.delivered_at) = ("DELIVERED", Some(at));
        }
        if fate >= 40
            && let Some(at) = reached(READ_AFTER)
        {
            (state.status, state.read_at) = ("READ", Some(at));
        }
        state
    }

    /// The documented `GET /v1/messages/{id}` body.
    fn json(&self, now: Timestamp) -> Value {
        let state = self.state(now);
        let time = |t: Option<Timestamp>| t.map(|t| format!("{t:.3}"));
        json!({
            "id": self.id,
            "status": state.status,
            "correlationId": self.correlation_id,
            "destinationNumber": self.destination,
            "template": self.template,
            "createdAt": format!("{:.3}", self.created_at),
            "sentAt": time(state.sent_at),
            "deliveredAt": time(state.delivered_at),
            "readAt": time(state.read_at),
            "externalMessageId": state.sent_at.map(|_| format!("wamid.{:016X}", self.fate())),
            "errorMessage": state.error,
        })
    }
}

impl Shared {
    /// Answers the message endpoints; None for any other path (the send is judged as before).
    pub(super) fn judge_messages(&self, book: &mut Book, received: &Received) -> Option<Outcome> {
        let id = received.path.strip_prefix(PREFIX)?;
        if id == "send" || id.is_empty() {
            return None;
        }
        let method_ok = match received.path.as_str() {
            CANCEL_PATH => received.method == Method::DELETE,
            _ => received.method == Method::GET,
        };
        if !method_ok {
            return Some(Outcome::refused(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "Use GET /v1/messages/{id} or DELETE /v1/messages/cancel",
            )));
        }
        if let Err(e) = self.authorize(Api::PilotStatus, received.key.as_deref()) {
            return Some(Outcome::refused(e));
        }
        if self.limiter.as_ref().is_some_and(|l| l.check().is_err()) {
            return Some(
                Outcome::refused(super::rate_limited()).retry_after(self.faults.retry_after()),
            );
        }
        if let Some(f @ (Fault::TooManyRequests | Fault::Unavailable)) =
            self.faults.pick(rand::RngExt::random::<f64>(&mut book.rng))
        {
            return Some(self.injected_refusal(f));
        }
        let store = &mut book.messages;
        let now = store.clock.now();
        let owner = received.key.as_deref().map(crate::sandbox::number_of);
        let owner = owner.as_deref();
        Some(if received.path == CANCEL_PATH {
            cancel(store, &received.body, now, owner)
        } else {
            match store.find(id, owner) {
                Some(message) => Outcome::ok(message.json(now)),
                None => Outcome::refused(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "NOT_FOUND",
                    "Message not found",
                )),
            }
        })
    }

    /// Moves the sandbox's clock forward: what a test does instead of waiting.
    pub(crate) fn advance(&self, by: Duration) {
        self.book().messages.clock.offset += by;
    }

    /// What `GET /v1/messages/{id}` would answer now, for tests to compare with.
    pub(crate) fn message(&self, id: &str) -> Option<Value> {
        let mut book = self.book();
        let now = book.messages.clock.now();
        book.messages.find(id, None).map(|m| m.json(now))
    }
}

fn cancel(store: &mut Store, body: &Value, now: Timestamp, owner: Option<&str>) -> Outcome {
    let ids: Option<Vec<&str>> = body["messageIds"]
        .as_array()
        .and_then(|ids| ids.iter().map(Value::as_str).collect());
    let ids = match ids {
        None => return Outcome::refused(ApiError::invalid("messageIds must be an array of ids")),
        Some(ids) if ids.is_empty() => {
            return Outcome::refused(ApiError::invalid("messageIds must not be empty"));
        }
        Some(ids) if ids.len() > MAX_CANCEL => {
            return Outcome::refused(ApiError::invalid(format!(
                "messageIds accepts at most {MAX_CANCEL} ids"
            )));
        }
        Some(ids) => ids,
    };
    let (mut cancelled, mut not_found, mut failed) = (0, 0, Vec::new());
    for id in ids {
        let Some(message) = store.find(id, owner) else {
            not_found += 1;
            continue;
        };
        let state = message.state(now);
        if state.status == "QUEUED" && message.go_time() > now {
            message.canceled_at = Some(now);
            cancelled += 1;
        } else {
            let reason = format!("Message is {} and no longer scheduled", state.status);
            failed.push(json!({ "id": id, "reason": reason }));
        }
    }
    Outcome::ok(json!({ "cancelled": cancelled, "notFound": not_found, "failed": failed }))
}

impl Outcome {
    /// A 200 with a body of its own (a status lookup, a cancel report).
    fn ok(body: Value) -> Outcome {
        Outcome {
            status: StatusCode::OK,
            body: Some(body),
            error: None,
            retry_after: None,
            message_id: None,
            correlation_id: None,
            fault: None,
        }
    }
}
