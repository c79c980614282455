//! The one check every file the user names goes through before it is opened: it must be a
//! plain file (a symbolic link to one is that file). Opening a named pipe for reading waits
//! until something writes to it, and no signal ends that wait; a device may never end or
//! wait on its hardware; a folder or a socket cannot be read as a file. Each is refused by
//! what the path leads to, before anything opens it, naming the file, what it is instead and
//! what to give.

use std::path::{Path, PathBuf};

/// A path the user gave for a file that leads to something else: a set-up mistake (exit 2,
/// nothing sent).
#[derive(Debug, thiserror::Error)]
#[error(
    "{path} is not a file but {what}{why}: {fix}",
    path = crate::fmt::path(path),
    what = kind.name(),
    why = kind.why()
)]
pub struct NotAFile {
    pub path: PathBuf,
    pub kind: Kind,
    /// What to give instead, as the caller knows the file (`save the list to a file...`).
    pub fix: &'static str,
}

/// What a path leads to instead of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Folder,
    Pipe,
    Device,
    Socket,
}

impl Kind {
    /// As a message names it: `a pipe`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Folder => "a folder",
            Kind::Pipe => "a pipe",
            Kind::Device => "a device",
            Kind::Socket => "a socket",
        }
    }

    /// Why it cannot stand for a file, when that is not plain from its name.
    fn why(self) -> &'static str {
        match self {
            Kind::Folder => "",
            Kind::Pipe => " (opening it would wait for a writer, maybe forever)",
            Kind::Device => " (reading it could wait on the device, or never end)",
            Kind::Socket => " (it cannot be opened as a file)",
        }
    }
}

/// Refuses `path` unless it leads to a plain file, judged by its metadata alone: nothing is
/// opened. A path that leads nowhere (or cannot be looked at) passes, so that opening it
/// (or creating it) says what is wrong as before. `fix` says what to give instead.
pub fn check(path: &Path, fix: &'static str) -> Result<(), NotAFile> {
    use std::os::unix::fs::FileTypeExt as _;
    let Ok(kind) = std::fs::metadata(path).map(|m| m.file_type()) else {
        return Ok(());
    };
    let kind = match kind {
        kind if kind.is_file() => return Ok(()),
        kind if kind.is_dir() => Kind::Folder,
        kind if kind.is_fifo() => Kind::Pipe,
        kind if kind.is_socket() => Kind::Socket,
        _ => Kind::Device,
    };
    Err(NotAFile {
        path: path.to_owned(),
        kind,
        fix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIX: &str = "save it to a file and give that";

    #[test]
    fn a_plain_file_a_link_to_one_and_a_missing_path_pass() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.csv");
        std::fs::write(&file, "x\n").unwrap();
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        for path in [&file, &link, &dir.path().join("missing.csv")] {
            assert!(check(path, FIX).is_ok(), "{}", path.display());
        }
    }

    #[test]
    fn a_folder_a_device_and_a_link_to_a_folder_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("to-dir\nERROR forged");
        std::os::unix::fs::symlink(dir.path(), &link).unwrap();
        let folder = check(&link, FIX).unwrap_err().to_string();
        assert!(folder.contains("to-dir\\nERROR forged"), "{folder}");
        assert!(
            folder.contains("not a file but a folder: save it"),
            "{folder}"
        );
        let device = check(Path::new("/dev/null"), FIX).unwrap_err().to_string();
        assert!(
            device.starts_with("/dev/null is not a file but a device"),
            "{device}"
        );
        assert!(device.ends_with(FIX), "{device}");
    }
}
