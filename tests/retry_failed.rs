//! `--retry-failed` sends FAILED rows again (all, or those with given codes) and nothing
//! else; a run whose message settings differ from those the results file was sent with is
//! refused unless only retried rows are left, or `--message-changed` says it is intended.

mod common;

use std::path::Path;

use common::*;

/// Rewrites the status of `row`'s lines (a person marking a row, as the docs allow).
fn mark(results: &Path, row: usize, from: &str, to: &str) {
    let text = std::fs::read_to_string(results).unwrap();
    let marked: String = (text.lines())
        .map(|line| match line.starts_with(&format!("{row},")) {
            true => line.replace(&format!(",{from},"), &format!(",{to},")),
            false => line.to_string(),
        })
        .map(|line| line + "\n")
        .collect();
    std::fs::write(results, marked).unwrap();
}

fn statuses(path: &Path) -> Vec<String> {
    results(path).iter().map(|r| r["status"].clone()).collect()
}

#[test]
fn retry_failed_sends_only_failed_rows_of_the_codes_asked_and_never_twice() {
    let rig = Rig::refusing(&[(1, "VALIDATION_ERROR"), (3, "BLOCKED_BY_TEST")]);
    let mut csv = campaign_csv(6);
    csv.push_str("12345,Invalido\n");
    let path = rig.file("c.csv", &csv);
    let template = ["--template", "boas_vindas"];
    let output = rig.run(rig.command(&path).args(template));
    assert_eq!(code(&output), 1, "{}", text(&output));
    let results_path = rig.dir.path().join("c.results.csv");
    assert_eq!(
        statuses(&results_path),
        [
            "QUEUED", "FAILED", "QUEUED", "FAILED", "QUEUED", "QUEUED", "INVALID"
        ]
    );
    // Row 5 was accepted: as UNCERTAIN, only --resend-uncertain may send it again.
    mark(&results_path, 5, "QUEUED", "UNCERTAIN");
    rig.sandbox.fail_destinations(Vec::new());

    // An empty list (a script's unset variable) is refused, not read as every row.
    let output = rig.run(rig.command(&path).args(template).arg("--retry-failed="));
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(
        text(&output).contains("names no error code"),
        "{}",
        text(&output)
    );
    // Codes are read in upper case, as people type them from the error text; one that
    // matches no FAILED row is said.
    let output = rig.run(
        rig.command(&path)
            .args(template)
            .arg("--retry-failed=blocked_by_test,NO_SUCH_CODE"),
    );
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert!(
        text(&output).contains("1 FAILED rows will be sent again"),
        "{}",
        text(&output)
    );
    assert!(
        text(&output).contains("sent again for them: NO_SUCH_CODE"),
        "{}",
        text(&output)
    );
    assert_eq!(
        statuses(&results_path),
        [
            "QUEUED",
            "FAILED",
            "QUEUED",
            "QUEUED",
            "UNCERTAIN",
            "QUEUED",
            "INVALID"
        ]
    );

    let output = rig.run(rig.command(&path).args(template).arg("--retry-failed"));
    assert_eq!(
        code(&output),
        1,
        "the UNCERTAIN row remains: {}",
        text(&output)
    );
    assert_eq!(
        statuses(&results_path),
        [
            "QUEUED",
            "QUEUED",
            "QUEUED",
            "QUEUED",
            "UNCERTAIN",
            "QUEUED",
            "INVALID"
        ]
    );
    rig.assert_each_accepted_once(6);

    // Nothing FAILED is left: another retry sends nothing.
    let before = rig.log().len();
    let output = rig.run(rig.command(&path).args(template).arg("--retry-failed"));
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(rig.log().len(), before);
}

#[test]
fn without_the_flag_failed_rows_stay_failed() {
    let rig = Rig::refusing(&[(0, "VALIDATION_ERROR")]);
    let path = rig.file("c.csv", &campaign_csv(2));
    let template = ["--template", "boas_vindas"];
    rig.run(rig.command(&path).args(template));
    rig.sandbox.fail_destinations(Vec::new());
    let before = rig.log().len();
    let output = rig.run(rig.command(&path).args(template));
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(
        rig.log().len(),
        before,
        "FAILED is final without --retry-failed"
    );
}

#[test]
fn retry_failed_is_refused_in_a_campaign_file() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(1));
    rig.file(
        "c.toml",
        "template = \"boas_vindas\"\nretry-failed = \"\"\n",
    );
    assert_refused(&rig, &mut rig.command(&path), &["retry-failed"]);
}

#[test]
fn changed_message_settings_are_refused_unless_only_retried_rows_are_left_or_intended() {
    let rig = Rig::refusing(&[(1, "VALIDATION_ERROR")]);
    let path = rig.file("c.csv", &campaign_csv(3));
    let results_path = rig.dir.path().join("c.results.csv");
    let output = rig.run(rig.command(&path).args(["--template", "boas_vindas"]));
    assert_eq!(code(&output), 1, "{}", text(&output));
    let sent_with = results(&results_path)[0]["message"].clone();
    assert!(sent_with.starts_with("m:"), "{sent_with}");
    rig.sandbox.fail_destinations(Vec::new());

    // New rows to send, on another template: refused before any send.
    rig.file("c.csv", &campaign_csv(5));
    let before = rig.log().len();
    let other = ["--template", "promo_nova"];
    let output = rig.run(rig.command(&path).args(other));
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert_eq!(rig.log().len(), before, "nothing was sent");
    let said = text(&output);
    for needle in [
        "message settings changed",
        &sent_with,
        "3 rows",
        "--message-changed",
    ] {
        assert!(said.contains(needle), "missing {needle:?} in {said}");
    }
    assert!(
        !said.contains("--results"),
        "never advise a new results path: {said}"
    );

    // Only the FAILED row left, retried on the new template: allowed.
    rig.file("c.csv", &campaign_csv(3));
    let output = rig.run(rig.command(&path).args(other).arg("--retry-failed"));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.log().len(), before + 1);

    // The change intended: new rows go out on the new template.
    rig.file("c.csv", &campaign_csv(5));
    let output = rig.run(rig.command(&path).args(other).arg("--message-changed"));
    assert_eq!(code(&output), 0, "{}", text(&output));
    rig.assert_each_accepted_once(5);
}
