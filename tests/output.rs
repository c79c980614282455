//! What the commands write for other programs: a closed stdout (`| head -1`, `| true`) ends a
//! command quietly with its own exit code; `--dry-run` stdout is JSON lines only; under
//! `--log-format json` every stderr line is one JSON object.

mod common;

use std::process::{Command, Output, Stdio};

use common::*;

/// Runs `command` with its stdout closed before it writes anything, as `| true` does.
fn with_stdout_closed(command: &mut Command) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("the binary ends");
    assert_no_key(&output);
    output
}

fn assert_quiet(output: &Output, want: i32, what: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(code(output), want, "{what}: {stderr}");
    for needle in ["panicked", "Broken pipe", "broken pipe"] {
        assert!(!stderr.contains(needle), "{what}: {stderr}");
    }
}

/// A sent 3-row campaign: its CSV and results paths.
fn sent_campaign(rig: &Rig) -> (std::path::PathBuf, std::path::PathBuf) {
    let csv = rig.file("c.csv", &campaign_csv(3));
    let output = rig.run(rig.command(&csv).args(["--template", "t"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    (csv, rig.dir.path().join("c.results.csv"))
}

#[test]
fn a_closed_stdout_ends_every_command_quietly_with_its_own_exit_code() {
    let rig = Rig::new();
    let (csv, results) = sent_campaign(&rig);
    let report = with_stdout_closed(binary().arg("report").arg(&results));
    assert_quiet(&report, 0, "report");
    let json = with_stdout_closed(binary().args(["report", "--json"]).arg(&results));
    assert_quiet(&json, 0, "report --json");
    let status = with_stdout_closed(&mut rig.operation("status", &results));
    assert_quiet(&status, 0, "status");
    let cancel = with_stdout_closed(rig.operation("cancel", &results).arg("--yes"));
    assert!([0, 1].contains(&code(&cancel)), "cancel: {}", text(&cancel));
    assert_quiet(&cancel, code(&cancel), "cancel");
    let dry_run = with_stdout_closed(rig.command(&csv).args(["--template", "t", "--dry-run"]));
    assert_quiet(&dry_run, 0, "dry run");
    // A finished campaign run again: only the summary is written.
    let rerun = with_stdout_closed(rig.command(&csv).args(["--template", "t"]));
    assert_quiet(&rerun, 0, "rerun");
}

/// A stdout on a full disk (`report > report.txt`, here `/dev/full`) fails the commands
/// whose product is what they print (exit 2, saying so), so `&&` and cron do not go on with
/// half of it; a send's summary only reports rows the results file holds, so a send keeps
/// its own exit code.
#[test]
fn a_stdout_on_a_full_disk_fails_the_commands_whose_product_it_is() {
    let rig = Rig::new();
    let full = || std::fs::File::create("/dev/full").expect("/dev/full");
    let (_, sent) = sent_campaign(&rig);
    let fresh = Rig::new();
    let more = fresh.file("more.csv", &campaign_csv(4));
    for (what, command) in [
        ("report", binary().arg("report").arg(&sent)),
        (
            "report --json",
            binary().args(["report", "--json"]).arg(&sent),
        ),
        (
            "dry run",
            fresh.command(&more).args(["--template", "t", "--dry-run"]),
        ),
        ("completions", binary().args(["completions", "bash"])),
    ] {
        let output = command.stdout(full()).output().unwrap();
        assert_eq!(code(&output), 2, "{what}: {}", text(&output));
        assert!(
            text(&output).contains("stdout"),
            "{what}: {}",
            text(&output)
        );
    }
    let send = fresh
        .command(&more)
        .args(["--template", "t"])
        .stdout(full())
        .output();
    assert_eq!(code(&send.unwrap()), 0);
    let rows = results(&fresh.dir.path().join("more.results.csv"));
    assert!(rows.len() == 4 && rows.iter().all(|r| r["status"] == "QUEUED"));
}

/// A log that cannot be written (a cron job's log on a full disk, here `/dev/full`) does
/// not stop a command: a send still records every row, a refusal still exits with its code.
#[test]
fn a_stderr_that_cannot_be_written_changes_no_exit_code() {
    let rig = Rig::new();
    let full = || std::fs::File::create("/dev/full").expect("/dev/full");
    let csv = rig.file("c.csv", &campaign_csv(3));
    let send = rig
        .command(&csv)
        .args(["--template", "t"])
        .stderr(full())
        .output();
    assert_eq!(code(&send.unwrap()), 0);
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert!(rows.len() == 3 && rows.iter().all(|r| r["status"] == "QUEUED"));
    let missing = rig.dir.path().join("missing.results.csv");
    let report = binary().arg("report").arg(&missing).stderr(full()).output();
    assert_eq!(code(&report.unwrap()), 2, "refused, not a panic (101)");
}

#[test]
fn dry_run_stdout_is_json_lines_only_and_the_summary_goes_to_stderr() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &format!("{}not-a-number,X\n", campaign_csv(9)));
    let output = rig.run(rig.command(&csv).args(["--template", "t", "--dry-run"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    let rows: Vec<u64> = stdout
        .lines()
        .map(|line| {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
            v["row"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(rows, (1..=9).collect::<Vec<u64>>());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("dry run: nothing was sent"), "{stderr}");
    assert!(stderr.contains("Preflight:"), "{stderr}");
}

/// Every stderr line of `output` parsed as JSON.
fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
        })
        .collect()
}

/// The first event whose message starts with `start`.
fn event<'a>(events: &'a [serde_json::Value], start: &str) -> &'a serde_json::Value {
    events
        .iter()
        .find(|e| {
            e["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(start))
        })
        .unwrap_or_else(|| panic!("no event '{start}' in {events:#?}"))
}

#[test]
fn json_logs_make_every_stderr_line_an_object_with_the_preflight_and_summary_as_fields() {
    let rig = Rig::new();
    // Windows-1252 (a preflight note), one invalid row, one duplicate.
    let mut bytes = campaign_csv(3).into_bytes();
    bytes.extend_from_slice(b"+5511910000000,Jos\xe9\nnot-a-number,X\n");
    let csv = rig.dir.path().join("c.csv");
    std::fs::write(&csv, bytes).unwrap();
    for dry_run in [true, false] {
        let mut command = rig.command(&csv);
        command.args(["--template", "t", "--log-format", "json"]);
        if dry_run {
            command.arg("--dry-run");
        }
        let output = rig.run(&mut command);
        assert_eq!(code(&output), 1 - i32::from(dry_run), "{}", text(&output));
        let events = json_lines(&output);
        let preflight = &event(&events, "preflight")["fields"];
        assert_eq!(
            (
                &preflight["rows"],
                &preflight["valid"],
                &preflight["invalid"],
                &preflight["duplicates"],
                &preflight["to_send"]
            ),
            (&5.into(), &3.into(), &1.into(), &1.into(), &3.into()),
            "{preflight:#}"
        );
        event(&events, "the file is not UTF-8");
        let summary = &event(&events, if dry_run { "dry run" } else { "5 rows" })["fields"];
        assert_eq!(summary["dry_run"], dry_run, "{summary:#}");
        if !dry_run {
            assert_eq!(
                (&summary["queued"], &summary["invalid"]),
                (&3.into(), &2.into())
            );
            assert!(output.stdout.is_empty(), "{}", text(&output));
        }
    }
    // A refused file: the error is an event too.
    let bad = rig.file("bad.csv", "phone,nome\n+5511900000001,\"Ana\n");
    let output = rig.run(
        rig.command(&bad)
            .args(["--template", "t", "--log-format", "json"]),
    );
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert_eq!(event(&json_lines(&output), "row 1")["level"], "ERROR");
}

/// Under `--log-format json` a command line clap refuses is one JSON object on stderr too,
/// and the log flags may come before a command's name (`campaign-sender -q report r.csv`).
#[test]
fn log_flags_go_before_a_command_and_a_refused_command_line_logs_as_json() {
    let rig = Rig::new();
    let (_, sent) = sent_campaign(&rig);
    for flags in [
        &["-q"][..],
        &["--log-format", "json"],
        &["--log-format=json", "-v"],
    ] {
        let output = binary()
            .args(flags)
            .arg("report")
            .arg(&sent)
            .output()
            .unwrap();
        assert_eq!(code(&output), 0, "{flags:?}: {}", text(&output));
        assert!(text(&output).contains("Campaign report"), "{flags:?}");
    }
    let csv = rig.file("c2.csv", &campaign_csv(1));
    let output = binary()
        .args(["--log-format", "json"])
        .arg(&csv)
        .arg("--dry-runn")
        .output()
        .unwrap();
    assert_eq!(code(&output), 2);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    let event: serde_json::Value = serde_json::from_str(lines[0]).expect("one JSON object");
    assert_eq!(event["level"], "ERROR");
    let message = event["fields"]["message"].as_str().unwrap();
    assert!(
        message.contains("--dry-runn") && message.contains("--dry-run"),
        "{message}"
    );
    // Without it, clap's own text, as before.
    let output = binary().arg(&csv).arg("--dry-runn").output().unwrap();
    assert_eq!(code(&output), 2);
    assert!(
        text(&output).starts_with("error: unexpected argument"),
        "{}",
        text(&output)
    );
}

#[test]
fn a_quiet_json_run_still_logs_its_summary() {
    // Text mode prints the summary whatever the verbosity; cron with -q and JSON logs
    // must not lose the counts and the advice to rerun.
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(2));
    for quiet in ["-q", "-qq"] {
        let output =
            rig.run(
                rig.command(&csv)
                    .args(["--template", "t", "--log-format", "json", quiet]),
            );
        assert_eq!(code(&output), 0, "{}", text(&output));
        let events = json_lines(&output);
        let summary = &event(&events, "2 rows")["fields"];
        assert_eq!(summary["queued"], 2, "{quiet}: {summary:#}");
    }
}
