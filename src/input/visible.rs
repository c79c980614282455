//! What a cell holds once the characters that show as nothing are gone: spaces, and the
//! invisible ones (byte order marks, zero-width spaces and joiners, the word joiner) that
//! CRM and web exports leave in cells that look empty. One rule for column names,
//! destinations, merge fields, template variables and whether a cell is filled, so a cell
//! that looks empty in a spreadsheet is empty here too.

/// `cell` trimmed of spaces and invisible characters at both ends; without decoding
/// characters when both ends are printable ASCII (the usual cell): every character trimmed
/// is an ASCII control or space, or not ASCII at all.
pub(crate) fn visible(cell: &str) -> &str {
    let printable = |b: Option<&u8>| b.is_some_and(|&b| (b'!'..=b'~').contains(&b));
    let bytes = cell.as_bytes();
    if printable(bytes.first()) && printable(bytes.last()) {
        return cell;
    }
    cell.trim_matches(|c: char| c.is_whitespace() || invisible(c))
}

/// A character that shows as nothing (zero-width spaces and joiners, direction marks and
/// embeddings, which phones wrap copied numbers in, the soft hyphen, the byte order mark…):
/// those [`crate::fmt`] writes escaped, control characters aside (a cell holding one is
/// refused for it, not trimmed of it).
pub(crate) fn invisible(c: char) -> bool {
    crate::fmt::invisible(c) && !c.is_control()
}

/// Whether `cell` holds anything a person would see.
pub(crate) fn is_blank(cell: &str) -> bool {
    visible(cell).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn invisible_characters_and_spaces_are_trimmed_and_nothing_else() {
        for (cell, seen) in [
            ("Ana", "Ana"),
            (" Ana\t", "Ana"),
            ("\u{200b}", ""),
            ("\u{feff}\u{2060} \u{200d}", ""),
            ("\u{a0}Ana\u{200c}", "Ana"),
            ("\u{200e}\u{202a}\u{202c}\u{ad}", ""),
            ("\u{202a}+5511\u{202c}", "+5511"),
            // A variation selector belongs to the emoji before it.
            ("Ana \u{2764}\u{fe0f}", "Ana \u{2764}\u{fe0f}"),
            ("\u{7}", "\u{7}"),
            ("A\u{200b}na", "A\u{200b}na"),
            ("é", "é"),
        ] {
            assert_eq!(visible(cell), seen, "{cell:?}");
        }
        assert!(is_blank("\u{200b} "));
        assert!(!is_blank("."));
    }

    proptest! {
        /// The ASCII shortcut never keeps what `str::trim` would take away.
        #[test]
        fn it_trims_at_least_what_trim_does(cell in "\\PC{0,6}") {
            prop_assert!(cell.trim().contains(visible(&cell)));
            prop_assert_eq!(visible(visible(&cell)), visible(&cell));
        }
    }
}
