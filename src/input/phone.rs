//! Destination cells: phone numbers (E.164 or BSUID), group and channel ids.

use super::validate::{RowError, RowErrorCode};
use crate::message::Destination;

/// Which destination field of the API a column feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DestKind {
    Phone,
    Group,
    Newsletter,
}

/// A BSUID, the durable WhatsApp user id: two upper-case letters, a dot, digits
/// (`BR.13491208655302741918`). Passed through untouched.
pub(crate) fn is_bsuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > 3
        && b[0].is_ascii_uppercase()
        && b[1].is_ascii_uppercase()
        && b[2] == b'.'
        && b[3..].iter().all(u8::is_ascii_digit)
}

/// E.164 as the API wants it: `+` then 8 to 15 digits.
fn is_e164(s: &str) -> bool {
    s.strip_prefix('+')
        .is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks one non-empty, trimmed destination cell from column `column`.
pub(crate) fn parse_destination(
    kind: DestKind,
    column: &str,
    raw: &str,
) -> Result<Destination, RowError> {
    let invalid = |why: String| RowError::new(column, RowErrorCode::InvalidDestination, why);
    match kind {
        DestKind::Phone if is_e164(raw) || is_bsuid(raw) => Ok(Destination::Phone(raw.to_owned())),
        DestKind::Phone => Err(invalid(format!(
            "'{raw}' is not a phone number in E.164 form: write it with + and the country code, like +5511988887777 (or a BSUID such as BR.13491208655302741918)"
        ))),
        DestKind::Group => jid(raw, "@g.us", "123456789-987654321@g.us")
            .map(Destination::Group)
            .map_err(invalid),
        DestKind::Newsletter => jid(raw, "@newsletter", "120363000000000000@newsletter")
            .map(Destination::Newsletter)
            .map_err(invalid),
    }
}

/// A WhatsApp JID: a non-empty id without spaces followed by `suffix`.
fn jid(raw: &str, suffix: &str, example: &str) -> Result<String, String> {
    match raw.strip_suffix(suffix) {
        Some(id) if !id.is_empty() && !id.contains(char::is_whitespace) && !id.contains('@') => {
            Ok(raw.to_owned())
        }
        _ => Err(format!(
            "'{raw}' must be an id ending in {suffix}, like {example}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_in_e164_or_bsuid_pass() {
        for ok in [
            "+5511988887777",
            "+12025550123",
            "+12345678",
            "BR.13491208655302741918",
        ] {
            assert_eq!(
                parse_destination(DestKind::Phone, "phone", ok),
                Ok(Destination::Phone(ok.into()))
            );
        }
        for bad in [
            "5511988887777",
            "+1234567",
            "+1234567890123456",
            "+55 11 98888",
            "br.123",
            "BR.",
            "BR.12a",
        ] {
            let e = parse_destination(DestKind::Phone, "phone", bad).unwrap_err();
            assert_eq!(
                (e.field.as_str(), e.code),
                ("phone", RowErrorCode::InvalidDestination),
                "{bad}"
            );
            assert!(
                e.message.contains("+5511988887777"),
                "shows the expected form: {}",
                e.message
            );
        }
    }

    #[test]
    fn groups_and_newsletters_need_their_suffix() {
        assert_eq!(
            parse_destination(DestKind::Group, "groupId", "1-2@g.us"),
            Ok(Destination::Group("1-2@g.us".into()))
        );
        assert_eq!(
            parse_destination(DestKind::Newsletter, "newsletterId", "1203@newsletter"),
            Ok(Destination::Newsletter("1203@newsletter".into()))
        );
        for (kind, bad) in [
            (DestKind::Group, "1-2@newsletter"),
            (DestKind::Group, "@g.us"),
            (DestKind::Newsletter, "1203@g.us"),
            (DestKind::Newsletter, "a b@newsletter"),
        ] {
            assert_eq!(
                parse_destination(kind, "c", bad).unwrap_err().code,
                RowErrorCode::InvalidDestination,
                "{bad}"
            );
        }
    }
}
