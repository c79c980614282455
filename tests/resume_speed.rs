//! A resumed campaign starts sending without reading its input twice (issue 17): the send
//! pass takes the rows the preflight kept, and reads the input again only for rows appended
//! during the run, or when too many rows are left to keep. Each way, every destination is
//! sent once.

mod common;

use std::path::Path;

use common::*;

const T: [&str; 2] = ["--template", "t"];

fn append(csv: &Path, rows: &[usize]) {
    let extra: String = rows
        .iter()
        .map(|&i| format!("{},Cliente {i}\n", phone(i)))
        .collect();
    let mut file = std::fs::OpenOptions::new().append(true).open(csv).unwrap();
    std::io::Write::write_all(&mut file, extra.as_bytes()).unwrap();
}

/// Rows appended while the kept rows are being sent are read afterwards, meeting every
/// destination already sent (settled before this run, or by it): a copy of one is a
/// duplicate, never a second message.
#[test]
fn rows_appended_during_a_resumed_run_meet_every_destination_sent() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(3));
    let output = rig.run(rig.command(&csv).args(T));
    assert_eq!(code(&output), 0, "{}", text(&output));
    // Forty rows left to send, kept by the preflight (more than the send pass reads ahead,
    // so it is still sending them when rows are appended); the first answer is held.
    let left: Vec<usize> = (3..43).collect();
    append(&csv, &left);
    let gate = rig.gate();
    let mut child = rig
        .command_to(&csv, &gate.base_url())
        .args(T)
        // The gate is another target than the sandbox the first rows went to.
        .arg("--retarget")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    rig.wait_for_requests(4);
    // Copies of a row sent in an earlier run (0) and of one this run sends (3), and a new one.
    append(&csv, &[0, 3, 100]);
    gate.open();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let counts = accepted_per_destination(&rig.log());
    for i in (0..43).chain([100]) {
        assert_eq!(counts.get(&phone(i)), Some(&1), "{}: {counts:?}", phone(i));
    }
    assert_eq!(counts.len(), 44, "{counts:?}");
    let results = results(&rig.dir.path().join("c.results.csv"));
    let status_of = |row: &str| {
        let line = results.iter().find(|r| r["row"] == row).unwrap();
        line["status"].clone()
    };
    assert_eq!(status_of("44"), "INVALID");
    assert_eq!(status_of("45"), "INVALID");
    assert_eq!(status_of("46"), "QUEUED");
}

/// More rows left than the preflight keeps: the send pass reads the input again, and every
/// row is sent once; a rerun sends nothing.
#[test]
fn a_campaign_with_more_rows_than_are_kept_is_read_again_and_sent_once() {
    let rig = Rig::new();
    let rows = 4_200;
    let csv = rig.file("c.csv", &campaign_csv(rows));
    let output = rig.run(rig.command(&csv).args(T).args(["--concurrency", "64"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    rig.assert_each_accepted_once(rows);
    let output = rig.run(rig.command(&csv).args(T));
    assert_eq!(code(&output), 0, "{}", text(&output));
    rig.assert_each_accepted_once(rows);
}
