//! Per-field and per-message rules of the send API, shared by the campaign defaults and
//! every CSV row so that a flag and a cell are judged by exactly the same code.

mod cells;
mod error;
mod field;
mod rules;
#[cfg(test)]
mod tests;

use jiff::Timestamp;
use serde_json::Value;

use super::MessageDefaults;
use crate::message::{Capabilities, Content, DeliverUntil, DirectKind, Interactive, MediaType};
use cells::{
    parse_buttons, parse_coordinate, parse_deliver_at, parse_deliver_until, parse_footer,
    parse_header, parse_kind, parse_labels, parse_media, parse_media_type,
};
pub use error::{RowError, RowErrorCode};
pub(crate) use field::Field;
pub use rules::validate_defaults;
use rules::{
    check_capabilities, check_fixed_conflicts, check_schedule, direct_media, template_media,
};

/// Whether `message`, going out at `now`, still leaves WhatsApp time to deliver it: its
/// `deliverUntil`, when that is an instant (the row's or the campaign's), at least a minute
/// ahead. The rule a row was judged by at the start, again at its send: a paced run (or one
/// that waited for its window) may reach a row after its deadline.
pub(crate) fn deliverable(
    message: &crate::message::Message,
    now: Timestamp,
) -> Result<(), RowError> {
    check_schedule(None, message.deliver_until, now)
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
    let raw = super::visible::visible(raw);
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
