//! A content flag on the command line (`--text`, `--template`, `--media`) replaces the kind
//! of message the campaign file chose, in both directions, and never leaves a mixed
//! message: flags win over the campaign file.

mod common;

use common::{Rig, code, phone, text};

/// Sends a two-row campaign whose campaign file is `file`, with `flags`; the bodies the
/// sandbox received.
fn sent(file: &str, flags: &[&str]) -> Vec<serde_json::Value> {
    let rig = Rig::new();
    let csv = rig.file(
        "c.csv",
        &format!("phone,nome\n{},Ana\n{},Bia\n", phone(0), phone(1)),
    );
    std::fs::write(csv.with_extension("toml"), file).unwrap();
    let output = rig.run(rig.command(&csv).args(flags));
    assert_eq!(code(&output), 0, "{file} with {flags:?}: {}", text(&output));
    let bodies: Vec<_> = rig.log().into_iter().map(|e| e.body).collect();
    assert_eq!(bodies.len(), 2, "{file} with {flags:?}: each row once");
    bodies
}

/// Whether `body` carries `key` at all.
fn has(body: &serde_json::Value, key: &str) -> bool {
    body.get(key).is_some_and(|v| !v.is_null())
}

#[test]
fn text_on_the_command_line_replaces_the_files_template() {
    for body in sent("template = \"boas_vindas\"\n", &["--text", "Oi {{nome}}"]) {
        assert!(body["text"].as_str().unwrap().starts_with("Oi "), "{body}");
        assert!(!has(&body, "templateId"), "a mixed message: {body}");
    }
}

#[test]
fn a_template_on_the_command_line_replaces_the_files_text() {
    for body in sent("text = \"Oi\"\n", &["--template", "boas_vindas"]) {
        assert_eq!(body["templateId"], "boas_vindas", "{body}");
        assert!(!has(&body, "text"), "a mixed message: {body}");
    }
}

#[test]
fn media_on_the_command_line_replaces_the_files_text_and_back() {
    const IMAGE: &str = "https://example.com/a.png";
    let media = ["--media", IMAGE, "--media-type", "image"];
    for body in sent("text = \"Oi\"\nlabels = \"vip\"\n", &media) {
        assert!(body.to_string().contains(IMAGE), "{body}");
        assert!(!has(&body, "text"), "a mixed message: {body}");
        assert_eq!(
            body["labels"],
            serde_json::json!(["vip"]),
            "not content: kept"
        );
    }
    let file = format!("media = \"{IMAGE}\"\nmedia-type = \"image\"\ncaption = \"c\"\n");
    for body in sent(&file, &["--text", "Oi"]) {
        assert_eq!(body["text"], "Oi", "{body}");
        assert!(!body.to_string().contains(IMAGE), "a mixed message: {body}");
    }
}
