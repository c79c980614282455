//! The results path is watched as the user gave it: a save over a symlinked results file,
//! or a symlinked directory swapped for another, stops the run with its lines at the path
//! the rerun reads; two names of one file take one lock; a file that cannot be put back has
//! its lines saved elsewhere, said truthfully, and the rerun is refused until they are back.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};

use common::*;

const T: [&str; 2] = ["--template", "t"];

/// Starts a campaign through `gate` (closed) with `--results results` (and no ledger: a
/// round may send rows again to a new file); returns once its first request is held.
fn held_run(rig: &Rig, gate: &Gate, csv: &Path, results: &Path) -> Child {
    let seen = rig.log().len();
    let child = rig
        .command_to(csv, &gate.base_url())
        .args(T)
        .args(["--ledger", "off"])
        .arg("--results")
        .arg(results)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    rig.wait_for_requests(seen + 1);
    child
}

/// Lets the held run go on after the path was meddled with, and waits for it.
fn release(gate: &Gate, child: Child) -> Output {
    // Longer than the run trusts an intact path (a millisecond): the next send looks.
    std::thread::sleep(std::time::Duration::from_millis(5));
    gate.open();
    child.wait_with_output().unwrap()
}

/// A spreadsheet's save through `path`: a copy of what it reads written beside it and
/// renamed over the name (a symlink there is replaced, not followed). Returns the copy.
fn save_over(path: &Path) -> Vec<u8> {
    let saved = fs::read(path).unwrap();
    let temp = path.with_extension("~saving");
    fs::write(&temp, &saved).unwrap();
    fs::rename(&temp, path).unwrap();
    saved
}

/// Files in `dir` whose name starts with `prefix`.
fn named_like(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    found.sort();
    found
}

/// After a run stopped by a change to its path: it sent nothing more, its first row's
/// acceptance is in the file at `results` (what the rerun reads), the other file is kept
/// as the one `saved-` file in `dir`, and the rerun through `results` sends each row once.
fn assert_put_back(rig: &Rig, gate: &Gate, csv: &Path, results: &Path, run: (Output, Vec<u8>)) {
    let (output, saved) = run;
    let message = text(&output);
    assert_eq!(code(&output), 3, "{message}");
    assert_eq!(rig.sent().len(), 1, "no send after the change: {message}");
    let back = common::results(results);
    assert_eq!(back[0]["status"], "QUEUED", "{back:?}\n{message}");
    let stem = results.file_stem().unwrap().to_string_lossy();
    let dir = fs::canonicalize(results.parent().unwrap()).unwrap();
    let aside = named_like(&dir, &format!("{stem}.saved-"));
    assert_eq!(aside.len(), 1, "{aside:?}\n{message}");
    assert_eq!(fs::read(&aside[0]).unwrap(), saved, "the other file kept");
    assert!(
        message.contains("replaced by another file") && message.contains("rerun the same command"),
        "{message}"
    );
    rerun_finishes(rig, gate, csv, results);
}

/// The rerun through `results` sends the rest of the 4 rows: each row accepted once in all.
fn rerun_finishes(rig: &Rig, gate: &Gate, csv: &Path, results: &Path) {
    let rerun = rig.run(
        rig.command_to(csv, &gate.base_url())
            .args(T)
            .arg("--results")
            .arg(results),
    );
    assert_eq!(code(&rerun), 0, "{}", text(&rerun));
    rig.assert_each_accepted_once(4);
}

#[test]
fn a_save_over_a_symlinked_results_file_stops_the_run_and_the_rerun_sends_nothing_twice() {
    let rig = Rig::new();
    let gate = rig.gate();
    let csv = rig.file("c.csv", &campaign_csv(4));
    fs::create_dir(rig.dir.path().join("real")).unwrap();
    let link = rig.dir.path().join("link.csv");
    symlink("real/c.results.csv", &link).unwrap();
    let child = held_run(&rig, &gate, &csv, &link);
    let saved = save_over(&link);
    let output = release(&gate, child);
    assert!(
        !fs::symlink_metadata(&link).unwrap().is_symlink(),
        "the save's file stands at the name"
    );
    assert_put_back(&rig, &gate, &csv, &link, (output, saved));
}

#[test]
fn a_symlinked_directory_swapped_during_a_run_stops_it_and_the_rerun_sends_nothing_twice() {
    let rig = Rig::new();
    let gate = rig.gate();
    let csv = rig.file("c.csv", &campaign_csv(4));
    let dir = rig.dir.path();
    fs::create_dir(dir.join("v1")).unwrap();
    fs::create_dir(dir.join("v2")).unwrap();
    symlink("v1", dir.join("cur")).unwrap();
    let results = dir.join("cur").join("c.results.csv");
    let child = held_run(&rig, &gate, &csv, &results);
    // A deploy-style swap: the new directory holds a copy, the link is renamed over.
    let saved = fs::read(dir.join("v1/c.results.csv")).unwrap();
    fs::write(dir.join("v2/c.results.csv"), &saved).unwrap();
    symlink("v2", dir.join("cur.tmp")).unwrap();
    fs::rename(dir.join("cur.tmp"), dir.join("cur")).unwrap();
    let output = release(&gate, child);
    assert_put_back(&rig, &gate, &csv, &results, (output, saved));
}

#[test]
fn a_symlink_and_its_target_take_one_lock() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(3));
    for (round, link_first) in [(1, true), (2, false)] {
        let real = rig.dir.path().join(format!("r{round}.csv"));
        let link = rig.dir.path().join(format!("l{round}.csv"));
        symlink(real.file_name().unwrap(), &link).unwrap();
        let (first, second) = if link_first {
            (&link, &real)
        } else {
            (&real, &link)
        };
        let gate = rig.gate();
        let child = held_run(&rig, &gate, &csv, first);
        let other = rig.run(rig.command(&csv).args(T).arg("--results").arg(second));
        assert_eq!(code(&other), 4, "{}", text(&other));
        assert!(
            text(&other).contains("in use by another run"),
            "{}",
            text(&other)
        );
        gate.open();
        let output = child.wait_with_output().unwrap();
        assert_eq!(code(&output), 0, "{}", text(&output));
        assert_eq!(rig.sent().len(), 3 * round, "only the first run sent");
    }
}

#[test]
fn a_results_file_deleted_during_a_run_is_not_said_to_be_replaced() {
    let rig = Rig::new();
    let gate = rig.gate();
    let csv = rig.file("c.csv", &campaign_csv(4));
    let results = rig.dir.path().join("c.results.csv");
    let child = held_run(&rig, &gate, &csv, &results);
    fs::remove_file(&results).unwrap();
    let output = release(&gate, child);
    let message = text(&output);
    assert_eq!(code(&output), 3, "{message}");
    assert!(message.contains("deleted or renamed away"), "{message}");
    assert!(
        !message.contains("replaced it") && !message.contains("kept beside"),
        "nothing replaced it, nothing was kept: {message}"
    );
    assert_eq!(common::results(&results)[0]["status"], "QUEUED");
    rerun_finishes(&rig, &gate, &csv, &results);
}

#[test]
fn a_file_that_cannot_be_put_back_is_saved_elsewhere_and_the_rerun_is_refused_until_it_is_back() {
    let rig = Rig::new();
    let gate = rig.gate();
    let csv = rig.file("c.csv", &campaign_csv(4));
    let results = rig.dir.path().join("c.results.csv");
    let child = held_run(&rig, &gate, &csv, &results);
    let saved = save_over(&results);
    // The name the put-back writes its copy under is taken by a directory: it fails (as a
    // read-only directory makes it fail for anyone but root).
    let blocker = rig.dir.path().join(".c.results.csv.compacting");
    fs::create_dir(&blocker).unwrap();
    let output = release(&gate, child);
    let message = text(&output);
    assert_eq!(code(&output), 3, "{message}");
    assert_eq!(rig.sent().len(), 1, "{message}");
    assert!(message.contains("could not be put back"), "{message}");
    assert!(
        !message.contains("was put back") && !message.contains("rerun the same command: it"),
        "no false claim: {message}"
    );
    let rescue = named_like(rig.dir.path(), "c.results.csv.unsaved-");
    assert_eq!(rescue.len(), 1, "{message}");
    assert!(message.contains(&*rescue[0].to_string_lossy()), "{message}");
    assert_eq!(common::results(&rescue[0])[0]["status"], "QUEUED");
    assert_eq!(
        fs::read(&results).unwrap(),
        saved,
        "the other file untouched"
    );
    fs::remove_dir(&blocker).unwrap();
    // The rerun would resend row 1: refused while the lines are not back.
    let refused = rig.run(rig.command_to(&csv, &gate.base_url()).args(T));
    assert_eq!(code(&refused), 2, "{}", text(&refused));
    assert!(
        text(&refused).contains(&*rescue[0].to_string_lossy()),
        "{}",
        text(&refused)
    );
    assert_eq!(rig.sent().len(), 1, "nothing sent");
    assert_eq!(fs::read(&results).unwrap(), saved, "untouched");
    // Put back as the message says: the rerun goes on where the run stopped.
    fs::rename(&rescue[0], &results).unwrap();
    rerun_finishes(&rig, &gate, &csv, &results);
}
