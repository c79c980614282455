//! MsgFlash: `POST {base}/api/v1/messages/send`, authenticated by `x-api-key`, from one
//! WhatsApp instance. See the vendor's send documentation.

use jiff::Timestamp;
use serde_json::Value;

use reqwest::Url;

use super::http::{self, Api};
use super::json::Object;
use super::{BoxFuture, Provider, SendOutcome};
use super::{ErrorClass, MessageSetting};
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
pub fn classify(status: u16, code: Option<&str>, asked_to_wait: bool) -> ErrorClass {
    match (status, code) {
        // The account cannot send at all until a human acts.
        // Only a refusal (4xx) says so: a 5xx naming them may still have been processed.
        (400..=499, Some("SUBSCRIPTION_INACTIVE" | "MONTHLY_OUTBOUND_QUOTA_EXCEEDED")) => {
            ErrorClass::CampaignFatal
        }
        (401 | 403, _) => ErrorClass::CampaignFatal,
        // A plain rate limit or a pause: definitely not processed.
        (429, _) => ErrorClass::Retryable,
        // A 503 with a Retry-After is the API shedding load: not processed. One without
        // may be a proxy's answer after it forwarded the request (a platform's request
        // timeout), so it falls through to "may have happened" below.
        (503, _) if asked_to_wait => ErrorClass::Retryable,
        // A proxy gave up waiting: the API may have processed it.
        (408, _) => ErrorClass::Ambiguous,
        // An invalid template: the campaign's, unless the row named its own.
        (400, Some("TEMPLATE_INVALID")) => ErrorClass::Setting(MessageSetting::Template),
        // A template, instance or contact not found: which one, the answer does not say.
        (404, Some("NOT_FOUND")) => ErrorClass::Setting(MessageSetting::Addressed),
        // VALIDATION_ERROR, the other TEMPLATE_* and any other refusal of this row.
        (400..=499, _) => ErrorClass::RowFatal,
        // 500, 502, 504 and the rest: the send may have happened.
        _ => ErrorClass::Ambiguous,
    }
}

impl Provider for MsgFlash {
    fn name(&self) -> &'static str {
        CAPABILITIES.name
    }

    fn write_body(&self, message: &Message, _now: Timestamp, out: &mut Vec<u8>) {
        let body = Body {
            instance_id: &self.instance_id,
            message,
        };
        body.write(out);
    }

    fn send(&self, body: Vec<u8>) -> BoxFuture<'_, SendOutcome> {
        Box::pin(async move {
            let answer = self.api.post(&self.send, body, classify).await?;
            let accepted: Accepted = answer.read();
            http::accepted(
                &answer,
                http::Ids {
                    // MsgFlash has no correlation id; a field of that name is not one.
                    correlation_id: Value::Null,
                    ..accepted.data
                },
            )
        })
    }
}

/// A 2xx answer of the send doc: the message, id included, under `data`.
#[derive(Default, serde::Deserialize)]
struct Accepted {
    #[serde(default)]
    data: http::Ids,
}

/// The JSON body of the send doc, serialized straight from the message: `templateId` (+
/// `variables`, `contactId`) or a `type` with its own fields. Options MsgFlash lacks never
/// get here: settings and input refuse them against [`CAPABILITIES`].
pub struct Body<'a> {
    pub instance_id: &'a str,
    pub message: &'a Message,
}

impl Body<'_> {
    /// Writes the body at the end of `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        let message = self.message;
        let mut body = Object::new(out);
        body.str("instanceId", self.instance_id);
        body.str("to", message.destination.as_str());
        match &message.content {
            Content::Template { id, contact_id, .. } => {
                body.str("templateId", id);
                if !message.variables.is_empty() {
                    body.map("variables", &message.variables);
                }
                if let Some(contact_id) = contact_id {
                    body.str("contactId", contact_id);
                }
            }
            Content::Text { body: text } => {
                body.str("type", "text");
                body.str("text", text);
            }
            Content::Media { media, caption } => {
                // Always set for direct media (validation requires it).
                if let Some(kind) = media.kind {
                    body.str("type", kind.as_str());
                }
                body.str("mediaUrl", &media.url);
                if let Some(caption) = caption {
                    body.str("text", caption);
                }
            }
            Content::Location {
                latitude,
                longitude,
                name,
                address,
            } => {
                body.str("type", "location");
                body.value("latitude", latitude);
                body.value("longitude", longitude);
                if let Some(name) = name {
                    body.str("locationName", name);
                }
                if let Some(address) = address {
                    body.str("locationAddress", address);
                }
            }
            Content::Contact { contact_id } => {
                body.str("type", "contact");
                body.str("contactId", contact_id);
            }
        }
        body.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_table_follows_the_doc() {
        use ErrorClass::*;
        let table = [
            (400, Some("VALIDATION_ERROR"), RowFatal),
            (
                400,
                Some("TEMPLATE_INVALID"),
                Setting(MessageSetting::Template),
            ),
            (400, Some("TEMPLATE_VARIABLES_MISSING"), RowFatal),
            (400, Some("TEMPLATE_CONTEXT_UNAVAILABLE"), RowFatal),
            (404, Some("NOT_FOUND"), Setting(MessageSetting::Addressed)),
            (404, None, RowFatal),
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
            assert_eq!(
                classify(status, code, true),
                class,
                "HTTP {status} {code:?}"
            );
        }
        assert_eq!(classify(503, None, false), Ambiguous, "no Retry-After");
    }
}
