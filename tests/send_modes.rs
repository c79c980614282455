//! Each send mode's request body, as the sandbox received it.

mod common;

use common::*;
use serde_json::{Value, json};

/// Runs a one-row campaign with `args` and returns the body the sandbox accepted.
fn body_for(csv: &str, args: &[&str]) -> Value {
    let rig = Rig::new();
    let path = rig.file("c.csv", csv);
    let output = rig.run(rig.command(&path).args(args));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let accepted = rig.accepted();
    assert_eq!(accepted.len(), 1, "{accepted:?}");
    accepted[0].body.clone()
}

#[test]
fn template_rows_send_their_extra_columns_as_a_variables_object() {
    let body = body_for(
        "phone,nome,cidade\n+5511988887777,Ana,São Paulo\n",
        &["--template", "boas_vindas"],
    );
    assert_eq!(
        body,
        json!({
            "destinationNumber": "+5511988887777",
            "templateId": "boas_vindas",
            "variables": {"nome": "Ana", "cidade": "São Paulo"}
        })
    );
}

#[test]
fn text_mode_sends_the_text_and_no_variables() {
    let body = body_for(
        "phone,nome\n+5511988887777,Ana\n",
        &["--text", "Olá! Sua entrega chegou."],
    );
    assert_eq!(
        body,
        json!({"destinationNumber": "+5511988887777", "text": "Olá! Sua entrega chegou."})
    );
}

#[test]
fn direct_media_sends_media_type_and_caption() {
    let body = body_for(
        "to\n+5511988887777\n",
        &[
            "--media",
            "https://cdn.example.com/promo.jpg",
            "--media-type",
            "image",
            "--caption",
            "Nova coleção",
        ],
    );
    assert_eq!(
        body,
        json!({
            "destinationNumber": "+5511988887777",
            "media": "https://cdn.example.com/promo.jpg",
            "mediaType": "image",
            "caption": "Nova coleção"
        })
    );
}

#[test]
fn buttons_header_footer_and_labels_go_as_json_values() {
    let body = body_for(
        "destinationNumber\n+5511988887777\n",
        &[
            "--text",
            "Quer receber ofertas?",
            "--buttons",
            r#"[{"type":"reply","displayText":"Sim","id":"sim"}]"#,
            "--header",
            r#"{"type":"text","content":"Oferta"}"#,
            "--footer",
            "Responda SAIR para sair",
            "--labels",
            "vip, pedido",
        ],
    );
    assert_eq!(
        body,
        json!({
            "destinationNumber": "+5511988887777",
            "text": "Quer receber ofertas?",
            "buttons": [{"type": "reply", "displayText": "Sim", "id": "sim"}],
            "header": {"type": "text", "content": "Oferta"},
            "footer": "Responda SAIR para sair",
            "labels": ["vip", "pedido"]
        })
    );
}

/// `aiRewriteEnabled` is for templates only: it goes with a row that is a template, not with
/// a row of the same campaign sending the media on its own, and a `--text` campaign with it
/// is refused before any send.
#[test]
fn ai_rewrite_goes_with_templates_only() {
    let rig = Rig::new();
    let path = rig.file(
        "c.csv",
        "phone,templateId\n+5511988887777,promo\n+5511977776666,\n",
    );
    let media = [
        "--media",
        "https://cdn.example.com/a.png",
        "--media-type",
        "image",
        "--ai-rewrite",
    ];
    let output = rig.run(rig.command(&path).args(media));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let bodies: Vec<Value> = rig.accepted().into_iter().map(|e| e.body).collect();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0]["templateId"], "promo");
    assert_eq!(bodies[0]["aiRewriteEnabled"], true);
    assert_eq!(bodies[1].get("templateId"), None);
    assert_eq!(bodies[1].get("aiRewriteEnabled"), None, "{}", bodies[1]);
    let rig = Rig::new();
    let path = rig.file("c.csv", "phone\n+5511988887777\n");
    let output = rig.run(rig.command(&path).args(["--text", "Oi", "--ai-rewrite"]));
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(
        text(&output).contains("templates only"),
        "{}",
        text(&output)
    );
    assert!(rig.log().is_empty());
}

#[test]
fn a_relative_deliver_until_counts_from_the_scheduled_time() {
    let body = body_for(
        "phone\n+5511988887777\n",
        &[
            "--template",
            "lembrete",
            "--deliver-at",
            "2030-01-01T09:00:00-03:00",
            "--deliver-until",
            "4h",
        ],
    );
    assert_eq!(body["deliverAt"], "2030-01-01T12:00:00Z");
    assert_eq!(body["deliverUntil"], "2030-01-01T16:00:00Z");
}

#[test]
fn groups_and_newsletters_are_destinations_of_their_own() {
    let rig = Rig::new();
    let path = rig.file(
        "c.csv",
        "groupId,newsletterId\n123-456@g.us,\n,120363000000000000@newsletter\n",
    );
    let output = rig.run(rig.command(&path).args(["--text", "Aviso"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let bodies: Vec<Value> = rig.accepted().into_iter().map(|e| e.body).collect();
    assert_eq!(
        bodies,
        vec![
            json!({"groupId": "123-456@g.us", "text": "Aviso"}),
            json!({"newsletterId": "120363000000000000@newsletter", "text": "Aviso"})
        ]
    );
}

#[test]
fn row_columns_override_the_campaign_setting_for_their_row_only() {
    let rig = Rig::new();
    let path = rig.file(
        "c.csv",
        "phone,templateId,nome\n+5511988887777,,Ana\n+5511977776666,promo_vip,Bia\n",
    );
    let output = rig.run(rig.command(&path).args(["--template", "boas_vindas"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let templates: Vec<Value> = rig
        .accepted()
        .into_iter()
        .map(|e| e.body["templateId"].clone())
        .collect();
    assert_eq!(templates, vec![json!("boas_vindas"), json!("promo_vip")]);
}

#[test]
fn the_key_goes_in_x_api_key_and_never_in_authorization() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(1));
    let output = rig.run(rig.command(&path).args(["--template", "t", "-vv"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let headers = &rig.log()[0].header_names;
    assert!(headers.iter().any(|h| h == "x-api-key"), "{headers:?}");
    assert!(!headers.iter().any(|h| h == "authorization"), "{headers:?}");
}

#[test]
fn a_key_id_goes_in_x_api_key_id() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(1));
    let mut command = rig.command(&path);
    command
        .env_remove("PILOT_STATUS_API_KEY")
        .env("PILOT_STATUS_API_KEY_ID", KEY);
    let output = rig.run(command.args(["--template", "t"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let headers = &rig.log()[0].header_names;
    assert!(
        headers.iter().any(|h| h == "x-api-key-id") && !headers.iter().any(|h| h == "x-api-key"),
        "{headers:?}"
    );
}

/// A `deliverAt` already past is sent at once by the API, not scheduled: the preflight says
/// so (a year's typo would otherwise send the list now, past `cancel`'s reach).
#[test]
fn a_deliver_at_in_the_past_is_noted_before_sending() {
    let rig = Rig::new();
    let path = rig.file("c.csv", "phone\n+5511988887777\n");
    let dry = |at: &str| {
        let output =
            rig.run(
                rig.command(&path)
                    .args(["--template", "t", "--dry-run", "--deliver-at", at]),
            );
        assert_eq!(code(&output), 0, "{}", text(&output));
        text(&output)
    };
    assert!(
        dry("2020-01-01T09:00:00Z")
            .contains("1 rows to send have a deliverAt that has already passed")
    );
    assert!(!dry("2099-01-01T09:00:00Z").contains("already passed"));
}
