//! The provider-neutral message: what one CSV row asks to send, already validated.
//!
//! Input builds it, providers turn it into their own JSON body, the journal records its
//! destination. Keeping it free of any provider's field names is what lets a second
//! provider plug in without touching the runner.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value};

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
}

/// The four media kinds both the API and WhatsApp understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    Image,
    Video,
    Document,
    Audio,
}

impl MediaType {
    /// Every accepted spelling, for error messages.
    pub const NAMES: &'static str = "image, video, document, audio";

    /// Parses the API's lower-case names (case-insensitive, spreadsheets capitalize).
    pub fn parse(s: &str) -> Option<MediaType> {
        match s.trim().to_ascii_lowercase().as_str() {
            "image" => Some(MediaType::Image),
            "video" => Some(MediaType::Video),
            "document" => Some(MediaType::Document),
            "audio" => Some(MediaType::Audio),
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

/// What is sent: the API's three mutually exclusive modes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// An approved template, filled with the row's variables; `media` overrides its media.
    Template { id: String, media: Option<Media> },
    /// Free-form text (only inside the 24 h window on Meta numbers).
    Text { body: String },
    /// A media file on its own, with an optional caption (never on audio).
    Media {
        media: Media,
        caption: Option<String>,
    },
}

/// `deliverUntil` as the user wrote it: a fixed instant, or a span after each row's send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliverUntil {
    At(Timestamp),
    After(SignedDuration),
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
