//! Reading `sentAt` cells, a million per report: the form a send writes
//! (`2026-01-15T12:00:00.123Z`, UTC, up to nine fractional digits) is read by hand, with no
//! copy and none of the general parser's options; any other text goes to jiff's parser, so
//! what is read, and what is refused, is exactly what `cell.parse::<Timestamp>()` gives.

use jiff::Timestamp;

/// `cell` as an instant, as `cell.parse::<Timestamp>().ok()` reads it.
pub fn parse(cell: &str) -> Option<Timestamp> {
    written(cell.as_bytes()).or_else(|| cell.parse().ok())
}

/// The form a send writes, `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z` from 1970 to 9998 (years jiff
/// reads the same way with no edge of its range near); `None` for anything else, which
/// [`parse`] hands to jiff.
fn written(text: &[u8]) -> Option<Timestamp> {
    let (civil, rest) = text.split_at_checked(19)?;
    let number = |from: usize, to: usize| digits(&civil[from..to]);
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(i, b)| civil[i] != b) {
        return None;
    }
    let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
    let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
    let valid = (1970..=9998).contains(&year)
        && (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    if !valid {
        return None;
    }
    let nanosecond = match rest {
        [b'Z'] => 0,
        [b'.', fraction @ .., b'Z'] if (1..=9).contains(&fraction.len()) => {
            digits(fraction)? * 10i64.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    let seconds = days_since_epoch(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Timestamp::new(seconds, i32::try_from(nanosecond).ok()?).ok()
}

/// ASCII digits as a number; `None` if any byte is not one.
fn digits(text: &[u8]) -> Option<i64> {
    text.iter().try_fold(0i64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_since_epoch(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let of_era = year - era * 400;
    let of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let of_era_days = of_era * 365 + of_era / 4 - of_era / 100 + of_year;
    era * 146_097 + of_era_days - 719_468
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Text near the written form: every field's edges (month 13, February 29, second 60),
    /// other separators and lengths, an offset instead of `Z`.
    fn near_written() -> impl Strategy<Value = String> {
        (
            prop_oneof![
                1969i64..=1971,
                1999i64..=2101,
                9990i64..=9999,
                0i64..=10_000
            ],
            0i64..=13,
            0i64..=32,
            (0i64..=25, 0i64..=61, 0i64..=61),
            prop::sample::select(vec!["T", "t", " ", "-"]),
            "(\\.[0-9]{0,11})?",
            prop::sample::select(vec!["Z", "z", "+00:00", "-03:00", "", "Z "]),
        )
            .prop_map(|(y, mo, d, (h, mi, s), t, fraction, zone)| {
                format!("{y:04}-{mo:02}-{d:02}{t}{h:02}:{mi:02}:{s:02}{fraction}{zone}")
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn reads_what_jiff_reads_and_refuses_what_it_refuses(text in near_written()) {
            prop_assert_eq!(parse(&text), text.parse::<Timestamp>().ok(), "{}", text);
        }

        #[test]
        fn any_text_reads_as_jiff_reads_it(text in "[0-9TZ:. +-]{0,32}") {
            prop_assert_eq!(parse(&text), text.parse::<Timestamp>().ok(), "{}", text);
        }

        /// Every instant a send may write (jiff's own form) takes the fast path.
        #[test]
        fn what_a_send_writes_is_read_by_hand(
            second in 0i64..=253_402_300_799 - 86_400 * 366,
            nanosecond in prop_oneof![Just(0i32), 0i32..1_000_000_000],
        ) {
            let at = Timestamp::new(second, nanosecond).unwrap();
            prop_assert_eq!(written(at.to_string().as_bytes()), Some(at), "{}", at);
        }
    }

    #[test]
    fn leap_days_and_month_ends() {
        for text in [
            "2024-02-29T23:59:59.999999999Z",
            "2000-02-29T00:00:00Z",
            "1970-01-01T00:00:00Z",
            "2026-12-31T23:59:59.5Z",
        ] {
            assert_eq!(written(text.as_bytes()), text.parse().ok(), "{text}");
            assert!(written(text.as_bytes()).is_some(), "{text}");
        }
        for text in [
            "2100-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-01-15T24:00:00Z",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }
}
