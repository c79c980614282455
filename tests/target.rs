//! A results file knows where its sends went (the sandbox, or a provider's API at a base URL)
//! and is refused against another target; a rehearsal keeps a results file of its own; runs
//! that cron starts exit with codes it can act on: 4 when another run holds the campaign, 2
//! for a base URL whose host does not exist.
//!
//! Each test here failed on the code before this change (commit e18a1f7): the real run after
//! a rehearsal sent nothing and exited 0, a file of another target was used, a held lock gave
//! exit 2, and an unresolvable host was retried into exit 3.

mod common;

use std::path::Path;

use campaign_sender::journal::Journal;
use common::*;

/// `--sandbox` with the rig's fast pace: the in-process sandbox, not the rig's.
fn rehearsal(csv: &Path) -> std::process::Command {
    let mut command = binary();
    command.arg(csv).args([
        "--sandbox",
        "--template",
        "t",
        "--spacing",
        "0",
        "--rate",
        "10000/s",
    ]);
    command
}

#[test]
fn a_rehearsal_then_the_real_run_sends_every_row_exactly_once() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(4));
    let output = rig.run(&mut rehearsal(&path));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let rehearsed = results(&rig.dir.path().join("c.sandbox.results.csv"));
    assert_eq!(rehearsed.len(), 4, "{rehearsed:?}");
    assert!(rehearsed.iter().all(|r| r["target"] == "sandbox"));
    assert!(
        !rig.dir.path().join("c.results.csv").exists(),
        "a rehearsal never touches the real campaign's results"
    );

    // The real command: the rig's sandbox plays the real API at its base URL.
    send_in_full(&rig, &path);
    let expected: Vec<String> = (0..4).map(phone).collect();
    assert_eq!(rig.sent(), expected, "every row, each once");
    let rows = results(&rig.dir.path().join("c.results.csv"));
    let target = format!("pilot-status {}", rig.sandbox.base_url());
    assert!(
        rows.iter()
            .all(|r| r["status"] == "QUEUED" && r["target"] == target),
        "{rows:?}"
    );

    // Rehearsing again reads its own file: nothing more reaches the real API.
    let output = rig.run(&mut rehearsal(&path));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.sent(), expected);
}

#[test]
fn a_rehearsals_results_are_refused_for_the_real_campaign_and_the_other_way_round() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(3));
    let real = rig.dir.path().join("c.results.csv");
    let output = rig.run(rehearsal(&path).arg("--results").arg(&real));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let before = std::fs::read(&real).unwrap();
    for dry_run in [true, false] {
        let mut command = rig.command(&path);
        command.args(["--template", "t"]);
        if dry_run {
            command.arg("--dry-run");
        }
        // Where the real sends are is not known: the file that holds them is asked for.
        let asked = "already sent with another --results file, give that file";
        assert_refused(
            &rig,
            &mut command,
            &["sandbox rehearsal", "reached no one", asked],
        );
        assert_eq!(std::fs::read(&real).unwrap(), before, "left untouched");
        assert_no_fresh_path_advice(&rig.run(&mut command));
    }
    // The same file named with --results: the real sends' file is asked for first.
    let mut command = rig.command(&path);
    command
        .args(["--template", "t", "--results"])
        .arg(rig.dir.path().join("c.sandbox.results.csv"));
    std::fs::copy(&real, rig.dir.path().join("c.sandbox.results.csv")).unwrap();
    let asked = ["give that file", "not been sent yet, leave out --results"];
    assert_refused(
        &rig,
        &mut command,
        &["sandbox rehearsal", asked[0], asked[1]],
    );

    // And a real campaign's file is never filled with a rehearsal's sends.
    let other = rig.file("d.csv", &campaign_csv(3));
    let real = rig.dir.path().join("d.results.csv");
    send_in_full(&rig, &other);
    let before = std::fs::read(&real).unwrap();
    let output = rig.run(rehearsal(&other).arg("--results").arg(&real));
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(text(&output).contains("real sends"), "{}", text(&output));
    assert_no_fresh_path_advice(&output);
    assert_eq!(std::fs::read(&real).unwrap(), before, "left untouched");
}

#[test]
fn a_results_file_is_refused_at_another_base_url_until_the_move_is_confirmed() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(3));
    send_in_full(&rig, &path);
    // Two sign-ups later, the API answers at another address.
    rig.file("c.csv", &campaign_csv(5));
    let moved = Rig::new();
    let mut command = moved.command(&path);
    command.args(["--template", "t"]);
    let old_url = rig.sandbox.base_url();
    assert_refused(&moved, &mut command, &[&old_url, "--retarget"]);
    assert_no_fresh_path_advice(&moved.run(&mut command));

    let output = moved.run(command.arg("--retarget"));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(moved.sent(), vec![phone(3), phone(4)], "only the new rows");
    assert_eq!(rig.sent().len(), 3);
    // Once moved, the same command goes on without the flag.
    send_in_full(&moved, &path);
    assert_eq!(moved.sent().len(), 2);
}

/// Failed before this change: a `--retarget` run with nothing new to send left every line
/// on the old target, so the next run without the flag was refused again.
#[test]
fn a_retarget_run_that_sends_nothing_moves_the_file_for_the_next_run() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(3));
    send_in_full(&rig, &path);
    let moved = Rig::new();
    let output = moved.run(moved.command(&path).args(["--template", "t", "--retarget"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert!(moved.sent().is_empty(), "nothing new to send");
    let rows = results(&rig.dir.path().join("c.results.csv"));
    let target = format!("pilot-status {}", moved.sandbox.base_url());
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| r["status"] == "QUEUED" && r["target"] == target),
        "{rows:?}"
    );

    // The same command without the flag goes on, and a new row goes to the new address.
    rig.file("c.csv", &campaign_csv(4));
    send_in_full(&moved, &path);
    assert_eq!(moved.sent(), vec![phone(3)]);
    assert_eq!(rig.sent().len(), 3);
}

#[test]
fn an_older_results_file_without_targets_is_accepted_as_is() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(3));
    rig.file(
        "c.results.csv",
        &format!(
            "row,destination,status,messageId,correlationId,httpStatus,errorCode,error,attempts,sentAt,rawDestination,sender\n\
             1,{p},QUEUED,msg_1,,202,,,1,2026-01-01T00:00:00Z,{p},\n",
            p = phone(0)
        ),
    );
    send_in_full(&rig, &path);
    assert_eq!(rig.sent(), vec![phone(1), phone(2)]);
}

#[test]
fn a_run_that_finds_the_campaign_held_exits_4_with_nothing_done() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(2));
    send_in_full(&rig, &path);
    let results_path = rig.dir.path().join("c.results.csv");
    let before = std::fs::read(&results_path).unwrap();
    rig.file("c.csv", &campaign_csv(3));
    let requests = rig.log().len();

    // Another live run holds the campaign: the real lock, taken by the real journal.
    let held = Journal::open(&results_path, b',').unwrap();
    let send = rig.run(rig.command(&path).args(["--template", "t"]));
    let status = rig.run(&mut rig.operation("status", &results_path));
    let cancel = rig.run(rig.operation("cancel", &results_path).arg("--yes"));
    for output in [&send, &status, &cancel] {
        assert_eq!(code(output), 4, "{}", text(output));
        let log = text(output);
        assert!(log.contains("WARN") && !log.contains("ERROR"), "{log}");
        assert!(
            log.contains(&format!("pid {}", std::process::id())),
            "{log}"
        );
    }
    assert_eq!(rig.log().len(), requests, "nothing was asked of the API");
    assert_eq!(std::fs::read(&results_path).unwrap(), before);
    drop(held);
    send_in_full(&rig, &path);
    assert_eq!(rig.sent(), vec![phone(0), phone(1), phone(2)]);
}

#[test]
fn a_base_url_whose_host_does_not_resolve_is_a_setup_error() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(2));
    // `.invalid` never resolves (RFC 6761): no request can leave the machine.
    let mut command = rig.command_to(&path, "https://no-such-host.invalid:8080");
    command.args(["--template", "t"]);
    assert_refused(&rig, &mut command, &["no-such-host.invalid", "--base-url"]);
    let results_path = rig.dir.path().join("c.results.csv");
    assert!(
        !results_path.exists() || results(&results_path).is_empty(),
        "nothing recorded"
    );
}

/// The real command, aimed at `rig`'s sandbox, to the end (exit 0).
fn send_in_full(rig: &Rig, csv: &Path) {
    let output = rig.run(rig.command(csv).args(["--template", "t"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
}

/// No refusal of a file with sends may send the user to a fresh results file.
fn assert_no_fresh_path_advice(output: &std::process::Output) {
    let log = text(output).to_lowercase();
    for advice in [
        "new path",
        "another path",
        "elsewhere",
        "fresh",
        "new --results",
    ] {
        assert!(!log.contains(advice), "'{advice}' advised in:\n{log}");
    }
}

#[test]
fn credentials_in_the_base_url_stay_out_of_the_results_and_messages() {
    let rig = Rig::new();
    let plain = rig.sandbox.base_url();
    // A gateway's user and password, and a key in its query.
    let with_credentials =
        plain.replace("http://", "http://gw-user:gw-secret@") + "?gw-apikey=gw-secret2";
    let csv = rig.file("c.csv", &campaign_csv(2));
    let results_path = rig.dir.path().join("c.results.csv");
    let run = |csv: &Path| {
        let output = rig.run(
            rig.command_to(csv, &with_credentials)
                .args(["--template", "t"]),
        );
        assert_eq!(code(&output), 0, "{}", text(&output));
        assert!(!text(&output).contains("gw-secret"), "{}", text(&output));
    };
    run(&csv);
    let written = std::fs::read_to_string(&results_path).unwrap();
    assert!(!written.contains("gw-"), "{written}");
    let target = format!("pilot-status {plain}");
    assert!(results(&results_path).iter().all(|r| r["target"] == target));

    // A file an earlier version wrote, credentials in its targets, is the same target: the
    // rerun goes on with the new row and sends none of the others again.
    std::fs::write(
        &results_path,
        written.replace(&target, &format!("pilot-status {with_credentials}")),
    )
    .unwrap();
    std::fs::write(&csv, campaign_csv(3)).unwrap();
    run(&csv);
    rig.assert_each_accepted_once(3);
}

#[test]
fn a_mistyped_address_that_never_answered_does_not_hold_the_file() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(2));
    // Nothing listens on port 1: the connection is refused, nothing is sent.
    let output = rig.run(rig.command_to(&csv, "http://127.0.0.1:1").args([
        "--template",
        "t",
        "--max-attempts",
        "1",
    ]));
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert_eq!(
        results(&rig.dir.path().join("c.results.csv"))[0]["status"],
        "DEFERRED"
    );
    // The address fixed: the campaign goes on without --retarget.
    let output = rig.run(rig.command(&csv).args(["--template", "t"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.sent(), [phone(0), phone(1)]);
}
