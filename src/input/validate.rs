//! Per-field and per-message rules of the send API, shared by the campaign defaults and
//! every CSV row so that a flag and a cell are judged by exactly the same code.

use std::fmt;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::MessageDefaults;
use crate::ids::is_uuid;
use crate::message::{
    Capabilities, Content, DeliverUntil, DirectKind, Interactive, Media, MediaType,
};

/// Why one row (or one campaign-level setting) cannot be sent: the results file shows it
/// to the person who has to fix the spreadsheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The column or API field at fault (`templateId`, the phone column's own name, `row`).
    pub field: String,
    /// A stable code for filtering and counting.
    pub code: RowErrorCode,
    /// What is wrong with the value and how to fix it.
    pub message: String,
}

impl RowError {
    pub(crate) fn new(
        field: impl Into<String>,
        code: RowErrorCode,
        message: impl Into<String>,
    ) -> Self {
        RowError {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field {}: {}", self.field, self.message)
    }
}

impl std::error::Error for RowError {}

/// Stable machine-readable reasons, written to the results file next to the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowErrorCode {
    InvalidDestination,
    MissingDestination,
    MultipleDestinations,
    MissingMode,
    ConflictingModes,
    InvalidMedia,
    InvalidMediaType,
    CaptionNotAllowed,
    /// buttons/header/footer in direct-media mode, which the API forbids.
    NotAllowedWithMedia,
    InvalidButtons,
    TooManyButtons,
    InvalidHeader,
    HeaderWithoutButtons,
    FooterWithoutButtons,
    FooterTooLong,
    InvalidTimestamp,
    DeliverUntilNotAfterDeliverAt,
    DeliverUntilPast,
    MalformedRow,
    InvalidEncoding,
    DuplicateDestination,
    OptedOut,
    /// A field the chosen provider cannot send (e.g. buttons with msgflash).
    NotSupported,
    /// A field the chosen kind of message needs is empty (e.g. latitude for a location).
    MissingField,
    /// Coordinates that are not numbers within range.
    InvalidLocation,
    /// An id the provider requires as a UUID is not one.
    InvalidId,
    /// A `type` that is not a kind of message.
    InvalidType,
}

impl RowErrorCode {
    /// The SCREAMING_SNAKE_CASE spelling used in results files and logs.
    pub fn as_str(self) -> &'static str {
        use RowErrorCode::*;
        match self {
            InvalidDestination => "INVALID_DESTINATION",
            MissingDestination => "MISSING_DESTINATION",
            MultipleDestinations => "MULTIPLE_DESTINATIONS",
            MissingMode => "MISSING_MODE",
            ConflictingModes => "CONFLICTING_MODES",
            InvalidMedia => "INVALID_MEDIA",
            InvalidMediaType => "INVALID_MEDIA_TYPE",
            CaptionNotAllowed => "CAPTION_NOT_ALLOWED",
            NotAllowedWithMedia => "NOT_ALLOWED_WITH_MEDIA",
            InvalidButtons => "INVALID_BUTTONS",
            TooManyButtons => "TOO_MANY_BUTTONS",
            InvalidHeader => "INVALID_HEADER",
            HeaderWithoutButtons => "HEADER_WITHOUT_BUTTONS",
            FooterWithoutButtons => "FOOTER_WITHOUT_BUTTONS",
            FooterTooLong => "FOOTER_TOO_LONG",
            InvalidTimestamp => "INVALID_TIMESTAMP",
            DeliverUntilNotAfterDeliverAt => "DELIVER_UNTIL_NOT_AFTER_DELIVER_AT",
            DeliverUntilPast => "DELIVER_UNTIL_PAST",
            MalformedRow => "MALFORMED_ROW",
            InvalidEncoding => "INVALID_ENCODING",
            DuplicateDestination => "DUPLICATE_DESTINATION",
            OptedOut => "OPTED_OUT",
            NotSupported => "NOT_SUPPORTED_BY_PROVIDER",
            MissingField => "MISSING_FIELD",
            InvalidLocation => "INVALID_LOCATION",
            InvalidId => "INVALID_ID",
            InvalidType => "INVALID_TYPE",
        }
    }
}

impl fmt::Display for RowErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Declares [`Field`] from the table below: its variants, `ALL`, `COUNT`, the API name of
/// each and where [`MessageDefaults`] keeps its campaign-level value.
macro_rules! fields {
    ($($variant:ident => $name:literal, $member:ident;)*) => {
        /// The send fields a CSV column may override.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Field {
            $($variant,)*
        }

        impl Field {
            pub(crate) const ALL: [Field; Field::COUNT] = [$(Field::$variant,)*];
            pub(crate) const COUNT: usize = [$($name,)*].len();

            /// The API's field name, which is also the reserved column name (matched
            /// case-insensitively).
            pub(crate) fn name(self) -> &'static str {
                match self {
                    $(Field::$variant => $name,)*
                }
            }

            /// The campaign-level value for this field, if any.
            pub(crate) fn default_in(self, d: &MessageDefaults) -> Option<&str> {
                match self {
                    $(Field::$variant => d.$member.as_deref(),)*
                }
            }
        }
    };
}

// The one table of message fields: variant, API name (= CSV column), member of
// [`MessageDefaults`] (whose flag and campaign-file key are declared there). A new field is
// a member there, a line here, and its parsing in [`Fields`] and rules below.
fields! {
    TemplateId => "templateId", template_id;
    Text => "text", text;
    Media => "media", media;
    MediaType => "mediaType", media_type;
    Caption => "caption", caption;
    DeliverAt => "deliverAt", deliver_at;
    DeliverUntil => "deliverUntil", deliver_until;
    Labels => "labels", labels;
    Buttons => "buttons", buttons;
    Header => "header", header;
    Footer => "footer", footer;
    Type => "type", message_type;
    Latitude => "latitude", latitude;
    Longitude => "longitude", longitude;
    LocationName => "locationName", location_name;
    LocationAddress => "locationAddress", location_address;
    ContactId => "contactId", contact_id;
}

impl Field {
    /// Whether this field selects the send mode (used to refuse a campaign with nothing to send).
    pub(crate) fn is_mode(self) -> bool {
        matches!(
            self,
            Field::TemplateId
                | Field::Text
                | Field::Media
                | Field::Type
                | Field::Latitude
                | Field::ContactId
        )
    }

    /// Whether a column of this name is a send field for this provider rather than a
    /// template variable. The fields added for other providers (`type`, `latitude`,
    /// `contactId`, …) are reserved only where they mean something, so a Pilot Status file
    /// with a `type` column keeps sending it as a variable.
    pub(crate) fn reserved(self, caps: &Capabilities) -> bool {
        match self {
            Field::Type => caps.direct_type,
            Field::Latitude | Field::Longitude | Field::LocationName | Field::LocationAddress => {
                caps.location
            }
            Field::ContactId => caps.contact,
            _ => true,
        }
    }

    /// Whether the provider can send this field at all.
    pub(crate) fn supported(self, caps: &Capabilities) -> bool {
        match self {
            Field::Buttons | Field::Header | Field::Footer => caps.buttons,
            Field::Labels => caps.labels,
            Field::DeliverAt | Field::DeliverUntil => caps.schedule,
            _ => self.reserved(caps),
        }
    }
}

/// The send fields in typed form, each already checked on its own.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fields {
    template_id: Option<String>,
    text: Option<String>,
    media: Option<String>,
    media_type: Option<MediaType>,
    caption: Option<String>,
    deliver_at: Option<Timestamp>,
    deliver_until: Option<DeliverUntil>,
    labels: Option<Vec<String>>,
    buttons: Option<Vec<Value>>,
    header: Option<Value>,
    footer: Option<String>,
    kind: Option<DirectKind>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    location_name: Option<String>,
    location_address: Option<String>,
    contact_id: Option<String>,
}

/// The message body a row resolves to, before destination and variables are attached.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub content: Content,
    pub interactive: Interactive,
    pub labels: Vec<String>,
    pub deliver_at: Option<Timestamp>,
    pub deliver_until: Option<DeliverUntil>,
}

/// The one "non-empty cell or default" rule: a blank (or all-space) value keeps the
/// default; anything else is parsed and replaces it. Values are trimmed because
/// spreadsheet cells routinely carry stray spaces.
fn cell_or_default<T: Clone>(
    raw: &str,
    default: &Option<T>,
    parse: impl FnOnce(&str) -> Result<T, RowError>,
) -> Result<Option<T>, RowError> {
    let raw = raw.trim();
    if raw.is_empty() {
        Ok(default.clone())
    } else {
        parse(raw).map(Some)
    }
}

impl Fields {
    /// Parses the campaign defaults once, so rows only parse the cells they override.
    pub(crate) fn from_defaults(defaults: &MessageDefaults) -> Result<Fields, RowError> {
        Fields::default().overridden_by(|f| f.default_in(defaults).unwrap_or(""))
    }

    /// This set of fields with every non-empty `raw(field)` parsed and put in its place.
    pub(crate) fn overridden_by<'a>(
        &self,
        raw: impl Fn(Field) -> &'a str,
    ) -> Result<Fields, RowError> {
        Ok(Fields {
            template_id: cell_or_default(raw(Field::TemplateId), &self.template_id, |s| {
                Ok(s.to_owned())
            })?,
            text: cell_or_default(raw(Field::Text), &self.text, |s| Ok(s.to_owned()))?,
            media: cell_or_default(raw(Field::Media), &self.media, parse_media)?,
            media_type: cell_or_default(raw(Field::MediaType), &self.media_type, parse_media_type)?,
            caption: cell_or_default(raw(Field::Caption), &self.caption, |s| Ok(s.to_owned()))?,
            deliver_at: cell_or_default(raw(Field::DeliverAt), &self.deliver_at, parse_deliver_at)?,
            deliver_until: cell_or_default(
                raw(Field::DeliverUntil),
                &self.deliver_until,
                parse_deliver_until,
            )?,
            labels: cell_or_default(raw(Field::Labels), &self.labels, |s| Ok(parse_labels(s)))?,
            buttons: cell_or_default(raw(Field::Buttons), &self.buttons, parse_buttons)?,
            header: cell_or_default(raw(Field::Header), &self.header, parse_header)?,
            footer: cell_or_default(raw(Field::Footer), &self.footer, parse_footer)?,
            kind: cell_or_default(raw(Field::Type), &self.kind, parse_kind)?,
            latitude: cell_or_default(raw(Field::Latitude), &self.latitude, |s| {
                parse_coordinate(s, "latitude", 90.0)
            })?,
            longitude: cell_or_default(raw(Field::Longitude), &self.longitude, |s| {
                parse_coordinate(s, "longitude", 180.0)
            })?,
            location_name: cell_or_default(raw(Field::LocationName), &self.location_name, |s| {
                Ok(s.to_owned())
            })?,
            location_address: cell_or_default(
                raw(Field::LocationAddress),
                &self.location_address,
                |s| Ok(s.to_owned()),
            )?,
            contact_id: cell_or_default(raw(Field::ContactId), &self.contact_id, |s| {
                Ok(s.to_owned())
            })?,
        })
    }

    /// Whether any location field is set.
    fn located(&self) -> bool {
        self.latitude.is_some()
            || self.longitude.is_some()
            || self.location_name.is_some()
            || self.location_address.is_some()
    }

    /// The media kind asked for, by `type` or `mediaType`.
    fn media_kinds(&self) -> impl Iterator<Item = MediaType> {
        let by_type = match self.kind {
            Some(DirectKind::Media(t)) => Some(t),
            _ => None,
        };
        by_type.into_iter().chain(self.media_type)
    }

    /// Applies the rules that tie fields together and builds the message body.
    pub(crate) fn resolve(self, now: Timestamp, caps: &Capabilities) -> Result<Resolved, RowError> {
        check_schedule(self.deliver_at, self.deliver_until, now)?;
        check_fixed_conflicts(&self)?;
        check_capabilities(&self, caps)?;
        if self.template_id.is_some() {
            let strays = [("type", self.kind.is_some()), ("latitude", self.located())];
            if let Some((name, _)) = strays.iter().find(|(_, set)| *set) {
                return Err(conflict(
                    name,
                    format!("{name} does not go with a template: clear {name} or templateId"),
                ));
            }
        }
        let content = match &self.template_id {
            Some(_) => None,
            None => Some(self.direct_content()?),
        };
        let Fields {
            template_id,
            media,
            media_type,
            deliver_at,
            deliver_until,
            labels,
            buttons,
            header,
            footer,
            contact_id,
            ..
        } = self;
        let content = match (template_id, content) {
            (Some(id), _) => Content::Template {
                id,
                media: template_media(media, media_type)?,
                contact_id,
            },
            (None, Some(content)) => content,
            (None, None) => unreachable!("direct content is resolved when there is no template"),
        };
        if buttons.is_none() {
            if header.is_some() {
                return Err(RowError::new(
                    "header",
                    RowErrorCode::HeaderWithoutButtons,
                    "header is only allowed together with buttons: add buttons or clear header",
                ));
            }
            if footer.is_some() {
                return Err(RowError::new(
                    "footer",
                    RowErrorCode::FooterWithoutButtons,
                    "footer is only allowed together with buttons: add buttons or clear footer",
                ));
            }
        }
        Ok(Resolved {
            content,
            interactive: Interactive {
                buttons,
                header,
                footer,
            },
            labels: labels.unwrap_or_default(),
            deliver_at,
            deliver_until,
        })
    }
}

/// The kinds of direct message, as chosen by `type` or inferred from the fields filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    Text,
    Media(Option<MediaType>),
    Location,
    Contact,
}

impl Fields {
    /// A message without a template: the kind `type` names, else the one the filled fields
    /// imply (text, media, a location, a contact). Fields of another kind are refused rather
    /// than silently dropped.
    fn direct_content(&self) -> Result<Content, RowError> {
        let pick = match self.kind {
            Some(DirectKind::Text) => Pick::Text,
            Some(DirectKind::Media(t)) => {
                if let Some(m) = self.media_type.filter(|&m| m != t) {
                    return Err(conflict(
                        "mediaType",
                        format!(
                            "type {} and mediaType {} disagree: clear one of them",
                            t.as_str(),
                            m.as_str()
                        ),
                    ));
                }
                Pick::Media(Some(t))
            }
            Some(DirectKind::Location) => Pick::Location,
            Some(DirectKind::Contact) => Pick::Contact,
            None if self.text.is_some() => Pick::Text,
            None if self.media.is_some() => Pick::Media(self.media_type),
            None if self.located() => Pick::Location,
            None if self.contact_id.is_some() => Pick::Contact,
            None => {
                return Err(RowError::new(
                    "templateId",
                    RowErrorCode::MissingMode,
                    "nothing to send: fill templateId, text or media (with mediaType) for this row, or pass --template, --text or --media",
                ));
            }
        };
        let strays = [
            ("text", self.text.is_some(), pick == Pick::Text),
            (
                "media",
                self.media.is_some(),
                matches!(pick, Pick::Media(_)),
            ),
            (
                "mediaType",
                self.media_type.is_some(),
                matches!(pick, Pick::Media(_)),
            ),
            (
                "caption",
                self.caption.is_some(),
                matches!(pick, Pick::Media(_)),
            ),
            ("latitude", self.located(), pick == Pick::Location),
            (
                "contactId",
                self.contact_id.is_some(),
                pick == Pick::Contact,
            ),
        ];
        if let Some((name, ..)) = strays.iter().find(|(_, set, fits)| *set && !fits) {
            return Err(conflict(
                name,
                format!(
                    "{name} does not go with this kind of message: clear {name}, or change type"
                ),
            ));
        }
        let required = |value: Option<&str>, name: &str| {
            value.map(str::to_owned).ok_or_else(|| {
                RowError::new(
                    name,
                    RowErrorCode::MissingField,
                    format!("{name} is empty: this kind of message needs it"),
                )
            })
        };
        Ok(match pick {
            Pick::Text => Content::Text {
                body: required(self.text.as_deref(), "text")?,
            },
            Pick::Media(kind) => direct_media(
                required(self.media.as_deref(), "media")?,
                kind,
                self.caption.clone(),
                &self.buttons,
                &self.header,
                &self.footer,
            )?,
            Pick::Location => {
                let coordinate = |v: Option<f64>, name| {
                    v.ok_or_else(|| {
                        RowError::new(
                            name,
                            RowErrorCode::MissingField,
                            format!("{name} is empty: a location needs latitude and longitude"),
                        )
                    })
                };
                Content::Location {
                    latitude: coordinate(self.latitude, "latitude")?,
                    longitude: coordinate(self.longitude, "longitude")?,
                    name: self.location_name.clone(),
                    address: self.location_address.clone(),
                }
            }
            Pick::Contact => Content::Contact {
                contact_id: required(self.contact_id.as_deref(), "contactId")?,
            },
        })
    }
}

fn conflict(field: &str, message: String) -> RowError {
    RowError::new(field, RowErrorCode::ConflictingModes, message)
}

/// Refuses what the provider cannot send: one description per provider, no provider names here.
fn check_capabilities(f: &Fields, caps: &Capabilities) -> Result<(), RowError> {
    let name = caps.name;
    if let Some(kind) = f.media_kinds().find(|&k| !caps.sends_media(k)) {
        return Err(RowError::new(
            "mediaType",
            RowErrorCode::InvalidMediaType,
            format!(
                "{} is not a media type {name} sends: use one of {}",
                kind.as_str(),
                caps.media_names()
            ),
        ));
    }
    let set = [
        (Field::Buttons, f.buttons.is_some()),
        (Field::Header, f.header.is_some()),
        (Field::Footer, f.footer.is_some()),
        (Field::Labels, f.labels.is_some()),
        (Field::DeliverAt, f.deliver_at.is_some()),
        (Field::DeliverUntil, f.deliver_until.is_some()),
        (Field::Type, f.kind.is_some()),
        (Field::Latitude, f.located()),
        (Field::ContactId, f.contact_id.is_some()),
    ];
    if let Some((field, _)) = set.iter().find(|(field, on)| *on && !field.supported(caps)) {
        return Err(unsupported(field.name(), name));
    }
    if f.template_id.is_some() && f.media.is_some() && !caps.template_media {
        return Err(unsupported("media", name));
    }
    if caps.uuid_ids {
        for (field, id) in [("templateId", &f.template_id), ("contactId", &f.contact_id)] {
            if let Some(id) = id.as_deref().filter(|id| !is_uuid(id)) {
                return Err(RowError::new(
                    field,
                    RowErrorCode::InvalidId,
                    format!(
                        "'{id}' is not a UUID: {name} names it by its UUID, copy it from the dashboard"
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn unsupported(field: &str, provider: &str) -> RowError {
    RowError::new(
        field,
        RowErrorCode::NotSupported,
        format!("{field} is not supported by {provider}: clear it, or choose another --provider"),
    )
}

/// Checks the campaign-level settings alone at start-up so a bad flag stops the run (exit 2)
/// instead of failing every row.
///
/// Besides each value's own format and the deliverAt/deliverUntil order, only the
/// combinations no CSV cell can cure are refused here: a cell can replace a default but
/// never remove it, so e.g. `--template` with `--text` fails every row, whereas
/// `--media` without `--media-type` may be completed by a `mediaType` column.
pub fn validate_defaults(
    defaults: &MessageDefaults,
    now: Timestamp,
    caps: &Capabilities,
) -> Result<(), RowError> {
    let fields = Fields::from_defaults(defaults)?;
    check_schedule(fields.deliver_at, fields.deliver_until, now)?;
    check_fixed_conflicts(&fields)?;
    if defaults.ai_rewrite == Some(true) && !caps.ai_rewrite {
        return Err(unsupported("aiRewriteEnabled", caps.name));
    }
    check_capabilities(&fields, caps)
}

/// Combinations that fail whatever mode the row ends up in, given that fields can be
/// added by cells but not taken away.
fn check_fixed_conflicts(f: &Fields) -> Result<(), RowError> {
    if f.template_id.is_some() && f.text.is_some() {
        return Err(RowError::new(
            "text",
            RowErrorCode::ConflictingModes,
            "templateId and text are both set: a message is either a template or free text, clear one of them",
        ));
    }
    if f.text.is_some() {
        for (present, name) in [
            (f.media.is_some(), "media"),
            (f.media_type.is_some(), "mediaType"),
        ] {
            if present {
                return Err(RowError::new(
                    name,
                    RowErrorCode::ConflictingModes,
                    "media and mediaType cannot be used with text: clear them, or clear text to send the media on its own",
                ));
            }
        }
    }
    if f.caption.is_some() {
        if f.template_id.is_some() || f.text.is_some() {
            return Err(RowError::new(
                "caption",
                RowErrorCode::CaptionNotAllowed,
                "caption is only allowed when sending media on its own (no templateId, no text): clear caption",
            ));
        }
        if let Some(kind) = f.media_kinds().find(|k| !k.takes_caption()) {
            return Err(sound_caption(kind));
        }
    }
    Ok(())
}

fn sound_caption(kind: MediaType) -> RowError {
    RowError::new(
        "caption",
        RowErrorCode::CaptionNotAllowed,
        format!(
            "caption is not allowed with mediaType {} (WhatsApp plays it and shows no text): clear caption",
            kind.as_str()
        ),
    )
}

/// Template mode: media and mediaType are optional overrides of the template's own media.
fn template_media(
    media: Option<String>,
    kind: Option<MediaType>,
) -> Result<Option<Media>, RowError> {
    match (media, kind) {
        (Some(url), kind) => Ok(Some(Media { url, kind })),
        (None, None) => Ok(None),
        // Conservative: a type without a file would be silently dropped otherwise.
        (None, Some(_)) => Err(RowError::new(
            "mediaType",
            RowErrorCode::InvalidMediaType,
            "mediaType is set but media is empty: add a media URL or clear mediaType",
        )),
    }
}

/// Direct-media mode: media + mediaType, optional caption (not for audio), no interactive parts.
fn direct_media(
    url: String,
    kind: Option<MediaType>,
    caption: Option<String>,
    buttons: &Option<Vec<Value>>,
    header: &Option<Value>,
    footer: &Option<String>,
) -> Result<Content, RowError> {
    let Some(kind) = kind else {
        return Err(RowError::new(
            "mediaType",
            RowErrorCode::InvalidMediaType,
            format!(
                "mediaType is required when sending media on its own: use one of {}",
                MediaType::NAMES
            ),
        ));
    };
    // A caption on audio was already refused by check_fixed_conflicts.
    for (present, name) in [
        (buttons.is_some(), "buttons"),
        (header.is_some(), "header"),
        (footer.is_some(), "footer"),
    ] {
        if present {
            return Err(RowError::new(
                name,
                RowErrorCode::NotAllowedWithMedia,
                format!(
                    "{name} is not allowed when sending media on its own: clear {name}, or send a template or text"
                ),
            ));
        }
    }
    Ok(Content::Media {
        media: Media {
            url,
            kind: Some(kind),
        },
        caption,
    })
}

/// deliverUntil must leave a window: after deliverAt, and not already over.
fn check_schedule(
    at: Option<Timestamp>,
    until: Option<DeliverUntil>,
    now: Timestamp,
) -> Result<(), RowError> {
    let Some(DeliverUntil::At(until)) = until else {
        return Ok(());
    };
    if let Some(at) = at
        && until <= at
    {
        return Err(RowError::new(
            "deliverUntil",
            RowErrorCode::DeliverUntilNotAfterDeliverAt,
            format!(
                "deliverUntil {until} is not after deliverAt {at}: move it later or use a duration such as 4h"
            ),
        ));
    }
    if until <= now {
        return Err(RowError::new(
            "deliverUntil",
            RowErrorCode::DeliverUntilPast,
            format!(
                "deliverUntil {until} is already past (now {now}): move it later or use a duration such as 4h"
            ),
        ));
    }
    Ok(())
}

/// A public http(s) URL with a host, or a `data:` URI (`data:[type][;base64],payload`).
pub(crate) fn is_media_url(s: &str) -> bool {
    let lower_starts = |p: &str| s.len() >= p.len() && s[..p.len()].eq_ignore_ascii_case(p);
    if lower_starts("data:") {
        return s.contains(',');
    }
    let rest = if lower_starts("https://") {
        &s[8..]
    } else if lower_starts("http://") {
        &s[7..]
    } else {
        return false;
    };
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..host_end];
    let host = authority.rsplit('@').next().unwrap_or("");
    !host.is_empty() && !host.starts_with(':') && !s.contains(char::is_whitespace)
}

fn parse_media(s: &str) -> Result<String, RowError> {
    if is_media_url(s) {
        Ok(s.to_owned())
    } else {
        Err(RowError::new(
            "media",
            RowErrorCode::InvalidMedia,
            format!(
                "'{s}' is not a media location: use a public http(s) URL such as https://cdn.example.com/a.png, or a data: URI"
            ),
        ))
    }
}

fn parse_media_type(s: &str) -> Result<MediaType, RowError> {
    MediaType::parse(s).ok_or_else(|| {
        RowError::new(
            "mediaType",
            RowErrorCode::InvalidMediaType,
            format!("'{s}' is not a media type: use one of {}", MediaType::NAMES),
        )
    })
}

fn parse_kind(s: &str) -> Result<DirectKind, RowError> {
    DirectKind::parse(s).ok_or_else(|| {
        RowError::new(
            "type",
            RowErrorCode::InvalidType,
            format!(
                "'{s}' is not a type of message: use one of {}",
                DirectKind::NAMES
            ),
        )
    })
}

/// A decimal number of degrees within ±`limit` (a comma as decimal separator is accepted,
/// as Brazilian and French spreadsheets write it).
fn parse_coordinate(s: &str, field: &str, limit: f64) -> Result<f64, RowError> {
    match s.replace(',', ".").parse::<f64>() {
        Ok(v) if v.is_finite() && v.abs() <= limit => Ok(v),
        _ => Err(RowError::new(
            field,
            RowErrorCode::InvalidLocation,
            format!(
                "'{s}' is not a {field}: write decimal degrees between -{limit} and {limit}, e.g. 6.3654"
            ),
        )),
    }
}

fn parse_deliver_at(s: &str) -> Result<Timestamp, RowError> {
    s.parse().map_err(|e| {
        RowError::new(
            "deliverAt",
            RowErrorCode::InvalidTimestamp,
            format!("'{s}' is not an RFC 3339 time ({e}): write it like 2026-06-21T09:00:00-03:00"),
        )
    })
}

/// An RFC 3339 instant, else a positive span in jiff's friendly format (`4h`, `90m`) or ISO 8601.
fn parse_deliver_until(s: &str) -> Result<DeliverUntil, RowError> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(DeliverUntil::At(t));
    }
    match s.parse::<SignedDuration>() {
        Ok(d) if d.is_positive() => Ok(DeliverUntil::After(d)),
        _ => Err(RowError::new(
            "deliverUntil",
            RowErrorCode::InvalidTimestamp,
            format!(
                "'{s}' is neither an RFC 3339 time nor a positive duration: write 2026-06-21T18:00:00-03:00, 4h or 90m"
            ),
        )),
    }
}

/// `"a, b,,c"` → `["a", "b", "c"]`.
fn parse_labels(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn buttons_error(code: RowErrorCode, what: impl fmt::Display) -> RowError {
    RowError::new(
        "buttons",
        code,
        format!(
            "{what}: write a JSON array of 1 to 3 objects such as [{{\"type\":\"reply\",\"displayText\":\"Sim\",\"id\":\"sim\"}}]"
        ),
    )
}

/// A JSON array of 1 to 3 objects, each with a non-empty string `type` and a string `displayText`.
///
/// The vendor's pages disagree on the `type` vocabulary (guide: reply/url/call/copy;
/// reference: QUICK_REPLY/URL/PHONE_NUMBER/COPY_CODE), so any non-empty string is
/// accepted and the API has the last word on it.
fn parse_buttons(s: &str) -> Result<Vec<Value>, RowError> {
    let value: Value = serde_json::from_str(s).map_err(|e| {
        buttons_error(
            RowErrorCode::InvalidButtons,
            format!("not valid JSON ({e})"),
        )
    })?;
    let Value::Array(buttons) = value else {
        return Err(buttons_error(
            RowErrorCode::InvalidButtons,
            "not a JSON array",
        ));
    };
    if buttons.is_empty() {
        return Err(buttons_error(RowErrorCode::InvalidButtons, "an empty list"));
    }
    if buttons.len() > 3 {
        return Err(buttons_error(
            RowErrorCode::TooManyButtons,
            format_args!("{} buttons, at most 3 are allowed", buttons.len()),
        ));
    }
    for (i, b) in buttons.iter().enumerate() {
        let n = i + 1;
        let ty = b.get("type").and_then(Value::as_str).unwrap_or("");
        if ty.trim().is_empty() {
            return Err(buttons_error(
                RowErrorCode::InvalidButtons,
                format_args!("button {n} has no string \"type\""),
            ));
        }
        if !b.get("displayText").is_some_and(Value::is_string) {
            return Err(buttons_error(
                RowErrorCode::InvalidButtons,
                format_args!("button {n} has no string \"displayText\""),
            ));
        }
    }
    Ok(buttons)
}

fn header_error(what: impl fmt::Display) -> RowError {
    RowError::new(
        "header",
        RowErrorCode::InvalidHeader,
        format!(
            "{what}: write a JSON object such as {{\"type\":\"text\",\"content\":\"Oferta\"}} (type text, image, video or document)"
        ),
    )
}

/// `{"type": "text"|"image"|"video"|"document", "content": "..."}`; text up to 60 characters,
/// the media kinds take a URL (conservative reading of "with a public URL as content").
fn parse_header(s: &str) -> Result<Value, RowError> {
    let value: Value =
        serde_json::from_str(s).map_err(|e| header_error(format_args!("not valid JSON ({e})")))?;
    let ty = value.get("type").and_then(Value::as_str);
    let Some(content) = value.get("content").and_then(Value::as_str) else {
        return Err(header_error("no string \"content\""));
    };
    match ty {
        Some("text") => {
            let n = content.chars().count();
            if n > 60 {
                return Err(header_error(format_args!(
                    "text content has {n} characters, at most 60 are allowed"
                )));
            }
        }
        Some("image" | "video" | "document") => {
            if !is_media_url(content) {
                return Err(header_error(format_args!(
                    "content '{content}' is not an http(s) URL or data: URI"
                )));
            }
        }
        _ => {
            return Err(header_error(
                "\"type\" is not text, image, video or document",
            ));
        }
    }
    Ok(value)
}

fn parse_footer(s: &str) -> Result<String, RowError> {
    let n = s.chars().count();
    if n > 60 {
        return Err(RowError::new(
            "footer",
            RowErrorCode::FooterTooLong,
            format!("footer has {n} characters, at most 60 are allowed: shorten it"),
        ));
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-06-01T12:00:00Z".parse().unwrap()
    }

    fn defaults() -> MessageDefaults {
        MessageDefaults::default()
    }

    fn resolve(d: &MessageDefaults) -> Result<Resolved, RowError> {
        Fields::from_defaults(d)?.resolve(now(), &crate::provider::pilot_status::CAPABILITIES)
    }

    fn code(d: &MessageDefaults) -> (String, RowErrorCode) {
        let e = resolve(d).unwrap_err();
        (e.field, e.code)
    }

    #[test]
    fn codes_are_screaming_snake_case() {
        assert_eq!(
            RowErrorCode::DeliverUntilNotAfterDeliverAt.as_str(),
            "DELIVER_UNTIL_NOT_AFTER_DELIVER_AT"
        );
        assert_eq!(
            RowErrorCode::InvalidDestination.to_string(),
            "INVALID_DESTINATION"
        );
        let e = RowError::new("media", RowErrorCode::InvalidMedia, "bad");
        assert_eq!(e.to_string(), "field media: bad");
    }

    #[test]
    fn modes() {
        let d = MessageDefaults {
            template_id: Some("boas_vindas".into()),
            media: Some("https://cdn.x.com/a.png".into()),
            ..defaults()
        };
        assert_eq!(
            resolve(&d).unwrap().content,
            Content::Template {
                id: "boas_vindas".into(),
                media: Some(Media {
                    url: "https://cdn.x.com/a.png".into(),
                    kind: None
                }),
                contact_id: None
            }
        );
        let d = MessageDefaults {
            text: Some(" Olá ".into()),
            ..defaults()
        };
        assert_eq!(
            resolve(&d).unwrap().content,
            Content::Text {
                body: "Olá".into()
            }
        );
        let d = MessageDefaults {
            media: Some("data:image/png;base64,AAAA".into()),
            media_type: Some("Image".into()),
            caption: Some("Veja".into()),
            ..defaults()
        };
        assert_eq!(
            resolve(&d).unwrap().content,
            Content::Media {
                media: Media {
                    url: "data:image/png;base64,AAAA".into(),
                    kind: Some(MediaType::Image)
                },
                caption: Some("Veja".into())
            }
        );
        assert_eq!(
            code(&defaults()),
            ("templateId".into(), RowErrorCode::MissingMode)
        );
    }

    #[test]
    fn mode_conflicts() {
        let t = || MessageDefaults {
            template_id: Some("t".into()),
            ..defaults()
        };
        let x = || MessageDefaults {
            text: Some("hi".into()),
            ..defaults()
        };
        let m = "https://cdn.x.com/a.png".to_string();
        assert_eq!(
            code(&MessageDefaults {
                text: Some("hi".into()),
                ..t()
            }),
            ("text".into(), RowErrorCode::ConflictingModes)
        );
        assert_eq!(
            code(&MessageDefaults {
                media: Some(m.clone()),
                ..x()
            }),
            ("media".into(), RowErrorCode::ConflictingModes)
        );
        assert_eq!(
            code(&MessageDefaults {
                media_type: Some("image".into()),
                ..x()
            }),
            ("mediaType".into(), RowErrorCode::ConflictingModes)
        );
        assert_eq!(
            code(&MessageDefaults {
                caption: Some("c".into()),
                ..x()
            }),
            ("caption".into(), RowErrorCode::CaptionNotAllowed)
        );
        assert_eq!(
            code(&MessageDefaults {
                caption: Some("c".into()),
                ..t()
            }),
            ("caption".into(), RowErrorCode::CaptionNotAllowed)
        );
        assert_eq!(
            code(&MessageDefaults {
                media_type: Some("image".into()),
                ..t()
            }),
            ("mediaType".into(), RowErrorCode::InvalidMediaType)
        );
        let media = || MessageDefaults {
            media: Some(m.clone()),
            ..defaults()
        };
        assert_eq!(
            code(&media()),
            ("mediaType".into(), RowErrorCode::InvalidMediaType)
        );
        assert_eq!(
            code(&MessageDefaults {
                media_type: Some("audio".into()),
                caption: Some("c".into()),
                ..media()
            }),
            ("caption".into(), RowErrorCode::CaptionNotAllowed)
        );
        assert_eq!(
            code(&MessageDefaults {
                media_type: Some("image".into()),
                buttons: Some(BUTTONS.into()),
                ..media()
            }),
            ("buttons".into(), RowErrorCode::NotAllowedWithMedia)
        );
        assert_eq!(
            code(&MessageDefaults {
                media_type: Some("gif".into()),
                ..media()
            }),
            ("mediaType".into(), RowErrorCode::InvalidMediaType)
        );
    }

    const BUTTONS: &str = r#"[{"type":"reply","displayText":"Sim","id":"s"}]"#;

    #[test]
    fn media_locations() {
        for ok in [
            "https://cdn.x.com/a.png",
            "HTTP://x.io",
            "http://u@h:8080/p?q",
            "data:audio/ogg;base64,AAAA",
        ] {
            assert!(is_media_url(ok), "{ok}");
        }
        for bad in [
            "cdn.x.com/a.png",
            "https:///a.png",
            "ftp://x.com/a",
            "data:nocomma",
            "https://x.com/a b.png",
            "http://:80/",
        ] {
            assert!(!is_media_url(bad), "{bad}");
            assert_eq!(
                parse_media(bad).unwrap_err().code,
                RowErrorCode::InvalidMedia
            );
        }
    }

    #[test]
    fn buttons_rules() {
        assert_eq!(parse_buttons(BUTTONS).unwrap().len(), 1);
        // Both vocabularies of the vendor's docs pass.
        assert!(parse_buttons(r#"[{"type":"QUICK_REPLY","displayText":"a"},{"type":"url","displayText":"b","url":"https://x.io"}]"#).is_ok());
        let four = r#"[{"type":"reply","displayText":"1"},{"type":"reply","displayText":"2"},{"type":"reply","displayText":"3"},{"type":"reply","displayText":"4"}]"#;
        assert_eq!(
            parse_buttons(four).unwrap_err().code,
            RowErrorCode::TooManyButtons
        );
        for bad in [
            "[",
            "{}",
            "[]",
            r#"[{"displayText":"a"}]"#,
            r#"[{"type":"","displayText":"a"}]"#,
            r#"[{"type":"reply"}]"#,
            r#"[{"type":"reply","displayText":1}]"#,
        ] {
            let e = parse_buttons(bad).unwrap_err();
            assert_eq!(
                (e.field.as_str(), e.code),
                ("buttons", RowErrorCode::InvalidButtons),
                "{bad}"
            );
        }
    }

    #[test]
    fn header_and_footer_rules() {
        assert!(parse_header(r#"{"type":"text","content":"Oferta"}"#).is_ok());
        assert!(parse_header(r#"{"type":"image","content":"https://x.io/a.png"}"#).is_ok());
        let long = format!(r#"{{"type":"text","content":"{}"}}"#, "é".repeat(61));
        let sixty = format!(r#"{{"type":"text","content":"{}"}}"#, "é".repeat(60));
        assert!(parse_header(&sixty).is_ok());
        for bad in [
            long.as_str(),
            "[]",
            r#"{"type":"gif","content":"x"}"#,
            r#"{"type":"image","content":"a.png"}"#,
            r#"{"type":"text"}"#,
        ] {
            assert_eq!(
                parse_header(bad).unwrap_err().code,
                RowErrorCode::InvalidHeader,
                "{bad}"
            );
        }
        assert!(
            parse_footer(&"é".repeat(60)).is_ok(),
            "60 characters (120 bytes) is allowed"
        );
        assert_eq!(
            parse_footer(&"é".repeat(61)).unwrap_err().code,
            RowErrorCode::FooterTooLong
        );

        let t = || MessageDefaults {
            template_id: Some("t".into()),
            ..defaults()
        };
        let header = r#"{"type":"text","content":"Oferta"}"#.to_string();
        assert_eq!(
            code(&MessageDefaults {
                header: Some(header.clone()),
                ..t()
            }),
            ("header".into(), RowErrorCode::HeaderWithoutButtons)
        );
        assert_eq!(
            code(&MessageDefaults {
                footer: Some("f".into()),
                ..t()
            }),
            ("footer".into(), RowErrorCode::FooterWithoutButtons)
        );
        let ok = resolve(&MessageDefaults {
            header: Some(header),
            footer: Some("f".into()),
            buttons: Some(BUTTONS.into()),
            ..t()
        })
        .unwrap();
        assert_eq!(ok.interactive.footer.as_deref(), Some("f"));
        assert_eq!(ok.interactive.header.unwrap()["content"], "Oferta");
    }

    #[test]
    fn labels_are_trimmed_and_empties_dropped() {
        assert_eq!(parse_labels(" vip, pedido ,,"), vec!["vip", "pedido"]);
    }

    #[test]
    fn schedule_rules() {
        let t = || MessageDefaults {
            template_id: Some("t".into()),
            ..defaults()
        };
        let r = resolve(&MessageDefaults {
            deliver_at: Some("2026-06-02T09:00:00-03:00".into()),
            deliver_until: Some("4h".into()),
            ..t()
        })
        .unwrap();
        assert_eq!(r.deliver_at, Some("2026-06-02T12:00:00Z".parse().unwrap()));
        assert_eq!(
            r.deliver_until,
            Some(DeliverUntil::After(SignedDuration::from_hours(4)))
        );
        let r = resolve(&MessageDefaults {
            deliver_until: Some("2026-06-02T18:00:00Z".into()),
            ..t()
        })
        .unwrap();
        assert_eq!(
            r.deliver_until,
            Some(DeliverUntil::At("2026-06-02T18:00:00Z".parse().unwrap()))
        );
        assert_eq!(
            parse_deliver_until("90m").unwrap(),
            DeliverUntil::After(SignedDuration::from_mins(90))
        );

        let e = |at: Option<&str>, until: &str| {
            code(&MessageDefaults {
                deliver_at: at.map(Into::into),
                deliver_until: Some(until.into()),
                ..t()
            })
        };
        assert_eq!(
            e(Some("2026-06-02T18:00:00Z"), "2026-06-02T18:00:00Z"),
            (
                "deliverUntil".into(),
                RowErrorCode::DeliverUntilNotAfterDeliverAt
            )
        );
        assert_eq!(
            e(None, "2026-06-01T11:59:59Z"),
            ("deliverUntil".into(), RowErrorCode::DeliverUntilPast)
        );
        assert_eq!(
            e(None, "-4h"),
            ("deliverUntil".into(), RowErrorCode::InvalidTimestamp)
        );
        assert_eq!(
            e(None, "tomorrow"),
            ("deliverUntil".into(), RowErrorCode::InvalidTimestamp)
        );
        assert_eq!(
            e(Some("2026-06-02 09:00"), "4h"),
            ("deliverAt".into(), RowErrorCode::InvalidTimestamp)
        );
    }

    #[test]
    fn validate_defaults_refuses_only_what_no_cell_can_cure() {
        let validate_defaults = |_: (), d: &MessageDefaults, now| {
            validate_defaults(d, now, &crate::provider::pilot_status::CAPABILITIES)
        };
        // Completed by a mediaType column, or replaced by a templateId column: fine at start-up.
        let media_only = MessageDefaults {
            media: Some("https://x.io/a.png".into()),
            ..defaults()
        };
        assert_eq!(validate_defaults((), &media_only, now()), Ok(()));
        assert_eq!(validate_defaults((), &defaults(), now()), Ok(()));
        let both = MessageDefaults {
            template_id: Some("t".into()),
            text: Some("x".into()),
            ..defaults()
        };
        assert_eq!(
            validate_defaults((), &both, now()).unwrap_err().code,
            RowErrorCode::ConflictingModes
        );
        let bad_url = MessageDefaults {
            media: Some("x.png".into()),
            ..defaults()
        };
        assert_eq!(
            validate_defaults((), &bad_url, now()).unwrap_err().code,
            RowErrorCode::InvalidMedia
        );
        let past = MessageDefaults {
            deliver_until: Some("2020-01-01T00:00:00Z".into()),
            ..defaults()
        };
        assert_eq!(
            validate_defaults((), &past, now()).unwrap_err().code,
            RowErrorCode::DeliverUntilPast
        );
        let audio = MessageDefaults {
            media_type: Some("audio".into()),
            caption: Some("c".into()),
            ..defaults()
        };
        assert_eq!(
            validate_defaults((), &audio, now()).unwrap_err().code,
            RowErrorCode::CaptionNotAllowed
        );
    }
}
