//! Why a row cannot be sent, in words for the person fixing the spreadsheet and as a stable
//! code for filtering: the one error type of every row and campaign-level check.

use std::fmt;

/// Why one row (or one campaign-level setting) cannot be sent: the results file shows it
/// to the person who has to fix the spreadsheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The column or API field at fault (`templateId`, the phone column's own name, `row`).
    pub field: String,
    /// A stable code for filtering and counting.
    pub code: RowErrorCode,
    /// What is wrong with the value and how to fix it.
    pub message: String,
}

impl RowError {
    pub(crate) fn new(
        field: impl Into<String>,
        code: RowErrorCode,
        message: impl Into<String>,
    ) -> Self {
        RowError {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field {}: {}", self.field, self.message)
    }
}

impl std::error::Error for RowError {}

/// Stable machine-readable reasons, written to the results file next to the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowErrorCode {
    InvalidDestination,
    MissingDestination,
    MultipleDestinations,
    MissingMode,
    ConflictingModes,
    InvalidMedia,
    InvalidMediaType,
    CaptionNotAllowed,
    /// buttons/header/footer in direct-media mode, which the API forbids.
    NotAllowedWithMedia,
    InvalidButtons,
    TooManyButtons,
    InvalidHeader,
    HeaderWithoutButtons,
    FooterWithoutButtons,
    FooterTooLong,
    InvalidTimestamp,
    DeliverUntilNotAfterDeliverAt,
    DeliverUntilPast,
    DeliverAtOutsideWindow,
    MalformedRow,
    InvalidEncoding,
    DuplicateDestination,
    OptedOut,
    /// A field the chosen provider cannot send (e.g. buttons with msgflash).
    NotSupported,
    /// A field the chosen kind of message needs is empty (e.g. latitude for a location).
    MissingField,
    /// Coordinates that are not numbers within range.
    InvalidLocation,
    /// An id the provider requires as a UUID is not one.
    InvalidId,
    /// A `type` that is not a kind of message.
    InvalidType,
    /// A merge field (`{{nome}}`) whose cell is empty and which has no fallback, or a row's
    /// own text whose merge fields cannot be rendered.
    MissingVariable,
    /// A cell longer than any WhatsApp message can carry.
    ValueTooLong,
    /// A cell with a control character (NUL, ESC, BEL…) that would reach the recipient.
    ControlCharacter,
    /// A cell a merge field or template variable takes that still holds a placeholder
    /// (`{{nome}}`): an export whose fields were never merged.
    UnmergedPlaceholder,
    /// A row whose every cell is empty: spreadsheets save such rows after the data.
    /// Skipped, not invalid: it is no mistake in the list.
    EmptyRow,
}

impl RowErrorCode {
    /// The SCREAMING_SNAKE_CASE spelling used in results files and logs.
    pub fn as_str(self) -> &'static str {
        use RowErrorCode::*;
        match self {
            InvalidDestination => "INVALID_DESTINATION",
            MissingDestination => "MISSING_DESTINATION",
            MultipleDestinations => "MULTIPLE_DESTINATIONS",
            MissingMode => "MISSING_MODE",
            ConflictingModes => "CONFLICTING_MODES",
            InvalidMedia => "INVALID_MEDIA",
            InvalidMediaType => "INVALID_MEDIA_TYPE",
            CaptionNotAllowed => "CAPTION_NOT_ALLOWED",
            NotAllowedWithMedia => "NOT_ALLOWED_WITH_MEDIA",
            InvalidButtons => "INVALID_BUTTONS",
            TooManyButtons => "TOO_MANY_BUTTONS",
            InvalidHeader => "INVALID_HEADER",
            HeaderWithoutButtons => "HEADER_WITHOUT_BUTTONS",
            FooterWithoutButtons => "FOOTER_WITHOUT_BUTTONS",
            FooterTooLong => "FOOTER_TOO_LONG",
            InvalidTimestamp => "INVALID_TIMESTAMP",
            DeliverUntilNotAfterDeliverAt => "DELIVER_UNTIL_NOT_AFTER_DELIVER_AT",
            DeliverUntilPast => "DELIVER_UNTIL_PAST",
            DeliverAtOutsideWindow => "DELIVER_AT_OUTSIDE_WINDOW",
            MalformedRow => "MALFORMED_ROW",
            InvalidEncoding => "INVALID_ENCODING",
            DuplicateDestination => "DUPLICATE_DESTINATION",
            OptedOut => "OPTED_OUT",
            NotSupported => "NOT_SUPPORTED_BY_PROVIDER",
            MissingField => "MISSING_FIELD",
            InvalidLocation => "INVALID_LOCATION",
            InvalidId => "INVALID_ID",
            InvalidType => "INVALID_TYPE",
            MissingVariable => "MISSING_VARIABLE",
            ValueTooLong => "VALUE_TOO_LONG",
            ControlCharacter => "CONTROL_CHARACTER",
            UnmergedPlaceholder => "UNMERGED_PLACEHOLDER",
            EmptyRow => "EMPTY_ROW",
        }
    }
}

impl fmt::Display for RowErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
