//! MsgFlash's send endpoint rules, written from its send doc alone (`msgflash-send.md`).
//!
//! Like `validate.rs` for Pilot Status, nothing is shared with the client's own checks, so
//! the sandbox stays a second opinion. Sandbox conventions (not in the doc, documented in
//! the README): an id whose first group is `00000000` does not exist (404 `NOT_FOUND`); the
//! catalogued template below needs its variables; a text over 4096 characters (WhatsApp's
//! own limit) is a `VALIDATION_ERROR`; a key starting `msgf_inactive` has no usable
//! subscription (403 `SUBSCRIPTION_INACTIVE`).

use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::error::ApiError;

/// Every body field the doc lists.
const FIELDS: [&str; 12] = [
    "instanceId",
    "to",
    "type",
    "templateId",
    "text",
    "mediaUrl",
    "latitude",
    "longitude",
    "locationName",
    "locationAddress",
    "contactId",
    "variables",
];

/// Each direct type with the fields it requires and the optional ones it allows, from the
/// doc's examples.
const TYPES: [(&str, &[&str], &[&str]); 8] = [
    ("text", &["text"], &[]),
    ("image", &["mediaUrl"], &["text"]),
    ("video", &["mediaUrl"], &["text"]),
    ("audio", &["mediaUrl"], &[]),
    ("voice_note", &["mediaUrl"], &[]),
    ("document", &["mediaUrl"], &["text"]),
    (
        "location",
        &["latitude", "longitude"],
        &["locationName", "locationAddress"],
    ),
    ("contact", &["contactId"], &[]),
];

/// Template mode's optional fields.
const TEMPLATE_FIELDS: [&str; 2] = ["variables", "contactId"];

/// WhatsApp's limit on a text body or caption.
const MAX_TEXT: usize = 4096;

/// The sandbox's template catalogue: this template needs `custom.app` and `custom.coupon`.
const TEMPLATES: [(&str, &[&str]); 1] =
    [("11111111-1111-4111-8111-111111111111", &["app", "coupon"])];

/// Checks a parsed send body; the error is the answer MsgFlash would give.
pub(crate) fn validate(body: &Value) -> Result<(), ApiError> {
    let Value::Object(obj) = body else {
        return Err(invalid("the body must be a JSON object"));
    };
    if let Some(unknown) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(invalid(format!(
            "{unknown} is not a field of this endpoint"
        )));
    }
    uuid(obj, "instanceId", true)?;
    let to = text(obj, "to")?.ok_or_else(|| invalid("to is required"))?;
    if !is_e164(to) {
        return Err(invalid("to must be an E.164 number such as +33612345678"));
    }
    let (required, optional): (&[&str], &[&str]) = match (
        text(obj, "type")?,
        text(obj, "templateId")?,
    ) {
        (Some(_), Some(_)) => return Err(invalid("give either type or templateId, not both")),
        (None, None) => return Err(invalid("type is required when there is no templateId")),
        (None, Some(_)) => (&["templateId"], &TEMPLATE_FIELDS),
        (Some(kind), None) => match TYPES.iter().find(|(name, ..)| *name == kind) {
            Some(&(_, required, optional)) => (required, optional),
            None => {
                return Err(invalid(
                    "type must be one of text, image, video, audio, voice_note, document, location, contact",
                ));
            }
        },
    };
    if let Some(missing) = required.iter().find(|f| !obj.contains_key(**f)) {
        return Err(invalid(format!("{missing} is required for this type")));
    }
    let common = ["instanceId", "to", "type"];
    if let Some(stray) = obj
        .keys()
        .map(String::as_str)
        .find(|k| !common.contains(k) && !required.contains(k) && !optional.contains(k))
    {
        return Err(invalid(format!("{stray} is not allowed with this type")));
    }
    uuid(obj, "templateId", false)?;
    uuid(obj, "contactId", false)?;
    check_variables(obj)?;
    check_values(obj)?;
    not_found(obj)?;
    check_template(obj)
}

/// The values' own forms: URL, coordinates, text length, names.
fn check_values(obj: &Map<String, Value>) -> Result<(), ApiError> {
    if let Some(url) = text(obj, "mediaUrl")?
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(invalid("mediaUrl must be a public http(s) URL"));
    }
    for (field, limit) in [("latitude", 90.0), ("longitude", 180.0)] {
        match obj.get(field) {
            None => {}
            Some(Value::Number(n)) if n.as_f64().is_some_and(|v| v.abs() <= limit) => {}
            Some(_) => {
                return Err(invalid(format!(
                    "{field} must be a number between -{limit} and {limit}"
                )));
            }
        }
    }
    if text(obj, "text")?.is_some_and(|t| t.chars().count() > MAX_TEXT) {
        return Err(invalid(format!(
            "text must be at most {MAX_TEXT} characters"
        )));
    }
    text(obj, "locationName")?;
    text(obj, "locationAddress")?;
    Ok(())
}

/// `Ok(None)` when absent, the value when a non-empty string, an error naming `key` otherwise.
fn text<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, ApiError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s)),
        Some(_) => Err(invalid(format!("{key} must be a non-empty string"))),
    }
}

fn uuid(obj: &Map<String, Value>, key: &str, required: bool) -> Result<(), ApiError> {
    match text(obj, key)? {
        None if required => Err(invalid(format!("{key} is required"))),
        None => Ok(()),
        Some(id) if is_uuid(id) => Ok(()),
        Some(_) => Err(invalid(format!("{key} must be a UUID"))),
    }
}

fn is_uuid(s: &str) -> bool {
    let lens: Vec<usize> = s.split('-').map(str::len).collect();
    lens == [8, 4, 4, 4, 12] && s.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit())
}

/// `+`, then 8 to 15 digits, the first not zero.
fn is_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|d| {
        (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    })
}

fn check_variables(obj: &Map<String, Value>) -> Result<(), ApiError> {
    match obj.get("variables") {
        None => Ok(()),
        Some(Value::Object(vars)) if vars.values().all(Value::is_string) => Ok(()),
        Some(_) => Err(invalid("variables must be a JSON object of string values")),
    }
}

/// Sandbox convention: ids starting `00000000-` name nothing.
fn not_found(obj: &Map<String, Value>) -> Result<(), ApiError> {
    let missing = ["instanceId", "templateId", "contactId"]
        .into_iter()
        .find(|k| {
            obj.get(*k)
                .and_then(Value::as_str)
                .is_some_and(|id| id.starts_with("00000000-"))
        });
    match missing {
        Some(key) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("{key} not found"),
        )),
        None => Ok(()),
    }
}

fn check_template(obj: &Map<String, Value>) -> Result<(), ApiError> {
    let Some(id) = obj.get("templateId").and_then(Value::as_str) else {
        return Ok(());
    };
    let missing = super::validate::missing_variables(&TEMPLATES, id, obj);
    if missing.is_empty() {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::BAD_REQUEST,
        "TEMPLATE_VARIABLES_MISSING",
        format!("custom variables missing: {}", missing.join(", ")),
    ))
}

fn invalid(error: impl Into<String>) -> ApiError {
    ApiError::invalid(error)
}
