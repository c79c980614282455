//! Whether the results path still names the file the run writes, and what happens when it
//! does not.
//!
//! The run appends through an open handle, and compaction replaces the file by renaming a
//! new one over its path. Two things break the link between the two:
//!
//! - A second name (a hard link): each name takes its own lock (the sidecar goes by name),
//!   and the first compaction gives the names two different files. Refused up front
//!   ([`single_name`]) rather than locked by inode: a lock cannot stop the split, after
//!   which a run through the other name resends what this one sent.
//! - A spreadsheet's Save (a new file renamed over the path, as LibreOffice and Excel for
//!   Mac do), or a delete: the handle keeps writing to a file no name reaches. Noticed
//!   before each send ([`check`]); the run stops, and its own file, every line in it, is
//!   put back at the path with the other file kept beside it ([`install`]).

use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{FileExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use super::JournalError;

/// Which file a handle or path reaches: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Identity {
    device: u64,
    inode: u64,
}

impl Identity {
    fn from(meta: &Metadata) -> Identity {
        Identity {
            device: meta.dev(),
            inode: meta.ino(),
        }
    }

    /// The file an open handle writes to, whatever its path names now.
    pub(super) fn of(file: &File) -> io::Result<Identity> {
        Ok(Identity::from(&file.metadata()?))
    }
}

/// Refuses a results file reached by more than one name before anything reads or changes
/// it (see the module docs for why a lock cannot make that safe).
pub(super) fn single_name(path: &Path, file: &File) -> Result<(), JournalError> {
    let meta = file.metadata().map_err(super::io_error("open", path))?;
    one_name(path, &meta)
}

fn one_name(path: &Path, meta: &Metadata) -> Result<(), JournalError> {
    match meta.nlink() {
        0 | 1 => Ok(()),
        names => Err(JournalError::HardLinked {
            path: path.to_path_buf(),
            names,
        }),
    }
}

/// Whether `path` still names the run's file (`ours`), and by that one name: before a
/// send, so that no request leaves whose outcome would go to a file nobody reads.
pub(super) fn check(path: &Path, ours: Identity) -> Result<(), JournalError> {
    let replaced = |what| JournalError::Replaced {
        path: path.to_path_buf(),
        what,
    };
    match fs::metadata(path) {
        Ok(meta) if Identity::from(&meta) != ours => Err(replaced("replaced by another file")),
        Ok(meta) => one_name(path, &meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(replaced("deleted")),
        Err(e) => Err(super::io_error("check", path)(e)),
    }
}

/// What [`install`] found at the path: the run's file had been replaced (the other file
/// is kept as `aside`) or deleted (`aside` is `None`).
#[derive(Debug)]
pub(super) struct Replacement {
    pub(super) aside: Option<PathBuf>,
}

impl Replacement {
    /// How the path lost the run's file, for [`JournalError::Replaced`].
    pub(super) fn what(&self) -> &'static str {
        match self.aside {
            Some(_) => "replaced by another file",
            None => "deleted",
        }
    }

    /// Says what was done, before the run's error (which refers to it).
    pub(super) fn log(&self, path: &Path) {
        match &self.aside {
            Some(aside) => tracing::error!(
                "{} was replaced by another file during the run: this run's own file, with \
                 every line it wrote, was put back in its place, and the file that replaced \
                 it is kept as {}. Copy into the results anything you changed there, then \
                 delete it",
                path.display(),
                aside.display()
            ),
            None => tracing::error!(
                "{} was deleted during the run: this run's own file, with every line it \
                 wrote, was put back in its place",
                path.display()
            ),
        }
    }
}

/// Renames `temp` (the run's file, fsynced) over `path`, then fsyncs the directory. If
/// `path` no longer names the run's file (`ours`), the file there is first given a name of
/// its own beside it (`<name>.saved-<time>.<ext>`), so that nothing of it is lost.
pub(super) fn install(temp: &Path, path: &Path, ours: Identity) -> io::Result<Option<Replacement>> {
    let replacement = match fs::metadata(path) {
        Ok(meta) if Identity::from(&meta) == ours => None,
        Ok(_) => Some(Replacement {
            aside: Some(link_aside(path)?),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Some(Replacement { aside: None }),
        Err(e) => return Err(e),
    };
    fs::rename(temp, path)?;
    sync_directory(path)?;
    Ok(replacement)
}

/// Gives the file at `path` a second name, `<stem>.saved-<time>.<ext>` beside it (a
/// counter added if taken); the rename that follows leaves it that name only.
fn link_aside(path: &Path) -> io::Result<PathBuf> {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let extension = path
        .extension()
        .map_or("csv".into(), |e| e.to_string_lossy());
    let time = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    for n in 1..100 {
        let count = if n == 1 {
            String::new()
        } else {
            format!("-{n}")
        };
        let aside = path.with_file_name(format!("{stem}.saved-{time}{count}.{extension}"));
        match fs::hard_link(path, &aside) {
            Ok(()) => return Ok(aside),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(
        "no free name to keep the replacing file under",
    ))
}

/// Creates (or empties) `temp` for a new version of the file `like` is open on, with its
/// permission bits and, where allowed, its owner and group: a results file holds phone
/// numbers, and one the user restricted stays restricted. Readable by its owner only until
/// then.
pub(super) fn create_like(temp: &Path, like: &File) -> io::Result<File> {
    let original = like.metadata()?;
    let out = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(temp)?;
    let made = out.metadata()?;
    if (made.uid(), made.gid()) != (original.uid(), original.gid()) {
        // Only root may give a file away; anyone else keeps the file as theirs.
        let _ = std::os::unix::fs::fchown(&out, Some(original.uid()), Some(original.gid()));
    }
    out.set_permissions(fs::Permissions::from_mode(original.mode() & 0o7777))?;
    Ok(out)
}

/// Copies every byte of the run's file, read through its handle (its path may name another
/// file), to `temp`, fsyncs it and reads it back.
pub(super) fn copy_out(file: &File, temp: &Path) -> io::Result<()> {
    let mut out = create_like(temp, file)?;
    let mut buffer = vec![0; 1 << 20];
    let mut at = 0;
    loop {
        let read = read_full_at(file, &mut buffer, at)?;
        out.write_all(&buffer[..read])?;
        at += read as u64;
        if read < buffer.len() {
            break;
        }
    }
    out.sync_all()?;
    let copy = File::open(temp)?;
    let mut back = vec![0; buffer.len()];
    let mut at = 0;
    loop {
        let read = read_full_at(file, &mut buffer, at)?;
        if read_full_at(&copy, &mut back, at)? != read || back[..read] != buffer[..read] {
            return Err(io::Error::other(
                "the copy of this run's file did not read back as written",
            ));
        }
        at += read as u64;
        if read < buffer.len() {
            return Ok(());
        }
    }
}

/// Reads from `at` until `buffer` is full or the file ends; returns how much it read.
fn read_full_at(file: &File, buffer: &mut [u8], at: u64) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read_at(&mut buffer[filled..], at + filled as u64)? {
            0 => break,
            read => filled += read,
        }
    }
    Ok(filled)
}

/// Makes a rename or a new name in `path`'s directory durable (the directory's own fsync).
pub(super) fn sync_directory(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}
