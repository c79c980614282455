//! The streaming reader: each row read once, judged ([`judge`]), and screened against
//! opt-outs and duplicates.

use std::borrow::Cow;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use csv::ByteRecord;

use super::destinations::{Destinations, Early};
use super::error::shown;
use super::header::Layout;
use super::lines::{Lines, RowAt};
use super::merge_fields::MergeFields;
use super::prefetch::{After, Source};
use super::validate::{Fields, Resolved};
use super::visible::visible;
use super::{
    InputError, InputOptions, MessageDefaults, Place, RowError, RowErrorCode, Suppression, dialect,
    header, phone, seen,
};
use crate::message::{Capabilities, Message};

mod judge;

/// A number given on the command line (`test --to`), checked and normalized exactly as a
/// phone cell of the CSV is.
pub(crate) fn test_destination(
    options: &InputOptions,
    raw: &str,
) -> Result<crate::message::Destination, RowError> {
    let invalid = |why: String| RowError::new("--to", RowErrorCode::InvalidDestination, why);
    let phones = phone::Phones::new(options.default_country.as_deref())
        .map_err(|e| invalid(e.to_string()))?;
    phones.destination(phone::DestKind::Phone, "--to", raw.trim())
}

/// A number given in international form in a setting (a senders file's `number`), in
/// E.164, checked exactly as a phone cell of the CSV written with `+` is: `+44 (0)20 …`
/// and `+44 20 …` are one number, and one that cannot exist is refused with the reason.
pub(crate) fn international_number(raw: &str) -> Result<String, String> {
    let phones = phone::Phones::new(None).map_err(|e| e.to_string())?;
    match phones.destination(phone::DestKind::Phone, "number", raw.trim()) {
        Ok(crate::message::Destination::Phone(e164)) => Ok(e164),
        Ok(_) => Err("not a phone number".into()),
        Err(e) => Err(e.message),
    }
}

/// A streaming reader over the campaign CSV: constant memory whatever the file size.
pub struct CsvInput {
    path: PathBuf,
    /// The records after the header (read ahead by a pass that calls
    /// [`CsvInput::read_ahead`]).
    reader: Source,
    /// Reused for every row so reading allocates nothing per row (`None` while a row holds it).
    record: Option<ByteRecord>,
    columns: Vec<String>,
    /// The columns whose cells go into every message (send fields, merge fields), checked
    /// by [`values::check`]; template variables are checked for template sends.
    sent_columns: Vec<usize>,
    /// The columns of send fields (a subset of `sent_columns`), listed once: there are
    /// seventeen fields, and most files have none of them.
    field_columns: Vec<usize>,
    variable_columns: Vec<String>,
    /// The columns the campaign's merge fields read, checked by [`values::unmerged`].
    merged_columns: Vec<usize>,
    warnings: Vec<String>,
    layout: Layout,
    /// The campaign's texts with merge fields, rendered for each row.
    merge: MergeFields,
    /// Whether [`MergeFields::render`] can render anything for a row of this file.
    renders: bool,
    defaults: Fields,
    /// The campaign's message settings as given, which a row's own cells are laid over for
    /// its message's fingerprint.
    settings: MessageDefaults,
    /// What every row with no send-field cell filled resolves to: the same for all of them,
    /// so it is worked out once.
    plain: Result<Resolved, RowError>,
    ai_rewrite: bool,
    /// `--window`, which a row's `deliverAt` must fall in.
    window: Option<crate::window::SendWindow>,
    now: jiff::Timestamp,
    capabilities: &'static Capabilities,
    destinations: Destinations,
    /// The destination of the record being judged, when the reading thread read it ahead.
    early: Early,
    /// The encoding the file was decoded from, if not UTF-8 (see
    /// [`dialect::Dialect::transcoded`]).
    transcoded: Option<&'static encoding_rs::Encoding>,
    /// Data rows read so far.
    index: u64,
    /// The line of the file the last row read starts on, and those of the rows before.
    line: u64,
    lines: Lines,
    suppression: Option<Arc<Suppression>>,
    /// Each destination sent to so far → the row that first used it.
    seen: seen::Seen,
    /// Set after a read error: the iterator then ends.
    failed: bool,
    /// The file's delimiter, to tell whether a line inside a cell reads like a row.
    delimiter: u8,
    /// Used messages handed back ([`CsvInput::recycle`]), filled again by the next rows.
    #[expect(
        clippy::vec_box,
        reason = "the boxes are what is reused: a row's verdict carries its message boxed"
    )]
    spare: Vec<Box<Message>>,
    /// Strings handed back ([`CsvInput::recycle_strings`], and the destinations of recycled
    /// messages), filled again with the next rows' destinations.
    texts: Vec<String>,
}

/// One data row and what to do with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// 1-based data row number (header excluded; a quoted multi-line field is still one row).
    pub index: u64,
    /// The line of the file the row starts on (see [`Row::at`]).
    pub line: u64,
    /// The destination cell as written (trimmed), "" if none; of a cell too long to be a
    /// destination, only its start and its length.
    pub raw_destination: String,
    /// Normalized destination when valid, else `raw_destination`.
    pub destination: String,
    pub verdict: Verdict,
    /// The fingerprint of the message the row's own send-field cells make with the
    /// campaign's settings under them ([`crate::identity::row_fingerprint`]), the ledger's
    /// campaign for its send; `None` when it has no such cell (it sends the campaign's).
    pub message: Option<crate::identity::MessageFingerprint>,
}

impl Row {
    /// The row as messages name it: its number, and its line of the file when a blank line
    /// or a cell with line breaks above it moved it off line row + 1.
    pub fn at(&self) -> RowAt {
        RowAt {
            row: self.index,
            line: self.line,
        }
    }
}

/// The outcome for a row: send it, report it as invalid, or deliberately leave it out.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Send(Box<Message>),
    Invalid(RowError),
    /// Not an error in the file: the row must not be sent (its destination opted out).
    Skip(RowError),
    /// A row a previous run handled for good whose destination cell has not changed: not
    /// judged again (see [`CsvInput::next_row`]); its destination is the cell as written.
    Unchanged,
}

impl CsvInput {
    /// Used messages (and strings) kept for reuse at most: more than a `--dry-run` has in
    /// flight.
    const SPARE: usize = 4096;

    /// Opens the file and reads its header; every header problem is reported here, before
    /// any row is sent.
    pub fn open(path: &Path, options: &InputOptions) -> Result<CsvInput, InputError> {
        let defaults = Fields::from_defaults(&options.defaults).map_err(InputError::Defaults)?;
        let phones = phone::Phones::new(options.default_country.as_deref())?;
        let open_error = |source| InputError::Open {
            path: path.to_owned(),
            source,
        };
        // The list is read more than once (the preflight, then the send): a pipe would
        // hang, or come back empty the second time.
        crate::plain_file::check(
            path,
            "save the list to a file and give that (it is read more than once)",
        )?;
        let file = File::open(path).map_err(open_error)?;
        let mut warnings = Vec::new();
        let dialect = dialect::Dialect::detect(
            path,
            file,
            options.delimiter,
            options.encoding.as_deref(),
            &mut warnings,
        )?;
        let delimiter = dialect.delimiter;
        let (mut reader, transcoded) = dialect.into_records();
        let mut record = ByteRecord::new();
        let read_error = |source| InputError::read(path, 0, source);
        if !reader.read_byte_record(&mut record).map_err(read_error)? {
            return Err(InputError::Empty {
                path: path.to_owned(),
            });
        }
        // Keeps the count of records in step: the rows' lines follow the header's.
        reader.get_mut().next_record_line();
        if let Some(cell) = record.iter().position(|c| c.contains(&b'\n')) {
            return Err(InputError::QuoteInHeader {
                path: path.to_owned(),
                position: cell + 1,
            });
        }
        let columns = record
            .iter()
            .map(|c| std::str::from_utf8(c).map(|c| visible(c).to_owned()))
            .collect::<Result<Vec<String>, _>>()
            .map_err(|_| InputError::HeaderEncoding)?;
        if columns.iter().any(|c| c.contains(char::is_control)) {
            return Err(InputError::NotText {
                path: path.to_owned(),
            });
        }
        let merge = MergeFields::new(&options.defaults, &columns)?;
        let mut merged: Vec<usize> = merge.columns().collect();
        merged.sort_unstable();
        merged.dedup();
        let layout = Layout::new(
            &columns,
            options.phone_column.as_deref(),
            &options.defaults,
            options.capabilities,
            &merged,
            &mut warnings,
        )?;
        let defaults = if merge.any() {
            Fields::from_defaults(&merge.strip(&options.defaults)).map_err(InputError::Defaults)?
        } else {
            defaults
        };
        let field_columns: Vec<usize> = layout.fields.iter().flatten().copied().collect();
        let mut sent_columns: Vec<usize> = field_columns.iter().chain(&merged).copied().collect();
        sent_columns.sort_unstable();
        sent_columns.dedup();
        let variable_columns = layout
            .variables
            .iter()
            .map(|&i| columns[i].clone())
            .collect();
        let destinations = Destinations::new(&layout.destinations, &columns, phones);
        Ok(CsvInput {
            path: path.to_owned(),
            reader: Source::Inline(reader),
            record: Some(record),
            columns,
            sent_columns,
            field_columns,
            variable_columns,
            merged_columns: merged,
            warnings,
            renders: merge.renders(|f| layout.fields[f as usize].is_some()),
            layout,
            merge,
            plain: defaults.clone().resolve(options.now, options.capabilities),
            defaults,
            settings: options.defaults.clone(),
            ai_rewrite: options.defaults.ai_rewrite == Some(true),
            window: options.window.clone(),
            now: options.now,
            capabilities: options.capabilities,
            destinations,
            early: Early::default(),
            transcoded,
            index: 0,
            line: 0,
            lines: Lines::default(),
            suppression: options.suppression.clone(),
            seen: seen::Seen::default(),
            failed: false,
            delimiter,
            spare: Vec::new(),
            texts: Vec::new(),
        })
    }

    /// Reads the rest of the file on a thread of its own, batches ahead of the rows being
    /// judged: for a pass that reads the whole file at once (the preflight), the reading
    /// then takes the second core. Not for the send pass, which must find rows appended to
    /// the file during its sends (the records it reads are those of the file as it reaches
    /// them).
    ///
    /// With `destinations`, that thread also reads each row's destination, a third of
    /// judging a row. Not for a rerun whose rows a previous run settled: those are not
    /// judged again, and reading their destinations would only take the core the judging
    /// needs.
    pub fn read_ahead(self, destinations: bool) -> Result<CsvInput, InputError> {
        let early = destinations.then(|| self.destinations.clone());
        let reader = (self.reader.ahead(early))
            .map_err(|e| InputError::read(&self.path, self.index, e.into()))?;
        Ok(CsvInput { reader, ..self })
    }

    /// Marks destinations a previous run already sent to (row, [`fingerprint`]) so that no
    /// other row sends them again, wherever it stands in the file. Only these rows may
    /// later come back [`Verdict::Unchanged`], whose destinations are then known only so.
    /// Row 0 is a recipient no longer in the CSV; so is a row numbered far past any real
    /// one (a corrupted number), which must not size the duplicate check's memory.
    ///
    /// [`fingerprint`]: crate::fingerprint::of
    pub fn already_sent(&mut self, rows: impl Iterator<Item = (u64, u64)> + Clone) {
        let count = rows.clone().count();
        let bound = (count.saturating_mul(16)).max(1 << 20) as u64;
        let in_file = |row: u64| (1..=bound).contains(&row);
        let last = rows
            .clone()
            .map(|(row, _)| row)
            .filter(|r| in_file(*r))
            .max();
        let last = u32::try_from(last.unwrap_or(0)).unwrap_or(u32::MAX);
        self.seen.reserve(count, last);
        for (row, fingerprint) in rows {
            match u32::try_from(row) {
                Ok(row) if in_file(u64::from(row)) => {
                    self.seen.first(row, fingerprint);
                }
                _ => self.seen.elsewhere(fingerprint),
            }
        }
    }

    /// The next row, as [`Iterator::next`] gives it, except for a row a previous run
    /// handled for good: `settled(row)` gives the [short fingerprint] its destination cell
    /// had then, and if the cell still has it the row comes back [`Verdict::Unchanged`],
    /// without being validated or normalized again.
    ///
    /// [short fingerprint]: crate::fingerprint::short
    pub fn next_row(
        &mut self,
        settled: impl FnOnce(u64) -> Option<u32>,
    ) -> Option<Result<Row, InputError>> {
        if self.failed {
            return None;
        }
        let mut rec = self.record.take().unwrap_or_default();
        // A string for the reading thread to read a later destination into.
        if self.early.spare.capacity() == 0 && self.reader.reads_destinations() {
            self.early.spare = self.texts.pop().unwrap_or_default();
        }
        let after = match self.reader.read(&mut rec, &mut self.early) {
            Ok(Some(after)) => after,
            Ok(None) => return None,
            Err(source) => {
                self.failed = true;
                return Some(Err(InputError::read(&self.path, self.index, source)));
            }
        };
        self.index += 1;
        self.line = after.line;
        self.lines.see(self.index, after.line);
        let broken = self.unclosed_quote(after, self.index + 1);
        if let Some(e) = broken.or_else(|| self.swallowed_rows(&rec, after)) {
            self.failed = true;
            return Some(Err(e));
        }
        if self.index > u64::from(u32::MAX) {
            self.failed = true;
            return Some(Err(InputError::TooManyRows {
                path: self.path.clone(),
            }));
        }
        if let Some(before) = settled(self.index) {
            let raw = self.destination_cell(&rec).0.map_or("", |(_, c)| c);
            if crate::fingerprint::short(raw) == before {
                let (raw_destination, destination) = (self.raw_text(raw), self.raw_text(raw));
                self.record = Some(rec);
                return Some(Ok(Row {
                    index: self.index,
                    line: self.line,
                    destination,
                    raw_destination,
                    verdict: Verdict::Unchanged,
                    message: None,
                }));
            }
        }
        Some(Ok(self.judge_record(rec)))
    }

    /// A quote still open in record `record` (1-based, the header is 1) of the file when the
    /// reader ended that record (`after`), which it only does at the end of the file, so the
    /// quote took in every line after it (the CSV reader does not report this).
    fn unclosed_quote(&self, after: After, record: u64) -> Option<InputError> {
        let opened = after.unclosed.filter(|o| o.record == record)?;
        Some(InputError::UnclosedQuote {
            path: self.path.clone(),
            place: Place {
                row: record - 1,
                line: opened.line,
            },
            column: self.column_name(opened.cell),
        })
    }

    /// A quote closed far too late: a cell of `rec` with line breaks, one of whose lines
    /// reads like a whole row (the header's number of cells, a destination where the
    /// destination column is). Checked only for records that hold a line break at all.
    fn swallowed_rows(&self, rec: &ByteRecord, after: After) -> Option<InputError> {
        memchr::memchr(b'\n', rec.as_slice())?;
        let like_a_row = |line: &[u8]| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let cells: Vec<&[u8]> = line.split(|&b| b == self.delimiter).collect();
            cells.len() == self.layout.width
                && self.layout.destinations.iter().any(|&(i, _)| {
                    std::str::from_utf8(cells[i])
                        .is_ok_and(|c| header::looks_like_data(c.trim().trim_matches('"')))
                })
        };
        let (cell, rows) = rec.iter().enumerate().find_map(|(i, cell)| {
            let rows = cell
                .split(|&b| b == b'\n')
                .skip(1)
                .filter(|l| like_a_row(l));
            Some((i, rows.count())).filter(|&(_, n)| n > 0)
        })?;
        // From the line the record starts on down to the cell.
        let breaks = |bytes: &[u8]| memchr::memchr_iter(b'\n', bytes).count() as u64;
        let before: u64 = rec.iter().take(cell).map(breaks).sum();
        Some(InputError::SwallowedRows {
            path: self.path.clone(),
            place: Place {
                row: self.index,
                line: after.line + before,
            },
            column: self.column_name(cell),
            rows,
        })
    }

    /// The header's name for a cell position, or its number past the header's end.
    fn column_name(&self, cell: usize) -> String {
        self.columns
            .get(cell)
            .cloned()
            .unwrap_or_else(|| format!("number {}", cell + 1))
    }

    /// Header names as read (trimmed).
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The columns that become template variables.
    pub fn variable_columns(&self) -> &[String] {
        &self.variable_columns
    }

    /// Things the user should know before sending, e.g. columns that will not be sent.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The first non-empty destination cell that is valid UTF-8, and how many are non-empty.
    fn destination_cell<'r>(&self, rec: &'r ByteRecord) -> (Option<(usize, &'r str)>, usize) {
        (self.destinations).first(|i| rec.get(i).and_then(|c| std::str::from_utf8(c).ok()))
    }

    /// Hands back a message that has been used (a `--dry-run` body written), so that a row
    /// judged later reuses its memory instead of allocating and freeing a message per row.
    pub fn recycle(&mut self, message: Box<Message>) {
        if self.spare.len() < Self::SPARE {
            self.spare.push(message);
        }
    }

    /// Hands back strings a caller is done with (a row's destinations once judged), so that
    /// later rows fill them instead of allocating and freeing two strings each.
    pub fn recycle_strings(&mut self, used: impl IntoIterator<Item = String>) {
        for text in used {
            if self.texts.len() < Self::SPARE {
                self.texts.push(text);
            }
        }
    }

    /// A destination cell as rows carry it into logs and results: as written, but for a
    /// cell too long to be one (refused anyway), of which only the start is kept.
    fn raw_text(&mut self, cell: &str) -> String {
        match shown_long(cell) {
            Cow::Borrowed(cell) => self.text(cell),
            Cow::Owned(cut) => cut,
        }
    }

    /// `text` in a string of its own, one handed back if there is one.
    fn text(&mut self, text: &str) -> String {
        let mut owned = self.texts.pop().unwrap_or_default();
        owned.clear();
        owned.push_str(text);
        owned
    }
}

/// A cell as written, or only its start (with its length) when it is longer than any
/// destination.
fn shown_long(cell: &str) -> Cow<'_, str> {
    if cell.len() > phone::MAX_DESTINATION {
        shown(cell)
    } else {
        Cow::Borrowed(cell)
    }
}

impl Iterator for CsvInput {
    type Item = Result<Row, InputError>;

    /// The next data row; `Err` only when reading the file fails mid-way.
    fn next(&mut self) -> Option<Self::Item> {
        self.next_row(|_| None)
    }
}
