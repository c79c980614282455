//! `status`, `cancel` and `report` read the results file a batch of rows at a time (or as a
//! stream), never every row at once. Memory cannot be asserted here without timing, so
//! these tests hold what the streaming must keep: on files of thousands of rows (several
//! of the passes' batches) every row is looked up or canceled exactly once and recorded,
//! a pass killed half-way resumes where it stopped, and a line that does not read is
//! refused with the file untouched and nothing asked of the API.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use common::*;

/// Rows sent: more than two of the passes' batches (256 rows each).
const ROWS: usize = 700;

/// Rows of the files written directly (no sends needed).
const MANY: usize = 3_000;

#[test]
fn status_then_cancel_treat_each_row_of_several_batches_exactly_once() {
    let rig = Rig::new();
    let results_path = rig.sent_campaign(ROWS, true);
    let output = rig.run(&mut rig.operation("status", &results_path));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let asked = rig.lookups();
    assert_eq!(asked.len(), ROWS, "one lookup a row");
    assert_eq!(asked.iter().collect::<HashSet<_>>().len(), ROWS);
    let rows = results(&results_path);
    assert_eq!(rows.len(), ROWS);
    assert!(
        rows.iter()
            .all(|r| r["deliveryStatus"] == "QUEUED" && !r["checkedAt"].is_empty()),
        "every row recorded"
    );
    assert_eq!(result_lines(&results_path), ROWS, "the pass ends compacted");

    let output = rig.run(rig.operation("cancel", &results_path).arg("--yes"));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let batches: Vec<Vec<String>> = (rig.log().into_iter())
        .filter(|e| e.method == "DELETE")
        .map(|e| {
            (e.body["messageIds"].as_array().unwrap().iter())
                .map(|id| id.as_str().unwrap().to_string())
                .collect()
        })
        .collect();
    assert!(batches.iter().all(|b| b.len() <= 100), "batches of 100");
    let ids: HashSet<&String> = batches.iter().flatten().collect();
    assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), ROWS);
    assert_eq!(ids.len(), ROWS, "each message asked once");
    let rows = results(&results_path);
    for row in &rows {
        assert_eq!(row["deliveryStatus"], "CANCELED", "{row:?}");
        let truth = rig.sandbox.message(&row["messageId"]).unwrap();
        assert_eq!(truth["status"], "CANCELED");
    }
    assert_eq!(result_lines(&results_path), ROWS);

    // Nothing is left to ask about: every row is final.
    let output = rig.run(&mut rig.operation("status", &results_path));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.lookups().len(), ROWS, "no final row looked up again");
}

/// kill -9 after more than a batch of lookups: every answer recorded before the kill is
/// kept (the file holds appended lines, not compacted), and the rerun asks only about the
/// rows still open, across the batch boundaries, and ends with one line a row.
#[test]
fn a_status_pass_killed_after_a_batch_resumes_where_it_stopped() {
    let rig = Rig::new();
    let results_path = rig.sent_campaign(ROWS, false);
    rig.sandbox.advance(std::time::Duration::from_secs(3600));
    rig.status_killed_after(&results_path, 300, &[]);
    let first = rig.lookups();
    assert!(first.len() < ROWS, "killed early ({} lookups)", first.len());
    assert!(result_lines(&results_path) > ROWS, "answers were appended");
    let rows = results(&results_path);
    assert_eq!(rows.len(), ROWS, "no row lost");
    let learned: Vec<&String> = (rows.iter())
        .filter(|r| r.get("checkedAt").is_some_and(|c| !c.is_empty()))
        .map(|r| &r["messageId"])
        .collect();
    assert!(
        learned.len() + 1 >= first.len() && learned.len() <= first.len(),
        "{} recorded of {} asked",
        learned.len(),
        first.len()
    );
    let settled: HashSet<&String> = (rows.iter())
        .filter(|r| matches!(r["deliveryStatus"].as_str(), "READ" | "FAILED"))
        .map(|r| &r["messageId"])
        .collect();

    let output = rig.run(&mut rig.operation("status", &results_path));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let second = &rig.lookups()[first.len()..];
    assert_eq!(second.len(), ROWS - settled.len(), "each open row once");
    assert!(second.iter().all(|id| !settled.contains(id)));
    let rows = results(&results_path);
    assert!(rows.iter().all(|r| !r["deliveryStatus"].is_empty()));
    assert_eq!(result_lines(&results_path), ROWS);
}

/// A results file of `MANY` accepted rows, written directly.
fn results_file(rig: &Rig, sender: impl Fn(usize) -> String) -> PathBuf {
    let mut text = String::from(
        "row,destination,status,messageId,correlationId,httpStatus,errorCode,error,attempts,sentAt,rawDestination,sender,target,message\n",
    );
    for i in 0..MANY {
        let p = phone(i);
        text.push_str(&format!(
            "{},{p},QUEUED,msg_{i},c,202,,,1,2026-03-02T12:00:00Z,{p},{},,\n",
            i + 1,
            sender(i)
        ));
    }
    rig.file("r.results.csv", &text)
}

fn assert_refused_untouched(rig: &Rig, results_path: &Path, needles: &[&str]) {
    let before = std::fs::read(results_path).unwrap();
    let status = rig.operation("status", results_path);
    let mut cancel = rig.operation("cancel", results_path);
    cancel.arg("--yes");
    let mut report = binary();
    report.arg("report").arg(results_path);
    for mut command in [status, cancel, report] {
        let output = rig.run(&mut command);
        assert_eq!(code(&output), 2, "{}", text(&output));
        for needle in needles {
            assert!(text(&output).contains(needle), "{}", text(&output));
        }
    }
    assert!(rig.log().is_empty(), "nothing was asked of the API");
    assert!(std::fs::read(results_path).unwrap() == before, "untouched");
}

#[test]
fn a_line_that_does_not_read_deep_in_a_large_file_is_refused_untouched() {
    let rig = Rig::new();
    let results_path = results_file(&rig, |_| String::new());
    let text = std::fs::read_to_string(&results_path).unwrap();
    let bad = text.replace("2601,+5511910002600,QUEUED", "2601,+5511910002600,MAYBE");
    assert_ne!(bad, text);
    std::fs::write(&results_path, bad).unwrap();
    assert_refused_untouched(&rig, &results_path, &["line 2602", "MAYBE"]);
}

/// A file whose rows name thousands of numbers this pass has no key for: refused before
/// any request, naming a few of them, not every one in a message thousands of names long.
#[test]
fn thousands_of_numbers_without_a_key_are_refused_naming_a_few() {
    let rig = Rig::new();
    let results_path = results_file(&rig, |i| format!("number{i}"));
    let before = std::fs::read(&results_path).unwrap();
    for subcommand in ["status", "cancel"] {
        let mut command = rig.operation(subcommand, &results_path);
        if subcommand == "cancel" {
            command.arg("--yes");
        }
        let output = rig.run(&mut command);
        assert_eq!(code(&output), 2, "{}", text(&output));
        let said = text(&output);
        assert!(
            said.contains("number0, number1") && said.contains("--senders"),
            "{said}"
        );
        assert!(said.contains("and others"), "{said}");
        assert!(said.len() < 2_000, "{} bytes: {said}", said.len());
    }
    assert!(rig.log().is_empty());
    assert!(std::fs::read(&results_path).unwrap() == before, "untouched");
}

/// Every row final, and one of them recorded twice (a pass stopped before its compaction):
/// a pass with nothing to look up asks nothing and leaves the file exactly as it was,
/// rather than rewriting every line of it.
#[test]
fn a_status_pass_with_nothing_to_look_up_leaves_the_file_as_it_was() {
    let rig = Rig::new();
    let header = "row,destination,status,messageId,correlationId,httpStatus,errorCode,error,attempts,sentAt,rawDestination,sender,target,message,deliveryStatus,deliveredAt,readAt,deliveryError,checkedAt\n";
    let line = |i: usize, status: &str| {
        format!(
            "{},{p},QUEUED,msg_{i},c,202,,,1,2026-03-02T12:00:00Z,{p},,,,{status},,,,2026-03-03T00:00:00Z\n",
            i + 1,
            p = phone(i)
        )
    };
    let mut content = String::from(header);
    for i in 0..MANY {
        content.push_str(&line(i, "READ"));
    }
    content.push_str(&line(7, "FAILED"));
    let results_path = rig.file("r.results.csv", &content);
    let output = rig.run(&mut rig.operation("status", &results_path));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert!(text(&output).contains("0 looked up"), "{}", text(&output));
    assert!(rig.log().is_empty());
    assert!(
        std::fs::read_to_string(&results_path).unwrap() == content,
        "untouched"
    );
}
