//! `campaign-sender test`: chosen rows rendered as the campaign would, sent to test numbers
//! only, through the sandbox; the campaign's results file is never touched.

mod common;

use common::{Rig, binary, code, phone, text};

const TEST_A: &str = "+5521999990001";
const TEST_B: &str = "+5521999990002";

/// A CSV whose first row is invalid (no number), then three valid ones.
fn campaign(rig: &Rig) -> std::path::PathBuf {
    rig.file(
        "c.csv",
        &format!(
            "phone,nome\n,Zé\n{},Ana\n{},Bia\n{},Caio\n",
            phone(0),
            phone(1),
            phone(2)
        ),
    )
}

/// `campaign-sender test <csv> ARGS` aimed at the sandbox, fast.
fn test(rig: &Rig, csv: &std::path::Path, args: &[&str]) -> std::process::Output {
    rig.run(
        binary()
            .arg("test")
            .arg(csv)
            .args(["--base-url", &rig.sandbox.base_url()])
            .args(["--spacing", "0", "--rate", "10000/s"])
            .args(["--text", "Olá {{nome}}!"])
            .args(args),
    )
}

#[test]
fn the_first_valid_row_goes_to_each_test_number_and_ids_are_printed() {
    let rig = Rig::new();
    let csv = campaign(&rig);
    let output = test(
        &rig,
        &csv,
        &[
            "--to",
            TEST_A,
            "--to",
            "(21) 99999-0002",
            "--default-country",
            "BR",
        ],
    );
    assert_eq!(code(&output), 0, "{}", text(&output));
    let accepted = rig.accepted();
    let sent: Vec<_> = accepted
        .iter()
        .map(|e| (e.destination.clone().unwrap(), e.body["text"].clone()))
        .collect();
    assert_eq!(
        sent,
        [
            (TEST_A.to_owned(), "Olá Ana!".into()),
            (TEST_B.to_owned(), "Olá Ana!".into())
        ]
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    for entry in &accepted {
        let line = format!(
            "row 2, to {}, id {}",
            entry.destination.as_deref().unwrap(),
            entry.message_id.as_deref().unwrap()
        );
        assert!(stdout.contains(&line), "missing '{line}' in:\n{stdout}");
    }
    assert!(
        !rig.dir.path().join("c.results.csv").exists(),
        "a test wrote the results"
    );
    assert_eq!(
        std::fs::read_dir(rig.dir.path()).unwrap().count(),
        1,
        "only the CSV"
    );
}

#[test]
fn rows_sends_exactly_the_chosen_rows() {
    let rig = Rig::new();
    let csv = campaign(&rig);
    let output = test(&rig, &csv, &["--to", TEST_A, "--rows", "4,2"]);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let texts: Vec<_> = rig
        .accepted()
        .iter()
        .map(|e| e.body["text"].clone())
        .collect();
    assert_eq!(texts, ["Olá Ana!", "Olá Caio!"]);
    assert!(rig.sent().iter().all(|d| d == TEST_A), "{:?}", rig.sent());
}

#[test]
fn bad_numbers_rows_or_lists_send_nothing() {
    let rig = Rig::new();
    let csv = campaign(&rig);
    for (args, needle) in [
        (&["--to", "12"][..], "--to '12'"),
        (
            &["--to", TEST_A, "--rows", "1"][..],
            "row 1 would not be sent",
        ),
        (&["--to", TEST_A, "--rows", "9"][..], "no row 9"),
        (&["--to", TEST_A, "--rows", "2-x"][..], "not a list of rows"),
    ] {
        let output = test(&rig, &csv, args);
        assert_eq!(code(&output), 2, "{args:?}: {}", text(&output));
        assert!(
            text(&output).contains(needle),
            "{args:?}: {}",
            text(&output)
        );
        assert!(rig.log().is_empty(), "{args:?} sent something");
    }
    assert!(!rig.dir.path().join("c.results.csv").exists());
}

#[test]
fn with_dry_run_it_prints_the_bodies_and_sends_nothing() {
    let rig = Rig::new();
    let csv = campaign(&rig);
    let output = test(&rig, &csv, &["--to", TEST_A, "--dry-run"]);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let body: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("one JSON body on stdout");
    assert_eq!(body["text"], "Olá Ana!");
    assert_eq!(body["destinationNumber"], TEST_A);
    assert!(rig.log().is_empty(), "a dry run sent something");
}

#[test]
fn a_refused_or_unknown_outcome_is_reported_and_exits_1() {
    for (fault, says) in [
        ("429=1", "not accepted"),
        ("drop=1", "may or may not have been sent"),
    ] {
        let rig = Rig::with_faults(fault);
        let csv = campaign(&rig);
        let output = test(&rig, &csv, &["--to", TEST_A]);
        assert_eq!(code(&output), 1, "{fault}: {}", text(&output));
        assert!(text(&output).contains(says), "{fault}: {}", text(&output));
        assert_eq!(rig.log().len(), 1, "{fault}: a test message is sent once");
        assert!(
            !text(&output).contains(", id "),
            "{fault}: {}",
            text(&output)
        );
    }
}
