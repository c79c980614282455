//! Pilot Status: `POST {base}/v1/messages/send`, authenticated by `x-api-key` (or
//! `x-api-key-id`), never `Authorization`. See the vendor's send reference.

use jiff::Timestamp;

use reqwest::Url;

use super::http::{self, Api};
use super::json::Object;
use super::{BoxFuture, Provider, SendOutcome};
use super::{ErrorClass, MessageSetting};
use crate::message::{AsText, Capabilities, Content, Destination, MediaType, Message};

/// The production API.
pub const DEFAULT_BASE_URL: &str = "https://pilotstatus.com.br";

/// Everything the send reference documents; no voice notes, locations or contact cards.
pub const CAPABILITIES: Capabilities = Capabilities {
    name: "pilot-status",
    groups: true,
    bsuid: true,
    media_types: &[
        MediaType::Image,
        MediaType::Video,
        MediaType::Document,
        MediaType::Audio,
    ],
    template_media: true,
    buttons: true,
    labels: true,
    ai_rewrite: true,
    schedule: true,
    location: false,
    contact: false,
    direct_type: false,
    uuid_ids: false,
};

/// A Pilot Status client for one number-scoped key (`x-api-key` or `x-api-key-id`).
pub struct PilotStatus {
    api: Api,
    /// Built once: the same for every send.
    send: Url,
}

impl PilotStatus {
    /// Sends through `api` (its address, key and client).
    pub fn new(api: Api) -> PilotStatus {
        let send = api.url(&["v1", "messages", "send"]);
        PilotStatus { api, send }
    }
}

/// The whole Pilot Status error table: what each answer means for the campaign.
pub fn classify(status: u16, code: Option<&str>, asked_to_wait: bool) -> ErrorClass {
    match (status, code) {
        // "Template not found or without an approved version" (the send reference's only
        // 404): the campaign's template, unless the row named its own.
        (404, _) => ErrorClass::Setting(MessageSetting::Template),
        // Media needs a paid plan (the send guide): the campaign's media, unless the row's.
        (402, Some("SUBSCRIPTION_REQUIRED_FOR_MEDIA")) => {
            ErrorClass::Setting(MessageSetting::Media)
        }
        // The row itself was refused: bad payload, another paid feature.
        (400 | 402, _) => ErrorClass::RowFatal,
        // Key, scope or billing: nothing else can succeed until a human fixes it.
        (401 | 403 | 422, _) => ErrorClass::CampaignFatal,
        // Definitely not processed; come back later.
        (429, _) => ErrorClass::Retryable,
        // A 503 with a Retry-After is the API shedding load: not processed. One without
        // may be a proxy's answer after it forwarded the request (a platform's request
        // timeout), so it falls through to "may have happened" below.
        (503, _) if asked_to_wait => ErrorClass::Retryable,
        // A proxy gave up waiting: the API may have processed it.
        (408, _) => ErrorClass::Ambiguous,
        // Any other refusal of the request.
        (405..=499, _) => ErrorClass::RowFatal,
        // 500, 502, 504 and the rest: the send may have happened.
        _ => ErrorClass::Ambiguous,
    }
}

impl Provider for PilotStatus {
    fn name(&self) -> &'static str {
        "pilot-status"
    }

    fn write_body(&self, message: &Message, now: Timestamp, out: &mut Vec<u8>) {
        Body { message, now }.write(out);
    }

    fn send(&self, body: Vec<u8>) -> BoxFuture<'_, SendOutcome> {
        Box::pin(async move {
            let answer = self.api.post(&self.send, body, classify).await?;
            http::accepted(&answer, answer.read())
        })
    }
}

/// The JSON body of the send reference, serialized straight from the message (no map of
/// its own: `--dry-run` writes a million of them). Variables, buttons, header and labels go
/// as JSON values (object/array), not as JSON-in-a-string: the reference types them
/// `string`, but its own request example and the guide send an object, which is what the
/// API parses.
pub struct Body<'a> {
    pub message: &'a Message,
    /// When the send starts, for a `deliverUntil` given as a span.
    pub now: Timestamp,
}

impl Body<'_> {
    /// Writes the body at the end of `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        let message = self.message;
        let mut body = Object::new(out);
        let (field, value) = match &message.destination {
            Destination::Phone(v) => ("destinationNumber", v),
            Destination::Group(v) => ("groupId", v),
            Destination::Newsletter(v) => ("newsletterId", v),
        };
        body.str(field, value);
        match &message.content {
            Content::Template { id, media, .. } => {
                body.str("templateId", id);
                if !message.variables.is_empty() {
                    body.map("variables", &message.variables);
                }
                if let Some(media) = media {
                    body.str("media", &media.url);
                    if let Some(kind) = media.kind {
                        body.str("mediaType", kind.as_str());
                    }
                }
            }
            Content::Text { body: text } => body.str("text", text),
            Content::Media { media, caption } => {
                body.str("media", &media.url);
                if let Some(kind) = media.kind {
                    body.str("mediaType", kind.as_str());
                }
                if let Some(caption) = caption {
                    body.str("caption", caption);
                }
            }
            // Refused by validation against CAPABILITIES: never built for this API.
            Content::Location { .. } | Content::Contact { .. } => {
                debug_assert!(false, "pilot-status cannot send {:?}", message.content);
            }
        }
        let extras = &message.interactive;
        if let Some(buttons) = &extras.buttons {
            body.value("buttons", buttons);
        }
        if let Some(header) = &extras.header {
            body.value("header", header);
        }
        if let Some(footer) = &extras.footer {
            body.str("footer", footer);
        }
        if !message.labels.is_empty() {
            body.value("labels", &message.labels);
        }
        if message.ai_rewrite {
            body.value("aiRewriteEnabled", &true);
        }
        if let Some(at) = message.deliver_at {
            body.value("deliverAt", &AsText(at));
        }
        if let Some(until) = message.deliver_until_at(self.now) {
            body.value("deliverUntil", &AsText(until));
        }
        body.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_table_follows_the_reference() {
        use ErrorClass::*;
        let table = [
            (400, RowFatal),
            (402, RowFatal),
            (404, Setting(MessageSetting::Template)),
            (401, CampaignFatal),
            (403, CampaignFatal),
            (422, CampaignFatal),
            (429, Retryable),
            (503, Retryable),
            (500, Ambiguous),
            (502, Ambiguous),
            (504, Ambiguous),
            (408, Ambiguous),
            (409, RowFatal),
        ];
        for (status, class) in table {
            assert_eq!(classify(status, None, true), class, "HTTP {status}");
        }
        assert_eq!(classify(503, None, false), Ambiguous, "no Retry-After");
        assert_eq!(
            classify(404, Some("TEMPLATE_NOT_FOUND"), true),
            Setting(MessageSetting::Template)
        );
        assert_eq!(
            classify(402, Some("SUBSCRIPTION_REQUIRED_FOR_MEDIA"), true),
            Setting(MessageSetting::Media)
        );
    }
}
