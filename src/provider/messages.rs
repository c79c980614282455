//! Pilot Status after the send: `GET /v1/messages/{id}` (where a message is) and
//! `DELETE /v1/messages/cancel` (cancel scheduled ones). See
//! the vendor's status, cancel and errors reference.
//!
//! Like the send client it only turns HTTP into typed answers: no retries, no sleeping, no
//! files. Both calls are safe to repeat (a lookup changes nothing, a second cancel of the
//! same id is refused), so unlike a send, a lost answer is simply retryable.

use std::time::Duration;

use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::json;

use super::http::{self, Answer, Api};
use super::{ErrorClass, SendError, untrusted};

/// The most ids one cancel request may carry.
pub const CANCEL_BATCH: usize = 100;

/// The most characters of a server's text (a status word, an error text, a timestamp) that
/// go into the results or a log line, as for a send's error texts: a hostile server's
/// 200 KB `errorMessage` must not become a 200 KB cell or log line.
pub const MAX_SHOWN: usize = 200;

/// The longest recorded message id asked about, in bytes. The API's ids are tens of
/// characters and a send records none over [`http::MAX_ID`]; a file written before that
/// limit may hold longer ones, which are still asked about up to here. A URL built from a
/// 64 KiB one cannot even be sent.
pub const MAX_ID_BYTES: usize = 1024;

/// Text from outside (the API's answers, a results file's cells) made fit for one results
/// cell and one log line, as a send's error texts are ([`untrusted::clean`]): control
/// characters (line breaks above all, which would let the text forge log lines) become
/// spaces, and past [`MAX_SHOWN`] characters it is cut, with `…`.
pub fn shown(text: &str) -> String {
    untrusted::clean(text, MAX_SHOWN)
}

/// Why a recorded message id cannot be asked about (results files written before sends
/// refused such ids may hold one): that row's problem, never the pass's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnusableId {
    #[error(
        "the recorded message id cannot be looked up or canceled: it is {0} bytes long, and \
         the API's ids are far shorter (at most {MAX_ID_BYTES} bytes are asked about)"
    )]
    TooLong(usize),
    #[error(
        "the recorded message id cannot be looked up or canceled: it holds control \
         characters (a line break, a tab), which no id of the API has"
    )]
    Control,
}

impl UnusableId {
    /// The code recorded in the row's `deliveryError`.
    pub const CODE: &str = "UNUSABLE_MESSAGE_ID";

    /// `Err` when `id` cannot be put in a lookup URL or a cancel request.
    pub fn check(id: &str) -> Result<(), UnusableId> {
        if id.len() > MAX_ID_BYTES {
            Err(UnusableId::TooLong(id.len()))
        } else if id.chars().any(char::is_control) {
            Err(UnusableId::Control)
        } else {
            Ok(())
        }
    }
}

impl From<UnusableId> for SendError {
    fn from(unusable: UnusableId) -> SendError {
        SendError {
            class: ErrorClass::RowFatal,
            http_status: None,
            code: UnusableId::CODE.into(),
            message: unusable.to_string(),
            retry_after: None,
        }
    }
}

/// A message as `GET /v1/messages/{id}` describes it (the fields we record, and the ids it
/// may be asked by).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageState {
    /// Required: an answer that does not say which message it describes is not read.
    #[serde(deserialize_with = "id")]
    pub id: String,
    /// The vendor documents lookups by `id`, `correlationId` or the WhatsApp id
    /// (`externalMessageId`): any of them naming the id asked about makes the answer its own.
    #[serde(default, deserialize_with = "optional_id")]
    pub correlation_id: Option<String>,
    #[serde(default, deserialize_with = "optional_id")]
    pub external_message_id: Option<String>,
    /// The API's word: QUEUED, SENT, DELIVERED, READ, FAILED or CANCELED.
    pub status: String,
    /// Not in the body: the answer's `Retry-After`, which holds the next request.
    #[serde(skip)]
    pub retry_after: Option<Duration>,
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
    /// Not in the body: the answer's `Retry-After`, which holds the next request.
    #[serde(skip)]
    pub retry_after: Option<Duration>,
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

    /// Where message `id` is now, its texts [`shown`]. Comes back as
    /// [`ErrorClass::RowFatal`] without asking for an [`UnusableId`], and after asking on a
    /// 404 or an answer about another message (`ANSWER_FOR_ANOTHER_ID`), which says nothing
    /// about this one.
    pub async fn lookup(&self, id: &str) -> Result<MessageState, SendError> {
        UnusableId::check(id)?;
        let url = self.api.url(&["v1", "messages", id]);
        let answer = (self.call(Method::GET, url, None).await).map_err(not_found)?;
        let mut state: MessageState = parse(&answer)?;
        state.retry_after = http::retry_after(&answer.headers);
        if !state.is_about(id) {
            return Err(SendError {
                class: ErrorClass::RowFatal,
                http_status: Some(answer.status),
                code: "ANSWER_FOR_ANOTHER_ID".into(),
                message: format!(
                    "asked about message {}, the API answered about message {}: not taken as \
                     this row's state",
                    shown(id),
                    shown(&state.id)
                ),
                // Whatever the body said, the answer's wait holds the next request.
                retry_after: state.retry_after,
            });
        }
        Ok(state.shown())
    }

    /// Asks the API to cancel up to [`CANCEL_BATCH`] scheduled messages (the caller leaves
    /// out [`UnusableId`]s); the refusals' reasons are [`shown`].
    pub async fn cancel(&self, ids: &[String]) -> Result<CancelAnswer, SendError> {
        let body = json!({ "messageIds": ids }).to_string().into_bytes();
        let url = self.cancel.clone();
        let answered = self.call(Method::DELETE, url, Some(body)).await?;
        let mut answer: CancelAnswer = parse(&answered)?;
        answer.retry_after = http::retry_after(&answered.headers);
        for refusal in &mut answer.failed {
            refusal.reason = shown(&refusal.reason);
        }
        Ok(answer)
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
            .map_err(|e| bounded(repeatable(e)))
    }
}

impl MessageState {
    /// Whether this answer describes message `id`: one of its ids is `id`.
    fn is_about(&self, id: &str) -> bool {
        self.id == id
            || self.correlation_id.as_deref() == Some(id)
            || self.external_message_id.as_deref() == Some(id)
    }

    /// The state with every text the results and the log take from it [`shown`].
    fn shown(self) -> MessageState {
        let some = |text: Option<String>| text.as_deref().map(shown);
        MessageState {
            status: shown(&self.status),
            delivered_at: some(self.delivered_at),
            read_at: some(self.read_at),
            error_message: some(self.error_message),
            ..self
        }
    }
}

/// The error table of the message endpoints: the key's problems stop the pass, a missing
/// message is that row's problem, and anything transient is tried again.
pub fn classify(status: u16, _code: Option<&str>, _asked_to_wait: bool) -> ErrorClass {
    match status {
        401 | 403 => ErrorClass::CampaignFatal,
        408 | 429 | 500..=599 => ErrorClass::Retryable,
        _ => ErrorClass::RowFatal,
    }
}

/// A lookup's 404 as the vendor documents it, "message not found within the key's scope",
/// whatever code its body gives (the body is not documented): `NOT_FOUND`, which `report`
/// and `status` count as a message the API does not know, not as a row never looked up.
fn not_found(error: SendError) -> SendError {
    match error.http_status {
        Some(404) => SendError {
            code: "NOT_FOUND".into(),
            ..error
        },
        _ => error,
    }
}

/// An id as a string or a whole number, the way [`http::id_text`] reads a send's.
fn id<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    http::id_text(value)
        .ok_or_else(|| serde::de::Error::custom("an id must be a string or a whole number"))
}

/// An optional id ([`id`]): absent or `null` is `None`, as is anything that is not an id.
fn optional_id<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(http::id_text(serde_json::Value::deserialize(deserializer)?))
}

/// The server's words in an error ([`shown`]): they go into the results and the log.
fn bounded(error: SendError) -> SendError {
    SendError {
        code: shown(&error.code),
        message: shown(&error.message),
        ..error
    }
}

/// A lookup or cancel whose answer was lost can simply be asked again.
fn repeatable(mut error: SendError) -> SendError {
    if error.class == ErrorClass::Ambiguous {
        error.class = ErrorClass::Retryable;
    }
    error
}

/// An answer read as `T`; one that is not (its error may quote the answer) is
/// `BAD_ANSWER`, that request's problem. Its `Retry-After` still holds the next request:
/// a body that cannot be read does not make the header unsaid.
fn parse<T: for<'de> Deserialize<'de>>(answer: &Answer) -> Result<T, SendError> {
    serde_json::from_slice(&answer.body).map_err(|e| SendError {
        class: ErrorClass::RowFatal,
        http_status: Some(answer.status),
        code: "BAD_ANSWER".into(),
        message: shown(&format!("the API's answer could not be read: {e}")),
        retry_after: http::retry_after(&answer.headers),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_stops_on_auth_and_retries_the_transient() {
        assert_eq!(classify(401, None, false), ErrorClass::CampaignFatal);
        assert_eq!(classify(403, None, false), ErrorClass::CampaignFatal);
        assert_eq!(classify(404, None, false), ErrorClass::RowFatal);
        assert_eq!(classify(429, None, false), ErrorClass::Retryable);
        assert_eq!(classify(503, None, false), ErrorClass::Retryable);
        assert_eq!(classify(502, None, false), ErrorClass::Retryable);
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

    #[test]
    fn shown_flattens_control_characters_and_caps_the_length() {
        assert_eq!(shown("WHATSAPP_NOT_EXIST"), "WHATSAPP_NOT_EXIST");
        assert_eq!(shown("a\r\nforged\tline\u{1b}"), "a  forged line ");
        let long = "é".repeat(MAX_SHOWN + 1);
        assert_eq!(shown(&long), format!("{}…", "é".repeat(MAX_SHOWN)));
        assert_eq!(
            shown(&long[2..]),
            "é".repeat(MAX_SHOWN),
            "exactly the cap is kept"
        );
    }

    #[test]
    fn an_id_too_long_or_with_control_characters_is_unusable() {
        assert_eq!(UnusableId::check("msg_1"), Ok(()));
        assert_eq!(UnusableId::check(&"x".repeat(MAX_ID_BYTES)), Ok(()));
        assert_eq!(
            UnusableId::check(&"x".repeat(65536)),
            Err(UnusableId::TooLong(65536))
        );
        assert_eq!(UnusableId::check("msg\n1"), Err(UnusableId::Control));
        let error = SendError::from(UnusableId::Control);
        assert_eq!(
            (error.class, error.code.as_str()),
            (ErrorClass::RowFatal, UnusableId::CODE)
        );
    }

    #[test]
    fn an_answer_that_cannot_be_read_still_asks_its_wait() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::RETRY_AFTER, "5".parse().unwrap());
        let answer = Answer {
            status: 200,
            headers,
            body: b"<html>maintenance</html>".to_vec(),
        };
        let error = parse::<CancelAnswer>(&answer).unwrap_err();
        assert_eq!(
            (error.code.as_str(), error.retry_after),
            ("BAD_ANSWER", Some(Duration::from_secs(5)))
        );
    }

    #[test]
    fn an_answer_is_about_the_id_asked_by_any_of_its_ids() {
        let state: MessageState = serde_json::from_value(json!({
            "id": "msg_1", "status": "SENT", "correlationId": "c-1",
            "externalMessageId": "wamid.1"
        }))
        .unwrap();
        for asked in ["msg_1", "c-1", "wamid.1"] {
            assert!(state.is_about(asked), "{asked}");
        }
        assert!(!state.is_about("msg_2"));
        let bare: MessageState =
            serde_json::from_value(json!({"id": "msg_1", "status": "SENT", "correlationId": null}))
                .unwrap();
        assert!(!bare.is_about(""), "a missing id matches nothing");
        assert!(
            serde_json::from_value::<MessageState>(json!({"status": "DELIVERED"})).is_err(),
            "an answer without an id is not read (the vendor documents `id` in every answer)"
        );
    }
}
