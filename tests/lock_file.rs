//! The lock file is the tool's own: one that is a symbolic link, or a second name of
//! another file, is refused before anything is written through it (writing the run's id
//! into it would overwrite what it leads to, such as the results themselves).

mod common;

use std::fs;
use std::path::Path;

use common::*;

/// A finished campaign of 3 rows with 2 rows added since; `meddle` turns its lock file
/// into something that is not the tool's. The rerun must be refused (exit 2) with `what`
/// named, send nothing, and leave the results byte for byte.
fn refused_with_lock(meddle: impl Fn(&Path, &Path), what: &str) {
    let rig = Rig::new();
    let (csv, results) = rig.finished(3);
    fs::write(&csv, campaign_csv(5)).unwrap();
    let lock = results.with_file_name("c.results.csv.lock");
    fs::remove_file(&lock).unwrap();
    meddle(&results, &lock);
    let before = fs::read(&results).unwrap();
    let output = rig.run(rig.command(&csv).args(["--template", "t"]));
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(text(&output).contains(what), "{}", text(&output));
    assert!(!text(&output).contains("--results"), "{}", text(&output));
    assert_eq!(fs::read(&results).unwrap(), before, "results changed");
    assert_eq!(rig.log().len(), 3, "a row was sent");
}

#[test]
fn a_lock_file_that_is_a_symbolic_link_is_not_written_through() {
    let link = |results: &Path, lock: &Path| std::os::unix::fs::symlink(results, lock).unwrap();
    refused_with_lock(link, "symbolic link");
}

#[test]
fn a_lock_file_that_is_another_files_second_name_is_not_written_through() {
    let notes = std::env::temp_dir().join(format!("lock-notes-{}.txt", std::process::id()));
    fs::write(&notes, "someone's notes").unwrap();
    refused_with_lock(|_, lock| fs::hard_link(&notes, lock).unwrap(), "hard link");
    assert_eq!(fs::read_to_string(&notes).unwrap(), "someone's notes");
    fs::remove_file(&notes).unwrap();
}
