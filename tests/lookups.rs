//! `status` and `cancel` against what a hostile tester found: a recorded message id no URL
//! can carry, an answer about another message, server texts of any length and with line
//! breaks, a results file of another target, and a recipient no longer in the CSV.
//!
//! Each test failed before this change: the long id stopped every pass at its row (exit 3,
//! for ever), another message's DELIVERED was recorded as the row's, a 200 KB
//! `errorMessage` went whole into `deliveryError` and its line break into the log, a file
//! sent to one address was looked up and canceled at another, and a rowless line was
//! logged as `row 0`.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use common::*;
use serde_json::{Value, json};

/// The message ids the results file records, in row order.
fn ids(results_path: &Path) -> Vec<String> {
    results(results_path)
        .iter()
        .map(|r| r["messageId"].clone())
        .collect()
}

/// Replaces the id recorded for a row with `cell` (CSV text: quoted if it must be).
fn record_id(results_path: &Path, id: &str, cell: &str) {
    let text = std::fs::read_to_string(results_path).unwrap();
    std::fs::write(results_path, text.replace(id, cell)).unwrap();
}

/// `status` or `cancel --yes` of `results_path` at `base_url`, fast.
fn pass(rig: &Rig, subcommand: &str, results_path: &Path, base_url: &str) -> std::process::Output {
    let mut command = rig.operation_to(subcommand, results_path, base_url);
    if subcommand == "cancel" {
        command.arg("--yes");
    }
    rig.run(&mut command)
}

/// No log line the pass wrote begins with what a server (or a results cell) put after a
/// line break, and the whole output stays small whatever the texts' sizes.
fn assert_log_unforged(output: &std::process::Output) {
    let said = text(output);
    assert!(said.len() < 16 * 1024, "{} bytes of output", said.len());
    assert!(
        said.lines().all(|line| !line.starts_with("FORGED")),
        "a forged log line:\n{said}"
    );
}

/// The answer a [`Canned`] server gives: (HTTP status, JSON body) for a method, a path and
/// a request body.
type Script = dyn Fn(&str, &str, &Value) -> (u16, Value) + Send + Sync;

/// What a [`Canned`] server and its handler share: the script, and what was asked.
struct Shared {
    script: Box<Script>,
    asked: Mutex<Vec<String>>,
}

/// A server on 127.0.0.1 answering every request from a script, and what it was asked.
struct Canned {
    url: String,
    shared: Arc<Shared>,
    _runtime: tokio::runtime::Runtime,
}

impl Canned {
    fn start(
        script: impl Fn(&str, &str, &Value) -> (u16, Value) + Send + Sync + 'static,
    ) -> Canned {
        let shared = Arc::new(Shared {
            script: Box::new(script),
            asked: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&shared));
        let (url, runtime) = serve(app);
        Canned {
            url,
            shared,
            _runtime: runtime,
        }
    }

    /// Every request's method and path, in order.
    fn asked(&self) -> Vec<String> {
        self.shared.asked.lock().unwrap().clone()
    }
}

async fn answer(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (method, path) = (
        request.method().to_string(),
        request.uri().path().to_string(),
    );
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    shared
        .asked
        .lock()
        .unwrap()
        .push(format!("{method} {path}"));
    let (status, json) = (shared.script)(&method, &path, &body);
    let status = axum::http::StatusCode::from_u16(status).unwrap();
    (status, axum::Json(json)).into_response()
}

/// The id a lookup's path asks about.
fn asked_id(path: &str) -> &str {
    path.trim_start_matches("/v1/messages/")
}

#[test]
fn an_id_no_url_can_carry_is_that_rows_error_and_the_pass_goes_on() {
    let rig = Rig::new();
    let results_path = rig.sent_campaign(3, false);
    let ids = ids(&results_path);
    // An id of 64 KiB (an accepted send recorded it), and one with a line break and a tab.
    record_id(&results_path, &ids[0], &"x".repeat(64 * 1024));
    record_id(&results_path, &ids[1], "\"msg\t2\nFORGED line\"");
    for _ in 0..2 {
        let before = rig.lookups().len();
        let output = pass(&rig, "status", &results_path, &rig.sandbox.base_url());
        assert_eq!(
            code(&output),
            1,
            "a row's problem, not the pass's: {}",
            text(&output)
        );
        assert!(
            text(&output).contains("cannot be looked up"),
            "{}",
            text(&output)
        );
        assert_log_unforged(&output);
        let rows = results(&results_path);
        for row in &rows[..2] {
            assert_eq!(row["deliveryError"], "UNUSABLE_MESSAGE_ID", "{row:?}");
            assert_eq!(row["deliveryStatus"], "", "{row:?}");
            assert!(!row["checkedAt"].is_empty(), "{row:?}");
        }
        assert_ne!(rows[2]["deliveryStatus"], "", "the next row is looked up");
        assert_eq!(
            rig.lookups()[before..],
            [ids[2].clone()],
            "only the usable id is asked"
        );
    }
}

#[test]
fn cancel_leaves_an_id_no_url_can_carry_out_of_its_request_and_cancels_the_rest() {
    let rig = Rig::new();
    let results_path = rig.sent_campaign(3, true);
    let ids = ids(&results_path);
    record_id(&results_path, &ids[1], &"x".repeat(64 * 1024));
    let output = pass(&rig, "cancel", &results_path, &rig.sandbox.base_url());
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_log_unforged(&output);
    let asked: Vec<Value> = (rig.log().into_iter())
        .filter(|e| e.method == "DELETE")
        .map(|e| e.body["messageIds"].clone())
        .collect();
    assert_eq!(asked, [json!([ids[0], ids[2]])]);
    let rows = results(&results_path);
    assert_eq!(
        rows[1]["deliveryError"], "UNUSABLE_MESSAGE_ID",
        "{:?}",
        rows[1]
    );
    assert_eq!(rows[1]["deliveryStatus"], "");
    for row in [&rows[0], &rows[2]] {
        assert_eq!(row["deliveryStatus"], "CANCELED", "{row:?}");
    }
}

#[test]
fn an_answer_about_another_message_is_not_taken_as_the_rows_state() {
    let rig = Rig::new();
    let results_path = rig.sent_campaign(3, false);
    let ids = ids(&results_path);
    let known = ids.clone();
    let server = Canned::start(move |_, path, _| {
        let id = asked_id(path);
        let answer = match known.iter().position(|k| k == id) {
            // Another message's answer, delivered.
            Some(0) => json!({"id": "msg_someone_else", "status": "DELIVERED",
                              "deliveredAt": "2026-01-01T00:00:05Z"}),
            // Asked by its correlation id (the vendor allows it): the answer is its own.
            Some(1) => json!({"id": "internal_2", "correlationId": id, "status": "SENT"}),
            // No id at all: not read, as before.
            _ => json!({"status": "DELIVERED"}),
        };
        (200, answer)
    });
    retarget(&results_path, &server.url);
    let output = pass(&rig, "status", &results_path, &server.url);
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(server.asked().len(), 3);
    let rows = results(&results_path);
    assert_eq!(
        (
            rows[0]["deliveryStatus"].as_str(),
            rows[0]["deliveredAt"].as_str()
        ),
        ("", ""),
        "{:?}",
        rows[0]
    );
    assert_eq!(rows[0]["deliveryError"], "ANSWER_FOR_ANOTHER_ID");
    assert_eq!(rows[1]["deliveryStatus"], "SENT", "{:?}", rows[1]);
    assert_eq!(rows[2]["deliveryStatus"], "", "{:?}", rows[2]);
    assert_eq!(rows[2]["deliveryError"], "BAD_ANSWER", "{:?}", rows[2]);
    assert!(
        text(&output).contains("msg_someone_else"),
        "{}",
        text(&output)
    );
}

/// A text of `n` times `c`, then a line break and what it would forge.
fn huge(c: char, n: usize) -> String {
    format!(
        "{}\nFORGED 2026-01-01T00:00:00Z ERROR a line the server wrote",
        c.to_string().repeat(n)
    )
}

/// `n` times `c` as it is kept: the first 200 characters, then `…`.
fn capped(c: char) -> String {
    format!("{}…", c.to_string().repeat(200))
}

#[test]
fn a_cancel_carried_out_with_its_answer_lost_is_not_refused_on_the_retry() {
    let rig = Rig::new();
    let results_path = rig.sent_campaign(2, true);
    // The first DELETE cancels both messages but its answer is a 500; the retry is told
    // they are no longer scheduled, which they are not because they were canceled.
    let canceled = Arc::new(Mutex::new(Vec::<String>::new()));
    let server = Canned::start(move |method, path, body| {
        let mut canceled = canceled.lock().unwrap();
        match method {
            "DELETE" => {
                let ids: Vec<String> = (body["messageIds"].as_array().unwrap().iter())
                    .map(|id| id.as_str().unwrap().to_string())
                    .collect();
                if canceled.is_empty() {
                    canceled.extend(ids);
                    return (500, json!({"error": "internal"}));
                }
                let failed: Vec<Value> = (ids.iter())
                    .map(|id| json!({"id": id, "reason": "Message is CANCELED"}))
                    .collect();
                (
                    200,
                    json!({"cancelled": 0, "notFound": 0, "failed": failed}),
                )
            }
            _ => {
                let id = asked_id(path);
                let status = if canceled.iter().any(|c| c == id) {
                    "CANCELED"
                } else {
                    "QUEUED"
                };
                (200, json!({"id": id, "status": status}))
            }
        }
    });
    retarget(&results_path, &server.url);
    let output = pass(&rig, "cancel", &results_path, &server.url);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let asked = server.asked();
    assert_eq!(
        asked.iter().filter(|a| a.starts_with("GET")).count(),
        2,
        "the refusals after a retry are looked up: {asked:?}"
    );
    for row in results(&results_path) {
        assert_eq!(row["deliveryStatus"], "CANCELED", "{row:?}");
        assert_eq!(row["deliveryError"], "", "{row:?}");
    }
}

#[test]
fn a_cancel_refused_for_good_records_its_rows_and_goes_on() {
    let rig = Rig::new();
    let results_path = rig.sent_campaign(2, true);
    // A 400 a rerun would get again: the rows' problem, not a reason to stop with exit 3.
    let server = Canned::start(|method, path, _| match method {
        "DELETE" => (400, json!({"code": "VALIDATION_ERROR", "error": "bad"})),
        _ => (200, json!({"id": asked_id(path), "status": "QUEUED"})),
    });
    retarget(&results_path, &server.url);
    let output = pass(&rig, "cancel", &results_path, &server.url);
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert!(
        !text(&output).contains("rerun the same command"),
        "{}",
        text(&output)
    );
    for row in results(&results_path) {
        assert_eq!(
            row["deliveryError"], "NOT_CANCELED: VALIDATION_ERROR",
            "{row:?}"
        );
        assert_eq!(row["deliveryStatus"], "QUEUED", "{row:?}");
    }
}

#[test]
fn a_lookup_answered_with_an_unknown_status_is_not_counted_as_looked_up() {
    let rig = Rig::new();
    let results_path = rig.sent_campaign(1, false);
    let server =
        Canned::start(|_, path, _| (200, json!({"id": asked_id(path), "status": "EXPIRED"})));
    retarget(&results_path, &server.url);
    let output = pass(&rig, "status", &results_path, &server.url);
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert!(
        text(&output).contains("0 looked up") && text(&output).contains("1 could not be"),
        "{}",
        text(&output)
    );
    assert_eq!(
        results(&results_path)[0]["deliveryError"],
        "UNKNOWN_STATUS EXPIRED"
    );
}

#[test]
fn a_lookup_answered_404_is_not_found_whatever_its_body_says() {
    let rig = Rig::new();
    let results_path = rig.sent_campaign(1, false);
    // The vendor documents the 404 ("message not found"), not its body.
    let server = Canned::start(|_, _, _| (404, json!({"error": "Message not found"})));
    retarget(&results_path, &server.url);
    let output = pass(&rig, "status", &results_path, &server.url);
    assert_eq!(code(&output), 1, "{}", text(&output));
    let rows = results(&results_path);
    assert_eq!(rows[0]["deliveryError"], "NOT_FOUND", "{:?}", rows[0]);
    assert_ne!(rows[0]["checkedAt"], "");
}

#[test]
fn server_texts_are_capped_and_kept_on_one_line() {
    let rig = Rig::new();
    let results_path = rig.sent_campaign(3, true);
    let ids = ids(&results_path);
    let known = ids.clone();
    let server = Canned::start(move |method, path, body| match method {
        "DELETE" => {
            let failed: Vec<Value> = (body["messageIds"].as_array().unwrap().iter())
                .map(|id| json!({"id": id, "reason": huge('R', 100_000)}))
                .collect();
            (
                200,
                json!({"cancelled": 0, "notFound": 0, "failed": failed}),
            )
        }
        _ => {
            let id = asked_id(path);
            match known.iter().position(|k| k == id) {
                Some(0) => (
                    200,
                    json!({"id": id, "status": "FAILED",
                                       "errorMessage": huge('E', 200_000)}),
                ),
                Some(1) => (200, json!({"id": id, "status": huge('S', 100_000)})),
                _ => (
                    422,
                    json!({"code": huge('C', 5_000), "error": huge('M', 100_000)}),
                ),
            }
        }
    });
    retarget(&results_path, &server.url);
    let output = pass(&rig, "status", &results_path, &server.url);
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_log_unforged(&output);
    let rows = results(&results_path);
    assert_eq!(rows[0]["deliveryStatus"], "FAILED");
    assert_eq!(rows[0]["deliveryError"], capped('E'));
    assert_eq!(
        rows[1]["deliveryStatus"], "",
        "an unknown word is not a status"
    );
    assert_eq!(
        rows[1]["deliveryError"],
        format!("UNKNOWN_STATUS {}", capped('S'))
    );
    // An error code is cut shorter than a text, as a send's is.
    assert_eq!(rows[2]["deliveryError"], format!("{}…", "C".repeat(100)));

    // Rows 2 and 3 are still scheduled for all `cancel` knows; the API refuses them at length.
    let output = pass(&rig, "cancel", &results_path, &server.url);
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_log_unforged(&output);
    let rows = results(&results_path);
    for row in &rows[1..] {
        assert_eq!(
            row["deliveryError"],
            format!("NOT_CANCELED: {}", capped('R'))
        );
    }
}

#[test]
fn status_and_cancel_refuse_a_file_of_another_base_url_until_the_move_is_confirmed() {
    let rig = Rig::new();
    let results_path = rig.sent_campaign(3, true);
    // The same API at another address.
    let gate = rig.gate();
    gate.open();
    let moved = gate.base_url();
    let before = std::fs::read(&results_path).unwrap();
    for subcommand in ["status", "cancel"] {
        let output = pass(&rig, subcommand, &results_path, &moved);
        assert_eq!(code(&output), 2, "{subcommand}: {}", text(&output));
        for needle in [rig.sandbox.base_url().as_str(), &moved, "--retarget"] {
            assert!(
                text(&output).contains(needle),
                "{subcommand}: {}",
                text(&output)
            );
        }
        assert!(!text(&output).contains("--results"), "{}", text(&output));
    }
    assert_eq!(rig.log().len(), 3, "nothing looked up or canceled");
    assert_eq!(std::fs::read(&results_path).unwrap(), before, "untouched");

    let output = rig.run(
        rig.operation_to("status", &results_path, &moved)
            .arg("--retarget"),
    );
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.lookups().len(), 3);
    let target = format!("pilot-status {moved}");
    assert!(results(&results_path).iter().all(|r| r["target"] == target));
    // Moved: the next pass goes on without the flag, and the old address is now the other.
    let output = pass(&rig, "status", &results_path, &moved);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let output = pass(&rig, "cancel", &results_path, &rig.sandbox.base_url());
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(rig.log().iter().all(|e| e.method != "DELETE"));
}

#[test]
fn status_refuses_a_rehearsal_for_the_real_api_and_the_real_file_for_a_rehearsal() {
    let rig = Rig::new();
    let results_path = rig.sent_campaign(3, false);
    let before = std::fs::read(&results_path).unwrap();
    let mut command = binary();
    command.args(["status", "--sandbox"]).arg(&results_path);
    let output = rig.run(&mut command);
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(text(&output).contains("real sends"), "{}", text(&output));
    assert_eq!(std::fs::read(&results_path).unwrap(), before, "untouched");

    // The same file as a rehearsal's: its rows reached no one.
    let mut journal = campaign_sender::journal::Journal::open(&results_path, b',').unwrap();
    journal.retarget("sandbox").unwrap();
    drop(journal);
    let output = pass(&rig, "status", &results_path, &rig.sandbox.base_url());
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(
        text(&output).contains("sandbox rehearsal"),
        "{}",
        text(&output)
    );
    assert_eq!(rig.lookups().len(), 0, "nothing asked of the API");
    // A rehearsal's own pass still runs (its fresh sandbox knows none of the ids).
    let output = rig.run(&mut command);
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(results(&results_path)[0]["deliveryError"], "NOT_FOUND");
}

#[test]
fn a_results_file_without_targets_is_looked_up_as_before() {
    let rig = Rig::new();
    let results_path = rig.file(
        "old.results.csv",
        &format!(
            "row,destination,status,messageId,correlationId,httpStatus,errorCode,error,attempts,sentAt,rawDestination,sender\n\
             1,{p},QUEUED,msg_1,,202,,,1,2026-01-01T00:00:00Z,{p},\n",
            p = phone(0)
        ),
    );
    let output = pass(&rig, "status", &results_path, &rig.sandbox.base_url());
    assert_eq!(code(&output), 1, "looked up, unknown: {}", text(&output));
    assert_eq!(rig.lookups(), ["msg_1"]);
    assert_eq!(results(&results_path)[0]["deliveryError"], "NOT_FOUND");
}

#[test]
fn a_recipient_no_longer_in_the_csv_is_named_by_number_not_as_row_0() {
    for (subcommand, scheduled) in [("status", false), ("cancel", true)] {
        let rig = Rig::new();
        let results_path = rig.sent_campaign(3, scheduled);
        let id = ids(&results_path)[1].clone();
        // The list re-exported without its second person: a rerun keeps their line, rowless.
        let shorter = campaign_csv(3).replace(&format!("{},Cliente 1\n", phone(1)), "");
        let csv = rig.file("c.csv", &shorter);
        let mut rerun = rig.command(&csv);
        rerun.args(["--template", "t"]);
        if scheduled {
            rerun.args(["--deliver-at", "2099-01-01T09:00:00Z"]);
        }
        let rerun = rig.run(&mut rerun);
        assert_eq!(code(&rerun), 0, "{}", text(&rerun));
        let kept = std::fs::read_to_string(&results_path).unwrap();
        let rowless = format!(",{},QUEUED,{id},", phone(1));
        assert!(kept.lines().any(|l| l.starts_with(&rowless)), "{kept}");
        // An id no URL can carry makes the pass log that line by name.
        record_id(&results_path, &id, "\"bad\nid\"");
        let said = text(&pass(
            &rig,
            subcommand,
            &results_path,
            &rig.sandbox.base_url(),
        ));
        let named = format!("{} (no longer in the CSV)", phone(1));
        assert!(said.contains(&named), "{subcommand}: {said}");
        assert!(!said.contains("row 0"), "{subcommand}: {said}");
    }
}
