//! Pilot Status after the send: `GET /v1/messages/{id}` (where a message is) and
//! `DELETE /v1/messages/cancel` (cancel scheduled ones). See
//! `../shared/api/pilot-status-status-cancel-errors.md`.
//!
//! Like the send client it only turns HTTP into typed answers: no retries, no sleeping, no
//! files. Both calls are safe to repeat (a lookup changes nothing, a second cancel of the
//! same id is refused), so unlike a send, a lost answer is simply retryable.

use reqwest::header::HeaderName;
use serde::Deserialize;
use serde_json::json;

use super::http::{self, Answer, Secret};
use super::pilot_status::Credential;
use super::{ErrorClass, SendError};

/// The most ids one cancel request may carry.
pub const CANCEL_BATCH: usize = 100;

/// A message as `GET /v1/messages/{id}` describes it (the fields we record).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageState {
    #[serde(deserialize_with = "id")]
    pub id: String,
    /// The API's word: QUEUED, SENT, DELIVERED, READ, FAILED or CANCELED.
    pub status: String,
    #[serde(default)]
    pub delivered_at: Option<String>,
    #[serde(default)]
    pub read_at: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
}

/// The answer to one cancel request: counts, plus the ids that could not be canceled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelAnswer {
    #[serde(default)]
    pub cancelled: u64,
    #[serde(default)]
    pub not_found: u64,
    #[serde(default)]
    pub failed: Vec<CancelRefusal>,
}

/// One id the API would not cancel, and why (typically: no longer scheduled).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CancelRefusal {
    #[serde(deserialize_with = "id")]
    pub id: String,
    #[serde(default)]
    pub reason: String,
}

/// A client for the message endpoints, with the same key and header as the send.
pub struct Messages {
    client: reqwest::Client,
    base: String,
    header: HeaderName,
    secret: Secret,
}

impl Messages {
    /// Builds the client over the run's `client` (see [`http::client`]); fails only if the
    /// key cannot be a header value.
    pub fn new(
        base_url: &str,
        credential: Credential,
        client: &reqwest::Client,
    ) -> Result<Messages, String> {
        let (header, secret) = match credential {
            Credential::Key(s) => ("x-api-key", s),
            Credential::KeyId(s) => ("x-api-key-id", s),
        };
        secret.header_value()?;
        Ok(Messages {
            client: client.clone(),
            base: format!("{}/v1/messages", base_url.trim_end_matches('/')),
            header: HeaderName::from_static(header),
            secret,
        })
    }

    /// Where message `id` is now. 404 comes back as [`ErrorClass::RowFatal`].
    pub async fn lookup(&self, id: &str) -> Result<MessageState, SendError> {
        let url = format!("{}/{}", self.base, urlencode(id));
        let answer = self.call(self.client.get(url)).await?;
        parse(&answer)
    }

    /// Asks the API to cancel up to [`CANCEL_BATCH`] scheduled messages.
    pub async fn cancel(&self, ids: &[String]) -> Result<CancelAnswer, SendError> {
        let request = self
            .client
            .delete(format!("{}/cancel", self.base))
            .json(&json!({ "messageIds": ids }));
        let answer = self.call(request).await?;
        parse(&answer)
    }

    /// One request; an answer too large to read is that request's problem, not a reason to
    /// ask again.
    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Answer, SendError> {
        let key = self.secret.header_value().map_err(|message| SendError {
            class: ErrorClass::CampaignFatal,
            http_status: None,
            code: "BAD_API_KEY".into(),
            message,
            retry_after: None,
        })?;
        let response = request
            .header(&self.header, key)
            .send()
            .await
            .map_err(|e| repeatable(http::transport_error(&e)))?;
        let answer = http::receive(response, ErrorClass::RowFatal)
            .await
            .map_err(repeatable)?;
        if (200..300).contains(&answer.status) {
            Ok(answer)
        } else {
            Err(http::rejection(&answer, classify))
        }
    }
}

/// The error table of the message endpoints: the key's problems stop the pass, a missing
/// message is that row's problem, and anything transient is tried again.
pub fn classify(status: u16, _code: Option<&str>) -> ErrorClass {
    match status {
        401 | 403 => ErrorClass::CampaignFatal,
        408 | 429 | 500..=599 => ErrorClass::Retryable,
        _ => ErrorClass::RowFatal,
    }
}

/// An id as a string or a whole number, the way [`http::id_text`] reads a send's.
fn id<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    http::id_text(&value)
        .ok_or_else(|| serde::de::Error::custom("an id must be a string or a whole number"))
}

/// A lookup or cancel whose answer was lost can simply be asked again.
fn repeatable(mut error: SendError) -> SendError {
    if error.class == ErrorClass::Ambiguous {
        error.class = ErrorClass::Retryable;
    }
    error
}

fn parse<T: for<'de> Deserialize<'de>>(answer: &Answer) -> Result<T, SendError> {
    serde_json::from_slice(&answer.body).map_err(|e| SendError {
        class: ErrorClass::RowFatal,
        http_status: Some(answer.status),
        code: "BAD_ANSWER".into(),
        message: format!("the API's answer could not be read: {e}"),
        retry_after: None,
    })
}

/// Ids are opaque; keep anything but unreserved characters out of the path.
fn urlencode(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_stops_on_auth_and_retries_the_transient() {
        assert_eq!(classify(401, None), ErrorClass::CampaignFatal);
        assert_eq!(classify(403, None), ErrorClass::CampaignFatal);
        assert_eq!(classify(404, None), ErrorClass::RowFatal);
        assert_eq!(classify(429, None), ErrorClass::Retryable);
        assert_eq!(classify(503, None), ErrorClass::Retryable);
        assert_eq!(classify(502, None), ErrorClass::Retryable);
        assert_eq!(urlencode("msg_01H/x y"), "msg_01H%2Fx%20y");
        let answer: CancelAnswer = serde_json::from_value::<CancelAnswer>(
            json!({"cancelled": 2, "notFound": 1, "failed": [{"id": "a", "reason": "SENT"}, {"id": 7}]}),
        )
        .unwrap();
        assert_eq!(answer.failed[0].id, "a");
        assert_eq!(
            answer.failed[1].id, "7",
            "a numeric id is read as its digits"
        );
        let state: MessageState =
            serde_json::from_value(json!({"id": 123, "status": "SENT"})).unwrap();
        assert_eq!(state.id, "123");
    }
}
