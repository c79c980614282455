//! A `Retry-After` that outlives the run. The line recorded for an answer that asked for a
//! wait says until when (in its `error` cell, which people read too), and the next run on
//! the same results file, a cron rerun above all, honors what is left of it before that
//! number's first send: it waits a remainder up to [`MAX_RETRY_AFTER`] and stops that
//! number at once beyond it, instead of asking again once per rerun.

use std::time::Duration;

use jiff::Timestamp;

use super::MAX_RETRY_AFTER;

/// The words before the instant, in the cell and when reading it back.
const MARK: &str = "the API asked to wait until ";

/// The longest wait written down: a year. A server may ask for centuries; the instant must
/// stay one a spreadsheet and this tool can read.
const LONGEST: Duration = Duration::from_secs(366 * 24 * 3600);

/// The instant an answer at `now` asked to wait until with `retry_after`, rounded up to the
/// second. A wait of 0 (retry at once) asks nothing.
pub fn asked_until(retry_after: Option<Duration>, now: Timestamp) -> Option<Timestamp> {
    let wait = retry_after.filter(|w| !w.is_zero())?.min(LONGEST);
    let until = now.checked_add(wait).ok()?;
    let whole = until.as_second() + i64::from(until.subsec_nanosecond() > 0);
    Timestamp::from_second(whole).ok()
}

/// The note a line carries when its answer asked to wait `retry_after` at `now`.
pub fn note(retry_after: Option<Duration>, now: Timestamp) -> Option<String> {
    Some(format!("{MARK}{}", asked_until(retry_after, now)?))
}

/// The server's `text` with `note` after it, for the `error` cell. The server's own text
/// never reads as a note: it could otherwise hold a number for as long as it liked.
pub fn noted(text: &str, note: Option<String>) -> String {
    let text = match text.contains(MARK) {
        true => text.replace(MARK, "the API asked to wait, until "),
        false => text.to_string(),
    };
    match note {
        None => text,
        Some(note) if text.is_empty() => note,
        Some(note) => format!("{text}; {note}"),
    }
}

/// The instant a cell's note names, if it carries one (the last, should a server's own text
/// hold the words too).
pub fn until(cell: &str) -> Option<Timestamp> {
    // Most cells are empty: no searcher is set up for them (a thousand instructions a line,
    // on the writer's thread, under the journal's lock).
    if cell.len() < MARK.len() {
        return None;
    }
    let at = cell.rfind(MARK)? + MARK.len();
    let instant = cell[at..].split([' ', ';', ')']).next()?;
    instant.parse().ok()
}

/// The latest wait a results file's notes (`holds`, by `sender` cell) asked of the number
/// labeled `label`, one of `numbers`: a file sent by one number holds it whatever its cells
/// say, and an empty cell (a single, unnamed sender) holds every number.
pub fn asked_of(holds: &[(String, Timestamp)], label: &str, numbers: usize) -> Option<Timestamp> {
    (holds.iter())
        .filter(|(cell, _)| numbers == 1 || cell.is_empty() || same(cell, label))
        .map(|(_, until)| *until)
        .max()
}

/// Whether a `sender` cell names the number `label`: as written, or as a spreadsheet re-saved
/// a label it read as a number (`01` written back as `1`, `1e5` as `1.00E+05` or `100000`).
/// A senders file never holds two labels this takes for one ([`crate::senders`] refuses it),
/// so a cell names one number at most.
pub fn same(cell: &str, label: &str) -> bool {
    cell == label || matches!((as_number(cell), as_number(label)), (Some(a), Some(b)) if a == b)
}

/// The number a spreadsheet reads in a label or `sender` cell that starts with a digit and
/// reads as one (`01`, `1e5`, `1.00E+05`), which it writes back in a form of its own; `None`
/// for text it keeps as written (`loja-1`, `1-2`, and `inf`, which starts with a letter).
pub fn as_number(text: &str) -> Option<f64> {
    let number = text
        .starts_with(|c: char| c.is_ascii_digit())
        .then(|| text.parse::<f64>());
    number.and_then(Result::ok).filter(|n| n.is_finite())
}

/// What a recorded hold means for a number's first send at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Nothing left to wait.
    No,
    /// Wait this long first: within what a run waits.
    For(Duration),
    /// Beyond what a run waits: this number sends nothing this run.
    Beyond(Timestamp),
}

impl Held {
    /// The hold `until` (if any) leaves at `now`.
    pub fn at(until: Option<Timestamp>, now: Timestamp) -> Held {
        let left = until.and_then(|until| Duration::try_from(until.duration_since(now)).ok());
        match (left, until) {
            (Some(left), Some(until)) if left > MAX_RETRY_AFTER => Held::Beyond(until),
            (Some(left), _) if !left.is_zero() => Held::For(left),
            _ => Held::No,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn a_note_reads_back_as_the_instant_rounded_up() {
        let now = at("2026-12-01T08:00:00.250Z");
        let written = note(Some(Duration::from_secs(7200)), now).unwrap();
        assert_eq!(written, "the API asked to wait until 2026-12-01T10:00:01Z");
        let cell = noted("Too many requests", Some(written));
        assert_eq!(until(&cell), Some(at("2026-12-01T10:00:01Z")));
        assert_eq!(noted("Too many requests", None), "Too many requests");
        assert_eq!(note(None, now), None);
        assert_eq!(note(Some(Duration::ZERO), now), None);
        let whole = at("2026-12-01T08:00:00Z");
        assert_eq!(
            note(Some(Duration::from_secs(5)), whole).as_deref(),
            Some("the API asked to wait until 2026-12-01T08:00:05Z")
        );
    }

    #[test]
    fn a_label_of_digits_is_the_same_after_a_spreadsheet_dropped_its_zeros() {
        assert!(same("norte", "norte") && same("1", "01") && same("007", "7"));
        assert!(!same("1", "10") && !same("Norte", "norte") && !same("", "0"));
    }

    #[test]
    fn a_label_a_spreadsheet_read_as_a_number_is_the_same_in_its_forms() {
        for cell in ["1e5", "1E5", "100000", "1.00E+05", "100000.0"] {
            assert!(same(cell, "1e5"), "{cell}");
        }
        assert!(!same("1e6", "1e5") && !same("1-2", "1e5"));
        for text in ["1-2", "loja-1", "inf", "nan", "1e999", "", "e5"] {
            assert_eq!(as_number(text), None, "{text}");
        }
    }

    #[test]
    fn an_absurd_wait_is_written_as_a_year() {
        let now = at("2026-12-01T08:00:00Z");
        let written = note(Some(Duration::MAX), now).unwrap();
        assert_eq!(until(&written), Some(at("2027-12-02T08:00:00Z")));
    }

    #[test]
    fn a_cell_without_a_readable_note_holds_nothing() {
        for cell in [
            "",
            "rate limited",
            "the API asked to wait until",
            "the API asked to wait until tomorrow",
        ] {
            assert_eq!(until(cell), None, "{cell}");
        }
        // The server's text may carry the words; the tool's own note comes last.
        let cell = "the API asked to wait until 2099-01-01T00:00:00Z; the API asked to wait \
                    until 2026-12-01T10:00:00Z";
        assert_eq!(until(cell), Some(at("2026-12-01T10:00:00Z")));
        // A server's text that says it never holds anything by itself.
        let forged = noted("the API asked to wait until 2099-01-01T00:00:00Z", None);
        assert_eq!(until(&forged), None, "{forged}");
    }

    #[test]
    fn what_is_left_is_waited_up_to_the_ceiling_and_beyond_it_stops() {
        let now = at("2026-12-01T08:00:00Z");
        assert_eq!(Held::at(None, now), Held::No);
        assert_eq!(Held::at(Some(at("2026-12-01T07:00:00Z")), now), Held::No);
        assert_eq!(Held::at(Some(now), now), Held::No);
        assert_eq!(
            Held::at(Some(at("2026-12-01T08:10:00Z")), now),
            Held::For(Duration::from_secs(600))
        );
        assert_eq!(
            Held::at(Some(at("2026-12-01T09:00:00Z")), now),
            Held::For(MAX_RETRY_AFTER)
        );
        let later = at("2026-12-01T09:00:01Z");
        assert_eq!(Held::at(Some(later), now), Held::Beyond(later));
    }
}
