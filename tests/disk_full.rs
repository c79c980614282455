//! A disk that fills up during a campaign (a cron machine's log partition, a small volume):
//! the run stops before its next send, the results file keeps every whole line and ends
//! with one, a rerun on the still-full disk sends nothing and says to free space, and once
//! there is room the campaign finishes with no row sent twice and every accepted row that
//! reached the file recorded with its id. Drives the real binary and judges by the
//! sandbox's own log.
//!
//! The full disk is a small tmpfs mounted for the test, which needs root (as in CI and on
//! this project's machines). Elsewhere the test says so and stops; with `CI` set it fails
//! instead, so CI cannot pass without it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// A tmpfs of `size` at `dir`, unmounted when dropped (also when an assertion fails).
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(dir).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .is_ok_and(|o| o.status.success());
        if !mounted {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must be able to mount a tmpfs (root) for the full-disk test"
            );
            eprintln!("skipped: mounting a tmpfs needs root");
            return None;
        }
        Some(SmallDisk {
            dir: dir.to_path_buf(),
        })
    }

    fn grow(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.dir)
            .status()
            .unwrap();
        assert!(status.success(), "remount {size}");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

#[test]
fn a_full_disk_stops_the_run_keeps_whole_lines_and_the_rerun_sends_each_row_once() {
    let rig = Rig::new();
    let Some(disk) = SmallDisk::mount(&rig.dir.path().join("disk"), "48k") else {
        return;
    };
    let rows = 600;
    let csv = disk.dir.join("c.csv");
    std::fs::write(&csv, campaign_csv(rows)).unwrap();
    let file = disk.dir.join("c.results.csv");
    let run = || {
        rig.run(
            rig.command(&csv)
                .args(["--template", "t", "--concurrency", "8"]),
        )
    };

    // Full part-way: stopped before the next send, saying what to do.
    let output = run();
    assert_eq!(code(&output), 3, "{}", text(&output));
    says(
        &output,
        &[
            "No space left on device",
            "The disk is full: free space on the disk that holds the results file",
        ],
    );
    let stopped = std::fs::read(&file).unwrap();
    assert_eq!(
        stopped.last(),
        Some(&b'\n'),
        "the file ends with a whole line"
    );
    let sent_before = rig.accepted().len();
    assert!(0 < sent_before && sent_before < rows, "{sent_before} sent");
    // Every QUEUED line that made it holds the id the sandbox gave.
    let ids = ids_now(&rig);
    let recorded = results_of(&stopped);
    assert!(!recorded.is_empty());
    for row in recorded.iter().filter(|r| r["status"] == "QUEUED") {
        assert_eq!(
            ids.get(&row["destination"]),
            Some(&row["messageId"]),
            "{row:?}"
        );
    }

    // Still full: the first intent does not fit, so nothing is sent, the file is left as
    // it was, and the same advice.
    let output = run();
    assert_eq!(code(&output), 3, "{}", text(&output));
    says(
        &output,
        &["stopped before the next send", "The disk is full"],
    );
    assert_eq!(rig.accepted().len(), sent_before, "no send on a full disk");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        stopped,
        "the file is untouched"
    );

    // Room again: the campaign ends, no row twice, every row recorded.
    disk.grow("8m");
    let output = run();
    assert!([0, 1].contains(&code(&output)), "{}", text(&output));
    let accepted = accepted_per_destination(&rig.log());
    assert!(
        accepted.values().all(|n| *n == 1),
        "0 duplicates: {accepted:?}"
    );
    let finished = results(&file);
    assert_eq!(finished.len(), rows);
    for row in &finished {
        match row["status"].as_str() {
            "QUEUED" => assert_eq!(
                ids_now(&rig).get(&row["destination"]),
                Some(&row["messageId"])
            ),
            // Its intent was on disk, its outcome was not: maybe sent, never sent again.
            "UNCERTAIN" => assert!(accepted.get(&row["destination"]).is_none_or(|n| *n == 1)),
            other => panic!("row {} is {other}", row["row"]),
        }
    }
}

#[test]
fn a_results_file_that_needs_rewriting_on_a_full_disk_is_refused_untouched_with_advice() {
    let rig = Rig::new();
    let Some(disk) = SmallDisk::mount(&rig.dir.path().join("disk"), "64k") else {
        return;
    };
    // Rows 1-3 sent, then the cut intent of row 4 a crash leaves: opening the file drops
    // it, which means writing the file again.
    let (_, sent) = rig.finished(3);
    let csv = disk.dir.join("c.csv");
    std::fs::write(&csv, campaign_csv(4)).unwrap();
    let file = disk.dir.join("c.results.csv");
    let mut bytes = std::fs::read(&sent).unwrap();
    bytes.extend_from_slice(b"4,+5511910000003,SEN");
    std::fs::write(&file, &bytes).unwrap();
    fill(&disk.dir.join("filler"));
    let before = rig.accepted().len();

    let output = rig.run(rig.command(&csv).args(["--template", "t"]));
    assert_eq!(code(&output), 2, "{}", text(&output));
    says(
        &output,
        &[
            "No space left on device",
            "Nothing was sent. The disk is full: free space",
        ],
    );
    assert_eq!(rig.accepted().len(), before, "nothing sent");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        bytes,
        "the file is untouched"
    );
}

/// Asserts that the output says each of `needles`.
fn says(output: &std::process::Output, needles: &[&str]) {
    let text = text(output);
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} not in: {text}");
    }
}

/// Writes `path` until the disk is full.
fn fill(path: &Path) {
    use std::io::Write as _;
    let mut file = std::fs::File::create(path).unwrap();
    let block = [0u8; 4096];
    while file.write_all(&block).is_ok() {}
}

/// The sandbox's ids by destination, now.
fn ids_now(rig: &Rig) -> std::collections::HashMap<String, String> {
    (rig.accepted().into_iter())
        .map(|e| (e.destination.unwrap(), e.message_id.unwrap()))
        .collect()
}

/// [`results`] of the bytes of a results file.
fn results_of(bytes: &[u8]) -> Vec<std::collections::HashMap<String, String>> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("copy.csv");
    std::fs::write(&path, bytes).unwrap();
    results(&path)
}
