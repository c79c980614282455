//! Properties of the results file: whatever text its cells hold, what is written reads back
//! as the same state, after compaction and after a spreadsheet re-saved it; a cut anywhere
//! is a torn write only inside the last line; no bytes make the reader panic.

use std::collections::BTreeMap;
use std::fs;

use proptest::prelude::*;

use super::cells::{is_e164, one_line};
use super::delivery::{Delivery, ResultRow, read_rows};
use super::{Checkpoint, Journal, Record, Status};

/// Cell text made of what breaks CSV readers and spreadsheets.
fn cell() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("\"".to_string()),
        Just(";".to_string()),
        Just(",".to_string()),
        Just("\r".to_string()),
        Just("\n".to_string()),
        Just("\r\n".to_string()),
        Just("\u{feff}".to_string()),
        Just("=".to_string()),
        Just("+".to_string()),
        Just("-".to_string()),
        Just("@".to_string()),
        Just("'".to_string()),
        Just("\t".to_string()),
        Just(" ".to_string()),
        Just("São Paulo ünïcødé 日本".to_string()),
        "[a-z0-9]{1,6}",
    ];
    prop::collection::vec(pieces, 0..6).prop_map(|p| p.concat())
}

fn status() -> impl Strategy<Value = Status> {
    prop::sample::select(Status::ALL.to_vec())
}

fn record() -> impl Strategy<Value = Record> {
    let row = prop_oneof![1u64..6, Just(400_000_000), Just(u64::from(u32::MAX))];
    let destination = prop_oneof!["\\+55119[0-9]{8}", cell()];
    (
        row,
        destination,
        status(),
        (
            cell(),
            cell(),
            prop::option::of(any::<u16>()),
            cell(),
            cell(),
        ),
        (any::<u32>(), cell(), cell(), cell(), cell(), cell()),
    )
        .prop_map(|(row, destination, status, a, b)| Record {
            row,
            // A row judged valid holds E.164 or an id (a BSUID starts with its country):
            // only an INVALID row holds whatever the input did (read back as it is).
            destination: match status {
                Status::Invalid => destination,
                _ if is_e164(&destination) => destination,
                _ => format!("BR.{destination}"),
            },
            status,
            message_id: a.0,
            correlation_id: a.1,
            http_status: a.2,
            error_code: a.3,
            error: a.4,
            attempts: b.0,
            sent_at: b.1,
            raw_destination: b.2,
            sender: b.3,
            target: b.4,
            message: b.5,
        })
}

/// What a record reads back as: its text on one line.
fn as_read(record: &Record) -> Record {
    let line = |text: &str| one_line(text).into_owned();
    Record {
        destination: line(&record.destination),
        message_id: line(&record.message_id),
        correlation_id: line(&record.correlation_id),
        error_code: line(&record.error_code),
        error: line(&record.error),
        sent_at: line(&record.sent_at),
        raw_destination: line(&record.raw_destination),
        sender: line(&record.sender),
        target: line(&record.target),
        message: line(&record.message),
        ..record.clone()
    }
}

type State = BTreeMap<u64, (Record, Delivery)>;

fn expected(records: &[Record]) -> State {
    records
        .iter()
        .map(|r| (r.row, (as_read(r), Delivery::default())))
        .collect()
}

fn state(rows: Vec<ResultRow>) -> State {
    rows.into_iter()
        .map(|r| (r.record.row, (r.record, r.delivery)))
        .collect()
}

/// The file as Excel or LibreOffice save it: BOM, `;`, every cell quoted, CRLF.
fn resaved(bytes: &[u8], delimiter: u8) -> Vec<u8> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut out = b"\xEF\xBB\xBF".to_vec();
    let mut writer = csv::WriterBuilder::new()
        .delimiter(b';')
        .quote_style(csv::QuoteStyle::Always)
        .terminator(csv::Terminator::CRLF)
        .flexible(true)
        .from_writer(&mut out);
    for record in reader.byte_records() {
        writer.write_byte_record(&record.unwrap()).unwrap();
    }
    drop(writer);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn what_is_written_reads_back_the_same_compacted_and_resaved(
        records in prop::collection::vec(record(), 0..12),
        delimiter in prop::sample::select(vec![b',', b';']),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let mut journal = Journal::open(&path, delimiter).unwrap();
        journal.append(&records).unwrap();
        let want = expected(&records);
        prop_assert_eq!(&state(journal.rows().unwrap()), &want);
        journal.compact().unwrap();
        drop(journal);
        prop_assert_eq!(&state(read_rows(&path).unwrap()), &want);

        let excel = dir.path().join("excel.csv");
        fs::write(&excel, resaved(&fs::read(&path).unwrap(), delimiter)).unwrap();
        prop_assert_eq!(&state(read_rows(&excel).unwrap()), &want);
        // Opened for a run, the re-saved file is rewritten as this tool writes it.
        let mut journal = Journal::open(&excel, b',').unwrap();
        prop_assert_eq!(&state(journal.rows().unwrap()), &want);
        // Appended to after that rewrite, and compacted again: still the same state.
        journal.append(&records).unwrap();
        journal.compact().unwrap();
        prop_assert_eq!(&state(journal.rows().unwrap()), &want);
        drop(journal);
        if delimiter == b';' {
            prop_assert_eq!(fs::read(&excel).unwrap(), fs::read(&path).unwrap());
        }
    }

    #[test]
    fn a_cut_is_torn_only_inside_the_last_line(
        records in prop::collection::vec(record(), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        Journal::open(&path, b',').unwrap().append(&records).unwrap();
        let bytes = fs::read(&path).unwrap();
        let at = cut.index(bytes.len() + 1);
        let prefix = dir.path().join("cut.csv");
        fs::write(&prefix, &bytes[..at]).unwrap();
        let file = fs::File::open(&prefix).unwrap();
        let (checkpoint, intact) = Checkpoint::read(&prefix, &file).unwrap();
        let boundary = at == 0 || bytes[at - 1] == b'\n';
        prop_assert_eq!(intact == at as u64, boundary);
        // One record a line: the complete lines are exactly the first records.
        let complete = bytes[..at].iter().filter(|b| **b == b'\n').count().saturating_sub(1);
        let want = expected(&records[..complete]);
        prop_assert_eq!(checkpoint.len(), want.len());
        if intact > 0 {
            prop_assert_eq!(&state(read_rows(&prefix).unwrap()), &want);
        }
    }

    #[test]
    fn no_bytes_make_the_reader_panic(
        header in prop::bool::ANY,
        bytes in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let mut content = if header {
            super::record::header_line(b',', false)
        } else {
            Vec::new()
        };
        content.extend(bytes);
        fs::write(&path, &content).unwrap();
        let _ = read_rows(&path);
        let _ = Journal::open(&path, b',').map(|mut j| j.compact());
    }
}

#[test]
fn huge_row_numbers_cost_one_entry_and_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.csv");
    let header = String::from_utf8(super::record::header_line(b',', false)).unwrap();
    fs::write(
        &path,
        format!("{header}400000000,+5511999990001,QUEUED,m,,202,,,1,,,\n"),
    )
    .unwrap();
    let checkpoint = Checkpoint::load(&path).unwrap();
    assert_eq!(checkpoint.last_row(), 400_000_000);
    assert_eq!(checkpoint.len(), 1);
    fs::write(
        &path,
        format!(
            "{header}18446744073709551615,+5511999990001,QUEUED,m,,202,,,99999999999999999999,,,\n"
        ),
    )
    .unwrap();
    let error = Checkpoint::load(&path).unwrap_err().to_string();
    assert!(
        error.contains("line 2") && error.contains("not a row"),
        "{error}"
    );
}

/// A record at any row number a file holds: dense and repeated, renumbered far out (past
/// the index's vector, then into it as it grows), none (a recipient no longer in the
/// list), corrupted.
fn placed_record() -> impl Strategy<Value = Record> {
    let row = prop_oneof![
        4 => 0u64..24,
        2 => 4_096u64..4_160,
        1 => Just(400_000_000),
        1 => Just(u64::from(u32::MAX)),
    ];
    (record(), row).prop_map(|(record, row)| Record { row, ..record })
}

/// What a row's last line says, as the index keeps it: where it starts, its status,
/// attempts and destination's fingerprint.
type Kept = (u64, Status, u32, u64);

/// The rows of a results file as the `csv` crate reads them, into a `BTreeMap` keeping
/// each row's last line: the reader and the map the index had before, as the model.
fn by_csv(bytes: &[u8]) -> BTreeMap<u32, Kept> {
    let bom = if bytes.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    let (delimiter, layout) = [b',', b';']
        .into_iter()
        .find_map(|d| {
            let header = super::record::one_record(&bytes[bom..], d);
            Some((d, super::record::Layout::from_header(d, &header)?))
        })
        .expect("a header");
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(&bytes[bom..]);
    let mut record = csv::ByteRecord::new();
    let mut rows = BTreeMap::new();
    let mut header = true;
    loop {
        let offset = bom as u64 + reader.position().byte();
        if !reader.read_byte_record(&mut record).unwrap() {
            return rows;
        }
        if std::mem::take(&mut header) {
            continue;
        }
        let kept = layout.kept(&record).unwrap();
        let destination = super::checkpoint::hash(&kept.destination);
        if let Ok(row @ 1..) = u32::try_from(kept.row) {
            // The index keeps attempts in 16 bits: a row is never tried 65,535 times.
            let attempts = kept.attempts.min(u32::from(u16::MAX));
            rows.insert(row, (offset, kept.status, attempts, destination));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The index answers as the `csv` crate read into a `BTreeMap` did, on files with
    /// repeated, renumbered and corrupted row numbers and hostile cells (quotes, line
    /// breaks, BOMs: the lines that take `csv-core`'s path), as written and as a
    /// spreadsheet re-saves them.
    #[test]
    fn the_index_answers_as_the_csv_crate_and_a_btree_map_did(
        records in prop::collection::vec(placed_record(), 0..40),
        resave in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        Journal::open(&path, b',').unwrap().append(&records).unwrap();
        if resave {
            fs::write(&path, resaved(&fs::read(&path).unwrap(), b',')).unwrap();
        }
        let want = by_csv(&fs::read(&path).unwrap());
        let index = Checkpoint::load(&path).unwrap();
        let got: BTreeMap<u32, Kept> = index
            .slots()
            .filter_map(|(slot, e)| match slot {
                super::Slot::Row(row) => {
                    Some((row, (e.offset, e.status, u32::from(e.attempts), e.destination_hash)))
                }
                super::Slot::Elsewhere(_) => None,
            })
            .collect();
        prop_assert_eq!(&got, &want);
        for (row, (_, status, attempts, destination)) in &want {
            let prior = index.prior(u64::from(*row)).unwrap();
            prop_assert_eq!(
                (prior.status, prior.attempts, prior.destination_fingerprint()),
                (*status, *attempts, *destination)
            );
        }
        let last = want.keys().next_back().map_or(0, |r| u64::from(*r));
        prop_assert_eq!(index.last_row(), last);
        let statuses: Vec<(u64, Status)> =
            want.iter().map(|(r, k)| (u64::from(*r), k.1)).collect();
        prop_assert_eq!(index.statuses().collect::<Vec<_>>(), statuses);
        prop_assert!(index.prior(0).is_none() && index.prior(5_000_000_000).is_none());
    }
}
