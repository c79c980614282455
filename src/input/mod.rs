//! CSV rows in: reads the campaign file as a stream and turns each row into a validated
//! [`Message`] or a reason it cannot be sent, so that nothing invalid ever reaches a provider
//! and the person fixing the spreadsheet is told what to change.

mod dialect;
mod header;
mod merge;
mod merge_fields;
mod numbering;
mod phone;
mod quotes;
mod seen;
mod suppress;
pub mod validate;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use csv::{ByteRecord, StringRecord};
use serde_json::{Map, Value};

use crate::message::{Capabilities, Content, Message};
use header::Layout;
pub use merge::SyntaxError;
use merge_fields::MergeFields;
pub use suppress::{Suppression, load_suppression};
use validate::{Field, Fields, Resolved};
pub use validate::{RowError, RowErrorCode, validate_defaults};

/// Campaign-level message settings, as flags (`--media-type`) and campaign-file keys
/// (`media-type`): the one definition of the message fields a campaign may set. Raw strings,
/// checked by [`validate_defaults`] at start-up; a non-empty CSV cell in a column of the
/// field's API name (see [`validate::Field`]) overrides the value for that row. Unset is
/// `None`, so a flag can be laid over the campaign file's value ([`MessageDefaults::over`]).
#[derive(Debug, Clone, Default, clap::Args, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct MessageDefaults {
    /// Template id or name (template mode).
    #[arg(long = "template", value_name = "ID", help_heading = "Message")]
    #[serde(rename = "template")]
    pub template_id: Option<String>,

    /// Free-form text (text mode; Meta numbers: only inside the 24 h window).
    #[arg(long, value_name = "TEXT", help_heading = "Message")]
    pub text: Option<String>,

    /// Media URL or data: URI (direct-media mode, or a template's media).
    #[arg(long, value_name = "URL", help_heading = "Message")]
    pub media: Option<String>,

    /// image, video, document or audio.
    #[arg(long, value_name = "TYPE", help_heading = "Message")]
    pub media_type: Option<String>,

    /// Caption for image, video or document (not audio).
    #[arg(long, value_name = "TEXT", help_heading = "Message")]
    pub caption: Option<String>,

    /// Up to 3 buttons, as a JSON array.
    #[arg(long, value_name = "JSON", help_heading = "Message")]
    pub buttons: Option<String>,

    /// Header object (with buttons), e.g. '{"type":"text","content":"Oferta"}'.
    #[arg(long, value_name = "JSON", help_heading = "Message")]
    pub header: Option<String>,

    /// Footer text, at most 60 characters (with buttons).
    #[arg(long, value_name = "TEXT", help_heading = "Message")]
    pub footer: Option<String>,

    /// Labels for the conversation, comma-separated.
    #[arg(long, value_name = "a,b", help_heading = "Message")]
    pub labels: Option<String>,

    // CampaignOptions makes it a switch: `--ai-rewrite` alone means true.
    /// Let the API vary MARKETING template text (anti-spam); --ai-rewrite=false overrides the campaign file.
    #[arg(long, value_name = "BOOL", help_heading = "Message")]
    pub ai_rewrite: Option<bool>,

    /// MsgFlash: the direct type (text, image, video, audio, voice_note, document, location, contact).
    #[arg(long = "type", value_name = "TYPE", help_heading = "Message")]
    #[serde(rename = "type")]
    pub message_type: Option<String>,

    /// MsgFlash: latitude of a location, in decimal degrees.
    #[arg(
        long,
        value_name = "DEG",
        allow_hyphen_values = true,
        help_heading = "Message"
    )]
    #[serde(default, deserialize_with = "degrees")]
    pub latitude: Option<String>,

    /// MsgFlash: longitude of a location, in decimal degrees.
    #[arg(
        long,
        value_name = "DEG",
        allow_hyphen_values = true,
        help_heading = "Message"
    )]
    #[serde(default, deserialize_with = "degrees")]
    pub longitude: Option<String>,

    /// MsgFlash: name shown with a location.
    #[arg(long, value_name = "TEXT", help_heading = "Message")]
    pub location_name: Option<String>,

    /// MsgFlash: address shown with a location.
    #[arg(long, value_name = "TEXT", help_heading = "Message")]
    pub location_address: Option<String>,

    /// MsgFlash: contact (UUID) to send as a card, or a template's contact context.
    #[arg(long, value_name = "UUID", help_heading = "Message")]
    pub contact_id: Option<String>,

    /// Schedule delivery (RFC 3339, e.g. 2026-06-21T09:00:00-03:00).
    #[arg(long, value_name = "TIME", help_heading = "Message")]
    pub deliver_at: Option<String>,

    /// Delivery deadline: RFC 3339, or a span after each row's send such as 4h.
    #[arg(long, value_name = "TIME|SPAN", help_heading = "Message")]
    pub deliver_until: Option<String>,
}

impl MessageDefaults {
    /// These values laid over `under` (a flag over the campaign file's value): each field set
    /// here wins, each unset one is taken from `under`.
    pub fn over(self, under: MessageDefaults) -> MessageDefaults {
        MessageDefaults {
            template_id: self.template_id.or(under.template_id),
            text: self.text.or(under.text),
            media: self.media.or(under.media),
            media_type: self.media_type.or(under.media_type),
            caption: self.caption.or(under.caption),
            buttons: self.buttons.or(under.buttons),
            header: self.header.or(under.header),
            footer: self.footer.or(under.footer),
            labels: self.labels.or(under.labels),
            ai_rewrite: self.ai_rewrite.or(under.ai_rewrite),
            message_type: self.message_type.or(under.message_type),
            latitude: self.latitude.or(under.latitude),
            longitude: self.longitude.or(under.longitude),
            location_name: self.location_name.or(under.location_name),
            location_address: self.location_address.or(under.location_address),
            contact_id: self.contact_id.or(under.contact_id),
            deliver_at: self.deliver_at.or(under.deliver_at),
            deliver_until: self.deliver_until.or(under.deliver_until),
        }
    }
}

/// A coordinate in a campaign file, written as a TOML number (`-23.5613`) or as text: kept
/// as text, so a flag, a file and a CSV cell are all parsed by the same rule.
fn degrees<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    struct Degrees;
    impl serde::de::Visitor<'_> for Degrees {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("decimal degrees, such as -23.5613")
        }
        fn visit_f64<E>(self, v: f64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_str<E>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
    }
    deserializer.deserialize_any(Degrees).map(Some)
}

/// How to read the campaign file: the CLI flags that shape input.
#[derive(Debug, Clone)]
pub struct InputOptions {
    /// `--phone-column NAME`: the phone column when it is not called destinationNumber/phone/to.
    pub phone_column: Option<String>,
    pub defaults: MessageDefaults,
    /// Injected clock: "deliverUntil already past" is judged against it.
    pub now: jiff::Timestamp,
    /// `--default-country BR`: the country of phone numbers written without a country code.
    pub default_country: Option<String>,
    /// `--delimiter`; `None` = detect from the header line (`,` `;` tab `|`).
    pub delimiter: Option<u8>,
    /// `--encoding NAME` (any WHATWG label); `None` = UTF-8, falling back to Windows-1252.
    pub encoding: Option<String>,
    /// `--opt-out FILE...` loaded by [`load_suppression`]; shared, as it may be large.
    pub suppression: Option<Arc<Suppression>>,
    /// What the chosen provider can send: rows asking for more are refused before sending.
    pub capabilities: &'static Capabilities,
}

/// A set-up problem with the file as a whole: stops the run before any send (exit 2).
/// Display says what is wrong and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot open {path}: {source}: check the path and its permissions")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is an Excel workbook ({format}), not CSV: save it as CSV UTF-8 (in Excel: File > Save As > CSV UTF-8), then give that file"
    )]
    Workbook { path: PathBuf, format: &'static str },
    #[error(
        "{path} is not CSV text: its header line holds control characters. Export the list as CSV UTF-8 (or pass --encoding with its real encoding) and give that file"
    )]
    NotText { path: PathBuf },
    #[error("cannot read the start of the file: {0}: check the file is readable")]
    Sample(std::io::Error),
    #[error(
        "--encoding '{given}' is not an encoding name: use e.g. utf-8, windows-1252 or iso-8859-1"
    )]
    UnknownEncoding { given: String },
    #[error(
        "the header line is not valid UTF-8: save the file as CSV UTF-8, or pass --encoding (e.g. windows-1252)"
    )]
    HeaderEncoding,
    #[error(
        "reading {path} failed after row {row}: {source}: check the file is complete and readable, then run again"
    )]
    Read {
        path: PathBuf,
        row: u64,
        source: csv::Error,
    },
    #[error(
        "{place} of {path}: the quote that opens column '{column}' is never closed, so the rest of the file would be read as that one cell. Nothing was sent. {QUOTE_FIX}"
    )]
    UnclosedQuote {
        path: PathBuf,
        place: Place,
        column: String,
    },
    #[error(
        "the header line of {path} has a quote that is not closed (column {position} takes in the lines below it). Nothing was sent. {QUOTE_FIX}"
    )]
    QuoteInHeader { path: PathBuf, position: usize },
    #[error(
        "{place} of {path}: column '{column}' holds {rows} line(s) that read like rows of the file: a quote opened in that cell is closed only further down, so those rows would not be sent. Nothing was sent. {QUOTE_FIX}"
    )]
    SwallowedRows {
        path: PathBuf,
        place: Place,
        column: String,
        rows: usize,
    },
    #[error("{path} has more than 4,294,967,295 rows: split it into several campaigns")]
    TooManyRows { path: PathBuf },
    #[error("{path} is empty: the first line must be a header such as phone,nome")]
    Empty { path: PathBuf },
    #[error(
        "the first line looks like data, not a header ({first_line}): add a header line such as phone,nome above the first row"
    )]
    NoHeader { first_line: String },
    #[error(
        "column {position} of the header has no name (columns: {columns}): name it, or delete the column if it is empty"
    )]
    EmptyColumnName { position: usize, columns: String },
    #[error(
        "columns '{first}' and '{second}' have the same name (columns: {columns}): rename or delete one of them"
    )]
    DuplicateColumn {
        first: String,
        second: String,
        columns: String,
    },
    #[error(
        "columns '{first}' and '{second}' are both phone destinations (columns: {columns}): delete or rename one, or pick one with --phone-column"
    )]
    TwoPhoneColumns {
        first: String,
        second: String,
        columns: String,
    },
    #[error("--phone-column '{name}' is not in the header (columns: {columns}){}", suggestion(closest.as_deref(), "--phone-column"))]
    PhoneColumnNotFound {
        name: String,
        columns: String,
        closest: Option<String>,
    },
    #[error(
        "no destination column (columns: {columns}): name the phone column phone or destinationNumber, use groupId / newsletterId, or pass --phone-column NAME{}",
        suggestion(closest.as_deref(), "--phone-column")
    )]
    NoDestinationColumn {
        columns: String,
        closest: Option<String>,
    },
    #[error(
        "no message to send: pass --template, --text or --media, or add a templateId/text/media column"
    )]
    NoMode,
    #[error("--default-country '{given}' is not a country: use a two-letter ISO code such as BR")]
    UnknownCountry { given: String },
    #[error("opt-out list {path}, line {line}: {reason}; fix or delete that line")]
    SuppressionEntry {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    #[error(
        "opt-out list {path}: no phone column in its first line ({first_line}): name the column phone, or put one number per line"
    )]
    SuppressionColumn { path: PathBuf, first_line: String },
    #[error("campaign setting {0}")]
    Defaults(RowError),
    #[error("{flag}: {error}")]
    MergeSyntax { flag: String, error: SyntaxError },
    #[error(
        "{flag} has the merge field {{{{{name}}}}}, but the file has no column '{name}' (columns: {columns}){}: fix the name, or add the column",
        closest.as_ref().map_or_else(String::new, |c| format!("; closest match: '{c}'"))
    )]
    UnknownMergeField {
        flag: String,
        name: String,
        columns: String,
        closest: Option<String>,
    },
    #[error(
        "column '{column}' is not supported by {provider}: delete or rename the column, or choose another --provider"
    )]
    UnsupportedColumn {
        column: String,
        provider: &'static str,
    },
}

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

/// How to mend a quote that swallowed rows, in every message about one.
const QUOTE_FIX: &str = "Delete the stray \" in that cell (or, if the cell should show a quote, write it twice: \"\"), save the file and run again";

/// Where in the file a problem starts: the data row (0 for the header) and the line of the
/// file, which differ once a cell holds line breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub row: u64,
    pub line: u64,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.row {
            0 => write!(f, "the header (line {})", self.line),
            row => write!(f, "row {row} (line {} of the file)", self.line),
        }
    }
}

/// ` (closest match: 'X', e.g. --flag 'X')`, or nothing when no column is close.
fn suggestion(closest: Option<&str>, flag: &str) -> String {
    closest.map_or_else(String::new, |c| {
        format!("; closest match: '{c}' (use {flag} '{c}')")
    })
}

/// A streaming reader over the campaign CSV: constant memory whatever the file size.
pub struct CsvInput {
    path: PathBuf,
    reader: dialect::Records,
    /// Reused for every row so reading allocates nothing per row.
    record: ByteRecord,
    columns: Vec<String>,
    variable_columns: Vec<String>,
    warnings: Vec<String>,
    layout: Layout,
    /// The campaign's texts with merge fields, rendered for each row.
    merge: MergeFields,
    defaults: Fields,
    /// What every row with no send-field cell filled resolves to: the same for all of them,
    /// so it is worked out once.
    plain: Result<Resolved, RowError>,
    ai_rewrite: bool,
    now: jiff::Timestamp,
    capabilities: &'static Capabilities,
    phones: phone::Phones,
    /// The file was decoded from another encoding (see [`dialect::Dialect::transcoded`]).
    transcoded: bool,
    /// Data rows read so far.
    index: u64,
    suppression: Option<Arc<Suppression>>,
    /// Each destination sent to so far → the row that first used it.
    seen: seen::Seen,
    /// Set after a read error: the iterator then ends.
    failed: bool,
    /// The file's delimiter, to tell whether a line inside a cell reads like a row.
    delimiter: u8,
}

/// One data row and what to do with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// 1-based data row number (header excluded; a quoted multi-line field is still one row).
    pub index: u64,
    /// The destination cell as written (trimmed), "" if none.
    pub raw_destination: String,
    /// Normalized destination when valid, else `raw_destination`.
    pub destination: String,
    pub verdict: Verdict,
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
    /// Opens the file and reads its header; every header problem is reported here, before
    /// any row is sent.
    pub fn open(path: &Path, options: &InputOptions) -> Result<CsvInput, InputError> {
        load_phone_metadata_early();
        let defaults = Fields::from_defaults(&options.defaults).map_err(InputError::Defaults)?;
        let phones = phone::Phones::new(options.default_country.as_deref())?;
        let open_error = |source| InputError::Open {
            path: path.to_owned(),
            source,
        };
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
        let read_error = |source| InputError::Read {
            path: path.to_owned(),
            row: 0,
            source,
        };
        if !reader.read_byte_record(&mut record).map_err(read_error)? {
            return Err(InputError::Empty {
                path: path.to_owned(),
            });
        }
        if let Some(cell) = record.iter().position(|c| c.contains(&b'\n')) {
            return Err(InputError::QuoteInHeader {
                path: path.to_owned(),
                position: cell + 1,
            });
        }
        let columns = record
            .iter()
            .map(|c| std::str::from_utf8(c).map(|c| header::name(c).to_owned()))
            .collect::<Result<Vec<String>, _>>()
            .map_err(|_| InputError::HeaderEncoding)?;
        if columns.iter().any(|c| c.contains(char::is_control)) {
            return Err(InputError::NotText {
                path: path.to_owned(),
            });
        }
        let merge = MergeFields::new(&options.defaults, &columns)?;
        let merged: Vec<usize> = merge.columns().collect();
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
        let variable_columns = layout
            .variables
            .iter()
            .map(|&i| columns[i].clone())
            .collect();
        Ok(CsvInput {
            path: path.to_owned(),
            reader,
            record,
            columns,
            variable_columns,
            warnings,
            layout,
            merge,
            plain: defaults.clone().resolve(options.now, options.capabilities),
            defaults,
            ai_rewrite: options.defaults.ai_rewrite == Some(true),
            now: options.now,
            capabilities: options.capabilities,
            phones,
            transcoded,
            index: 0,
            suppression: options.suppression.clone(),
            seen: seen::Seen::default(),
            failed: false,
            delimiter,
        })
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
        let mut rec = std::mem::take(&mut self.record);
        match self.reader.read_byte_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => return None,
            Err(source) => {
                self.failed = true;
                return Some(Err(InputError::Read {
                    path: self.path.clone(),
                    row: self.index,
                    source,
                }));
            }
        }
        self.index += 1;
        let broken = self.unclosed_quote(self.index + 1);
        if let Some(e) = broken.or_else(|| self.swallowed_rows(&rec)) {
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
                let raw = raw.to_owned();
                self.record = rec;
                return Some(Ok(Row {
                    index: self.index,
                    destination: raw.clone(),
                    raw_destination: raw,
                    verdict: Verdict::Unchanged,
                }));
            }
        }
        Some(Ok(self.judge_record(rec)))
    }

    /// A quote still open in record `record` (1-based, the header is 1) of the file: the
    /// reader ended that record, which it only does at the end of the file, so the quote took
    /// in every line after it (the CSV reader does not report this).
    fn unclosed_quote(&self, record: u64) -> Option<InputError> {
        let opened = self
            .reader
            .get_ref()
            .unclosed()
            .filter(|o| o.record == record)?;
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
    fn swallowed_rows(&self, rec: &ByteRecord) -> Option<InputError> {
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
        // The reader stands after the record's line break: count back to where it started,
        // then down to the cell.
        let breaks = |bytes: &[u8]| memchr::memchr_iter(b'\n', bytes).count() as u64;
        let start = self
            .reader
            .position()
            .line()
            .saturating_sub(1 + breaks(rec.as_slice()));
        let before: u64 = rec.iter().take(cell).map(breaks).sum();
        Some(InputError::SwallowedRows {
            path: self.path.clone(),
            place: Place {
                row: self.index,
                line: (start + before).max(1),
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
        let mut first = None;
        let mut count = 0;
        for (slot, &(i, _)) in self.layout.destinations.iter().enumerate() {
            if let Some(cell) = rec
                .get(i)
                .and_then(|c| std::str::from_utf8(c).ok())
                .map(str::trim)
                && !cell.is_empty()
            {
                count += 1;
                first = first.or(Some((slot, cell)));
            }
        }
        (first, count)
    }

    /// Judges one UTF-8 row: shape, destination, then send fields and variables. Also
    /// returns the destination's column and normalized form whenever that part was valid.
    fn judge(
        &self,
        rec: &StringRecord,
        first: Option<(usize, &str)>,
        count: usize,
    ) -> (Option<(usize, String)>, Result<Message, RowError>) {
        if rec.len() != self.layout.width {
            let e = RowError::new(
                "row",
                RowErrorCode::MalformedRow,
                format!(
                    "row has {} fields, header has {}: check for a missing or extra delimiter, or a quote that is not closed",
                    rec.len(),
                    self.layout.width
                ),
            );
            return (None, Err(e));
        }
        let names = |pick: &dyn Fn(usize) -> bool| -> String {
            self.layout
                .destinations
                .iter()
                .filter(|&&(i, _)| pick(i))
                .map(|&(i, _)| self.columns[i].as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some((slot, cell)) = first else {
            let e = RowError::new(
                names(&|_| true),
                RowErrorCode::MissingDestination,
                format!("no destination: fill one of {}", names(&|_| true)),
            );
            return (None, Err(e));
        };
        if count > 1 {
            let filled = names(&|i| rec.get(i).is_some_and(|c| !c.trim().is_empty()));
            let e = RowError::new(
                filled.clone(),
                RowErrorCode::MultipleDestinations,
                format!("{filled} are all filled: keep exactly one destination per row"),
            );
            return (None, Err(e));
        }
        let (col, kind) = self.layout.destinations[slot];
        let destination = match self.phones.destination(kind, &self.columns[col], cell) {
            Ok(d) if !self.capabilities.bsuid && phone::is_bsuid(d.as_str()) => {
                let e = RowError::new(
                    self.columns[col].as_str(),
                    RowErrorCode::InvalidDestination,
                    format!(
                        "{} is a BSUID, which {} cannot send to: use the E.164 number",
                        d.as_str(),
                        self.capabilities.name
                    ),
                );
                return (None, Err(e));
            }
            Ok(d) => d,
            Err(e) => return (None, Err(e)),
        };
        let valid = Some((col, destination.as_str().to_owned()));
        let cell = |f: Field| {
            self.layout.fields[f as usize]
                .and_then(|i| rec.get(i))
                .unwrap_or("")
        };
        let rendered = match self
            .merge
            .render(&self.columns, cell, |i| rec.get(i).unwrap_or(""))
        {
            Ok(r) => r,
            Err(e) => return (valid, Err(e)),
        };
        let overridden = rendered.any()
            || self
                .layout
                .fields
                .iter()
                .flatten()
                .any(|&i| rec.get(i).is_some_and(|c| !c.trim().is_empty()));
        let resolved = if overridden {
            self.defaults
                .overridden_by(|f| rendered.get(f).unwrap_or_else(|| cell(f)))
                .and_then(|f| f.resolve(self.now, self.capabilities))
        } else {
            self.plain.clone()
        };
        let resolved = match resolved {
            Ok(r) => r,
            Err(e) => return (valid, Err(e)),
        };
        let mut variables = Map::new();
        if matches!(resolved.content, Content::Template { .. }) {
            for &i in &self.layout.variables {
                let v = rec[i].trim();
                if !v.is_empty() {
                    variables.insert(self.columns[i].clone(), Value::String(v.to_owned()));
                }
            }
        }
        let message = Message {
            destination,
            content: resolved.content,
            variables,
            interactive: resolved.interactive,
            labels: resolved.labels,
            ai_rewrite: self.ai_rewrite,
            deliver_at: resolved.deliver_at,
            deliver_until: resolved.deliver_until,
        };
        (valid, Ok(message))
    }

    /// Checks a row's valid destination against the opt-out lists (skipped, even if the
    /// row is otherwise invalid: it would never be sent) and against the rest of the file (a
    /// destination already sent to earlier is refused, so nobody gets the campaign twice).
    fn screen(&mut self, column: usize, destination: &str, verdict: Verdict) -> Verdict {
        if self
            .suppression
            .as_ref()
            .is_some_and(|s| s.contains(destination))
        {
            return Verdict::Skip(RowError::new(
                self.columns[column].as_str(),
                RowErrorCode::OptedOut,
                format!("{destination} is on the opt-out list: it is not sent"),
            ));
        }
        let Verdict::Send(_) = verdict else {
            return verdict;
        };
        let row = u32::try_from(self.index).expect("next() stops at row 2^32");
        match self.seen.first(row, crate::fingerprint::of(destination)) {
            Some(first) => Verdict::Invalid(RowError::new(
                self.columns[column].as_str(),
                RowErrorCode::DuplicateDestination,
                match first {
                    0 => "an earlier run of this campaign already sent to this destination, from a row no longer in the CSV: delete this row".to_string(),
                    first => format!(
                        "same destination as row {first}: delete this row (each destination gets the campaign once)"
                    ),
                },
            )),
            None => verdict,
        }
    }

    /// A row with bytes its encoding cannot map: reported, never passed on as mojibake.
    fn encoding_error(&self, rec: &ByteRecord, field: usize) -> (String, RowError) {
        let raw = self
            .destination_cell(rec)
            .0
            .map_or("", |(_, c)| c)
            .to_owned();
        let column = self.columns.get(field).map_or("row", String::as_str);
        let e = RowError::new(
            column,
            RowErrorCode::InvalidEncoding,
            format!(
                "column {column} has bytes that are not valid in the file's encoding: save the file as CSV UTF-8, or pass --encoding with its real encoding (e.g. windows-1252)"
            ),
        );
        (raw, e)
    }
}

/// Starts loading libphonenumber's metadata (about a quarter of a second: the crate compiles
/// every region's patterns) on a thread of its own when a campaign file is first opened, so
/// that it overlaps with reading the results file; the first number to judge waits for it.
fn load_phone_metadata_early() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        // Without the thread, the first number loads it itself.
        let _ = std::thread::Builder::new()
            .name("phone-metadata".into())
            .spawn(|| {
                let _loaded: &phonenumber::metadata::Database = &phonenumber::metadata::DATABASE;
            });
    });
}

impl Iterator for CsvInput {
    type Item = Result<Row, InputError>;

    /// The next data row; `Err` only when reading the file fails mid-way.
    fn next(&mut self) -> Option<Self::Item> {
        self.next_row(|_| None)
    }
}

impl CsvInput {
    /// Validates and screens the row just read into `rec`.
    fn judge_record(&mut self, rec: ByteRecord) -> Row {
        // Not UTF-8, or (after decoding) a U+FFFD standing for a byte the encoding lacks.
        let text = match StringRecord::from_byte_record(rec) {
            Ok(r) if self.transcoded => match r.iter().position(|f| f.contains('\u{FFFD}')) {
                Some(field) => Err((field, r.into_byte_record())),
                None => Ok(r),
            },
            Ok(r) => Ok(r),
            Err(bad) => Err((bad.utf8_error().field(), bad.into_byte_record())),
        };
        let (raw_destination, valid, verdict) = match text {
            Ok(rec) => {
                let (first, count) = self.destination_cell(rec.as_byte_record());
                let raw = first.map_or("", |(_, c)| c).to_owned();
                let (valid, outcome) = self.judge(&rec, first, count);
                self.record = rec.into_byte_record();
                let verdict = outcome.map_or_else(Verdict::Invalid, |m| Verdict::Send(Box::new(m)));
                (raw, valid, verdict)
            }
            Err((field, rec)) => {
                let (raw, e) = self.encoding_error(&rec, field);
                self.record = rec;
                (raw, None, Verdict::Invalid(e))
            }
        };
        let (destination, verdict) = match valid {
            Some((column, d)) => {
                let verdict = self.screen(column, &d, verdict);
                (d, verdict)
            }
            None => (raw_destination.clone(), verdict),
        };
        Row {
            index: self.index,
            raw_destination,
            destination,
            verdict,
        }
    }
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
