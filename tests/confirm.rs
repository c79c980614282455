//! The confirmation before a real send, asked in a pseudo-terminal (util-linux `script`): the
//! real binary against the sandbox through `--base-url`, so the run counts as real.

mod common;

use std::process::{Command, Stdio};

use common::{KEY, Rig, campaign_csv, code, text};

/// `args` as one shell word each.
fn shell(args: &[String]) -> String {
    args.iter()
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs the binary with `args` inside a pseudo-terminal, typing `answer` into it.
fn in_terminal(rig: &Rig, args: &[String], answer: &str) -> std::process::Output {
    let mut line = vec![env!("CARGO_BIN_EXE_campaign-sender").to_owned()];
    line.extend_from_slice(args);
    let mut child = Command::new("script")
        .args(["-qec", &shell(&line), "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PILOT_STATUS_API_KEY", KEY)
        .env("CAMPAIGN_SENDER_LEDGER", rig.ledger())
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux script runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    common::assert_no_key(&output);
    output
}

/// A real-looking send of `rows` rows: the sandbox reached through --base-url, fast pace.
fn real_send(rig: &Rig, rows: usize, extra: &[&str]) -> Vec<String> {
    let csv = rig.file("c.csv", &campaign_csv(rows));
    let mut args: Vec<String> = [
        csv.to_str().unwrap(),
        "--base-url",
        &rig.sandbox.base_url(),
        "--template",
        "boas_vindas",
        "--spacing",
        "0",
        "--rate",
        "10000/s",
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// With the rig's ledger on, the count is an upper bound: the ledger may skip rows.
const QUESTION: &str = "Send up to 3 messages from the number of your API key via pilot-status";

#[test]
fn answered_y_the_campaign_is_sent() {
    let rig = Rig::new();
    let output = in_terminal(&rig, &real_send(&rig, 3, &[]), "y\n");
    assert!(text(&output).contains(QUESTION), "{}", text(&output));
    assert!(text(&output).contains("[y/N]"), "{}", text(&output));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.sent().len(), 3);
}

#[test]
fn answered_n_nothing_is_sent() {
    let rig = Rig::new();
    for answer in ["n\n", "\n", "sim\n"] {
        let output = in_terminal(&rig, &real_send(&rig, 3, &[]), answer);
        assert!(text(&output).contains(QUESTION), "{}", text(&output));
        assert_eq!(code(&output), 2, "{}", text(&output));
        assert!(
            text(&output).contains("nothing was sent"),
            "{}",
            text(&output)
        );
        assert!(rig.log().is_empty(), "sent after {answer:?}");
        // No results file appears for a campaign that was never started.
        assert!(
            !rig.dir.path().join("c.results.csv").exists(),
            "a results file was left after {answer:?}"
        );
    }
}

/// Failed before the question knew of the ledger: it promised exactly 3 messages although
/// the ledger could skip some.
#[test]
fn without_a_ledger_the_question_counts_exactly_and_with_one_says_up_to() {
    let rig = Rig::new();
    let output = in_terminal(&rig, &real_send(&rig, 3, &["--ledger", "off"]), "n\n");
    let exact = "Send 3 messages from the number of your API key via pilot-status";
    assert!(text(&output).contains(exact), "{}", text(&output));
    assert_eq!(code(&output), 2, "{}", text(&output));
    // --allow-resend with no cap: the ledger has nothing to skip.
    let output = in_terminal(&rig, &real_send(&rig, 3, &["--allow-resend"]), "n\n");
    assert!(text(&output).contains(exact), "{}", text(&output));
    let output = in_terminal(
        &rig,
        &real_send(&rig, 3, &["--allow-resend", "--daily-cap", "100"]),
        "n\n",
    );
    assert!(text(&output).contains(QUESTION), "{}", text(&output));
    assert!(rig.log().is_empty());
}

#[test]
fn yes_or_the_campaign_files_yes_skip_the_question() {
    let rig = Rig::new();
    let output = in_terminal(&rig, &real_send(&rig, 3, &["--yes"]), "");
    assert!(!text(&output).contains("[y/N]"), "{}", text(&output));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.sent().len(), 3);

    let rig = Rig::new();
    rig.file("c.toml", "yes = true\n");
    let output = in_terminal(&rig, &real_send(&rig, 3, &[]), "");
    assert!(!text(&output).contains("[y/N]"), "{}", text(&output));
    assert_eq!(rig.sent().len(), 3);
}

#[test]
fn a_test_send_asks_too() {
    let rig = Rig::new();
    let mut args = real_send(&rig, 3, &["--to", "+5521999990001"]);
    args.insert(0, "test".into());
    let output = in_terminal(&rig, &args, "n\n");
    let question = "Send 1 message from the number of your API key via pilot-status";
    assert!(text(&output).contains(question), "{}", text(&output));
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(rig.log().is_empty());
    let output = in_terminal(&rig, &args, "y\n");
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.sent(), ["+5521999990001"]);
}

#[test]
fn a_rehearsal_or_a_dry_run_is_not_asked() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(2));
    let args: Vec<String> = [csv.to_str().unwrap(), "--sandbox", "--template", "t"]
        .map(String::from)
        .to_vec();
    let output = in_terminal(
        &rig,
        &[args, vec!["--spacing".into(), "0".into()]].concat(),
        "",
    );
    assert!(!text(&output).contains("[y/N]"), "{}", text(&output));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let output = in_terminal(&rig, &real_send(&rig, 3, &["--dry-run"]), "");
    assert!(!text(&output).contains("[y/N]"), "{}", text(&output));
    assert_eq!(code(&output), 0, "{}", text(&output));
}

#[test]
fn without_a_terminal_it_is_never_asked() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(3));
    let output = rig.run(rig.command(&csv).args(["--template", "boas_vindas"]));
    assert!(!text(&output).contains("[y/N]"), "{}", text(&output));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.sent().len(), 3);
}
