//! CSV rows in: reads the campaign file as a stream and turns each row into a validated
//! [`Message`](crate::message::Message) or a reason it cannot be sent, so that nothing invalid ever reaches a provider
//! and the person fixing the spreadsheet is told what to change.

mod defaults;
mod destinations;
mod dialect;
mod error;
mod header;
mod lines;
mod merge;
mod merge_fields;
mod numbering;
mod phone;
mod prefetch;
mod quotes;
mod reader;
mod seen;
mod suppress;
pub mod validate;
mod values;
mod visible;

pub use defaults::{InputOptions, MessageDefaults};
pub use error::{InputError, Place};
pub use lines::RowAt;
pub use merge::SyntaxError;
pub(crate) use phone::is_phone_like;
pub use reader::{CsvInput, Row, Verdict};
pub(crate) use reader::{international_number, test_destination};
pub use suppress::{Suppression, load_suppression};
pub use validate::{RowError, RowErrorCode, validate_defaults};
pub(crate) use values::control_in_settings;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
