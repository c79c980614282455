//! The cells that become message values, checked before they are used: none longer than a
//! WhatsApp message can carry, none with control characters a recipient would get as
//! garbage. A bad cell makes its row `INVALID`, naming its column.

use csv::StringRecord;

use super::MessageDefaults;
use super::error::shown;
use super::validate::{Field, RowError, RowErrorCode};

/// The most characters a cell may hold (but a media cell, whose `data:` URI is bounded by
/// the row's own limit): a longer value can never be delivered whole.
pub(crate) use crate::message::MAX_CHARS;

/// Whether the whole record passes [`check`] whatever its columns: the usual row, short,
/// with no byte anywhere that could start a control character. One scan of the record then
/// stands for one per cell.
pub(crate) fn clean(rec: &StringRecord) -> bool {
    let all = rec.as_byte_record().as_slice();
    all.len() <= MAX_CHARS && !suspect(all)
}

/// Checks the cells of `columns` (indexes into `rec`, named by `names`); `media` is the
/// media column, exempt from [`MAX_CHARS`].
pub(crate) fn check(
    rec: &StringRecord,
    columns: impl IntoIterator<Item = usize>,
    names: &[String],
    media: Option<usize>,
) -> Result<(), RowError> {
    for i in columns {
        let Some(cell) = rec.get(i) else { continue };
        let name = || names[i].as_str();
        // Bytes bound characters from above: most cells are judged without counting.
        if cell.len() > MAX_CHARS && Some(i) != media {
            let count = cell.chars().count();
            if count > MAX_CHARS {
                return Err(RowError::new(
                    name(),
                    RowErrorCode::ValueTooLong,
                    format!(
                        "column {} has {count} characters, more than the {MAX_CHARS} a WhatsApp message holds: shorten it",
                        shown(name())
                    ),
                ));
            }
        }
        if let Some(found) = ControlCharacter::find(cell) {
            return Err(RowError::new(
                name(),
                RowErrorCode::ControlCharacter,
                found.problem(&format!("column {}", shown(name())), cell),
            ));
        }
    }
    Ok(())
}

/// A control character in a value that goes into messages, found by the same rule for a
/// row's cell (its row `INVALID`) and a campaign setting (the run refused at set-up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ControlCharacter {
    c: char,
    /// Counted in characters, from 1.
    position: usize,
}

impl ControlCharacter {
    /// The first control character of `value`, if any.
    pub(crate) fn find(value: &str) -> Option<ControlCharacter> {
        if !suspect(value.as_bytes()) {
            return None;
        }
        let (at, c) = value.char_indices().find(|&(_, c)| control(c))?;
        let position = value[..at].chars().count() + 1;
        Some(ControlCharacter { c, position })
    }

    /// What is wrong with `value` (`what` names where it is) and how to fix it.
    pub(crate) fn problem(&self, what: &str, value: &str) -> String {
        format!(
            "{what} has the control character {} at character {} ('{}'), which the recipient would get as garbage: delete it",
            self.c.escape_unicode(),
            self.position,
            shown(value)
        )
    }
}

/// The first campaign message setting (`defaults`) holding a control character: its flag
/// and the problem. A cell with one makes its row `INVALID`; in a setting it would reach
/// every row, so the run stops before any send.
pub(crate) fn control_in_settings(defaults: &MessageDefaults) -> Option<(String, String)> {
    Field::ALL.into_iter().find_map(|field| {
        let value = field.default_in(defaults)?;
        let found = ControlCharacter::find(value)?;
        let flag = super::merge_fields::flag(field);
        let key = &flag[2..];
        let what = format!("{flag} (or {key} in the campaign file)");
        Some((flag, found.problem(&what, value)))
    })
}

/// Refuses a cell of `columns` that still holds a placeholder (`{{nome}}`) an export did
/// not fill: sent, the recipient would read `Olá {{nome}}`. A cell is never read for merge
/// fields, so such text in one is a mistake, not a message.
pub(crate) fn unmerged(
    rec: &StringRecord,
    columns: impl IntoIterator<Item = usize>,
    names: &[String],
) -> Result<(), RowError> {
    // One search of the whole record stands for one per cell: nearly no row has a `{{`.
    if memchr::memmem::find(rec.as_byte_record().as_slice(), b"{{").is_none() {
        return Ok(());
    }
    for i in columns {
        let Some(cell) = rec.get(i) else { continue };
        let Some(open) = cell.find("{{") else {
            continue;
        };
        let Some(close) = cell[open..].find("}}") else {
            continue;
        };
        let name = names[i].as_str();
        return Err(RowError::new(
            name,
            RowErrorCode::UnmergedPlaceholder,
            format!(
                "cell {} holds {}, a placeholder the export did not fill: fill in this row's value (or export the list again with its fields merged)",
                shown(name),
                shown(&cell[open..open + close + 2])
            ),
        ));
    }
    Ok(())
}

/// Whether `bytes` may hold a control character: every one's UTF-8 starts with a byte
/// below 0x20, 0x7F or 0xC2, so most cells are passed without decoding.
fn suspect(bytes: &[u8]) -> bool {
    use crate::byte_scan::{any, below, has};
    any(bytes, b'a', |w| {
        below(w, 0x20) | has(w, 0x7f) | has(w, 0xc2)
    })
}

/// A control character other than the line breaks and tabs a message may hold.
fn control(c: char) -> bool {
    c.is_control() && !matches!(c, '\n' | '\r' | '\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(cells: &[&str], media: Option<usize>) -> Result<(), RowError> {
        let names: Vec<String> = (0..cells.len()).map(|i| format!("c{i}")).collect();
        check(
            &StringRecord::from(cells.to_vec()),
            0..cells.len(),
            &names,
            media,
        )
    }

    #[test]
    fn long_cells_and_control_characters_are_refused_naming_the_column() {
        let long = "é".repeat(MAX_CHARS + 1);
        let e = judge(&["ok", &long], None).unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.code),
            ("c1", RowErrorCode::ValueTooLong)
        );
        assert!(e.message.contains("4097 characters"), "{}", e.message);
        assert!(
            judge(&["ok", &long[2..]], None).is_ok(),
            "4,096 characters fit"
        );
        assert!(
            judge(&[&long, "x"], Some(0)).is_ok(),
            "a media cell is bounded by its row"
        );
        for (cell, escaped) in [
            ("A\0na", "\\u{0}"),
            ("\u{1b}[31mAna", "\\u{1b}"),
            ("Ana\u{7}", "\\u{7}"),
        ] {
            let e = judge(&["ok", cell], None).unwrap_err();
            assert_eq!(
                (e.field.as_str(), e.code),
                ("c1", RowErrorCode::ControlCharacter)
            );
            assert!(e.message.contains(escaped), "{}", e.message);
            assert!(
                !e.message.contains(|c: char| c.is_control()),
                "{:?}",
                e.message
            );
        }
        assert!(judge(&["linha 1\r\nlinha\t2"], None).is_ok());
    }

    proptest::proptest! {
        /// A record [`clean`] calls clean passes every check of every column, and one that
        /// fails a check is never called clean.
        #[test]
        fn a_clean_record_passes_every_check(
            cells in proptest::collection::vec("([a-zé ]|\\PC|\\p{Cc}){0,12}", 1..5),
            long in proptest::bool::weighted(0.1),
        ) {
            let mut cells = cells;
            if long {
                cells.push("x".repeat(MAX_CHARS + 1));
            }
            let rec = StringRecord::from(cells.clone());
            let refs: Vec<&str> = cells.iter().map(String::as_str).collect();
            if clean(&rec) {
                proptest::prop_assert!(judge(&refs, None).is_ok(), "{:?}", cells);
            }
            if judge(&refs, None).is_err() {
                proptest::prop_assert!(!clean(&rec), "{:?}", cells);
            }
        }
    }
}
