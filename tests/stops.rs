//! What holds or stops a send besides a 429: the `Retry-After` of a final answer (a 500 left
//! `UNCERTAIN`, a 400 `FAILED`) holds the number's next send, and one beyond the one-hour
//! ceiling stops it once the row is recorded as answered; `test` stops at a wait it will not
//! make; and an outage (every answer a 500, every connection lost) stops the number after
//! `--max-consecutive-failures` `UNCERTAIN` rows instead of leaving the whole list to check.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use campaign_sender::settings::CampaignOptions;
use common::*;
use jiff::Timestamp;

/// A test server on loopback that answers every request with one error status, a
/// `Retry-After` and the API's error body, and stamps each arrival on the rig's clock.
struct Canned {
    url: String,
    arrivals: Arc<Mutex<Vec<Timestamp>>>,
}

impl Canned {
    fn start(rig: &Rig, status: u16, retry_after: &'static str, code: &'static str) -> Canned {
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let (seen, clock) = (Arc::clone(&arrivals), rig.clock.clone());
        let answer = move || {
            seen.lock().unwrap().push(clock.wall());
            let body = format!(r#"{{"error":"canned answer","code":"{code}"}}"#);
            std::future::ready(
                Response::builder()
                    .status(status)
                    .header("retry-after", retry_after)
                    .header("content-type", "application/json")
                    .body(Body::from(body))
                    .unwrap(),
            )
        };
        let listener = rig
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(answer);
        rig.block_on(async {
            tokio::spawn(async move { axum::serve(listener, app).await });
        });
        Canned { url, arrivals }
    }

    fn arrivals(&self) -> Vec<Timestamp> {
        self.arrivals.lock().unwrap().clone()
    }
}

/// The status and error code each row of `c.results.csv` ended with.
fn outcomes(rig: &Rig) -> Vec<(String, String)> {
    results(&rig.dir.path().join("c.results.csv"))
        .into_iter()
        .map(|r| (r["status"].clone(), r["errorCode"].clone()))
        .collect()
}

/// Final answers and the row status each leaves.
const FINAL: [(u16, &str, &str); 2] = [
    (500, "INTERNAL", "UNCERTAIN"),
    (400, "VALIDATION_ERROR", "FAILED"),
];

#[test]
fn a_final_answer_s_retry_after_holds_the_next_row_and_the_row_stays_as_answered() {
    for (status, error, row_status) in FINAL {
        let rig = Rig::new();
        let server = Canned::start(&rig, status, "5", error);
        let csv = rig.file("c.csv", &campaign_csv(3));
        let flags = CampaignOptions {
            base_url: Some(server.url.clone()),
            rate: Some("1000000/s".into()),
            spacing: Some("0".into()),
            ..CampaignOptions::default()
        };
        run_in_process(&rig, &csv, flags, "2026-06-01T12:00:00Z".parse().unwrap());
        let arrivals = server.arrivals();
        assert_eq!(arrivals.len(), 3, "HTTP {status}: each row sent once");
        for pair in arrivals.windows(2) {
            assert!(
                gap(pair[0], pair[1]) >= Duration::from_secs(5),
                "HTTP {status}: the next row went out before the Retry-After: {arrivals:?}"
            );
        }
        assert_eq!(
            outcomes(&rig),
            vec![(row_status.to_string(), error.to_string()); 3],
            "HTTP {status}"
        );
    }
}

#[test]
fn a_final_answer_s_retry_after_beyond_the_ceiling_records_the_row_then_stops() {
    for (status, error, row_status) in FINAL {
        let rig = Rig::new();
        let server = Canned::start(&rig, status, "7200", error);
        let csv = rig.file("c.csv", &campaign_csv(3));
        let output = rig.run(rig.command_to(&csv, &server.url).args(["--template", "t"]));
        let said = text(&output);
        assert_eq!(code(&output), 3, "HTTP {status}: {said}");
        assert_eq!(server.arrivals().len(), 1, "HTTP {status}: {said}");
        assert_eq!(
            outcomes(&rig),
            [(row_status.to_string(), error.to_string())],
            "HTTP {status}: recorded as answered, the rows not reached have no line"
        );
        assert!(
            said.contains("wait 2h 00m") && said.contains(&format!("The row is {row_status}")),
            "HTTP {status}: {said}"
        );
        assert!(!said.contains("DEFERRED"), "HTTP {status}: {said}");
    }
}

#[test]
fn status_stops_at_a_final_answer_s_retry_after_beyond_the_ceiling() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(3));
    let output = rig.run(rig.command(&csv).args(["--template", "t"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let not_found = Canned::start(&rig, 404, "7200", "NOT_FOUND");
    let results_path = rig.dir.path().join("c.results.csv");
    retarget(&results_path, &not_found.url);
    let output = rig.run(&mut rig.operation_to("status", &results_path, &not_found.url));
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert_eq!(not_found.arrivals().len(), 1, "{}", text(&output));
    assert!(text(&output).contains("wait 2h 00m"), "{}", text(&output));
}

#[test]
fn test_stops_at_a_retry_after_beyond_the_ceiling() {
    let rig = Rig::with_faults("429=1,retry-after=7200");
    let csv = rig.file("c.csv", &campaign_csv(2));
    let output = rig.run(
        binary()
            .arg("test")
            .arg(&csv)
            .args(["--base-url", &rig.sandbox.base_url()])
            .args(["--spacing", "0", "--rate", "10000/s", "--text", "Oi"])
            .args(["--rows", "1,2", "--to", &phone(8), "--to", &phone(9)]),
    );
    let said = text(&output);
    assert_eq!(code(&output), 1, "{said}");
    assert_eq!(rig.log().len(), 1, "nothing after the first answer: {said}");
    assert!(
        said.contains("wait 2h 00m")
            && said.contains("message 1 of 4; the 3 after it were not sent"),
        "{said}"
    );
}

#[test]
fn an_outage_answering_different_codes_by_turns_stops_the_number_too() {
    // Half 500s, half dropped connections: no ten in a row share a code.
    let rig = Rig::with_faults("500=0.5,drop=0.5");
    let csv = rig.file("c.csv", &campaign_csv(15));
    let output = rig.run(rig.command(&csv).args(["--template", "t"]));
    let said = text(&output);
    assert_eq!(code(&output), 3, "{said}");
    assert_eq!(
        rig.log().len(),
        10,
        "stopped at the tenth UNCERTAIN row: {said}"
    );
    let outcomes = outcomes(&rig);
    assert!(
        outcomes.iter().all(|(status, _)| status == "UNCERTAIN"),
        "{outcomes:?}"
    );
    assert!(said.contains("10 rows in a row are UNCERTAIN"), "{said}");
}

#[test]
fn an_outage_stops_the_number_after_a_run_of_uncertain_rows_and_the_rerun_goes_on() {
    let rig = Rig::with_faults("500=1");
    let csv = rig.file("c.csv", &campaign_csv(15));
    let output = rig.run(rig.command(&csv).args(["--template", "t"]));
    let said = text(&output);
    assert_eq!(code(&output), 3, "{said}");
    assert_eq!(rig.log().len(), 10, "stopped at the tenth UNCERTAIN row");
    assert_eq!(
        outcomes(&rig),
        vec![("UNCERTAIN".to_string(), "INTERNAL".to_string()); 10],
        "recorded as answered; the rows not reached have no line"
    );
    for needle in [
        "10 rows in a row are UNCERTAIN, the last with INTERNAL",
        "not resent",
        "rows not reached",
    ] {
        assert!(said.contains(needle), "no '{needle}' in {said}");
    }

    let output = rig.run(rig.command(&csv).args(["--template", "t"]));
    assert_eq!(code(&output), 1, "{}", text(&output));
    let sent = accepted_per_destination(&rig.log());
    assert_eq!(sent.len(), 15, "the rerun sent the 5 rows not reached");
    assert!(
        sent.values().all(|n| *n == 1),
        "UNCERTAIN rows resent: {sent:?}"
    );
}

#[test]
fn lost_connections_trip_the_breaker_at_its_limit_too() {
    let rig = Rig::with_faults("drop=1");
    let csv = rig.file("c.csv", &campaign_csv(8));
    let output =
        rig.run(
            rig.command(&csv)
                .args(["--template", "t", "--max-consecutive-failures", "3"]),
        );
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert_eq!(rig.log().len(), 3, "{}", text(&output));
    assert_eq!(
        outcomes(&rig),
        vec![("UNCERTAIN".to_string(), "CONNECTION_LOST".to_string()); 3]
    );
}

#[test]
fn a_retry_after_beyond_the_ceiling_holds_the_reruns_too_until_it_has_passed() {
    // A cron rerun every few minutes would otherwise ask again once per run. Whatever the
    // answer left the row in (DEFERRED, UNCERTAIN, FAILED), the wait is the number's.
    for (status, error) in [(429, "RATE_LIMITED"), (500, "INTERNAL"), (400, "BAD")] {
        let rig = Rig::new();
        let server = Canned::start(&rig, status, "7200", error);
        // Five rows to send, and a sixth that is not a number.
        let csv = rig.file("c.csv", &(campaign_csv(5) + "12,Cliente 5\n"));
        let run = || rig.run(rig.command_to(&csv, &server.url).args(["--template", "t"]));
        assert_eq!(code(&run()), 3, "HTTP {status}");
        let noted = results(&rig.dir.path().join("c.results.csv"))[0]["error"].clone();
        assert!(
            noted.contains("canned answer; the API asked to wait until "),
            "HTTP {status}: {noted}"
        );
        // The preflight says why nothing will go out (a --dry-run asks nothing).
        let preview =
            rig.run(
                rig.command_to(&csv, &server.url)
                    .args(["--template", "t", "--dry-run"]),
            );
        assert!(
            text(&preview).contains("an earlier run's answer asked to wait until")
                && text(&preview).contains("nothing is sent for it before then"),
            "HTTP {status}: {}",
            text(&preview)
        );
        let rerun = run();
        let said = text(&rerun);
        assert_eq!(code(&rerun), 3, "HTTP {status}: {said}");
        assert_eq!(server.arrivals().len(), 1, "HTTP {status}: {said}");
        assert!(
            said.contains("an earlier run's answer asked to wait until")
                && said.contains("--ignore-earlier-retry-after"),
            "HTTP {status}: {said}"
        );
        // A held number sends nothing, but the rows only recorded still are.
        assert!(said.contains(" 1 invalid,"), "HTTP {status}: {said}");
        // The person who knows the limit was lifted says so, for one run.
        let lifted = rig.run(rig.command_to(&csv, &server.url).args([
            "--template",
            "t",
            "--ignore-earlier-retry-after",
        ]));
        assert_eq!(code(&lifted), 3, "HTTP {status}: {}", text(&lifted));
        assert_eq!(server.arrivals().len(), 2, "HTTP {status}");
    }
}

#[test]
fn what_is_left_of_an_earlier_run_s_retry_after_is_waited_before_the_first_send() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(2));
    // An earlier run was stopped (killed by cron's timeout) ten minutes into a wait of half
    // an hour, and a run without labels wrote it: it holds this run's number.
    let results_path = rig.dir.path().join("c.results.csv");
    let header = campaign_sender::journal::COLUMNS.join(",");
    let line = format!(
        "1,{0},DEFERRED,,,429,RATE_LIMITED,\"slow down; the API asked to wait until \
         2026-06-01T12:20:00Z\",1,2026-06-01T11:50:00Z,{0},,,",
        phone(0)
    );
    std::fs::write(&results_path, format!("{header}\n{line}\n")).unwrap();
    let start: Timestamp = "2026-06-01T12:00:00Z".parse().unwrap();
    run_in_process(&rig, &csv, CampaignOptions::default(), start);
    let arrivals = rig.arrivals();
    assert_eq!(arrivals.len(), 2, "{arrivals:?}");
    assert!(
        arrivals[0].at >= "2026-06-01T12:20:00Z".parse::<Timestamp>().unwrap(),
        "the first send went out before the wait was over: {arrivals:?}"
    );
    let rows = results(&results_path);
    assert_eq!(
        rows.iter()
            .map(|r| r["status"].as_str())
            .collect::<Vec<_>>(),
        ["QUEUED"; 2]
    );
}
