//! The provider-neutral message: what one CSV row asks to send, already validated.
//!
//! Input builds it, providers turn it into their own JSON body, the journal records its
//! destination. Keeping it free of any provider's field names is what lets a second
//! provider plug in without touching the runner.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value};

/// The most characters a WhatsApp text message (or a caption) holds: a cell, or a text as
/// its merge fields fill it, that is longer can never be delivered whole.
pub(crate) const MAX_CHARS: usize = 4096;

/// Where a message goes: exactly one per row, as the API demands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// E.164 with a leading `+` (normalized), or a BSUID such as `BR.13491208655302741918`.
    Phone(String),
    /// A WhatsApp group JID ending in `@g.us`.
    Group(String),
    /// A WhatsApp channel JID ending in `@newsletter`.
    Newsletter(String),
}

impl Destination {
    /// The value recorded in the results file and compared on resume.
    pub fn as_str(&self) -> &str {
        match self {
            Destination::Phone(s) | Destination::Group(s) | Destination::Newsletter(s) => s,
        }
    }

    /// The value as an owned string (its buffer, to be filled again).
    pub fn into_string(self) -> String {
        match self {
            Destination::Phone(s) | Destination::Group(s) | Destination::Newsletter(s) => s,
        }
    }
}

/// The media kinds WhatsApp understands; each provider says which it can send
/// ([`Capabilities::media_types`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    Image,
    Video,
    Document,
    Audio,
    /// A push-to-talk recording, distinct from an audio file on APIs that tell them apart.
    VoiceNote,
}

impl MediaType {
    /// Every accepted spelling, for error messages.
    pub const NAMES: &'static str = "image, video, document, audio";

    /// Whether a caption can go with it: never on sound, which WhatsApp plays, not shows.
    pub fn takes_caption(self) -> bool {
        !matches!(self, MediaType::Audio | MediaType::VoiceNote)
    }

    /// Parses the API's lower-case names (case-insensitive, spreadsheets capitalize).
    pub fn parse(s: &str) -> Option<MediaType> {
        match s.trim().to_ascii_lowercase().as_str() {
            "image" => Some(MediaType::Image),
            "video" => Some(MediaType::Video),
            "document" => Some(MediaType::Document),
            "audio" => Some(MediaType::Audio),
            "voice_note" => Some(MediaType::VoiceNote),
            _ => None,
        }
    }

    /// The API's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Image => "image",
            MediaType::Video => "video",
            MediaType::Document => "document",
            MediaType::Audio => "audio",
            MediaType::VoiceNote => "voice_note",
        }
    }
}

/// A media attachment: a public http(s) URL or a `data:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub url: String,
    /// Optional with a template (the API guesses from the URL), required in direct-media mode.
    pub kind: Option<MediaType>,
}

/// What is sent: mutually exclusive modes; a provider sends those its [`Capabilities`] list.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// An approved template, filled with the row's variables; `media` overrides its media;
    /// `contact_id` names a contact the API fills `contact.*` placeholders from.
    Template {
        id: String,
        media: Option<Media>,
        contact_id: Option<String>,
    },
    /// Free-form text (only inside the 24 h window on Meta numbers).
    Text { body: String },
    /// A media file on its own, with an optional caption (never on audio).
    Media {
        media: Media,
        caption: Option<String>,
    },
    /// A map pin, with an optional place name and address shown under it.
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
    },
    /// A contact card of a contact the API already knows, by its id.
    Contact { contact_id: String },
}

/// The direct (non-template) kinds of message, as a `type` setting or column names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectKind {
    Text,
    Media(MediaType),
    Location,
    Contact,
}

impl DirectKind {
    /// Every accepted spelling, for error messages.
    pub const NAMES: &'static str =
        "text, image, video, audio, voice_note, document, location, contact";

    /// Parses a type name (case-insensitive, spreadsheets capitalize).
    pub fn parse(s: &str) -> Option<DirectKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Some(DirectKind::Text),
            "location" => Some(DirectKind::Location),
            "contact" => Some(DirectKind::Contact),
            other => MediaType::parse(other).map(DirectKind::Media),
        }
    }
}

/// What a provider can carry. Settings and input validation check every message against
/// the chosen provider's description, so a provider's body builder only ever receives what
/// it can encode, and an unsupported option is refused before anything is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// The provider's name as `--provider` spells it, for error messages.
    pub name: &'static str,
    /// Group and channel destinations (`groupId`, `newsletterId`).
    pub groups: bool,
    /// BSUID destinations besides E.164 numbers.
    pub bsuid: bool,
    /// The media kinds of a direct media send.
    pub media_types: &'static [MediaType],
    /// A media URL overriding a template's own media.
    pub template_media: bool,
    /// Buttons, with their header and footer.
    pub buttons: bool,
    /// Conversation labels.
    pub labels: bool,
    /// `aiRewriteEnabled`.
    pub ai_rewrite: bool,
    /// `deliverAt` / `deliverUntil`.
    pub schedule: bool,
    /// Location pins.
    pub location: bool,
    /// Contact cards, and a contact id as a template's context.
    pub contact: bool,
    /// A `type` naming the direct kind of message.
    pub direct_type: bool,
    /// Template and contact ids must be UUIDs (checked locally so a typo never costs a send).
    pub uuid_ids: bool,
}

impl Capabilities {
    /// Whether `kind` can be sent directly.
    pub fn sends_media(&self, kind: MediaType) -> bool {
        self.media_types.contains(&kind)
    }

    /// The media kinds as a readable list, for error messages.
    pub fn media_names(&self) -> String {
        let names: Vec<&str> = self.media_types.iter().map(|m| m.as_str()).collect();
        names.join(", ")
    }
}

/// `deliverUntil` as the user wrote it: a fixed instant, or a span after each row's send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliverUntil {
    At(Timestamp),
    After(SignedDuration),
}

impl DeliverUntil {
    /// The least time a message is given to be delivered (a span, or an instant's distance
    /// from the send or from `deliverAt`): one that expires in milliseconds or seconds
    /// fails before WhatsApp can deliver it, so a typo such as `1ms`, or `30s` meant as
    /// minutes, would burn every message of the list.
    pub const SHORTEST: SignedDuration = SignedDuration::from_mins(1);
}

/// Interactive extras for template and text sends (never direct media).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Interactive {
    /// Up to 3 buttons, as the JSON array the user gave.
    pub buttons: Option<Vec<Value>>,
    /// A header object (`{"type":"text","content":"..."}`); only with buttons.
    pub header: Option<Value>,
    /// Footer text of at most 60 characters; only with buttons.
    pub footer: Option<String>,
}

/// One validated message, ready for any provider to encode.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub destination: Destination,
    pub content: Content,
    /// Template variables from the row's extra columns, in column order; empty cells omitted
    /// so the API's own missing-variable check fires instead of a blank being sent.
    pub variables: Map<String, Value>,
    pub interactive: Interactive,
    pub labels: Vec<String>,
    pub ai_rewrite: bool,
    pub deliver_at: Option<Timestamp>,
    pub deliver_until: Option<DeliverUntil>,
}

impl Message {
    /// The absolute `deliverUntil` for a send starting at `now`: a span counts from the
    /// scheduled `deliverAt` when there is one, else from the send itself.
    pub fn deliver_until_at(&self, now: Timestamp) -> Option<Timestamp> {
        match self.deliver_until? {
            DeliverUntil::At(t) => Some(t),
            DeliverUntil::After(span) => {
                let start = self.deliver_at.map_or(now, |at| at.max(now));
                start.checked_add(span).ok()
            }
        }
    }
}

/// A value serialized as its text (`Display`), such as an instant in a request body, without
/// building the string first.
pub struct AsText<T>(pub T);

impl<T: std::fmt::Display> serde::Serialize for AsText<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}
