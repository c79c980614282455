//! One line of the results file: its fields, how they become cells (one line each, none a
//! spreadsheet would run), and the line borrowed as read back ([`super::layout`] reads it
//! from whatever a spreadsheet saved).

use std::borrow::Cow;

use super::cells::{Line, clean};
use super::delivery_state::{DELIVERY_COLUMNS, Delivery, DeliveryStatus};
use super::{COLUMNS, Status};

/// One line of the results file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record {
    /// The input row, from 1; 0 (an empty `row` cell) for a recipient no longer in the CSV.
    pub row: u64,
    pub destination: String,
    pub status: Status,
    pub message_id: String,
    pub correlation_id: String,
    pub http_status: Option<u16>,
    pub error_code: String,
    pub error: String,
    pub attempts: u32,
    pub sent_at: String,
    pub raw_destination: String,
    /// The label of the number that sent (or tried to send) the row; empty with one sender.
    pub sender: String,
    /// Where the row was sent (set by the runner, one line, opaque here); empty in files
    /// written before the column existed.
    pub target: String,
    /// The [fingerprint](crate::identity::message_fingerprint) of the campaign's message
    /// settings the row was sent with; empty when not sent, or in files written before the
    /// column existed ("unknown").
    pub message: String,
    /// Not a column: the ledger's campaign for this send when the row's message is not the
    /// run's (see [`crate::ledger::Identity::row`]); `None` for the run's own.
    pub campaign: Option<std::sync::Arc<crate::ledger::Campaign>>,
    /// Not a column: for an intent, when the row's line last said it was not sent (its
    /// `sentAt`, ms since the epoch), for the ledger ([`crate::ledger::Settled::until_ms`]).
    pub settled_ms: Option<i64>,
    /// Not a column: an earlier run's send left in flight, now marked `UNCERTAIN`
    /// (`INTERRUPTED`): no send of this run, so the ledger, which that run's intent told,
    /// leaves it out. A flag and not the code, since a server's answer can carry any code.
    pub interrupted_earlier: bool,
}

impl Record {
    /// How a log line names this record's row: `row 7`, or for a recipient no longer in the
    /// CSV (an empty `row` cell, which the file counts as 0) its number, so the line leads
    /// to it (it stands after the rows, where `row 0` would lead nowhere).
    pub fn named(&self) -> String {
        match self.row {
            0 => format!(
                "{} (no longer in the CSV)",
                crate::fmt::shown(&self.destination)
            ),
            row => format!("row {row}"),
        }
    }

    /// A record for `row` in `status`, other fields empty.
    pub fn new(row: u64, destination: &str, status: Status) -> Record {
        Record {
            row,
            destination: destination.to_string(),
            status,
            message_id: String::new(),
            correlation_id: String::new(),
            http_status: None,
            error_code: String::new(),
            error: String::new(),
            attempts: 0,
            sent_at: String::new(),
            raw_destination: String::new(),
            sender: String::new(),
            target: String::new(),
            message: String::new(),
            campaign: None,
            settled_ms: None,
            interrupted_earlier: false,
        }
    }

    /// Writes the record's cells, in [`COLUMNS`] order, as they go into the file.
    fn write_cells(&self, line: &mut Line<'_>) {
        match self.row {
            0 => line.cell(""),
            row => line.number(row),
        }
        line.destination(&self.destination);
        line.cell(self.status.as_str());
        line.text(&self.message_id);
        line.text(&self.correlation_id);
        match self.http_status {
            Some(status) => line.number(u64::from(status)),
            None => line.cell(""),
        }
        line.text(&self.error_code);
        line.text(&self.error);
        line.number(u64::from(self.attempts));
        line.text(&self.sent_at);
        line.destination(&self.raw_destination);
        line.text(&self.sender);
        line.text(&self.target);
        line.text(&self.message);
    }
}

/// What the resume index keeps of a line (see [`Layout::kept`]), or of a record written.
pub(super) struct Kept<'a> {
    pub(super) row: u64,
    pub(super) destination: Cow<'a, str>,
    pub(super) status: Status,
    pub(super) error_code: &'a str,
    /// Read only for a `Retry-After` written down ([`crate::pacing::hold`]).
    pub(super) error: &'a str,
    pub(super) attempts: u32,
    pub(super) raw_destination: &'a str,
    pub(super) sender: &'a str,
    pub(super) target: &'a str,
    pub(super) message: &'a str,
}

/// A line's send fields borrowed from it ([`Layout::view`]) or from a [`Record`]: what a
/// reader that keeps little (the report) reads, copying a cell only when it keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordView<'a> {
    pub row: u64,
    /// Borrowed from the line, unless a spreadsheet dropped its `+` (see
    /// [`sent_destination`]).
    pub destination: Cow<'a, str>,
    pub status: Status,
    pub message_id: &'a str,
    pub correlation_id: &'a str,
    pub http_status: Option<u16>,
    pub error_code: &'a str,
    pub error: &'a str,
    pub attempts: u32,
    pub sent_at: &'a str,
    pub raw_destination: &'a str,
    pub sender: &'a str,
    pub target: &'a str,
    pub message: &'a str,
}

/// A line's delivery cells borrowed from it, as [`RecordView`] is its send fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryView<'a> {
    pub status: Option<DeliveryStatus>,
    pub delivered_at: &'a str,
    pub read_at: &'a str,
    pub error: &'a str,
    pub checked_at: &'a str,
}

impl RecordView<'_> {
    /// The record, every cell owned.
    pub fn into_owned(self) -> Record {
        Record {
            row: self.row,
            destination: self.destination.into_owned(),
            status: self.status,
            message_id: self.message_id.to_string(),
            correlation_id: self.correlation_id.to_string(),
            http_status: self.http_status,
            error_code: self.error_code.to_string(),
            error: self.error.to_string(),
            attempts: self.attempts,
            sent_at: self.sent_at.to_string(),
            raw_destination: self.raw_destination.to_string(),
            sender: self.sender.to_string(),
            target: self.target.to_string(),
            message: self.message.to_string(),
            campaign: None,
            settled_ms: None,
            interrupted_earlier: false,
        }
    }
}

impl<'a> From<&'a Record> for RecordView<'a> {
    fn from(record: &'a Record) -> RecordView<'a> {
        RecordView {
            row: record.row,
            destination: Cow::Borrowed(&record.destination),
            status: record.status,
            message_id: &record.message_id,
            correlation_id: &record.correlation_id,
            http_status: record.http_status,
            error_code: &record.error_code,
            error: &record.error,
            attempts: record.attempts,
            sent_at: &record.sent_at,
            raw_destination: &record.raw_destination,
            sender: &record.sender,
            target: &record.target,
            message: &record.message,
        }
    }
}

impl DeliveryView<'_> {
    /// The delivery cells, owned.
    pub fn into_owned(self) -> Delivery {
        Delivery {
            status: self.status,
            delivered_at: self.delivered_at.to_string(),
            read_at: self.read_at.to_string(),
            error: self.error.to_string(),
            checked_at: self.checked_at.to_string(),
        }
    }
}

impl<'a> From<&'a Delivery> for DeliveryView<'a> {
    fn from(delivery: &'a Delivery) -> DeliveryView<'a> {
        DeliveryView {
            status: delivery.status,
            delivered_at: &delivery.delivered_at,
            read_at: &delivery.read_at,
            error: &delivery.error,
            checked_at: &delivery.checked_at,
        }
    }
}

impl Record {
    /// The cells of this record the resume index keeps.
    pub(super) fn kept(&self) -> Kept<'_> {
        Kept {
            row: self.row,
            destination: Cow::Borrowed(&self.destination),
            status: self.status,
            error_code: &self.error_code,
            error: &self.error,
            attempts: self.attempts,
            raw_destination: &self.raw_destination,
            sender: &self.sender,
            target: &self.target,
            message: &self.message,
        }
    }
}

/// The first record of `bytes` (one line's cells).
pub(super) fn one_record(bytes: &[u8], delimiter: u8) -> csv::ByteRecord {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(bytes)
        .byte_records()
        .next()
        .and_then(Result::ok)
        .unwrap_or_default()
}

/// The UTF-16 encoding `bytes` are in, if they are UTF-16 text ("Unicode Text" in Excel):
/// NUL bytes make a quarter of them, at even places (big-endian) or odd ones.
pub(super) fn utf16(bytes: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let nuls = |from: usize| {
        bytes
            .iter()
            .skip(from)
            .step_by(2)
            .filter(|b| **b == 0)
            .count()
    };
    let (even, odd) = (nuls(0), nuls(1));
    (even + odd > bytes.len() / 4).then_some(if odd >= even {
        encoding_rs::UTF_16LE
    } else {
        encoding_rs::UTF_16BE
    })
}

/// Text from the file, fit for a message on a terminal: at most 200 characters, control
/// characters written out (`\u{1b}`), never sent raw; text saved as UTF-16 (NUL bytes
/// between its letters) read as such.
pub(super) fn printable(bytes: &[u8]) -> String {
    let text = match utf16(bytes) {
        Some(encoding) => encoding.decode_without_bom_handling(bytes).0,
        None => String::from_utf8_lossy(bytes),
    };
    let text = text.trim_start_matches('\u{feff}');
    let mut shown = String::new();
    for c in text.chars().take(200) {
        match c {
            '\t' => shown.push(c),
            c if c.is_control() => shown.extend(c.escape_default()),
            c => shown.push(c),
        }
    }
    shown
}

impl Status {
    /// Reads a `status` cell as written, or as a person retyped it (`queued`, ` Queued `).
    pub(super) fn parse_lenient(text: &str) -> Option<Status> {
        Status::parse(&clean(text).to_ascii_uppercase())
    }
}

/// The header line of `layout` (canonical layouts only), `\n`-terminated.
pub(super) fn header_line(delimiter: u8, delivery: bool) -> Vec<u8> {
    let extra: &[&str] = if delivery { &DELIVERY_COLUMNS } else { &[] };
    let mut line = [&COLUMNS[..], extra]
        .concat()
        .join(&(delimiter as char).to_string())
        .into_bytes();
    line.push(b'\n');
    line
}

/// Appends `record` (and its delivery cells, if the file has them) as one line, quoted as
/// the `csv` crate's writer quotes (a cell holding the delimiter, a quote or a line break is
/// quoted, its quotes doubled), straight into `out`: no writer and no buffer of its own, as
/// this runs for every line of every send and of every compaction.
pub(super) fn write_line(
    out: &mut Vec<u8>,
    delimiter: u8,
    record: &Record,
    delivery: Option<&Delivery>,
) {
    let mut line = Line::new(out, delimiter);
    record.write_cells(&mut line);
    if let Some(d) = delivery {
        line.cell(d.status.map(DeliveryStatus::as_str).unwrap_or(""));
        line.text(&d.delivered_at);
        line.text(&d.read_at);
        line.text(&d.error);
        line.text(&d.checked_at);
    }
    line.end();
}

/// Appends `record` as one line, without delivery cells.
pub(super) fn write_record(out: &mut Vec<u8>, delimiter: u8, record: &Record) {
    write_line(out, delimiter, record, None);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use std::borrow::Cow;

    use super::super::cells::{destination_cell, sent_destination, text_cell, trimmed, unescape};
    use super::super::layout::{Fields, Layout, writes_back_as_is};
    use super::*;

    #[test]
    fn columns_a_person_added_are_named_and_ours_are_not_in_any_case() {
        let mut header: Vec<String> = COLUMNS.iter().map(|c| c.to_uppercase()).collect();
        header.extend(["deliveryStatus", " notes ", "", "Owner"].map(String::from));
        let header = csv::ByteRecord::from(header);
        let layout = Layout::from_header(b',', &header).unwrap();
        assert_eq!(layout.foreign(&header), ["notes", "Q (no title)", "Owner"]);
        let ours = csv::ByteRecord::from(COLUMNS.to_vec());
        assert!(
            Layout::from_header(b',', &ours)
                .unwrap()
                .foreign(&ours)
                .is_empty()
        );
        assert_eq!(Layout::twice(&ours), None);
        // A person's `Destination` beside ours is theirs; a second `destination` is not
        // knowable, nor two in another case.
        let mut added = vec!["Destination"];
        added.extend(COLUMNS);
        let added = csv::ByteRecord::from(added);
        let layout = Layout::from_header(b',', &added).unwrap();
        assert_eq!(layout.foreign(&added), ["Destination"]);
        assert_eq!(Layout::twice(&added), None);
        for (theirs, ours) in [("destination", "destination"), ("MESSAGEID", "MessageId")] {
            let mut both: Vec<&str> = COLUMNS
                .iter()
                .map(
                    |c| match *c == ours.to_lowercase() || c.eq_ignore_ascii_case(ours) {
                        true => ours,
                        false => c,
                    },
                )
                .collect();
            both.insert(0, theirs);
            let why = Layout::twice(&csv::ByteRecord::from(both)).unwrap();
            assert!(why.contains("columns A and"), "{why}");
        }
    }

    /// Text with every byte the quoting, the neutralizing and the line rule look at.
    fn text() -> impl Strategy<Value = String> {
        "[a-z0-9 ,;|\t\"'=+@\r\n\u{e9}-]{0,10}"
    }

    /// A cell of a hostile line: what a person or a spreadsheet leaves (statuses in any
    /// case, numbers with spaces, a `'` or a BOM), bytes that are not UTF-8, and the two
    /// halves of `é`, which read as text together but not alone.
    fn hostile_cell() -> impl Strategy<Value = Vec<u8>> {
        let words = [
            "QUEUED",
            " queued ",
            "Failed",
            "read",
            " DELIVERED",
            "'12",
            "7",
            " 3 ",
            "0",
            "-1",
            "4294967296",
            "\u{feff}5",
            "'=x",
            "é",
            "\u{a0}8\u{a0}",
            "5,51E+12",
            "5511900000001",
        ];
        prop_oneof![
            prop::sample::select(words.to_vec()).prop_map(|w| w.as_bytes().to_vec()),
            Just(vec![0xC3]),
            Just(vec![0xA9]),
            Just(vec![0xFF]),
            "[ a-z0-9'=+-]{0,6}".prop_map(String::into_bytes),
        ]
    }

    /// A cell of a line compaction may copy: as this tool writes it, or almost (leading
    /// zeros, spaces, a sign, a `'` too many or too few, a lower-case status).
    fn copy_cell() -> impl Strategy<Value = Vec<u8>> {
        let words = [
            "1",
            "01",
            " 1",
            "+1",
            "",
            "QUEUED",
            "queued",
            "202",
            "0202",
            "msg_1",
            "+5511999990001",
            "5511999990001",
            "'=x",
            "=x",
            "'a",
            "''=x",
            "-3",
            "'-3",
            "m:0000abcd",
            "99999999999",
        ];
        prop_oneof![
            3 => prop::sample::select(words.to_vec()).prop_map(|w| w.as_bytes().to_vec()),
            1 => hostile_cell(),
        ]
    }

    /// The lines a send writes are copied as they are by compaction.
    #[test]
    fn a_line_this_tool_writes_is_copied() {
        let record = Record {
            message_id: "msg_1".into(),
            correlation_id: "corr_1".into(),
            http_status: Some(202),
            attempts: 1,
            sent_at: "2026-01-15T12:00:00.000Z".into(),
            raw_destination: "+5511999990001".into(),
            target: "pilot-status:https://api.example".into(),
            message: "m:0000abcd".into(),
            ..Record::new(7, "+5511999990001", Status::Queued)
        };
        let mut line = Vec::new();
        write_record(&mut line, b',', &record);
        line.pop();
        let mut ends: Vec<usize> = (line.iter().enumerate())
            .filter_map(|(i, b)| (*b == b',').then_some(i))
            .collect();
        ends.push(line.len());
        let fields = Fields::Split {
            line: &line,
            ends: &ends,
        };
        assert!(writes_back_as_is(fields, 7, Status::Queued));
        assert!(
            !writes_back_as_is(fields, 8, Status::Queued),
            "renumbered: written again"
        );
        assert!(
            !writes_back_as_is(fields, 7, Status::Uncertain),
            "another state: written"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// A line compaction copies as it is reads and writes back to exactly its bytes.
        #[test]
        fn a_line_copied_as_it_is_writes_back_the_same(
            changes in prop::collection::vec((0usize..15, copy_cell()), 0..3),
        ) {
            // A line as this tool writes it, a cell or two changed (or one added).
            let mut cells: Vec<Vec<u8>> = [
                "1", "+5511999990001", "QUEUED", "msg_1", "corr_1", "202", "", "", "1",
                "2026-01-15T12:00:00.000Z", "+5511999990001", "", "", "m:0000abcd",
            ]
            .map(|c| c.as_bytes().to_vec())
            .to_vec();
            for (i, cell) in changes {
                match cells.get_mut(i) {
                    Some(at) => *at = cell,
                    None => cells.push(cell),
                }
            }
            let line = cells.join(&b',');
            let mut ends: Vec<usize> = (line.iter().enumerate())
                .filter_map(|(i, b)| (*b == b',').then_some(i))
                .collect();
            ends.push(line.len());
            let fields = Fields::Split { line: &line, ends: &ends };
            if writes_back_as_is(fields, 1, Status::Queued) {
                let (record, _) = Layout::canonical(b',', false).parse(fields).unwrap();
                let mut written = Vec::new();
                write_line(&mut written, b',', &Record { row: 1, ..record }, None);
                prop_assert_eq!(written, [&line[..], b"\n"].concat());
            }
        }

        /// A line is refused for the first cell that is not text on its own, however the
        /// cells' bytes join up, and every field the view reads is its cell's text: the
        /// report reads and refuses exactly what a rerun does (`parse` is the view, owned).
        #[test]
        fn the_view_reads_each_cell_alone(
            cells in prop::collection::vec(hostile_cell(), 0..22),
            delivery in any::<bool>(),
        ) {
            let record = csv::ByteRecord::from(cells.clone());
            let layout = Layout::canonical(b',', delivery);
            let alone = |i: usize| cells.get(i).map(|c| std::str::from_utf8(c));
            match cells.iter().position(|c| std::str::from_utf8(c).is_err()) {
                Some(bad) => {
                    let why = format!("cell {} is not UTF-8 text", bad + 1);
                    prop_assert_eq!(layout.view(&record).err(), Some(why.clone()));
                    prop_assert_eq!(layout.kept(&record).err(), Some(why));
                }
                None => {
                    let text = |i: usize| unescape(alone(i).map_or("", Result::unwrap));
                    let Ok((record_view, delivery_view)) = layout.view(&record) else {
                        prop_assert!(layout.kept(&record).is_err());
                        return Ok(());
                    };
                    let parsed = layout.parse(&record).unwrap();
                    prop_assert_eq!(&parsed.0, &record_view.clone().into_owned());
                    prop_assert_eq!(&parsed.1, &delivery_view.into_owned());
                    let cell = alone(1).map_or("", Result::unwrap);
                    let destination = match record_view.status {
                        Status::Invalid => Cow::Borrowed(unescape(cell)),
                        _ => sent_destination(cell).unwrap(),
                    };
                    prop_assert_eq!(&record_view.destination, &destination);
                    let texts = [
                        (&record_view.message_id, 3),
                        (&record_view.correlation_id, 4),
                        (&record_view.error_code, 6),
                        (&record_view.error, 7),
                        (&record_view.sent_at, 9),
                        (&record_view.raw_destination, 10),
                        (&record_view.sender, 11),
                        (&record_view.target, 12),
                        (&record_view.message, 13),
                    ];
                    for (field, i) in texts {
                        prop_assert_eq!(field, &text(i), "column {}", i);
                    }
                    let status = clean(text(14)).to_ascii_uppercase();
                    let want = delivery.then(|| DeliveryStatus::parse(&status)).flatten();
                    prop_assert_eq!(delivery_view.status, want);
                    if delivery {
                        prop_assert_eq!(&delivery_view.error, &text(17));
                    }
                }
            }
        }

        /// Cleaning skips its walk only for cells it would leave as they are.
        #[test]
        fn a_plain_cell_is_clean_as_it_is(cell in "[ '\u{feff}\u{a0}a-z0-9é.-]{0,8}") {
            prop_assert_eq!(clean(&cell), trimmed(&cell));
        }

        /// Lines are written without the `csv` crate's writer: they must be the bytes it
        /// writes for the same cells (files written before, and readers, rely on them).
        #[test]
        fn a_line_is_what_the_csv_writer_writes(
            texts in prop::collection::vec(text(), 16),
            numbers in (0u32..=u32::MAX, prop::option::of(any::<u16>()), any::<u32>()),
            status in prop::sample::select(crate::journal::Status::ALL.to_vec()),
            delimiter in prop::sample::select(vec![b',', b';', b'\t', b'|']),
            delivery in any::<bool>(),
        ) {
            let (row, http_status, attempts) = numbers;
            let t = |i: usize| texts[i].clone();
            let record = Record {
                row: u64::from(row),
                destination: t(0),
                status,
                message_id: t(1),
                correlation_id: t(2),
                http_status,
                error_code: t(3),
                error: t(4),
                attempts,
                sent_at: t(5),
                raw_destination: t(6),
                sender: t(7),
                target: t(8),
                message: t(15),
                campaign: None,
            settled_ms: None,
            interrupted_earlier: false,
            };
            let delivery = delivery.then(|| Delivery {
                status: None,
                delivered_at: t(9),
                read_at: t(10),
                error: t(11),
                checked_at: t(12),
            });
            let mut line = Vec::new();
            write_line(&mut line, delimiter, &record, delivery.as_ref());
            let mut cells: Vec<Cow<'_, str>> = vec![
                Cow::Owned(if row == 0 { String::new() } else { row.to_string() }),
                destination_cell(&record.destination),
                Cow::Borrowed(status.as_str()),
                text_cell(&record.message_id),
                text_cell(&record.correlation_id),
                Cow::Owned(http_status.map(|s| s.to_string()).unwrap_or_default()),
                text_cell(&record.error_code),
                text_cell(&record.error),
                Cow::Owned(attempts.to_string()),
                text_cell(&record.sent_at),
                destination_cell(&record.raw_destination),
                text_cell(&record.sender),
                text_cell(&record.target),
                text_cell(&record.message),
            ];
            if let Some(d) = &delivery {
                cells.extend([
                    Cow::Borrowed(""),
                    text_cell(&d.delivered_at),
                    text_cell(&d.read_at),
                    text_cell(&d.error),
                    text_cell(&d.checked_at),
                ]);
            }
            let mut writer = csv::WriterBuilder::new()
                .delimiter(delimiter)
                .has_headers(false)
                .from_writer(Vec::new());
            writer.write_record(cells.iter().map(|c| c.as_bytes())).unwrap();
            let expected = writer.into_inner().unwrap();
            prop_assert_eq!(String::from_utf8(line).unwrap(), String::from_utf8(expected).unwrap());
        }
    }
}
