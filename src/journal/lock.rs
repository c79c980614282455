//! The run's exclusive lock on a results file, and the check that it still holds.
//!
//! The lock is `<real results file>.lock`, taken after resolving symlinks, so every path
//! that reaches the same file takes the same lock. It is an OS lock on an open file: if
//! someone deletes or replaces the sidecar while a run holds it (a "stale lock" cleanup),
//! a second run could lock a new file and run beside the first. [`Lock::check`] notices
//! that before each send, and the run stops.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::{JournalError, io_error};

/// The lock a run holds, and which file it is.
#[derive(Debug)]
pub struct Lock {
    _file: File,
    path: PathBuf,
    /// Device and inode of the locked file.
    identity: (u64, u64),
}

impl Lock {
    /// Whether the lock file at its path is still the one this run locked; if it was
    /// deleted or replaced, another run could take the lock, so no more sends.
    pub fn check(&self) -> Result<(), JournalError> {
        match fs::metadata(&self.path) {
            Ok(meta) if (meta.dev(), meta.ino()) == self.identity => Ok(()),
            Ok(_) => Err(JournalError::LockLost {
                path: self.path.clone(),
                what: "replaced by another file",
            }),
            Err(_) => Err(JournalError::LockLost {
                path: self.path.clone(),
                what: "deleted",
            }),
        }
    }
}

/// Takes the lock of the (already resolved) results file exclusively. The OS drops the
/// lock when the process dies (kill -9 included), so a crashed run never blocks the next.
/// The lock file is never deleted: deleting it would let two runs lock two different files.
pub(super) fn lock(results: &Path) -> Result<Lock, JournalError> {
    let path = sidecar(results);
    // Never through a symbolic link: the id written below would overwrite its target.
    let mut file = match OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
    {
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(not_ours(path, "a symbolic link"));
        }
        opened => opened.map_err(io_error("create the lock file", &path))?,
    };
    let meta = file.metadata().map_err(io_error("lock", &path))?;
    if !meta.is_file() {
        return Err(not_ours(path, "not a regular file"));
    }
    // A second name of another file (the results themselves, say): the same overwrite.
    if meta.nlink() > 1 {
        return Err(not_ours(path, "a hard link to another file"));
    }
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
    let lock = Lock {
        _file: file,
        path,
        identity: (meta.dev(), meta.ino()),
    };
    // Deleted or replaced between opening and locking: another run may hold the new one.
    lock.check()?;
    let who = format!(
        "pid {} since {}",
        std::process::id(),
        jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap_or_else(|_| jiff::Timestamp::now())
    );
    let mut file = &lock._file;
    file.set_len(0)
        .and_then(|()| file.write_all(who.as_bytes()))
        .and_then(|()| file.sync_data())
        .map_err(io_error("write the lock file", &lock.path))?;
    Ok(lock)
}

fn not_ours(path: PathBuf, what: &'static str) -> JournalError {
    JournalError::LockNotOurs { path, what }
}

/// Where the lock for a results file lives: beside the real file, whatever path (or
/// symlink) names it.
pub fn lock_path(results: &Path) -> PathBuf {
    sidecar(&resolve(results).unwrap_or_else(|_| results.to_path_buf()))
}

fn sidecar(real: &Path) -> PathBuf {
    let own = real.file_name().unwrap_or_default();
    let mut name = crate::file_name::fitted(own, ".lock".len()).into_owned();
    name.push(".lock");
    real.with_file_name(name)
}

/// The real file a results path names: symlinks resolved, so every path that reaches the
/// file takes the same lock and compaction replaces the file, not the link.
pub(super) fn resolve(path: &Path) -> io::Result<PathBuf> {
    let mut path = path.to_path_buf();
    for _ in 0..40 {
        match fs::canonicalize(&path) {
            Ok(real) => return Ok(real),
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            Err(_) => {}
        }
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        match fs::read_link(&path) {
            // A link to a file not created yet.
            Ok(target) => path = parent.join(target),
            Err(_) => {
                let name = path.file_name().unwrap_or_default().to_os_string();
                return Ok(fs::canonicalize(parent)?.join(name));
            }
        }
    }
    Err(io::Error::other("too many levels of symbolic links"))
}
