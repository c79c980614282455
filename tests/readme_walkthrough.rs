//! The README's "Your first real campaign", followed literally: its CSV block becomes
//! `clientes.csv`, and each `campaign-sender` command of its shell blocks runs in order, as
//! written, through `sh` (so `> bodies.jsonl` redirects), with the key the README exports.
//! "Real" is the sandbox reached through `PILOT_STATUS_BASE_URL`, and a test pace sits in
//! `clientes.toml`, the campaign file the README says the options can live in. Each step
//! is checked against what the text beside it promises.

mod common;

use std::path::Path;
use std::process::Output;

use common::{Rig, code, results, text};

fn walkthrough() -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("## Your first real campaign")
        .expect("the README has its walkthrough");
    let end = readme[start..]
        .find("\n## ")
        .map_or(readme.len(), |end| start + end);
    readme[start..end].to_owned()
}

/// The fenced blocks of `kind` (`csv`, `sh`) in order, their lines unindented.
fn blocks(text: &str, kind: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in text.lines() {
        let line = line.trim();
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(tag)) if tag == kind => current = Some(Vec::new()),
            (Some(_), Some("")) => found.push(current.take().unwrap()),
            (Some(lines), None) => lines.push(line.to_owned()),
            _ => {}
        }
    }
    found
}

/// The README's `export NAME=VALUE` lines (comments dropped) and its `campaign-sender` commands.
fn commands(text: &str) -> (Vec<(String, String)>, Vec<String>) {
    let (mut env, mut commands) = (Vec::new(), Vec::new());
    for line in blocks(text, "sh").into_iter().flatten() {
        if let Some(export) = line.strip_prefix("export ") {
            let export = export.split('#').next().unwrap().trim();
            let (name, value) = export.split_once('=').unwrap();
            env.push((name.to_owned(), value.to_owned()));
        } else if line.starts_with("campaign-sender ") {
            commands.push(line);
        }
    }
    (env, commands)
}

struct Walk<'a> {
    rig: &'a Rig,
    dir: &'a Path,
    env: Vec<(String, String)>,
}

impl Walk<'_> {
    /// One README command line, run by `sh` in the campaign's folder with the binary on PATH.
    fn run(&self, line: &str) -> Output {
        let bin = Path::new(env!("CARGO_BIN_EXE_campaign-sender"))
            .parent()
            .unwrap();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let output = std::process::Command::new("sh")
            .args(["-c", line])
            .current_dir(self.dir)
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.dir)
            .env("XDG_STATE_HOME", self.dir.join("state"))
            .env("NO_COLOR", "1")
            .env("PILOT_STATUS_BASE_URL", self.rig.sandbox.base_url())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        common::assert_no_key(&output);
        output
    }
}

#[test]
fn the_first_campaign_walkthrough_does_what_its_text_says() {
    let text_of_readme = walkthrough();
    let rig = Rig::new();
    let dir = rig.dir.path();

    // 1. The exported list.
    let csv = blocks(&text_of_readme, "csv");
    assert_eq!(csv.len(), 1, "one CSV example");
    std::fs::write(dir.join("clientes.csv"), csv[0].join("\n") + "\n").unwrap();
    let destinations = ["+5511988887777", "+5521977776666"];
    // A test pace: the README's commands would otherwise wait 8-25 s between sends.
    std::fs::write(
        dir.join("clientes.toml"),
        "spacing = \"0\"\nrate = \"1000/s\"\n",
    )
    .unwrap();

    let (env, commands) = commands(&text_of_readme);
    assert!(
        env.iter().any(|(k, _)| k == "PILOT_STATUS_API_KEY"),
        "the walkthrough exports the key: {env:?}"
    );
    let walk = Walk {
        rig: &rig,
        dir,
        env,
    };
    let mut commands = commands.iter();
    let mut next = |needle: &str| {
        let line = commands
            .next()
            .unwrap_or_else(|| panic!("the walkthrough has no command for {needle}"));
        assert!(line.contains(needle), "expected {needle}, got {line}");
        line.clone()
    };
    let results_file = dir.join("clientes.results.csv");

    // 2. "Check it, sending nothing": bodies as JSON lines on stdout, nothing sent or written.
    let dry_run = next("--dry-run");
    let output = walk.run(&dry_run);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let bodies = std::fs::read_to_string(dir.join("bodies.jsonl")).unwrap();
    let bodies: Vec<serde_json::Value> = bodies
        .lines()
        .map(|l| serde_json::from_str(l).expect("stdout is JSON lines only"))
        .collect();
    let previewed: Vec<&str> = bodies
        .iter()
        .map(|b| b["body"]["destinationNumber"].as_str().unwrap())
        .collect();
    assert_eq!(previewed, destinations);
    assert!(rig.log().is_empty() && !results_file.exists());

    // 3. "Rehearse against the sandbox (same command, --sandbox)": its own results file.
    let rehearsal = dry_run.replace("--dry-run > bodies.jsonl", "--sandbox");
    let output = walk.run(&rehearsal);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let rehearsed = results(&dir.join("clientes.sandbox.results.csv"));
    assert!(
        rehearsed.iter().all(|r| r["status"] == "QUEUED"),
        "{rehearsed:?}"
    );
    assert_eq!(rehearsed.len(), 2);
    assert!(rig.log().is_empty() && !results_file.exists());

    // 4. "Send a test first": one message, the first row's, to the --to number; prints its
    // id; the campaign's results file is untouched.
    let output = walk.run(&next("campaign-sender test "));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.sent(), ["+5511988880000"]);
    let id = rig.accepted()[0].message_id.clone().unwrap();
    assert!(
        text(&output).contains(&format!("row 1, to +5511988880000, id {id}")),
        "{}",
        text(&output)
    );
    assert!(!results_file.exists());

    // 5. "Send": every row once (no terminal, so no question).
    let output = walk.run(&next("--template promo_black_friday"));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.sent()[1..], destinations);
    let sent = results(&results_file);
    assert!(sent.iter().all(|r| r["status"] == "QUEUED"), "{sent:?}");

    // 6. Follow it up: status records the delivery, report prints figures, and the HTML
    // report is one page with its charts inline.
    let output = walk.run("campaign-sender status clientes.results.csv");
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert!(
        results(&results_file)
            .iter()
            .all(|r| !r["deliveryStatus"].is_empty()),
        "status recorded each delivery"
    );
    let output = walk.run("campaign-sender report clientes.results.csv");
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert!(text(&output).contains("rows"), "{}", text(&output));
    let output = walk.run(&next("--html clientes.html"));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let page = std::fs::read_to_string(dir.join("clientes.html")).unwrap();
    assert!(
        page.contains("<svg") && !page.contains("<script src"),
        "self-contained"
    );
    assert!(
        commands.next().is_none(),
        "a new README command needs a step here"
    );
}
