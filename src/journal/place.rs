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
//!   Mac do), or a delete: the handle keeps writing to a file no name reaches. The path is
//!   looked at as the user gave it, through whatever symlinks it holds now (a symlink the
//!   save replaced, a symlinked directory swapped for another): a rerun reads what that
//!   path leads to, not the file the run resolved at its start. Noticed before each send
//!   ([`check`]); the run stops, and its own file, every line in it, is put back where the
//!   path leads with the other file kept beside it ([`install`]). When it cannot be put
//!   back, its lines are saved elsewhere ([`rescue`]) and every later run on the path is
//!   refused until someone puts them back ([`unsaved`]).

use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{FileExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use super::JournalError;
use crate::file_name::{fitted, fnv};

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

/// Whether `path`, as the user gave it (symlinks followed as they are now), still leads to
/// the run's file (`ours`), and by that one name: before a send, so that no request leaves
/// whose outcome would go to a file the next run does not read.
pub(super) fn check(path: &Path, ours: Identity) -> Result<(), JournalError> {
    match fs::metadata(path) {
        Ok(meta) if Identity::from(&meta) == ours => one_name(path, &meta),
        Ok(_) => Err(Lost::Replaced.error(path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Lost::Gone.error(path)),
        Err(e) => Err(super::io_error("check", path)(e)),
    }
}

/// How the path lost the run's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lost {
    /// It leads to another file: a save over it (or over a symlink in it).
    Replaced,
    /// It leads to no file: deleted or renamed away.
    Gone,
}

impl Lost {
    /// [`JournalError::Replaced`] for `path`.
    fn error(self, path: &Path) -> JournalError {
        JournalError::Replaced {
            path: path.to_path_buf(),
            what: match self {
                Lost::Replaced => "replaced by another file (or made to lead to one)",
                Lost::Gone => "deleted or renamed away",
            },
        }
    }
}

/// What [`install`] found where the path leads: another file (kept as `aside`), or none.
#[derive(Debug)]
pub(super) struct Replacement {
    aside: Option<PathBuf>,
    /// Where the run's file was put back.
    at: PathBuf,
    /// Where the run's file was before.
    was: PathBuf,
}

impl Replacement {
    /// How the path had lost the run's file.
    fn lost(&self) -> Lost {
        match self.aside {
            Some(_) => Lost::Replaced,
            None => Lost::Gone,
        }
    }

    /// Says what was done (before the run's error, which refers to it) and returns that
    /// error. `named` is the path as given.
    pub(super) fn report(&self, named: &Path) -> JournalError {
        let named_shown = crate::fmt::path(&named);
        let was = &self.was;
        let put = if self.at == *was {
            format!("was put back at {}", crate::fmt::path(&self.at))
        } else {
            format!(
                "was copied to {}, where the path leads now ({} still holds the lines it had \
                 when the path stopped leading to it)",
                crate::fmt::path(&self.at),
                crate::fmt::path(&was)
            )
        };
        match &self.aside {
            Some(aside) => tracing::error!(
                "{named_shown} was replaced by another file during the run (a save over it, or \
                 over a symlink on the way to it): this run's own file, with every line it \
                 wrote, {put}, and the file that replaced it is kept as {}. Copy into the \
                 results anything you changed there, then delete it; rerun the same command: \
                 it continues where this run stopped",
                crate::fmt::path(&aside)
            ),
            None => tracing::error!(
                "{named_shown} was deleted or renamed away during the run: this run's own \
                 file, with every line it wrote, {put}; nothing else was kept; rerun the same \
                 command: it continues where this run stopped"
            ),
        }
        self.lost().error(named)
    }
}

/// Renames `temp` (the run's file, fsynced) over `path`, then fsyncs the directory. If
/// `path` no longer names the run's file (`ours`), the file there is first given a name of
/// its own beside it (`<name>.saved-<time>.<ext>`), so that nothing of it is lost. `was`:
/// where the run's file was until now.
pub(super) fn install(
    temp: &Path,
    path: &Path,
    ours: Identity,
    was: &Path,
) -> io::Result<Option<Replacement>> {
    let replacement = match fs::metadata(path) {
        Ok(meta) if Identity::from(&meta) == ours => None,
        Ok(_) => Some(Some(keep_aside(path)?)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Some(None),
        Err(e) => return Err(e),
    };
    fs::rename(temp, path)?;
    sync_directory(path)?;
    Ok(replacement.map(|aside| Replacement {
        aside,
        at: path.to_path_buf(),
        was: was.to_path_buf(),
    }))
}

/// The time in the names of the copies the tool keeps (`20261201T192735Z`), fixed in length.
const STAMP: &str = "%Y%m%dT%H%M%SZ";
const STAMP_LEN: usize = 16;

/// The name a run's lines take when they cannot be put back at `path` (the real file the
/// results path leads to): `<name>.unsaved-<time>.csv` beside it, or in the temporary
/// directory `<name>.<hash of the path>.unsaved-<time>.csv` (several campaigns may share a
/// results file name). [`unsaved`] looks for both.
fn rescue_names(path: &Path) -> [(PathBuf, String); 2] {
    let name = path.file_name().unwrap_or_default();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let hash = fnv(path.as_os_str().as_encoded_bytes());
    let tail = ".unsaved-".len() + STAMP_LEN + ".csv".len();
    let beside = fitted(name, tail).to_string_lossy().into_owned();
    let elsewhere = fitted(name, 17 + tail).to_string_lossy().into_owned();
    [
        (dir, format!("{beside}.unsaved-")),
        (
            std::env::temp_dir(),
            format!("{elsewhere}.{hash:016x}.unsaved-"),
        ),
    ]
}

/// Saves every line of the run's file (read through its handle) under a new name where
/// that works, beside `path` or else in the temporary directory ([`rescue_names`]); returns
/// the name, or every place's error.
pub(super) fn rescue(file: &File, path: &Path) -> Result<PathBuf, String> {
    let time = jiff::Timestamp::now().strftime(STAMP);
    let mut failures = Vec::new();
    for (dir, prefix) in rescue_names(path) {
        let to = dir.join(format!("{prefix}{time}.csv"));
        match copy_out(file, &to).and_then(|()| sync_directory(&to)) {
            Ok(()) => return Ok(to),
            Err(e) => {
                let _ = fs::remove_file(&to);
                failures.push(format!("{}: {e}", crate::fmt::path(&to)));
            }
        }
    }
    Err(failures.join("; "))
}

/// A run's lines saved by [`rescue`] for the real file `path`, still waiting to be put back:
/// while one exists, the file at `path` lacks sends it recorded, and a run would resend them.
pub(super) fn unsaved(path: &Path) -> Option<PathBuf> {
    rescue_names(path).into_iter().find_map(|(dir, prefix)| {
        fs::read_dir(&dir).ok()?.find_map(|entry| {
            let name = entry.ok()?.file_name();
            let name = name.to_str()?;
            (name.starts_with(&prefix) && name.ends_with(".csv")).then(|| dir.join(name))
        })
    })
}

/// Gives the file at `path` a second name, `<stem>.saved-<time>.<ext>` beside it (a
/// counter added if taken); the rename that follows leaves it that name only. Where the
/// file system has no hard links (some network shares and FUSE mounts), the name gets a
/// byte copy instead, fsynced and read back.
pub(super) fn keep_aside(path: &Path) -> io::Result<PathBuf> {
    keep_aside_by(path, |from, to| fs::hard_link(from, to))
}

/// [`keep_aside`] with the way a second name is made (`link`) given, so the copy it falls
/// back on can be tried where hard links work.
fn keep_aside_by(
    path: &Path,
    link: impl Fn(&Path, &Path) -> io::Result<()>,
) -> io::Result<PathBuf> {
    let extension = path
        .extension()
        .map_or("csv".into(), |e| e.to_string_lossy());
    // Room for the longest ending below: `.saved-<time>-99.<extension>`.
    let tail = ".saved-".len() + STAMP_LEN + "-99.".len() + extension.len();
    let stem = fitted(path.file_stem().unwrap_or_default(), tail);
    let stem = stem.to_string_lossy();
    let time = jiff::Timestamp::now().strftime(STAMP).to_string();
    for n in 1..100 {
        let count = if n == 1 {
            String::new()
        } else {
            format!("-{n}")
        };
        let aside = path.with_file_name(format!("{stem}.saved-{time}{count}.{extension}"));
        let made = link(path, &aside).or_else(|linking| {
            if linking.kind() == io::ErrorKind::AlreadyExists {
                return Err(linking);
            }
            copy_new(path, &aside)
        });
        match made {
            Ok(()) => return Ok(aside),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(
        "no free name to keep the replacing file under",
    ))
}

/// Copies the file at `from` to a new file `to`, which must not exist yet: the name is
/// claimed first, so a file someone made meanwhile is not overwritten. A copy that fails
/// part-way is removed.
fn copy_new(from: &Path, to: &Path) -> io::Result<()> {
    let source = File::open(from)?;
    (OpenOptions::new().write(true).create_new(true).mode(0o600)).open(to)?;
    copy_out(&source, to).inspect_err(|_| {
        let _ = fs::remove_file(to);
    })
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

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::ffi::OsStr;

    use super::*;
    use crate::file_name::NAME_MAX;

    fn unsupported(_: &Path, _: &Path) -> io::Result<()> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }

    #[test]
    fn names_made_from_a_long_name_fit_and_stay_apart() {
        let short = OsStr::new("c.results.csv");
        assert!(matches!(fitted(short, 12), Cow::Borrowed(n) if n == short));
        // 248 bytes, a legal name: `.<it>.compacting` would be 260.
        let long = |last: char| format!("{}x{last}.results.csv", "ç".repeat(117));
        let (a, b) = (long('a'), long('b'));
        assert_eq!(a.len(), 248);
        let (fa, fb) = (fitted(OsStr::new(&a), 12), fitted(OsStr::new(&b), 12));
        assert!(fa.len() + 12 <= NAME_MAX && fb.len() + 12 <= NAME_MAX);
        assert_ne!(fa, fb, "two names sharing their start stay apart");
        assert_eq!(fa, fitted(OsStr::new(&a), 12), "the same name every time");
        assert!(fa.to_str().is_some(), "cut at a character's edge");
        // A copy kept aside and the rescue's names fit too.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(&a);
        fs::write(&path, "row,status\n").unwrap();
        let aside = keep_aside(&path).unwrap();
        assert!(aside.file_name().unwrap().len() <= NAME_MAX);
        for (_, prefix) in rescue_names(&path) {
            assert!(
                prefix.len() + STAMP_LEN + ".csv".len() <= NAME_MAX,
                "{prefix}"
            );
        }
    }

    #[test]
    fn where_hard_links_fail_the_file_is_kept_as_a_copy_with_its_bytes_and_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.results.csv");
        fs::write(&path, "row,status\n1,QUEUED\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();

        let first = keep_aside_by(&path, unsupported).unwrap();
        let second = keep_aside_by(&path, unsupported).unwrap();

        assert_ne!(first, second, "a taken name is never written over");
        for aside in [&first, &second] {
            let name = aside.file_name().unwrap().to_string_lossy();
            assert!(name.starts_with("c.results.saved-"), "{name}");
            assert_eq!(fs::read(aside).unwrap(), b"row,status\n1,QUEUED\n");
            let meta = fs::metadata(aside).unwrap();
            assert_eq!(meta.mode() & 0o777, 0o640);
            assert_ne!(
                meta.ino(),
                fs::metadata(&path).unwrap().ino(),
                "a copy, not a link"
            );
        }
        assert_eq!(fs::read(&path).unwrap(), b"row,status\n1,QUEUED\n");
    }

    #[test]
    fn a_copy_that_cannot_be_made_is_an_error_not_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gone.csv");
        let error = keep_aside_by(&path, unsupported).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no empty copy left"
        );
    }
}
