//! The APIs' error answers as data; each API's shape is in `api.rs`.

use std::borrow::Cow;

use axum::http::StatusCode;

/// An error answer the sandbox gives, kept as data so it can be both sent and logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: Cow<'static, str>,
    pub error: String,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        error: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code: code.into(),
            error: error.into(),
        }
    }

    /// A 400 `VALIDATION_ERROR`; the sentence names the offending field.
    pub fn invalid(error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", error)
    }
}
