//! After the send: `status` records what the API says about each message (and never asks
//! twice about a final one), `report` sums a results file up, and `cancel` cancels what is
//! still scheduled. Every assertion about requests is made from the sandbox's own log.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use campaign_sender::sandbox::SandboxConfig;
use common::*;

fn is_final(status: &str) -> bool {
    matches!(status, "READ" | "FAILED" | "CANCELED")
}

/// Sends an `n`-row campaign and lets the sandbox age its messages by an hour.
fn sent_campaign(rig: &Rig, n: usize) -> PathBuf {
    let csv = rig.file("c.csv", &campaign_csv(n));
    let output = rig.run(rig.command(&csv).args(["--template", "t"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    rig.sandbox.advance(Duration::from_secs(3600));
    rig.dir.path().join("c.results.csv")
}

#[test]
fn status_records_what_the_api_says_and_does_not_ask_again_about_final_rows() {
    let rig = Rig::new();
    let results_path = sent_campaign(&rig, 40);
    let output = rig.run(&mut rig.operation("status", &results_path));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let rows = results(&results_path);
    assert_eq!(
        rig.lookups().len(),
        40,
        "every accepted message looked up once"
    );
    let mut seen = HashMap::new();
    for row in &rows {
        let truth = rig.sandbox.message(&row["messageId"]).unwrap();
        assert_eq!(
            row["deliveryStatus"],
            truth["status"].as_str().unwrap(),
            "{row:?}"
        );
        assert_eq!(row["readAt"], truth["readAt"].as_str().unwrap_or(""));
        assert_eq!(
            row["deliveredAt"],
            truth["deliveredAt"].as_str().unwrap_or("")
        );
        assert_eq!(
            row["deliveryError"],
            truth["errorMessage"].as_str().unwrap_or("")
        );
        assert!(!row["checkedAt"].is_empty());
        *seen.entry(row["deliveryStatus"].clone()).or_insert(0) += 1;
    }
    assert!(
        seen.contains_key("READ") && seen.contains_key("DELIVERED") && seen.contains_key("FAILED"),
        "the sandbox's schedule gives a mix: {seen:?}"
    );
    assert_eq!(result_lines(&results_path), 40, "the pass ends compacted");

    // The second pass only asks about rows whose state can still change (DELIVERED).
    let output = rig.run(&mut rig.operation("status", &results_path));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let second: Vec<String> = rig.lookups()[40..].to_vec();
    let open: Vec<&String> = rows
        .iter()
        .filter(|r| !is_final(&r["deliveryStatus"]))
        .map(|r| &r["messageId"])
        .collect();
    assert_eq!(second.len(), open.len(), "{second:?}");
    assert!(second.iter().all(|id| open.contains(&id)));

    // A send rerun on the file with delivery columns resumes as before and keeps them.
    let csv = rig.dir.path().join("c.csv");
    let output = rig.run(rig.command(&csv).args(["--template", "t"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.accepted().len(), 40, "nothing sent twice");
    let after = results(&results_path);
    assert!(after.iter().all(|r| !r["deliveryStatus"].is_empty()));
}

#[test]
fn a_status_pass_stopped_half_way_keeps_what_it_learned_and_the_rerun_finishes() {
    let rig = Rig::new();
    let results_path = sent_campaign(&rig, 30);
    let before = rig.log().len();
    // The first lookup's answer is held until the stop has taken effect: no latency window.
    let gate = rig.gate();
    retarget(&results_path, &gate.base_url());
    let mut child = rig
        .operation_to("status", &results_path, &gate.base_url())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    rig.wait_for_requests(before + 1);
    signal(&child, "INT");
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    while !said.contains("stopping") {
        use std::io::BufRead as _;
        assert!(
            stderr.read_line(&mut said).unwrap() > 0,
            "no stop was announced: {said}"
        );
    }
    gate.open();
    let mut output = child.wait_with_output().unwrap();
    std::io::Read::read_to_end(&mut stderr, &mut output.stderr).unwrap();
    assert_no_key(&output);
    assert_eq!(code(&output), 3, "{said}{}", text(&output));
    let first = rig.lookups();
    assert_eq!(first.len(), 1, "the lookup in flight, and no other");
    let rows = results(&results_path);
    let learned: Vec<&HashMap<String, String>> = rows
        .iter()
        .filter(|r| r.get("checkedAt").is_some_and(|c| !c.is_empty()))
        .collect();
    assert_eq!(learned.len(), first.len(), "every answer was recorded");
    let final_ids: Vec<&String> = learned
        .iter()
        .filter(|r| is_final(&r["deliveryStatus"]))
        .map(|r| &r["messageId"])
        .collect();

    let output = rig.run(&mut rig.operation_to("status", &results_path, &gate.base_url()));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let second = &rig.lookups()[first.len()..];
    assert_eq!(second.len(), 30 - final_ids.len());
    assert!(
        second.iter().all(|id| !final_ids.contains(&id)),
        "no final row asked again"
    );
    assert!(
        results(&results_path)
            .iter()
            .all(|r| !r["deliveryStatus"].is_empty())
    );
}

/// kill -9 in the middle of a status pass: whatever was recorded is intact (no torn line
/// breaks the file), at most the one answer in flight is lost, and a rerun finishes the rest.
#[test]
fn a_status_pass_killed_mid_way_loses_at_most_one_answer_and_the_rerun_finishes() {
    let rig = Rig::new();
    let results_path = sent_campaign(&rig, 30);
    rig.status_killed_after(&results_path, 8, &["--rate", "40/s"]);
    let asked = rig.lookups().len();
    assert!(asked < 30, "the pass was killed early ({asked} lookups)");
    let learned = results(&results_path)
        .iter()
        .filter(|r| r.get("checkedAt").is_some_and(|c| !c.is_empty()))
        .count();
    assert!(
        learned + 1 >= asked && learned <= asked,
        "{learned} recorded of {asked} asked"
    );

    let output = rig.run(&mut rig.operation("status", &results_path));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let rows = results(&results_path);
    assert_eq!(rows.len(), 30);
    assert!(rows.iter().all(|r| !r["deliveryStatus"].is_empty()));
}

#[test]
fn a_refused_key_stops_the_status_pass_with_exit_3_and_records_nothing() {
    let rig = Rig::with(SandboxConfig {
        rate_limit_per_sec: None,
        api_key: Some(KEY.into()),
        ..SandboxConfig::default()
    });
    let results_path = sent_campaign(&rig, 3);
    let before = std::fs::read_to_string(&results_path).unwrap();
    let mut command = rig.operation("status", &results_path);
    command.env("PILOT_STATUS_API_KEY", "ps_revoked");
    let output = rig.run(&mut command);
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert!(text(&output).contains("401"), "{}", text(&output));
    assert_eq!(rig.lookups().len(), 1, "no lookup after the 401");
    assert_eq!(std::fs::read_to_string(&results_path).unwrap(), before);
}

#[test]
fn status_retries_429_with_retry_after_and_a_lookup_404_is_that_rows_error() {
    let rig = Rig::with_faults("429=0.5,retry-after=0");
    let results_path = sent_campaign(&rig, 20);
    // Row 2 now names a message this key has never sent.
    let text_before = std::fs::read_to_string(&results_path).unwrap();
    let id = results(&results_path)[1]["messageId"].clone();
    std::fs::write(&results_path, text_before.replace(&id, "msg_UNKNOWN")).unwrap();
    let output = rig.run(&mut rig.operation("status", &results_path));
    assert_eq!(
        code(&output),
        1,
        "a failed lookup exits 1: {}",
        text(&output)
    );
    let rows = results(&results_path);
    assert_eq!(rows[1]["deliveryError"], "NOT_FOUND");
    assert_eq!(rows[1]["deliveryStatus"], "");
    assert!(
        rows.iter()
            .enumerate()
            .all(|(i, r)| i == 1 || !r["deliveryStatus"].is_empty())
    );
    let statuses: Vec<_> = rig
        .log()
        .iter()
        .filter(|e| e.method == "GET")
        .map(|e| e.status)
        .collect();
    assert!(statuses.contains(&Some(429)), "{statuses:?}");
}

#[test]
fn report_sums_up_a_known_results_file() {
    let rig = Rig::new();
    let header = "row,destination,status,messageId,correlationId,httpStatus,errorCode,error,attempts,sentAt,rawDestination,sender,deliveryStatus,deliveredAt,readAt,deliveryError,checkedAt";
    let t = |s: u32| format!("2026-03-02T12:{:02}:{:02}Z", s / 60, s % 60);
    let queued = |row: u32, delivery: &str, error: &str| {
        format!(
            "{row},{p},QUEUED,msg_{row},c,202,,,1,{},{p},{},{delivery},,,{error},\n",
            t(row * 10 - 10),
            if row <= 4 { "centro" } else { "norte" },
            p = phone(row as usize)
        )
    };
    let mut file = format!("{header}\n");
    for (row, delivery, error) in [
        (1, "READ", ""),
        (2, "READ", ""),
        (3, "READ", ""),
        (4, "DELIVERED", ""),
        (5, "DELIVERED", ""),
        (6, "FAILED", "WHATSAPP_NOT_EXIST"),
        (7, "", ""),
    ] {
        file.push_str(&queued(row, delivery, error));
    }
    file.push_str(&format!(
        "8,{p},FAILED,,,400,MISSING_TEMPLATE_VARIABLES,nome,1,{},{p},norte\n",
        t(70),
        p = phone(8)
    ));
    file.push_str("9,123,INVALID,,,,INVALID_DESTINATION,bad,0,,123\n");
    file.push_str(&format!(
        "10,{p},UNCERTAIN,,,,TIMEOUT,late,1,{},{p}\n",
        t(80),
        p = phone(10)
    ));
    let path = rig.file("known.results.csv", &file);

    let mut command = binary();
    let output = rig.run(command.args(["report", "--tz", "UTC"]).arg(&path));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let table = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "  QUEUED                                7    70.0%\n",
        "  total                                10   100.0%\n",
        "Delivery (of 7 queued)",
        "  READ                                  3    42.9%\n",
        "  FAILED                                1    14.3%\n  NOT_CHECKED                           1    14.3%\n",
        "  delivered (DELIVERED+READ)                 71.4%\n",
        "  read*                                      42.9%\n",
        "  delivery WHATSAPP_NOT_EXIST           1  6\n",
        "  send MISSING_TEMPLATE_VARIABLES       1  8\n",
        "  input INVALID_DESTINATION             1  9\n",
        "  last                            2026-03-02 12:01:20\n",
        "  duration                                     1m 20s\n",
        "  pace                                        6.0/min\n",
        "By number                            rows  queued  delivered  read*\n",
        "  centro                                4       4     100.0%  75.0%\n",
        "  norte                                 4       3      33.3%   0.0%\n",
    ] {
        assert!(
            table.contains(expected),
            "missing '{expected}' in:\n{table}"
        );
    }

    let mut command = binary();
    let output = rig.run(command.arg("report").arg(&path).arg("--json"));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["rows"], 10);
    assert_eq!(json["queued"], 7);
    assert_eq!(
        json["send"][0],
        serde_json::json!({"status": "QUEUED", "rows": 7, "percent": 70.0})
    );
    assert_eq!(json["deliveredRate"], 71.4);
    assert_eq!(json["readRate"], 42.9);
    assert_eq!(json["durationSeconds"], 80.0);
    assert_eq!(json["sendsPerMinute"], 6.0);
    assert_eq!(json["failures"].as_array().unwrap().len(), 4);
    assert_eq!(json["checked"], 6);
    assert_eq!(
        json["failures"][0]["examples"][0],
        serde_json::json!({"row": 9})
    );
}

#[test]
fn report_draws_few_bars_however_far_apart_the_sends_are() {
    // sentAt cells typed over with dates millennia apart: one bar a week between them was
    // half a million bars, tens of megabytes of page and JSON from a two-line file.
    let rig = Rig::new();
    let header = "row,destination,status,messageId,correlationId,httpStatus,errorCode,error,attempts,sentAt,rawDestination";
    let line = |row: usize, at: &str| {
        format!(
            "{row},{p},QUEUED,msg_{row},,202,,,1,{at},{p}\n",
            p = phone(row)
        )
    };
    let file = format!(
        "{header}\n{}{}",
        line(1, "0001-01-01T00:00:00Z"),
        line(2, "9999-12-01T00:00:00Z")
    );
    let path = rig.file("far.results.csv", &file);
    let output = rig.run(
        binary()
            .arg("report")
            .arg(&path)
            .args(["--json", "--tz", "UTC"]),
    );
    assert_eq!(code(&output), 0, "{}", text(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let over = &json["sendsOverTime"];
    let bars = over["bars"].as_array().unwrap();
    assert!(bars.len() <= 120, "{} bars", bars.len());
    let sends: u64 = bars.iter().map(|b| b["sends"].as_u64().unwrap()).sum();
    assert_eq!(sends, 2, "{over}");
    assert_eq!(over["hoursPerBar"].as_i64().unwrap() % 168, 0, "{over}");
    let page = rig.dir.path().join("far.html");
    let output = rig.run(binary().arg("report").arg(&path).arg("--html").arg(&page));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.len() < 200_000, "{} bytes", html.len());
    assert!(
        html.contains(" weeks</h2>"),
        "bars of several weeks are named so"
    );
}

/// A CSV whose first `scheduled` rows go out tomorrow and the rest at once.
fn scheduled_csv(scheduled: usize, immediate: usize) -> String {
    let tomorrow = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24);
    let mut csv = String::from("phone,nome,deliverAt\n");
    for i in 0..scheduled + immediate {
        let at = if i < scheduled {
            tomorrow.to_string()
        } else {
            String::new()
        };
        csv.push_str(&format!("{},Cliente {i},{at}\n", phone(i)));
    }
    csv
}

#[test]
fn cancel_cancels_scheduled_rows_in_batches_of_at_most_100() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &scheduled_csv(150, 5));
    let output = rig.run(rig.command(&csv).args(["--template", "t"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let results_path = rig.dir.path().join("c.results.csv");

    let output = rig.run(rig.operation("cancel", &results_path).arg("--yes"));
    assert_eq!(
        code(&output),
        1,
        "5 rows were not scheduled: {}",
        text(&output)
    );
    let deletes: Vec<usize> = rig
        .log()
        .into_iter()
        .filter(|e| e.method == "DELETE")
        .map(|e| e.body["messageIds"].as_array().unwrap().len())
        .collect();
    assert_eq!(deletes, [100, 55]);
    let rows = results(&results_path);
    for row in &rows[..150] {
        assert_eq!(row["deliveryStatus"], "CANCELED", "{row:?}");
        let truth = rig.sandbox.message(&row["messageId"]).unwrap();
        assert_eq!(truth["status"], "CANCELED");
    }
    for row in &rows[150..] {
        assert!(row["deliveryError"].starts_with("NOT_CANCELED"), "{row:?}");
        assert_ne!(
            rig.sandbox.message(&row["messageId"]).unwrap()["status"],
            "CANCELED"
        );
    }
    // Tomorrow comes: canceled messages stay canceled, and status does not ask about them.
    rig.sandbox.advance(Duration::from_secs(2 * 24 * 3600));
    let before = rig.lookups().len();
    let output = rig.run(&mut rig.operation("status", &results_path));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.lookups().len() - before, 5);
    assert!(
        results(&results_path)[..150]
            .iter()
            .all(|r| r["deliveryStatus"] == "CANCELED")
    );
}

#[test]
fn cancel_without_yes_and_without_a_terminal_is_refused() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &scheduled_csv(3, 0));
    assert_eq!(
        code(&rig.run(rig.command(&csv).args(["--template", "t"]))),
        0
    );
    let results_path = rig.dir.path().join("c.results.csv");
    let before = std::fs::read_to_string(&results_path).unwrap();
    let output = rig.run(rig.operation("cancel", &results_path).stdin(Stdio::null()));
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(text(&output).contains("--yes"), "{}", text(&output));
    assert!(rig.log().iter().all(|e| e.method != "DELETE"));
    assert_eq!(std::fs::read_to_string(&results_path).unwrap(), before);
}

#[test]
fn cancel_and_status_are_refused_while_a_send_holds_the_lock() {
    let rig = Rig::new();
    let results_path = sent_campaign(&rig, 2);
    let before = std::fs::read_to_string(&results_path).unwrap();
    let held = campaign_sender::journal::Journal::open(&results_path, b',').unwrap();
    for command in [rig.operation("status", &results_path), {
        let mut c = rig.operation("cancel", &results_path);
        c.arg("--yes");
        c
    }] {
        let mut command = command;
        let output = rig.run(&mut command);
        assert_eq!(
            code(&output),
            i32::from(campaign_sender::ALREADY_RUNNING),
            "{}",
            text(&output)
        );
        assert!(text(&output).contains("in use"), "{}", text(&output));
    }
    assert!(rig.lookups().is_empty());
    // The report reads without the lock, even while a run holds it. (Asked before the lock
    // is let go: taking it again at once can fail while a child another test forks in the
    // meantime still shares its descriptor.)
    let output = rig.run(binary().arg("report").arg(&results_path));
    assert_eq!(code(&output), 0, "{}", text(&output));
    drop(held);
    assert_eq!(std::fs::read_to_string(&results_path).unwrap(), before);
}

#[test]
fn status_and_cancel_refuse_a_base_url_whose_host_does_not_resolve() {
    let rig = Rig::new();
    let results_path = sent_campaign(&rig, 2);
    let before = std::fs::read(&results_path).unwrap();
    let requests = rig.log().len();
    for (subcommand, confirm) in [("status", &[][..]), ("cancel", &["--yes"][..])] {
        let mut command = binary();
        command.arg(subcommand).arg(&results_path).args(confirm);
        // One attempt: without the check, the lookup's connect error would end in exit 3.
        command.args([
            "--base-url",
            "https://no-such-host.invalid:8080",
            "--max-attempts",
            "1",
        ]);
        let output = rig.run(&mut command);
        assert_eq!(code(&output), 2, "{subcommand}: {}", text(&output));
        for needle in ["no-such-host.invalid", "--base-url"] {
            assert!(
                text(&output).contains(needle),
                "{subcommand}: {}",
                text(&output)
            );
        }
    }
    assert_eq!(rig.log().len(), requests, "nothing was asked of the API");
    assert_eq!(std::fs::read(&results_path).unwrap(), before);
}

#[test]
fn the_base_url_variable_yields_to_sandbox_and_never_shows_in_help() {
    let rig = Rig::new();
    let results_path = sent_campaign(&rig, 1);
    let gateway = "https://ops:Gw-Pa55word@gateway.example/?apikey=GATEWAY_SECRET";
    // Exported for the real campaign: a rehearsal's --sandbox still wins.
    let output = rig.run(
        binary()
            .args(["status", "--sandbox"])
            .arg(&results_path)
            .env("PILOT_STATUS_BASE_URL", gateway),
    );
    assert!(
        !text(&output).contains("cannot be used with"),
        "{}",
        text(&output)
    );
    for subcommand in ["status", "cancel"] {
        let output = rig.run(
            binary()
                .args([subcommand, "--help"])
                .env("PILOT_STATUS_BASE_URL", gateway),
        );
        assert_eq!(code(&output), 0, "{}", text(&output));
        assert!(!text(&output).contains("Pa55word"), "{}", text(&output));
        assert!(
            !text(&output).contains("GATEWAY_SECRET"),
            "{}",
            text(&output)
        );
    }
}
