//! The send endpoint's request rules, written from the vendor's documentation alone.
//!
//! Nothing here is shared with the client's own checks on purpose: the sandbox is the
//! second opinion that catches a client bug, so it must not inherit the client's mistakes.

use axum::http::StatusCode;
use jiff::Timestamp;
use serde_json::{Map, Value};

use super::error::ApiError;

/// Every field the send reference documents; anything else is a client typo.
const FIELDS: [&str; 16] = [
    "templateId",
    "text",
    "destinationNumber",
    "groupId",
    "newsletterId",
    "variables",
    "media",
    "mediaType",
    "caption",
    "buttons",
    "header",
    "footer",
    "deliverAt",
    "deliverUntil",
    "labels",
    "aiRewriteEnabled",
];

const DESTINATIONS: [&str; 3] = ["destinationNumber", "groupId", "newsletterId"];
const MEDIA_TYPES: [&str; 4] = ["image", "video", "document", "audio"];
const MAX_BUTTONS: usize = 3;
/// The documented limit for a text header and for a footer.
const MAX_SHORT_TEXT: usize = 60;

/// The three mutually exclusive ways to say what is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Template,
    Text,
    DirectMedia,
}

/// Checks a parsed send body at `now`; the error is the exact answer the API would give.
pub(crate) fn validate(body: &Value, now: Timestamp) -> Result<(), ApiError> {
    let Value::Object(obj) = body else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_JSON",
            "The request body must be a JSON object",
        ));
    };
    check_known_fields(obj)?;
    check_destination(obj)?;
    let mode = mode(obj)?;
    check_media(obj, mode)?;
    check_variables(obj)?;
    check_interactive(obj)?;
    check_extras(obj)?;
    check_schedule(obj, now)?;
    check_template_exists(obj)
}

/// The destination as received, for the log: whichever destination field comes first.
pub(crate) fn destination(body: &Value) -> Option<String> {
    DESTINATIONS.iter().find_map(|key| {
        body.get(*key)
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
    })
}

/// `Ok(None)` when absent, the value when a non-empty string, an error naming `key` otherwise.
fn string<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, ApiError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid(format!(
            "{key} must be a non-empty string"
        ))),
    }
}

fn check_known_fields(obj: &Map<String, Value>) -> Result<(), ApiError> {
    match obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        Some(unknown) => Err(ApiError::invalid(format!(
            "{unknown} is not a field of this endpoint"
        ))),
        None => Ok(()),
    }
}

fn check_destination(obj: &Map<String, Value>) -> Result<(), ApiError> {
    let given: Vec<&str> = DESTINATIONS
        .into_iter()
        .filter(|k| obj.contains_key(*k))
        .collect();
    let [key] = given[..] else {
        return Err(ApiError::invalid(
            "Exactly one of destinationNumber, groupId or newsletterId is required",
        ));
    };
    let value = string(obj, key)?.unwrap_or_default();
    let (ok, expected) = match key {
        "destinationNumber" => (
            is_e164(value) || is_bsuid(value),
            "E.164 with a leading + (e.g. +5511999999999) or a BSUID (e.g. BR.13491208655302741918)",
        ),
        "groupId" => (has_suffix(value, "@g.us"), "a group JID ending in @g.us"),
        _ => (
            has_suffix(value, "@newsletter"),
            "a channel JID ending in @newsletter",
        ),
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!("{key} must be {expected}")))
    }
}

/// `+`, then 8 to 15 digits, the first not zero (no country code starts with 0).
fn is_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

/// Two upper-case letters, a dot, then digits: `BR.13491208655302741918`.
fn is_bsuid(s: &str) -> bool {
    s.split_once('.').is_some_and(|(country, id)| {
        country.len() == 2
            && country.bytes().all(|b| b.is_ascii_uppercase())
            && !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_digit())
    })
}

fn has_suffix(s: &str, suffix: &str) -> bool {
    s.strip_suffix(suffix).is_some_and(|jid| !jid.is_empty())
}

fn mode(obj: &Map<String, Value>) -> Result<Mode, ApiError> {
    let template = string(obj, "templateId")?.is_some();
    let text = string(obj, "text")?.is_some();
    let media = string(obj, "media")?.is_some();
    match (template, text, media) {
        (true, true, _) => Err(ApiError::invalid(
            "templateId and text are mutually exclusive",
        )),
        (false, true, true) => Err(ApiError::invalid(
            "media cannot be used with text; send media without text for a direct media message",
        )),
        (true, false, _) => Ok(Mode::Template),
        (false, true, false) => Ok(Mode::Text),
        (false, false, true) => Ok(Mode::DirectMedia),
        (false, false, false) => Err(ApiError::invalid(
            "One of templateId, text, or media with mediaType is required",
        )),
    }
}

fn check_media(obj: &Map<String, Value>, mode: Mode) -> Result<(), ApiError> {
    let media = string(obj, "media")?;
    let media_type = string(obj, "mediaType")?;
    if media.is_some_and(|m| !is_http_url(m) && !is_data_uri(m)) {
        return Err(ApiError::invalid(
            "media must be a public http(s) URL or a data: URI",
        ));
    }
    if let Some(kind) = media_type {
        if !MEDIA_TYPES.contains(&kind) {
            return Err(ApiError::invalid(
                "mediaType must be one of image, video, document, audio",
            ));
        }
        if media.is_none() {
            return Err(ApiError::invalid("mediaType requires media"));
        }
    }
    let caption = string(obj, "caption")?;
    if mode != Mode::DirectMedia {
        return match caption {
            Some(_) => Err(ApiError::invalid(
                "caption is only allowed in direct media mode (media + mediaType, no templateId or text)",
            )),
            None => Ok(()),
        };
    }
    check_direct_media(obj, media_type, caption.is_some())
}

fn check_direct_media(
    obj: &Map<String, Value>,
    media_type: Option<&str>,
    has_caption: bool,
) -> Result<(), ApiError> {
    let Some(kind) = media_type else {
        return Err(ApiError::invalid(
            "mediaType is required when sending media without templateId or text",
        ));
    };
    if let Some(field) = ["buttons", "header", "footer", "variables"]
        .into_iter()
        .find(|f| obj.contains_key(*f))
    {
        return Err(ApiError::invalid(format!(
            "{field} is not allowed in direct media mode"
        )));
    }
    if has_caption && kind == "audio" {
        return Err(ApiError::invalid(
            "caption is not allowed with mediaType audio",
        ));
    }
    Ok(())
}

fn is_http_url(s: &str) -> bool {
    s.strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .is_some_and(|rest| !rest.is_empty())
}

/// `data:[<type>][;base64],<data>`: the comma is what separates metadata from payload.
fn is_data_uri(s: &str) -> bool {
    s.strip_prefix("data:")
        .is_some_and(|rest| rest.contains(','))
}

fn check_variables(obj: &Map<String, Value>) -> Result<(), ApiError> {
    match obj.get("variables") {
        None => Ok(()),
        Some(Value::Object(vars)) if vars.values().all(Value::is_string) => Ok(()),
        Some(Value::String(_)) => Err(ApiError::invalid(
            "variables must be a JSON object of string values, not a string holding JSON",
        )),
        Some(_) => Err(ApiError::invalid(
            "variables must be a JSON object of string values",
        )),
    }
}

fn check_interactive(obj: &Map<String, Value>) -> Result<(), ApiError> {
    let has_buttons = match obj.get("buttons") {
        Some(buttons) => check_buttons(buttons).map(|()| true)?,
        None => false,
    };
    for field in ["header", "footer"] {
        if obj.contains_key(field) && !has_buttons {
            return Err(ApiError::invalid(format!("{field} requires buttons")));
        }
    }
    if let Some(header) = obj.get("header") {
        check_header(header)?;
    }
    match string(obj, "footer")? {
        Some(footer) if footer.chars().count() > MAX_SHORT_TEXT => Err(ApiError::invalid(format!(
            "footer must be at most {MAX_SHORT_TEXT} characters"
        ))),
        _ => Ok(()),
    }
}

fn check_buttons(buttons: &Value) -> Result<(), ApiError> {
    let Some(list) = buttons
        .as_array()
        .filter(|l| (1..=MAX_BUTTONS).contains(&l.len()))
    else {
        return Err(ApiError::invalid(format!(
            "buttons must be a JSON array of 1 to {MAX_BUTTONS} button objects"
        )));
    };
    let well_formed = |b: &Value| {
        ["type", "displayText"].into_iter().all(|k| {
            b.get(k)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        })
    };
    match list.iter().position(|b| !well_formed(b)) {
        Some(i) => Err(ApiError::invalid(format!(
            "buttons[{i}] must be an object with a non-empty string type and displayText"
        ))),
        None => Ok(()),
    }
}

fn check_header(header: &Value) -> Result<(), ApiError> {
    let field = |k| header.get(k).and_then(Value::as_str);
    let (Some(kind), Some(content)) = (field("type"), field("content")) else {
        return Err(ApiError::invalid(
            "header must be an object with a string type and content",
        ));
    };
    match kind {
        "text" if content.chars().count() <= MAX_SHORT_TEXT => Ok(()),
        "text" => Err(ApiError::invalid(format!(
            "header content must be at most {MAX_SHORT_TEXT} characters for a text header"
        ))),
        "image" | "video" | "document" if is_http_url(content) => Ok(()),
        "image" | "video" | "document" => Err(ApiError::invalid(
            "header content must be a public http(s) URL for an image, video or document header",
        )),
        _ => Err(ApiError::invalid(
            "header type must be one of text, image, video, document",
        )),
    }
}

fn check_extras(obj: &Map<String, Value>) -> Result<(), ApiError> {
    if obj
        .get("labels")
        .is_some_and(|l| !l.as_array().is_some_and(|l| l.iter().all(Value::is_string)))
    {
        return Err(ApiError::invalid("labels must be a JSON array of strings"));
    }
    if obj.get("aiRewriteEnabled").is_some_and(|b| !b.is_boolean()) {
        return Err(ApiError::invalid("aiRewriteEnabled must be a boolean"));
    }
    Ok(())
}

fn timestamp(obj: &Map<String, Value>, key: &str) -> Result<Option<Timestamp>, ApiError> {
    string(obj, key)?
        .map(|s| {
            s.parse::<Timestamp>().map_err(|_| {
                ApiError::invalid(format!(
                    "{key} must be an RFC 3339 date-time such as 2026-06-21T09:00:00Z"
                ))
            })
        })
        .transpose()
}

fn check_schedule(obj: &Map<String, Value>, now: Timestamp) -> Result<(), ApiError> {
    let deliver_at = timestamp(obj, "deliverAt")?;
    let Some(until) = timestamp(obj, "deliverUntil")? else {
        return Ok(());
    };
    if until <= now {
        return Err(ApiError::invalid("deliverUntil is in the past"));
    }
    if deliver_at.is_some_and(|at| until <= at) {
        return Err(ApiError::invalid("deliverUntil must be after deliverAt"));
    }
    Ok(())
}

/// The sandbox's template catalogue: these templates declare variables, so a CSV that
/// lacks one gets the API's `MISSING_TEMPLATE_VARIABLES`, as it would in production.
const TEMPLATES: [(&str, &[&str]); 2] = [
    ("boas_vindas", &["nome"]),
    ("promo_black_friday", &["nome", "cupom"]),
];

/// Sandbox convention: a template id starting with `unknown` does not exist; any other does,
/// and the catalogued ones need their variables.
fn check_template_exists(obj: &Map<String, Value>) -> Result<(), ApiError> {
    let Some(id) = string(obj, "templateId")? else {
        return Ok(());
    };
    if id.starts_with("unknown") {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "TEMPLATE_NOT_FOUND",
            "Template not found",
        ));
    }
    let missing = missing_variables(&TEMPLATES, id, obj);
    if missing.is_empty() {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::BAD_REQUEST,
        "MISSING_TEMPLATE_VARIABLES",
        format!("Template {id} needs variables: {}", missing.join(", ")),
    ))
}

/// The variables template `id` of a sandbox `catalogue` needs and the body lacks (shared by
/// both APIs' catalogues; the rule is the sandbox's, not the client's).
pub(crate) fn missing_variables<'a>(
    catalogue: &[(&str, &[&'a str])],
    id: &str,
    obj: &Map<String, Value>,
) -> Vec<&'a str> {
    let required = catalogue
        .iter()
        .find(|(name, _)| *name == id)
        .map_or(&[][..], |(_, vars)| *vars);
    let given = obj.get("variables").and_then(Value::as_object);
    required
        .iter()
        .copied()
        .filter(|var| given.is_none_or(|vars| !vars.contains_key(*var)))
        .collect()
}

#[cfg(test)]
mod tests;
