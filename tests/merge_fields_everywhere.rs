//! Merge fields wherever a campaign may write them: filled in every field the docs say takes
//! them (media URLs and location texts too), refused at set-up everywhere else and in any
//! form the parser cannot read unambiguously (a field in a fallback, a stray brace). Driven
//! through the real binary; the sandbox's received bodies are what is checked, so a literal
//! `{{...}}` from the campaign's own text can never have gone out.

mod common;

use std::path::PathBuf;

use common::{Rig, code, phone, results, text};

/// `c.csv`: a phone column then `header`, and one row per item of `rows` (the cells after
/// the phone), to phones 0, 1, ...
fn campaign(rig: &Rig, header: &str, rows: &[&str]) -> PathBuf {
    let mut csv = format!("phone,{header}\n");
    for (i, cells) in rows.iter().enumerate() {
        csv.push_str(&format!("{},{cells}\n", phone(i)));
    }
    rig.file("c.csv", &csv)
}

/// The bodies the sandbox accepted, in arrival order.
fn bodies(rig: &Rig) -> Vec<serde_json::Value> {
    rig.accepted().into_iter().map(|e| e.body).collect()
}

/// No accepted body holds a `{{` anywhere (the promise this file keeps).
fn assert_no_braces(rig: &Rig) {
    for entry in rig.log() {
        let body = entry.body.to_string();
        assert!(
            !body.contains("{{"),
            "a literal merge field was sent: {body}"
        );
    }
}

#[test]
fn a_media_flag_fills_its_merge_fields_per_row_as_url_pieces() {
    let rig = Rig::new();
    let csv = campaign(&rig, "nome,id", &["Ana,7", "Bia,ação 2/b"]);
    let output = rig.run(rig.command(&csv).args([
        "--media",
        "https://cdn.example.com/cupom-{{id}}.png",
        "--media-type",
        "image",
        "--caption",
        "Oi {{nome}}",
    ]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert!(
        !text(&output).contains("are not sent"),
        "a column read by the media URL is used: {}",
        text(&output)
    );
    let bodies = bodies(&rig);
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0]["media"], "https://cdn.example.com/cupom-7.png");
    assert_eq!(bodies[0]["caption"], "Oi Ana");
    // A cell is one piece of the URL: it cannot add a path or a query.
    assert_eq!(
        bodies[1]["media"],
        "https://cdn.example.com/cupom-a%C3%A7%C3%A3o%202%2Fb.png"
    );
    assert_no_braces(&rig);
}

#[test]
fn a_media_cell_with_a_merge_field_is_filled_like_a_text_cell() {
    let rig = Rig::new();
    let csv = campaign(
        &rig,
        "nome,id,media",
        &[
            "Ana,7,https://cdn.example.com/{{id}}.png",
            "Bia,8,https://cdn.example.com/{{ID|x}}.png",
        ],
    );
    let output = rig.run(rig.command(&csv).args(["--media-type", "image"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let media: Vec<_> = bodies(&rig).iter().map(|b| b["media"].clone()).collect();
    assert_eq!(
        media,
        [
            "https://cdn.example.com/7.png",
            "https://cdn.example.com/8.png"
        ]
    );
    assert_no_braces(&rig);
}

#[test]
fn location_name_and_address_are_filled_for_msgflash() {
    let rig = Rig::new();
    let csv = campaign(&rig, "loja,rua", &["Centro,Rua A"]);
    let pin = |address: &str| {
        rig.run(rig.msgflash(&csv).args([
            "--latitude",
            "-8.05",
            "--longitude",
            "-34.9",
            "--location-name",
            "Loja {{loja}}",
            "--location-address",
            address,
        ]))
    };
    // `bairro` is not a column: refused before anything is sent, naming the right flag.
    let output = pin("{{rua}}, {{bairro|Recife}}");
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(
        text(&output).contains("--location-address"),
        "{}",
        text(&output)
    );
    assert!(rig.log().is_empty());

    let output = pin("{{rua}}, Recife");
    assert_eq!(code(&output), 0, "{}", text(&output));
    let bodies = bodies(&rig);
    assert_eq!(bodies[0]["locationName"], "Loja Centro");
    assert_eq!(bodies[0]["locationAddress"], "Rua A, Recife");
    assert_no_braces(&rig);
}

#[test]
fn a_merge_field_where_none_is_filled_in_is_refused_at_set_up() {
    let rig = Rig::new();
    let csv = campaign(&rig, "nome,id", &["Ana,7"]);
    common::assert_refused(
        &rig,
        rig.command(&csv)
            .args(["--text", "Oi", "--labels", "vip,{{id}}"]),
        &["--labels", "{{id}}", "'labels' column"],
    );
    common::assert_refused(
        &rig,
        rig.command(&csv).args(["--template", "promo-{{id}}"]),
        &["--template", "{{id}}", "'templateId' column"],
    );
    assert!(!rig.dir.path().join("c.results.csv").exists());
}

#[test]
fn a_cell_of_a_field_without_merge_fields_makes_its_row_invalid() {
    let rig = Rig::new();
    let csv = campaign(&rig, "nome,labels", &["Ana,vip", r#"Bia,"vip,{{nome}}""#]);
    let output =
        rig.run(
            rig.command(&csv)
                .args(["--text", "Oi {{nome}}", "--max-invalid", "100%"]),
        );
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(rig.sent(), [phone(0)]);
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert_eq!(rows[1]["status"], "INVALID");
    assert!(rows[1]["error"].contains("labels"), "{:?}", rows[1]);
    assert_no_braces(&rig);
}

#[test]
fn a_field_inside_a_fallback_or_a_stray_brace_is_refused_naming_flag_and_text() {
    let rig = Rig::new();
    let csv = campaign(&rig, "nome,cupom", &["Ana,BF10", ",BF15"]);
    common::assert_refused(
        &rig,
        rig.command(&csv)
            .args(["--text", "Olá {{nome|{{cupom}}}}, aproveite!"]),
        &["--text", "{{nome|{{cupom}}}}", "fallback"],
    );
    common::assert_refused(
        &rig,
        rig.command(&csv).args(["--text", "Olá {{nome|amigo}}}"]),
        &["--text", "{{nome|amigo}}}", "stray"],
    );
    common::assert_refused(
        &rig,
        rig.command(&csv).args([
            "--text",
            "x",
            "--buttons",
            r#"[{"type":"reply","displayText":"Sim {{nome}}}"}]"#,
        ]),
        &["--buttons", "{{nome}}}"],
    );
    assert!(!rig.dir.path().join("c.results.csv").exists());
}

/// A cell still holding a placeholder (an export whose fields were never merged) is not
/// sent as `Olá {{nome}}`: that row is INVALID, naming the column; a whole list of them
/// stops at the preflight.
#[test]
fn a_cell_holding_an_unfilled_placeholder_is_invalid() {
    let rig = Rig::new();
    let csv = campaign(&rig, "nome,cupom", &["{{nome}},BF10", "Ana,BF15"]);
    let output =
        rig.run(
            rig.command(&csv)
                .args(["--text", "Olá {{nome}}", "--max-invalid", "100%"]),
        );
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(rig.sent(), [phone(1)]);
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert_eq!(
        (rows[0]["status"].as_str(), rows[0]["errorCode"].as_str()),
        ("INVALID", "UNMERGED_PLACEHOLDER")
    );
    assert!(
        rows[0]["error"].contains("cell nome holds {{nome}}"),
        "{:?}",
        rows[0]
    );
    assert_no_braces(&rig);

    // A template's variable too; the whole list so: nothing sent (exit 2).
    let rig = Rig::new();
    let csv = campaign(&rig, "nome", &["{{nome}}", "{{ nome }}"]);
    common::assert_refused(
        &rig,
        rig.command(&csv).args(["--template", "t"]),
        &["invalid", "UNMERGED_PLACEHOLDER"],
    );
}

#[test]
fn a_cell_of_dots_cannot_point_a_media_url_at_another_folder() {
    let rig = Rig::new();
    let csv = campaign(&rig, "id", &["7", "..", "."]);
    let output = rig.run(rig.command(&csv).args([
        "--media",
        "https://cdn.example.com/secret/{{id}}/a.png",
        "--media-type",
        "image",
        "--max-invalid",
        "100%",
    ]));
    assert_eq!(code(&output), 1, "{}", text(&output));
    let media: Vec<_> = bodies(&rig).iter().map(|b| b["media"].clone()).collect();
    assert_eq!(media, ["https://cdn.example.com/secret/7/a.png"]);
    let rows = results(&rig.dir.path().join("c.results.csv"));
    let invalid: Vec<_> = rows.iter().filter(|r| r["status"] == "INVALID").collect();
    assert_eq!(invalid.len(), 2, "{rows:?}");
    assert!(
        invalid.iter().all(|r| r["errorCode"] == "INVALID_MEDIA"),
        "{invalid:?}"
    );
}
