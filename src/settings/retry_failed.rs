//! `--retry-failed[=CODE,CODE]` as a setting: which `FAILED` rows a run sends again.

use crate::journal::{Prior, Status};

/// Which `FAILED` rows this run sends again (`--retry-failed[=CODE,CODE]`): a decision for
/// one run, after fixing what made them fail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RetryFailed {
    /// None (no `--retry-failed`).
    #[default]
    No,
    /// Every `FAILED` row (`--retry-failed`).
    All,
    /// Those whose `errorCode` is one of these (`--retry-failed=CODE,CODE`).
    Codes(Vec<String>),
}

/// What clap passes for a bare `--retry-failed`: every `FAILED` row.
pub const ALL: &str = "*";

impl RetryFailed {
    /// The flag's value: absent, bare ([`ALL`]), or a comma-separated list of error codes,
    /// read in upper case as the API writes them (`validation_error` is `VALIDATION_ERROR`).
    /// An empty list (`--retry-failed="$CODES"` with the variable unset) is refused rather
    /// than read as every row.
    pub fn from_flag(flag: Option<&str>) -> Result<RetryFailed, String> {
        let Some(flag) = flag else {
            return Ok(RetryFailed::No);
        };
        if flag.trim() == ALL {
            return Ok(RetryFailed::All);
        }
        let codes: Vec<String> = (flag.split(',').map(str::trim))
            .filter(|c| !c.is_empty())
            .map(str::to_ascii_uppercase)
            .collect();
        if codes.is_empty() {
            return Err(
                "names no error code: give the codes (--retry-failed=CODE,CODE), or \
                 --retry-failed alone to send every FAILED row again. Nothing was sent"
                    .into(),
            );
        }
        Ok(RetryFailed::Codes(codes))
    }

    /// Whether a row recorded as `prior` is a `FAILED` row this run sends again.
    pub fn covers(&self, prior: &Prior) -> bool {
        prior.status == Status::Failed
            && match self {
                RetryFailed::No => false,
                RetryFailed::All => true,
                RetryFailed::Codes(_) => self.code_of(prior).is_some(),
            }
    }

    /// Which of the codes asked for (its place in the list) a `FAILED` row was refused with.
    pub fn code_of(&self, prior: &Prior) -> Option<usize> {
        match self {
            RetryFailed::Codes(codes) if prior.status == Status::Failed => {
                codes.iter().position(|c| prior.has_code(c))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_failed_reads_its_flag() {
        assert_eq!(RetryFailed::from_flag(None), Ok(RetryFailed::No));
        assert_eq!(RetryFailed::from_flag(Some(ALL)), Ok(RetryFailed::All));
        for empty in ["", " , ", ","] {
            let refused = RetryFailed::from_flag(Some(empty)).unwrap_err();
            assert!(
                refused.contains("names no error code"),
                "{empty:?}: {refused}"
            );
        }
        assert_eq!(
            RetryFailed::from_flag(Some("A, validation_error")),
            Ok(RetryFailed::Codes(vec![
                "A".into(),
                "VALIDATION_ERROR".into()
            ]))
        );
    }
}
