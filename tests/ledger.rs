//! The ledger across runs and campaigns, against the sandbox: daily caps per number,
//! frequency caps per recipient, no resend from another results file, the quota restored
//! after a restart, and two processes writing one ledger at once.

mod common;

use std::path::Path;

use campaign_sender::ledger::{
    Ledger as _, Lookups as _, Settled, SqliteLedger, destination_fingerprint,
};
use campaign_sender::settings::CampaignOptions;
use common::*;
use jiff::Timestamp;

/// A campaign CSV of the numbers `from..to`.
fn numbers(rig: &Rig, name: &str, range: std::ops::Range<usize>) -> std::path::PathBuf {
    let mut csv = String::from("phone\n");
    for i in range {
        csv.push_str(&format!("{}\n", phone(i)));
    }
    rig.file(name, &csv)
}

/// Sends `csv` with template `template` and extra flags; the results beside it.
fn send(rig: &Rig, csv: &Path, template: &str, flags: &[&str]) -> std::process::Output {
    rig.run(rig.command(csv).args(["--template", template]).args(flags))
}

fn results_of(csv: &Path) -> Vec<std::collections::HashMap<String, String>> {
    results(&csv.with_extension("results.csv"))
}

#[test]
fn two_campaigns_sharing_a_ledger_stop_at_the_daily_cap_together() {
    let rig = Rig::new();
    let first = numbers(&rig, "a.csv", 0..3);
    let output = send(&rig, &first, "a", &["--daily-cap", "5"]);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let second = numbers(&rig, "b.csv", 10..16);
    let output = send(&rig, &second, "b", &["--daily-cap", "5"]);
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert_eq!(rig.sent().len(), 5, "5 in all across both campaigns");
    assert!(
        text(&output).contains("the next send is allowed at"),
        "{}",
        text(&output)
    );
    let rows = results_of(&second);
    assert_eq!(
        rows.len(),
        2,
        "rows over the cap stay pending, with no line: {rows:?}"
    );
    assert!(rows.iter().all(|r| r["status"] == "QUEUED"));
    // A rerun at once sends nothing more: the cap is still spent.
    let output = send(&rig, &second, "b", &["--daily-cap", "5"]);
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert_eq!(rig.sent().len(), 5);
}

/// Sends waiting for their turn have taken nothing from the cap: at `--concurrency 16` and a
/// quota, a cap of 10 sends 10, not the few that had their turn before the 11th asked.
#[test]
fn a_daily_cap_is_used_up_whatever_the_concurrency() {
    let rig = Rig::new();
    let list = numbers(&rig, "c.csv", 0..30);
    let flags = [
        "--concurrency",
        "16",
        "--rate",
        "200/s",
        "--daily-cap",
        "10",
    ];
    let output = send(&rig, &list, "t", &flags);
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert_eq!(rig.sent().len(), 10, "{}", text(&output));
    assert_eq!(
        results_of(&list).len(),
        10,
        "the other rows stay pending, with no line"
    );
}

/// Two campaigns of one number started together: each counted the ledger at its start, so
/// each alone would fill the cap. The cap is judged again as each intent is recorded.
#[test]
fn two_campaigns_of_one_number_run_at_once_stay_within_its_daily_cap() {
    let rig = Rig::with_faults("latency=5ms");
    let lists = [("a.csv", "a", 0..20), ("b.csv", "b", 100..120)];
    let mut runs = lists.clone().map(|(name, template, range)| {
        rig.command(&numbers(&rig, name, range))
            .args([
                "--template",
                template,
                "--concurrency",
                "4",
                "--daily-cap",
                "5",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    });
    for run in &mut runs {
        assert_eq!(run.wait().unwrap().code(), Some(3), "both stop at the cap");
    }
    assert_eq!(rig.sent().len(), 5, "5 in all across both campaigns");
    // A row refused as its intent was recorded goes back to be sent, never SKIPPED.
    for (name, ..) in lists {
        let rows = results_of(&rig.dir.path().join(name));
        for row in rows.iter().filter(|r| r["status"] != "QUEUED") {
            assert_eq!(
                (row["status"].as_str(), row["errorCode"].as_str()),
                ("DEFERRED", "DAILY_CAP")
            );
        }
    }
}

/// `campaign-sender test` of `csv`'s first row to `to`, on the rig's ledger.
fn test_to(rig: &Rig, csv: &Path, to: &str, flags: &[&str]) -> std::process::Output {
    let mut command = rig.tester(csv, &rig.sandbox.base_url());
    rig.run(command.args(["--to", to]).args(flags))
}

/// A test message is a send of the number: it counts against the number's daily cap (and is
/// refused once the cap is spent), but it does not make its phone a recipient the list has
/// already reached.
#[test]
fn test_messages_count_against_the_daily_cap_but_never_skip_a_list_s_row() {
    let rig = Rig::new();
    let list = numbers(&rig, "c.csv", 0..2);
    let output = test_to(&rig, &list, &phone(1), &["--daily-cap", "2"]);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let ledger = SqliteLedger::open(&rig.ledger()).unwrap();
    assert_eq!(
        ledger
            .received_since(
                destination_fingerprint(&phone(1)),
                (0, i64::MAX),
                Settled::default()
            )
            .unwrap(),
        1
    );
    // The list: row 2 is the test's phone, and is sent all the same; the cap of 2 leaves
    // room for one of the two rows.
    let output = send(&rig, &list, "t", &["--daily-cap", "2"]);
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert_eq!(rig.sent().len(), 2, "the test and one row");
    assert_eq!(results_of(&list)[0]["status"], "QUEUED");
    // The cap is spent: a test sends nothing and says so.
    let output = test_to(&rig, &list, &phone(9), &["--daily-cap", "2"]);
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert!(
        text(&output).contains("daily cap of 2")
            && text(&output).contains("stopped at message 1 of 1; the 0 after it"),
        "{}",
        text(&output)
    );
    assert_eq!(rig.sent().len(), 2);
    // The list's row 2, to the test's phone, goes once the cap allows.
    let output = send(&rig, &list, "t", &["--daily-cap", "3"]);
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(results_of(&list)[1]["status"], "QUEUED", "not ALREADY_SENT");
}

#[test]
fn a_recipient_the_first_campaign_reached_is_skipped_under_a_frequency_cap() {
    let rig = Rig::new();
    let first = numbers(&rig, "a.csv", 0..3);
    assert_eq!(code(&send(&rig, &first, "a", &[])), 0);
    let second = numbers(&rig, "b.csv", 0..5);
    let output = send(&rig, &second, "b", &["--frequency-cap", "1/7d"]);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let rows = results_of(&second);
    let skipped: Vec<&str> = rows
        .iter()
        .filter(|r| r["status"] == "SKIPPED")
        .map(|r| r["errorCode"].as_str())
        .collect();
    assert_eq!(skipped, ["FREQUENCY_CAP"; 3], "{rows:?}");
    assert_eq!(rig.sent().len(), 3 + 2);
    assert_eq!(
        accepted_per_destination(&rig.log()).values().max(),
        Some(&1)
    );
}

#[test]
fn the_same_csv_under_a_second_results_path_sends_no_duplicate() {
    let rig = Rig::new();
    let csv = numbers(&rig, "c.csv", 0..4);
    let output = send(&rig, &csv, "t", &[]);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let first = results_of(&csv);
    let elsewhere = rig.dir.path().join("copy.results.csv");
    let output = send(&rig, &csv, "t", &["--results", elsewhere.to_str().unwrap()]);
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.sent().len(), 4, "no duplicate");
    let second = results(&elsewhere);
    for (before, now) in first.iter().zip(&second) {
        assert_eq!(now["status"], "SKIPPED");
        assert_eq!(now["errorCode"], "ALREADY_SENT");
        assert_eq!(
            now["messageId"], before["messageId"],
            "the earlier id is kept"
        );
    }
    // Deleting the results file does not make anyone a new recipient either.
    std::fs::remove_file(csv.with_extension("results.csv")).unwrap();
    assert_eq!(code(&send(&rig, &csv, "t", &[])), 0);
    assert_eq!(rig.sent().len(), 4);
    // Another message is another campaign; --allow-resend says a second send is intended.
    let third = rig.dir.path().join("third.results.csv");
    let output = send(
        &rig,
        &csv,
        "t",
        &["--allow-resend", "--results", third.to_str().unwrap()],
    );
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.sent().len(), 8);
    // The skipped rows' advice, taken on a rerun of the same results: they are sent, once.
    let again = ["--allow-resend", "--results", elsewhere.to_str().unwrap()];
    let output = send(&rig, &csv, "t", &again);
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.sent().len(), 12);
    assert!(results(&elsewhere).iter().all(|r| r["status"] == "QUEUED"));
    let output = send(&rig, &csv, "t", &again);
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.sent().len(), 12, "QUEUED now: not sent again");
}

/// Two copies of a campaign's folder run at once (two cron entries, two people): each
/// results file knows nothing of the other, so the shared ledger is the only guard. A check
/// before the send is not enough: both runs pass it before either records its intent. The
/// rules are judged again in the transaction that records each intent.
#[test]
fn two_copies_of_a_campaign_run_at_once_send_each_row_once() {
    two_copies_at_once(&[]);
    // The second told to resend what its own file left uncertain: another run's sends in
    // flight still count.
    two_copies_at_once(&["--resend-uncertain"]);
}

fn two_copies_at_once(second: &[&str]) {
    // Answers a few milliseconds late, so both runs are mid-list at the same time.
    let rig = Rig::with_faults("latency=5ms");
    let list = (0..100)
        .map(|i| format!("{}\n", phone(i)))
        .collect::<String>();
    let folders = ["a", "b"].map(|name| {
        let folder = rig.dir.path().join(name);
        std::fs::create_dir(&folder).unwrap();
        let csv = folder.join("c.csv");
        std::fs::write(&csv, format!("phone\n{list}")).unwrap();
        csv
    });
    // Each run from its own folder, as a cron line does (`cd folder && campaign-sender
    // c.csv`): both results files are `c.results.csv` by the names given.
    let mut runs = [(&folders[0], &[][..]), (&folders[1], second)].map(|(csv, flags)| {
        rig.command(Path::new("c.csv"))
            .current_dir(csv.parent().unwrap())
            .args(["--template", "t", "--concurrency", "8"])
            .args(flags)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    });
    for run in &mut runs {
        assert!(run.wait().unwrap().success());
    }
    let accepted = accepted_per_destination(&rig.log());
    assert_eq!(accepted.len(), 100, "every row reached once");
    let twice: Vec<_> = accepted.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    // Each row is QUEUED in one copy and SKIPPED as ALREADY_SENT in the other, with that id
    // when it was known by then (none while the other send was still in flight).
    let [a, b] = folders.map(|csv| results_of(&csv));
    for (row_a, row_b) in a.iter().zip(&b) {
        let (queued, skipped) = match row_a["status"].as_str() {
            "QUEUED" => (row_a, row_b),
            _ => (row_b, row_a),
        };
        assert_eq!(queued["status"], "QUEUED", "{row_a:?} {row_b:?}");
        assert_eq!(skipped["status"], "SKIPPED", "{row_a:?} {row_b:?}");
        assert_eq!(skipped["errorCode"], "ALREADY_SENT");
        let id = &skipped["messageId"];
        assert!(
            id.is_empty() || *id == queued["messageId"],
            "{row_a:?} {row_b:?}"
        );
    }
}

/// A list whose rows name their template (a `templateId` column, as in the README's sample)
/// has no campaign-level message: the template its rows name is what tells it from the next
/// list. Sending another template to the same people is a new campaign; the same list under
/// another results path is not.
#[test]
fn lists_whose_rows_name_different_templates_are_different_campaigns() {
    let rig = Rig::new();
    let list = |name: &str, template: &str| {
        let rows: String = (0..3)
            .map(|i| format!("{},{template}\n", phone(i)))
            .collect();
        rig.file(name, &format!("phone,templateId\n{rows}"))
    };
    let welcome = list("welcome.csv", "welcome");
    let output = rig.run(&mut rig.command(&welcome));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let promo = list("promo.csv", "promo");
    let output = rig.run(&mut rig.command(&promo));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(
        rig.sent().len(),
        6,
        "the second template reaches everyone too"
    );
    assert!(results_of(&promo).iter().all(|r| r["status"] == "QUEUED"));
    // The first list again, from a copy of its folder: the same campaign, nothing sent.
    let copy = rig.dir.path().join("copy.results.csv");
    let output = rig.run(
        rig.command(&welcome)
            .args(["--results", copy.to_str().unwrap()]),
    );
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.sent().len(), 6, "no duplicate");
    assert!(
        results(&copy)
            .iter()
            .all(|r| r["errorCode"] == "ALREADY_SENT")
    );
    // The same template named by --template instead of the rows: what is sent is the same
    // message, so the same campaign.
    let plain = numbers(&rig, "plain.csv", 0..3);
    let output = send(&rig, &plain, "welcome", &[]);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let rows = results_of(&plain);
    assert!(
        rows.iter().all(|r| r["errorCode"] == "ALREADY_SENT"),
        "{rows:?}"
    );
    assert_eq!(rig.sent().len(), 6);
    // A list with a campaign template whose rows name another: the rows' template is what
    // they send, so the campaign's earlier sends do not make them ALREADY_SENT.
    let overriding = list("override.csv", "autumn");
    let output = send(&rig, &overriding, "welcome", &[]);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let rows = results_of(&overriding);
    assert!(rows.iter().all(|r| r["status"] == "QUEUED"), "{rows:?}");
    assert_eq!(rig.sent().len(), 9);
}

/// Sends one row, then, as a rerun at once (the simulated clock has not moved), two more
/// under `flags`: every send, across the restart too, is at least 30 s after the last.
fn assert_a_restart_keeps_30s_between_sends(flags: impl Fn() -> CampaignOptions) {
    let rig = Rig::new();
    let start: Timestamp = "2026-06-01T12:00:00Z".parse().unwrap();
    // The first run ends after its one send, as a kill right after it would leave it.
    let first = numbers(&rig, "a.csv", 0..1);
    assert_eq!(run_in_process(&rig, &first, flags(), start).queued, 1);
    let rest = numbers(&rig, "b.csv", 1..3);
    assert_eq!(run_in_process(&rig, &rest, flags(), start).queued, 2);
    let arrivals: Vec<Timestamp> = rig.arrivals().iter().map(|a| a.at).collect();
    assert_eq!(arrivals.len(), 3);
    for pair in arrivals.windows(2) {
        assert!(
            gap(pair[0], pair[1]) >= std::time::Duration::from_secs(30),
            "30 s apart, across the restart too: {arrivals:?}"
        );
    }
}

#[test]
fn a_restart_right_after_a_send_waits_out_the_quota() {
    assert_a_restart_keeps_30s_between_sends(|| CampaignOptions {
        rate: Some("2/min".into()),
        spacing: Some("0".into()),
        ..CampaignOptions::default()
    });
}

#[test]
fn a_restart_right_after_a_send_waits_out_the_spacing_too() {
    assert_a_restart_keeps_30s_between_sends(|| CampaignOptions {
        rate: Some("1000/s".into()),
        spacing: Some("30s".into()),
        ..CampaignOptions::default()
    });
}

/// Two campaigns of one number started together share its pace: each run's own pacer knows
/// only its own sends, so each alone kept 30 s between them and together they sent in pairs.
/// A send closer than the pace to another run's waits for it (by the quota, and by the
/// spacing).
#[test]
fn two_campaigns_of_one_number_at_once_keep_its_pace_together() {
    for (rate, spacing) in [("2/min", "0"), ("1000/s", "30s")] {
        let rig = Rig::new();
        let flags = || CampaignOptions {
            rate: Some(rate.into()),
            spacing: Some(spacing.into()),
            ..CampaignOptions::default()
        };
        let [a, b] = [("a.csv", 0..3), ("b.csv", 10..13)]
            .map(|(name, range)| InProcess::new(&rig, &numbers(&rig, name, range), flags()));
        rig.clock
            .advance_to("2026-06-01T12:00:00Z".parse().unwrap());
        let (a, b) = rig.block_on(async { tokio::join!(a.go(), b.go()) });
        assert_eq!((a.queued, b.queued), (3, 3));
        let mut arrivals: Vec<Timestamp> = rig.arrivals().iter().map(|a| a.at).collect();
        arrivals.sort();
        assert_eq!(arrivals.len(), 6);
        for pair in arrivals.windows(2) {
            assert!(
                gap(pair[0], pair[1]) >= std::time::Duration::from_secs(30),
                "{rate} {spacing}: 30 s apart across both campaigns: {arrivals:?}"
            );
        }
    }
}

#[test]
fn two_processes_writing_one_ledger_at_once_lose_nothing() {
    let rig = Rig::new();
    let (a, b) = (
        numbers(&rig, "a.csv", 0..60),
        numbers(&rig, "b.csv", 100..160),
    );
    let spawn = |csv: &Path, template: &str| {
        rig.command(csv)
            .args(["--template", template, "--concurrency", "8"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let (mut one, mut two) = (spawn(&a, "a"), spawn(&b, "b"));
    assert!(one.wait().unwrap().success());
    assert!(two.wait().unwrap().success());
    let ledger = SqliteLedger::open(&rig.ledger()).unwrap();
    let counts = ledger.senders_since(0).unwrap();
    assert_eq!(
        counts.iter().map(|c| c.sends).sum::<u64>(),
        120,
        "{counts:?}"
    );
    for i in (0..60).chain(100..160) {
        let destination = destination_fingerprint(&phone(i));
        assert_eq!(
            ledger
                .received_since(destination, (0, i64::MAX), Settled::default())
                .unwrap(),
            1,
            "{i}"
        );
    }
}

#[test]
fn report_shows_each_number_s_last_24_hours_against_its_cap() {
    let rig = Rig::new();
    let csv = numbers(&rig, "c.csv", 0..3);
    assert_eq!(code(&send(&rig, &csv, "t", &[])), 0);
    let output = rig.run(
        binary()
            .args(["report"])
            .arg(csv.with_extension("results.csv"))
            .args(["--tz", "UTC", "--daily-cap", "250", "--ledger"])
            .arg(rig.ledger()),
    );
    assert_eq!(code(&output), 0, "{}", text(&output));
    let shown = text(&output);
    let line = shown.lines().find(|l| l.trim_start().starts_with("key:"));
    assert!(line.is_some_and(|l| l.ends_with("3 of 250")), "{shown}");
}

/// A senders file of two numbers with caps of their own (the rig's key and a second one).
const CAPPED_SENDERS: &str = "[centro]\nkey-env = \"PS_KEY_CENTRO\"\ndaily-cap = 2\n\
                              [norte]\nkey-env = \"PS_KEY_NORTE\"\ndaily-cap = 4\n";
const NORTE_KEY: &str = "ps_test_NORTE_9d2e";

/// Sends `csv` from the numbers of `senders` (a senders file's text), `--daily-cap 3` for
/// any number the file leaves uncapped.
fn send_from(rig: &Rig, csv: &Path, template: &str, senders: &str) -> std::process::Output {
    let file = rig.file("senders.toml", senders);
    let mut command = rig.command(csv);
    command
        .args(["--template", template, "--daily-cap", "3", "--senders"])
        .arg(file)
        .env_remove("PILOT_STATUS_API_KEY")
        .env("PS_KEY_CENTRO", KEY)
        .env("PS_KEY_NORTE", NORTE_KEY);
    rig.run(&mut command)
}

#[test]
fn each_number_s_own_cap_in_the_senders_file_holds_across_two_campaigns() {
    use campaign_sender::sandbox::number_of;
    let rig = Rig::new();
    let accepted_by = |key: &str| {
        let number = number_of(key);
        (rig.accepted().iter())
            .filter(|e| e.sender.as_deref() == Some(number.as_str()))
            .count()
    };
    // Few enough rows that neither number reaches its cap in the first campaign.
    let first = numbers(&rig, "a.csv", 0..2);
    let output = send_from(&rig, &first, "a", CAPPED_SENDERS);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let before = (accepted_by(KEY), accepted_by(NORTE_KEY));
    assert_eq!(before.0 + before.1, 2);
    // The second campaign has plenty for both: each stops at its own cap, not at the
    // --daily-cap 3 both would share without the file's caps (2 below it, 4 above it).
    let second = numbers(&rig, "b.csv", 10..40);
    let output = send_from(&rig, &second, "b", CAPPED_SENDERS);
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert_eq!((accepted_by(KEY), accepted_by(NORTE_KEY)), (2, 4));
    assert!(
        text(&output).contains("daily cap of 2") && text(&output).contains("daily cap of 4"),
        "{}",
        text(&output)
    );
    // A rerun sends nothing more from either number.
    let output = send_from(&rig, &second, "b", CAPPED_SENDERS);
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert_eq!(rig.accepted().len(), 6);

    // `report --senders` shows each number by its label against its own cap; a number
    // without one in the file, against --daily-cap.
    let file = rig.file("senders.toml", CAPPED_SENDERS);
    let output = rig.run(
        binary()
            .arg("report")
            .arg(second.with_extension("results.csv"))
            .args(["--tz", "UTC", "--daily-cap", "250", "--senders"])
            .arg(&file)
            .arg("--ledger")
            .arg(rig.ledger())
            .env_remove("PILOT_STATUS_API_KEY")
            .env("PS_KEY_CENTRO", KEY)
            .env("PS_KEY_NORTE", NORTE_KEY),
    );
    assert_eq!(code(&output), 0, "{}", text(&output));
    let shown = text(&output);
    let ledger = shown.split("\nLedger ").nth(1).unwrap_or_default();
    let line = |label: &str| ledger.lines().find(|l| l.trim_start().starts_with(label));
    assert!(
        line("centro").is_some_and(|l| l.ends_with(" 2 of 2")),
        "{shown}"
    );
    assert!(
        line("norte").is_some_and(|l| l.ends_with(" 4 of 4")),
        "{shown}"
    );
    // Without the key, the numbers cannot be told apart: refused, saying which key.
    let output = rig.run(
        binary()
            .arg("report")
            .arg(second.with_extension("results.csv"))
            .arg("--senders")
            .arg(&file)
            .arg("--ledger")
            .arg(rig.ledger())
            .env_remove("PILOT_STATUS_API_KEY")
            .env("PS_KEY_CENTRO", KEY),
    );
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(text(&output).contains("PS_KEY_NORTE"), "{}", text(&output));
}

#[test]
fn a_zero_or_garbage_cap_in_the_senders_file_stops_before_any_send() {
    let rig = Rig::new();
    let csv = numbers(&rig, "a.csv", 0..3);
    for (cap, shown) in [
        ("0", "daily-cap = 0"),
        ("\"lots\"", "daily-cap = \"lots\""),
        ("-5", "daily-cap = -5"),
        ("2.5", "daily-cap = 2.5"),
    ] {
        let senders = format!(
            "[centro]\nkey-env = \"PS_KEY_CENTRO\"\n[norte]\nkey-env = \"PS_KEY_NORTE\"\ndaily-cap = {cap}\n"
        );
        let output = send_from(&rig, &csv, "a", &senders);
        assert_eq!(code(&output), 2, "{cap}: {}", text(&output));
        let said = text(&output);
        assert!(
            said.contains("[norte]") && said.contains(shown),
            "{cap}: {said}"
        );
        assert!(said.contains("above zero"), "{cap}: {said}");
    }
    assert!(rig.log().is_empty(), "nothing was sent");
}

#[test]
fn a_kill_between_request_and_answer_still_counts_as_a_send_from_another_results_file() {
    let rig = Rig::new();
    let csv = numbers(&rig, "k.csv", 0..1);
    let gate = rig.gate();
    // The answer is held at the gate: the request has left, its outcome is not known yet.
    let mut child = rig
        .command_to(&csv, &gate.base_url())
        .args(["--template", "t"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    rig.wait_for_requests(1);
    signal(&child, "KILL");
    child.wait().unwrap();
    gate.open();
    // The rerun of its own file marks it UNCERTAIN (INTERRUPTED, with the intent's sentAt):
    // still the one send it was, not a second one of the rerun's.
    let output = rig.run(
        rig.command_to(&csv, &gate.base_url())
            .args(["--template", "t"]),
    );
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(results_of(&csv)[0]["errorCode"], "INTERRUPTED");
    let ledger = SqliteLedger::open(&rig.ledger()).unwrap();
    let destination = destination_fingerprint(&phone(0));
    let got = ledger.received_since(destination, (0, i64::MAX), Settled::default());
    assert_eq!(got.unwrap(), 1, "one send in the ledger");
    // The same campaign under a second results file must not send it again.
    let elsewhere = rig.dir.path().join("second.results.csv");
    let output = send(&rig, &csv, "t", &["--results", elsewhere.to_str().unwrap()]);
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.log().len(), 1, "one request in all");
    let rows = results(&elsewhere);
    assert_eq!(rows[0]["status"], "SKIPPED", "{rows:?}");
    assert_eq!(rows[0]["errorCode"], "ALREADY_SENT", "{rows:?}");
}

/// A kill between a row's `FAILED` (or `DEFERRED`) line and the ledger's record of it leaves
/// the ledger saying the send may be in flight while its results file says it was not sent.
/// A rerun of that file believes the file for that attempt, instead of skipping the row as
/// `ALREADY_SENT` by itself; a possible send later than the row's line (the file put back
/// from an older copy) still counts.
#[test]
fn a_row_its_own_file_says_was_not_sent_is_not_skipped_for_a_stale_ledger_entry() {
    for (later_in_ledger, sent_again) in [(false, true), (true, false)] {
        let rig = Rig::refusing(&[(0, "VALIDATION_ERROR")]);
        let csv = rig.file("c.csv", &campaign_csv(2));
        let output = send(&rig, &csv, "t", &[]);
        assert_eq!(code(&output), 1, "{}", text(&output));
        assert_eq!(results_of(&csv)[0]["status"], "FAILED");
        // What the kill leaves: the not-sent row "in flight" in the ledger.
        let db = rusqlite::Connection::open(rig.ledger()).unwrap();
        let later = if later_in_ledger {
            ", at = at + 60000"
        } else {
            ""
        };
        let sql = format!("UPDATE sent SET state = 1{later} WHERE state = 0");
        assert_eq!(db.execute(&sql, []).unwrap(), 1);
        rig.sandbox.fail_destinations(Vec::new());
        let before = rig.log().len();
        let output = send(&rig, &csv, "t", &["--retry-failed"]);
        let rows = results_of(&csv);
        if sent_again {
            assert_eq!(code(&output), 0, "{}", text(&output));
            assert_eq!(rig.log().len(), before + 1, "{rows:?}");
            assert_eq!(rows[0]["status"], "QUEUED", "{rows:?}");
        } else {
            assert_eq!(rig.log().len(), before, "{rows:?}");
            assert_eq!(
                (rows[0]["status"].as_str(), rows[0]["errorCode"].as_str()),
                ("SKIPPED", "ALREADY_SENT")
            );
        }
    }
}

/// The ledger's first schema (every key as text), as releases before integer keys wrote it.
const FIRST_SCHEMA: &str = "
CREATE TABLE sends (
    run INTEGER NOT NULL, row INTEGER NOT NULL, results TEXT NOT NULL, sender TEXT NOT NULL,
    destination TEXT NOT NULL, campaign TEXT NOT NULL, state TEXT NOT NULL,
    message_id TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (run, row)
);
CREATE INDEX sends_by_sender ON sends (sender, at);
CREATE INDEX sends_by_destination ON sends (destination, at);
";

#[test]
fn a_ledger_of_the_first_schema_keeps_its_sends() {
    let rig = Rig::new();
    // The campaign and number as this build names them, read from a scratch ledger's view
    // (which shows them as the first schema's columns did).
    let scratch = rig.dir.path().join("scratch.sqlite3");
    let probe = numbers(&rig, "probe.csv", 50..51);
    let output = send(&rig, &probe, "t", &["--ledger", scratch.to_str().unwrap()]);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let (sender, campaign): (String, String) = rusqlite::Connection::open(&scratch)
        .unwrap()
        .query_row("SELECT sender, campaign FROM sends", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    // An old ledger: one accepted send, one interrupted (SENDING), one refused, an hour ago.
    let old = rusqlite::Connection::open(rig.ledger()).unwrap();
    old.execute_batch(FIRST_SCHEMA).unwrap();
    let hour_ago = Timestamp::now().as_millisecond() - 3_600_000;
    for (row, state) in [(10, "ACCEPTED"), (11, "SENDING"), (12, "NOT_SENT")] {
        old.execute(
            "INSERT INTO sends VALUES (7, ?1, 'old.results.csv', ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![
                row as i64,
                sender,
                format!("{:016x}", destination_fingerprint(&phone(row))),
                campaign,
                state,
                format!("wamid.old{row}"),
                hour_ago
            ],
        )
        .unwrap();
    }
    drop(old);
    // The same campaign on 10..14 with a daily cap of 3: 10 and 11 were (possibly) sent, 12
    // was not and is sent now, which spends the cap (2 old + 1): 13 stays pending.
    let csv = numbers(&rig, "c.csv", 10..14);
    let output = send(&rig, &csv, "t", &["--daily-cap", "3"]);
    assert_eq!(code(&output), 3, "{}", text(&output));
    let rows = results_of(&csv);
    let seen: Vec<(&str, &str, &str)> = (rows.iter())
        .map(|r| {
            (
                r["status"].as_str(),
                r["errorCode"].as_str(),
                r["messageId"].as_str(),
            )
        })
        .collect();
    assert_eq!(seen.len(), 3, "{rows:?}");
    assert_eq!(seen[0], ("SKIPPED", "ALREADY_SENT", "wamid.old10"));
    assert_eq!(seen[1].1, "ALREADY_SENT", "{rows:?}");
    assert_eq!(seen[2].0, "QUEUED", "{rows:?}");
    assert_eq!(rig.sent().len(), 2, "the probe and row 12");
    // The old sends are still there for people reading the file, under the old columns.
    let states: Vec<String> = {
        let db = rusqlite::Connection::open(rig.ledger()).unwrap();
        let mut query = db
            .prepare("SELECT state FROM sends WHERE run = 7 ORDER BY row")
            .unwrap();
        query
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(states, ["ACCEPTED", "SENDING", "NOT_SENT"]);
}

/// A ledger that cannot record a send's intent (here a trigger refusing every new send, as
/// a ledger locked past its busy timeout or made read-only would): nothing leaves, the row
/// says why and stays to send (`DEFERRED`, not `UNCERTAIN`), the run stops; once the ledger
/// records again, the rerun sends every row once.
#[test]
fn a_ledger_that_cannot_record_a_send_stops_the_run_before_its_request() {
    let rig = Rig::new();
    let list = numbers(&rig, "c.csv", 0..5);
    drop(SqliteLedger::open(&rig.ledger()).unwrap());
    let sql = rusqlite::Connection::open(rig.ledger()).unwrap();
    sql.execute_batch(
        "CREATE TRIGGER refuse BEFORE INSERT ON sent BEGIN SELECT RAISE(ABORT, 'refused'); END;",
    )
    .unwrap();
    let output = send(&rig, &list, "t", &[]);
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert!(rig.sent().is_empty(), "{}", text(&output));
    assert!(
        text(&output).contains("the ledger could not record the send"),
        "{}",
        text(&output)
    );
    let rows = results_of(&list);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0]["status"].as_str(), rows[0]["errorCode"].as_str()),
        ("DEFERRED", "LEDGER_UNAVAILABLE")
    );
    sql.execute_batch("DROP TRIGGER refuse;").unwrap();
    let output = send(&rig, &list, "t", &[]);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let accepted = accepted_per_destination(&rig.log());
    assert_eq!(accepted.len(), 5);
    assert!(accepted.values().all(|n| *n == 1), "{accepted:?}");
}

/// A cap is counted in the ledger: with the ledger off it would hold nothing, so the run
/// is refused before any send (a dry run, which sends nothing, is not).
#[test]
fn a_cap_with_the_ledger_off_is_refused_before_any_send() {
    let rig = Rig::new();
    let list = numbers(&rig, "c.csv", 0..2);
    for cap in [["--daily-cap", "1"], ["--frequency-cap", "1/7d"]] {
        let output = send(&rig, &list, "t", &[&cap[..], &["--ledger", "off"]].concat());
        assert_eq!(code(&output), 2, "{}", text(&output));
        assert!(
            text(&output).contains("the ledger, which is off"),
            "{}",
            text(&output)
        );
        let dry = send(
            &rig,
            &list,
            "t",
            &[&cap[..], &["--ledger", "off", "--dry-run"]].concat(),
        );
        assert_eq!(code(&dry), 0, "{}", text(&dry));
    }
    assert!(rig.sent().is_empty());
}

/// A number's last send dated ahead of this machine's clock (a clock that ran ahead, a
/// damaged ledger) counts as just now: the next send waits the pace, not until then.
#[test]
fn a_last_send_dated_in_the_future_counts_as_just_now() {
    let ahead = Rig::new();
    let ledger = Some(ahead.ledger().display().to_string());
    let flags = || CampaignOptions {
        rate: Some("2/min".into()),
        spacing: Some("0".into()),
        ledger: ledger.clone(),
        ..CampaignOptions::default()
    };
    let later: Timestamp = "2100-01-01T00:00:00Z".parse().unwrap();
    let first = numbers(&ahead, "a.csv", 0..1);
    assert_eq!(run_in_process(&ahead, &first, flags(), later).queued, 1);
    let now = Rig::new();
    let start: Timestamp = "2026-06-01T12:00:00Z".parse().unwrap();
    let next = numbers(&now, "b.csv", 1..2);
    assert_eq!(run_in_process(&now, &next, flags(), start).queued, 1);
    let arrival = now.arrivals()[0].at;
    assert!(
        gap(start, arrival) <= std::time::Duration::from_secs(31),
        "sent at {arrival}, started at {start}"
    );
}

#[test]
fn a_number_named_in_the_senders_file_keeps_its_cap_when_its_key_is_rotated() {
    let rig = Rig::new();
    let one = |number: &str, key_env: &str| {
        format!("[loja]\nkey-env = \"{key_env}\"\ndaily-cap = 2\n{number}")
    };
    // Sent under the key alone: the ledger knows the number by the key's digest.
    let first = numbers(&rig, "a.csv", 0..2);
    let output = send_from(&rig, &first, "a", &one("", "PS_KEY_CENTRO"));
    assert_eq!(code(&output), 0, "{}", text(&output));
    // The file now names the number: the key's sends are the number's, the cap is spent.
    let named = "number = \"+55 11 99999-0000\"\n";
    let second = numbers(&rig, "b.csv", 10..12);
    let output = send_from(&rig, &second, "b", &one(named, "PS_KEY_CENTRO"));
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert_eq!(rig.accepted().len(), 2, "the cap counts the key's sends");
    // A run by the key alone (an old cron job, no senders file) is the same number.
    let third = numbers(&rig, "c.csv", 20..22);
    let output = send(&rig, &third, "c", &["--daily-cap", "2"]);
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert_eq!(
        rig.accepted().len(),
        2,
        "the key alone counts the number's sends"
    );
    // The key is rotated: the number is the same, its cap still spent.
    let output = send_from(&rig, &second, "b", &one(named, "PS_KEY_NORTE"));
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert_eq!(rig.accepted().len(), 2, "a new key is the same number");
    assert!(
        text(&output).contains("daily cap of 2"),
        "{}",
        text(&output)
    );
}

#[test]
fn a_number_twice_or_not_in_international_form_is_refused_before_any_send() {
    let rig = Rig::new();
    let csv = numbers(&rig, "a.csv", 0..1);
    for (senders, says) in [
        (
            "[a]\nkey-env = \"PS_KEY_CENTRO\"\nnumber = \"+5511999990000\"\n\
             [b]\nkey-env = \"PS_KEY_NORTE\"\nnumber = \"+55 11 99999-0000\"\n",
            "the same number",
        ),
        (
            "[a]\nkey-env = \"PS_KEY_CENTRO\"\nnumber = \"11 99999-0000\"\n",
            "international form",
        ),
        (
            "[a]\nkey-env = \"PS_KEY_CENTRO\"\nnumber = \"+44 (0)20 7946 0000\"\n\
             [b]\nkey-env = \"PS_KEY_NORTE\"\nnumber = \"+44 20 7946 0000\"\n",
            "the same number",
        ),
        (
            "[a]\nkey-env = \"PS_KEY_CENTRO\"\nnumber = \"+000000000\"\n",
            "not a",
        ),
    ] {
        let output = send_from(&rig, &csv, "a", senders);
        assert_eq!(code(&output), 2, "{}", text(&output));
        assert!(text(&output).contains(says), "{says}: {}", text(&output));
    }
    assert!(rig.accepted().is_empty());
}

#[test]
fn a_relative_ledger_in_a_campaign_file_is_beside_the_file_whatever_the_working_folder() {
    let rig = Rig::new();
    let csv = numbers(&rig, "c.csv", 0..1);
    rig.file("c.toml", "template = \"t\"\nledger = \"shared.sqlite3\"\n");
    let elsewhere = tempfile::tempdir().unwrap();
    let output = rig.run(rig.command(&csv).current_dir(elsewhere.path()));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert!(
        rig.dir.path().join("shared.sqlite3").exists(),
        "{}",
        text(&output)
    );
    assert!(!elsewhere.path().join("shared.sqlite3").exists());
}

#[test]
fn a_ledger_at_the_results_path_or_the_csv_is_refused_before_anything_is_made() {
    let rig = Rig::new();
    let csv = numbers(&rig, "c.csv", 0..1);
    let results_path = csv.with_extension("results.csv");
    let spelled = rig.dir.path().join("sub/../c.results.csv");
    std::fs::create_dir(rig.dir.path().join("sub")).unwrap();
    for ledger in [&results_path, &csv, &spelled] {
        let output = send(&rig, &csv, "t", &["--ledger", ledger.to_str().unwrap()]);
        assert_eq!(code(&output), 2, "{}", text(&output));
        assert!(
            text(&output).contains("a SQLite file of its own"),
            "{}",
            text(&output)
        );
    }
    assert!(
        !results_path.exists(),
        "nothing created at the results path"
    );
    assert_eq!(
        std::fs::read_to_string(&csv).unwrap().lines().count(),
        2,
        "the CSV untouched"
    );
    assert!(rig.accepted().is_empty());
}
