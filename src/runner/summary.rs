//! The end of a run: the campaign's state read from its checkpoint, the lines that say what
//! happened and what to do next, and the exit code a scheduler acts on.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::journal::{Checkpoint, Status};
use crate::progress::{json_logs, print_done, print_err};

/// The end-of-run summary: on stdout after a send, on stderr after a dry run (whose stdout is
/// the request bodies alone), and one JSON event with its counts under `--log-format json`.
pub fn show_summary(summary: &Summary) {
    if json_logs() {
        let text = summary.to_string();
        let text = text.trim_end().replace('\n', "; ");
        // As the text summary is printed whatever the verbosity, the event goes out at the
        // quietest level the log shows (`-q`: a warning, `-qq`: an error).
        macro_rules! summary_event {
            ($level:expr) => {
                tracing::event!(
                    $level,
                    rows = summary.rows,
                    queued = summary.queued,
                    failed = summary.failed,
                    invalid = summary.invalid,
                    uncertain = summary.uncertain,
                    uncertain_gone = summary.uncertain_gone,
                    skipped = summary.skipped,
                    pending = summary.pending,
                    results = %crate::fmt::path(&summary.results),
                    dry_run = summary.dry_run,
                    "{text}"
                )
            };
        }
        if tracing::enabled!(tracing::Level::INFO) {
            summary_event!(tracing::Level::INFO);
        } else if tracing::enabled!(tracing::Level::WARN) {
            summary_event!(tracing::Level::WARN);
        } else {
            summary_event!(tracing::Level::ERROR);
        }
    } else if summary.dry_run {
        print_err(summary);
    } else {
        print_done(summary);
    }
}

/// The state of the whole campaign after a run, read from the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub rows: u64,
    pub queued: u64,
    pub failed: u64,
    pub invalid: u64,
    pub uncertain: u64,
    pub skipped: u64,
    /// DEFERRED, SENDING, or not reached yet: a rerun will handle them.
    pub pending: u64,
    /// Recipients no longer in the CSV whose send is UNCERTAIN (or was interrupted): not
    /// rows of this input, but someone must still check them.
    pub uncertain_gone: u64,
    pub results: PathBuf,
    pub dry_run: bool,
}

impl Summary {
    /// Counts every input row by its last recorded status.
    pub fn from_checkpoint(
        checkpoint: &Checkpoint,
        rows: u64,
        results: &Path,
        dry_run: bool,
    ) -> Summary {
        let mut summary = Summary {
            rows,
            queued: 0,
            failed: 0,
            invalid: 0,
            uncertain: 0,
            skipped: 0,
            pending: rows,
            uncertain_gone: (checkpoint.gone(rows))
                .filter(|s| matches!(s, Status::Uncertain | Status::Sending))
                .count() as u64,
            results: results.to_path_buf(),
            dry_run,
        };
        for (_, status) in checkpoint.statuses().take_while(|(row, _)| *row <= rows) {
            let counter = match status {
                Status::Queued => &mut summary.queued,
                Status::Failed => &mut summary.failed,
                Status::Invalid => &mut summary.invalid,
                Status::Uncertain => &mut summary.uncertain,
                Status::Skipped => &mut summary.skipped,
                Status::Sending | Status::Deferred => continue,
            };
            *counter += 1;
            summary.pending -= 1;
        }
        summary
    }

    /// 0: every row final and accepted; 1: every row final, some not accepted; 3: rows
    /// remain for a rerun. A dry run that got this far exits 0.
    pub fn exit_code(&self) -> u8 {
        if self.dry_run {
            0
        } else if self.pending > 0 {
            3
        } else if self.failed + self.invalid + self.uncertain > 0 {
            1
        } else {
            0
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dry_run {
            return writeln!(
                f,
                "dry run: nothing was sent and {} was not touched",
                crate::fmt::path(&self.results)
            );
        }
        writeln!(
            f,
            "{} rows: {} queued, {} failed, {} invalid, {} uncertain, {} skipped, {} pending",
            self.rows,
            self.queued,
            self.failed,
            self.invalid,
            self.uncertain,
            self.skipped,
            self.pending
        )?;
        writeln!(f, "results: {}", crate::fmt::path(&self.results))?;
        if self.uncertain_gone > 0 {
            writeln!(
                f,
                "{} recipient(s) no longer in the CSV have an UNCERTAIN send in the results \
                 (their `row` is empty, or past the CSV's end)",
                self.uncertain_gone
            )?;
        }
        if self.uncertain + self.uncertain_gone > 0 {
            writeln!(
                f,
                "UNCERTAIN rows may have been delivered: check them (dashboard or `GET /v1/messages`) before \
                 rerunning with --resend-uncertain"
            )?;
        }
        if self.pending > 0 {
            writeln!(f, "not finished: rerun the same command to continue")?;
        } else {
            writeln!(
                f,
                "campaign done: every row is final; rerunning the same command sends nothing"
            )?;
        }
        Ok(())
    }
}
