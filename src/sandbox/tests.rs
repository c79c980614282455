//! End-to-end tests: a real sandbox on a free loopback port, driven over HTTP.

use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

const KEY: &str = "ps_test_key";

/// Extra request headers, as (name, value) pairs.
type Headers<'a> = &'a [(&'a str, &'a str)];

async fn start(config: SandboxConfig) -> Sandbox {
    Sandbox::start(config, 0).await.unwrap()
}

fn with_faults(spec: &str) -> SandboxConfig {
    SandboxConfig {
        faults: spec.parse().unwrap(),
        ..SandboxConfig::default()
    }
}

fn template() -> Value {
    json!({ "destinationNumber": "+5511988887777", "templateId": "boas_vindas", "variables": { "nome": "Ana" } })
}

/// The environment's proxy settings must never route loopback traffic elsewhere.
fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn send_with(
    sandbox: &Sandbox,
    headers: Headers<'_>,
    body: &Value,
) -> reqwest::Result<reqwest::Response> {
    let mut request = client()
        .post(format!("{}/v1/messages/send", sandbox.base_url()))
        .json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await
}

async fn send(sandbox: &Sandbox, body: &Value) -> reqwest::Response {
    send_with(sandbox, &[("x-api-key", KEY)], body)
        .await
        .unwrap()
}

/// Status, `Retry-After` and JSON body of an answer.
async fn answer(response: reqwest::Response) -> (u16, Option<String>, Value) {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry_after, response.json().await.unwrap())
}

async fn send_and_answer(sandbox: &Sandbox, body: &Value) -> (u16, Option<String>, Value) {
    answer(send(sandbox, body).await).await
}

#[tokio::test]
async fn accepts_a_valid_send_with_the_documented_202_body() {
    let sandbox = start(SandboxConfig::default()).await;
    let (status, _, body) = send_and_answer(&sandbox, &template()).await;

    assert_eq!(status, 202);
    let id = body["id"].as_str().unwrap();
    assert!(id.starts_with("msg_") && id.len() == 30, "{id}");
    assert!(
        id[4..]
            .bytes()
            .all(|b| b"0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(&b))
    );
    assert!(body["correlationId"].as_str().unwrap().starts_with("corr_"));
    assert_eq!(body["status"], "QUEUED");
    assert_eq!(body["origin"], "Sandbox");
    assert_eq!(body["sourceNumber"], "+5511999999999");
    let created = body["createdAt"].as_str().unwrap();
    created.parse::<Timestamp>().unwrap();
    assert_eq!(created.split_once('.').unwrap().1.len(), 4, "{created}");

    let [entry] = &sandbox.accepted()[..] else {
        panic!("one accepted entry expected");
    };
    assert_eq!(entry.message_id.as_deref(), Some(id));
    assert_eq!(entry.destination.as_deref(), Some("+5511988887777"));
    assert_eq!((entry.status, entry.code.as_deref()), (Some(202), None));
    assert_eq!(entry.body, template());
}

#[tokio::test]
async fn validation_errors_are_answered_and_not_stored() {
    let sandbox = start(SandboxConfig::default()).await;
    let bad_phone = json!({ "destinationNumber": "11988887777", "text": "Oi" });
    let (status, _, body) = send_and_answer(&sandbox, &bad_phone).await;
    assert_eq!((status, &body["code"]), (400, &json!("VALIDATION_ERROR")));
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("destinationNumber")
    );

    let unknown = json!({ "destinationNumber": "+5511988887777", "templateId": "unknown_x" });
    let (status, _, body) = send_and_answer(&sandbox, &unknown).await;
    assert_eq!((status, &body["code"]), (404, &json!("TEMPLATE_NOT_FOUND")));

    assert!(sandbox.accepted().is_empty());
    assert_eq!(sandbox.log().len(), 2);
    assert_eq!(sandbox.log()[1].code.as_deref(), Some("TEMPLATE_NOT_FOUND"));
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_400_logged_as_null() {
    let sandbox = start(SandboxConfig::default()).await;
    let url = format!("{}/v1/messages/send", sandbox.base_url());
    for (content_type, payload) in [
        ("application/json", "{not json"),
        (
            "text/plain",
            r#"{"destinationNumber":"+5511988887777","text":"Oi"}"#,
        ),
    ] {
        let response = client()
            .post(&url)
            .header("x-api-key", KEY)
            .header("content-type", content_type)
            .body(payload)
            .send()
            .await
            .unwrap();
        let (status, _, body) = answer(response).await;
        assert_eq!(
            (status, &body["code"]),
            (400, &json!("INVALID_JSON")),
            "{payload}"
        );
    }
    assert_eq!(sandbox.log()[0].body, Value::Null);
    assert!(sandbox.accepted().is_empty());
}

#[tokio::test]
async fn auth_needs_a_number_scoped_key_and_the_configured_one() {
    let sandbox = start(SandboxConfig {
        api_key: Some(KEY.into()),
        ..SandboxConfig::default()
    })
    .await;
    let cases: [(Headers, u16, &str); 5] = [
        (&[], 401, "UNAUTHORIZED"),
        (&[("x-api-key", "")], 401, "UNAUTHORIZED"),
        (&[("x-api-key", "ps_other")], 401, "UNAUTHORIZED"),
        (&[("x-api-key-id", KEY)], 202, "QUEUED"),
        (
            &[("authorization", "Bearer ps_test_key")],
            401,
            "UNAUTHORIZED",
        ),
    ];
    for (headers, status, code) in cases {
        let (got, _, body) = answer(send_with(&sandbox, headers, &template()).await.unwrap()).await;
        let got_code = body.get("code").unwrap_or(&body["status"]);
        assert_eq!(
            (got, got_code.as_str().unwrap()),
            (status, code),
            "{headers:?}"
        );
    }

    let tenant = start(SandboxConfig::default()).await;
    let response = send_with(&tenant, &[("x-api-key", "ps_tenant_abc")], &template()).await;
    let (status, _, body) = answer(response.unwrap()).await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        json!({ "error": "Tenant-scoped keys cannot call number endpoints", "code": "TENANT_SCOPE_NOT_ALLOWED" })
    );
}

#[tokio::test]
async fn media_needs_a_plan_when_configured() {
    let sandbox = start(SandboxConfig {
        media_requires_plan: true,
        ..SandboxConfig::default()
    })
    .await;
    let media = json!({ "destinationNumber": "+5511988887777", "media": "https://x.io/a.png", "mediaType": "image" });
    let (status, _, body) = send_and_answer(&sandbox, &media).await;
    assert_eq!(
        (status, &body["code"]),
        (402, &json!("SUBSCRIPTION_REQUIRED_FOR_MEDIA"))
    );
    assert_eq!(send_and_answer(&sandbox, &template()).await.0, 202);
}

#[tokio::test]
async fn billing_is_suspended_after_n_accepted_messages() {
    let sandbox = start(with_faults("billing-suspended-after=2")).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let (status, _, body) = send_and_answer(&sandbox, &template()).await;
        statuses.push((status, body["code"].as_str().map(str::to_owned)));
    }
    let suspended = (422, Some("BILLING_SUSPENDED".to_owned()));
    assert_eq!(statuses[..2], [(202, None), (202, None)]);
    assert_eq!(statuses[2..], [suspended.clone(), suspended]);
    assert_eq!(sandbox.accepted().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_see_one_consistent_history() {
    let sandbox = start(with_faults("billing-suspended-after=5")).await;
    let url = format!("{}/v1/messages/send", sandbox.base_url());
    let mut sends = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let request = client()
            .post(&url)
            .header("x-api-key", KEY)
            .json(&template());
        sends.spawn(async move { request.send().await.unwrap().status().as_u16() });
    }
    let statuses = sends.join_all().await;

    assert_eq!(statuses.iter().filter(|s| **s == 202).count(), 5);
    assert_eq!(statuses.iter().filter(|s| **s == 422).count(), 15);
    let seqs: Vec<u64> = sandbox.log().iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
    let accepted_seqs: Vec<u64> = sandbox.accepted().iter().map(|e| e.seq).collect();
    assert_eq!(accepted_seqs, [1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn the_server_rate_limit_answers_429_with_retry_after() {
    let sandbox = start(SandboxConfig {
        rate_limit_per_sec: Some(2),
        ..with_faults("retry-after=7")
    })
    .await;
    for _ in 0..2 {
        assert_eq!(send_and_answer(&sandbox, &template()).await.0, 202);
    }
    let (status, retry_after, body) = send_and_answer(&sandbox, &template()).await;
    assert_eq!((status, retry_after.as_deref()), (429, Some("7")));
    assert_eq!(
        body,
        json!({ "error": "Too many requests", "code": "RATE_LIMITED" })
    );
    assert_eq!(sandbox.log()[2].fault, None);
}

#[tokio::test]
async fn injected_429_and_503_come_before_validation_and_store_nothing() {
    for (spec, status, code) in [
        ("429=1", 429, "RATE_LIMITED"),
        ("503=1", 503, "SERVICE_UNAVAILABLE"),
    ] {
        let sandbox = start(with_faults(spec)).await;
        let invalid = json!({ "text": "no destination" });
        let (got, retry_after, body) = send_and_answer(&sandbox, &invalid).await;
        assert_eq!((got, retry_after.as_deref()), (status, Some("1")), "{spec}");
        assert_eq!(body["code"], code);
        let entry = &sandbox.log()[0];
        assert_eq!(
            (entry.accepted, entry.fault.as_deref()),
            (false, Some(&spec[..3]))
        );
    }
}

#[tokio::test]
async fn an_injected_500_still_stores_the_message() {
    let sandbox = start(with_faults("500=1")).await;
    let (status, _, body) = send_and_answer(&sandbox, &template()).await;
    assert_eq!(
        body,
        json!({ "error": "Internal error", "code": "INTERNAL" })
    );
    assert_eq!(status, 500);
    let [entry] = &sandbox.accepted()[..] else {
        panic!("the message must be stored");
    };
    assert!(entry.message_id.is_some());
    assert_eq!(
        (entry.status, entry.fault.as_deref()),
        (Some(500), Some("500"))
    );
}

#[tokio::test]
async fn a_drop_closes_the_connection_without_a_response_but_stores_the_message() {
    let sandbox = start(with_faults("drop=1")).await;
    let err = send_with(&sandbox, &[("x-api-key", KEY)], &template())
        .await
        .unwrap_err();
    assert!(!err.is_connect(), "{err:?}");

    let mut raw = TcpStream::connect(sandbox.addr()).await.unwrap();
    let body = template().to_string();
    let request = format!(
        "POST /v1/messages/send HTTP/1.1\r\nhost: x\r\nx-api-key: {KEY}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    raw.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    raw.read_to_end(&mut received).await.unwrap();
    assert!(
        received.is_empty(),
        "{}",
        String::from_utf8_lossy(&received)
    );

    let accepted = sandbox.accepted();
    assert_eq!(accepted.len(), 2);
    assert!(
        accepted
            .iter()
            .all(|e| e.status.is_none() && e.fault.as_deref() == Some("drop"))
    );
}

#[tokio::test]
async fn a_late_answer_is_stored_before_it_is_sent() {
    let sandbox = start(with_faults("late=1,late-by=300ms")).await;
    let started = Instant::now();
    let body = template();
    let (response, stored_meanwhile) = tokio::join!(send(&sandbox, &body), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        sandbox.accepted().len()
    });
    assert_eq!(stored_meanwhile, 1);
    assert_eq!(response.status(), 202);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(sandbox.log()[0].fault.as_deref(), Some("late"));
}

#[tokio::test]
async fn latency_delays_every_response() {
    let sandbox = start(with_faults("latency=150ms")).await;
    for headers in [&[("x-api-key", KEY)][..], &[]] {
        let started = Instant::now();
        send_with(&sandbox, headers, &template()).await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "{headers:?}"
        );
    }
}

#[tokio::test]
async fn the_same_seed_replays_the_same_run() {
    async fn run(seed: u64) -> Vec<(u16, Option<String>)> {
        let sandbox = start(SandboxConfig {
            seed,
            ..with_faults("500=0.5")
        })
        .await;
        for _ in 0..8 {
            send(&sandbox, &template()).await;
        }
        let entries = sandbox.log().into_iter();
        entries.map(|e| (e.status.unwrap(), e.message_id)).collect()
    }
    let first = run(42).await;
    assert_eq!(first, run(42).await);
    assert!(first.iter().any(|(s, _)| *s == 500) && first.iter().any(|(s, _)| *s == 202));
}

#[tokio::test]
async fn other_paths_and_methods_get_json_errors_and_are_logged() {
    let sandbox = start(SandboxConfig::default()).await;
    let base = sandbox.base_url();
    let not_found = client().get(format!("{base}/v1/templates/abc")).send();
    let (status, _, body) = answer(not_found.await.unwrap()).await;
    assert_eq!((status, &body["code"]), (404, &json!("NOT_FOUND")));
    let wrong_method = client().get(format!("{base}/v1/messages/send")).send();
    assert_eq!(wrong_method.await.unwrap().status(), 405);
    let paths: Vec<_> = sandbox
        .log()
        .into_iter()
        .map(|e| (e.method, e.path))
        .collect();
    assert_eq!(
        paths,
        [
            ("GET".to_owned(), "/v1/templates/abc".to_owned()),
            ("GET".to_owned(), "/v1/messages/send".to_owned())
        ]
    );
}

#[tokio::test]
async fn the_log_keeps_header_names_but_never_their_values() {
    let sandbox = start(SandboxConfig::default()).await;
    let secret = "ps_very_secret_key_value";
    let headers = [("x-api-key", secret), ("X-Trace", "trace-secret")];
    send_with(&sandbox, &headers, &template()).await.unwrap();

    let entry = &sandbox.log()[0];
    assert!(entry.header_names.contains(&"x-api-key".to_owned()));
    assert!(entry.header_names.contains(&"x-trace".to_owned()));
    let logged = serde_json::to_string(&sandbox.log()).unwrap();
    assert!(
        !logged.contains(secret) && !logged.contains("trace-secret"),
        "{logged}"
    );
}

#[tokio::test]
async fn the_log_file_gets_one_json_line_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("requests.jsonl");
    let sandbox = start(SandboxConfig {
        log_path: Some(path.clone()),
        ..SandboxConfig::default()
    })
    .await;
    send(&sandbox, &template()).await;
    send(&sandbox, &json!({ "text": "no destination" })).await;

    let lines: Vec<LogEntry> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines, sandbox.log());
    assert_eq!(lines.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
    assert!(!std::fs::read_to_string(&path).unwrap().contains(KEY));
}

#[tokio::test]
async fn shutdown_releases_the_port() {
    let sandbox = start(SandboxConfig::default()).await;
    let addr = sandbox.addr();
    assert_eq!(
        sandbox.base_url(),
        format!("http://127.0.0.1:{}", addr.port())
    );
    sandbox.shutdown().await;
    assert!(TcpStream::connect(addr).await.is_err());
}
