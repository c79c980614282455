//! The sandbox's HTTP behaviour: one axum handler that judges each request, logs it, and
//! answers it (late, or not at all, when a fault says so).
//!
//! Every decision that depends on earlier requests (sequence number, fault dice, rate limit,
//! billing count, message ids) is taken under one mutex, so concurrent requests see one
//! consistent history; the mutex is released before any await.

use std::fs::File;
use std::io::Write;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, State};
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use jiff::Timestamp;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::Value;

use super::api::Api;
use super::error::ApiError;
use super::faults::{Fault, FaultSpec};
use super::{FailDestination, LogEntry, SandboxConfig};
use crate::clock::Clock;

mod messages;

/// Large enough for a base64 data URI of a typical voice note or PDF.
const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Crockford's base32 alphabet, as in the API's ULID-style ids (`msg_01HZX...`).
const ID_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const ID_LEN: usize = 26;

/// Which TCP connection carried a request (1 for the first accepted; `server` puts it on
/// each request), so the log shows whether the client reused a connection or opened a new
/// one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Connection(pub(crate) u64);

/// Put on a response to make the connection close without sending it; see `server`.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("sandbox fault: connection dropped without a response")]
pub(crate) struct DropConnection;

/// Everything the sandbox knows, shared by all connections.
pub(crate) struct Shared {
    faults: FaultSpec,
    api_key: Option<String>,
    media_requires_plan: bool,
    limiter: Option<DefaultDirectRateLimiter>,
    /// Stamps each request's arrival in the log.
    clock: Clock,
    book: Mutex<Book>,
}

/// The mutable history, only touched under the mutex.
struct Book {
    rng: StdRng,
    accepted: u64,
    /// Destinations refused on request (see [`SandboxConfig::fail_destinations`]).
    fail_destinations: Vec<FailDestination>,
    log: Vec<LogEntry>,
    log_file: Option<File>,
    /// Accepted messages, for the status and cancel endpoints.
    messages: messages::Store,
}

/// What arrived, reduced to what may be judged and logged; the key is never logged.
struct Received {
    method: Method,
    path: String,
    /// The API the path addresses, if any.
    api: Option<Api>,
    header_names: Vec<String>,
    key: Option<String>,
    body: Value,
    /// The TCP connection it came on ([`Connection`]).
    connection: Option<u64>,
    /// The body's own problems, found before taking the lock.
    verdict: Result<(), ApiError>,
}

/// The answer decided for one request.
struct Outcome {
    status: StatusCode,
    /// An answer body of its own (status lookups, cancel reports); else it is derived.
    body: Option<Value>,
    /// The refusal answered, if any; its shape depends on the API (see [`Api::error_body`]).
    error: Option<ApiError>,
    retry_after: Option<u64>,
    message_id: Option<String>,
    correlation_id: Option<String>,
    fault: Option<Fault>,
}

impl Shared {
    pub(crate) fn new(config: SandboxConfig, log_file: Option<File>) -> Shared {
        let limiter = config
            .rate_limit_per_sec
            .and_then(NonZeroU32::new)
            .map(|n| RateLimiter::direct(Quota::per_second(n)));
        Shared {
            faults: config.faults,
            api_key: config.api_key,
            media_requires_plan: config.media_requires_plan,
            limiter,
            clock: config.clock,
            book: Mutex::new(Book {
                rng: StdRng::seed_from_u64(config.seed),
                accepted: 0,
                fail_destinations: config.fail_destinations,
                log: Vec::new(),
                log_file,
                messages: messages::Store::new(config.time_factor),
            }),
        }
    }

    /// A poisoned lock only means a panicking test thread; the history is still valid.
    fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn fail_destinations(&self, refused: Vec<FailDestination>) {
        self.book().fail_destinations = refused;
    }

    pub(crate) fn log(&self) -> Vec<LogEntry> {
        self.book().log.clone()
    }

    /// Judges and logs one request in one critical section, so the log order is the
    /// order in which decisions were taken.
    fn decide(&self, received: &Received) -> Outcome {
        let mut book = self.book();
        let outcome = self.judge(&mut book, received);
        book.record(received, &outcome, self.clock.wall());
        outcome
    }

    fn judge(&self, book: &mut Book, received: &Received) -> Outcome {
        if let Some(outcome) = self.judge_messages(book, received) {
            return outcome;
        }
        let Some(api) = received.api else {
            return Outcome::refused(ApiError::new(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "Not found",
            ));
        };
        if received.method != Method::POST {
            return Outcome::refused(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                format!("Use POST on {}", received.path),
            ));
        }
        if let Err(outcome) = self.admit(api, book.accepted, received.key.as_deref()) {
            return *outcome;
        }
        let fault = self.faults.pick(book.rng.random::<f64>());
        if let Some(f @ (Fault::TooManyRequests | Fault::Unavailable)) = fault {
            return self.injected_refusal(f);
        }
        if let Err(err) = received
            .verdict
            .clone()
            .and_then(|()| self.check_plan(&received.body))
            .and_then(|()| refuse_destination(&book.fail_destinations, api, &received.body))
        {
            return Outcome::refused(err);
        }
        book.accepted += 1;
        let (id, correlation_id) = (book.new_id("msg_"), book.new_id("corr_"));
        let owner = crate::sandbox::number_of(received.key.as_deref().unwrap_or_default());
        book.messages
            .insert(&id, &correlation_id, &received.body, &owner);
        Outcome::accepted(id, correlation_id, fault)
    }

    /// Auth, account limits and the server's own rate limit, in the API's order.
    fn admit(&self, api: Api, accepted: u64, key: Option<&str>) -> Result<(), Box<Outcome>> {
        let refuse = |e| Box::new(Outcome::refused(e));
        self.authorize(api, key).map_err(refuse)?;
        if let Some(limit) = api.account_limit(&self.faults, accepted) {
            return Err(refuse(limit));
        }
        if self.limiter.as_ref().is_some_and(|l| l.check().is_err()) {
            return Err(Box::new(
                Outcome::refused(rate_limited()).retry_after(self.faults.retry_after()),
            ));
        }
        Ok(())
    }

    fn authorize(&self, api: Api, key: Option<&str>) -> Result<(), ApiError> {
        let unauthorized =
            || ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "Unauthorized");
        let key = key.filter(|k| !k.is_empty()).ok_or_else(unauthorized)?;
        if self.api_key.as_deref().is_some_and(|wanted| wanted != key) {
            return Err(unauthorized());
        }
        api.refuse_key(key).map_or(Ok(()), Err)
    }

    fn injected_refusal(&self, fault: Fault) -> Outcome {
        let err = match fault {
            Fault::TooManyRequests => rate_limited(),
            _ => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                "Service unavailable",
            ),
        };
        Outcome::refused(err)
            .retry_after(self.faults.retry_after())
            .with_fault(fault)
    }

    fn check_plan(&self, body: &Value) -> Result<(), ApiError> {
        if self.media_requires_plan && body.get("media").is_some() {
            return Err(ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "SUBSCRIPTION_REQUIRED_FOR_MEDIA",
                "Media sends require an active paid subscription",
            ));
        }
        Ok(())
    }

    /// How long to hold the answer back.
    fn delay(&self, outcome: &Outcome) -> Duration {
        let late = match outcome.fault {
            Some(Fault::Late) => self.faults.late_by(),
            _ => Duration::ZERO,
        };
        self.faults.latency + late
    }
}

/// The refusal `refused` configures for this request's destination, if any.
fn refuse_destination(refused: &[FailDestination], api: Api, body: &Value) -> Result<(), ApiError> {
    let Some(destination) = api.destination(body) else {
        return Ok(());
    };
    match refused.iter().find_map(|f| f.refusal(&destination)) {
        Some(refusal) => Err(refusal),
        None => Ok(()),
    }
}

fn rate_limited() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
        "Too many requests",
    )
}

impl Book {
    fn new_id(&mut self, prefix: &str) -> String {
        let suffix: String = (0..ID_LEN)
            .map(|_| char::from(ID_ALPHABET[self.rng.random_range(0..ID_ALPHABET.len())]))
            .collect();
        format!("{prefix}{suffix}")
    }

    fn record(&mut self, received: &Received, outcome: &Outcome, at: Timestamp) {
        let entry = LogEntry {
            seq: self.log.len() as u64 + 1,
            at: format!("{at:.3}"),
            method: received.method.to_string(),
            path: received.path.clone(),
            header_names: received.header_names.clone(),
            destination: received.api.and_then(|api| api.destination(&received.body)),
            sender: received.key.as_deref().map(crate::sandbox::number_of),
            body: received.body.clone(),
            accepted: outcome.message_id.is_some(),
            message_id: outcome.message_id.clone(),
            status: (outcome.fault != Some(Fault::Drop)).then_some(outcome.status.as_u16()),
            code: outcome.error.as_ref().map(|e| e.code.to_string()),
            fault: outcome.fault.map(|f| f.label().to_owned()),
            connection: received.connection,
        };
        self.append_to_file(&entry);
        self.log.push(entry);
    }

    /// One write per line, so the file is current even if the process is killed.
    fn append_to_file(&mut self, entry: &LogEntry) {
        let Some(file) = &mut self.log_file else {
            return;
        };
        let mut line = serde_json::to_string(entry).expect("a LogEntry always serializes");
        line.push('\n');
        if let Err(e) = file.write_all(line.as_bytes()) {
            tracing::warn!("sandbox: cannot append to the request log: {e}");
        }
    }
}

impl Outcome {
    fn refused(err: ApiError) -> Outcome {
        Outcome {
            status: err.status,
            body: None,
            error: Some(err),
            retry_after: None,
            message_id: None,
            correlation_id: None,
            fault: None,
        }
    }

    /// A stored message; a `500` fault still stores it but answers an error.
    fn accepted(id: String, correlation_id: String, fault: Option<Fault>) -> Outcome {
        let error = (fault == Some(Fault::Internal)).then(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "Internal error",
            )
        });
        Outcome {
            status: error.as_ref().map_or(StatusCode::ACCEPTED, |e| e.status),
            body: None,
            error,
            retry_after: None,
            message_id: Some(id),
            correlation_id: Some(correlation_id),
            fault,
        }
    }

    fn retry_after(self, seconds: u64) -> Outcome {
        Outcome {
            retry_after: Some(seconds),
            ..self
        }
    }

    fn with_fault(self, fault: Fault) -> Outcome {
        Outcome {
            fault: Some(fault),
            ..self
        }
    }

    /// The answer in the addressed API's shape (Pilot Status's for an unknown path).
    fn into_response(self, api: Option<Api>, request: &Value) -> Response {
        let api = api.unwrap_or(Api::PilotStatus);
        let derived = match (&self.error, &self.message_id) {
            (Some(error), _) => api.error_body(error),
            (None, Some(id)) => {
                api.accepted_body(id, self.correlation_id.as_deref().unwrap_or(""), request)
            }
            (None, None) => Value::Null,
        };
        let body = self.body.clone().unwrap_or(derived);
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.fault == Some(Fault::Drop) {
            response.extensions_mut().insert(DropConnection);
        }
        response
    }
}

impl Received {
    fn new(method: Method, uri: &Uri, headers: &HeaderMap, bytes: &[u8]) -> Received {
        let at = Timestamp::now();
        let parsed = serde_json::from_slice::<Value>(bytes);
        let api = Api::at(uri.path());
        let verdict = if !is_json_content_type(headers) {
            Err(invalid_json("Content-Type must be application/json"))
        } else {
            match (&parsed, api) {
                (Ok(body), Some(api)) => api.validate(body, at),
                (Ok(_), None) => Ok(()),
                (Err(_), _) => Err(invalid_json("The request body is not valid JSON")),
            }
        };
        Received {
            method,
            path: uri.path().to_owned(),
            api,
            header_names: headers.keys().map(|k| k.as_str().to_owned()).collect(),
            key: api_key(headers),
            body: parsed.unwrap_or(Value::Null),
            connection: None,
            verdict,
        }
    }
}

fn invalid_json(error: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "INVALID_JSON", error)
}

fn is_json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// `x-api-key`, else `x-api-key-id`: the API accepts either.
fn api_key(headers: &HeaderMap) -> Option<String> {
    ["x-api-key", "x-api-key-id"]
        .into_iter()
        .find_map(|name| headers.get(name))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The router: every path and method goes through [`handle`], so even a wrong path is
/// logged and answered in the API's JSON error shape.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .fallback(handle)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(shared)
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    connection: Option<Extension<Connection>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut received = Received::new(method, &uri, &headers, &body);
    received.connection = connection.map(|Extension(Connection(n))| n);
    let outcome = shared.decide(&received);
    // tokio rounds even a zero sleep up to its next 1 ms timer tick: without this check
    // every answer took about a millisecond, capping one connection near 800 requests/s.
    let delay = shared.delay(&outcome);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    outcome.into_response(received.api, &received.body)
}
