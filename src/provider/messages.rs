//! Pilot Status after the send: `GET /v1/messages/{id}` (where a message is) and
//! `DELETE /v1/messages/cancel` (cancel scheduled ones). See
//! the vendor's status, cancel and errors reference.
//!
//! Like the send client it only turns HTTP into typed answers: no retries, no sleeping, no
//! files. Both calls are safe to repeat (a lookup changes nothing, a second cancel of the
//! same id is refused), so unlike a send, a lost answer is simply retryable.

use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::json;

use super::http::{self, Answer, Api};
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
    api: Api,
    /// Built once: the same for every batch.
    cancel: Url,
}

impl Messages {
    /// Asks through `api` (its address, key and client).
    pub fn new(api: Api) -> Messages {
        let cancel = api.url(&["v1", "messages", "cancel"]);
        Messages { api, cancel }
    }

    /// Where message `id` is now. 404 comes back as [`ErrorClass::RowFatal`].
    pub async fn lookup(&self, id: &str) -> Result<MessageState, SendError> {
        let url = self.api.url(&["v1", "messages", id]);
        parse(&self.call(Method::GET, url, None).await?)
    }

    /// Asks the API to cancel up to [`CANCEL_BATCH`] scheduled messages.
    pub async fn cancel(&self, ids: &[String]) -> Result<CancelAnswer, SendError> {
        let body = json!({ "messageIds": ids }).to_string().into_bytes();
        let url = self.cancel.clone();
        parse(&self.call(Method::DELETE, url, Some(body)).await?)
    }

    /// One request; an answer too large to read is that request's problem, not a reason to
    /// ask again, and a lost answer is simply asked again.
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, SendError> {
        (self.api)
            .exchange(method, url, body, ErrorClass::RowFatal, classify)
            .await
            .map_err(repeatable)
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
    http::id_text(value)
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
