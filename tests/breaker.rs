//! A campaign's own mistakes stop early: a wrong campaign template at the first row, a run of
//! same-code failures after `--max-consecutive-failures`; after the fix, one rerun sends
//! every row exactly once.

mod common;

use common::*;

/// A rig whose sandbox refuses the first `n` test phones with 400 `code`.
fn rig_refusing(n: usize, code: &str) -> Rig {
    let specs: Vec<(usize, &str)> = (0..n).map(|i| (i, code)).collect();
    Rig::refusing(&specs)
}

#[test]
fn a_wrong_campaign_template_stops_at_once_and_the_fixed_rerun_sends_each_row_once() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(40));
    let output = rig.run(rig.command(&path).args(["--template", "unknown_promo"]));
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert!(rig.log().len() <= 10, "within the breaker's count");
    assert_eq!(
        rig.log().len(),
        1,
        "a campaign setting stops at the first refusal"
    );
    assert!(
        text(&output).contains("--template") && text(&output).contains("TEMPLATE_NOT_FOUND"),
        "{}",
        text(&output)
    );
    let results_path = rig.dir.path().join("c.results.csv");
    let rows = results(&results_path);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0]["status"].as_str(), rows[0]["errorCode"].as_str()),
        ("DEFERRED", "TEMPLATE_NOT_FOUND"),
        "the campaign's mistake, not the recipient's: pending, not FAILED"
    );

    let output = rig.run(rig.command(&path).args(["--template", "boas_vindas"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    rig.assert_each_accepted_once(40);
    let rows = results(&results_path);
    assert!(rows.iter().all(|r| r["status"] == "QUEUED"), "{rows:?}");
}

#[test]
fn a_template_a_row_names_itself_fails_only_that_row() {
    let rig = Rig::new();
    let path = rig.file(
        "c.csv",
        &format!(
            "phone,nome,templateId\n{},Ana,unknown_x\n{},Bia,\n",
            phone(0),
            phone(1)
        ),
    );
    let output = rig.run(rig.command(&path).args(["--template", "boas_vindas"]));
    assert_eq!(code(&output), 1, "{}", text(&output));
    let rows = results(&rig.dir.path().join("c.results.csv"));
    let statuses: Vec<&str> = rows.iter().map(|r| r["status"].as_str()).collect();
    assert_eq!(statuses, ["FAILED", "QUEUED"]);
}

#[test]
fn the_default_breaker_stops_a_lane_after_ten_same_code_failures() {
    let rig = rig_refusing(12, "VALIDATION_ERROR");
    let path = rig.file("c.csv", &campaign_csv(20));
    let output = rig.run(rig.command(&path).args(["--template", "boas_vindas"]));
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert_eq!(rig.log().len(), 10, "stopped at the tenth failure in a row");
    assert!(
        text(&output).contains("10 rows in a row FAILED with VALIDATION_ERROR"),
        "{}",
        text(&output)
    );
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert_eq!(
        rows.len(),
        10,
        "rows not reached stay pending, with no line"
    );
    assert!(rows.iter().all(|r| r["status"] == "FAILED"));
}

#[test]
fn the_breaker_counts_one_code_in_a_row_and_its_limit_comes_from_the_campaign_file() {
    // A, A, B, A, A, A: only the last three are a run of three.
    let rig = Rig::refusing(&[(0, "A"), (1, "A"), (2, "B"), (3, "A"), (4, "A"), (5, "A")]);
    let path = rig.file("c.csv", &campaign_csv(10));
    rig.file(
        "c.toml",
        "template = \"boas_vindas\"\nmax-consecutive-failures = 3\n",
    );
    let output = rig.run(&mut rig.command(&path));
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert_eq!(rig.log().len(), 6, "{}", text(&output));
}

#[test]
fn zero_turns_the_breaker_off() {
    let rig = rig_refusing(12, "VALIDATION_ERROR");
    let path = rig.file("c.csv", &campaign_csv(12));
    let output = rig.run(rig.command(&path).args([
        "--template",
        "boas_vindas",
        "--max-consecutive-failures",
        "0",
    ]));
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(rig.log().len(), 12);
}
