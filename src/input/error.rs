//! Problems with the campaign file as a whole, each saying what is wrong and how to fix it.

use std::path::{Path, PathBuf};

use super::quotes::{MAX_RECORD, TooLong};
use super::{RowError, SyntaxError};

/// A set-up problem with the file as a whole: stops the run before any send (exit 2).
/// Display says what is wrong and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(
        "cannot open {path}: {source}: check the path and its permissions",
        path = crate::fmt::path(path)
    )]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The list, or an opt-out list, is a pipe, a folder, a device or a socket.
    #[error(transparent)]
    NotAFile(#[from] crate::plain_file::NotAFile),
    #[error(
        "{path} is an Excel workbook ({format}), not CSV: save it as CSV UTF-8 (in Excel: File > Save As > CSV UTF-8), then give that file",
        path = crate::fmt::path(path)
    )]
    Workbook { path: PathBuf, format: &'static str },
    #[error(
        "{path} is not CSV text: its header line holds control characters. Export the list as CSV UTF-8 (or pass --encoding with its real encoding) and give that file",
        path = crate::fmt::path(path)
    )]
    NotText { path: PathBuf },
    #[error("cannot read the start of the file: {0}: check the file is readable")]
    Sample(std::io::Error),
    #[error(
        "--encoding '{}' is not an encoding name: use e.g. utf-8, windows-1252 or iso-8859-1",
        shown(given)
    )]
    UnknownEncoding { given: String },
    #[error(
        "{path} is UTF-8 (it has '{example}'), but the encoding is set to {encoding}, which would send every accent garbled: remove the encoding setting (--encoding, or encoding in the campaign file) and run again",
        path = crate::fmt::path(path)
    )]
    Utf8Forced {
        path: PathBuf,
        encoding: &'static str,
        example: String,
    },
    #[error(
        "the header line is not valid UTF-8: save the file as CSV UTF-8, or pass --encoding (e.g. windows-1252)"
    )]
    HeaderEncoding,
    #[error(
        "reading {path} failed after row {row}: {source}: check the file is complete and readable, then run again",
        path = crate::fmt::path(path)
    )]
    Read {
        path: PathBuf,
        row: u64,
        source: csv::Error,
    },
    #[error(
        "{place} of {path}: the quote that opens column '{column}' is never closed, so the rest of the file would be read as that one cell. Nothing was sent. {QUOTE_FIX}",
        path = crate::fmt::path(path)
    )]
    UnclosedQuote {
        path: PathBuf,
        place: Place,
        column: String,
    },
    #[error(
        "the header line of {path} has a quote that is not closed (column {position} takes in the lines below it). Nothing was sent. {QUOTE_FIX}",
        path = crate::fmt::path(path)
    )]
    QuoteInHeader { path: PathBuf, position: usize },
    #[error(
        "{place} of {path}: column '{column}' holds {rows} line(s) that read like rows of the file: a quote opened in that cell is closed only further down, so those rows would not be sent. Nothing was sent. {QUOTE_FIX}",
        path = crate::fmt::path(path)
    )]
    SwallowedRows {
        path: PathBuf,
        place: Place,
        column: String,
        rows: usize,
    },
    #[error(
        "line {line} of {path} starts a row longer than {} MiB, the most one row may hold (a spreadsheet cell holds at most 32,767 characters): this is not a list of contacts. Nothing was sent: check that this is the right file",
        MAX_RECORD >> 20,
        path = crate::fmt::path(path)
    )]
    RowTooLong { path: PathBuf, line: u64 },
    #[error(
        "{path} has more than 4,294,967,295 rows: split it into several campaigns",
        path = crate::fmt::path(path)
    )]
    TooManyRows { path: PathBuf },
    #[error(
        "{path} is empty: the first line must be a header such as phone,nome",
        path = crate::fmt::path(path)
    )]
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
    #[error("--phone-column '{}' is not in the header (columns: {columns}){}", shown(name), suggestion(closest.as_deref(), "--phone-column"))]
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
    /// The header read as one column holding another delimiter: the one given does not fit.
    #[error(
        "the header reads as one column ({columns}): the file is not split by the delimiter it \
         was read with. Leave out --delimiter (delimiter in the campaign file) so it is \
         detected, or give the one the file uses"
    )]
    WrongDelimiter { columns: String },
    #[error(
        "no message to send: pass --template, --text or --media, or add a templateId/text/media column"
    )]
    NoMode,
    /// A message setting given empty (`--text "$MSG"` with the variable unset).
    #[error("--{0} is empty (only spaces): give the message's {0}, or leave the flag out")]
    BlankMode(&'static str),
    #[error(
        "--default-country '{}' is not a country: use a two-letter ISO code such as BR",
        shown(given)
    )]
    UnknownCountry { given: String },
    #[error(
        "opt-out list {path}, line {line}: {reason}; fix or delete that line",
        path = crate::fmt::path(path)
    )]
    SuppressionEntry {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    #[error(
        "opt-out list {path}: no phone column in its first line ({first_line}): name the column phone, or put one number per line",
        path = crate::fmt::path(path)
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

impl InputError {
    /// Reading `path` failed after data row `row`: a row over [`MAX_RECORD`] is named as
    /// such, with its line.
    pub(crate) fn read(path: &Path, row: u64, source: csv::Error) -> InputError {
        if let csv::ErrorKind::Io(e) = source.kind()
            && let Some(&TooLong { line }) = e.get_ref().and_then(|e| e.downcast_ref::<TooLong>())
        {
            return InputError::RowTooLong {
                path: path.to_owned(),
                line,
            };
        }
        InputError::Read {
            path: path.to_owned(),
            row,
            source,
        }
    }
}

pub(crate) use crate::fmt::shown;

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
