//! The run's exclusive lock on a results file.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::{JournalError, io_error};

/// Takes `<results>.lock` exclusively. The OS drops the lock when the process dies (kill -9
/// included), so a crashed run never blocks the next. The lock file is never deleted:
/// deleting it would let two runs lock two different files.
pub(super) fn lock(results: &Path) -> Result<File, JournalError> {
    let path = lock_path(results);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_error("create the lock file", &path))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(JournalError::Locked {
                path: results.to_path_buf(),
                holder: if holder.is_empty() {
                    "a process that has not written its id yet".to_string()
                } else {
                    holder.to_string()
                },
            });
        }
        Err(fs::TryLockError::Error(e)) => return Err(io_error("lock", &path)(e)),
    }
    let who = format!(
        "pid {} since {}",
        std::process::id(),
        jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap_or_else(|_| jiff::Timestamp::now())
    );
    file.set_len(0)
        .and_then(|()| file.write_all(who.as_bytes()))
        .and_then(|()| file.sync_data())
        .map_err(io_error("write the lock file", &path))?;
    Ok(file)
}

/// Where the lock for a results file lives.
pub fn lock_path(results: &Path) -> PathBuf {
    let mut name = results.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    results.with_file_name(name)
}
