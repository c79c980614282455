//! What every provider's HTTP exchange has in common: the client, turning transport
//! failures into error classes, reading error bodies of any shape, and `Retry-After`.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use serde_json::Value;

use super::{Accepted, ErrorClass, SendError, SendOutcome};

/// An API key: never printed, never logged, never put anywhere but its request header.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a key read from the environment.
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// A header value marked sensitive, so even reqwest's and hyper's debug output hides it.
    pub fn header_value(&self) -> Result<HeaderValue, String> {
        let mut value = HeaderValue::from_str(self.0.trim())
            .map_err(|_| "the API key contains characters a header cannot carry".to_string())?;
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

    /// The header name and the key as its (sensitive) value, checked and built once so a
    /// bad key fails at start-up and no request pays for it again.
    pub fn into_header(self) -> Result<(HeaderName, HeaderValue), String> {
        let (header, secret) = match self {
            Credential::Key(s) => (HeaderName::from_static("x-api-key"), s),
            Credential::KeyId(s) => (HeaderName::from_static("x-api-key-id"), s),
        };
        Ok((header, secret.header_value()?))
    }
}

/// One JSON endpoint with its auth header: what a provider holds to send.
pub struct Endpoint {
    client: reqwest::Client,
    /// Parsed once: reqwest would otherwise parse the URL string on every request.
    url: reqwest::Url,
    header: HeaderName,
    key: HeaderValue,
}

impl Endpoint {
    /// `path` under `base_url`, authenticated by `credential`.
    pub fn new(
        base_url: &str,
        path: &str,
        credential: Credential,
        timeout: Duration,
    ) -> Result<Endpoint, String> {
        let (header, key) = credential.into_header()?;
        let url = format!("{}{path}", base_url.trim_end_matches('/'));
        let url = reqwest::Url::parse(&url)
            .map_err(|e| format!("--base-url '{base_url}' is not a usable URL ({e})"))?;
        Ok(Endpoint {
            client: client(timeout),
            url,
            header,
            key,
        })
    }

    /// POSTs `body` once; a non-2xx answer is classified by the provider's `classify`, a
    /// 2xx one is returned with its parsed JSON body for the provider to read its ids from.
    pub async fn post(
        &self,
        body: &Value,
        classify: impl Fn(u16, Option<&str>) -> ErrorClass,
    ) -> Result<(Answer, Value), SendError> {
        let request = self.client.post(self.url.clone());
        let answer = exchange(request, (&self.header, self.key.clone()), body).await?;
        if !(200..300).contains(&answer.status) {
            return Err(rejection(&answer, classify));
        }
        let json = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        Ok((answer, json))
    }
}

/// The HTTP client every provider uses: rustls, a per-request timeout, and a connect
/// timeout of its own so "could not connect" (safe to retry) stays distinct from "no answer"
/// (maybe accepted).
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("campaign-sender/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a TLS backend is compiled in")
}

/// A complete answer: status, headers and the whole body.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Sends one JSON request with the auth header and reads the whole answer. A failure
/// after the request may have left comes back as [`ErrorClass::Ambiguous`].
pub async fn exchange(
    request: reqwest::RequestBuilder,
    auth: (&HeaderName, HeaderValue),
    body: &Value,
) -> Result<Answer, SendError> {
    let mut response = request
        .header(auth.0, auth.1)
        .json(body)
        .send()
        .await
        .map_err(|e| transport_error(&e))?;
    let status = response.status().as_u16();
    let headers = std::mem::take(response.headers_mut());
    let body = response.bytes().await.map_err(|e| SendError {
        http_status: Some(status),
        ..transport_error(&e)
    })?;
    Ok(Answer {
        status,
        headers,
        body: body.into(),
    })
}

/// Classifies a reqwest failure. Only a connect error proves the request never left;
/// anything later (timeout, reset, truncated body) may hide an accepted send.
pub fn transport_error(error: &reqwest::Error) -> SendError {
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
fn describe(error: &reqwest::Error) -> String {
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
/// `{"error":{"code","message"}}`, `{"errors":[{...}]}`, or plain text.
pub fn error_fields(body: &[u8]) -> (Option<String>, String) {
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        let text = String::from_utf8_lossy(body);
        return (None, truncate(text.trim(), 200));
    };
    let candidates = [&json, &json["error"], &json["errors"][0], &json["data"]];
    let text_of = |v: &Value| v.as_str().map(str::to_string);
    let code = candidates.iter().find_map(|v| text_of(&v["code"]));
    let message = candidates
        .iter()
        .find_map(|v| text_of(&v["error"]).or_else(|| text_of(&v["message"])))
        .unwrap_or_else(|| truncate(&json.to_string(), 200));
    (code, message)
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// `Retry-After` as delay-seconds or an HTTP-date, relative to now.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let wait = at.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// Builds the [`SendError`] for a non-success answer, classified by the provider's table.
pub fn rejection(answer: &Answer, classify: impl Fn(u16, Option<&str>) -> ErrorClass) -> SendError {
    let (code, message) = error_fields(&answer.body);
    SendError {
        class: classify(answer.status, code.as_deref()),
        http_status: Some(answer.status),
        code: code.unwrap_or_else(|| format!("HTTP_{}", answer.status)),
        message,
        retry_after: retry_after(&answer.headers),
    }
}

/// Reads an accepted answer's ids. A success without an id is treated as ambiguous: it was
/// probably accepted (never resend) but cannot be tracked.
pub fn accepted(answer: &Answer, id: &Value, correlation: &Value) -> SendOutcome {
    match id.as_str().filter(|s| !s.is_empty()) {
        Some(id) => Ok(Accepted {
            http_status: answer.status,
            message_id: id.to_string(),
            correlation_id: correlation.as_str().map(str::to_string),
        }),
        None => Err(SendError {
            class: ErrorClass::Ambiguous,
            http_status: Some(answer.status),
            code: "NO_MESSAGE_ID".to_string(),
            message: format!(
                "the API answered {} without a message id; it was probably accepted",
                answer.status
            ),
            retry_after: None,
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
    }

    #[test]
    fn secrets_do_not_print() {
        let secret = Secret::new("ps_live_very_secret".into());
        assert!(!format!("{secret:?}").contains("very_secret"));
        assert!(secret.header_value().unwrap().is_sensitive());
    }
}
