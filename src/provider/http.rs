//! The one HTTP exchange with an API, for sends, status lookups and cancels: the key in its
//! header, turning transport failures into error classes, reading error bodies of any
//! shape, and `Retry-After`.
//!
//! Every answer is treated as hostile: a redirect is never followed (each request carries
//! the API key, which reqwest would resend to any host a `Location` names), and no more
//! than [`MAX_ANSWER`] bytes of a body are read.

use std::fmt;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::{Method, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Accepted, BuildError, ErrorClass, SendError, SendOutcome, untrusted};

/// An API key: never printed, never logged, never put anywhere but its request header.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a key read from the environment.
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// A header value marked sensitive, so even reqwest's and hyper's debug output hides it.
    fn header_value(&self) -> Result<HeaderValue, BuildError> {
        let mut value =
            HeaderValue::from_str(self.0.trim()).map_err(|_| BuildError::KeyNotAHeader)?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// An API key and the header that carries it.
#[derive(Debug, Clone)]
pub enum Credential {
    /// Sent as `x-api-key` (`PILOT_STATUS_API_KEY`, `MSGFLASH_API_KEY`).
    Key(Secret),
    /// Sent as `x-api-key-id` (`PILOT_STATUS_API_KEY_ID`).
    KeyId(Secret),
}

impl Credential {
    /// Whether two credentials are the same key (two lanes on one number).
    pub fn same_secret(&self, other: &Credential) -> bool {
        let secret = |c: &Credential| match c {
            Credential::Key(s) | Credential::KeyId(s) => s.0.trim().to_string(),
        };
        secret(self) == secret(other)
    }

    /// A one-way 64-bit digest of the key, naming the number it is scoped to (the ledger's
    /// sender column) without holding the key.
    pub fn fingerprint(&self) -> u64 {
        use std::hash::Hasher as _;
        let (Credential::Key(s) | Credential::KeyId(s)) = self;
        let mut hasher = siphasher::sip::SipHasher13::new_with_keys(0x6c65_6467_6572, 0x006b_6579);
        hasher.write(s.0.trim().as_bytes());
        hasher.finish()
    }
}

/// One API at one address with one key: the only way a request leaves, for sends, status
/// lookups and cancels alike. Cheap to clone (the client is shared).
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: Url,
    header: HeaderName,
    /// Checked and built once, so a bad key fails at start-up and no request pays for it.
    key: HeaderValue,
}

impl Api {
    /// The API at `base` (an `http(s)://` URL) authenticated by `credential`, sent through
    /// `client` (the run's one client); fails only on a key no header can carry.
    pub fn new(
        base: &Url,
        credential: Credential,
        client: &reqwest::Client,
    ) -> Result<Api, BuildError> {
        let (header, secret) = match credential {
            Credential::Key(s) => (HeaderName::from_static("x-api-key"), s),
            Credential::KeyId(s) => (HeaderName::from_static("x-api-key-id"), s),
        };
        Ok(Api {
            client: client.clone(),
            base: base.clone(),
            key: secret.header_value()?,
            header,
        })
    }

    /// The base URL with `segments` appended to its path, each percent-encoded as one
    /// segment (an id holding `/` or `?` stays one segment). A base path is kept
    /// (`https://host/proxy` + `v1` is `https://host/proxy/v1`); `.` and `..` are dropped.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// A send: `body` (JSON text) POSTed to `url` once. An answer too large to read may
    /// hide an accepted send, so it is [`ErrorClass::Ambiguous`].
    pub async fn post(
        &self,
        url: &Url,
        body: Vec<u8>,
        classify: impl Fn(u16, Option<&str>, bool) -> ErrorClass,
    ) -> Result<Answer, SendError> {
        let (method, url) = (Method::POST, url.clone());
        (self.exchange(method, url, Some(body), ErrorClass::Ambiguous, classify)).await
    }

    /// One request and its whole answer. Redirects are refused unread
    /// ([`ErrorClass::Misdirected`]); a failure after the request may have left (a lost
    /// connection) is [`ErrorClass::Ambiguous`], a body past [`MAX_ANSWER`] is `over_cap`; a
    /// non-2xx answer is classified by the caller's table `classify`, with its `Retry-After`.
    /// `body` is JSON text, handed to the connection as it is (no copy, no second encoding).
    pub async fn exchange(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        over_cap: ErrorClass,
        classify: impl Fn(u16, Option<&str>, bool) -> ErrorClass,
    ) -> Result<Answer, SendError> {
        let mut request = (self.client.request(method, url)).header(&self.header, self.key.clone());
        if let Some(body) = body {
            request = (request.header(CONTENT_TYPE, HeaderValue::from_static("application/json")))
                .body(body);
        }
        let response = request.send().await.map_err(|e| transport_error(&e))?;
        let mut answer = receive(response, over_cap)
            .await
            .map_err(|e| self.redacted(e))?;
        // A server may repeat the key (an error echoing the request): nothing it wrote
        // reaches a results cell, a log line or an error message with the key in it.
        untrusted::redact_answer(&mut answer.body, self.key.as_bytes());
        if !(200..300).contains(&answer.status) {
            return Err(rejection(&answer, classify));
        }
        Ok(answer)
    }

    /// `error` with the key taken out of what the server supplied (a redirect's host).
    fn redacted(&self, mut error: SendError) -> SendError {
        untrusted::redact_in(&mut error.code, self.key.as_bytes());
        untrusted::redact_in(&mut error.message, self.key.as_bytes());
        error
    }
}

/// A complete answer: status, headers and the whole body.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body read as `T` (its other fields skipped unread, not built); `T::default()`
    /// when it is not JSON of that shape, so each id reads as missing. A byte-order mark
    /// before the JSON and anything after its first value are passed over: an accepted
    /// send's id is not thrown away for them.
    pub fn read<T: DeserializeOwned + Default>(&self) -> T {
        let body = self
            .body
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or(&self.body);
        let mut values = serde_json::Deserializer::from_slice(body).into_iter::<T>();
        values.next().and_then(Result::ok).unwrap_or_default()
    }

    /// The start of the body as one short line, for a message about an answer that could
    /// not be used: what the server said stays on record.
    fn glimpse(&self) -> String {
        let start = &self.body[..self.body.len().min(4 * GLIMPSE)];
        untrusted::clean(String::from_utf8_lossy(start).trim(), GLIMPSE)
    }
}

/// How much of an unusable answer a message quotes.
const GLIMPSE: usize = 200;

/// The ids of an accepted send in the object that carries them (`id`, `correlationId`),
/// read without building the rest of the answer: building every field of it as a JSON
/// value was a fifth of the client's own work per send.
#[derive(Debug, Default, Deserialize)]
pub struct Ids {
    #[serde(default, deserialize_with = "lenient")]
    pub id: Value,
    #[serde(default, rename = "correlationId", deserialize_with = "lenient")]
    pub correlation_id: Value,
}

/// One id field, whatever it holds, without failing the answer: a whole number too large
/// for 64 bits keeps its digits (as text), and one no number type holds (`1e400`) reads as
/// null, so the other id is still read.
fn lenient<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
    let raw = <&serde_json::value::RawValue>::deserialize(deserializer)?;
    let text = raw.get();
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Value::String(text.to_string()));
    }
    // The usual id, a string with no escape in it, is taken as it stands: read once.
    if let Some(plain) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"'))
        && !plain.contains('\\')
    {
        return Ok(Value::String(plain.to_string()));
    }
    Ok(serde_json::from_str(text).unwrap_or(Value::Null))
}

/// The most of an answer's body that is read. Ids and error texts take a few hundred bytes;
/// a server sending more is broken or hostile, and reading on would only grow memory.
pub const MAX_ANSWER: usize = 256 * 1024;

/// Reads an answer: a redirect is refused unread ([`ErrorClass::Misdirected`]), and a 2xx
/// body past [`MAX_ANSWER`] is abandoned with `over_cap` as its class (`RESPONSE_TOO_LARGE`):
/// it may hide an accepted send. Any other answer is cut at the cap (or where its body broke
/// off) and judged by its status.
async fn receive(
    mut response: reqwest::Response,
    over_cap: ErrorClass,
) -> Result<Answer, SendError> {
    let status = response.status().as_u16();
    if (300..400).contains(&status) {
        return Err(redirected(&response));
    }
    let headers = std::mem::take(response.headers_mut());
    // A wait the headers asked for holds even when the body then breaks or runs over: the
    // row is uncertain, but the number's pace is not.
    let asked = || retry_after(&headers);
    let mut body = Vec::new();
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            // A refusal says what it is by its status, and a JSON object that arrived whole
            // before the framing broke (a Content-Length promising more, a chunked body
            // without its last chunk) is the answer: both are judged on what arrived. A
            // proper prefix of an object never parses, so a 2xx cut inside its body stays
            // uncertain: its id may be in what never came.
            Err(e) => {
                if (200..300).contains(&status) && !whole_object(&body) {
                    return Err(SendError {
                        http_status: Some(status),
                        retry_after: asked(),
                        ..transport_error(&e)
                    });
                }
                break;
            }
        };
        if body.len().saturating_add(chunk.len()) > MAX_ANSWER {
            if !(200..300).contains(&status) {
                // A refusal says what it is by its status: classified as usual, on what fits.
                body.extend_from_slice(&chunk[..MAX_ANSWER - body.len()]);
                break;
            }
            return Err(SendError {
                class: over_cap,
                http_status: Some(status),
                code: "RESPONSE_TOO_LARGE".into(),
                message: format!(
                    "the API answered {status} with a body over {} KiB; it was not read further",
                    MAX_ANSWER / 1024
                ),
                retry_after: asked(),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// Whether `body` is one whole JSON object.
fn whole_object(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body).is_ok()
}

/// A 3xx answer: where it points (the host only: the rest may carry anything), and that
/// the fix is the base URL.
fn redirected(response: &reqwest::Response) -> SendError {
    let status = response.status().as_u16();
    let target = response
        .headers()
        .get(LOCATION)
        .and_then(|location| location.to_str().ok())
        .and_then(|location| response.url().join(location).ok());
    let whither = match target
        .as_ref()
        .and_then(|url| Some((url.host_str()?, url.port())))
    {
        Some((host, Some(port))) => format!("a redirect to {}:{port}", untrusted::clean(host, 100)),
        Some((host, None)) => format!("a redirect to {}", untrusted::clean(host, 100)),
        None => "a redirect without a usable Location".into(),
    };
    // 303 says the request was carried out and its result is elsewhere; every other 3xx
    // that it was not (RFC 9110, 15.4), an unknown one as 300.
    let may_have_sent = status == 303;
    let done = match may_have_sent {
        true => ", which says the request was carried out there: it may have been sent",
        false => "",
    };
    SendError {
        class: ErrorClass::Misdirected { may_have_sent },
        http_status: Some(status),
        code: "REDIRECTED".into(),
        message: format!(
            "the API answered {status}, {whither}{done}; redirects are never followed, since \
             every request carries the API key. Fix --base-url to the API's own address"
        ),
        retry_after: None,
    }
}

/// Classifies a reqwest failure. Only a connect error proves the request never left;
/// anything later (timeout, reset, truncated body) may hide an accepted send.
fn transport_error(error: &reqwest::Error) -> SendError {
    let (class, code) = if error.is_connect() {
        (ErrorClass::Retryable, "CONNECT_ERROR")
    } else if error.is_builder() {
        (ErrorClass::CampaignFatal, "BAD_REQUEST_SETUP")
    } else if error.is_timeout() {
        (ErrorClass::Ambiguous, "TIMEOUT")
    } else {
        (ErrorClass::Ambiguous, "CONNECTION_LOST")
    };
    SendError {
        class,
        http_status: None,
        code: code.to_string(),
        message: describe(error),
        retry_after: None,
    }
}

/// The error chain in one line, without the URL (it may carry a query string).
pub(crate) fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(&format!(" for url ({url})"), "");
    }
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// Reads `code` and a message from an error body of whatever shape: `{"code","error"}`,
/// `{"error":{"code","message"}}`, `{"errors":[{...}]}`, or plain text. With no `code`, an
/// `error` that is a code itself (`{"error":"MONTHLY_OUTBOUND_QUOTA_EXCEEDED"}`) is the code.
fn error_fields(body: &[u8]) -> (Option<String>, String) {
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        let text = String::from_utf8_lossy(body);
        return (None, untrusted::clean(text.trim(), 200));
    };
    let candidates = [&json, &json["error"], &json["errors"][0], &json["data"]];
    let text_of = |v: &Value| v.as_str().map(str::to_string);
    let message = candidates
        .iter()
        .find_map(|v| text_of(&v["error"]).or_else(|| text_of(&v["message"])))
        .unwrap_or_else(|| json.to_string());
    let code = (candidates.iter().find_map(|v| text_of(&v["code"])))
        .or_else(|| is_code(&message).then(|| message.clone()));
    let code = code.map(|code| untrusted::clean(&code, 100));
    (code, untrusted::clean(&message, 200))
}

/// Whether `text` is an error code (`QUOTA_EXCEEDED`), not a sentence.
fn is_code(text: &str) -> bool {
    (3..=64).contains(&text.len())
        && text.starts_with(|c: char| c.is_ascii_uppercase())
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// `Retry-After` as delay-seconds or an HTTP-date, relative to now. Read as asking at least
/// as much as it says: of several headers, or of a list in one (`2, 4`), the longest wait;
/// seconds past what 64 bits hold are the longest wait (beyond the ceiling: the run stops
/// rather than resend at once), and a fraction (`1.5`, not in the standard) is rounded up.
/// A date may come in any of the three forms HTTP allows; its weekday is not checked (a
/// wrong one still names the date). What reads as nothing is `None`: backoff applies.
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    (headers.get_all(RETRY_AFTER).iter())
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| match http_date(value) {
            Some(wait) => vec![Some(wait)],
            None => value.split(',').map(seconds).collect(),
        })
        .flatten()
        .max()
}

/// Delay-seconds, rounded up.
fn seconds(value: &str) -> Option<Duration> {
    let value = value.trim();
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) {
        return None;
    }
    let seconds = whole.parse::<u64>().unwrap_or(u64::MAX);
    let up = u64::from(fraction.bytes().any(|b| b != b'0'));
    Some(Duration::from_secs(seconds.saturating_add(up)))
}

/// The wait until an HTTP-date: `Sun, 06 Nov 1994 08:49:37 GMT` (the usual form),
/// `Sunday, 06-Nov-94 08:49:37 GMT` (RFC 850, a two-digit year) or `Sun Nov  6 08:49:37
/// 1994` (asctime). Zero for a date past.
fn http_date(value: &str) -> Option<Duration> {
    let words: Vec<&str> = value.split_whitespace().collect();
    let (day, month, year, time) = match words.as_slice() {
        // The weekday, with its comma, is left out.
        [weekday, date, time, "GMT"] if weekday.ends_with(',') => {
            let mut parts = date.split('-');
            let (day, month, year) = (parts.next()?, parts.next()?, parts.next()?);
            (day, month, two_digit_year(year)?, *time)
        }
        [weekday, day, month, year, time, "GMT"] if weekday.ends_with(',') => {
            (*day, *month, year.parse().ok()?, *time)
        }
        [_, month, day, time, year] => (*day, *month, year.parse().ok()?, *time),
        _ => return None,
    };
    if year >= 9999 {
        // Past what the calendar type holds (`31 Dec 9999`): as far off as it gets.
        return Some(Duration::from_secs(u64::MAX));
    }
    let at = jiff::fmt::rfc2822::parse(&format!("{day} {month} {year} {time} GMT")).ok()?;
    let wait = at.timestamp().duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// An RFC 850 year: four digits as they are; two digits in this century, or the last one
/// when that would be more than 50 years ahead (as HTTP says to read them).
fn two_digit_year(year: &str) -> Option<i32> {
    let number: i32 = year.parse().ok()?;
    if year.len() != 2 {
        return Some(number);
    }
    let this = i32::from(
        jiff::tz::TimeZone::UTC
            .to_datetime(jiff::Timestamp::now())
            .year(),
    );
    let century = this - this % 100;
    Some(match century + number {
        ahead if ahead > this + 50 => ahead - 100,
        year => year,
    })
}

/// Builds the [`SendError`] for a non-success answer, classified by the provider's table.
fn rejection(
    answer: &Answer,
    classify: impl Fn(u16, Option<&str>, bool) -> ErrorClass,
) -> SendError {
    let (code, message) = error_fields(&answer.body);
    let retry_after = retry_after(&answer.headers);
    SendError {
        class: classify(answer.status, code.as_deref(), retry_after.is_some()),
        http_status: Some(answer.status),
        code: code.unwrap_or_else(|| format!("HTTP_{}", answer.status)),
        message,
        retry_after,
    }
}

/// The longest message id taken: real ids are a few dozen characters, and a longer one
/// could not be looked up (a URL holds less) nor kept whole by a spreadsheet's cell.
pub const MAX_ID: usize = 256;

/// An id as the API wrote it: a non-empty string, or a whole number (`{"id": 123}`) as its
/// digits; never one longer than [`MAX_ID`] or holding a control character (it goes into
/// URLs, results cells and log lines). Taken by value, so a string id is moved out rather
/// than copied.
pub fn id_text(value: Value) -> Option<String> {
    let id = match value {
        Value::String(id) if !id.trim().is_empty() => id,
        Value::Number(n) if n.is_u64() || n.is_i64() => n.to_string(),
        _ => return None,
    };
    (id.len() <= MAX_ID && !id.chars().any(char::is_control)).then_some(id)
}

/// The `errorCode` of an accepted answer whose message id cannot be recorded: the send was
/// probably accepted, so its row is `UNCERTAIN`.
pub const NO_MESSAGE_ID: &str = "NO_MESSAGE_ID";

/// Reads an accepted answer's ids. A success without an id is treated as ambiguous: it was
/// probably accepted (never resend) but cannot be tracked.
pub fn accepted(answer: &Answer, ids: Ids) -> SendOutcome {
    match id_text(ids.id) {
        Some(message_id) => Ok(Accepted {
            http_status: answer.status,
            message_id,
            correlation_id: id_text(ids.correlation_id),
            retry_after: retry_after(&answer.headers),
        }),
        None => Err(SendError {
            class: ErrorClass::Ambiguous,
            http_status: Some(answer.status),
            code: NO_MESSAGE_ID.to_string(),
            message: format!(
                "the API answered {} without a usable message id; it was probably accepted. \
                 Its answer began: {}",
                answer.status,
                answer.glimpse()
            ),
            retry_after: retry_after(&answer.headers),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_fields_read_every_common_shape() {
        let flat = br#"{"error":"Billing suspended","code":"BILLING_SUSPENDED"}"#;
        assert_eq!(
            error_fields(flat),
            (Some("BILLING_SUSPENDED".into()), "Billing suspended".into())
        );
        let nested = br#"{"error":{"code":"MONTHLY_OUTBOUND_QUOTA_EXCEEDED","message":"quota"}}"#;
        assert_eq!(
            error_fields(nested).0.as_deref(),
            Some("MONTHLY_OUTBOUND_QUOTA_EXCEEDED")
        );
        let list = br#"{"errors":[{"code":"VALIDATION_ERROR","message":"to"}]}"#;
        assert_eq!(
            error_fields(list),
            (Some("VALIDATION_ERROR".into()), "to".into())
        );
        assert_eq!(error_fields(b"Bad Gateway"), (None, "Bad Gateway".into()));
        // No `code`: an `error` that is a code is one; a sentence is not.
        let bare = br#"{"error":"MONTHLY_OUTBOUND_QUOTA_EXCEEDED"}"#;
        assert_eq!(
            error_fields(bare).0.as_deref(),
            Some("MONTHLY_OUTBOUND_QUOTA_EXCEEDED")
        );
        for sentence in [r#"{"error":"Too many requests"}"#, r#"{"error":"OK"}"#] {
            assert_eq!(error_fields(sentence.as_bytes()).0, None, "{sentence}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
        for (value, seconds) in [
            ("99999999999999999999999", u64::MAX),
            ("1.5", 2),
            ("3.0", 3),
        ] {
            headers.insert(RETRY_AFTER, HeaderValue::from_static(value));
            assert_eq!(
                retry_after(&headers),
                Some(Duration::from_secs(seconds)),
                "{value}"
            );
        }
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Fri, 31 Dec 9999 23:59:59 GMT"),
        );
        assert!(retry_after(&headers).is_some_and(|wait| wait > crate::pacing::MAX_RETRY_AFTER));
    }

    #[test]
    fn retry_after_takes_every_date_form_and_the_longest_of_several() {
        let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(120);
        let utc = jiff::tz::TimeZone::UTC.to_datetime(soon);
        let forms = [
            utc.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string(),
            utc.strftime("%A, %d-%b-%y %H:%M:%S GMT").to_string(),
            utc.strftime("%a %b %e %H:%M:%S %Y").to_string(),
            // A wrong weekday still names the date.
            format!("Xyz, {}", utc.strftime("%d %b %Y %H:%M:%S GMT")),
        ];
        for form in forms {
            let headers = HeaderMap::from_iter([(RETRY_AFTER, form.parse().unwrap())]);
            let wait = retry_after(&headers).unwrap_or_default();
            assert!(wait > Duration::from_secs(100), "{form}: {wait:?}");
        }
        let mut headers = HeaderMap::new();
        headers.append(RETRY_AFTER, HeaderValue::from_static("1"));
        headers.append(RETRY_AFTER, HeaderValue::from_static("4"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(4)));
        let list = HeaderMap::from_iter([(RETRY_AFTER, HeaderValue::from_static("2, 9, x"))]);
        assert_eq!(retry_after(&list), Some(Duration::from_secs(9)));
        assert_eq!(two_digit_year("94").map(|y| y % 100), Some(94));
        assert!(two_digit_year("26").is_some_and(|y| y >= 2026));
    }

    #[test]
    fn ids_read_from_every_shape_an_answer_gives_them() {
        let read = |body: &str| {
            let answer = Answer {
                status: 202,
                headers: HeaderMap::new(),
                body: body.as_bytes().to_vec(),
            };
            let ids: Ids = answer.read();
            (id_text(ids.id), id_text(ids.correlation_id))
        };
        let some = |id: &str, correlation: &str| (Some(id.into()), Some(correlation.into()));
        assert_eq!(
            read(r#"{"id":"m_1","correlationId":"c"}"#),
            some("m_1", "c")
        );
        assert_eq!(
            read(r#"{"id":"a\"b\u0063","correlationId":7}"#),
            some("a\"bc", "7")
        );
        let huge = "123456789012345678901234567890";
        assert_eq!(
            read(&format!(r#"{{"id":{huge},"correlationId":"c"}}"#)),
            some(huge, "c")
        );
        assert_eq!(
            read(r#"{"id":"m","correlationId":1e400}"#),
            (Some("m".into()), None)
        );
        assert_eq!(
            read("\u{feff}{\"id\":\"m\"} trailing"),
            (Some("m".into()), None)
        );
        assert_eq!(
            read(r#"{"id":["m"],"correlationId":{"a":1}}"#),
            (None, None)
        );
    }

    #[test]
    fn ids_are_short_single_line_text() {
        assert_eq!(id_text(Value::from("msg_1")), Some("msg_1".into()));
        assert_eq!(id_text(Value::from(7)), Some("7".into()));
        assert_eq!(id_text(Value::from("a\nb")), None);
        assert_eq!(id_text(Value::from("x".repeat(MAX_ID + 1))), None);
        assert_eq!(id_text(Value::from(" ")), None);
    }

    #[test]
    fn an_url_keeps_the_base_path_and_each_segment_whole() {
        let client = reqwest::Client::new();
        let key = Credential::Key(Secret::new("k".into()));
        let at = |base: &str, segments: &[&str]| {
            let api = Api::new(&Url::parse(base).unwrap(), key.clone(), &client).unwrap();
            api.url(segments).to_string()
        };
        let send = ["v1", "messages", "send"];
        assert_eq!(at("https://h", &send), "https://h/v1/messages/send");
        assert_eq!(at("https://h/", &send), "https://h/v1/messages/send");
        assert_eq!(
            at("http://h:8080/proxy/", &send),
            "http://h:8080/proxy/v1/messages/send"
        );
        assert_eq!(
            at("https://h", &["v1", "messages", "msg_01H/x y?z#w%"]),
            "https://h/v1/messages/msg_01H%2Fx%20y%3Fz%23w%25"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let secret = Secret::new("ps_live_very_secret".into());
        assert!(!format!("{secret:?}").contains("very_secret"));
        assert!(secret.header_value().unwrap().is_sensitive());
    }
}
