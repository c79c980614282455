//! Destination cells: phone numbers (normalized to E.164, or a BSUID), group and channel ids.

use phonenumber::country;

use super::InputError;
use super::error::shown;
use super::numbering::{self, Check, Home};
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

/// Turns phone cells as spreadsheets hold them (`(11) 98888-7777`, `5511988887777`,
/// `+55 11 98888-7777`) into E.164, refusing numbers that are not valid for their country.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Phones {
    /// `--default-country`: the country of numbers written without a country code.
    region: Option<country::Id>,
    /// The same country compiled for the fast path (`None`: its numbers take the crate's).
    home: Option<Home>,
    /// Whether [`numbering`] may answer before the crate: always, except for the
    /// differential test that holds the two to the same answers.
    fast_path: bool,
}

impl Phones {
    /// `default_country` is a two-letter ISO code such as `BR` (any case).
    pub(crate) fn new(default_country: Option<&str>) -> Result<Phones, InputError> {
        let region = default_country
            .map(|c| {
                c.trim()
                    .to_ascii_uppercase()
                    .parse::<country::Id>()
                    .map_err(|_| InputError::UnknownCountry {
                        given: c.to_owned(),
                    })
            })
            .transpose()?;
        let home = region.and_then(|r| Home::new(r.as_ref()));
        Ok(Phones {
            region,
            home,
            fast_path: true,
        })
    }

    /// The E.164 form of a phone cell (or the BSUID as is), else why it is not a number.
    ///
    /// Digits without `+` are read in the default country first; if that is not a valid
    /// number they are retried as an international number, because exports often drop the
    /// `+` but keep the country code (`5511966665555`). Letters are refused rather than
    /// read as a vanity number.
    pub(crate) fn normalize(&self, raw: &str) -> Result<String, String> {
        self.normalize_into(raw, String::new())
    }

    /// [`Phones::normalize`], the answer written into `out` (a string to fill again) when
    /// it is the cell or the fast path's.
    fn normalize_into(&self, raw: &str, mut out: String) -> Result<String, String> {
        if is_bsuid(raw) {
            out.clear();
            out.push_str(raw);
            return Ok(out);
        }
        // Already E.164 (`+` and digits, the common cell): the same replay as below, without
        // copying the digits out first.
        if self.fast_path
            && let Some(digits) = raw.strip_prefix('+')
            && digits.bytes().all(|b| b.is_ascii_digit())
            && numbering::international(digits).write_e164(&mut out)
        {
            return Ok(out);
        }
        let (region, digits) = self.digits(raw)?;
        if self.fast_path && self.fast(region.is_none(), &digits, &mut out) {
            return Ok(out);
        }
        parse(raw, region, &digits)
    }

    /// The cell as the parser takes it: its digits (and `+`), and the country to read them
    /// in (`None` for a number starting with `+`).
    fn digits(&self, raw: &str) -> Result<(Option<country::Id>, String), String> {
        if !raw.chars().all(|c| c.is_ascii_digit() || separator(c)) {
            return Err(format!(
                "'{}' is not a phone number: use digits only, with + and the country code, like {EXAMPLE}",
                shown(raw)
            ));
        }
        // Handing the parser bare digits skips its free-text scanning, the slow part.
        let mut digits = String::with_capacity(raw.len());
        digits.extend(raw.chars().filter(|c| c.is_ascii_digit() || *c == '+'));
        match (digits.starts_with('+'), self.region) {
            (true, _) => Ok((None, digits)),
            (false, Some(r)) => Ok((Some(r), digits)),
            // `00`, the international prefix of most of the world, says as much as a `+`.
            (false, None) if digits.starts_with("00") => {
                digits.replace_range(..2, "+");
                Ok((None, digits))
            }
            (false, None) => Err(format!(
                "'{}' has no country code: write it like {EXAMPLE}, or pass --default-country (e.g. BR)",
                shown(raw)
            )),
        }
    }

    /// Writes the E.164 form into `out` when [`numbering`] can tell it without the crate's
    /// parser, and says whether it could: the same two tries as [`Phones::normalize`], each
    /// answered only when replayed exactly.
    fn fast(&self, international: bool, digits: &str, out: &mut String) -> bool {
        let check = match (international, self.home) {
            (true, _) => match digits.strip_prefix('+') {
                Some(digits) => numbering::international(digits),
                None => Check::Unsure,
            },
            (false, Some(home)) => match home.national(digits) {
                Check::Invalid => numbering::international(digits),
                check => check,
            },
            (false, None) => Check::Unsure,
        };
        check.write_e164(out)
    }

    /// Checks one non-empty, trimmed destination cell from column `column`.
    pub(crate) fn destination(
        &self,
        kind: DestKind,
        column: &str,
        raw: &str,
    ) -> Result<Destination, RowError> {
        self.destination_into(kind, column, raw, String::new())
    }

    /// [`Phones::destination`], a phone number written into `out` (a string to fill again:
    /// most numbers then cost no allocation).
    pub(crate) fn destination_into(
        &self,
        kind: DestKind,
        column: &str,
        raw: &str,
        out: String,
    ) -> Result<Destination, RowError> {
        let invalid = |why: String| RowError::new(column, RowErrorCode::InvalidDestination, why);
        if raw.len() > MAX_DESTINATION {
            return Err(invalid(format!(
                "'{}' is too long for a phone number or an id: put one destination in the cell, like {EXAMPLE}",
                shown(raw)
            )));
        }
        match kind {
            DestKind::Phone => (self.normalize_into(raw, out))
                .map(Destination::Phone)
                .map_err(invalid),
            DestKind::Group => jid(raw, "@g.us", "123456789-987654321@g.us")
                .map(Destination::Group)
                .map_err(invalid),
            DestKind::Newsletter => jid(raw, "@newsletter", "120363000000000000@newsletter")
                .map(Destination::Newsletter)
                .map_err(invalid),
        }
    }
}

/// Whether `cell` is written as a phone number may be (digits, at least one, and the
/// [`separator`]s around them), whether or not it is a valid one.
pub(crate) fn is_phone_like(cell: &str) -> bool {
    cell.contains(|c: char| c.is_ascii_digit())
        && cell.chars().all(|c| c.is_ascii_digit() || separator(c))
}

/// A character a phone cell may hold besides its digits: the usual `+ -().` and spaces, and
/// their look-alikes that spreadsheets and web pages paste in (non-breaking and other
/// Unicode spaces, zero-width characters, Unicode hyphens), which all read as a space.
fn separator(c: char) -> bool {
    " +-().".contains(c)
        || c.is_whitespace()
        || super::visible::invisible(c)
        || matches!(c, '\u{2010}'..='\u{2015}' | '\u{2212}')
}

/// The most bytes of a destination cell: a number, BSUID or group id is a few dozen, so a
/// longer cell is refused before any parsing.
pub(crate) const MAX_DESTINATION: usize = 128;

/// A well-formed number, shown in error messages.
const EXAMPLE: &str = "+5511988887777";

/// The `phonenumber` crate's answer for `digits` read in `region` (then, for digits without
/// `+`, as an international number: after a leading `00`, the international prefix, or
/// with the whole as the country code and number of an export that dropped the `+`).
fn parse(raw: &str, region: Option<country::Id>, digits: &str) -> Result<String, String> {
    let first = phonenumber::parse(region, digits);
    if let Ok(n) = &first
        && is_valid(n)
    {
        return Ok(e164(n));
    }
    let second = region.map(|_| {
        let international = digits.strip_prefix("00").unwrap_or(digits);
        phonenumber::parse(None, format!("+{international}"))
    });
    if let Some(Ok(n)) = &second
        && is_valid(n)
    {
        return Ok(e164(n));
    }
    // A cell written with `00` meant the international reading: the region's own reading
    // of it (Brazil takes `0055` for a carrier's prefix, then `1` as the country) would
    // explain the refusal with a country nobody wrote.
    let explained = match second {
        Some(second) if digits.starts_with("00") => second,
        _ => first,
    };
    Err(match explained {
        Err(e) => format!(
            "'{}' is not a phone number ({e}): write it like {EXAMPLE}",
            shown(raw)
        ),
        Ok(n) => {
            let country = n.country().id().map_or_else(
                || format!("+{}", n.code().value()),
                |id| id.as_ref().to_owned(),
            );
            format!(
                "'{}' is not a valid {country} number (wrong length or area code): check the digits, e.g. {EXAMPLE}",
                shown(raw)
            )
        }
    })
}

/// The crate's `is_valid`, and the number's type matching it whole, as libphonenumber asks
/// (see [`numbering::is_complete`]).
fn is_valid(n: &phonenumber::PhoneNumber) -> bool {
    let national = n.national();
    let whole = format!(
        "{}{}",
        "0".repeat(usize::from(national.zeros())),
        national.value()
    );
    n.is_valid()
        && n.country()
            .id()
            .is_none_or(|id| numbering::is_complete(n.code().value(), id.as_ref(), &whole))
}

fn e164(n: &phonenumber::PhoneNumber) -> String {
    n.format().mode(phonenumber::Mode::E164).to_string()
}

/// A WhatsApp JID: a non-empty id without spaces followed by `suffix`.
fn jid(raw: &str, suffix: &str, example: &str) -> Result<String, String> {
    match raw.strip_suffix(suffix) {
        Some(id) if !id.is_empty() && !id.contains(char::is_whitespace) && !id.contains('@') => {
            Ok(raw.to_owned())
        }
        _ => Err(format!(
            "'{}' must be an id ending in {suffix}, like {example}",
            shown(raw)
        )),
    }
}

#[cfg(test)]
mod differential;

#[cfg(test)]
mod tests {
    use super::*;

    fn br() -> Phones {
        Phones::new(Some("br")).unwrap()
    }

    #[test]
    fn spreadsheet_numbers_become_e164_with_a_default_country() {
        for (raw, want) in [
            ("(11) 98888-7777", "+5511988887777"),
            ("11988887777", "+5511988887777"),
            ("+55 11 97777-6666", "+5511977776666"),
            ("5511966665555", "+5511966665555"),
            ("0055 11 97777 5555", "+5511977775555"),
            ("00 351 912 345 678", "+351912345678"),
            ("+1 (202) 555-0123", "+12025550123"),
            ("BR.13491208655302741918", "BR.13491208655302741918"),
        ] {
            assert_eq!(br().normalize(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn numbers_not_valid_for_their_country_are_refused_with_the_reason() {
        for (raw, why) in [
            ("(11) 8888-777", "not a valid BR number"),
            ("+55 11 1234", "not a valid BR number"),
            ("0800 FLORES", "not a phone number"),
            ("12", "not a valid BR number"),
            ("(-)", "not a phone number"),
            ("0055 11 9777 555", "not a valid BR number"),
        ] {
            let e = br()
                .destination(DestKind::Phone, "celular", raw)
                .unwrap_err();
            assert_eq!(
                (e.field.as_str(), e.code),
                ("celular", RowErrorCode::InvalidDestination),
                "{raw}"
            );
            assert!(e.message.contains(why), "{raw}: {}", e.message);
        }
    }

    #[test]
    fn a_number_is_valid_only_if_a_type_of_its_country_matches_all_its_digits() {
        // The crate accepts a pattern matching a prefix, then checks the length against
        // every length the type allows: a landline with digits appended passed. These
        // verdicts are libphonenumber's own (Python's `phonenumbers` 9.0).
        for (raw, valid) in [
            ("+972 3-123-4567", true),
            ("+972 3-123-4567 890", false),
            ("+972 8-912-3456 789", false),
            ("+353 22 12345 53", false),
            ("+60 12-345 67890", false),
            // Patterns whose first alternative matches a prefix and a later one the whole.
            ("+82 2-2123-4568", true),
            ("+358 13 1234567", true),
            ("+62 21 8350123", true),
        ] {
            let verdict = br().destination(DestKind::Phone, "celular", raw);
            assert_eq!(verdict.is_ok(), valid, "{raw}: {verdict:?}");
        }
    }

    #[test]
    fn unicode_spaces_and_hyphens_read_as_spaces_and_other_marks_are_shown() {
        for raw in [
            "+55\u{a0}11\u{a0}98888-0010",
            "(11)\u{202f}98888\u{2011}0010",
            "+55 11\u{200b}98888\u{3000}0010",
            // As phones copy a number: wrapped in direction embeddings.
            "\u{202a}+55 11 98888-0010\u{202c}\u{200e}",
        ] {
            assert_eq!(
                br().normalize(raw).as_deref(),
                Ok("+5511988880010"),
                "{raw:?}"
            );
        }
        let e = br().normalize("+55 11 98888-0010\u{7}").unwrap_err();
        assert!(e.starts_with("'+55 11 98888-0010\\u{7}' is not"), "{e}");
        let e = br().normalize(&"1".repeat(100_000)).unwrap_err();
        assert!(e.len() < 300 && e.contains("(100000 characters)"), "{e}");
    }

    #[test]
    fn without_a_default_country_only_international_numbers_pass() {
        let p = Phones::new(None).unwrap();
        assert_eq!(
            p.normalize("+55 (11) 98888-7777").as_deref(),
            Ok("+5511988887777")
        );
        for raw in ["11988887777", "5511988887777"] {
            let e = p.normalize(raw).unwrap_err();
            assert!(e.contains("--default-country"), "{e}");
        }
        assert_eq!(
            p.normalize("0055 (11) 98888-7777").as_deref(),
            Ok("+5511988887777"),
            "00 is an international prefix"
        );
        let us = Phones::new(Some("US")).unwrap();
        assert_eq!(
            us.normalize("0055 11 98888 7777").as_deref(),
            Ok("+5511988887777")
        );
        assert!(matches!(
            Phones::new(Some("Brasil")),
            Err(InputError::UnknownCountry { .. })
        ));
    }

    #[test]
    fn groups_and_newsletters_need_their_suffix() {
        assert_eq!(
            br().destination(DestKind::Group, "groupId", "1-2@g.us"),
            Ok(Destination::Group("1-2@g.us".into()))
        );
        assert_eq!(
            br().destination(DestKind::Newsletter, "newsletterId", "1203@newsletter"),
            Ok(Destination::Newsletter("1203@newsletter".into()))
        );
        for (kind, bad) in [
            (DestKind::Group, "1-2@newsletter"),
            (DestKind::Group, "@g.us"),
            (DestKind::Newsletter, "1203@g.us"),
            (DestKind::Newsletter, "a b@newsletter"),
        ] {
            assert_eq!(
                br().destination(kind, "c", bad).unwrap_err().code,
                RowErrorCode::InvalidDestination,
                "{bad}"
            );
        }
    }
}
