//! The results CSV, which is also the checkpoint a rerun resumes from.
//!
//! Append-only while a run is on: an intent (`SENDING`) is made durable before a request
//! leaves and an outcome after it returns, each fsynced before the next send. A rerun reads
//! each row's latest line (by its attempts, then intent before outcome: whatever order a
//! spreadsheet sorted the lines in); a `SENDING` with no outcome means the process died with
//! the request in flight, so that row becomes `UNCERTAIN` instead of being sent twice. When
//! a run ends (not on a disk error), the file is rewritten to one line per row, beside the
//! old one, read back and checked before it replaces it.
//!
//! The file is the user's: spreadsheets may open and re-save it. Reading is a real CSV read
//! of what they write; a complete line that does not read stops the run and leaves the file
//! untouched; only a last line that cannot be whole, in a file as this tool writes it, is a
//! crash's torn write, and only a run that goes on to write drops it.
//!
//! This module is the only code that reads or writes the results file. It knows nothing
//! about HTTP; it holds the run's exclusive lock.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

mod cells;
mod checkpoint;
pub mod delivery;
mod delivery_state;
mod file;
mod layout;
mod lock;
mod place;
#[cfg(test)]
mod properties;
mod record;
mod records;
mod rows;
mod scan;
mod writer;

pub use checkpoint::{Checkpoint, Prior, Recorded, Slot};
pub use file::Journal;
pub use lock::{Lock, lock_path};
pub use record::Record;
pub use writer::{Durability, Shared};

use record::write_record;

/// The columns every results file starts with, in order; later columns may follow.
pub const COLUMNS: [&str; 14] = [
    "row",
    "destination",
    "status",
    "messageId",
    "correlationId",
    "httpStatus",
    "errorCode",
    "error",
    "attempts",
    "sentAt",
    "rawDestination",
    "sender",
    "target",
    "message",
];

/// The first columns a file must have to be taken as ours (older files lack the rest).
const REQUIRED_COLUMNS: usize = 10;

/// The `errorCode` of a send an earlier run left in flight (killed between its request and
/// its answer), now `UNCERTAIN`: its line keeps the intent's number and `sentAt`, but it is
/// no send of the run that writes it.
pub const INTERRUPTED: &str = "INTERRUPTED";

/// Whether `id`, an accepted send's message id, reads back from its `messageId` cell as
/// itself. One written in a spreadsheet's scientific notation (`5.51E+12`, as a server may
/// spell an id) would not: the reader takes it for a spreadsheet's rounding and refuses the
/// file, so the runner never writes one.
pub fn id_reads_back(id: &str) -> bool {
    !cells::rounded_id(id)
}

/// A row's state in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Internal: a request is (or was) in flight. Never left in a compacted file.
    Sending,
    /// Accepted by the API (202), with its message id.
    Queued,
    /// Refused by the API for this row (400/402/404...).
    Failed,
    /// Refused by local validation; never sent.
    Invalid,
    /// The request may have been accepted; never resent without `--resend-uncertain`.
    Uncertain,
    /// Definitely not accepted yet (retries exhausted, campaign stopped): a rerun sends it.
    Deferred,
    /// Deliberately not sent (opted out).
    Skipped,
}

impl Status {
    const ALL: [Status; 7] = [
        Status::Sending,
        Status::Queued,
        Status::Failed,
        Status::Invalid,
        Status::Uncertain,
        Status::Deferred,
        Status::Skipped,
    ];

    /// The word written in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Sending => "SENDING",
            Status::Queued => "QUEUED",
            Status::Failed => "FAILED",
            Status::Invalid => "INVALID",
            Status::Uncertain => "UNCERTAIN",
            Status::Deferred => "DEFERRED",
            Status::Skipped => "SKIPPED",
        }
    }

    /// Reads a `status` cell.
    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether a line of this status can carry a message id: an accepted send, one that may
    /// have been, and `SKIPPED` (`ALREADY_SENT` keeps the earlier send's id). An intent, a
    /// refusal (for now or for good) or an invalid row has none, and may be sent again
    /// (`FAILED` by `--retry-failed`): an id beside one is a status typed over a send.
    pub fn may_hold_an_id(self) -> bool {
        matches!(self, Status::Queued | Status::Uncertain | Status::Skipped)
    }

    /// Final statuses are never retried by a rerun (UNCERTAIN only with `--resend-uncertain`).
    pub fn is_final(self) -> bool {
        !matches!(self, Status::Sending | Status::Deferred)
    }

    /// Whether a request for the row went, or may have gone, to the API.
    pub fn reached_api(self) -> bool {
        matches!(
            self,
            Status::Queued | Status::Failed | Status::Uncertain | Status::Sending
        )
    }

    /// Whether the row counts as handled successfully for the exit code.
    pub fn is_success(self) -> bool {
        matches!(self, Status::Queued | Status::Skipped)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the results file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "{path} is in use by another run ({holder}); wait for it to finish, then rerun the same command",
        path = crate::fmt::path(path)
    )]
    Locked { path: PathBuf, holder: String },
    #[error(
        "the lock file {path} was {what} while this run held it (a stale-lock cleanup?), so \
         another run could start on the same results",
        path = crate::fmt::path(path)
    )]
    LockLost { path: PathBuf, what: &'static str },
    #[error(
        "the lock file {path} is {what}, not a file of its own, so it was not opened for writing \
         (writing it would overwrite what it leads to) and nothing was sent. Check what it leads \
         to, remove the lock file itself (`rm {path}`), then rerun the same command",
        path = crate::fmt::path(path)
    )]
    LockNotOurs { path: PathBuf, what: &'static str },
    #[error(
        "{path} has {names} names (hard links), so nothing is sent with it and it is left as \
         it is: two runs started through two names would each take their own lock and send the \
         same rows, and the first rewrite of the file would split the names into two different \
         files. Remove the other names (`find / -samefile {path}` lists them), or make them \
         symbolic links (`ln -s`), then rerun the same command",
        path = crate::fmt::path(path)
    )]
    HardLinked { path: PathBuf, names: u64 },
    #[error(
        "{path} was written by another process while this run was writing it (a second run \
         started after the lock file was deleted?): this run stopped writing it, and every line \
         in it is whole",
        path = crate::fmt::path(path)
    )]
    Shared { path: PathBuf },
    #[error(
        "{path} was {what} while this run was writing it (saved from a spreadsheet during the \
         run?)",
        path = crate::fmt::path(path)
    )]
    Replaced { path: PathBuf, what: &'static str },
    #[error(
        "{path} no longer leads to this run's file and it could not be put back ({why}): {saved}",
        path = crate::fmt::path(path)
    )]
    NotPutBack {
        path: PathBuf,
        why: String,
        /// Where the lines went instead, or that they could be saved nowhere.
        saved: String,
    },
    #[error(
        "the last run on {path} could not put its lines back and saved them as {rescue}, so \
         {path} lacks sends they record and nothing is sent with it. Check that {rescue} is \
         the newer file, put it in place of {path} (keep the other if it has anything you \
         need), delete {rescue}, then rerun the same command",
        path = crate::fmt::path(path),
        rescue = crate::fmt::path(rescue)
    )]
    Unsaved { path: PathBuf, rescue: PathBuf },
    #[error(
        "cannot {action} {path}: {source}",
        path = crate::fmt::path(path)
    )]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(
        "{path} line {line} cannot be read ({detail}). Nothing was sent and the file was not changed. \
         Restore that line as it was (a backup, or the line as this tool wrote it), or if a \
         spreadsheet saved the file, re-save it as CSV UTF-8; then rerun the same command",
        path = crate::fmt::path(path)
    )]
    Damaged {
        path: PathBuf,
        line: u64,
        detail: String,
    },
    /// The results path leads to a pipe, a folder, a device or a socket.
    #[error(transparent)]
    NotAFile(#[from] crate::plain_file::NotAFile),
    #[error(
        "{path} is not a campaign-sender results file (its first line is '{header}'{saved_as}{lacks}), \
         so it was not changed. If it is this campaign's results re-saved by a spreadsheet, restore its \
         first line (row,destination,status,...) or re-save it as CSV UTF-8; a column deleted in \
         the spreadsheet comes back, cells and all, from a copy made before; if the path (a send's \
         --results) names another file by mistake, point it at this campaign's results file",
        path = crate::fmt::path(path)
    )]
    NotOurs {
        path: PathBuf,
        /// The first line, printable ([`record::printable`]).
        header: String,
        /// How the file was saved, when that is why it does not read.
        saved_as: &'static str,
        /// The required columns it lacks, when it names the others (a column deleted).
        lacks: String,
    },
}

impl JournalError {
    /// What to do after a run stopped on this error part-way.
    pub fn advice(&self) -> &'static str {
        match self {
            JournalError::LockLost { .. } | JournalError::Shared { .. } => {
                "Make sure no other run uses this results file, then rerun the same command"
            }
            JournalError::Replaced { .. } => {
                "The message above says where this run's lines are; save the results from a \
                 spreadsheet only between runs"
            }
            JournalError::NotPutBack { .. } => {
                "Do not rerun before this run's lines are back at the results path: a rerun \
                 would send again the rows they record"
            }
            JournalError::HardLinked { .. } => {
                "Remove the results file's other names (or use symbolic links), then rerun the \
                 same command"
            }
            JournalError::Io { source, .. } if source.kind() == io::ErrorKind::StorageFull => {
                "The disk is full: free space on the disk that holds the results file, then \
                 rerun the same command"
            }
            JournalError::Io { source, .. } if source.kind() == io::ErrorKind::InvalidFilename => {
                "A file name is longer than the file system takes (255 bytes): rename the file \
                 or folder to a shorter name, then rerun"
            }
            JournalError::Io { source, .. } if source.raw_os_error() == Some(libc::EMFILE) => {
                "The process may open no more files: lower --concurrency, or raise the limit \
                 (ulimit -n), then rerun the same command"
            }
            JournalError::Io { source, .. } if source.raw_os_error() == Some(libc::ELOOP) => {
                "A symbolic link on the results file's path leads back to itself: point it at \
                 the real file, then rerun the same command"
            }
            JournalError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                "A folder on the results file's path does not exist: create it (or put it \
                 back, if it was moved or deleted), then rerun the same command"
            }
            _ => "Free disk space or fix permissions, then rerun the same command",
        }
    }
}

/// Refuses a results path that leads to something other than a plain file before anything
/// opens it: a pipe would keep the run waiting for a writer, past any signal. A path that
/// leads nowhere passes (a send creates the file).
pub fn plain_file(path: &Path) -> Result<(), JournalError> {
    crate::plain_file::check(
        path,
        "the results are kept in a CSV file: give that file's path",
    )?;
    Ok(())
}

fn io_error<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> JournalError + 'a {
    move |source| JournalError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}
#[cfg(test)]
mod tests {
    use super::cells::{destination_cell, unescape};
    use super::*;
    use std::fs::{self, OpenOptions};
    use std::io::Write;

    fn record(row: u64, status: Status) -> Record {
        Record {
            attempts: 1,
            ..Record::new(row, &format!("+551199999{row:04}"), status)
        }
    }

    #[test]
    fn the_advice_names_what_the_system_said() {
        let io = |source: io::Error| JournalError::Io {
            action: "open",
            path: "r.csv".into(),
            source,
        };
        for (error, says) in [
            (io::Error::from_raw_os_error(libc::EMFILE), "ulimit -n"),
            (
                io::Error::from_raw_os_error(libc::ELOOP),
                "leads back to itself",
            ),
            (io::ErrorKind::StorageFull.into(), "disk is full"),
            (io::ErrorKind::NotFound.into(), "does not exist"),
            (io::ErrorKind::PermissionDenied.into(), "fix permissions"),
        ] {
            let advice = io(error).advice();
            assert!(advice.contains(says), "{says}: {advice}");
        }
    }

    #[test]
    fn a_rerun_sees_the_last_line_of_each_row_and_drops_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        {
            let mut journal = Journal::open(&path, b',').unwrap();
            journal.append(&[record(1, Status::Sending)]).unwrap();
            journal
                .append(&[record(1, Status::Queued), record(2, Status::Sending)])
                .unwrap();
        }
        let torn = b"3,+5511999990003,SEND";
        let whole = fs::read(&path).unwrap();
        // Cut anywhere else than where a killed write stops, the intent is refused...
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(torn).unwrap();
        let refused = Journal::open(&path, b',').map(|_| ()).unwrap_err();
        assert!(
            refused.to_string().contains("row 3 was being sent"),
            "{refused}"
        );
        // ...and dropped where one does, at a page boundary (blank lines before it).
        let pad = 4096 - (whole.len() + torn.len()) % 4096;
        let padded = [&whole[..], &vec![b'\n'; pad][..], &torn[..]].concat();
        fs::write(&path, padded).unwrap();
        let journal = Journal::open(&path, b',').unwrap();
        let checkpoint = journal.checkpoint();
        assert_eq!(checkpoint.prior(1).unwrap().status, Status::Queued);
        assert_eq!(checkpoint.prior(2).unwrap().status, Status::Sending);
        assert!(checkpoint.prior(3).is_none());
        assert!(
            checkpoint
                .prior(2)
                .unwrap()
                .same_destination("+5511999990002")
        );
        assert!(
            !checkpoint
                .prior(2)
                .unwrap()
                .same_destination("+5511999990003")
        );
        assert!(
            fs::read_to_string(&path)
                .unwrap()
                .ends_with("SENDING,,,,,,1,,,,,\n")
        );
    }

    #[test]
    fn a_last_line_without_a_line_break_is_kept_and_a_torn_one_cut_only_when_writing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let queued = |row| Record {
            message: "m:0000abcd".into(),
            ..record(row, Status::Queued)
        };
        Journal::open(&path, b',')
            .unwrap()
            .append(&[queued(1), record(2, Status::Sending), queued(2)])
            .unwrap();
        let whole = fs::read(&path).unwrap();
        let unterminated = &whole[..whole.len() - 1];
        // Whole (Google Sheets saves so), or torn inside its last cell by a crash after its
        // row's intent (a finished file's only line for a row, cut, is refused instead).
        for (bytes, rows) in [(unterminated, 2), (&whole[..whole.len() - 3], 2)] {
            fs::write(&path, bytes).unwrap();
            drop(Journal::open_as_is(&path, b',').unwrap());
            assert_eq!(fs::read(&path).unwrap(), bytes, "a run that writes nothing");
            assert_eq!(Checkpoint::load(&path).unwrap().len(), rows);
            let mut journal = Journal::open(&path, b',').unwrap();
            journal.append(&[queued(3)]).unwrap();
            assert_eq!(journal.checkpoint().len(), rows + 1);
            let text = fs::read_to_string(&path).unwrap();
            assert_eq!(text.lines().count(), rows + 2, "{text}");
            assert!(text.ends_with(",m:0000abcd\n"), "{text}");
        }
    }

    #[test]
    fn damage_before_the_last_line_is_refused_not_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        drop(Journal::open(&path, b',').unwrap());
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"x,garbage\n1,+5511999990001,QUEUED,m,c,202,,,1,,\n")
            .unwrap();
        let error = Journal::open(&path, b',').err().unwrap();
        assert!(
            matches!(error, JournalError::Damaged { line: 2, .. }),
            "{error}"
        );
    }

    #[test]
    fn compaction_leaves_one_line_per_row_in_row_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let mut journal = Journal::open(&path, b';').unwrap();
        for rec in [
            record(2, Status::Sending),
            record(2, Status::Deferred),
            record(1, Status::Sending),
            record(1, Status::Queued),
            record(2, Status::Sending),
            record(2, Status::Uncertain),
        ] {
            journal.append(&[rec]).unwrap();
        }
        journal.compact().unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("row;destination;status"));
        assert!(lines[1].starts_with("1;+5511999990001;QUEUED"));
        assert!(lines[2].starts_with("2;+5511999990002;UNCERTAIN"));
        assert_eq!(
            journal.checkpoint().prior(2).unwrap().status,
            Status::Uncertain
        );
        // The index points into the compacted file, not the old one.
        for row in [1, 2] {
            assert_eq!(
                journal.checkpoint().recorded_destination(row).as_deref(),
                Some(format!("+551199999{row:04}").as_str())
            );
        }
        journal.append(&[record(3, Status::Invalid)]).unwrap();
        assert!(
            fs::read_to_string(&path)
                .unwrap()
                .ends_with("3;+5511999990003;INVALID;;;;;;1;;;;;\n")
        );
    }

    #[test]
    fn a_second_run_is_refused_while_the_first_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let first = Journal::open(&path, b',').unwrap();
        let error = Journal::open(&path, b',').err().unwrap();
        assert!(
            error
                .to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{error}"
        );
        drop(first);
        assert!(
            Journal::open(&path, b',').is_ok(),
            "the lock is released with the run"
        );
    }

    #[test]
    fn cells_that_spreadsheets_would_run_are_neutralized_but_e164_stays_usable() {
        let mut rec = record(1, Status::Invalid);
        rec.destination = "=HYPERLINK(\"x\")".into();
        rec.raw_destination = "+55 11 9999".into();
        rec.error = "-bad\nthing".into();
        let mut out = Vec::new();
        write_record(&mut out, b',', &rec);
        let line = String::from_utf8(out).unwrap();
        assert!(
            line.starts_with("1,\"'=HYPERLINK(\"\"x\"\")\",INVALID"),
            "{line}"
        );
        assert!(line.contains(",'-bad thing,"), "{line}");
        assert!(line.ends_with(",'+55 11 9999,,,\n"), "{line}");
        assert_eq!(destination_cell("+5511999990001"), "+5511999990001");
        assert_eq!(unescape("'=HYPERLINK(\"x\")"), "=HYPERLINK(\"x\")");
    }

    #[test]
    fn targets_are_stored_read_back_and_absent_from_older_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        // A file from before the column: its rows have no target, and it still resumes.
        fs::write(
            &path,
            "row,destination,status,messageId,correlationId,httpStatus,errorCode,error,attempts,sentAt,rawDestination,sender\n\
             1,+5511999990001,QUEUED,m1,,202,,,1,,,\n",
        )
        .unwrap();
        assert!(Checkpoint::load(&path).unwrap().targets().is_empty());
        let mut journal = Journal::open(&path, b',').unwrap();
        let sent = |row, target: &str| Record {
            target: target.into(),
            ..record(row, Status::Queued)
        };
        journal
            .append(&[
                sent(2, "sandbox"),
                sent(3, "pilot https://x"),
                sent(4, "sandbox"),
            ])
            .unwrap();
        journal.compact().unwrap();
        assert_eq!(
            journal.checkpoint().targets(),
            ["sandbox", "pilot https://x"]
        );
        drop(journal);
        let rows = delivery::read_rows(&path).unwrap();
        assert_eq!(rows[0].record.target, "");
        assert_eq!(rows[2].record.target, "pilot https://x");
        assert_eq!(
            Checkpoint::load(&path).unwrap().targets(),
            ["sandbox", "pilot https://x"]
        );
    }

    #[test]
    fn a_foreign_file_is_not_taken_for_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        fs::write(&path, "phone,nome\n+5511999990001,Ana\n").unwrap();
        assert!(matches!(
            Journal::open(&path, b','),
            Err(JournalError::NotOurs { .. })
        ));
    }
}
