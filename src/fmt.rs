//! How values are written for people, shared by the log lines, the preflight report, the
//! window's messages and `report`: one place, so that a duration reads the same everywhere.

use std::time::Duration;

/// A duration for people: `1h 02m`, `3m 05s`, `12s`, `250ms`.
pub fn human(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0 => format!("{}ms", duration.as_millis()),
        1..60 => format!("{secs}s"),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_range_reads_in_its_own_unit() {
        assert_eq!(human(Duration::from_millis(250)), "250ms");
        assert_eq!(human(Duration::from_secs(12)), "12s");
        assert_eq!(human(Duration::from_secs(185)), "3m 05s");
        assert_eq!(human(Duration::from_secs(3720)), "1h 02m");
        // Whatever a server asks for, it is written, not a panic.
        assert!(human(Duration::MAX).ends_with("m"));
    }
}
