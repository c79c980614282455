//! What a campaign sets for every message and how the file is read: the options the CLI and
//! the campaign file turn into.

use std::sync::Arc;

use super::Suppression;
use crate::message::Capabilities;

/// Campaign-level message settings, as flags (`--media-type`) and campaign-file keys
/// (`media-type`): the one definition of the message fields a campaign may set. Raw strings,
/// checked by [`validate_defaults`] at start-up; a non-empty CSV cell in a column of the
/// field's API name (see [`validate::Field`](super::validate::Field)) overrides the value for that row. Unset is
/// `None`, so a flag can be laid over the campaign file's value ([`MessageDefaults::over`]).
#[derive(Debug, Clone, Default, clap::Args, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct MessageDefaults {
    /// Template id or name (template mode).
    #[arg(long = "template", value_name = "ID", help_heading = "Message")]
    #[serde(rename = "template")]
    pub template_id: Option<String>,

    /// Free-form text (text mode; Meta numbers: only inside the 24 h window).
    #[arg(long, value_name = "TEXT", help_heading = "Message")]
    pub text: Option<String>,

    /// Media URL or data: URI (direct-media mode, or a template's media).
    #[arg(long, value_name = "URL", help_heading = "Message")]
    pub media: Option<String>,

    /// image, video, document or audio.
    #[arg(long, value_name = "TYPE", help_heading = "Message")]
    pub media_type: Option<String>,

    /// Caption for image, video or document (not audio).
    #[arg(long, value_name = "TEXT", help_heading = "Message")]
    pub caption: Option<String>,

    /// Up to 3 buttons, as a JSON array.
    #[arg(long, value_name = "JSON", help_heading = "Message")]
    pub buttons: Option<String>,

    /// Header object (with buttons), e.g. '{"type":"text","content":"Oferta"}'.
    #[arg(long, value_name = "JSON", help_heading = "Message")]
    pub header: Option<String>,

    /// Footer text, at most 60 characters (with buttons).
    #[arg(long, value_name = "TEXT", help_heading = "Message")]
    pub footer: Option<String>,

    /// Labels for the conversation, comma-separated.
    #[arg(long, value_name = "a,b", help_heading = "Message")]
    pub labels: Option<String>,

    // CampaignOptions makes it a switch: `--ai-rewrite` alone means true.
    /// Let the API vary MARKETING template text (anti-spam); --ai-rewrite=false overrides the campaign file.
    #[arg(long, value_name = "BOOL", help_heading = "Message")]
    pub ai_rewrite: Option<bool>,

    /// MsgFlash: the direct type (text, image, video, audio, voice_note, document, location, contact).
    #[arg(long = "type", value_name = "TYPE", help_heading = "Message")]
    #[serde(rename = "type")]
    pub message_type: Option<String>,

    /// MsgFlash: latitude of a location, in decimal degrees.
    #[arg(
        long,
        value_name = "DEG",
        allow_hyphen_values = true,
        help_heading = "Message"
    )]
    #[serde(default, deserialize_with = "degrees")]
    pub latitude: Option<String>,

    /// MsgFlash: longitude of a location, in decimal degrees.
    #[arg(
        long,
        value_name = "DEG",
        allow_hyphen_values = true,
        help_heading = "Message"
    )]
    #[serde(default, deserialize_with = "degrees")]
    pub longitude: Option<String>,

    /// MsgFlash: name shown with a location.
    #[arg(long, value_name = "TEXT", help_heading = "Message")]
    pub location_name: Option<String>,

    /// MsgFlash: address shown with a location.
    #[arg(long, value_name = "TEXT", help_heading = "Message")]
    pub location_address: Option<String>,

    /// MsgFlash: contact (UUID) to send as a card, or a template's contact context.
    #[arg(long, value_name = "UUID", help_heading = "Message")]
    pub contact_id: Option<String>,

    /// Schedule delivery (RFC 3339, e.g. 2026-06-21T09:00:00-03:00).
    #[arg(long, value_name = "TIME", help_heading = "Message")]
    #[serde(default, deserialize_with = "time")]
    pub deliver_at: Option<String>,

    /// Delivery deadline: RFC 3339, or a span after each row's send such as 4h; at least a
    /// minute ahead (1m), or the message expires before it can be delivered.
    #[arg(long, value_name = "TIME|SPAN", help_heading = "Message")]
    #[serde(default, deserialize_with = "time")]
    pub deliver_until: Option<String>,
}

impl MessageDefaults {
    /// These values laid over `under` (a flag over the campaign file's value): each field set
    /// here wins, each unset one is taken from `under`.
    pub fn over(self, under: MessageDefaults) -> MessageDefaults {
        MessageDefaults {
            template_id: self.template_id.or(under.template_id),
            text: self.text.or(under.text),
            media: self.media.or(under.media),
            media_type: self.media_type.or(under.media_type),
            caption: self.caption.or(under.caption),
            buttons: self.buttons.or(under.buttons),
            header: self.header.or(under.header),
            footer: self.footer.or(under.footer),
            labels: self.labels.or(under.labels),
            ai_rewrite: self.ai_rewrite.or(under.ai_rewrite),
            message_type: self.message_type.or(under.message_type),
            latitude: self.latitude.or(under.latitude),
            longitude: self.longitude.or(under.longitude),
            location_name: self.location_name.or(under.location_name),
            location_address: self.location_address.or(under.location_address),
            contact_id: self.contact_id.or(under.contact_id),
            deliver_at: self.deliver_at.or(under.deliver_at),
            deliver_until: self.deliver_until.or(under.deliver_until),
        }
    }
}

/// A coordinate in a campaign file, written as a TOML number (`-23.5613`) or as text: kept
/// as text, so a flag, a file and a CSV cell are all parsed by the same rule.
fn degrees<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    struct Degrees;
    impl serde::de::Visitor<'_> for Degrees {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("decimal degrees, such as -23.5613")
        }
        fn visit_f64<E>(self, v: f64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_str<E>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
    }
    deserializer.deserialize_any(Degrees).map(Some)
}

/// A time in a campaign file, written as text or as a TOML date-time (unquoted,
/// `2027-12-25T09:00:00-03:00`): kept as its RFC 3339 text, so a flag, a file and a CSV cell
/// are all parsed by the same rule (a local date-time without an offset is refused there,
/// saying to add one).
fn time<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged, expecting = "a time, such as \"2027-12-25T09:00:00-03:00\"")]
    enum Time {
        Text(String),
        Toml(toml::value::Datetime),
    }
    Ok(Some(match serde::Deserialize::deserialize(deserializer)? {
        Time::Text(text) => text,
        Time::Toml(time) => time.to_string(),
    }))
}

/// How to read the campaign file: the CLI flags that shape input.
#[derive(Debug, Clone)]
pub struct InputOptions {
    /// `--phone-column NAME`: the phone column when it is not called destinationNumber/phone/to.
    pub phone_column: Option<String>,
    pub defaults: MessageDefaults,
    /// Injected clock: "deliverUntil already past" is judged against it.
    pub now: jiff::Timestamp,
    /// `--default-country BR`: the country of phone numbers written without a country code.
    pub default_country: Option<String>,
    /// `--delimiter`; `None` = detect from the header line (`,` `;` tab `|`).
    pub delimiter: Option<u8>,
    /// `--encoding NAME` (any WHATWG label); `None` = UTF-8, falling back to Windows-1252.
    pub encoding: Option<String>,
    /// `--opt-out FILE...` loaded by [`load_suppression`]; shared, as it may be large.
    pub suppression: Option<Arc<Suppression>>,
    /// What the chosen provider can send: rows asking for more are refused before sending.
    pub capabilities: &'static Capabilities,
    /// `--window`: a row scheduled (`deliverAt`) outside it is refused, not delivered at
    /// night.
    pub window: Option<crate::window::SendWindow>,
}
