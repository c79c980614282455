//! Bad set-up stops before any send with exit 2 and a message that says how to fix it; bad
//! rows are INVALID with their row and field named, and never sent.

mod common;

use common::*;

#[test]
fn no_key_is_refused_with_the_variable_to_set() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(1));
    let mut command = rig.command(&path);
    command
        .env_remove("PILOT_STATUS_API_KEY")
        .args(["--template", "t"]);
    assert_refused(&rig, &mut command, &["PILOT_STATUS_API_KEY", "--sandbox"]);
}

#[test]
fn no_destination_column_is_refused_listing_the_columns_found() {
    let rig = Rig::new();
    let path = rig.file("c.csv", "celular,nome\n+5511988887777,Ana\n");
    assert_refused(
        &rig,
        rig.command(&path).args(["--template", "t"]),
        &["celular", "--phone-column"],
    );
}

#[test]
fn a_missing_file_is_refused() {
    let rig = Rig::new();
    let path = rig.dir.path().join("nope.csv");
    assert_refused(
        &rig,
        rig.command(&path).args(["--template", "t"]),
        &["nope.csv"],
    );
}

/// A list given as a pipe (a FIFO with no writer) is refused at once: opening it would wait
/// forever, past any signal.
#[test]
fn a_pipe_instead_of_a_file_is_refused_without_waiting() {
    let rig = Rig::new();
    let fifo = rig.dir.path().join("list.csv");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.unwrap().success());
    let output = ended(rig.command(&fifo).args(["--template", "t"]));
    assert_eq!(code(&output), 2, "{}", text(&output));
    for needle in ["list.csv", "a pipe", "save the list to a file"] {
        assert!(text(&output).contains(needle), "{}", text(&output));
    }
}

#[test]
fn no_message_mode_is_refused() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(1));
    assert_refused(&rig, &mut rig.command(&path), &["--template"]);
}

#[test]
fn two_modes_are_refused() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(1));
    assert_refused(
        &rig,
        rig.command(&path).args(["--template", "t", "--text", "x"]),
        &["one mode"],
    );
}

#[test]
fn bad_pace_values_are_refused_naming_the_flag() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(1));
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_campaign-sender"));
    command
        .arg(&path)
        .args(["--sandbox", "--template", "t", "--rate", "fast"]);
    assert_refused(&rig, &mut command, &["--rate", "30/min"]);
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_campaign-sender"));
    command
        .arg(&path)
        .args(["--sandbox", "--template", "t", "--spacing", "25s..8s"]);
    assert_refused(&rig, &mut command, &["--spacing"]);
}

#[test]
fn a_bad_campaign_setting_is_refused_before_any_row() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(1));
    let args = ["--media", "https://x.example/a.gif", "--media-type", "gif"];
    assert_refused(&rig, rig.command(&path).args(args), &["mediaType", "gif"]);
}

#[test]
fn bad_rows_are_invalid_with_row_and_field_and_never_sent() {
    let rig = Rig::new();
    let csv = "phone,groupId,deliverAt,nome\n\
               +5511988887777,,,Ana\n\
               11988887777,,,Bia\n\
               ,,,Caio\n\
               +5511977776666,1-2@g.us,,Duda\n\
               +5511966665555,,amanhã,Eva\n\
               +5511955554444,,,Fabi,extra\n";
    let path = rig.file("c.csv", csv);
    let output = rig.run(
        rig.command(&path)
            .args(["--template", "t", "--max-invalid", "100%"]),
    );
    assert_eq!(code(&output), 1, "{}", text(&output));
    let sent = rig.sent();
    assert_eq!(sent, vec!["+5511988887777".to_string()]);
    let rows = results(&rig.dir.path().join("c.results.csv"));
    let expect = [
        (2, "INVALID_DESTINATION", "phone"),
        (3, "MISSING_DESTINATION", ""),
        (4, "MULTIPLE_DESTINATIONS", ""),
        (5, "INVALID_TIMESTAMP", "deliverAt"),
        (6, "MALFORMED_ROW", ""),
    ];
    for (row, code_text, field) in expect {
        let line = &rows[row - 1];
        assert_eq!(
            (line["status"].as_str(), line["errorCode"].as_str()),
            ("INVALID", code_text),
            "row {row}: {line:?}"
        );
        assert!(
            line["error"].contains(field),
            "row {row} error names the field: {line:?}"
        );
        assert!(
            text(&output).contains(&format!("row {row}")),
            "row {row} is named in the log"
        );
    }
}

#[test]
fn the_campaign_file_beside_the_csv_is_read_and_flags_override_it() {
    let rig = Rig::new();
    let path = rig.file("promo.csv", &campaign_csv(1));
    rig.file("promo.toml", "template = \"from_file\"\nlabels = \"a,b\"\n");
    let output = rig.run(&mut rig.command(&path));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.accepted()[0].body["templateId"], "from_file");
    assert_eq!(
        rig.accepted()[0].body["labels"],
        serde_json::json!(["a", "b"])
    );

    let path = rig.file("promo2.csv", &campaign_csv(1));
    let file = rig.file(
        "settings.toml",
        "template = \"from_file\"\nlabels = \"a,b\"\n",
    );
    let output = rig.run(rig.command(&path).arg("--campaign").arg(&file).args([
        "--labels",
        "c",
        "--allow-resend",
    ]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.accepted()[1].body["labels"], serde_json::json!(["c"]));
}

#[test]
fn a_misspelled_campaign_file_key_is_refused() {
    let rig = Rig::new();
    let path = rig.file("promo.csv", &campaign_csv(1));
    rig.file("promo.toml", "templat = \"x\"\n");
    assert_refused(&rig, &mut rig.command(&path), &["templat", "promo.toml"]);
}

#[test]
fn a_base_url_that_holds_the_api_path_is_refused_before_anything_is_sent() {
    let rig = Rig::new();
    let path = rig.file("promo.csv", &campaign_csv(2));
    let base = rig.sandbox.base_url();
    let mut command = rig.command_to(&path, &format!("{base}/v1/messages/send"));
    command.args(["--template", "t"]);
    let shown = format!("'{base}'");
    assert_refused(&rig, &mut command, &["/v1/messages/send", &shown]);
}

/// A control character in the campaign's own message settings would reach every row (in a
/// cell it makes that row INVALID): refused at set-up, naming the setting and the character.
#[test]
fn a_control_character_in_a_message_setting_stops_before_any_send() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", "phone,nome\n+5511988887777,Ana\n");
    let campaign = rig.file("c.toml", "text = \"Oi {{nome}}\\u000bConfira\\u0007\"\n");
    assert_refused(
        &rig,
        rig.command(&csv).arg("--campaign").arg(&campaign),
        &["text in the campaign file", "\\u{b}", "delete it"],
    );
    let buttons = r#"[{"type":"reply","text":"Sim"}]"#;
    for (args, needles) in [
        (&["--text", "Oi\u{7}"][..], &["--text", "\\u{7}"]),
        (
            &[
                "--media",
                "https://cdn.example.com/a.png",
                "--media-type",
                "image",
                "--caption",
                "\u{1b}[31mOi",
            ],
            &["--caption", "\\u{1b}"],
        ),
        (
            &["--text", "Oi", "--buttons", buttons, "--footer", "fim\u{8}"],
            &["--footer", "\\u{8}"],
        ),
        (&["--template", "t\u{1}"], &["--template", "\\u{1}"]),
    ] {
        assert_refused(&rig, rig.command(&csv).args(args), needles);
    }
    let output = rig.run(rig.command(&csv).args(["--text", "linha 1\nlinha\t2"]));
    assert_eq!(
        code(&output),
        0,
        "line breaks and tabs are text: {}",
        text(&output)
    );
}
