//! A fuzz of the campaign reader with proptest: arbitrary bytes, and arbitrary mutations of
//! a valid campaign (stray quotes, delimiters and line breaks, cut or repeated bytes, BOMs,
//! NULs), read with the options that change how bytes are taken. Whatever the file, reading
//! it never panics: every outcome is a row or an [`InputError`], and the rows come in order.
//!
//! `PROPTEST_CASES=100000 cargo test --lib input::fuzz` runs it for longer; inputs that
//! ever failed are kept as the regression cases below.

use proptest::prelude::*;

use super::tests::{open_bytes, options};
use super::*;

/// A campaign that uses every reader path: a BOM, quotes, a multi-line cell, a doubled
/// quote, local and international numbers, a group, send-field columns.
const VALID: &str = "\u{feff}phone,nome,text,groupId\n+5511988887777,Ana,,\n(11) 97777-6666,\"Bia \"\"VIP\"\"\",\"linha 1\nlinha 2\",\n,Grupo,,123-456@g.us\n0055 11 96666 5555,\"Caio, Jr\",oi,\n";

/// One edit of the file.
#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, u8),
    Delete(usize),
    Replace(usize, u8),
    /// Repeats `len` bytes from a position (a row pasted twice, a cell cut in half).
    Repeat(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    // The bytes that matter most to a CSV reader, and any byte at all.
    let byte = prop_oneof![
        prop::sample::select(vec![
            b'"', b',', b';', b'\t', b'\n', b'\r', 0, 0xEF, 0xFF, b'+'
        ]),
        any::<u8>(),
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(at, b)| Edit::Insert(at, b)),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), byte).prop_map(|(at, b)| Edit::Replace(at, b)),
        (any::<usize>(), 1..40usize).prop_map(|(at, len)| Edit::Repeat(at, len)),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        let len = bytes.len().max(1);
        match *edit {
            Edit::Insert(at, b) => bytes.insert(at % (len + 1).min(bytes.len() + 1), b),
            Edit::Delete(at) if !bytes.is_empty() => {
                bytes.remove(at % len);
            }
            Edit::Replace(at, b) if !bytes.is_empty() => bytes[at % len] = b,
            Edit::Repeat(at, n) if !bytes.is_empty() => {
                let start = at % len;
                let end = (start + n).min(bytes.len());
                let copy = bytes[start..end].to_vec();
                bytes.splice(end..end, copy);
            }
            _ => {}
        }
    }
    bytes
}

/// Reading options that change how the bytes are taken.
fn reading() -> impl Strategy<Value = InputOptions> {
    (
        prop::option::of(prop::sample::select(vec!["BR", "US", "PT"])),
        prop::option::of(prop::sample::select(vec![b',', b';', b'\t'])),
        prop::option::of(prop::sample::select(vec!["windows-1252", "utf-16le"])),
        any::<bool>(),
    )
        .prop_map(
            |(country, delimiter, encoding, phone_column)| InputOptions {
                default_country: country.map(String::from),
                delimiter,
                encoding: encoding.map(String::from),
                phone_column: phone_column.then(|| "nome".into()),
                ..options()
            },
        )
}

/// Reads every row of `bytes`: no panic, rows numbered 1, 2, … and nothing after an error;
/// and read ahead on the preflight's reading thread (destinations included), the same rows.
fn read_all(bytes: &[u8], options: &InputOptions) {
    let Ok((dir, input)) = open_bytes(bytes, options) else {
        return;
    };
    let path = dir.path().join("campaign.csv");
    let ahead = CsvInput::open(&path, options)
        .unwrap()
        .read_ahead(true)
        .unwrap();
    let texts = |rows: CsvInput| -> Vec<Result<Row, String>> {
        rows.map(|row| row.map_err(|e| e.to_string())).collect()
    };
    let inline = texts(input);
    assert_eq!(inline, texts(ahead), "read ahead");
    let mut expected = 1;
    let mut failed = false;
    for row in inline {
        assert!(!failed, "a row after an error");
        match row {
            Ok(row) => {
                assert_eq!(row.index, expected);
                expected += 1;
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                failed = true;
            }
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600), options in reading()) {
        read_all(&bytes, &options);
    }

    #[test]
    fn mutated_campaigns_never_panic(edits in prop::collection::vec(edit(), 1..12), options in reading()) {
        read_all(&apply(VALID.as_bytes().to_vec(), &edits), &options);
    }
}

#[test]
fn the_unmutated_campaign_reads() {
    let (_dir, input) = open_bytes(VALID.as_bytes(), &options()).unwrap();
    let rows: Vec<Row> = input.map(Result::unwrap).collect();
    assert_eq!(rows.len(), 4);
}

proptest! {
    /// Whatever a cell holds, a message quotes it short and with nothing hidden, and a
    /// short visible cell as it is.
    #[test]
    fn quoted_cells_are_short_and_visible(chars in prop::collection::vec(any::<char>(), 0..200)) {
        let cell: String = chars.into_iter().collect();
        let quoted = super::error::shown(&cell);
        prop_assert!(quoted.chars().count() <= 60 * 10 + 40, "{quoted}");
        prop_assert!(!quoted.chars().any(crate::fmt::invisible), "{quoted:?}");
        if cell.chars().count() <= 60 && !cell.chars().any(crate::fmt::invisible) {
            prop_assert_eq!(quoted.as_ref(), cell.as_str());
        }
    }

    /// Spaces, zero-width characters and hyphens of any kind between the digits of a
    /// number do not change it.
    #[test]
    fn any_spaces_in_a_number_read_as_spaces(seps in prop::collection::vec(
        prop::option::of(prop::sample::select(vec![
            ' ', '-', '\u{a0}', '\u{2007}', '\u{202f}', '\u{3000}', '\u{200b}', '\u{2060}',
            '\u{feff}', '\u{2011}', '\u{2212}',
        ])),
        13,
    )) {
        let mut raw = String::from("+");
        for (digit, sep) in "5511988887777".chars().zip(seps) {
            raw.push(digit);
            raw.extend(sep);
        }
        let phones = super::phone::Phones::new(Some("BR")).unwrap();
        prop_assert_eq!(phones.normalize(raw.trim()), Ok("+5511988887777".to_owned()));
    }
}
