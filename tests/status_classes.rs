//! Every class of API answer lands in its documented status and exit code.

mod common;

use campaign_sender::sandbox::SandboxConfig;
use common::*;

#[test]
fn accepted_rows_are_queued_with_the_ids_the_api_returned() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(3));
    let output = rig.run(rig.command(&path).args(["--template", "boas_vindas"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let rows = results(&rig.dir.path().join("c.results.csv"));
    let accepted = rig.accepted();
    assert_eq!(rows.len(), 3);
    for (row, entry) in rows.iter().zip(&accepted) {
        assert_eq!(row["status"], "QUEUED");
        assert_eq!(row["httpStatus"], "202");
        assert_eq!(Some(&row["messageId"]), entry.message_id.as_ref());
        assert!(row["correlationId"].starts_with("corr_"), "{row:?}");
        assert_eq!(row["attempts"], "1");
        assert_eq!(Some(&row["destination"]), entry.destination.as_ref());
    }
}

#[test]
fn a_campaign_template_the_api_does_not_know_stops_the_campaign_with_exit_3() {
    // The campaign's mistake, not the rows': every row would fail the same way (see
    // tests/breaker.rs for the rerun after the fix).
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(3));
    assert_campaign_stops(
        &rig,
        rig.command(&path).args(["--template", "unknown_template"]),
        "404",
        "TEMPLATE_NOT_FOUND",
    );
}

#[test]
fn a_payload_the_api_refuses_is_failed_with_its_code() {
    let rig = Rig::new();
    // The sandbox's boas_vindas template needs a `nome` variable, which this file lacks.
    let path = rig.file("c.csv", "phone,cidade\n+5511988887777,Recife\n");
    let output = rig.run(rig.command(&path).args(["--template", "boas_vindas"]));
    assert_eq!(code(&output), 1, "{}", text(&output));
    let row = &results(&rig.dir.path().join("c.results.csv"))[0];
    assert_eq!(
        (row["status"].as_str(), row["httpStatus"].as_str()),
        ("FAILED", "400")
    );
    assert_eq!(row["errorCode"], "MISSING_TEMPLATE_VARIABLES");
}

#[test]
fn campaign_media_without_a_paid_plan_stops_the_campaign_with_402() {
    let rig = Rig::with(SandboxConfig {
        media_requires_plan: true,
        rate_limit_per_sec: None,
        ..SandboxConfig::default()
    });
    let path = rig.file("c.csv", &campaign_csv(3));
    let args = [
        "--media",
        "https://cdn.example.com/a.pdf",
        "--media-type",
        "document",
    ];
    assert_campaign_stops(
        &rig,
        rig.command(&path).args(args),
        "402",
        "SUBSCRIPTION_REQUIRED_FOR_MEDIA",
    );
}

#[test]
fn a_rows_own_media_without_a_paid_plan_is_failed_with_402() {
    let rig = Rig::with(SandboxConfig {
        media_requires_plan: true,
        rate_limit_per_sec: None,
        ..SandboxConfig::default()
    });
    let path = rig.file(
        "c.csv",
        "phone,media,mediaType\n+5511988887777,https://cdn.example.com/a.pdf,document\n",
    );
    let output = rig.run(&mut rig.command(&path));
    assert_eq!(code(&output), 1, "{}", text(&output));
    let row = &results(&rig.dir.path().join("c.results.csv"))[0];
    assert_eq!(
        (row["status"].as_str(), row["errorCode"].as_str()),
        ("FAILED", "SUBSCRIPTION_REQUIRED_FOR_MEDIA")
    );
}

#[test]
fn a_wrong_key_stops_the_campaign_with_exit_3() {
    let rig = Rig::with(SandboxConfig {
        api_key: Some("ps_the_right_one".into()),
        rate_limit_per_sec: None,
        ..SandboxConfig::default()
    });
    let path = rig.file("c.csv", &campaign_csv(3));
    assert_campaign_stops(
        &rig,
        rig.command(&path).args(["--template", "t"]),
        "401",
        "UNAUTHORIZED",
    );
}

#[test]
fn a_tenant_key_stops_the_campaign_with_exit_3() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(3));
    let mut command = rig.command(&path);
    command
        .env("PILOT_STATUS_API_KEY", "ps_tenant_abc")
        .args(["--template", "t"]);
    assert_campaign_stops(&rig, &mut command, "403", "TENANT_SCOPE_NOT_ALLOWED");
}

#[test]
fn rate_limits_and_unavailability_are_retried_to_queued() {
    let rig = Rig::with_faults("429=0.3,503=0.2,retry-after=0");
    let path = rig.file("c.csv", &campaign_csv(20));
    let output = rig.run(
        rig.command(&path)
            .args(["--template", "t", "--max-attempts", "20"]),
    );
    assert_eq!(code(&output), 0, "{}", text(&output));
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert!(rows.iter().all(|r| r["status"] == "QUEUED"), "{rows:?}");
    let retried = rig
        .log()
        .iter()
        .filter(|e| matches!(e.fault.as_deref(), Some("429" | "503")))
        .count();
    assert!(retried > 0, "the fault mix produced no 429/503");
    let attempts: usize = rows
        .iter()
        .map(|r| r["attempts"].parse::<usize>().unwrap())
        .sum();
    assert_eq!(attempts, rig.log().len(), "attempts count every request");
}

#[test]
fn retries_exhausted_leave_the_row_deferred_and_a_rerun_sends_it() {
    let rig = Rig::with_faults("503=1.0,retry-after=0");
    let path = rig.file("c.csv", &campaign_csv(2));
    let output = rig.run(
        rig.command(&path)
            .args(["--template", "t", "--max-attempts", "3"]),
    );
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert_eq!(rig.log().len(), 3, "three attempts, then the run stops");
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert_eq!(
        (rows[0]["status"].as_str(), rows[0]["attempts"].as_str()),
        ("DEFERRED", "3")
    );

    // A second sandbox plays the API recovered, at another address (hence --retarget).
    let healthy = Rig::new();
    let mut command = healthy.command(&path);
    let output = healthy.run(command.args(["--template", "t", "--retarget"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert_eq!(
        (rows[0]["status"].as_str(), rows[0]["attempts"].as_str()),
        ("QUEUED", "4")
    );
}

#[test]
fn server_errors_and_lost_answers_are_uncertain_and_never_resent() {
    for (spec, expected_code, expected_status) in [
        ("500=1.0", "INTERNAL", "500"),
        ("drop=1.0", "CONNECTION_LOST", ""),
        ("late=1.0,late-by=1500ms", "TIMEOUT", ""),
    ] {
        let rig = Rig::with_faults(spec);
        let path = rig.file("c.csv", &campaign_csv(2));
        let output = rig.run(
            rig.command(&path)
                .args(["--template", "t", "--timeout", "300ms"]),
        );
        assert_eq!(code(&output), 1, "{spec}: {}", text(&output));
        assert_eq!(
            rig.log().len(),
            2,
            "{spec}: an ambiguous answer is never retried"
        );
        for row in results(&rig.dir.path().join("c.results.csv")) {
            assert_eq!(row["status"], "UNCERTAIN", "{spec}: {row:?}");
            assert_eq!(row["errorCode"], expected_code, "{spec}: {row:?}");
            assert_eq!(row["httpStatus"], expected_status, "{spec}: {row:?}");
        }
        // A rerun leaves them alone.
        let output = rig.run(rig.command(&path).args(["--template", "t"]));
        assert_eq!(code(&output), 1, "{spec}: {}", text(&output));
        assert_eq!(
            rig.log().len(),
            2,
            "{spec}: a rerun resent an UNCERTAIN row"
        );
    }
}

#[test]
fn an_unreachable_api_defers_the_row_after_its_attempts() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(2));
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut command = rig.command_to(&path, &format!("http://{closed}"));
    command.args(["--template", "t", "--max-attempts", "2"]);
    let output = rig.run(&mut command);
    assert_eq!(code(&output), 3, "{}", text(&output));
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0]["status"].as_str(), rows[0]["errorCode"].as_str()),
        ("DEFERRED", "CONNECT_ERROR")
    );
}

#[test]
fn a_404_to_a_message_without_a_template_stops_at_the_wrong_address() {
    // The API documents its 404 for templates only: to a text, only a wrong address (a
    // path the API does not serve) explains it, and every row would meet it.
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(3));
    let wrong = format!("{}/wrong-prefix", rig.sandbox.base_url());
    let output = rig.run(rig.command_to(&path, &wrong).args(["--text", "oi"]));
    assert_eq!(code(&output), 3, "{}", text(&output));
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert_eq!(rows.len(), 1, "the first refusal stops the run: {rows:?}");
    assert_eq!(rows[0]["status"], "DEFERRED", "{rows:?}");
    assert!(text(&output).contains("--base-url"), "{}", text(&output));
}
