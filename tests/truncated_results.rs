//! A results file whose last line was cut short by something other than a crash (a copy or
//! sync interrupted, an editor): the row it records, sent, must never be sent again. A cut
//! the tool's own crash can leave (an intent, or an outcome after its row's intent) still
//! resumes. Each test drives the real binary and judges by the sandbox's own log.
//!
//! Before the fix, every cut of a finished file's last line past its row number was dropped
//! as "a line torn by an earlier crash" and that row (`QUEUED` with its message id, or
//! `FAILED`) was sent again.

mod common;

use std::collections::HashMap;

use common::*;

/// The template, and no ledger: the results file alone must keep the promise.
const ARGS: [&str; 4] = ["--template", "t", "--ledger", "off"];

/// How many requests the sandbox saw for each destination (accepted or refused).
fn posts(rig: &Rig) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for entry in rig.log().into_iter().filter(|e| e.method == "POST") {
        *counts
            .entry(entry.destination.unwrap_or_default())
            .or_insert(0) += 1;
    }
    counts
}

/// Sends 3 rows to the end; returns (csv, results, the finished file's bytes).
fn finished(rig: &Rig) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    let csv = rig.file("c.csv", &campaign_csv(3));
    let output = rig.run(rig.command(&csv).args(ARGS));
    assert!(matches!(code(&output), 0 | 1), "{}", text(&output));
    let results = rig.dir.path().join("c.results.csv");
    let bytes = std::fs::read(&results).unwrap();
    (csv, results, bytes)
}

/// Where the file's last line starts.
fn last_line_start(bytes: &[u8]) -> usize {
    let body = &bytes[..bytes.len() - 1];
    body.iter().rposition(|b| *b == b'\n').unwrap() + 1
}

/// Cuts the finished file's last line at every byte and reruns: each rerun either refuses
/// (exit 2, the file byte for byte as cut, a message naming the line and how to mend it)
/// or resumes; none sends any row a second time.
fn every_cut_of_the_last_line(rig: &Rig, status: &str) {
    let (csv, results, whole) = finished(rig);
    let start = last_line_start(&whole);
    assert!(
        String::from_utf8_lossy(&whole[start..]).contains(status),
        "{}",
        String::from_utf8_lossy(&whole)
    );
    let before = posts(rig);
    let mut refused = 0;
    for cut in start + 1..whole.len() {
        let bytes = &whole[..cut];
        std::fs::write(&results, bytes).unwrap();
        let output = rig.run(rig.command(&csv).args(ARGS));
        let shown = String::from_utf8_lossy(&bytes[start..]).to_string();
        match code(&output) {
            2 => {
                refused += 1;
                let message = text(&output);
                assert!(
                    message.contains("line 4") && message.contains("incomplete"),
                    "cut {shown:?}: {message}"
                );
                assert!(
                    !message.contains("new path") && !message.contains("another path"),
                    "{message}"
                );
                assert_eq!(std::fs::read(&results).unwrap(), bytes, "cut {shown:?}");
            }
            0 | 1 => {}
            other => panic!("cut {shown:?}: exit {other}: {}", text(&output)),
        }
        assert_eq!(posts(rig), before, "cut {shown:?}: a row was sent again");
    }
    assert!(refused > 0, "no cut was refused");
}

#[test]
fn a_finished_files_queued_last_line_cut_anywhere_is_never_sent_again() {
    every_cut_of_the_last_line(&Rig::new(), "QUEUED");
}

#[test]
fn a_finished_files_failed_last_line_cut_anywhere_is_never_sent_again() {
    every_cut_of_the_last_line(&Rig::refusing(&[(2, "NUMBER_BLOCKED")]), "FAILED");
}

#[test]
fn an_outcome_cut_after_its_rows_intent_resumes_with_the_row_uncertain() {
    let rig = Rig::new();
    let (csv, results, whole) = finished(&rig);
    let start = last_line_start(&whole);
    let last = String::from_utf8_lossy(&whole[start..]).to_string();
    // As a crash leaves it: row 3's intent, then its outcome torn part-way.
    let mut intent: Vec<String> = last.trim_end().split(',').map(str::to_string).collect();
    intent[2] = "SENDING".into();
    for i in [3, 4, 5] {
        intent[i].clear();
    }
    let cut = &last[..last.find(",202,").unwrap() + 3];
    let text_before = String::from_utf8_lossy(&whole[..start]).to_string();
    std::fs::write(
        &results,
        format!("{text_before}{}\n{cut}", intent.join(",")),
    )
    .unwrap();
    let before = posts(&rig);

    let output = rig.run(rig.command(&csv).args(ARGS));
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(posts(&rig), before, "row 3 was sent again");
    let rows = common::results(&results);
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[2]["status"], "UNCERTAIN", "{rows:?}");
}

#[test]
fn a_crash_torn_intent_for_a_new_row_is_dropped_and_the_row_sent_once() {
    for torn in ["4,+5511910000003,SEN", "4,+5511910000003,SENDING,,,"] {
        let rig = Rig::new();
        let (_, results, mut bytes) = finished(&rig);
        let csv = rig.file("c.csv", &campaign_csv(4));
        // A killed write stops at a page boundary of the file (blank lines bring it there).
        let pad = 4096 - (bytes.len() + torn.len()) % 4096;
        bytes.extend(std::iter::repeat_n(b'\n', pad));
        bytes.extend_from_slice(torn.as_bytes());
        std::fs::write(&results, &bytes).unwrap();
        let output = rig.run(rig.command(&csv).args(ARGS));
        assert_eq!(code(&output), 0, "{torn}: {}", text(&output));
        let posts = posts(&rig);
        assert!(posts.values().all(|n| *n == 1), "{torn}: {posts:?}");
        assert_eq!(posts.len(), 4, "{torn}: {posts:?}");
        assert_eq!(result_lines(&results), 4, "{torn}");
    }
}

#[test]
fn an_intent_cut_after_the_fact_is_refused_untouched_never_sent_again() {
    // A run killed while row 4's request was out leaves its intent, whole and on disk; an
    // edit or a copy then cuts the file a few bytes short (not where a write stops).
    for cut in [3, 20, 40] {
        let rig = Rig::new();
        let (_, results, mut bytes) = finished(&rig);
        let csv = rig.file("c.csv", &campaign_csv(4));
        bytes.extend_from_slice(
            b"4,+5511910000003,SENDING,,,,,,1,2026-06-01T12:00:00Z,+5511910000003,,,\n",
        );
        bytes.truncate(bytes.len() - cut);
        std::fs::write(&results, &bytes).unwrap();
        let before = posts(&rig);
        let output = rig.run(rig.command(&csv).args(ARGS));
        let said = text(&output);
        assert_eq!(code(&output), 2, "{cut}: {said}");
        assert!(said.contains("row 4 was being sent"), "{cut}: {said}");
        assert_eq!(
            std::fs::read(&results).unwrap(),
            bytes,
            "{cut}: the file was touched"
        );
        assert_eq!(posts(&rig), before, "{cut}: row 4 was sent");
    }
}

/// A last line far longer than any this tool writes (over the 64 MiB read to judge its
/// quotes) is refused as such, the file untouched: read in part, its quotes counted odd and
/// the message blamed a quote never closed, which the line does close.
#[test]
fn a_last_line_of_over_64_mib_is_refused_as_too_long_not_as_an_open_quote() {
    let rig = Rig::new();
    let results_path = rig.sent_campaign(2, false);
    let sent = rig.log().len();
    let mut bytes = std::fs::read(&results_path).unwrap();
    bytes.extend_from_slice(format!("3,{},QUEUED,\"", phone(9)).as_bytes());
    bytes.extend(std::iter::repeat_n(b'x', 65 << 20));
    bytes.extend_from_slice(b"\"\n");
    std::fs::write(&results_path, &bytes).unwrap();
    let csv = rig.dir.path().join("c.csv");
    let output = rig.run(rig.command(&csv).args(["--template", "t"]));
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(text(&output).contains("over 64 MiB"), "{}", text(&output));
    assert!(!text(&output).contains("never closed"), "{}", text(&output));
    assert_eq!(rig.log().len(), sent, "nothing sent");
    assert!(
        std::fs::read(&results_path).unwrap() == bytes,
        "the file was changed"
    );
}
