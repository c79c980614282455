//! A cell as the results file holds it: quoted as the `csv` crate quotes, one line, and never
//! run by a spreadsheet as a formula; and the way back ([`unescape`]). Pure text functions,
//! shared by the line writer ([`super::record`]) and the readers.

use std::borrow::Cow;

/// One line being appended, a cell at a time.
pub(super) struct Line<'o> {
    out: &'o mut Vec<u8>,
    delimiter: u8,
    first: bool,
}

impl<'o> Line<'o> {
    /// A line appended to `out`, its cells separated by `delimiter`.
    pub(super) fn new(out: &'o mut Vec<u8>, delimiter: u8) -> Line<'o> {
        Line {
            out,
            delimiter,
            first: true,
        }
    }

    /// Ends the line.
    pub(super) fn end(self) {
        self.out.push(b'\n');
    }

    /// One text cell, quoted when it holds the delimiter, a quote or a line break.
    pub(super) fn cell(&mut self, cell: &str) {
        self.separate();
        let bytes = cell.as_bytes();
        if self.plain(bytes) {
            self.out.extend_from_slice(bytes);
            return;
        }
        self.out.push(b'"');
        for part in bytes.split_inclusive(|&b| b == b'"') {
            self.out.extend_from_slice(part);
            if part.ends_with(b"\"") {
                self.out.push(b'"');
            }
        }
        self.out.push(b'"');
    }

    /// A free-text cell: what `cell(&text_cell(text))` writes, with one look at the text
    /// when it needs no change, as most cells of every line do.
    pub(super) fn text(&mut self, text: &str) {
        if self.plain(text.as_bytes()) && !needs_quote(text) && !text.starts_with('\'') {
            self.separate();
            self.out.extend_from_slice(text.as_bytes());
        } else {
            self.cell(&text_cell(text));
        }
    }

    /// A destination cell: what `cell(&destination_cell(destination))` writes.
    pub(super) fn destination(&mut self, destination: &str) {
        self.cell(&destination_cell(destination));
    }

    /// One number cell, in decimal digits.
    pub(super) fn number(&mut self, n: u64) {
        self.separate();
        crate::fmt::push_decimal(self.out, n);
    }

    /// Whether `bytes` go in as they are: no delimiter, quote or line break to quote.
    fn plain(&self, bytes: &[u8]) -> bool {
        let delimiter = self.delimiter;
        !bytes
            .iter()
            .any(|&b| b == delimiter || matches!(b, b'"' | b'\n' | b'\r'))
    }

    fn separate(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.out.push(self.delimiter);
        }
    }
}

/// A free-text cell: one line, and never run by a spreadsheet.
pub(super) fn text_cell(text: &str) -> Cow<'_, str> {
    match one_line(text) {
        Cow::Borrowed(text) => excel_safe(text),
        Cow::Owned(text) => Cow::Owned(excel_safe(&text).into_owned()),
    }
}

/// Spreadsheets run a cell that starts with `=`, `+`, `-`, `@`, tab or CR as a formula
/// (CSV injection). Such cells get a leading `'` (as does a cell that already starts with
/// one, so that [`unescape`] gives back exactly what was written).
pub(super) fn excel_safe(cell: &str) -> Cow<'_, str> {
    if needs_quote(cell) || cell.starts_with('\'') {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// Whether a spreadsheet would run `cell` as a formula.
pub(super) fn needs_quote(cell: &str) -> bool {
    matches!(
        cell.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    )
}

/// An E.164 destination (`+` and digits only, as validated) stays usable as is; anything
/// else is neutralized like any other cell.
pub(super) fn destination_cell(destination: &str) -> Cow<'_, str> {
    if is_e164(destination) {
        Cow::Borrowed(destination)
    } else {
        text_cell(destination)
    }
}

/// `+` and digits only.
pub(super) fn is_e164(destination: &str) -> bool {
    (destination.strip_prefix('+'))
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// The inverse of [`excel_safe`]: one leading `'` goes when what follows needed it. A
/// spreadsheet that dropped the `'` on saving gives the same text.
pub(super) fn unescape(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if needs_quote(rest) || rest.starts_with('\'') => rest,
        _ => cell,
    }
}

/// Line breaks (CR, LF, CRLF) in a cell the tool writes become one space each, so that one
/// record is always one line.
pub(super) fn one_line(text: &str) -> Cow<'_, str> {
    if text.contains(['\n', '\r']) {
        Cow::Owned(text.replace("\r\n", " ").replace(['\r', '\n'], " "))
    } else {
        Cow::Borrowed(text)
    }
}

/// What a spreadsheet made of a cell it took for a number, saved as its column showed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Number {
    /// Digits only: the number whole (a `+` before it was read as its sign and dropped).
    Digits,
    /// Digits with a decimal or grouping separator (`5511900000001.0`,
    /// `5.511.900.000.001`): a number format was applied to the column.
    Formatted,
    /// Scientific notation, as a column too narrow for the number shows it (`5.51E+12`;
    /// `5,51E+12` where the decimal separator is a comma): digits are rounded away.
    Scientific,
}

/// `text` read as a spreadsheet writes a number: digits, with `.` or `,` among them, then,
/// for scientific notation, `E`, a sign and two digits or more (spreadsheets write a
/// capital and always the sign, so no hexadecimal id reads as one). `None` for anything
/// else.
pub(super) fn number(text: &str) -> Option<Number> {
    // Most cells (ids, text) are no number from their first byte on.
    if !text.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let (mantissa, exponent) = match text.find('E') {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let bytes = mantissa.as_bytes();
    let digits_at_ends = bytes.first().is_some_and(u8::is_ascii_digit)
        && bytes.last().is_some_and(u8::is_ascii_digit);
    if !digits_at_ends
        || !bytes
            .iter()
            .all(|b| b.is_ascii_digit() || b",.".contains(b))
    {
        return None;
    }
    match exponent {
        Some(e) => {
            let power = e.strip_prefix(['+', '-'])?;
            (power.len() >= 2 && power.bytes().all(|b| b.is_ascii_digit()))
                .then_some(Number::Scientific)
        }
        None if bytes.iter().all(u8::is_ascii_digit) => Some(Number::Digits),
        None => Some(Number::Formatted),
    }
}

/// Whether a `messageId` cell reads as a number a spreadsheet rounded into scientific
/// notation (`5.51E+12`): the id it held is lost, so a line holding one is refused.
pub(super) fn rounded_id(cell: &str) -> bool {
    number(clean(cell)) == Some(Number::Scientific)
}

/// The most digits an E.164 number has (the country code included), and so the most a
/// spreadsheet keeps exactly (it keeps 15 significant digits).
const E164_DIGITS: usize = 15;

/// Why a destination cell of a line that may have reached the API cannot be read back as
/// the destination it was sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lost {
    /// A spreadsheet wrote the number in another form ([`Number::Formatted`] or
    /// [`Number::Scientific`]).
    Reformatted(Number),
    /// Digits only, but not an E.164 number with its `+` dropped: it starts with 0 or is
    /// longer than 15 digits (a spreadsheet zeroes digits past the 15th).
    NotE164,
    /// A phone number written another way than E.164 (`(11) 98765-0001`,
    /// `+55 11 98765-0001`): a person's or a phone format's. Which number it was is not
    /// known for sure (no country code, a national `0` in it); read as written, it is no
    /// destination any row holds, so the row it protects would be sent again.
    Retyped,
}

/// A `destination` cell, read back, of a line whose row was judged valid (any status but
/// `INVALID`, whose cell is what the input held). This tool writes such a destination in
/// E.164 (`+` and digits) or as an id with letters or `@` (BSUID, group, channel); a
/// spreadsheet takes `+5511900000001` for a number and saves it as its column shows it.
/// Digits only (`5511900000001`: the `+` was read as a sign) get their `+` back: an E.164
/// number never starts with 0, so no leading zero was dropped, and its digits fit a
/// spreadsheet's precision. Any other form of a number has lost digits: [`Lost`]. Spaces
/// around the cell, or a `'` before it, are a person's edit and go. A number written with
/// the separators a phone cell of the input may hold (spaces, `+ ( ) - .`, their look-alikes) is
/// [`Lost::Retyped`]. Anything else (an id with a letter or `@`, text) reads as it is
/// written (through [`unescape`]).
pub(super) fn sent_destination(cell: &str) -> Result<Cow<'_, str>, Lost> {
    let read = unescape(cell);
    if is_e164(read) {
        return Ok(Cow::Borrowed(read));
    }
    let trimmed = read.trim();
    let trimmed = trimmed.strip_prefix('\'').unwrap_or(trimmed).trim_start();
    let (plus, number) = match trimmed.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    match self::number(number) {
        None if crate::input::is_phone_like(trimmed) => Err(Lost::Retyped),
        None => Ok(Cow::Borrowed(read)),
        Some(Number::Digits) if plus => Ok(Cow::Borrowed(trimmed)),
        Some(Number::Digits) if number.starts_with('0') || number.len() > E164_DIGITS => {
            Err(Lost::NotE164)
        }
        Some(Number::Digits) => Ok(Cow::Owned(format!("+{number}"))),
        Some(shape) => Err(Lost::Reformatted(shape)),
    }
}

/// A cell as a person may have retyped it: spaces around it, or a leading `'`.
pub(super) fn clean(cell: &str) -> &str {
    // Most cells hold nothing to clean: they cost no walk over characters from each end.
    let plain = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
    if cell.is_empty() || (plain(cell.as_bytes().first()) && plain(cell.as_bytes().last())) {
        return cell;
    }
    trimmed(cell)
}

/// [`clean`] for a cell that may hold something to clean.
pub(super) fn trimmed(cell: &str) -> &str {
    let cell = cell.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    cell.strip_prefix('\'').unwrap_or(cell).trim()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// An E.164 number: a country code never starts with 0, at most 15 digits.
    fn e164() -> impl Strategy<Value = String> {
        "\\+[1-9][0-9]{6,14}"
    }

    /// `digits` as a spreadsheet shows a number too wide for its column: one digit, the
    /// decimals that fit (`.` or `,` before them), `E+` and the power of ten.
    fn scientific(digits: &str, decimals: usize, comma: bool) -> String {
        let decimals = decimals.min(digits.len() - 1);
        let mantissa = match decimals {
            0 => digits[..1].to_string(),
            n => format!(
                "{}{}{}",
                &digits[..1],
                if comma { ',' } else { '.' },
                &digits[1..=n]
            ),
        };
        format!("{mantissa}E+{:02}", digits.len() - 1)
    }

    #[test]
    fn what_spreadsheets_write_for_a_number() {
        assert_eq!(number("5511900000001"), Some(Number::Digits));
        for sci in ["5.51E+12", "5,51E+12", "5.5119E+12", "5E+12", "1.23457E-05"] {
            assert_eq!(number(sci), Some(Number::Scientific), "{sci}");
        }
        for formatted in ["5511900000001.0", "5.511.900.000.001", "5,511,900,000,001"] {
            assert_eq!(number(formatted), Some(Number::Formatted), "{formatted}");
        }
        // Ids, dates, hexadecimal (`3E12` has no sign) and text are no number.
        for text in [
            "msg_1",
            "3E12",
            "5.51e+12x",
            "",
            "E+12",
            "5.E+12",
            "2026-01-15",
            "+5",
        ] {
            assert_eq!(number(text), None, "{text}");
        }
    }

    #[test]
    fn a_destination_a_spreadsheet_made_a_number_reads_back() {
        let read = |cell| sent_destination(cell).map(Cow::into_owned);
        assert_eq!(read("+5511900000001"), Ok("+5511900000001".into()));
        assert_eq!(read("5511900000001"), Ok("+5511900000001".into()));
        assert_eq!(read(" '5511900000001 "), Ok("+5511900000001".into()));
        assert_eq!(read(" +5511900000001"), Ok("+5511900000001".into()));
        assert_eq!(read("'+5511900000001"), Ok("+5511900000001".into()));
        for id in [
            "BR.13491208655302741918",
            "120363025246125486@g.us",
            "1203@newsletter",
        ] {
            assert_eq!(read(id), Ok(id.into()));
        }
        assert_eq!(read("5.51E+12"), Err(Lost::Reformatted(Number::Scientific)));
        assert_eq!(
            read("+5,51E+12"),
            Err(Lost::Reformatted(Number::Scientific))
        );
        assert_eq!(
            read("5511900000001.0"),
            Err(Lost::Reformatted(Number::Formatted))
        );
        assert_eq!(read("011999990001"), Err(Lost::NotE164));
        assert_eq!(read("5511900000001000"), Err(Lost::NotE164));
        // Retyped as a person or a phone format writes it: never read as another number.
        for retyped in [
            "(11) 98765-0001",
            "+55 11 98765-0001",
            "+55 (11) 98765-0001",
            "'55 11 98765 0001 ",
            "11\u{a0}98765\u{2011}0001",
            "5511-900000001",
        ] {
            assert_eq!(read(retyped), Err(Lost::Retyped), "{retyped}");
        }
    }

    proptest! {
        /// Whatever a spreadsheet does to an E.164 destination, it reads back as itself
        /// or is refused: never as another destination.
        #[test]
        fn a_destination_reads_back_as_itself_or_not_at_all(
            destination in e164(),
            decimals in 0usize..14,
            comma in any::<bool>(),
            quote in any::<bool>(),
            spaces in any::<bool>(),
        ) {
            let digits = &destination[1..];
            let written = destination_cell(&destination);
            prop_assert_eq!(sent_destination(&written), Ok(Cow::Borrowed(destination.as_str())));
            // Opened as a number: the `+` goes, and a `'` or spaces a person adds.
            let mut shown = digits.to_string();
            if quote {
                shown.insert(0, '\'');
            }
            if spaces {
                shown = format!(" {shown} ");
            }
            prop_assert_eq!(sent_destination(&shown), Ok(Cow::Owned(destination.clone())));
            let sci = scientific(digits, decimals, comma);
            prop_assert_eq!(sent_destination(&sci), Err(Lost::Reformatted(Number::Scientific)));
        }

        /// A destination retyped with a phone's separators, with its `+` and country code
        /// or without, is refused: read as written it would be no row's destination.
        #[test]
        fn a_retyped_destination_is_refused(
            destination in e164(),
            cuts in prop::collection::vec(
                (1usize..15, prop::sample::select(vec![" ", "-", ". ", ") ", " ("])),
                1..4,
            ),
            plus in any::<bool>(),
            local in 0usize..4,
        ) {
            let digits = &destination[1 + local.min(destination.len() - 2)..];
            let mut retyped = digits.to_string();
            let mut cuts = cuts;
            cuts.sort_unstable_by_key(|cut| std::cmp::Reverse(cut.0));
            for (at, separator) in cuts.into_iter().filter(|(at, _)| *at < digits.len()) {
                retyped.insert_str(at, separator);
            }
            if plus {
                retyped.insert(0, '+');
            }
            if retyped.trim_start_matches('+').bytes().all(|b| b.is_ascii_digit()) {
                return Ok(());
            }
            prop_assert_eq!(sent_destination(&retyped), Err(Lost::Retyped));
        }

        /// An id with a letter or `@` (BSUID, group, channel) and any text that is no
        /// number read as before: through [`unescape`] only.
        #[test]
        fn text_reads_as_written(text in "[A-Za-z@'=+ .,0-9-]{0,12}") {
            // The cell as `sent_destination` looks at it.
            let read = unescape(&text).trim();
            let read = read.strip_prefix('\'').unwrap_or(read).trim_start();
            let phone = crate::input::is_phone_like(read);
            if !phone && number(read.strip_prefix('+').unwrap_or(read)).is_none() {
                prop_assert_eq!(sent_destination(&text), Ok(Cow::Borrowed(unescape(&text))));
            }
        }
    }
}
