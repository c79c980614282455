//! The reading thread is invisible: records, and what the reader knew after each, come out
//! of [`Source::Ahead`] exactly as [`Source::Inline`] reads them, across batch boundaries
//! (by count and by bytes), long rows, cells with line breaks and a quote left open at the
//! end.

use std::io::Cursor;

use proptest::prelude::*;

use super::*;
use crate::input::dialect::Dialect;

/// The campaign reader over `bytes`, as [`super::super::CsvInput`] builds it.
fn records(bytes: &[u8]) -> Records {
    let dialect = Dialect {
        reader: Box::new(Cursor::new(bytes.to_vec())),
        delimiter: b',',
        transcoded: None,
        skipped_lines: 0,
    };
    dialect.into_records().0
}

/// A cell: plain, quoted with a line break or a doubled quote, or empty.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-z0-9+ ]{0,12}",
        2 => "[a-z]{0,5}".prop_map(|s| format!("\"{s}\n{s}\"\"x\"")),
        1 => Just(String::new()),
    ]
}

/// A file of `rows`, with blank lines here and there, a cell long enough not to be kept
/// for reuse every `long_every` rows (a few of them end a batch by their bytes), and maybe
/// a quote never closed.
fn file(rows: &[Vec<String>], blank_every: usize, long_every: usize, unclosed: bool) -> Vec<u8> {
    let mut text = String::from("phone,nome,cupom\n");
    for (i, row) in rows.iter().enumerate() {
        text.push_str(&row.join(","));
        if i % long_every == long_every - 1 {
            text.push(',');
            text.push_str(&"y".repeat((1 + i % 3) * Batch::KEEP));
        }
        text.push_str(if i % blank_every == 0 { "\r\n\n" } else { "\n" });
    }
    if unclosed {
        text.push_str("+5511988887777,\"Ana,1\n+5511977776666,Bia,2\n");
    }
    text.into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn records_come_out_as_the_reader_reads_them(
        rows in prop::collection::vec(prop::collection::vec(cell(), 1..4), 0..1300),
        blank_every in 1usize..400,
        long_every in 1usize..1500,
        unclosed in any::<bool>(),
    ) {
        let bytes = file(&rows, blank_every, long_every, unclosed);
        let mut inline = Source::Inline(records(&bytes));
        let mut ahead = Source::Inline(records(&bytes)).ahead(None).unwrap();
        prop_assert!(matches!(ahead, Source::Ahead(_)));
        let (mut want, mut got) = (ByteRecord::new(), ByteRecord::new());
        for index in 0.. {
            let read = inline.read(&mut want, &mut Early::default()).unwrap();
            let early = &mut Early::default();
            prop_assert_eq!(read, ahead.read(&mut got, early).unwrap(), "record {}", index);
            if read.is_none() {
                break;
            }
            prop_assert_eq!(&want, &got, "record {}", index);
        }
        prop_assert_eq!(ahead.read(&mut got, &mut Early::default()).unwrap(), None, "the end stays the end");
    }
}
