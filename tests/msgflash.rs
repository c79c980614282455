//! MsgFlash as the provider: each type's body as the sandbox received it, its error
//! vocabulary mapped onto the same statuses and exit codes, start-up refusals, and resume.

mod common;

use common::*;
use serde_json::{Value, json};

const CONTACT: &str = "9b2e4f60-1c3d-4a5b-8c7d-6e5f4a3b2c1d";
const TEMPLATE: &str = "7d1c2b3a-4e5f-4a6b-9c8d-7e6f5a4b3c2d";

#[test]
fn every_type_goes_out_with_the_documented_body() {
    let rig = Rig::new();
    let csv = format!(
        "phone,type,text,media,caption,latitude,longitude,locationName,locationAddress,contactId,templateId,app,coupon\n\
         +33612345670,text,\"Hello, your order is ready.\",,,,,,,,,,\n\
         +33612345671,image,,https://cdn.example.com/banner.jpg,Nouvelle collection,,,,,,,,\n\
         +33612345672,video,,https://cdn.example.com/promo.mp4,,,,,,,,,\n\
         +33612345673,audio,,https://cdn.example.com/message.mp3,,,,,,,,,\n\
         +33612345674,voice_note,,https://cdn.example.com/note.ogg,,,,,,,,,\n\
         +33612345675,document,,https://cdn.example.com/facture.pdf,Votre facture,,,,,,,,\n\
         +33612345676,,,,,6.3654,2.4183,Boutique Cotonou Centre,\"Avenue de la Marina, Cotonou\",,,,\n\
         +33612345677,contact,,,,,,,,{CONTACT},,,\n\
         +33612345678,,,,,,,,,{CONTACT},{TEMPLATE},MsgFlash,PROMO10\n"
    );
    let path = rig.file("c.csv", &csv);
    let output = rig.run(&mut rig.msgflash(&path));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let bodies: Vec<Value> = rig.accepted().into_iter().map(|e| e.body).collect();
    let base = |to: &str, rest: Value| {
        let mut body = json!({"instanceId": INSTANCE, "to": to});
        body.as_object_mut()
            .unwrap()
            .extend(rest.as_object().unwrap().clone());
        body
    };
    let media = |to: &str, kind: &str, url: &str| base(to, json!({"type": kind, "mediaUrl": url}));
    let captioned = |to: &str, kind: &str, url: &str, caption: &str| {
        let mut body = media(to, kind, url);
        body["text"] = json!(caption);
        body
    };
    let expected = vec![
        base(
            "+33612345670",
            json!({"type": "text", "text": "Hello, your order is ready."}),
        ),
        captioned(
            "+33612345671",
            "image",
            "https://cdn.example.com/banner.jpg",
            "Nouvelle collection",
        ),
        media("+33612345672", "video", "https://cdn.example.com/promo.mp4"),
        media(
            "+33612345673",
            "audio",
            "https://cdn.example.com/message.mp3",
        ),
        media(
            "+33612345674",
            "voice_note",
            "https://cdn.example.com/note.ogg",
        ),
        captioned(
            "+33612345675",
            "document",
            "https://cdn.example.com/facture.pdf",
            "Votre facture",
        ),
        base(
            "+33612345676",
            json!({"type": "location", "latitude": 6.3654, "longitude": 2.4183,
                   "locationName": "Boutique Cotonou Centre",
                   "locationAddress": "Avenue de la Marina, Cotonou"}),
        ),
        base(
            "+33612345677",
            json!({"type": "contact", "contactId": CONTACT}),
        ),
        base(
            "+33612345678",
            json!({"templateId": TEMPLATE, "variables": {"app": "MsgFlash", "coupon": "PROMO10"},
                   "contactId": CONTACT}),
        ),
    ];
    assert_eq!(bodies, expected);
    let log = rig.log();
    assert!(log.iter().all(|e| e.path == "/api/v1/messages/send"));
    let headers = &log[0].header_names;
    assert!(headers.iter().any(|h| h == "x-api-key"), "{headers:?}");
    assert!(!headers.iter().any(|h| h == "authorization"), "{headers:?}");
}

#[test]
fn accepted_rows_are_queued_with_the_data_id() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(2));
    let output = rig.run(rig.msgflash(&path).args(["--text", "Oi", "-vv"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let rows = results(&rig.dir.path().join("c.results.csv"));
    for (row, entry) in rows.iter().zip(rig.accepted()) {
        assert_eq!(row["status"], "QUEUED");
        assert_eq!(row["httpStatus"], "202");
        assert_eq!(Some(&row["messageId"]), entry.message_id.as_ref());
        assert_eq!(row["correlationId"], "");
    }
}

#[test]
fn refused_rows_fail_with_msgflash_codes_and_the_run_goes_on() {
    // A text over 4,096 characters is refused before sending now: the sandbox refuses the
    // first number instead.
    let rig = Rig::refusing(&[(0, "VALIDATION_ERROR")]);
    let csv = format!(
        "phone,text,templateId\n{},oi,\n+5511988887771,,00000000-0000-4000-8000-000000000000\n\
         +5511988887772,,11111111-1111-4111-8111-111111111111\n+5511988887773,ok,\n",
        phone(0)
    );
    let path = rig.file("c.csv", &csv);
    let output = rig.run(&mut rig.msgflash(&path));
    assert_eq!(code(&output), 1, "{}", text(&output));
    let rows = results(&rig.dir.path().join("c.results.csv"));
    let got: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["status"].as_str(),
                r["httpStatus"].as_str(),
                r["errorCode"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("FAILED", "400", "VALIDATION_ERROR"),
            ("FAILED", "404", "NOT_FOUND"),
            ("FAILED", "400", "TEMPLATE_VARIABLES_MISSING"),
            ("QUEUED", "202", ""),
        ]
    );
    assert_eq!(rig.log().len(), 4, "a refused row is not retried");
}

/// An unknown instance (the sandbox's ids starting 00000000) is the campaign's mistake, not
/// each row's: MsgFlash's NOT_FOUND does not say which id it did not find, and the row named
/// none of its own. The first row stays to send and the run stops.
#[test]
fn an_unknown_campaign_instance_stops_at_the_first_row() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(3));
    let mut command = rig.msgflash_on(&path, "00000000-1111-4111-8111-111111111111");
    command.args(["--text", "Oi"]);
    assert_campaign_stops(&rig, &mut command, "404", "NOT_FOUND");
}

#[test]
fn an_inactive_subscription_stops_the_campaign_with_exit_3() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(3));
    let mut command = rig.msgflash(&path);
    command
        .env("MSGFLASH_API_KEY", "msgf_inactive_abc")
        .args(["--text", "Oi"]);
    assert_campaign_stops(&rig, &mut command, "403", "SUBSCRIPTION_INACTIVE");
}

#[test]
fn the_monthly_quota_stops_the_campaign_unretried_and_a_rerun_resumes() {
    let rig = Rig::with_faults("monthly-quota-after=2,retry-after=0");
    let path = rig.file("c.csv", &campaign_csv(5));
    let output = rig.run(rig.msgflash(&path).args(["--text", "Oi"]));
    assert_eq!(code(&output), 3, "{}", text(&output));
    let log = rig.log();
    let first_quota = log
        .iter()
        .position(|e| e.code.as_deref() == Some("MONTHLY_OUTBOUND_QUOTA_EXCEEDED"))
        .expect("the quota answered");
    assert_eq!(log[first_quota].status, Some(429));
    assert!(
        log.len() - first_quota <= 2,
        "at most one request after the quota error: {log:?}"
    );
    assert_eq!(
        rig.accepted().len(),
        2,
        "the quota error itself is not a send"
    );
    let results_path = rig.dir.path().join("c.results.csv");
    let rows = results(&results_path);
    let statuses: Vec<&str> = rows.iter().map(|r| r["status"].as_str()).collect();
    assert_eq!(statuses, ["QUEUED", "QUEUED", "DEFERRED"]);
    assert_eq!(rows[2]["errorCode"], "MONTHLY_OUTBOUND_QUOTA_EXCEEDED");

    // Next month (a fresh sandbox, at another address: --retarget): the rerun sends the
    // other three and nothing twice.
    let next = Rig::new();
    let output = next.run(next.msgflash(&path).args([
        "--base-url",
        &next.sandbox.base_url(),
        "--text",
        "Oi",
        "--retarget",
    ]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(next.sent(), vec![phone(2), phone(3), phone(4)]);
    let rows = results(&results_path);
    assert!(rows.iter().all(|r| r["status"] == "QUEUED"), "{rows:?}");
    assert_eq!(result_lines(&results_path), 5);
}

#[test]
fn a_plain_429_is_a_rate_limit_retried_to_queued() {
    let rig = Rig::with_faults("429=0.4,retry-after=0");
    let path = rig.file("c.csv", &campaign_csv(10));
    let output = rig.run(
        rig.msgflash(&path)
            .args(["--text", "Oi", "--max-attempts", "20"]),
    );
    assert_eq!(code(&output), 0, "{}", text(&output));
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert!(rows.iter().all(|r| r["status"] == "QUEUED"), "{rows:?}");
    let limited = rig
        .log()
        .iter()
        .filter(|e| e.fault.as_deref() == Some("429"))
        .count();
    assert!(limited > 0, "the fault mix produced no 429");
    let attempts: usize = rows
        .iter()
        .map(|r| r["attempts"].parse::<usize>().unwrap())
        .sum();
    assert_eq!(attempts, rig.log().len());
}

#[test]
fn a_server_error_is_uncertain_and_never_resent() {
    let rig = Rig::with_faults("500=1.0");
    let path = rig.file("c.csv", &campaign_csv(2));
    let output = rig.run(rig.msgflash(&path).args(["--text", "Oi"]));
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(rig.log().len(), 2);
    for row in results(&rig.dir.path().join("c.results.csv")) {
        assert_eq!(
            (row["status"].as_str(), row["errorCode"].as_str()),
            ("UNCERTAIN", "INTERNAL")
        );
    }
}

#[test]
fn a_rerun_after_a_crash_resumes_as_with_pilot_status() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(3));
    let header = "row,destination,status,messageId,correlationId,httpStatus,errorCode,error,attempts,sentAt,rawDestination,sender\n";
    let journal = format!(
        "{header}1,{p0},QUEUED,msg_1,,202,,,1,2026-01-01T00:00:00Z,{p0}\n2,{p1},SENDING,,,,,,1,2026-01-01T00:00:01Z,{p1}\n",
        p0 = phone(0),
        p1 = phone(1)
    );
    let results_path = rig.file("c.results.csv", &journal);
    let output = rig.run(rig.msgflash(&path).args(["--text", "Oi"]));
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(rig.sent(), vec![phone(2)]);
    let statuses: Vec<String> = results(&results_path)
        .into_iter()
        .map(|r| r["status"].clone())
        .collect();
    assert_eq!(statuses, ["QUEUED", "UNCERTAIN", "QUEUED"]);
}

#[test]
fn bad_rows_are_invalid_naming_their_field_and_never_sent() {
    let rig = Rig::new();
    let csv = "phone,type,media,caption,latitude,longitude,contactId\n\
               +5511988887770,location,,,6.3654,,\n\
               +5511988887771,,,,95,2.4,\n\
               +5511988887772,audio,https://cdn.example.com/a.mp3,Oi,,,\n\
               +5511988887773,contact,,,,,not-a-uuid\n\
               +5511988887774,gif,,,,,\n\
               BR.13491208655302741918,contact,,,,,9b2e4f60-1c3d-4a5b-8c7d-6e5f4a3b2c1d\n";
    let path = rig.file("c.csv", csv);
    let output = rig.run(rig.msgflash(&path).args(["--max-invalid", "100%"]));
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert!(rig.log().is_empty(), "an invalid row was sent");
    let expect = [
        ("MISSING_FIELD", "longitude"),
        ("INVALID_LOCATION", "latitude"),
        ("CAPTION_NOT_ALLOWED", "caption"),
        ("INVALID_ID", "contactId"),
        ("INVALID_TYPE", "type"),
        ("INVALID_DESTINATION", "BSUID"),
    ];
    for (row, (code_text, field)) in results(&rig.dir.path().join("c.results.csv"))
        .iter()
        .zip(expect)
    {
        assert_eq!(
            (row["status"].as_str(), row["errorCode"].as_str()),
            ("INVALID", code_text),
            "{row:?}"
        );
        assert!(row["error"].contains(field), "{row:?}");
    }
}

#[test]
fn options_msgflash_lacks_are_refused_at_start_up() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(1));
    let cases: [(&[&str], &[&str]); 6] = [
        (
            &[
                "--text",
                "Oi",
                "--buttons",
                r#"[{"type":"reply","displayText":"Sim"}]"#,
            ],
            &["buttons", "msgflash"],
        ),
        (
            &["--text", "Oi", "--labels", "vip"],
            &["labels", "msgflash"],
        ),
        (
            &["--text", "Oi", "--deliver-at", "2030-01-01T09:00:00Z"],
            &["deliverAt", "msgflash"],
        ),
        (&["--text", "Oi", "--ai-rewrite"], &["aiRewriteEnabled"]),
        (&["--template", "boas_vindas"], &["templateId", "UUID"]),
        (
            &[
                "--template",
                TEMPLATE,
                "--media",
                "https://cdn.example.com/a.png",
            ],
            &["media", "msgflash"],
        ),
    ];
    for (args, needles) in cases {
        assert_refused(&rig, rig.msgflash(&path).args(args), needles);
    }
    for (column, csv) in [
        ("groupId", "groupId\n123-456@g.us\n"),
        ("newsletterId", "newsletterId\n1203@newsletter\n"),
        ("buttons", "phone,buttons\n+5511988887777,x\n"),
    ] {
        let file = rig.file("columns.csv", csv);
        let mut command = rig.msgflash(&file);
        assert_refused(&rig, command.args(["--text", "Oi"]), &[column, "msgflash"]);
    }
}

#[test]
fn a_missing_instance_id_or_key_is_refused_at_start_up() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(1));
    let mut command = rig.command(&path);
    command
        .env("MSGFLASH_API_KEY", KEY)
        .args(["--provider", "msgflash", "--text", "Oi"]);
    assert_refused(&rig, &mut command, &["--instance-id"]);
    let mut command = rig.msgflash(&path);
    command
        .env_remove("MSGFLASH_API_KEY")
        .args(["--text", "Oi"]);
    assert_refused(&rig, &mut command, &["MSGFLASH_API_KEY", "--sandbox"]);
    let mut command = rig.command(&path);
    command.args(["--instance-id", INSTANCE, "--text", "Oi"]);
    assert_refused(&rig, &mut command, &["--instance-id", "msgflash"]);
}

#[test]
fn pilot_status_keeps_msgflash_column_names_as_variables_and_refuses_voice_notes() {
    let rig = Rig::new();
    let path = rig.file(
        "c.csv",
        "phone,type,latitude,contactId\n+5511988887777,vip,1.5,c-1\n",
    );
    let output = rig.run(rig.command(&path).args(["--template", "t"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(
        rig.accepted()[0].body["variables"],
        json!({"type": "vip", "latitude": "1.5", "contactId": "c-1"})
    );
    let args = [
        "--media",
        "https://cdn.example.com/n.ogg",
        "--media-type",
        "voice_note",
    ];
    let fresh = Rig::new();
    assert_refused(
        &fresh,
        fresh.command(&path).args(args),
        &["voice_note", "pilot-status"],
    );
}

#[test]
fn the_location_sample_runs_against_the_sandbox_with_no_key() {
    let rig = Rig::new();
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/locations.csv");
    let results_path = rig.dir.path().join("locations.results.csv");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_campaign-sender"));
    command
        .arg(&sample)
        .args(["--sandbox", "--spacing", "0", "--rate", "10000/s"])
        .arg("--results")
        .arg(&results_path)
        .env_clear()
        .env("NO_COLOR", "1");
    let output = rig.run(&mut command);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let rows = results(&results_path);
    assert!(rows.len() >= 3, "{rows:?}");
    assert!(rows.iter().all(|r| r["status"] == "QUEUED"), "{rows:?}");
    // The rehearsal says whose it was: status does not ask Pilot Status about it.
    let before = std::fs::read(&results_path).unwrap();
    let output = rig.run(
        binary()
            .args(["status", "--sandbox"])
            .arg(&results_path)
            .env_clear(),
    );
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(text(&output).contains("MsgFlash"), "{}", text(&output));
    assert_eq!(std::fs::read(&results_path).unwrap(), before);
}

#[test]
fn status_and_cancel_say_a_msgflash_campaign_is_followed_in_its_dashboard() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(2));
    let output = rig.run(rig.msgflash(&path).args(["--text", "Oi"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let results_path = rig.dir.path().join("c.results.csv");
    let before = std::fs::read(&results_path).unwrap();
    let requests = rig.sandbox.log().len();
    for command in ["status", "cancel"] {
        let mut operation = rig.operation(command, &results_path);
        if command == "cancel" {
            operation.arg("--yes");
        }
        let output = rig.run(&mut operation);
        assert_eq!(code(&output), 2, "{command}: {}", text(&output));
        assert!(
            text(&output).contains("MsgFlash dashboard"),
            "{}",
            text(&output)
        );
    }
    assert_eq!(rig.sandbox.log().len(), requests, "nothing was asked");
    assert_eq!(std::fs::read(&results_path).unwrap(), before);
}
