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

/// A results path in a folder that does not exist says so, and how to fix it (not "free
/// disk space").
#[test]
fn a_results_path_in_a_missing_folder_is_refused_naming_the_folder() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(1));
    let results = rig.dir.path().join("gone").join("c.results.csv");
    let mut command = rig.command(&csv);
    command.args(["--template", "t", "--results"]).arg(&results);
    assert_refused(
        &rig,
        &mut command,
        &["folder on the results file's path does not exist"],
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

/// A named pipe nobody writes to, in the rig's folder: opening it for reading would wait
/// forever.
fn pipe(rig: &Rig, name: &str) -> std::path::PathBuf {
    let fifo = rig.dir.path().join(name);
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.unwrap().success());
    fifo
}

/// `command`, bounded in time (a hang fails the test instead of blocking it), was refused
/// at once: exit 2, and a message naming the pipe `name` as one and saying what to give.
fn refused_unopened(command: &mut std::process::Command, name: &str, fix: &str) {
    let output = ended(command);
    assert_eq!(code(&output), 2, "{}", text(&output));
    let named = format!("{name} is not a file but a pipe");
    for needle in [named.as_str(), fix] {
        assert!(text(&output).contains(needle), "{}", text(&output));
    }
}

/// A send with `flag` naming a pipe `name` is refused at once, before any send, as a list
/// given as a pipe is: each such file would otherwise hang the run for good.
fn send_refused_with_a_pipe_as(flag: &str, name: &str, fix: &str) {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(1));
    let fifo = pipe(&rig, name);
    let mut command = rig.command(&csv);
    command.args(["--template", "t", flag]).arg(&fifo);
    refused_unopened(&mut command, name, fix);
    assert!(rig.log().is_empty(), "something was sent");
}

#[test]
fn a_pipe_as_the_senders_file_is_refused_without_waiting() {
    send_refused_with_a_pipe_as("--senders", "senders.toml", "save the settings to a file");
}

#[test]
fn a_pipe_as_the_campaign_file_is_refused_without_waiting() {
    send_refused_with_a_pipe_as("--campaign", "campaign.toml", "save the settings to a file");
}

#[test]
fn a_pipe_as_an_opt_out_list_is_refused_without_waiting() {
    send_refused_with_a_pipe_as(
        "--suppress",
        "optout.csv",
        "save the opt-out list to a file",
    );
}

/// A dry run reads the results file without locking it: a pipe there hung it.
#[test]
fn a_pipe_as_the_results_file_is_refused_without_waiting() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(1));
    let fifo = pipe(&rig, "r.csv");
    let mut command = rig.command(&csv);
    command
        .args(["--template", "t", "--dry-run", "--results"])
        .arg(&fifo);
    refused_unopened(&mut command, "r.csv", "give that file's path");
}

/// A link to a settings file is that file: it is read as before.
#[test]
fn a_link_to_a_campaign_file_is_read() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(1));
    let file = rig.file("real.toml", "template = \"t\"\n");
    let link = rig.dir.path().join("link.toml");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let output = ended(
        rig.command(&csv)
            .arg("--dry-run")
            .arg("--campaign")
            .arg(&link),
    );
    assert_eq!(code(&output), 0, "{}", text(&output));
}

#[test]
fn a_pipe_as_the_report_input_is_refused_without_waiting() {
    let rig = Rig::new();
    let fifo = pipe(&rig, "c.results.csv");
    let mut command = binary();
    command.arg("report").arg(&fifo);
    refused_unopened(&mut command, "c.results.csv", "give that file's path");
}

/// `report --html` reads the start of an existing file to tell an earlier page from the
/// user's file: a pipe there is refused before it is opened, and left as it is.
#[test]
fn a_pipe_as_the_report_page_is_refused_without_waiting() {
    let rig = Rig::new();
    let (_, results) = rig.finished(1);
    let fifo = pipe(&rig, "page.html");
    let mut command = binary();
    command.arg("report").arg(&results).arg("--html").arg(&fifo);
    refused_unopened(&mut command, "page.html", "give the page a file name");
    let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&kind));
}

/// `status --senders` with a pipe hung past SIGTERM (the pass had taken the lock and waited
/// for the read to end before stopping).
#[test]
fn a_pipe_as_the_senders_file_of_status_is_refused_without_waiting() {
    let rig = Rig::new();
    let (_, results) = rig.finished(1);
    let fifo = pipe(&rig, "senders.toml");
    let mut command = rig.operation("status", &results);
    command.arg("--senders").arg(&fifo);
    refused_unopened(&mut command, "senders.toml", "save the settings to a file");
    assert!(rig.lookups().is_empty(), "a lookup was made");
}

#[test]
fn a_pipe_as_the_sandbox_log_is_refused_without_waiting() {
    let rig = Rig::new();
    let fifo = pipe(&rig, "sandbox.jsonl");
    let mut command = binary();
    command.args(["sandbox", "--port", "0", "--log"]).arg(&fifo);
    refused_unopened(&mut command, "sandbox.jsonl", "give the log a file name");
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
