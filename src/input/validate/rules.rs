//! The rules that tie fields together or to the provider: checked for every row and, for
//! what no cell can cure, once for the campaign defaults.

use jiff::Timestamp;
use serde_json::Value;

use super::{Field, Fields, MessageDefaults, RowError, RowErrorCode};
use crate::ids::is_uuid;
use crate::message::{Capabilities, Content, DeliverUntil, Media, MediaType};

/// Refuses what the provider cannot send: one description per provider, no provider names here.
pub(super) fn check_capabilities(f: &Fields, caps: &Capabilities) -> Result<(), RowError> {
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
                        "'{}' is not a UUID: {name} names it by its UUID, copy it from the dashboard",
                        crate::fmt::shown(id)
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
    if defaults.ai_rewrite == Some(true) && fields.text.is_some() {
        return Err(RowError::new(
            "aiRewriteEnabled",
            RowErrorCode::ConflictingModes,
            "--ai-rewrite is for templates only (the API rewrites MARKETING templates), and a \
             --text message is never one: drop --ai-rewrite, or send a --template",
        ));
    }
    for (field, value) in [("text", &fields.text), ("caption", &fields.caption)] {
        // Merged texts are measured row by row, once filled.
        let Some(value) = value
            .as_deref()
            .filter(|v| !crate::input::merge::has_fields(v))
        else {
            continue;
        };
        let count = value.chars().count();
        if count > crate::message::MAX_CHARS {
            return Err(RowError::new(
                field,
                RowErrorCode::ValueTooLong,
                format!(
                    "{field} has {count} characters, more than the {} a WhatsApp message holds: \
                     shorten it",
                    crate::message::MAX_CHARS
                ),
            ));
        }
    }
    check_capabilities(&fields, caps)
}

/// Combinations that fail whatever mode the row ends up in, given that fields can be
/// added by cells but not taken away.
pub(super) fn check_fixed_conflicts(f: &Fields) -> Result<(), RowError> {
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
pub(super) fn template_media(
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
pub(super) fn direct_media(
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

/// deliverUntil must leave a window: at least a minute ([`DeliverUntil::SHORTEST`]) after
/// deliverAt and after `now`. Checked when a row is judged and again when it goes out
/// ([`super::deliverable`]): a paced run may reach a row after its deadline has passed.
pub(super) fn check_schedule(
    at: Option<Timestamp>,
    until: Option<DeliverUntil>,
    now: Timestamp,
) -> Result<(), RowError> {
    let Some(DeliverUntil::At(until)) = until else {
        return Ok(());
    };
    let too_soon = |after: Timestamp| {
        after
            .checked_add(DeliverUntil::SHORTEST)
            .is_ok_and(|least| until < least)
    };
    if let Some(at) = at
        && too_soon(at)
    {
        let how = if until <= at {
            "is not after"
        } else {
            "is less than a minute after"
        };
        return Err(RowError::new(
            "deliverUntil",
            RowErrorCode::DeliverUntilNotAfterDeliverAt,
            format!(
                "deliverUntil {until} {how} deliverAt {at}: move it later or use a duration such as 4h"
            ),
        ));
    }
    if too_soon(now) {
        let how = if until <= now {
            "is already past"
        } else {
            "is less than a minute away"
        };
        return Err(RowError::new(
            "deliverUntil",
            RowErrorCode::DeliverUntilPast,
            format!(
                "deliverUntil {until} {how} (now {now}), so the message would expire before it can be delivered: move it later or use a duration such as 4h"
            ),
        ));
    }
    Ok(())
}
