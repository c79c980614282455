//! What a person (or cron's log) sees while a pass runs: without a terminal, a progress line
//! with elapsed time, done/total, the rate, what the pass waits for (the next send's turn, the
//! send window) and an ETA from the pacing; JSON under `--log-format json`; the same view for
//! `status`. Each run is read line by line and stopped with Ctrl-C as soon as the line is
//! seen: an hour's spacing or a window two hours off costs no wall-clock wait.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// Runs `command` until a stderr line holds `needle`, then stops it with Ctrl-C; returns
/// that line. A run that goes 20 s without one (a bound on failure only, never waited for
/// when the line comes) is killed and the test fails.
fn line_with(command: &mut Command, needle: &str) -> String {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, seen) = mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut before = String::new();
    loop {
        match seen.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line.contains(needle) => {
                signal(&child, "INT");
                child.wait().unwrap();
                assert!(
                    !before.contains(KEY) && !line.contains(KEY),
                    "the key leaked"
                );
                return line;
            }
            Ok(line) => before.push_str(&format!("{line}\n")),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("no line holding '{needle}' in:\n{before}");
            }
        }
    }
}

/// A send of `rows` rows an hour apart.
fn hourly(rig: &Rig, rows: usize) -> Command {
    let csv = rig.file("c.csv", &campaign_csv(rows));
    let mut command = rig.command(&csv);
    command.args(["--template", "t", "--spacing", "1h"]);
    command
}

#[test]
fn between_sends_the_line_says_when_the_next_one_goes_and_when_all_are_done() {
    let rig = Rig::new();
    let line = line_with(&mut hourly(&rig, 3), "1/3 rows done");
    for needle in [
        " · elapsed ",
        " · 1.0/min · ",
        " · next send in 59m ",
        // Two sends left, an hour apart, the first in an hour.
        " · ETA 1h 59m",
        " · 1 queued, 0 not accepted",
    ] {
        assert!(line.contains(needle), "missing '{needle}' in: {line}");
    }
    assert_eq!(rig.sent().len(), 1, "the second send waits for its turn");
}

#[test]
fn under_json_logs_the_line_carries_its_figures_as_fields() {
    let rig = Rig::new();
    let mut command = hourly(&rig, 2);
    command.args(["--log-format", "json"]);
    let line = line_with(&mut command, "1/2 rows done");
    let event: serde_json::Value = serde_json::from_str(&line).unwrap();
    let fields = &event["fields"];
    assert_eq!(fields["done"], 1, "{line}");
    assert_eq!(fields["total"], 2, "{line}");
    assert_eq!(fields["per_minute"], 1.0, "{line}");
    let next = fields["next_in_secs"].as_u64().unwrap();
    assert!((3590..=3600).contains(&next), "{line}");
    assert_eq!(fields["eta_secs"].as_u64(), Some(next), "{line}");
    assert!(fields["elapsed_secs"].is_u64(), "{line}");
}

#[test]
fn while_the_window_is_closed_the_line_says_when_it_opens() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(2));
    let now = Timestamp::now()
        .to_zoned_datetime(TimeZone::UTC)
        .round(jiff::Unit::Minute)
        .unwrap();
    let at = |h: i64| now.checked_add(SignedDuration::from_hours(h)).unwrap();
    let window = format!("{}-{}", at(2).strftime("%H:%M"), at(3).strftime("%H:%M"));
    let opens = at(2).strftime("%H:%M").to_string();
    let line = line_with(
        rig.command(&csv).args([
            "--template",
            "t",
            "--window",
            &window,
            "--tz",
            "UTC",
            "--wait-for-window",
        ]),
        "window opens at",
    );
    // Two hours off, give or take the half minute the window was rounded to.
    let about_two_hours = |after: &str| {
        let rest = line.split(after).nth(1).unwrap_or_default();
        rest.starts_with("1h 59m") || rest.starts_with("2h 00m")
    };
    assert!(line.contains("0/2 rows done · elapsed "), "{line}");
    assert!(
        about_two_hours(&format!(" · window opens at {opens} (in ")),
        "{line}"
    );
    assert!(about_two_hours(" · ETA "), "{line}");
    assert!(rig.log().is_empty(), "nothing is sent before the window");
}

#[test]
fn status_shows_its_lookups_the_same_way() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(3));
    assert_eq!(
        code(&rig.run(rig.command(&csv).args(["--template", "t"]))),
        0
    );
    let results = rig.dir.path().join("c.results.csv");
    let output = rig.run(&mut rig.operation("status", &results));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains("1/3 looked up"))
        .unwrap_or_else(|| panic!("no progress line in:\n{stderr}"));
    for needle in [" · elapsed ", " · 1.0/min", " · ETA "] {
        assert!(line.contains(needle), "missing '{needle}' in: {line}");
    }
    assert!(!line.contains("queued"), "a lookup is not a send: {line}");
}
