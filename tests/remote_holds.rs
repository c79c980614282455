//! `status` and `cancel` honor a wait the API asked of a number as a send does: the wait
//! noted on a row or kept in the ledger is waited out (within the hour a run waits; beyond
//! it the pass stops before asking), and a `Retry-After` answered to them is kept in the
//! ledger for the number's next campaign run. The server is the test's own, on loopback.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use campaign_sender::ledger::{Ledger as _, SqliteLedger, sender_fingerprint};
use campaign_sender::provider::http::{Credential, Secret};
use campaign_sender::senders::Sender;
use common::*;

/// How the server answers: sends (POST) and lookups or cancels (anything else), each with
/// its `Retry-After`, if any; and the methods of the requests it saw.
#[derive(Default)]
struct Script {
    send_wait: Option<&'static str>,
    lookup: Option<(u16, &'static str)>,
    /// A 200 to every lookup and cancel with this body, and this `Retry-After`.
    unusable: Option<(&'static str, &'static str)>,
    seen: Vec<String>,
}

struct Server {
    url: String,
    script: Arc<Mutex<Script>>,
    _runtime: tokio::runtime::Runtime,
}

impl Server {
    fn start(script: Script) -> Server {
        let script = Arc::new(Mutex::new(script));
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&script));
        let (url, runtime) = serve(app);
        Server {
            url,
            script,
            _runtime: runtime,
        }
    }

    /// The requests seen with this method.
    fn seen(&self, method: &str) -> usize {
        let script = self.script.lock().unwrap();
        script.seen.iter().filter(|m| *m == method).count()
    }
}

async fn answer(State(script): State<Arc<Mutex<Script>>>, request: Request) -> Response {
    let method = request.method().to_string();
    let id = request.uri().path().rsplit('/').next().unwrap_or_default();
    let mut script = script.lock().unwrap();
    script.seen.push(method.clone());
    let n = script.seen.len();
    let (status, wait, body) = match (method.as_str(), script.lookup, script.unusable) {
        ("POST", _, _) => (202, script.send_wait, format!(r#"{{"id":"msg_{n}"}}"#)),
        (_, _, Some((body, wait))) => (200, Some(wait), body.into()),
        ("DELETE", None, _) => (200, None, r#"{"cancelled":1,"failed":[]}"#.into()),
        (_, None, _) => (
            200,
            None,
            format!(r#"{{"id":"{id}","status":"DELIVERED"}}"#),
        ),
        (_, Some((status, wait)), _) => (status, Some(wait), r#"{"error":"slow down"}"#.into()),
    };
    let mut response = Response::builder().status(status);
    if let Some(wait) = wait {
        response = response.header("retry-after", wait);
    }
    response.body(Body::from(body)).unwrap()
}

/// A one-row campaign sent to `server` on the rig's ledger; its results file.
fn sent(rig: &Rig, server: &Server, name: &str) -> (std::process::Output, PathBuf) {
    let csv = rig.file(&format!("{name}.csv"), &campaign_csv(1));
    let output = rig.run(rig.command_to(&csv, &server.url).args(["--template", "t"]));
    (output, rig.dir.path().join(format!("{name}.results.csv")))
}

/// A rig, a server answering `script`, and the results of a one-row campaign sent to it.
fn campaign_sent(script: Script) -> (Rig, Server, PathBuf) {
    let rig = Rig::new();
    let server = Server::start(script);
    let (output, results_path) = sent(&rig, &server, "c");
    assert_eq!(code(&output), 0, "{}", text(&output));
    (rig, server, results_path)
}

/// `status` (or `cancel --yes`) of `results` at `server`, on the rig's ledger.
fn pass(rig: &Rig, subcommand: &str, results: &Path, server: &Server, extra: &[&str]) -> String {
    let mut command = rig.operation_to(subcommand, results, &server.url);
    command
        .env("CAMPAIGN_SENDER_LEDGER", rig.ledger())
        .args(["--max-attempts", "1"])
        .args(extra);
    if subcommand == "cancel" {
        command.arg("--yes");
    }
    let output = rig.run(&mut command);
    format!("exit {}: {}", code(&output), text(&output))
}

/// The test key's number as the ledger knows it.
fn key_number() -> String {
    sender_fingerprint(&Sender {
        label: String::new(),
        credential: Credential::Key(Secret::new(KEY.into())),
        instance_id: None,
        number: None,
        daily_cap: None,
    })
}

/// The ledger's wait for the test key's number, `wait` from now (the only one it keeps).
fn hold_in_ledger(rig: &Rig, wait: Duration) {
    let until = jiff::Timestamp::now().as_millisecond() + wait.as_millis() as i64;
    let ledger = SqliteLedger::open(&rig.ledger()).unwrap();
    ledger.forget_hold(&key_number()).unwrap();
    ledger.hold(&key_number(), until).unwrap();
}

#[test]
fn a_wait_noted_on_a_row_stops_status_and_cancel_before_they_ask() {
    let (rig, server, results_path) = campaign_sent(Script {
        send_wait: Some("7200"),
        ..Script::default()
    });
    let error = &results(&results_path)[0]["error"];
    assert!(error.contains("the API asked to wait until"), "{error}");
    for subcommand in ["status", "cancel"] {
        // The row's note alone, and with the ledger's hold too.
        for ledger in ["off", &rig.ledger().display().to_string()] {
            let said = pass(
                &rig,
                subcommand,
                &results_path,
                &server,
                &["--ledger", ledger],
            );
            assert!(said.starts_with("exit 3"), "{subcommand}: {said}");
            assert!(said.contains("asked the number to wait until"), "{said}");
            assert_eq!(server.seen("POST"), 1, "{said}");
            assert_eq!(server.script.lock().unwrap().seen.len(), 1, "{said}");
        }
    }
    // The person says the limit is lifted: asked at once.
    let said = pass(
        &rig,
        "status",
        &results_path,
        &server,
        &["--ignore-earlier-retry-after"],
    );
    assert!(said.starts_with("exit 0"), "{said}");
    assert_eq!(server.seen("GET"), 1, "{said}");
}

#[test]
fn a_wait_kept_only_in_the_ledger_is_waited_out_once_and_said() {
    let (rig, server, results_path) = campaign_sent(Script::default());
    // Beyond the hour a run waits: nothing is asked.
    hold_in_ledger(&rig, Duration::from_secs(7200));
    let said = pass(&rig, "status", &results_path, &server, &[]);
    assert!(said.starts_with("exit 3"), "{said}");
    assert_eq!(server.seen("GET"), 0, "{said}");
    // Within it (a fraction of a second here), waited out and said once.
    let wait = Duration::from_millis(700);
    hold_in_ledger(&rig, wait);
    let started = Instant::now();
    let said = pass(&rig, "status", &results_path, &server, &[]);
    assert!(
        started.elapsed() >= wait - Duration::from_millis(50),
        "{said}"
    );
    assert!(said.starts_with("exit 0"), "{said}");
    assert_eq!(said.matches("waiting until").count(), 1, "{said}");
    assert_eq!(server.seen("GET"), 1, "{said}");
}

#[test]
fn a_wait_asked_of_status_holds_the_number_s_next_campaign_run() {
    let (rig, server, results_path) = campaign_sent(Script::default());
    server.script.lock().unwrap().lookup = Some((429, "7200"));
    let said = pass(&rig, "status", &results_path, &server, &[]);
    assert!(said.starts_with("exit 3"), "{said}");
    assert_eq!(server.seen("GET"), 1, "{said}");
    // Another list from the same number: it waits too, in its own results file.
    server.script.lock().unwrap().lookup = None;
    let (output, _) = sent(&rig, &server, "next");
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert_eq!(server.seen("POST"), 1, "{}", text(&output));
}

/// A lookup's or a cancel's 200 whose body cannot be used (not JSON, or about another
/// message) still asked for a wait: the pass honors it (beyond the hour a run waits, it
/// stops before asking about the next row) and the ledger keeps it for the number's next run.
#[test]
fn a_wait_on_an_answer_whose_body_is_unusable_is_honored_and_kept() {
    let not_json = "<html>maintenance</html>";
    let another = r#"{"id":"someone-else","status":"DELIVERED"}"#;
    for (subcommand, body) in [
        ("status", not_json),
        ("status", another),
        ("cancel", not_json),
    ] {
        let rig = Rig::new();
        let server = Server::start(Script::default());
        let csv = rig.file("c.csv", &campaign_csv(2));
        let output = rig.run(rig.command_to(&csv, &server.url).args(["--template", "t"]));
        assert_eq!(code(&output), 0, "{}", text(&output));
        let results_path = rig.dir.path().join("c.results.csv");
        server.script.lock().unwrap().unusable = Some((body, "7200"));
        let said = pass(&rig, subcommand, &results_path, &server, &[]);
        let what = format!("{subcommand} answered {body}: {said}");
        assert!(said.starts_with("exit 3"), "{what}");
        let asked = server.script.lock().unwrap().seen.len() - 2;
        assert_eq!(asked, 1, "nothing is asked after the wait: {what}");
        // The next campaign run from the same number waits too.
        server.script.lock().unwrap().unusable = None;
        let (output, _) = sent(&rig, &server, "next");
        assert_eq!(code(&output), 3, "{what}\n{}", text(&output));
        assert_eq!(server.seen("POST"), 2, "{what}\n{}", text(&output));
    }
}
