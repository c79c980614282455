//! Servers that misbehave on purpose: redirects that would carry the key elsewhere, bodies
//! that never end, absurd `Retry-After`s, numeric ids, and a machine without CA
//! certificates. Each server here is the test's own (axum on 127.0.0.1) and records what it
//! saw, so every assertion is about what really reached it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use common::*;
use serde_json::{Value, json};

/// What a test server answers to every request.
#[derive(Clone)]
enum Script {
    /// This 3xx status with `Location: location`.
    Redirect(u16, String),
    /// 202 with this JSON.
    Accept(Value),
    /// 202 with `{"id": n}`, n counting the requests from 1.
    NumericIds,
    /// 429 with this `Retry-After`.
    TooMany(String),
    /// 429 with this `Retry-After` and this error code.
    TooManyAs(String, String),
    /// 202 with `{"id": "msg_n"}` and this `Retry-After`.
    AcceptAfter(String),
    /// 200 to a lookup, the message asked about `SENT`, with this `Retry-After`.
    SentAfter(String),
    /// 202 with a chunked body that never ends, and this `Retry-After` if any.
    Endless(Option<String>),
    /// This status and these exact body bytes; `{key}` in them becomes the request's key
    /// (a server echoing what it was sent), `{escaped}` the key spelled in JSON escapes.
    Raw(u16, Vec<u8>),
    /// This status, then these body bytes, then the body breaks off (the chunked body never
    /// gets its last chunk).
    BrokenOff(u16, &'static str),
}

/// One request a test server received.
#[derive(Debug, Clone)]
struct Seen {
    destination: Option<String>,
}

struct Shared {
    script: Mutex<Script>,
    seen: Mutex<Vec<Seen>>,
    /// Bytes of endless body handed to the socket.
    streamed: AtomicU64,
}

struct Server {
    url: String,
    shared: Arc<Shared>,
    _runtime: tokio::runtime::Runtime,
}

/// One piece of an endless body.
static CHUNK: [u8; 64 * 1024] = [b' '; 64 * 1024];

impl Server {
    fn start(script: Script) -> Server {
        let shared = Arc::new(Shared {
            script: Mutex::new(script),
            seen: Mutex::new(Vec::new()),
            streamed: AtomicU64::new(0),
        });
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&shared));
        let (url, runtime) = serve(app);
        Server {
            url,
            shared,
            _runtime: runtime,
        }
    }

    /// From now on, answer with `script` (the server "recovers").
    fn answer_with(&self, script: Script) {
        *self.shared.script.lock().unwrap() = script;
    }

    fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    fn streamed(&self) -> u64 {
        self.shared.streamed.load(Ordering::SeqCst)
    }
}

async fn answer(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let asked = request
        .uri()
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let key = (request.headers().get("x-api-key"))
        .map(|k| k.as_bytes().to_vec())
        .unwrap_or_default();
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let destination = json["destinationNumber"]
        .as_str()
        .or(json["to"].as_str())
        .map(str::to_string);
    let count = {
        let mut seen = shared.seen.lock().unwrap();
        seen.push(Seen { destination });
        seen.len()
    };
    let response = Response::builder();
    let script = shared.script.lock().unwrap().clone();
    match &script {
        Script::Redirect(status, location) => response
            .status(*status)
            .header("location", location)
            .body(Body::empty())
            .unwrap(),
        Script::Accept(body) => {
            (axum::http::StatusCode::ACCEPTED, axum::Json(body.clone())).into_response()
        }
        Script::NumericIds => (
            axum::http::StatusCode::ACCEPTED,
            axum::Json(json!({ "id": count })),
        )
            .into_response(),
        Script::AcceptAfter(after) => response
            .status(202)
            .header("retry-after", after)
            .body(Body::from(format!(r#"{{"id":"msg_{count}"}}"#)))
            .unwrap(),
        Script::SentAfter(after) => response
            .status(200)
            .header("retry-after", after)
            .body(Body::from(
                json!({ "id": asked, "status": "SENT" }).to_string(),
            ))
            .unwrap(),
        Script::TooMany(after) => too_many(response, after, "RATE_LIMITED"),
        Script::TooManyAs(after, code) => too_many(response, after, code),
        Script::Raw(status, bytes) => {
            let key = String::from_utf8_lossy(&key);
            let escaped: String = key
                .chars()
                .map(|c| format!("\\u{:04x}", c as u32))
                .collect();
            let echoed = String::from_utf8_lossy(bytes)
                .replace("{key}", &key)
                .replace("{escaped}", &escaped)
                .into_bytes();
            response.status(*status).body(Body::from(echoed)).unwrap()
        }
        Script::BrokenOff(status, bytes) => {
            // The head and the bytes go out first; only then does the body break.
            let bytes: &'static str = bytes;
            let pieces = futures_util::stream::unfold(0, move |step| async move {
                let piece = match step {
                    0 => Ok(Bytes::from_static(bytes.as_bytes())),
                    1 => {
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        Err(std::io::Error::other("the connection breaks"))
                    }
                    _ => return None,
                };
                Some((piece, step + 1))
            });
            response
                .status(*status)
                .body(Body::from_stream(pieces))
                .unwrap()
        }
        Script::Endless(after) => {
            let response = match after {
                Some(after) => response.header("retry-after", after),
                None => response,
            };
            let shared = Arc::clone(&shared);
            let chunks = futures_util::stream::repeat_with(move || {
                shared
                    .streamed
                    .fetch_add(CHUNK.len() as u64, Ordering::SeqCst);
                Ok::<_, std::convert::Infallible>(Bytes::from_static(&CHUNK))
            });
            response
                .status(202)
                .body(Body::from_stream(chunks))
                .unwrap()
        }
    }
}

/// A redirecting server whose `Location` points at `target` (same path), and the target.
fn redirect_to_target(status: u16) -> (Server, Server) {
    let target = Server::start(Script::NumericIds);
    let location = format!("{}/v1/messages/send", target.url);
    (Server::start(Script::Redirect(status, location)), target)
}

/// The results of a 3-row campaign (all QUEUED) sent to a server of numeric ids.
fn sent_campaign(rig: &Rig) -> PathBuf {
    let healthy = Server::start(Script::NumericIds);
    let csv = rig.file("c.csv", &campaign_csv(3));
    let output = rig.run(rig.command_to(&csv, &healthy.url).args(["--template", "t"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    rig.dir.path().join("c.results.csv")
}

/// `status` or `cancel --yes` of `results` against `base_url`, fast.
fn operation(subcommand: &str, results: &Path, base_url: &str) -> Command {
    let mut command = binary();
    command
        .arg(subcommand)
        .arg(results)
        .args(["--base-url", base_url, "--rate", "10000/s"])
        .args([
            "--backoff",
            "1ms..5ms",
            "--timeout",
            "2s",
            "--max-attempts",
            "2",
        ]);
    if subcommand == "cancel" {
        command.arg("--yes");
    }
    command
}

fn statuses(path: &Path) -> Vec<String> {
    results(path).iter().map(|r| r["status"].clone()).collect()
}

#[test]
fn a_redirect_is_never_followed_and_stops_the_run_with_the_row_deferred_or_after_303_uncertain() {
    for status in [301, 302, 303, 307, 308] {
        let rig = Rig::new();
        let (redirecting, target) = redirect_to_target(status);
        let csv = rig.file("c.csv", &campaign_csv(3));
        let output = rig.run(
            rig.command_to(&csv, &redirecting.url)
                .args(["--template", "t"]),
        );
        assert_eq!(code(&output), 3, "HTTP {status}: {}", text(&output));
        assert!(
            target.seen().is_empty(),
            "HTTP {status}: the redirect was followed"
        );
        assert_eq!(
            redirecting.seen().len(),
            1,
            "HTTP {status}: nothing after the first"
        );
        let rows = results(&rig.dir.path().join("c.results.csv"));
        assert_eq!(rows.len(), 1, "HTTP {status}: {rows:?}");
        // A 303 says the request was carried out: the row may have been sent.
        let recorded = if status == 303 {
            "UNCERTAIN"
        } else {
            "DEFERRED"
        };
        assert_eq!(rows[0]["status"], recorded, "HTTP {status}");
        assert_eq!(rows[0]["httpStatus"], status.to_string());
        assert_eq!(rows[0]["errorCode"], "REDIRECTED");
        let host = target.url.trim_start_matches("http://");
        for needle in [host, "--base-url"] {
            assert!(
                text(&output).contains(needle),
                "HTTP {status}: no '{needle}' in {}",
                text(&output)
            );
        }
    }
}

#[test]
fn after_a_redirect_the_rerun_at_the_right_address_sends_each_row_once() {
    let rig = Rig::new();
    let (redirecting, target) = redirect_to_target(307);
    let csv = rig.file("c.csv", &campaign_csv(3));
    let output = rig.run(
        rig.command_to(&csv, &redirecting.url)
            .args(["--template", "t"]),
    );
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert!(text(&output).contains("--retarget"), "{}", text(&output));
    let rerun = ["--template", "t", "--retarget"];
    let output = rig.run(rig.command_to(&csv, &target.url).args(rerun));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let sent: Vec<_> = target
        .seen()
        .into_iter()
        .filter_map(|s| s.destination)
        .collect();
    assert_eq!(sent, [phone(0), phone(1), phone(2)]);
    assert_eq!(
        statuses(&rig.dir.path().join("c.results.csv")),
        ["QUEUED"; 3]
    );
}

#[test]
fn msgflash_does_not_follow_a_redirect_either() {
    let rig = Rig::new();
    let target = Server::start(Script::Accept(json!({"data": {"id": "stolen"}})));
    let location = format!("{}/api/v1/messages/send", target.url);
    let redirecting = Server::start(Script::Redirect(308, location));
    let csv = rig.file("c.csv", &campaign_csv(2));
    let mut command = rig.msgflash(&csv);
    command.args(["--base-url", &redirecting.url, "--text", "hi"]);
    let output = rig.run(&mut command);
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert!(target.seen().is_empty(), "the redirect was followed");
    assert_eq!(
        statuses(&rig.dir.path().join("c.results.csv")),
        ["DEFERRED"]
    );
}

#[test]
fn status_and_cancel_refuse_a_redirect_and_record_nothing() {
    let rig = Rig::new();
    let results_path = sent_campaign(&rig);
    let (redirecting, target) = redirect_to_target(307);
    retarget(&results_path, &redirecting.url);
    let before = std::fs::read_to_string(&results_path).unwrap();
    for subcommand in ["status", "cancel"] {
        let output = rig.run(&mut operation(subcommand, &results_path, &redirecting.url));
        assert_eq!(code(&output), 3, "{subcommand}: {}", text(&output));
        assert!(text(&output).contains("--base-url"), "{}", text(&output));
        assert!(!text(&output).contains("panicked"), "{}", text(&output));
        assert!(
            target.seen().is_empty(),
            "{subcommand} followed the redirect"
        );
        let after = std::fs::read_to_string(&results_path).unwrap();
        assert_eq!(after, before, "{subcommand} recorded something");
    }
}

#[test]
fn an_endless_body_is_cut_off_and_the_send_is_uncertain() {
    let rig = Rig::new();
    let endless = Server::start(Script::Endless(None));
    let csv = rig.file("c.csv", &campaign_csv(2));
    let output = rig.run(rig.command_to(&csv, &endless.url).args(["--template", "t"]));
    assert_eq!(code(&output), 1, "{}", text(&output));
    let rows = results(&rig.dir.path().join("c.results.csv"));
    for row in &rows {
        assert_eq!(row["status"], "UNCERTAIN", "{row:?}");
        assert_eq!(row["errorCode"], "RESPONSE_TOO_LARGE", "{row:?}");
    }
    assert_eq!(rows.len(), 2, "the run goes on after an uncertain row");
    assert_eq!(endless.seen().len(), 2, "never resent");
    // The client hung up long before: only socket buffers' worth was ever written.
    assert!(
        endless.streamed() < 32 << 20,
        "{} bytes streamed",
        endless.streamed()
    );
}

/// The headers asked the number to wait, then the body ran past what is read: the send is
/// uncertain, and the wait still holds (its row's note, which the next run honors).
#[test]
fn a_wait_asked_before_a_body_that_breaks_still_holds() {
    let rig = Rig::new();
    // Past the hour a run waits: the number's sends stop once the row is recorded.
    let endless = Server::start(Script::Endless(Some("7200".into())));
    let csv = rig.file("c.csv", &campaign_csv(2));
    let output = rig.run(rig.command_to(&csv, &endless.url).args(["--template", "t"]));
    assert_eq!(code(&output), 3, "{}", text(&output));
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert_eq!(rows.len(), 1, "the wait stops the next row: {rows:?}");
    assert_eq!(rows[0]["status"], "UNCERTAIN", "{rows:?}");
    assert_eq!(rows[0]["errorCode"], "RESPONSE_TOO_LARGE", "{rows:?}");
    assert!(rows[0]["error"].contains("asked to wait until"), "{rows:?}");
    assert_eq!(endless.seen().len(), 1);
}

#[test]
fn status_and_cancel_give_up_on_an_endless_body_with_a_clear_error() {
    let rig = Rig::new();
    let results_path = sent_campaign(&rig);
    let endless = Server::start(Script::Endless(None));
    retarget(&results_path, &endless.url);
    let output = rig.run(&mut operation("status", &results_path, &endless.url));
    assert_eq!(code(&output), 1, "{}", text(&output));
    for row in results(&results_path) {
        assert_eq!(row["deliveryError"], "RESPONSE_TOO_LARGE", "{row:?}");
        assert_eq!(row["deliveryStatus"], "", "{row:?}");
    }
    // The batch's answer cannot be read, nor can the lookups that follow it: each row says
    // so, and the pass ends (a rerun would meet the same body).
    let output = rig.run(&mut operation("cancel", &results_path, &endless.url));
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert!(
        text(&output).contains("RESPONSE_TOO_LARGE"),
        "{}",
        text(&output)
    );
    for row in results(&results_path) {
        assert_eq!(row["deliveryError"], "RESPONSE_TOO_LARGE", "{row:?}");
    }
    assert!(endless.streamed() < 32 << 20, "{}", endless.streamed());
}

#[test]
fn a_retry_after_beyond_the_ceiling_stops_the_run_and_a_rerun_past_it_sends_the_row_once() {
    for after in [
        "18446744073709551615",
        "999999",
        "Thu, 01 Jan 2099 00:00:00 GMT",
    ] {
        let rig = Rig::new();
        let limited = Server::start(Script::TooMany(after.into()));
        let csv = rig.file("c.csv", &campaign_csv(3));
        let output = rig.run(rig.command_to(&csv, &limited.url).args(["--template", "t"]));
        assert_eq!(code(&output), 3, "{after}: {}", text(&output));
        for needle in ["asks to wait", "rerun later"] {
            assert!(text(&output).contains(needle), "{after}: {}", text(&output));
        }
        assert!(!text(&output).contains("panicked"), "{}", text(&output));
        assert_eq!(limited.seen().len(), 1, "{after}: no retry, no further row");
        let results_path = rig.dir.path().join("c.results.csv");
        let rows = results(&results_path);
        assert_eq!(
            (
                rows.len(),
                rows[0]["status"].as_str(),
                rows[0]["httpStatus"].as_str()
            ),
            (1, "DEFERRED", "429"),
            "{after}: {rows:?}"
        );

        // The rerun honors the wait the file wrote down; once the limit is lifted, the
        // person says so for one run.
        limited.answer_with(Script::NumericIds);
        let output = rig.run(rig.command_to(&csv, &limited.url).args(["--template", "t"]));
        assert_eq!(code(&output), 3, "{after}: {}", text(&output));
        assert_eq!(limited.seen().len(), 1, "{after}: the rerun waited");
        let output = rig.run(rig.command_to(&csv, &limited.url).args([
            "--template",
            "t",
            "--ignore-earlier-retry-after",
        ]));
        assert_eq!(code(&output), 0, "{after}: {}", text(&output));
        let sent: Vec<_> = limited
            .seen()
            .into_iter()
            .filter_map(|s| s.destination)
            .collect();
        assert_eq!(
            sent,
            [phone(0), phone(0), phone(1), phone(2)],
            "{after}: row 1 once more"
        );
        assert_eq!(statuses(&results_path), ["QUEUED"; 3], "{after}");
    }
}

/// A wait the API asked of a number is kept in the ledger too, so it outlives the line it
/// was written on: the row opted out since (its line replaced at the next rewrite), and a
/// `test` of the number, still wait.
#[test]
fn a_wait_asked_of_a_number_outlives_its_row_s_line_and_holds_test_messages() {
    let rig = Rig::new();
    let limited = Server::start(Script::TooMany("7200".into()));
    let csv = rig.file("c.csv", &campaign_csv(3));
    let run = |extra: &[&str]| {
        let mut command = rig.command_to(&csv, &limited.url);
        rig.run(command.args(["--template", "t"]).args(extra))
    };
    assert_eq!(code(&run(&[])), 3);
    assert_eq!(limited.seen().len(), 1);
    limited.answer_with(Script::NumericIds);
    // Row 1, the one that was answered, is opted out: its line (and the wait written on
    // it) is replaced. This run and the next still wait.
    let opt_out = rig.file("opt-out.txt", &format!("{}\n", phone(0)));
    let suppress = ["--suppress", opt_out.to_str().unwrap()];
    for _ in 0..2 {
        let output = run(&suppress);
        assert_eq!(code(&output), 3, "{}", text(&output));
        assert_eq!(limited.seen().len(), 1, "{}", text(&output));
    }
    let row = &results(&rig.dir.path().join("c.results.csv"))[0];
    assert_eq!(row["status"], "SKIPPED", "{row:?}");
    // A test of the number sends nothing either.
    assert_a_test_is_held(&rig, &csv, &limited.url);
    assert_eq!(limited.seen().len(), 1);
    // A run told to ignore the wait but refused before its first send (--strict, a bad
    // row) leaves it for the next run.
    let bad = rig.file("bad.csv", "phone\nnot a phone\n");
    let refused = rig.run(rig.command_to(&bad, &limited.url).args([
        "--template",
        "t",
        "--strict",
        "--ignore-earlier-retry-after",
    ]));
    assert_eq!(code(&refused), 2, "{}", text(&refused));
    let output = run(&suppress);
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert_eq!(limited.seen().len(), 1, "still held: {}", text(&output));
    // Once the limit is lifted, the person says so for one run: the rest go.
    let output = run(&["--ignore-earlier-retry-after"]);
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(limited.seen().len(), 3, "rows 2 and 3");
    let output = run(&[]);
    assert_eq!(code(&output), 0, "{}", text(&output));
}

/// A `test` message to the campaign's number is refused (exit 1) for the wait an answer
/// asked of the number.
fn assert_a_test_is_held(rig: &Rig, csv: &Path, url: &str) {
    let test = rig.run(rig.tester(csv, url).args(["--to", "+5521999990001"]));
    assert_eq!(code(&test), 1, "{}", text(&test));
    assert!(
        text(&test).contains("asked this number to wait"),
        "{}",
        text(&test)
    );
}

#[test]
fn a_wait_answered_with_this_tool_s_own_code_for_an_interrupted_send_holds_test_messages_too() {
    // INTERRUPTED marks an earlier run's send left in flight, which the ledger leaves out;
    // the ledger went by the code, so a server answering with it kept its wait from the
    // number's other runs and tests.
    let rig = Rig::new();
    let limited = Server::start(Script::TooManyAs("7200".into(), "INTERRUPTED".into()));
    let csv = rig.file("c.csv", &campaign_csv(1));
    let output = rig.run(rig.command_to(&csv, &limited.url).args(["--template", "t"]));
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert_a_test_is_held(&rig, &csv, &limited.url);
    assert_eq!(limited.seen().len(), 1, "the test sent nothing");
}

#[test]
fn status_stops_on_a_retry_after_beyond_the_ceiling() {
    let rig = Rig::new();
    let results_path = sent_campaign(&rig);
    let limited = Server::start(Script::TooMany("18446744073709551615".into()));
    retarget(&results_path, &limited.url);
    let before = std::fs::read_to_string(&results_path).unwrap();
    let output = rig.run(&mut operation("status", &results_path, &limited.url));
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert!(text(&output).contains("asks to wait"), "{}", text(&output));
    assert_eq!(limited.seen().len(), 1, "no retry");
    assert_eq!(std::fs::read_to_string(&results_path).unwrap(), before);
}

#[test]
fn status_honors_a_retry_after_on_a_successful_lookup_too() {
    let rig = Rig::new();
    let results_path = sent_campaign(&rig);
    let server = Server::start(Script::SentAfter("7200".into()));
    retarget(&results_path, &server.url);
    let output = rig.run(&mut operation("status", &results_path, &server.url));
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert_eq!(
        server.seen().len(),
        1,
        "the next lookup waits: {}",
        text(&output)
    );
    let rows = results(&results_path);
    let sent = rows
        .iter()
        .filter(|r| r["deliveryStatus"] == "SENT")
        .count();
    assert_eq!(sent, 1, "the answer that asked to wait is kept: {rows:?}");
}

#[test]
fn numeric_message_ids_are_recorded_as_ids() {
    let rig = Rig::new();
    let results_path = sent_campaign(&rig);
    let ids: Vec<_> = results(&results_path)
        .iter()
        .map(|r| (r["status"].clone(), r["messageId"].clone()))
        .collect();
    let queued = |id: &str| ("QUEUED".to_string(), id.to_string());
    assert_eq!(ids, [queued("1"), queued("2"), queued("3")]);

    let msgflash = Server::start(Script::Accept(json!({"data": {"id": 456}})));
    let csv = rig.file("m.csv", &campaign_csv(1));
    let mut command = rig.msgflash(&csv);
    command.args(["--base-url", &msgflash.url, "--text", "hi"]);
    let output = rig.run(&mut command);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let row = &results(&rig.dir.path().join("m.results.csv"))[0];
    assert_eq!(
        (row["status"].as_str(), row["messageId"].as_str()),
        ("QUEUED", "456")
    );
}

#[test]
fn a_zero_timeout_is_refused_before_anything_is_sent() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(1));
    let mut command = binary();
    command
        .arg(&csv)
        .args(["--base-url", &rig.sandbox.base_url(), "--template", "t"])
        .args(["--timeout", "0s"]);
    assert_refused(&rig, &mut command, &["--timeout", "above zero"]);

    let results_path = rig.file("r.csv", "");
    let mut command = binary();
    command
        .args(["status", results_path.to_str().unwrap(), "--timeout", "0s"])
        .args(["--base-url", &rig.sandbox.base_url()]);
    assert_refused(&rig, &mut command, &["above zero"]);
}

/// The binary on a machine whose CA certificate store is empty.
fn without_ca_certificates(rig: &Rig) -> Command {
    let empty = rig.dir.path().join("no-certs");
    std::fs::create_dir_all(&empty).unwrap();
    let mut command = binary();
    command
        .env("SSL_CERT_FILE", empty.join("none.pem"))
        .env("SSL_CERT_DIR", &empty);
    command
}

#[test]
fn without_ca_certificates_the_sandbox_and_a_dry_run_need_none() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(2));
    let output = rig.run(
        without_ca_certificates(&rig)
            .arg(&csv)
            .args(["--sandbox", "--template", "t", "--spacing", "0"])
            .args(["--rate", "10000/s"]),
    );
    assert_eq!(code(&output), 0, "{}", text(&output));
    let rehearsal = rig.dir.path().join("c.sandbox.results.csv");
    assert_eq!(statuses(&rehearsal), ["QUEUED"; 2]);

    let output = rig.run(
        without_ca_certificates(&rig)
            .arg(rig.file("d.csv", &campaign_csv(2)))
            .args(["--dry-run", "--template", "t"])
            .args(["--base-url", "https://api.example.invalid"]),
    );
    assert_eq!(code(&output), 0, "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(&phone(1)), "{}", text(&output));
}

#[test]
fn without_ca_certificates_https_uses_the_bundled_roots() {
    let rig = Rig::new();
    // Not a TLS server: the handshake fails, but only after the client was built and
    // connected, which is what a machine without CA certificates could not do.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&connections);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    let csv = rig.file("c.csv", &campaign_csv(1));
    let output = rig.run(
        without_ca_certificates(&rig)
            .arg(&csv)
            .args([
                "--base-url",
                &format!("https://{address}"),
                "--template",
                "t",
            ])
            .args(["--max-attempts", "1", "--timeout", "2s"]),
    );
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert!(connections.load(Ordering::SeqCst) >= 1, "{}", text(&output));
    assert!(text(&output).contains("bundled"), "{}", text(&output));
    assert_eq!(
        statuses(&rig.dir.path().join("c.results.csv")),
        ["DEFERRED"]
    );
}

/// The run's output and results file, after a campaign of `rows` rows sent to `server`.
/// A 429 asking to wait `after`, with `code` in its body.
fn too_many(response: axum::http::response::Builder, after: &str, code: &str) -> Response {
    let body = json!({"error": "slow down", "code": code}).to_string();
    response
        .status(429)
        .header("retry-after", after)
        .body(Body::from(body))
        .unwrap()
}

fn send_to(
    rig: &Rig,
    server: &Server,
    rows: usize,
) -> (
    std::process::Output,
    Vec<std::collections::HashMap<String, String>>,
) {
    let csv = rig.file("c.csv", &campaign_csv(rows));
    let output = rig.run(rig.command_to(&csv, &server.url).args(["--template", "t"]));
    (output, results(&rig.dir.path().join("c.results.csv")))
}

#[test]
fn a_key_the_server_echoes_back_is_never_recorded_or_logged() {
    for (status, body) in [
        (500, r#"{"code":"ERR_{key}","error":"bad key {key}"}"#),
        (400, "no such key: {key}"),
        (
            401,
            r#"{"error":{"code":"UNAUTHORIZED","message":"{key} revoked"}}"#,
        ),
        // The key spelled in JSON escapes, which the ids and error texts are read through.
        (401, r#"{"error":"bad key {escaped}"}"#),
        (202, r#"{"id":"{escaped}","correlationId":"c_1"}"#),
    ] {
        let rig = Rig::new();
        let echo = Server::start(Script::Raw(status, body.as_bytes().to_vec()));
        let (output, rows) = send_to(&rig, &echo, 1);
        let file = std::fs::read_to_string(rig.dir.path().join("c.results.csv")).unwrap();
        for place in [text(&output), file] {
            assert!(!place.contains(KEY), "{status}: key leaked: {place}");
            assert!(place.contains("[API key]"), "{status}: {place}");
        }
        assert_eq!(rows.len(), 1, "{rows:?}");
    }
}

#[test]
fn an_accepted_send_s_retry_after_holds_the_next_send_too() {
    // Two hours, beyond what a run waits: the next send would go out at once if the header
    // of a 202 were not read, so the run stops after recording the accepted row instead.
    let rig = Rig::new();
    let server = Server::start(Script::AcceptAfter("7200".into()));
    let (output, rows) = send_to(&rig, &server, 3);
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert_eq!(server.seen().len(), 1, "the next send waited");
    assert_eq!(
        (rows[0]["status"].as_str(), rows[0]["messageId"].as_str()),
        ("QUEUED", "msg_1"),
        "{rows:?}"
    );
    assert!(
        text(&output).contains("The row is QUEUED"),
        "{}",
        text(&output)
    );
    // The QUEUED line says until when: the rerun does not send sooner either.
    let (output, _) = send_to(&rig, &server, 3);
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert_eq!(server.seen().len(), 1, "{}", text(&output));
}

/// `campaign-sender test` of the first row to two test numbers, aimed at `server`.
fn test_twice(rig: &Rig, server: &Server) -> std::process::Output {
    let csv = rig.file("c.csv", &campaign_csv(1));
    let mut command = rig.tester(&csv, &server.url);
    rig.run(command.args(["--to", "+5521999990001", "--to", "+5521999990002"]))
}

#[test]
fn a_test_message_s_answer_holds_or_stops_the_next_as_a_campaign_s_would() {
    let rig = Rig::new();
    // An accepted test message's Retry-After beyond what a run waits: the second test
    // number is not sent to now.
    let server = Server::start(Script::AcceptAfter("7200".into()));
    let output = test_twice(&rig, &server);
    assert_eq!(server.seen().len(), 1, "{}", text(&output));
    assert!(text(&output).contains("stopped at message 1 of 2; the 1 after it were not sent"));
    // The wait is the number's: a test right after sends nothing.
    let output = test_twice(&rig, &server);
    assert_eq!(server.seen().len(), 1, "{}", text(&output));
    assert!(text(&output).contains("asked this number to wait"));
    // A refused key refuses every message: the test stops at the first.
    let rig = Rig::new();
    let server = Server::start(Script::Raw(401, br#"{"error":"UNAUTHORIZED"}"#.to_vec()));
    let output = test_twice(&rig, &server);
    assert_eq!(server.seen().len(), 1, "{}", text(&output));
    assert_ne!(code(&output), 0);
}

#[test]
fn a_503_without_retry_after_may_have_been_processed_so_it_is_never_resent() {
    // A platform's proxy answers 503 when the app behind it took too long, after the app
    // got the request: only a 503 that says when to come back is a refusal.
    let rig = Rig::new();
    let server = Server::start(Script::Raw(503, b"Service Unavailable".to_vec()));
    let (output, rows) = send_to(&rig, &server, 1);
    assert_eq!(server.seen().len(), 1, "not retried: {}", text(&output));
    assert_eq!(rows[0]["status"], "UNCERTAIN", "{rows:?}");
    send_to(&rig, &server, 1);
    assert_eq!(server.seen().len(), 1, "the rerun does not resend it");
}

#[test]
fn server_text_cannot_forge_a_log_line() {
    let rig = Rig::new();
    let body = "{\"code\":\"X\\nINFO row 9: QUEUED msg_forged\",\"error\":\"a\\nb\"}";
    let server = Server::start(Script::Raw(400, body.as_bytes().to_vec()));
    let (output, rows) = send_to(&rig, &server, 1);
    assert!(
        !text(&output).lines().any(|l| l.starts_with("INFO row 9")),
        "{}",
        text(&output)
    );
    assert_eq!(
        rows[0]["errorCode"], "X INFO row 9: QUEUED msg_forged",
        "{rows:?}"
    );
    assert_eq!(rows[0]["error"], "a b", "{rows:?}");
}

#[test]
fn an_oversized_refusal_is_judged_by_its_status_not_made_uncertain() {
    let rig = Rig::new();
    let mut body = br#"{"error":"denied","padding":""#.to_vec();
    body.extend(std::iter::repeat_n(b'x', 300 * 1024));
    let refusing = Server::start(Script::Raw(401, body));
    let (output, rows) = send_to(&rig, &refusing, 3);
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert_eq!(refusing.seen().len(), 1, "the key's refusal stops the run");
    assert_eq!(
        (rows[0]["status"].as_str(), rows[0]["httpStatus"].as_str()),
        ("DEFERRED", "401"),
        "{rows:?}"
    );
}

#[test]
fn an_accepted_id_is_read_past_a_bom_trailing_data_and_an_unreadable_neighbour() {
    for (body, id) in [
        ("\u{feff}{\"id\":\"msg_bom\"}", "msg_bom"),
        ("{\"id\":\"msg_tail\"}\n{\"more\":1}", "msg_tail"),
        (r#"{"id":"msg_big","correlationId":1e400}"#, "msg_big"),
        (r#"{"id":18446744073709551616}"#, "18446744073709551616"),
    ] {
        let rig = Rig::new();
        let server = Server::start(Script::Raw(202, body.as_bytes().to_vec()));
        let (output, rows) = send_to(&rig, &server, 1);
        assert_eq!(code(&output), 0, "{body}: {}", text(&output));
        assert_eq!(
            (rows[0]["status"].as_str(), rows[0]["messageId"].as_str()),
            ("QUEUED", id),
            "{body}"
        );
    }
}

#[test]
fn an_unusable_id_is_uncertain_with_the_answer_quoted_and_never_resent() {
    let rig = Rig::new();
    let body = format!(r#"{{"id":"msg_{}"}}"#, "x".repeat(64 * 1024));
    let server = Server::start(Script::Raw(202, body.into_bytes()));
    let (output, rows) = send_to(&rig, &server, 2);
    assert_eq!(code(&output), 1, "{}", text(&output));
    for row in &rows {
        assert_eq!(row["status"], "UNCERTAIN", "{row:?}");
        assert_eq!(row["errorCode"], "NO_MESSAGE_ID", "{row:?}");
        assert!(row["error"].contains(r#"began: {"id":"msg_xxx"#), "{row:?}");
        assert!(row["error"].len() < 1000, "{row:?}");
    }
    server.answer_with(Script::NumericIds);
    let (output, _) = send_to(&rig, &server, 2);
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(server.seen().len(), 2, "never resent");
}

#[test]
fn an_id_in_scientific_notation_is_uncertain_and_the_file_still_reads() {
    // The results reader refuses a messageId such as 5.51E+12 as a spreadsheet's rounding:
    // recorded, it made the run's own compaction and every rerun refuse the file.
    let rig = Rig::new();
    let server = Server::start(Script::Accept(json!({"id": "5.51E+12"})));
    let (output, rows) = send_to(&rig, &server, 2);
    assert_eq!(code(&output), 1, "{}", text(&output));
    for row in &rows {
        assert_eq!(row["status"], "UNCERTAIN", "{row:?}");
        assert_eq!(row["errorCode"], "NO_MESSAGE_ID", "{row:?}");
        assert!(row["error"].contains("5.51E+12"), "{row:?}");
    }
    let (output, _) = send_to(&rig, &server, 3);
    assert_eq!(
        code(&output),
        1,
        "the rerun reads the file: {}",
        text(&output)
    );
    assert_eq!(server.seen().len(), 3, "only the new row is sent");
}

#[test]
fn msgflash_treats_a_quota_code_on_a_server_error_as_maybe_sent() {
    let rig = Rig::new();
    let body = br#"{"error":{"code":"MONTHLY_OUTBOUND_QUOTA_EXCEEDED","message":"q"}}"#;
    let server = Server::start(Script::Raw(504, body.to_vec()));
    let csv = rig.file("m.csv", &campaign_csv(1));
    let msgflash = |rig: &Rig| {
        let mut command = rig.msgflash(&csv);
        command.args(["--base-url", &server.url, "--text", "hi"]);
        rig.run(&mut command)
    };
    let output = msgflash(&rig);
    let rows = results(&rig.dir.path().join("m.results.csv"));
    assert_eq!(
        rows[0]["status"],
        "UNCERTAIN",
        "{}: {rows:?}",
        text(&output)
    );
    server.answer_with(Script::Accept(json!({"data": {"id": "m1"}})));
    msgflash(&rig);
    assert_eq!(
        server.seen().len(),
        1,
        "a 5xx may have been sent: never resent"
    );
}

#[test]
fn a_refusal_whose_body_breaks_off_is_judged_by_its_status() {
    let rig = Rig::new();
    // A 401 is the key's problem: the campaign stops, the row was not sent (DEFERRED).
    let refused = Server::start(Script::BrokenOff(401, r#"{"code":"UNAUTHOR"#));
    let csv = rig.file("c.csv", &campaign_csv(3));
    let output = rig.run(rig.command_to(&csv, &refused.url).args(["--template", "t"]));
    assert_eq!(code(&output), 3, "{}", text(&output));
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert_eq!(
        rows.len(),
        1,
        "the run stopped at the first refusal: {rows:?}"
    );
    assert_eq!(rows[0]["status"], "DEFERRED", "{rows:?}");
    assert_eq!(refused.seen().len(), 1);
}

#[test]
fn an_accepted_id_that_arrived_whole_is_kept_when_the_framing_breaks_after_it() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(1));
    let whole = Server::start(Script::BrokenOff(
        202,
        r#"{"id":"msg_1","status":"QUEUED"}"#,
    ));
    let output = rig.run(rig.command_to(&csv, &whole.url).args(["--template", "t"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert_eq!(
        (rows[0]["status"].as_str(), rows[0]["messageId"].as_str()),
        ("QUEUED", "msg_1")
    );

    // Cut inside the object: the id may be in what never came.
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(1));
    let cut = Server::start(Script::BrokenOff(202, r#"{"id":"msg_1","sta"#));
    let output = rig.run(rig.command_to(&csv, &cut.url).args(["--template", "t"]));
    assert_eq!(code(&output), 1, "{}", text(&output));
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert_eq!(rows[0]["status"], "UNCERTAIN", "{rows:?}");
}

#[test]
fn a_connection_that_never_opens_is_not_sent_not_uncertain() {
    // A listener whose queue is full: the handshake is never answered, nothing leaves.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (port, _held) = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(0).unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut held = Vec::new();
        for _ in 0..3 {
            let filler = tokio::net::TcpSocket::new_v4().unwrap();
            let connect = filler.connect(listener.local_addr().unwrap());
            if let Ok(Ok(stream)) =
                tokio::time::timeout(std::time::Duration::from_millis(50), connect).await
            {
                held.push(stream);
            }
        }
        (port, (listener, held))
    });
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(1));
    let url = format!("http://127.0.0.1:{port}");
    let output = rig.run(rig.command_to(&csv, &url).args([
        "--template",
        "t",
        "--timeout",
        "300ms",
        "--max-attempts",
        "1",
    ]));
    assert_eq!(code(&output), 3, "{}", text(&output));
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert_eq!(rows[0]["status"], "DEFERRED", "{rows:?}");
    assert_eq!(rows[0]["errorCode"], "CONNECT_ERROR", "{rows:?}");
}

#[test]
fn one_message_id_given_to_several_rows_tracks_only_the_first() {
    // A proxy or cache in front of the API replays one answer.
    let rig = Rig::new();
    let same = Server::start(Script::Accept(json!({"id": "msg_SAME"})));
    let csv = rig.file("c.csv", &campaign_csv(3));
    let output = rig.run(rig.command_to(&csv, &same.url).args(["--template", "t"]));
    assert_eq!(code(&output), 1, "{}", text(&output));
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert_eq!(rows[0]["status"], "QUEUED", "{rows:?}");
    for row in &rows[1..] {
        assert_eq!(row["status"], "UNCERTAIN", "{row:?}");
        assert_eq!(row["errorCode"], "DUPLICATE_MESSAGE_ID", "{row:?}");
        assert_eq!(row["messageId"], "", "{row:?}");
    }
    assert_eq!(same.seen().len(), 3, "never resent");
}

#[test]
fn a_test_message_answered_303_may_have_been_sent_and_counts_for_the_frequency_cap() {
    let rig = Rig::new();
    // 303: HTTP says the request was carried out, its result elsewhere.
    let server = Server::start(Script::Redirect(303, "https://elsewhere.example/".into()));
    let csv = rig.file("c.csv", &campaign_csv(1));
    let output = rig.run(rig.tester(&csv, &server.url).args(["--to", &phone(0)]));
    assert!(
        text(&output).contains("may or may not have been sent"),
        "{}",
        text(&output)
    );
    assert!(!text(&output).contains("not accepted"), "{}", text(&output));
    // The list holds that phone: under a frequency cap it is not messaged again.
    let output = rig.run(
        rig.command(&csv)
            .args(["--template", "t", "--frequency-cap", "1/7d"]),
    );
    assert_eq!(code(&output), 0, "{}", text(&output));
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert_eq!(rows[0]["status"], "SKIPPED", "{rows:?}");
    assert_eq!(rows[0]["errorCode"], "FREQUENCY_CAP", "{rows:?}");
}
