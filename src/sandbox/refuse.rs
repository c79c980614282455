//! Destinations the sandbox refuses on purpose, each with the status and error code a
//! rehearsal wants to see: a few `FAILED` rows in an otherwise good campaign, to rehearse
//! the failure breaker and `--retry-failed`.

use std::str::FromStr;

use axum::http::StatusCode;

use super::error::ApiError;

/// The refusal when the spec names none: the API's answer to a body it will not take.
const DEFAULT_REFUSAL: (u16, &str) = (400, "VALIDATION_ERROR");

/// One destination the sandbox refuses, written `+5511988887777` or
/// `+5511988887777=404:TEMPLATE_NOT_FOUND` (status and error code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailDestination {
    /// The destination exactly as the request carries it (E.164).
    pub destination: String,
    /// The HTTP status answered (400 to 499: a refusal, never an ambiguous 5xx).
    pub status: u16,
    /// The error code answered.
    pub code: String,
}

impl FailDestination {
    /// The refusal, when `destination` (as received) is this one.
    pub(crate) fn refusal(&self, destination: &str) -> Option<ApiError> {
        (destination == self.destination).then(|| {
            let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
            ApiError::new(
                status,
                self.code.clone(),
                format!("sandbox: refused {} on request", self.destination),
            )
        })
    }
}

impl FromStr for FailDestination {
    type Err = String;

    fn from_str(spec: &str) -> Result<FailDestination, String> {
        let usage = || {
            format!(
                "`{spec}`: expected NUMBER or NUMBER=STATUS:CODE, e.g. +5511988887777=400:VALIDATION_ERROR"
            )
        };
        let (destination, refusal) = match spec.split_once('=') {
            Some((destination, refusal)) => (destination.trim(), Some(refusal.trim())),
            None => (spec.trim(), None),
        };
        let (status, code) = match refusal {
            None => (DEFAULT_REFUSAL.0, DEFAULT_REFUSAL.1.to_string()),
            Some(refusal) => {
                let (status, code) = refusal.split_once(':').ok_or_else(usage)?;
                let status: u16 = status.trim().parse().map_err(|_| usage())?;
                let code = code.trim();
                let plain = |c: char| c.is_ascii_alphanumeric() || c == '_';
                if !(400..=499).contains(&status) || code.is_empty() || !code.chars().all(plain) {
                    return Err(usage());
                }
                (status, code.to_string())
            }
        };
        if destination.is_empty() {
            return Err(usage());
        }
        Ok(FailDestination {
            destination: destination.to_string(),
            status,
            code,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_names_a_destination_and_its_refusal() {
        let plain: FailDestination = "+5511988887777".parse().unwrap();
        assert_eq!(
            (plain.status, plain.code.as_str()),
            (400, "VALIDATION_ERROR")
        );
        let coded: FailDestination = "+5511988887777=404:TEMPLATE_NOT_FOUND".parse().unwrap();
        assert_eq!(
            (coded.status, coded.code.as_str()),
            (404, "TEMPLATE_NOT_FOUND")
        );
        let refusal = coded.refusal("+5511988887777").unwrap();
        assert_eq!(
            (refusal.status.as_u16(), &*refusal.code),
            (404, "TEMPLATE_NOT_FOUND")
        );
        assert!(coded.refusal("+5511988887778").is_none());
        for bad in [
            "",
            "=400:X",
            "+55=500:X",
            "+55=400:",
            "+55=400",
            "+55=4xx:X",
            "+55=400:a b",
        ] {
            assert!(bad.parse::<FailDestination>().is_err(), "{bad}");
        }
    }
}
