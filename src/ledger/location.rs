//! Where the ledger lives: `--ledger PATH` (or `off`), else `CAMPAIGN_SENDER_LEDGER`, else the
//! user's state directory (`$XDG_STATE_HOME/campaign-sender/ledger.sqlite3`, or
//! `~/.local/state/campaign-sender/ledger.sqlite3`). A sandbox rehearsal keeps its own ledger
//! beside its results, and a dry run touches none, so neither pollutes the real one.

use std::path::{Path, PathBuf};

/// The environment variable naming the ledger (a path, or `off`).
pub const LEDGER_ENV: &str = "CAMPAIGN_SENDER_LEDGER";

/// The ledger a run uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// No ledger: no caps across runs, no `ALREADY_SENT` across results files.
    Off,
    /// The SQLite file at this path.
    File(PathBuf),
}

/// Which ledger this run uses. `flag` is `--ledger`'s value, `results` the run's results file;
/// `env` reads the environment (injected for tests).
pub fn resolve_location(
    flag: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    sandbox: bool,
    dry_run: bool,
    results: &Path,
) -> Result<Location, String> {
    let chosen = flag
        .map(str::to_string)
        .or_else(|| env(LEDGER_ENV).filter(|v| !v.trim().is_empty()));
    if dry_run || chosen.as_deref().is_some_and(|v| v.trim() == "off") {
        return Ok(Location::Off);
    }
    if chosen.as_deref().is_some_and(|v| v.trim().is_empty()) {
        // SQLite would open a private, temporary database: a ledger that forgets.
        return Err(format!(
            "--ledger is empty: give the ledger's path, or off to run without one \
             (unset, it is {LEDGER_ENV} or the user's state directory)"
        ));
    }
    if sandbox {
        // Beside the rehearsal's results: what the sandbox "sent" reached no one.
        // SQLite adds `-journal` to the name for its own file.
        let stem = results.file_stem().unwrap_or_default();
        let mut name = crate::file_name::fitted(stem, ".ledger.sqlite3-journal".len()).into_owned();
        name.push(".ledger.sqlite3");
        return Ok(Location::File(results.with_file_name(name)));
    }
    if let Some(path) = chosen {
        return Ok(Location::File(PathBuf::from(path)));
    }
    let absolute = |name: &str| env(name).map(PathBuf::from).filter(|p| p.is_absolute());
    let state = absolute("XDG_STATE_HOME")
        .or_else(|| absolute("HOME").map(|home| home.join(".local/state")))
        .ok_or_else(|| {
            format!(
                "no state directory for the ledger (neither XDG_STATE_HOME nor HOME is set): \
                 pass --ledger PATH (or set {LEDGER_ENV}), or --ledger off to run without one"
            )
        })?;
    Ok(Location::File(state.join("campaign-sender/ledger.sqlite3")))
}

/// Where `path` leads, for a file that may not exist yet: its folder with links and `..`
/// resolved, then its name (a link there followed, even to a file not made yet).
fn resolved(path: &Path) -> Option<std::path::PathBuf> {
    let path = match std::fs::read_link(path) {
        Ok(target) => path.parent().unwrap_or(Path::new(".")).join(target),
        Err(_) => path.to_path_buf(),
    };
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(std::fs::canonicalize(folder).ok()?.join(path.file_name()?))
}

/// `location`, unless it names the campaign's results file or its CSV: SQLite would make a
/// database of it (or refuse it) and the run would then refuse the results as damaged.
pub fn own_file(location: Location, results: &Path, csv: &Path) -> Result<Location, String> {
    let Location::File(path) = &location else {
        return Ok(location);
    };
    let same = |other: &Path| {
        use std::os::unix::fs::MetadataExt as _;
        match (std::fs::metadata(path), std::fs::metadata(other)) {
            (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
            _ => resolved(path).is_some() && resolved(path) == resolved(other),
        }
    };
    for (other, what) in [(results, "the results file"), (csv, "the campaign's CSV")] {
        if same(other) {
            return Err(format!(
                "{} is {what}: the ledger is a SQLite file of its own; give --ledger another \
                 path (e.g. ledger.sqlite3), or leave it out",
                crate::fmt::path(path)
            ));
        }
    }
    Ok(location)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(
        flag: Option<&str>,
        vars: &[(&str, &str)],
        sandbox: bool,
    ) -> Result<Location, String> {
        let env = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        resolve_location(flag, &env, sandbox, false, Path::new("/c/c.results.csv"))
    }

    #[test]
    fn the_flag_wins_then_the_variable_then_the_state_directory() {
        let file = |p: &str| Ok(Location::File(PathBuf::from(p)));
        assert_eq!(
            resolve(Some("/l.db"), &[(LEDGER_ENV, "/e.db")], false),
            file("/l.db")
        );
        assert_eq!(
            resolve(None, &[(LEDGER_ENV, "/e.db")], false),
            file("/e.db")
        );
        assert_eq!(
            resolve(Some("off"), &[(LEDGER_ENV, "/e.db")], false),
            Ok(Location::Off)
        );
        assert_eq!(
            resolve(None, &[(LEDGER_ENV, "off")], false),
            Ok(Location::Off)
        );
        assert_eq!(
            resolve(None, &[("XDG_STATE_HOME", "/s"), ("HOME", "/h")], false),
            file("/s/campaign-sender/ledger.sqlite3")
        );
        assert_eq!(
            resolve(None, &[("XDG_STATE_HOME", "rel"), ("HOME", "/h")], false),
            file("/h/.local/state/campaign-sender/ledger.sqlite3")
        );
        let none = resolve(None, &[], false).unwrap_err();
        assert!(none.contains("--ledger"), "{none}");
        // An empty flag is not "unset": SQLite would keep a private ledger that forgets.
        let empty = resolve(Some(" "), &[(LEDGER_ENV, "/e.db")], false).unwrap_err();
        assert!(empty.contains("--ledger is empty"), "{empty}");
    }

    #[test]
    fn a_rehearsal_keeps_its_own_ledger_and_a_dry_run_none() {
        assert_eq!(
            resolve(None, &[(LEDGER_ENV, "/real.db")], true),
            Ok(Location::File(PathBuf::from("/c/c.results.ledger.sqlite3")))
        );
        let env = |_: &str| Some("/real.db".to_string());
        let dry = resolve_location(None, &env, false, true, Path::new("/c/r.csv"));
        assert_eq!(dry, Ok(Location::Off));
        // A long legal results name: the ledger's name (and SQLite's `-journal` beside it)
        // still fits.
        let long = PathBuf::from(format!("/c/{}.results.csv", "ç".repeat(120)));
        let Ok(Location::File(ledger)) = resolve_location(None, &env, true, false, &long) else {
            panic!("a rehearsal ledger")
        };
        let name = ledger.file_name().unwrap();
        assert!(name.len() + "-journal".len() <= 255, "{}", name.len());
        assert!(name.to_string_lossy().ends_with(".ledger.sqlite3"));
    }
}
