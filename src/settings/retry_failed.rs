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

impl RetryFailed {
    /// The flag's value: absent, empty (all), or a comma-separated list of error codes.
    pub fn from_flag(flag: Option<&str>) -> RetryFailed {
        let Some(flag) = flag else {
            return RetryFailed::No;
        };
        let codes: Vec<String> = (flag.split(',').map(str::trim))
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        match codes.is_empty() {
            true => RetryFailed::All,
            false => RetryFailed::Codes(codes),
        }
    }

    /// Whether a row recorded as `prior` is a `FAILED` row this run sends again.
    pub fn covers(&self, prior: &Prior) -> bool {
        prior.status == Status::Failed
            && match self {
                RetryFailed::No => false,
                RetryFailed::All => true,
                RetryFailed::Codes(codes) => codes.iter().any(|c| prior.failed_with(c)),
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_failed_reads_its_flag() {
        assert_eq!(RetryFailed::from_flag(None), RetryFailed::No);
        assert_eq!(RetryFailed::from_flag(Some("")), RetryFailed::All);
        assert_eq!(RetryFailed::from_flag(Some(" , ")), RetryFailed::All);
        assert_eq!(
            RetryFailed::from_flag(Some("A, B")),
            RetryFailed::Codes(vec!["A".into(), "B".into()])
        );
    }
}
