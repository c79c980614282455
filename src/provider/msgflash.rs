//! MsgFlash: `POST {base}/api/v1/messages/send`, authenticated by `x-api-key`, from one
//! WhatsApp instance. See the vendor's send documentation.

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use reqwest::Url;

use super::ErrorClass;
use super::http::{self, Api};
use super::{BoxFuture, Provider, SendOutcome};
use crate::message::{Capabilities, Content, MediaType, Message};

/// The production API.
pub const DEFAULT_BASE_URL: &str = "https://srv.msgflash.com";

/// What the send doc offers: numbers only, every direct type, templates with a contact
/// context; no buttons, labels, scheduling or AI rewrite.
pub const CAPABILITIES: Capabilities = Capabilities {
    name: "msgflash",
    groups: false,
    bsuid: false,
    media_types: &[
        MediaType::Image,
        MediaType::Video,
        MediaType::Audio,
        MediaType::VoiceNote,
        MediaType::Document,
    ],
    template_media: false,
    buttons: false,
    labels: false,
    ai_rewrite: false,
    schedule: false,
    location: true,
    contact: true,
    direct_type: true,
    uuid_ids: true,
};

/// A MsgFlash client for one instance.
pub struct MsgFlash {
    api: Api,
    /// Built once: the same for every send.
    send: Url,
    instance_id: String,
}

impl MsgFlash {
    /// Sends through `api` (its address, key and client) from the WhatsApp instance
    /// `instance_id`.
    pub fn new(api: Api, instance_id: &str) -> MsgFlash {
        let send = api.url(&["api", "v1", "messages", "send"]);
        MsgFlash {
            api,
            send,
            instance_id: instance_id.to_string(),
        }
    }
}

/// The whole MsgFlash error table. The code decides before the status: the monthly quota
/// comes as a 429 but is not a rate limit, and retrying it would loop until next month.
pub fn classify(status: u16, code: Option<&str>) -> ErrorClass {
    match (status, code) {
        // The account cannot send at all until a human acts.
        (_, Some("SUBSCRIPTION_INACTIVE" | "MONTHLY_OUTBOUND_QUOTA_EXCEEDED")) => {
            ErrorClass::CampaignFatal
        }
        (401 | 403, _) => ErrorClass::CampaignFatal,
        // A plain rate limit or a pause: definitely not processed.
        (429 | 503, _) => ErrorClass::Retryable,
        // A proxy gave up waiting: the API may have processed it.
        (408, _) => ErrorClass::Ambiguous,
        // VALIDATION_ERROR, TEMPLATE_*, NOT_FOUND and any other refusal of this row.
        (400..=499, _) => ErrorClass::RowFatal,
        // 500, 502, 504 and the rest: the send may have happened.
        _ => ErrorClass::Ambiguous,
    }
}

impl Provider for MsgFlash {
    fn name(&self) -> &'static str {
        CAPABILITIES.name
    }

    fn body(&self, message: &Message, _now: Timestamp) -> Value {
        body(&self.instance_id, message)
    }

    fn send<'a>(&'a self, body: &'a Value) -> BoxFuture<'a, SendOutcome> {
        Box::pin(async move {
            let answer = self.api.post(&self.send, body, classify).await?;
            http::accepted(&answer, &answer.json()["data"]["id"], &Value::Null)
        })
    }
}

/// The JSON body of the send doc: `templateId` (+ `variables`, `contactId`) or a `type` with
/// its own fields. Options MsgFlash lacks never get here: settings and input refuse them
/// against [`CAPABILITIES`].
pub fn body(instance_id: &str, message: &Message) -> Value {
    let mut body = Map::new();
    body.insert("instanceId".into(), json!(instance_id));
    body.insert("to".into(), json!(message.destination.as_str()));
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            body.insert(key.into(), value);
        }
    };
    match &message.content {
        Content::Template { id, contact_id, .. } => {
            put("templateId", Some(json!(id)));
            let variables =
                (!message.variables.is_empty()).then(|| Value::Object(message.variables.clone()));
            put("variables", variables);
            put("contactId", contact_id.as_ref().map(|c| json!(c)));
        }
        Content::Text { body: text } => {
            put("type", Some(json!("text")));
            put("text", Some(json!(text)));
        }
        Content::Media { media, caption } => {
            // Always set for direct media (validation requires it).
            put("type", media.kind.map(|k| json!(k.as_str())));
            put("mediaUrl", Some(json!(media.url)));
            put("text", caption.as_ref().map(|c| json!(c)));
        }
        Content::Location {
            latitude,
            longitude,
            name,
            address,
        } => {
            put("type", Some(json!("location")));
            put("latitude", Some(json!(latitude)));
            put("longitude", Some(json!(longitude)));
            put("locationName", name.as_ref().map(|n| json!(n)));
            put("locationAddress", address.as_ref().map(|a| json!(a)));
        }
        Content::Contact { contact_id } => {
            put("type", Some(json!("contact")));
            put("contactId", Some(json!(contact_id)));
        }
    }
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_table_follows_the_doc() {
        use ErrorClass::*;
        let table = [
            (400, Some("VALIDATION_ERROR"), RowFatal),
            (400, Some("TEMPLATE_INVALID"), RowFatal),
            (400, Some("TEMPLATE_VARIABLES_MISSING"), RowFatal),
            (400, Some("TEMPLATE_CONTEXT_UNAVAILABLE"), RowFatal),
            (404, Some("NOT_FOUND"), RowFatal),
            (403, Some("SUBSCRIPTION_INACTIVE"), CampaignFatal),
            (429, Some("MONTHLY_OUTBOUND_QUOTA_EXCEEDED"), CampaignFatal),
            (429, Some("RATE_LIMITED"), Retryable),
            (429, None, Retryable),
            (401, None, CampaignFatal),
            (503, None, Retryable),
            (500, None, Ambiguous),
            (502, None, Ambiguous),
            (504, None, Ambiguous),
            (408, None, Ambiguous),
        ];
        for (status, code, class) in table {
            assert_eq!(classify(status, code), class, "HTTP {status} {code:?}");
        }
    }
}
