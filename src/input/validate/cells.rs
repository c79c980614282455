//! Parsers of single cells (or flags): each turns one raw value into its typed form or a
//! [`RowError`] saying how to write it.

use std::fmt;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::{RowError, RowErrorCode};
use crate::fmt::shown;
use crate::message::{DeliverUntil, DirectKind, MediaType};

/// A public http(s) URL with a host, or a `data:` URI (`data:[type][;base64],payload`).
pub(super) fn is_media_url(s: &str) -> bool {
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

pub(super) fn parse_media(s: &str) -> Result<String, RowError> {
    if is_media_url(s) {
        Ok(s.to_owned())
    } else {
        Err(RowError::new(
            "media",
            RowErrorCode::InvalidMedia,
            format!(
                "'{}' is not a media location: use a public http(s) URL such as https://cdn.example.com/a.png, or a data: URI",
                shown(s)
            ),
        ))
    }
}

pub(super) fn parse_media_type(s: &str) -> Result<MediaType, RowError> {
    MediaType::parse(s).ok_or_else(|| {
        RowError::new(
            "mediaType",
            RowErrorCode::InvalidMediaType,
            format!(
                "'{}' is not a media type: use one of {}",
                shown(s),
                MediaType::NAMES
            ),
        )
    })
}

pub(super) fn parse_kind(s: &str) -> Result<DirectKind, RowError> {
    DirectKind::parse(s).ok_or_else(|| {
        RowError::new(
            "type",
            RowErrorCode::InvalidType,
            format!(
                "'{}' is not a type of message: use one of {}",
                shown(s),
                DirectKind::NAMES
            ),
        )
    })
}

/// A decimal number of degrees within ±`limit` (a comma as decimal separator is accepted,
/// as Brazilian and French spreadsheets write it).
pub(super) fn parse_coordinate(s: &str, field: &str, limit: f64) -> Result<f64, RowError> {
    match s.replace(',', ".").parse::<f64>() {
        Ok(v) if v.is_finite() && v.abs() <= limit => Ok(v),
        _ => Err(RowError::new(
            field,
            RowErrorCode::InvalidLocation,
            format!(
                "'{}' is not a {field}: write decimal degrees between -{limit} and {limit}, e.g. 6.3654",
                shown(s)
            ),
        )),
    }
}

pub(super) fn parse_deliver_at(s: &str) -> Result<Timestamp, RowError> {
    s.parse().map_err(|e| {
        RowError::new(
            "deliverAt",
            RowErrorCode::InvalidTimestamp,
            format!(
                "'{}' is not an RFC 3339 time ({e}): write it like 2026-06-21T09:00:00-03:00",
                shown(s)
            ),
        )
    })
}

/// An RFC 3339 instant, else a span of a minute to a year in jiff's friendly format
/// (`4h`, `90m`) or ISO 8601: a longer one is a slip (and past a point cannot be added to a
/// time at all, which would drop it from the request without a word), and a shorter one
/// expires before the message can be delivered ([`DeliverUntil::SHORTEST`]).
pub(super) fn parse_deliver_until(s: &str) -> Result<DeliverUntil, RowError> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(DeliverUntil::At(t));
    }
    const YEAR: SignedDuration = SignedDuration::from_hours(366 * 24);
    match s.parse::<SignedDuration>() {
        Ok(d) if d.is_positive() && d < DeliverUntil::SHORTEST => Err(RowError::new(
            "deliverUntil",
            RowErrorCode::InvalidTimestamp,
            format!(
                "'{}' is shorter than a minute: the message would expire before it can be delivered; write a span of at least 1m (90m, 4h) or a time",
                shown(s)
            ),
        )),
        Ok(d) if d.is_positive() && d <= YEAR => Ok(DeliverUntil::After(d)),
        Ok(d) if d.is_positive() => Err(RowError::new(
            "deliverUntil",
            RowErrorCode::InvalidTimestamp,
            format!(
                "'{}' is longer than a year: write a shorter span (4h, 90m) or a time",
                shown(s)
            ),
        )),
        _ => Err(RowError::new(
            "deliverUntil",
            RowErrorCode::InvalidTimestamp,
            format!(
                "'{}' is neither an RFC 3339 time nor a positive duration: write 2026-06-21T18:00:00-03:00, 4h or 90m",
                shown(s)
            ),
        )),
    }
}

/// `"a, b,,c"` → `["a", "b", "c"]`.
pub(super) fn parse_labels(s: &str) -> Vec<String> {
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
pub(super) fn parse_buttons(s: &str) -> Result<Vec<Value>, RowError> {
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
        // Empty, a button has nothing to show (the API refuses it): after its merge fields
        // are filled too, as these are checked on the rendered value.
        if (b.get("displayText").and_then(Value::as_str)).is_none_or(|t| t.trim().is_empty()) {
            return Err(buttons_error(
                RowErrorCode::InvalidButtons,
                format_args!("button {n} has no \"displayText\" (a non-empty string)"),
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
pub(super) fn parse_header(s: &str) -> Result<Value, RowError> {
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
        // The API takes "a public URL as content" here (a data: URI only as `media`).
        Some("image" | "video" | "document") => {
            let data = content
                .get(..5)
                .is_some_and(|p| p.eq_ignore_ascii_case("data:"));
            if data || !is_media_url(content) {
                return Err(header_error(format_args!(
                    "content '{}' is not a public http(s) URL, which a media header needs",
                    shown(content)
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

pub(super) fn parse_footer(s: &str) -> Result<String, RowError> {
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
