//! The daily send window against the sandbox. In-process runs on a simulated clock walk
//! through evenings and nights in milliseconds; the binary (on the real clock, with a window
//! placed around the time the test runs) shows the set-up errors and what a run outside the
//! window says and does.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

use campaign_sender::input::MessageDefaults;
use campaign_sender::settings::CampaignOptions;
use common::*;
use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan, ZonedDateTime};

const ZONE: &str = "America/Sao_Paulo";

fn zone() -> TimeZone {
    TimeZone::get(ZONE).unwrap()
}

/// `time` in São Paulo, `day` days after the day a week from now. The sandbox judges
/// `deliverUntil` by its real clock, so the simulated days lie ahead of it.
fn local(day: i64, time: &str) -> Timestamp {
    let today = Timestamp::now().to_zoned_datetime(zone()).date();
    today
        .checked_add((7 + day).days())
        .unwrap()
        .to_datetime(time.parse::<Time>().unwrap())
        .to_zoned_datetime(zone())
        .unwrap()
        .timestamp()
}

/// `flags` with the window 09:00-20:00 in São Paulo and a quota that never gets in the way.
fn windowed(flags: CampaignOptions) -> CampaignOptions {
    CampaignOptions {
        window: Some("09:00-20:00".into()),
        tz: Some(ZONE.into()),
        rate: Some("1000/s".into()),
        ..flags
    }
}

fn spaced(spacing: &str) -> CampaignOptions {
    windowed(CampaignOptions {
        spacing: Some(spacing.into()),
        ..CampaignOptions::default()
    })
}

fn rows(rig: &Rig) -> Vec<HashMap<String, String>> {
    results(&rig.dir.path().join("c.results.csv"))
}

/// When each request reached the sandbox (on the runs' simulated clock), in São Paulo time.
fn sent_at(rig: &Rig) -> Vec<ZonedDateTime> {
    rig.arrivals()
        .iter()
        .map(|a| a.at.to_zoned_datetime(zone()))
        .collect()
}

fn inside_the_window(at: &ZonedDateTime) -> bool {
    let time = at.time();
    time >= Time::constant(9, 0, 0, 0) && time < Time::constant(20, 0, 0, 0)
}

/// What each accepted body asked as its `deliverUntil`, in row order.
fn deadlines(rig: &Rig) -> Vec<Option<Timestamp>> {
    rig.accepted()
        .iter()
        .map(|e| e.body["deliverUntil"].as_str().map(|t| t.parse().unwrap()))
        .collect()
}

#[test]
fn at_the_windows_end_the_run_stops_and_the_next_mornings_run_finishes_without_duplicates() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(10));
    // 19:58:20, :40 and 19:59:00 go out; the turn at 19:59:20 falls in the window's last
    // minute, which starts no send that would get the close as its deadline.
    let evening = run_in_process(&rig, &csv, spaced("20s"), local(0, "19:58:20"));
    assert_eq!(evening.exit_code(), 3, "stopped early: {evening:?}");
    assert_eq!((evening.queued, evening.pending), (3, 7));
    assert_eq!(rig.log().len(), 3, "nothing reaches the API after 20:00");
    let sent = sent_at(&rig);
    assert!(sent.iter().all(inside_the_window), "{sent:?}");
    assert_eq!(rows(&rig).len(), 3, "rows not reached have no line");

    let morning = run_in_process(&rig, &csv, spaced("20s"), local(1, "09:00"));
    assert_eq!(morning.exit_code(), 0, "{morning:?}");
    assert_eq!(morning.queued, 10);
    let per_destination = accepted_per_destination(&rig.log());
    assert_eq!(per_destination.len(), 10);
    assert!(
        per_destination.values().all(|n| *n == 1),
        "{per_destination:?}"
    );
    let sent = sent_at(&rig);
    assert!(sent.iter().all(inside_the_window), "{sent:?}");
    assert_eq!(
        sent[3].timestamp(),
        local(1, "09:00"),
        "row 4 starts the morning"
    );
}

#[test]
fn waiting_for_the_window_sends_every_row_and_none_at_night() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(30));
    let flags = CampaignOptions {
        wait_for_window: Some(true),
        ..spaced("20m..60m")
    };
    let summary = run_in_process(&rig, &csv, flags, local(0, "19:30"));
    assert_eq!(summary.exit_code(), 0, "{summary:?}");
    assert_eq!(summary.queued, 30);
    let sent = sent_at(&rig);
    assert_eq!(sent.len(), 30);
    let at_night: Vec<_> = sent.iter().filter(|t| !inside_the_window(t)).collect();
    assert!(
        at_night.is_empty(),
        "sent outside 09:00-20:00: {at_night:?}"
    );
    let mut days: Vec<_> = sent.iter().map(|t| t.date()).collect();
    days.dedup();
    assert!(
        days.len() >= 3,
        "30 sends 20-60 min apart span three days: {days:?}"
    );
    assert!(
        sent.iter().any(|t| t.timestamp() == local(1, "09:00")),
        "the wait ends when the window opens: {sent:?}"
    );
    assert_eq!(accepted_per_destination(&rig.log()).len(), 30);
}

#[test]
fn a_run_started_at_night_sends_nothing_and_leaves_every_row_pending() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(5));
    let summary = run_in_process(&rig, &csv, spaced("0"), local(0, "23:00"));
    assert_eq!(summary.exit_code(), 3);
    assert_eq!((summary.queued, summary.pending), (0, 5));
    assert!(rig.log().is_empty(), "{:?}", rig.log());
}

#[test]
fn a_retry_whose_wait_crosses_the_windows_end_is_not_sent() {
    // Every request gets 429 with Retry-After 90 s: the retry would go out at 20:00:20.
    let rig = Rig::with_faults("429=1,retry-after=90");
    let csv = rig.file("c.csv", &campaign_csv(1));
    let summary = run_in_process(&rig, &csv, spaced("0"), local(0, "19:58:50"));
    assert_eq!(summary.exit_code(), 3);
    assert_eq!(rig.log().len(), 1, "no retry after 20:00");
    let row = &rows(&rig)[0];
    assert_eq!(
        (row["status"].as_str(), row["attempts"].as_str()),
        ("DEFERRED", "1")
    );
}

#[test]
fn each_send_without_a_deadline_must_be_delivered_before_its_window_closes() {
    let rig = Rig::new();
    let own = local(0, "21:30");
    let csv = rig.file(
        "c.csv",
        &format!(
            "phone,nome,deliverUntil\n{},A,{own}\n{},B,\n{},C,\n",
            phone(0),
            phone(1),
            phone(2)
        ),
    );
    let summary = run_in_process(&rig, &csv, spaced("0"), local(0, "10:00"));
    assert_eq!(summary.queued, 3, "{summary:?}");
    let close = local(0, "20:00");
    assert_eq!(
        deadlines(&rig),
        [Some(own), Some(close), Some(close)],
        "the row's own deliverUntil is kept; the others get the window's close"
    );
}

/// A row scheduled for an hour the window keeps free is refused (`INVALID`, naming
/// `deliverAt`), not delivered then; one scheduled inside the window goes out.
#[test]
fn a_row_scheduled_outside_the_window_is_invalid_not_delivered_at_night() {
    let rig = Rig::new();
    let (night, morning) = (local(1, "22:30"), local(1, "10:00"));
    // In the window's last minute: no time to deliver before its close.
    let late = local(1, "19:59:30");
    let csv = rig.file(
        "c.csv",
        &format!(
            "phone,nome,deliverAt\n{},A,{night}\n{},B,{morning}\n{},C,{late}\n",
            phone(0),
            phone(1),
            phone(2)
        ),
    );
    let flags = CampaignOptions {
        max_invalid: Some("100%".into()),
        ..spaced("0")
    };
    let summary = run_in_process(&rig, &csv, flags, local(0, "10:00"));
    assert_eq!((summary.queued, summary.invalid), (1, 2), "{summary:?}");
    assert_eq!(rig.sent(), [phone(1)]);
    let rows = rows(&rig);
    assert_eq!(rows[0]["errorCode"], "DELIVER_AT_OUTSIDE_WINDOW");
    assert!(rows[0]["error"].contains("22:30"), "{}", rows[0]["error"]);
    assert_eq!(rows[2]["errorCode"], "DELIVER_AT_OUTSIDE_WINDOW");
    assert!(
        rows[2]["error"].contains("last minute"),
        "{}",
        rows[2]["error"]
    );
}

#[test]
fn a_campaign_deadline_is_kept_over_the_windows_close() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(2));
    let flags = CampaignOptions {
        message: MessageDefaults {
            deliver_until: Some("90m".into()),
            ..MessageDefaults::default()
        },
        ..spaced("1m")
    };
    let summary = run_in_process(&rig, &csv, flags, local(0, "10:00"));
    assert_eq!(summary.queued, 2);
    let expected: Vec<_> = sent_at(&rig)
        .iter()
        .map(|t| Some(t.timestamp() + SignedDuration::from_mins(90)))
        .collect();
    assert_eq!(deadlines(&rig), expected);
}

/// A row's deadline is judged again when its turn comes: one that passed while the run
/// paced the rows before it (it was ahead when the run started) is recorded INVALID, not
/// sent to expire undelivered.
#[test]
fn a_deadline_that_passed_while_the_run_paced_is_not_sent() {
    let rig = Rig::new();
    let soon = local(0, "10:05");
    let csv = rig.file(
        "c.csv",
        &format!(
            "phone,nome,deliverUntil\n{},A,{soon}\n{},B,{soon}\n{},C,{soon}\n{},D,90m\n",
            phone(0),
            phone(1),
            phone(2),
            phone(3)
        ),
    );
    let summary = run_in_process(&rig, &csv, spaced("10m"), local(0, "10:00"));
    assert_eq!((summary.queued, summary.invalid), (2, 2), "{summary:?}");
    assert_eq!(rig.sent(), [phone(0), phone(3)]);
    let rows = rows(&rig);
    for row in &rows[1..3] {
        assert_eq!(
            (row["status"].as_str(), row["errorCode"].as_str()),
            ("INVALID", "DELIVER_UNTIL_PAST"),
            "{row:?}"
        );
        assert!(row["error"].contains("is already past"), "{row:?}");
    }
}

/// A window of `from..to` hours around the real now, in UTC, as `HH:MM-HH:MM`, and the
/// instant it next closes.
fn window_around_now(from: i64, to: i64) -> (String, Timestamp) {
    let now = Timestamp::now()
        .to_zoned_datetime(TimeZone::UTC)
        .round(jiff::Unit::Minute)
        .unwrap();
    let at = |h: i64| now.checked_add(SignedDuration::from_hours(h)).unwrap();
    let spec = format!(
        "{}-{}",
        at(from).strftime("%H:%M"),
        at(to).strftime("%H:%M")
    );
    (spec, at(to).timestamp())
}

#[test]
fn outside_the_window_the_binary_exits_3_saying_when_it_opens() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(3));
    let (closed, _) = window_around_now(2, 3);
    let output =
        rig.run(
            rig.command(&csv)
                .args(["--template", "t", "--window", &closed, "--tz", "UTC"]),
        );
    let text = text(&output);
    assert_eq!(code(&output), 3, "{text}");
    assert!(rig.log().is_empty(), "nothing is sent outside the window");
    for needle in [
        "closed now, opens",
        "the send window",
        "opens again",
        "--wait-for-window",
        "3 pending",
    ] {
        assert!(text.contains(needle), "missing '{needle}' in:\n{text}");
    }
}

#[test]
fn a_dry_run_outside_the_window_previews_the_deadline_of_the_next_window() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(2));
    let (closed, closes) = window_around_now(2, 3);
    let output = rig.run(rig.command(&csv).args([
        "--template",
        "t",
        "--window",
        &closed,
        "--tz",
        "UTC",
        "--dry-run",
    ]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert!(text(&output).contains("closed now"), "{}", text(&output));
    let bodies: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(bodies.len(), 2);
    for body in bodies {
        let until: Timestamp = body["body"]["deliverUntil"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(until, closes, "{body}");
    }
}

#[test]
fn inside_the_window_the_binary_sends_with_the_windows_close_as_deadline() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(3));
    let (open, closes) = window_around_now(-1, 2);
    let output =
        rig.run(
            rig.command(&csv)
                .args(["--template", "t", "--window", &open, "--tz", "UTC"]),
        );
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert!(text(&output).contains("open now"), "{}", text(&output));
    assert_eq!(deadlines(&rig), [Some(closes); 3]);
}

#[test]
fn msgflash_sends_in_the_window_without_a_deadline_it_cannot_carry() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(2));
    let (open, _) = window_around_now(-1, 2);
    let output = rig.run(
        rig.msgflash(&csv)
            .args(["--text", "oi", "--window", &open, "--tz", "UTC"]),
    );
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(deadlines(&rig), [None, None]);
}

#[test]
fn ctrl_c_ends_the_wait_for_the_window_and_nothing_is_sent() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(2));
    let (closed, _) = window_around_now(2, 3);
    let mut child = rig
        .command(&csv)
        .args(["--template", "t", "--window", &closed, "--tz", "UTC"])
        .arg("--wait-for-window")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("waiting until it opens") {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "the run ended before waiting:\n{seen}"
        );
        seen.push_str(&line);
    }
    signal(&child, "INT");
    let output = child.wait_with_output().unwrap();
    assert_eq!(code(&output), 3, "{seen}");
    assert!(rig.log().is_empty());
}

#[test]
fn the_window_is_a_campaign_file_setting_too() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(1));
    let (closed, _) = window_around_now(2, 3);
    rig.file(
        "c.toml",
        &format!("template = \"t\"\nwindow = \"{closed}\"\ntz = \"UTC\"\nwait-for-window = true\n"),
    );
    let output = rig.run(rig.command(&csv).arg("--dry-run"));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let text = text(&output);
    assert!(
        text.contains(&format!("window          {closed} UTC: closed now")),
        "{text}"
    );
    assert!(text.contains("the run waits for it"), "{text}");
}

#[test]
fn a_window_that_cannot_work_is_refused_before_any_send() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(1));
    let cases: [(&[&str], &[&str]); 6] = [
        (
            &["--window", "9-20", "--tz", "UTC"],
            &["--window", "09:00-20:00"],
        ),
        (
            &["--window", "09:00-09:00", "--tz", "UTC"],
            &["--window", "same time"],
        ),
        (
            &["--window", "09:00-20:00", "--tz", "Sao Paulo"],
            &["--tz", "America/Sao_Paulo"],
        ),
        (&["--window", "09:00-20:00"], &["needs --tz", "server"]),
        (&["--tz", "America/Sao_Paulo"], &["--window HH:MM-HH:MM"]),
        (&["--wait-for-window"], &["--window"]),
    ];
    for (args, needles) in cases {
        let mut command = rig.command(&csv);
        command.args(["--template", "t"]).args(args);
        assert_refused(&rig, &mut command, needles);
    }
}
