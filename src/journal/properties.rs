//! Properties of the results file: whatever text its cells hold, what is written reads back
//! as the same state, after compaction and after a spreadsheet re-saved it; a row's state
//! does not depend on the order of its lines (a spreadsheet's sort); a cut anywhere is a
//! torn write only inside the last line; no bytes make the reader panic.

use std::collections::BTreeMap;
use std::fs;

use proptest::prelude::*;

use super::cells::{is_e164, one_line};
use super::delivery::{Delivery, ResultRow, read_rows};
use super::{Checkpoint, Journal, JournalError, Record, Slot, Status};

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
        (any::<u32>(), cell(), cell(), cell(), cell(), message()),
    )
        .prop_map(|(row, destination, status, a, b)| Record {
            row,
            // A row judged valid holds E.164 or an id (a BSUID starts with its country, and
            // holds no line break): only an INVALID row holds whatever the input did (read
            // back as it is).
            destination: match status {
                Status::Invalid => destination,
                _ if is_e164(&destination) => destination,
                _ => format!("BR.{}", destination.replace(['\r', '\n'], "")),
            },
            status,
            // Only an answered send's line carries an id: a file otherwise is refused.
            message_id: match status.may_hold_an_id() {
                true => a.0,
                false => String::new(),
            },
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
            campaign: None,
            settled_ms: None,
            interrupted_earlier: false,
        })
}

/// A `message` cell: a fingerprint as this tool writes it, or any text.
fn message() -> impl Strategy<Value = String> {
    prop_oneof!["m:[0-9a-f]{8}", cell()]
}

/// Where a line sits in its row's history, as the reader orders a row's lines: attempts
/// (as the index keeps them, in 16 bits), then `SENDING` before an outcome before a
/// refusal; lines that tie keep their file order.
fn chronology(record: &Record) -> (u32, u8) {
    let phase = match record.status {
        Status::Sending => 0,
        Status::Invalid | Status::Skipped => 2,
        _ => 1,
    };
    (record.attempts.min(u32::from(u16::MAX)), phase)
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

/// Each row's state by its row, and each recipient kept with no row by `(0, destination)`.
type State = BTreeMap<(u64, String), (Record, Delivery)>;

/// Each row's state: its latest line by [`chronology`], the last of those that tie. A line
/// of the row with another destination is not its history (a row cell a person filled
/// down): the earlier one, if it reached the API, is kept as a recipient with no row, the
/// latest for its destination.
fn expected(records: &[Record]) -> State {
    let follows = |a: &Record, b: &Record| chronology(a) >= chronology(b);
    let mut rows: BTreeMap<u64, Record> = BTreeMap::new();
    let mut elsewhere: BTreeMap<String, Record> = BTreeMap::new();
    let mut keep_elsewhere = |record: Record| {
        if elsewhere
            .get(&record.destination)
            .is_none_or(|kept| follows(&record, kept))
        {
            let record = Record { row: 0, ..record };
            elsewhere.insert(record.destination.clone(), record);
        }
    };
    for record in records.iter().map(as_read) {
        if record.row == 0 {
            keep_elsewhere(record);
            continue;
        }
        let Some(kept) = rows.get(&record.row).cloned() else {
            rows.insert(record.row, record);
            continue;
        };
        let (later, earlier) = match follows(&record, &kept) {
            true => (record, kept),
            false => (kept, record),
        };
        let moved = earlier.destination != later.destination && earlier.status.reached_api();
        rows.insert(later.row, later);
        if moved {
            keep_elsewhere(earlier);
        }
    }
    let rows = rows.into_iter().map(|(row, r)| ((row, String::new()), r));
    let elsewhere = elsewhere
        .into_values()
        .map(|r| ((0, r.destination.clone()), r));
    rows.chain(elsewhere)
        .map(|(key, r)| (key, (r, Delivery::default())))
        .collect()
}

fn state(rows: Vec<ResultRow>) -> State {
    rows.into_iter()
        .map(|r| match r.slot {
            Slot::Row(row) => ((u64::from(row), String::new()), (r.record, r.delivery)),
            Slot::Elsewhere(_) => {
                let record = Record { row: 0, ..r.record };
                ((0, record.destination.clone()), (record, r.delivery))
            }
        })
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
        // Appended to after that rewrite, and compacted again: the same lines once more.
        journal.append(&records).unwrap();
        journal.compact().unwrap();
        let twice = expected(&[records.clone(), records.clone()].concat());
        prop_assert_eq!(&state(journal.rows().unwrap()), &twice);
        drop(journal);
        // The same state is the same bytes (a line with another destination under the
        // same row, appended again, may move one more send to no row).
        if delimiter == b';' && twice == want {
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
        let boundary = at == 0 || bytes[at - 1] == b'\n';
        let (checkpoint, intact) = match Checkpoint::read(&prefix, &file) {
            Ok(read) => read,
            // Refused only inside a last line that may be a row's only record of a send.
            Err(JournalError::Damaged { line, detail, .. }) => {
                let complete = bytes[..at].iter().filter(|b| **b == b'\n').count();
                prop_assert!(!boundary && complete >= 1, "{}", detail);
                prop_assert_eq!(line, complete as u64 + 1, "{}", detail);
                prop_assert!(detail.contains("incomplete"), "{}", detail);
                // Never a line whose row, as far as the cut shows it, has an earlier line.
                let cut = &records[complete - 1];
                let tail = &bytes[bytes[..at].iter().rposition(|b| *b == b'\n').unwrap() + 1..at];
                let shown = tail.contains(&b',');
                // An intent cut off a page boundary is refused even so: the row's earlier
                // line may be a DEFERRED one.
                // So is a status cut to a prefix of SENDING (`S` of SKIPPED): the line may
                // be an intent, as far as the cut shows it.
                let status = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .from_reader(tail)
                    .byte_records()
                    .next()
                    .and_then(Result::ok)
                    .filter(|cells| cells.len() == 3)
                    .map(|cells| cells[2].to_vec());
                let cut_like_an_intent = status.is_some_and(|s| b"SENDING".starts_with(&s));
                let intent = (cut.status == Status::Sending || cut_like_an_intent)
                    && detail.contains("SENDING");
                prop_assert!(
                    !shown || intent || !records[..complete - 1].iter().any(|r| r.row == cut.row)
                );
                return Ok(());
            }
            Err(e) => panic!("{e}"),
        };
        if !boundary && !bytes[..at].contains(&b'\n') {
            // A header torn while the file was being created: nothing read.
            prop_assert_eq!((intact, checkpoint.torn), (0, at as u64));
            return Ok(());
        }
        // One record a line: the complete lines are exactly the first records.
        let complete = bytes[..at].iter().filter(|b| **b == b'\n').count().saturating_sub(1);
        // Cut just before its line break, a line is whole if its last cell (`message`) is
        // as this tool writes it: a fingerprint or nothing; it is kept.
        let full = !boundary && bytes[at] == b'\n' && {
            let message = as_read(&records[complete]).message;
            message.is_empty() || super::super::identity::MessageFingerprint::parse(&message)
                .is_some_and(|m| m.to_string() == message)
        };
        let kept = !boundary && intact == at as u64;
        prop_assert!(!full || kept);
        prop_assert_eq!(checkpoint.torn, at as u64 - intact);
        // Kept short of the whole line, only where the cut left every cell but an empty
        // last one (what a cut just before `message` leaves): read as a line with no message.
        let mut read = records[..complete].to_vec();
        if kept {
            let message = if full { records[complete].message.clone() } else { String::new() };
            read.push(Record { message, ..records[complete].clone() });
        }
        let want = expected(&read);
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
/// each row's latest line by [`chronology`]: the reader and the map the index had before,
/// and the order it reads a row's lines in, as the model.
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
            Some((d, super::layout::Layout::from_header(d, &header)?))
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
            let line = Record {
                attempts,
                ..Record::new(0, "", kept.status)
            };
            let later = |(_, status, attempts, _): &Kept| {
                chronology(&line)
                    >= chronology(&Record {
                        attempts: *attempts,
                        ..Record::new(0, "", *status)
                    })
            };
            if rows.get(&row).is_none_or(later) {
                rows.insert(row, (offset, kept.status, attempts, destination));
            }
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

/// The lines a row gets from this tool over several runs, in the order written: each
/// attempt's intent then (unless the run was killed with it in flight) its outcome,
/// `DEFERRED` but for the last, and maybe a refusal after it (the cell made invalid, the
/// number opted out) carrying the attempts before it.
fn history() -> impl Strategy<Value = Vec<(Status, u32)>> {
    let outcome = prop::sample::select(vec![
        None,
        Some(Status::Queued),
        Some(Status::Failed),
        Some(Status::Uncertain),
        Some(Status::Deferred),
    ]);
    let refusal = prop::sample::select(vec![None, Some(Status::Invalid), Some(Status::Skipped)]);
    (0u32..4, outcome, refusal).prop_map(|(deferred, last, refusal)| {
        let mut lines = Vec::new();
        for attempt in 1..=deferred {
            lines.extend([(Status::Sending, attempt), (Status::Deferred, attempt)]);
        }
        let attempts = deferred + 1;
        lines.push((Status::Sending, attempts));
        lines.extend(last.map(|status| (status, attempts)));
        lines.extend(refusal.map(|status| (status, attempts)));
        lines
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// However a spreadsheet sorts the lines of a file a stopped run left (several lines a
    /// row), every reader sees each row's state as the lines were written: the resume
    /// index, the readers `status` and `report` use, and compaction.
    #[test]
    fn a_rows_state_does_not_depend_on_the_order_of_its_lines(
        histories in prop::collection::vec(history(), 1..6),
        order in any::<u64>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let mut written = Vec::new();
        for (i, lines) in histories.iter().enumerate() {
            let row = i as u64 + 1;
            for (at, (status, attempts)) in lines.iter().enumerate() {
                written.push(Record {
                    attempts: *attempts,
                    // Only an answered send's line carries an id (a refused file otherwise).
                    message_id: match status.may_hold_an_id() {
                        true => format!("msg_{row}_{at}"),
                        false => String::new(),
                    },
                    ..Record::new(row, &format!("+551199999{row:04}"), *status)
                });
            }
        }
        let want = expected(&written);
        // Chronological lines: each row's last line is its state.
        for ((row, _), (record, _)) in &want {
            let last = written.iter().rfind(|r| r.row == *row).unwrap();
            prop_assert_eq!(record, last);
        }
        Journal::open(&path, b',').unwrap().append(&written).unwrap();
        let bytes = fs::read(&path).unwrap();
        let text = std::str::from_utf8(&bytes).unwrap();
        let mut lines: Vec<&str> = text.lines().skip(1).collect();
        // A sort: any order of the lines (a stable sort keeps ties, other orders too).
        let mut seed = order;
        for i in (1..lines.len()).rev() {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            lines.swap(i, (seed >> 33) as usize % (i + 1));
        }
        let header = text.lines().next().unwrap();
        fs::write(&path, format!("{header}\n{}\n", lines.join("\n"))).unwrap();
        prop_assert_eq!(&state(read_rows(&path).unwrap()), &want);
        let streamed = super::delivery::stream_rows(&path).unwrap().map(Result::unwrap);
        prop_assert_eq!(&state(streamed.collect()), &want);
        let mut journal = Journal::open(&path, b',').unwrap();
        journal.compact().unwrap();
        drop(journal);
        prop_assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), want.len() + 1);
        prop_assert_eq!(&state(read_rows(&path).unwrap()), &want);
    }
}

/// A line of empty cells (a spreadsheet writes them after the data) is a blank line: read
/// past, dropped by compaction.
#[test]
fn a_line_of_empty_cells_is_a_blank_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.csv");
    let queued = Record {
        attempts: 1,
        ..Record::new(1, "+5511999990001", Status::Queued)
    };
    Journal::open(&path, b',')
        .unwrap()
        .append(std::slice::from_ref(&queued))
        .unwrap();
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, format!("{text},,,,,,,,,,,,,\r\n,,\n\n,,,,,,,,,,,,,")).unwrap();
    assert_eq!(state(read_rows(&path).unwrap()), expected(&[queued]));
    Journal::open(&path, b',').unwrap().compact().unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), text);
}
