//! The results file stays one file under one name: a second name (a hard link) is refused
//! up front, a spreadsheet's save (or a delete) during a run stops the run with every line
//! it wrote put back and the saved version kept beside it, and compaction keeps the
//! file's permissions.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use common::*;

const T: [&str; 2] = ["--template", "t"];

/// What happens to the results path while the run's first request is held.
#[derive(Clone, Copy, Debug)]
enum Meddling {
    /// A spreadsheet's save: a new file (CRLF, as Excel writes) renamed over the path.
    Save,
    /// The file deleted.
    Delete,
    /// A second name given to the file (`ln`).
    Link,
}

/// Runs a campaign through `gate` (closed), whose first answer is held until the results
/// file was meddled with; returns the run's output and what the meddling left at the path.
fn meddled_run(
    rig: &Rig,
    gate: &Gate,
    csv: &Path,
    meddling: Meddling,
) -> (std::process::Output, Vec<u8>) {
    let child = rig
        .command_to(csv, &gate.base_url())
        .args(T)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    rig.wait_for_requests(1);
    let results = rig.dir.path().join("c.results.csv");
    let saved = match meddling {
        Meddling::Save => {
            let saved = fs::read_to_string(&results).unwrap().replace('\n', "\r\n");
            let temp = rig.dir.path().join("c.results.csv.~saving");
            fs::write(&temp, &saved).unwrap();
            fs::rename(&temp, &results).unwrap();
            saved.into_bytes()
        }
        Meddling::Delete => {
            fs::remove_file(&results).unwrap();
            Vec::new()
        }
        Meddling::Link => {
            fs::hard_link(&results, rig.dir.path().join("h.csv")).unwrap();
            Vec::new()
        }
    };
    // Longer than the run trusts an intact path (a millisecond): the next send looks.
    std::thread::sleep(std::time::Duration::from_millis(5));
    gate.open();
    (child.wait_with_output().unwrap(), saved)
}

/// The files beside the results that hold a version saved during a run.
fn kept_aside(rig: &Rig) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(rig.dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("c.results.saved-") && name.ends_with(".csv")
        })
        .collect();
    found.sort();
    found
}

#[test]
fn a_spreadsheet_save_during_a_run_stops_it_and_keeps_every_line_and_the_saved_version() {
    for (meddling, rows) in [
        (Meddling::Save, 6),
        (Meddling::Delete, 6),
        // The last send: no intent follows, so the end of the run must notice.
        (Meddling::Save, 1),
    ] {
        let rig = Rig::new();
        let csv = rig.file("c.csv", &campaign_csv(rows));
        let gate = rig.gate();
        let (output, saved) = meddled_run(&rig, &gate, &csv, meddling);
        let message = text(&output);
        assert_eq!(code(&output), 3, "{meddling:?}: {message}");
        assert!(
            message.contains("put back") && message.contains("rerun the same command"),
            "{meddling:?}: {message}"
        );
        assert!(!message.contains("Free disk space"), "{message}");
        assert_eq!(rig.sent().len(), 1, "{meddling:?}: no send after the save");
        // The run's own file is back at the path, with the outcome written after the save.
        let results = rig.dir.path().join("c.results.csv");
        let back = common::results(&results);
        assert_eq!(back[0]["status"], "QUEUED", "{meddling:?}: {back:?}");
        assert!(!back[0]["messageId"].is_empty(), "{back:?}");
        let aside = kept_aside(&rig);
        match meddling {
            Meddling::Save => {
                assert_eq!(aside.len(), 1, "{aside:?}");
                assert_eq!(
                    fs::read(&aside[0]).unwrap(),
                    saved,
                    "the saved version kept"
                );
                assert!(message.contains(&*aside[0].to_string_lossy()), "{message}");
            }
            Meddling::Delete | Meddling::Link => assert!(aside.is_empty(), "{aside:?}"),
        }
        let rerun = rig.run(rig.command_to(&csv, &gate.base_url()).args(T));
        assert_eq!(code(&rerun), 0, "{meddling:?}: {}", text(&rerun));
        rig.assert_each_accepted_once(rows);
    }
}

/// A campaign of `rows` rows sent to the end: its CSV and its (compacted) results.
fn sent(rig: &Rig, rows: usize) -> (PathBuf, PathBuf) {
    let csv = rig.file("c.csv", &campaign_csv(rows));
    let first = rig.run(rig.command(&csv).args(T));
    assert_eq!(code(&first), 0, "{}", text(&first));
    (csv, rig.dir.path().join("c.results.csv"))
}

#[test]
fn a_results_file_with_a_second_name_is_refused_untouched_through_either_name() {
    let rig = Rig::new();
    let (csv, results) = sent(&rig, 2);
    fs::write(&csv, campaign_csv(4)).unwrap();
    let other = rig.dir.path().join("h.csv");
    fs::hard_link(&results, &other).unwrap();
    let before = fs::read(&results).unwrap();
    for name in [&results, &other] {
        let output = rig.run(rig.command(&csv).args(T).arg("--results").arg(name));
        let message = text(&output);
        assert_eq!(code(&output), 2, "{message}");
        assert!(
            message.contains("hard link") && message.contains("symbolic link"),
            "{message}"
        );
        assert_eq!(rig.sent().len(), 2, "nothing sent: {message}");
        assert_eq!(fs::read(&results).unwrap(), before, "untouched");
    }
    fs::remove_file(&other).unwrap();
    let output = rig.run(rig.command(&csv).args(T));
    assert_eq!(code(&output), 0, "{}", text(&output));
    rig.assert_each_accepted_once(4);
}

#[test]
fn a_second_name_given_during_a_run_stops_it_before_the_next_send() {
    let rig = Rig::new();
    let gate = rig.gate();
    let csv = rig.file("c.csv", &campaign_csv(4));
    let (output, _) = meddled_run(&rig, &gate, &csv, Meddling::Link);
    let message = text(&output);
    assert_eq!(code(&output), 3, "{message}");
    assert!(message.contains("hard link"), "{message}");
    assert_eq!(rig.sent().len(), 1, "no send after the link: {message}");
    assert!(kept_aside(&rig).is_empty());
    fs::remove_file(rig.dir.path().join("h.csv")).unwrap();
    let rerun = rig.run(rig.command_to(&csv, &gate.base_url()).args(T));
    assert_eq!(code(&rerun), 0, "{}", text(&rerun));
    rig.assert_each_accepted_once(4);
}

#[test]
fn compaction_keeps_the_results_file_permissions() {
    let rig = Rig::new();
    let (csv, results) = sent(&rig, 1);
    for (mode, rows) in [(0o600, 2), (0o640, 3)] {
        fs::set_permissions(&results, fs::Permissions::from_mode(mode)).unwrap();
        fs::write(&csv, campaign_csv(rows)).unwrap();
        let before = inode(&results);
        let output = rig.run(rig.command(&csv).args(T));
        assert_eq!(code(&output), 0, "{}", text(&output));
        assert_ne!(before, inode(&results), "the file was rewritten");
        let kept = fs::metadata(&results).unwrap().permissions().mode() & 0o7777;
        assert_eq!(kept, mode, "{kept:o}");
    }
    rig.assert_each_accepted_once(3);
}

fn inode(path: &Path) -> u64 {
    std::os::unix::fs::MetadataExt::ino(&fs::metadata(path).unwrap())
}
