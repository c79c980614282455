//! Several sender numbers: each recipient always gets the same number, each number keeps
//! its own pace, a number the API refuses stops alone, and `status`/`cancel` ask about each
//! message with the key of the number that sent it. The sandbox scopes messages by key
//! (keys are number-scoped) and logs a fingerprint of the sending number, never the key.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use campaign_sender::sandbox::number_of;
use campaign_sender::settings::CampaignOptions;
use common::*;
use jiff::Timestamp;

/// The second number's key; the first is the rig's [`KEY`].
const NORTE_KEY: &str = "ps_test_NORTE_77c1";

const SENDERS: &str =
    "[centro]\nkey-env = \"PS_KEY_CENTRO\"\n[norte]\nkey-env = \"PS_KEY_NORTE\"\n";

fn senders_file(rig: &Rig) -> PathBuf {
    rig.file("senders.toml", SENDERS)
}

/// The binary with both numbers' keys in the environment (and no single key).
fn with_keys(mut command: std::process::Command, norte_key: &str) -> std::process::Command {
    command
        .env_remove("PILOT_STATUS_API_KEY")
        .env("PS_KEY_CENTRO", KEY)
        .env("PS_KEY_NORTE", norte_key);
    command
}

fn send(rig: &Rig, csv: &Path, norte_key: &str, extra: &[&str]) -> std::process::Output {
    let mut command = rig.command(csv);
    command
        .args(["--template", "t", "--senders"])
        .arg(senders_file(rig))
        .args(extra);
    let output = rig.run(&mut with_keys(command, norte_key));
    assert!(!text(&output).contains(NORTE_KEY), "{}", text(&output));
    output
}

fn key_of(label: &str) -> &'static str {
    match label {
        "centro" => KEY,
        "norte" => NORTE_KEY,
        other => panic!("unexpected sender '{other}'"),
    }
}

/// destination -> sender label, from a results file.
fn senders_by_destination(results_path: &Path) -> HashMap<String, String> {
    let text = std::fs::read_to_string(results_path).unwrap();
    assert!(!text.contains(NORTE_KEY), "a key leaked into the results");
    results(results_path)
        .into_iter()
        .map(|r| (r["destination"].clone(), r["sender"].clone()))
        .collect()
}

#[test]
fn each_recipient_is_sent_from_one_number_and_follow_ups_use_the_same_one() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(40));
    let output = send(&rig, &csv, NORTE_KEY, &[]);
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert!(
        text(&output).contains("per number, 2 numbers (centro, norte)"),
        "{}",
        text(&output)
    );

    let first = senders_by_destination(&rig.dir.path().join("c.results.csv"));
    assert_eq!(first.len(), 40);
    let used: Vec<&String> = first.values().collect();
    assert!(used.iter().any(|s| *s == "centro") && used.iter().any(|s| *s == "norte"));
    // The sandbox saw each message come with the key of the number the results name.
    for entry in rig.accepted() {
        let destination = entry.destination.clone().unwrap();
        let label = &first[&destination];
        assert_eq!(
            entry.sender,
            Some(number_of(key_of(label))),
            "{destination}"
        );
    }

    // The report splits the figures by number.
    let report = rig.run(
        binary()
            .arg("report")
            .arg(rig.dir.path().join("c.results.csv"))
            .arg("--json"),
    );
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    let per_number: HashMap<String, u64> = report["senders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["sender"].as_str().unwrap().to_string(),
                s["queued"].as_u64().unwrap(),
            )
        })
        .collect();
    for label in ["centro", "norte"] {
        let expected = first.values().filter(|s| *s == label).count() as u64;
        assert_eq!(per_number[label], expected, "{report}");
    }

    // A follow-up campaign: same people, another order, another file.
    let mut rows: Vec<String> = (0..40).rev().map(phone).collect();
    rows.insert(0, "phone".into());
    let follow_up = rig.file("follow-up.csv", &(rows.join("\n") + "\n"));
    let output = send(&rig, &follow_up, NORTE_KEY, &["--allow-resend"]);
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(
        senders_by_destination(&rig.dir.path().join("follow-up.results.csv")),
        first,
        "a follow-up reached someone from another number"
    );
}

#[test]
fn a_number_the_api_refuses_stops_alone_and_a_rerun_finishes_its_rows() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(30));
    let results_path = rig.dir.path().join("c.results.csv");
    // A tenant-scoped key: the API refuses it for every number endpoint (403).
    let output = send(&rig, &csv, "ps_tenant_wrong", &[]);
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert!(text(&output).contains("sender norte"), "{}", text(&output));

    let rows = results(&results_path);
    let norte_rows: Vec<_> = (0..30)
        .map(phone)
        .filter(|p| {
            campaign_sender::senders::assign(&labels(), p) == 1 // norte sorts second
        })
        .collect();
    assert!(!norte_rows.is_empty());
    let centro_sent = rows.iter().filter(|r| r["status"] == "QUEUED").count();
    assert_eq!(centro_sent, 30 - norte_rows.len(), "centro went on alone");
    for row in &rows {
        let expected = match row["status"].as_str() {
            "QUEUED" => "centro",
            _ => "norte",
        };
        assert_eq!(row["sender"], expected, "{row:?}");
    }
    assert_eq!(rows.iter().filter(|r| r["status"] == "DEFERRED").count(), 1);
    let refused = rig.log().iter().filter(|e| e.status == Some(403)).count();
    assert_eq!(refused, 1, "norte stopped at its first refusal");

    // Fixed key: the rerun sends norte's rows from norte, and nothing twice.
    let output = send(&rig, &csv, NORTE_KEY, &[]);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let counts = accepted_per_destination(&rig.log());
    assert_eq!(counts.len(), 30);
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    let by_destination = senders_by_destination(&results_path);
    for p in &norte_rows {
        assert_eq!(by_destination[p], "norte");
    }
}

fn labels() -> Vec<campaign_sender::senders::Sender> {
    ["centro", "norte"]
        .iter()
        .map(|l| campaign_sender::senders::Sender {
            label: l.to_string(),
            credential: campaign_sender::senders::sandbox_credential(
                campaign_sender::provider::ProviderKind::PilotStatus,
                l,
            ),
            instance_id: None,
            number: None,
            daily_cap: None,
        })
        .collect()
}

#[test]
fn status_and_cancel_use_the_key_of_the_number_that_sent_each_row() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(12));
    let results_path = rig.dir.path().join("c.results.csv");
    let output = send(
        &rig,
        &csv,
        NORTE_KEY,
        &["--deliver-at", "2099-01-01T09:00:00Z"],
    );
    assert_eq!(code(&output), 0, "{}", text(&output));

    // Without the senders file the pass cannot know which key to use: refused up front.
    let before = rig.log().len();
    let output = rig.run(&mut rig.operation("status", &results_path));
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(text(&output).contains("--senders"), "{}", text(&output));
    assert_eq!(rig.log().len(), before, "nothing was asked of the API");

    let mut status = rig.operation("status", &results_path);
    status.arg("--senders").arg(senders_file(&rig));
    let output = rig.run(&mut with_keys(status, NORTE_KEY));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let rows = results(&results_path);
    assert!(
        rows.iter().all(|r| r["deliveryStatus"] == "QUEUED"),
        "{rows:?}"
    );

    let mut cancel = rig.operation("cancel", &results_path);
    cancel.arg("--yes").arg("--senders").arg(senders_file(&rig));
    let output = rig.run(&mut with_keys(cancel, NORTE_KEY));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let rows = results(&results_path);
    assert!(
        rows.iter().all(|r| r["deliveryStatus"] == "CANCELED"),
        "{rows:?}"
    );
    // One cancel request per number: a key only reaches its own number's messages.
    let cancels: Vec<_> = rig
        .log()
        .into_iter()
        .filter(|e| e.method == "DELETE")
        .collect();
    assert_eq!(cancels.len(), 2);
    assert_ne!(cancels[0].sender, cancels[1].sender);
}

#[test]
fn a_missing_key_names_the_number_and_the_variable_before_anything_is_sent() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(3));
    let mut command = rig.command(&csv);
    command
        .args(["--template", "t", "--senders"])
        .arg(senders_file(&rig))
        .env_remove("PILOT_STATUS_API_KEY")
        .env("PS_KEY_CENTRO", KEY)
        .env_remove("PS_KEY_NORTE");
    assert_refused(&rig, &mut command, &["[norte]", "PS_KEY_NORTE"]);
}

#[test]
fn a_blank_inline_key_is_refused_before_anything_is_sent() {
    for (line, named) in [
        ("key = \"\"", "key is empty"),
        ("key = \"   \"", "key is empty"),
        ("key-id = \"\"", "key-id is empty"),
    ] {
        let rig = Rig::new();
        let csv = rig.file("c.csv", &campaign_csv(3));
        let senders = rig.file("s.toml", &format!("[a]\n{line}\n"));
        let mut command = rig.command(&csv);
        command.args(["--template", "t", "--senders"]).arg(&senders);
        assert_refused(&rig, &mut command, &["[a]", named, "key-env"]);
    }
}

const START: &str = "2026-06-01T12:00:00Z";

/// Each number keeps the full spacing between its own sends, while the numbers send side by
/// side: on a simulated clock, so the pace is exact and nothing waits.
#[test]
fn each_number_keeps_its_own_spacing_and_the_numbers_send_side_by_side() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(40));
    let senders = rig.file(
        "senders.toml",
        "[centro]\nkey = \"ps_test_a\"\n[norte]\nkey = \"ps_test_b\"\n[sul]\nkey = \"ps_test_c\"\n",
    );
    let flags = CampaignOptions {
        spacing: Some("10s".into()),
        rate: Some("1000/min".into()),
        senders: Some(senders),
        ..CampaignOptions::default()
    };
    let summary = run_in_process(&rig, &csv, flags, START.parse().unwrap());
    assert_eq!(summary.queued, 40);

    // Judged from when the requests reached the sandbox, on the same simulated clock.
    let arrivals = rig.arrivals();
    let mut by_sender: HashMap<String, Vec<Timestamp>> = HashMap::new();
    for arrival in &arrivals {
        by_sender
            .entry(arrival.sender.clone())
            .or_default()
            .push(arrival.at);
    }
    assert_eq!(arrivals.len(), 40, "one request per row");
    assert_eq!(by_sender.len(), 3, "{by_sender:?}");
    let mut longest = 0;
    for (sender, starts) in by_sender {
        longest = longest.max(starts.len());
        for pair in starts.windows(2) {
            assert!(
                gap(pair[0], pair[1]) >= Duration::from_secs(10),
                "{sender}: {:?}",
                gap(pair[0], pair[1])
            );
        }
    }
    // Side by side: the run lasts as long as the busiest number's share, not 40 spacings.
    let took = gap(START.parse().unwrap(), arrivals.last().unwrap().at);
    assert!(
        took < Duration::from_secs(10 * longest as u64 + 10),
        "numbers sent one after another: {took:?}"
    );
}

#[test]
fn a_wait_an_earlier_run_wrote_down_for_one_number_holds_that_number_alone() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(40));
    // An earlier run's 429 to `norte`, on a recipient since taken off the list.
    let header = campaign_sender::journal::COLUMNS.join(",");
    let gone = phone(99);
    std::fs::write(
        rig.dir.path().join("c.results.csv"),
        format!(
            "{header}\n,{gone},DEFERRED,,,429,RATE_LIMITED,\"slow down; the API asked to wait \
             until 2099-01-01T00:00:00Z\",1,2026-06-01T12:00:00Z,{gone},norte,,\n"
        ),
    )
    .unwrap();
    let output = send(&rig, &csv, NORTE_KEY, &[]);
    let said = text(&output);
    assert_eq!(code(&output), 3, "{said}");
    assert!(
        said.contains("sender norte: an earlier run's answer asked to wait until 2099"),
        "{said}"
    );
    let accepted = rig.accepted();
    assert!(!accepted.is_empty(), "centro went on: {said}");
    for entry in &accepted {
        assert_eq!(entry.sender, Some(number_of(KEY)), "norte sent: {entry:?}");
    }
    assert!(accepted.len() < 40, "{said}");
}

/// A key pasted where its variable's name belongs (`key-env = "ps_live_…"`) is never
/// repeated: the refusal says what `key-env` is for, and to rotate a key that was shared.
#[test]
fn a_key_written_in_place_of_its_variable_s_name_is_never_shown() {
    let pasted = [
        "ps_live_9f8e7d6c5b4a39281706",
        "PSLIVE9F8E7D6C5B4A39281706",
        "ps-live.9f8e7d6c",
    ];
    for setting in ["key-env", "key-id-env"] {
        for key in pasted {
            let rig = Rig::new();
            let csv = rig.file("c.csv", &campaign_csv(3));
            let senders = rig.file("s.toml", &format!("[loja]\n{setting} = \"{key}\"\n"));
            let mut command = rig.command(&csv);
            command
                .args(["--template", "t", "--senders"])
                .arg(&senders)
                .env_remove("PILOT_STATUS_API_KEY");
            let output = rig.run(&mut command);
            let said = text(&output);
            assert_eq!(code(&output), 2, "{said}");
            assert!(rig.log().is_empty(), "something was sent: {said}");
            assert!(!said.contains(key), "the key was shown: {said}");
            assert!(
                !said.contains("9f8e7d6c"),
                "part of the key was shown: {said}"
            );
            for needle in [
                "[loja]",
                &format!("{setting} must name an environment variable"),
                "not shown",
                "rotate the key",
            ] {
                assert!(said.contains(needle), "missing '{needle}' in: {said}");
            }
        }
    }
}

/// Labels a spreadsheet makes one (`01` re-saved as `1`, `1e5` as `100000`) are refused
/// before any send: a later `status` would ask about one number's messages with the other's
/// key.
#[test]
fn labels_a_spreadsheet_would_make_one_are_refused_before_anything_is_sent() {
    for (a, b) in [("01", "1"), ("007", "7"), ("0", "00"), ("100000", "1e5")] {
        let rig = Rig::new();
        let csv = rig.file("c.csv", &campaign_csv(3));
        let senders = rig.file(
            "s.toml",
            &format!("[{a}]\nkey-env = \"PS_KEY_CENTRO\"\n[{b}]\nkey-env = \"PS_KEY_NORTE\"\n"),
        );
        let mut command = rig.command(&csv);
        command.args(["--template", "t", "--senders"]).arg(&senders);
        let mut command = with_keys(command, NORTE_KEY);
        assert_refused(
            &rig,
            &mut command,
            &[&format!("[{a}] and [{b}]"), "rename one of them"],
        );
    }
}

/// A results file a spreadsheet re-saved (the `sender` cell `01` now `1`, `1e5` now
/// `1.00E+05`) is still asked about with that number's key.
#[test]
fn status_finds_a_label_a_spreadsheet_re_saved_as_a_number() {
    for (label, as_saved) in [("01", "1"), ("1e5", "1.00E+05")] {
        let rig = Rig::new();
        let csv = rig.file("c.csv", &campaign_csv(12));
        let senders = rig.file(
            "s.toml",
            &format!(
                "[{label}]\nkey-env = \"PS_KEY_CENTRO\"\n[norte]\nkey-env = \"PS_KEY_NORTE\"\n"
            ),
        );
        let results_path = rig.dir.path().join("c.results.csv");
        let mut command = rig.command(&csv);
        command
            .args(["--template", "t", "--deliver-at", "2099-01-01T09:00:00Z"])
            .arg("--senders")
            .arg(&senders);
        let output = rig.run(&mut with_keys(command, NORTE_KEY));
        assert_eq!(code(&output), 0, "{}", text(&output));
        let by_label = (results(&results_path).iter())
            .filter(|r| r["sender"] == label)
            .count();
        assert!(by_label > 0, "no row was sent by {label}");
        // What a spreadsheet does to the cell.
        let saved = std::fs::read_to_string(&results_path).unwrap();
        let retyped = saved.replace(&format!(",{label},"), &format!(",{as_saved},"));
        std::fs::write(&results_path, retyped).unwrap();
        assert_eq!(
            (results(&results_path).iter())
                .filter(|r| r["sender"] == as_saved)
                .count(),
            by_label
        );

        let mut status = rig.operation("status", &results_path);
        status.arg("--senders").arg(&senders);
        let output = rig.run(&mut with_keys(status, NORTE_KEY));
        assert_eq!(code(&output), 0, "{label}: {}", text(&output));
        let rows = results(&results_path);
        assert!(
            rows.iter().all(|r| r["deliveryStatus"] == "QUEUED"),
            "{rows:?}"
        );
    }
}

/// A label a spreadsheet may take for a date is sent with, with a warning that says what a
/// re-save would do; once it did, `status` says a label may have been retyped.
#[test]
fn a_label_a_spreadsheet_may_take_for_a_date_is_warned_about() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(12));
    let senders = rig.file(
        "s.toml",
        "[1-2]\nkey-env = \"PS_KEY_CENTRO\"\n[norte]\nkey-env = \"PS_KEY_NORTE\"\n",
    );
    let results_path = rig.dir.path().join("c.results.csv");
    let mut command = rig.command(&csv);
    command
        .args(["--template", "t"])
        .arg("--senders")
        .arg(&senders);
    let output = rig.run(&mut with_keys(command, NORTE_KEY));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert!(
        text(&output).contains("[1-2]: a spreadsheet may read this label as a date"),
        "{}",
        text(&output)
    );
    let saved = std::fs::read_to_string(&results_path).unwrap();
    assert!(saved.contains(",1-2,"), "no row was sent by 1-2");
    std::fs::write(&results_path, saved.replace(",1-2,", ",2-Jan,")).unwrap();
    let mut status = rig.operation("status", &results_path);
    status.arg("--senders").arg(&senders);
    let output = rig.run(&mut with_keys(status, NORTE_KEY));
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(
        text(&output).contains("may have retyped a label"),
        "{}",
        text(&output)
    );
}

#[test]
fn a_dry_run_of_several_numbers_needs_none_of_their_keys() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(4));
    let mut command = rig.command(&csv);
    command
        .args(["--template", "t", "--dry-run", "--senders"])
        .arg(senders_file(&rig))
        .env_remove("PILOT_STATUS_API_KEY")
        .env_remove("PS_KEY_CENTRO")
        .env_remove("PS_KEY_NORTE");
    let output = rig.run(&mut command);
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert!(!text(&output).contains("same number"), "{}", text(&output));
    let bodies = String::from_utf8_lossy(&output.stdout).lines().count();
    assert_eq!(bodies, 4, "{}", text(&output));
}
