//! Every wait a user sets is bounded at set-up: an absurd spacing, backoff, timeout,
//! frequency-cap period or sandbox delay, as a flag or as a campaign-file key, stops the run
//! before any send (exit 2) with a message naming the setting, the value, the maximum and a
//! value to write instead; a value too large for any clock never panics. The `sandbox`
//! subcommand bounds its own `--faults` delays and `--time-factor` the same way.

mod common;

use common::{Rig, binary, campaign_csv, code, ended, phone, results, text};
use proptest::prelude::*;

/// Each setting with a value just past its maximum, the maximum as the message shows it,
/// and a value the message suggests.
const TOO_LONG: [(&str, &str, &str, &str); 6] = [
    // 2,912,109 days, in hours.
    ("spacing", "1s..69890616h", "24h", "8s..25s"),
    ("spacing", "24h 1s", "24h", "8s..25s"),
    ("backoff", "1s..61m", "1h", "1s..60s"),
    ("timeout", "601s", "10m", "30s"),
    ("frequency-cap", "1/367d", "8784h", "1/7d"),
    (
        "sandbox-faults",
        "latency=11m",
        "10m",
        "latency=20ms,late-by=3s",
    ),
];

/// A campaign of `rows` rows with `file` as its campaign file, run with `args` and nothing
/// faster than the defaults (a flag would hide the file's value). With one row, a build
/// that accepted an absurd spacing would send it and stop, not wait for the next.
fn run(rig: &Rig, rows: usize, file: &str, args: &[&str]) -> std::process::Output {
    let csv = rig.file("c.csv", &campaign_csv(rows));
    std::fs::write(csv.with_extension("toml"), format!("text = \"Oi\"\n{file}")).unwrap();
    rig.run(
        binary()
            .arg(&csv)
            .args(["--base-url", &rig.sandbox.base_url()])
            // A frequency cap needs a ledger.
            .env("CAMPAIGN_SENDER_LEDGER", rig.ledger())
            .args(args),
    )
}

/// Asserts the run stopped at set-up and said what to write.
fn assert_refused(rig: &Rig, output: &std::process::Output, needles: &[&str]) {
    let said = text(output);
    assert_eq!(code(output), 2, "{needles:?}: {said}");
    for needle in needles {
        assert!(said.contains(needle), "missing {needle:?} in: {said}");
    }
    assert!(rig.log().is_empty(), "{needles:?}: something was sent");
    assert!(!rig.dir.path().join("c.results.csv").exists());
}

/// `--sandbox-faults` needs `--sandbox` (and a short timeout, so that a build which
/// accepted the delay would fail fast instead of waiting for it).
fn extra(key: &str) -> &'static [&'static str] {
    if key == "sandbox-faults" {
        &["--sandbox", "--timeout", "100ms"]
    } else {
        &[]
    }
}

#[test]
fn a_wait_past_its_maximum_is_refused_as_a_flag() {
    for (key, value, max, example) in TOO_LONG {
        let rig = Rig::new();
        let flag = format!("--{key}");
        let output = run(
            &rig,
            1,
            "",
            &[&[flag.as_str(), value][..], extra(key)].concat(),
        );
        let fix = format!("--{key} {example}");
        assert_refused(&rig, &output, &[&flag, &format!("'{value}'"), max, &fix]);
    }
}

#[test]
fn a_wait_past_its_maximum_is_refused_in_the_campaign_file() {
    for (key, value, max, example) in TOO_LONG {
        let rig = Rig::new();
        let output = run(&rig, 1, &format!("{key} = \"{value}\"\n"), extra(key));
        let fix = format!("{key} = \"{example}\"");
        assert_refused(&rig, &output, &[key, &format!("'{value}'"), max, &fix]);
    }
}

#[test]
fn the_maximum_itself_is_accepted() {
    let rig = Rig::new();
    let output = run(
        &rig,
        3,
        "spacing = \"0\"\nfrequency-cap = \"1/366d\"\n",
        &[
            "--backoff",
            "1ms..1h",
            "--timeout",
            "10m",
            "--rate",
            "10000/s",
        ],
    );
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.sent().len(), 3);
    let dry = run(&Rig::new(), 3, "", &["--spacing", "24h", "--dry-run"]);
    assert_eq!(code(&dry), 0, "{}", text(&dry));
}

/// A delivery deadline shorter than a minute expires before WhatsApp can deliver the
/// message: as a flag or a campaign-file key it would fail every row of the list, so the
/// run stops at set-up; in a row's cell it makes that row INVALID, naming row and field.
#[test]
fn a_deadline_shorter_than_a_minute_is_refused_as_a_flag_in_the_file_and_in_a_cell() {
    for value in ["1ms", "30s", "59s"] {
        let needles = [
            "deliverUntil".to_string(),
            format!("'{value}' is shorter than a minute"),
            "write a span of at least 1m".to_string(),
        ];
        let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
        let rig = Rig::new();
        let output = run(&rig, 1, "", &["--deliver-until", value]);
        assert_refused(&rig, &output, &needles);
        let rig = Rig::new();
        let output = run(&rig, 1, &format!("deliver-until = \"{value}\"\n"), &[]);
        assert_refused(&rig, &output, &needles);
    }
    let rig = Rig::new();
    let output = run(&rig, 1, "", &["--deliver-until", "1m"]);
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.sent().len(), 1);

    let rig = Rig::new();
    let csv = rig.file(
        "c.csv",
        &format!(
            "phone,nome,deliverUntil\n{},A,30s\n{},B,1m\n{},C,\n",
            phone(1),
            phone(2),
            phone(3)
        ),
    );
    let output = rig.run(rig.command(&csv).args([
        "--text",
        "Oi",
        "--deliver-until",
        "4h",
        "--max-invalid",
        "100%",
    ]));
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(rig.sent(), [phone(2), phone(3)]);
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert_eq!(
        (rows[0]["status"].as_str(), rows[0]["errorCode"].as_str()),
        ("INVALID", "INVALID_TIMESTAMP")
    );
    assert!(
        rows[0]["error"].starts_with("field deliverUntil: '30s' is shorter than a minute"),
        "{:?}",
        rows[0]
    );
    assert!(
        text(&output).contains("row 1: INVALID INVALID_TIMESTAMP: field deliverUntil: '30s'"),
        "{}",
        text(&output)
    );
}

#[test]
fn a_day_count_past_what_fits_is_refused_not_wrapped_around() {
    // 2^32 + 1 days once wrapped around to a cap over 1 day.
    let rig = Rig::new();
    let output = run(&rig, 1, "", &["--frequency-cap", "1/4294967297d"]);
    assert_refused(&rig, &output, &["--frequency-cap", "'1/4294967297d'"]);
}

#[test]
fn status_and_cancel_bound_their_waits_too() {
    let rig = Rig::new();
    let results = rig.file("c.results.csv", "");
    for subcommand in ["status", "cancel"] {
        for (flag, value) in [("--timeout", "1h"), ("--backoff", "1s..2h")] {
            let output = rig.run(binary().arg(subcommand).arg(&results).args([
                "--base-url",
                &rig.sandbox.base_url(),
                flag,
                value,
            ]));
            let said = text(&output);
            assert_eq!(code(&output), 2, "{subcommand} {flag}: {said}");
            assert!(said.contains("longest allowed"), "{said}");
            assert!(
                !said.contains("campaign file"),
                "{subcommand} has none: {said}"
            );
        }
    }
    assert!(rig.log().is_empty());
}

#[test]
fn attempts_past_a_hundred_are_refused_as_a_flag_in_the_file_and_for_lookups() {
    let rig = Rig::new();
    let output = run(&rig, 1, "", &["--max-attempts", "4000000000"]);
    assert_refused(
        &rig,
        &output,
        &["max-attempts", "4000000000", "more than 100"],
    );
    let output = run(&rig, 1, "max-attempts = 101\n", &[]);
    assert_refused(&rig, &output, &["max-attempts", "101", "more than 100"]);
    let results = rig.file("c.results.csv", "");
    for subcommand in ["status", "cancel"] {
        let output = rig.run(binary().arg(subcommand).arg(&results).args([
            "--base-url",
            &rig.sandbox.base_url(),
            "--max-attempts",
            "101",
        ]));
        assert_eq!(code(&output), 2, "{subcommand}: {}", text(&output));
        assert!(text(&output).contains("max-attempts"), "{}", text(&output));
    }
    assert!(rig.log().is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Any number of any unit, however large, is accepted exactly when it is within the
    /// setting's maximum and refused (exit 2) otherwise: never a panic (exit 101).
    #[test]
    fn a_wait_is_accepted_exactly_up_to_its_maximum_and_never_panics(
        number in prop_oneof![0u64..100_000, any::<u64>()],
        unit in prop::sample::select(&["ms", "s", "m", "h", "d", "w", "y"][..]),
        (key, max_ms) in prop::sample::select(
            &[("spacing", 86_400_000u128), ("backoff", 3_600_000), ("timeout", 600_000)][..]
        ),
    ) {
        let unit_ms: Option<u128> = match unit {
            "ms" => Some(1),
            "s" => Some(1_000),
            "m" => Some(60_000),
            "h" => Some(3_600_000),
            _ => None, // calendar units are not durations here
        };
        let zero_timeout = key == "timeout" && number == 0;
        let within = unit_ms.is_some_and(|ms| u128::from(number) * ms <= max_ms);
        let rig = Rig::new();
        let value = format!("{number}{unit}");
        let flag = format!("--{key}");
        let output = run(&rig, 3, "", &[&flag, &value, "--dry-run"]);
        let expected = if within && !zero_timeout { 0 } else { 2 };
        prop_assert_eq!(code(&output), expected, "{} {}: {}", flag, value, text(&output));
        prop_assert!(rig.log().is_empty());
    }
}

/// The `sandbox` subcommand's own waits and clock: a delay past the run's maximum, or a
/// time factor its clock cannot keep, stops it at start (exit 2) naming the flag and what to
/// give; the limits themselves are accepted. A factor of 1e300 used to panic the sandbox on
/// its first status lookup.
#[test]
fn the_sandbox_subcommand_bounds_its_delays_and_its_clock() {
    let refused: [(&[&str], &[&str]); 5] = [
        (
            &["--faults", "latency=11m"],
            &["--faults", "'11m'", "10m", "latency=20ms"],
        ),
        (&["--faults", "late=0.1,late-by=3h"], &["--faults", "'3h'"]),
        (
            &["--time-factor", "1e300"],
            &["--time-factor 1e300", "at most 1000000"],
        ),
        (&["--time-factor", "0"], &["--time-factor 0", "above 0"]),
        (&["--time-factor", "NaN"], &["--time-factor NaN"]),
    ];
    for (args, needles) in refused {
        let output = ended(binary().args(["sandbox", "--port", "0"]).args(args));
        let said = text(&output);
        assert_eq!(code(&output), 2, "{args:?}: {said}");
        for needle in needles {
            assert!(
                said.contains(needle),
                "{args:?}: missing {needle:?} in: {said}"
            );
        }
        assert!(!said.contains("listening"), "{args:?}: {said}");
    }
    let line = first_line(
        binary()
            .args(["sandbox", "--port", "0", "--time-factor", "1e6"])
            .args(["--faults", "latency=10m,late-by=10m"]),
    );
    assert!(line.starts_with("sandbox listening on "), "{line:?}");
}

/// The first line a server command prints on stdout (its address), then it is stopped.
fn first_line(command: &mut std::process::Command) -> String {
    let mut serving = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(serving.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let _ = serving.kill();
    let _ = serving.wait();
    line
}

/// `sandbox --log FILE` appends its request lines to FILE: a file that is not a sandbox log
/// (the campaign's own CSV, named by mistake) is refused untouched, before the port opens;
/// a log it wrote is appended to.
#[test]
fn the_sandbox_appends_only_to_its_own_log() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("c.csv");
    std::fs::write(&csv, "phone\n+5511999990000\n").unwrap();
    let output = ended(binary().args(["sandbox", "--port", "0", "--log"]).arg(&csv));
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(
        text(&output).contains("not a sandbox log"),
        "{}",
        text(&output)
    );
    assert!(!text(&output).contains("listening"), "{}", text(&output));
    assert_eq!(
        std::fs::read_to_string(&csv).unwrap(),
        "phone\n+5511999990000\n"
    );
    let log = dir.path().join("s.jsonl");
    std::fs::write(&log, "{\"seq\":1}\n").unwrap();
    let line = first_line(binary().args(["sandbox", "--port", "0", "--log"]).arg(&log));
    assert!(line.starts_with("sandbox listening on "), "{line:?}");
}
