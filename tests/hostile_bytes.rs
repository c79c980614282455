//! Hostile bytes in the files a campaign reads: rows and settings files of any size, a
//! legacy encoding forced on UTF-8, characters nobody can see, control characters, and
//! Excel's `sep=` line. Memory and time stay bounded, nothing garbled is sent, and every
//! message quotes what it refuses so that it can be found and fixed.

mod common;

use common::*;
use serde_json::json;

/// One more byte than a row of the file may hold (1 MiB).
const OVER_ROW: usize = (1 << 20) + 1;

#[test]
fn a_legacy_encoding_forced_on_a_utf8_file_stops_before_sending() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", "phone,nome\n+5511988887777,José\n");
    let needles = ["c.csv is UTF-8", "'José'", "remove the encoding setting"];
    for label in ["windows-1252", "latin1"] {
        let mut command = rig.command(&csv);
        command.args(["--template", "t", "--encoding", label]);
        assert_refused(&rig, &mut command, &needles);
    }
    let campaign = rig.file("c.toml", "template = \"t\"\nencoding = \"windows-1252\"\n");
    let mut command = rig.command(&csv);
    command.arg("--campaign").arg(&campaign);
    assert_refused(&rig, &mut command, &needles);
}

#[test]
fn a_row_over_the_limit_refuses_the_file_naming_its_line() {
    let rig = Rig::new();
    let long = format!(
        "phone,nome\n{},Ana\n{},{}\n",
        phone(1),
        phone(2),
        "A".repeat(OVER_ROW)
    );
    let csv = rig.file("c.csv", &long);
    let mut command = rig.command(&csv);
    command.args(["--template", "t"]);
    assert_refused(&rig, &mut command, &["line 3 of", "1 MiB"]);
    assert!(
        text(&rig.run(&mut command)).len() < 2000,
        "the row is not echoed"
    );
    // A file of zero bytes with no line break, as a CSV or an opt-out list; a device is not
    // read at all.
    let zeros = rig.dir.path().join("zeros.csv");
    std::fs::write(&zeros, vec![0u8; 2 * OVER_ROW]).unwrap();
    let mut command = rig.command(&zeros);
    command.args(["--template", "t"]);
    assert_refused(&rig, &mut command, &["line 1 of", "1 MiB"]);
    let mut command = rig.command(std::path::Path::new("/dev/zero"));
    command.args(["--template", "t"]);
    assert_refused(&rig, &mut command, &["/dev/zero", "a device"]);
    let good = rig.file("ok.csv", &campaign_csv(2));
    let mut command = rig.command(&good);
    command.args(["--template", "t", "--suppress"]).arg(&zeros);
    assert_refused(&rig, &mut command, &["line 1 of", "zeros.csv"]);
    assert!(
        text(&rig.run(&mut command)).len() < 2000,
        "the line is not echoed"
    );
}

#[test]
fn settings_files_larger_than_any_are_refused_unread() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(2));
    let big = rig.dir.path().join("big.toml");
    std::fs::write(&big, vec![0u8; 2 * OVER_ROW]).unwrap();
    for flag in ["--campaign", "--senders"] {
        // A device is refused as one before it is opened; a file, by its size.
        let refusals = [
            (big.as_path(), "larger than 1 MiB"),
            (
                std::path::Path::new("/dev/zero"),
                "/dev/zero is not a file but a device",
            ),
        ];
        for (path, why) in refusals {
            let mut command = rig.command(&csv);
            command.args(["--template", "t", flag]).arg(path);
            assert_refused(&rig, &mut command, &[why]);
        }
    }
}

#[test]
fn a_cell_longer_than_a_message_makes_its_row_invalid_naming_its_field() {
    let rig = Rig::new();
    let long = "é".repeat(4097);
    let digits = "1".repeat(50_000);
    let csv = format!(
        "phone,nome,text\n{},{long},Oi\n{},Ana,{long}\n{digits},Bia,Oi\n{},Caio,Oi\n",
        phone(1),
        phone(2),
        phone(4)
    );
    let path = rig.file("c.csv", &csv);
    let output =
        rig.run(
            rig.command(&path)
                .args(["--text", "Oi {{nome}}", "--max-invalid", "100%"]),
        );
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(rig.sent(), [phone(4)]);
    let rows = results(&rig.dir.path().join("c.results.csv"));
    let why = |i: usize| (rows[i]["errorCode"].as_str(), rows[i]["error"].as_str());
    assert!(
        why(0).0 == "VALUE_TOO_LONG" && why(0).1.starts_with("field nome:"),
        "{:?}",
        why(0)
    );
    assert!(
        why(1).0 == "VALUE_TOO_LONG" && why(1).1.starts_with("field text:"),
        "{:?}",
        why(1)
    );
    assert!(why(0).1.contains("4097 characters"), "{:?}", why(0));
    assert_eq!(why(2).0, "INVALID_DESTINATION");
    assert!(
        rows[2]["error"].contains("(50000 characters)"),
        "{:?}",
        rows[2]
    );
    let results = std::fs::read_to_string(rig.dir.path().join("c.results.csv")).unwrap();
    assert!(
        !results.contains(&digits[..1000]),
        "the long cell is not copied"
    );
    assert!(!text(&output).contains(&digits[..1000]), "nor logged");
    assert!(text(&output).len() < 20_000, "{}", text(&output).len());
}

#[test]
fn control_characters_in_a_value_make_the_row_invalid() {
    let rig = Rig::new();
    let csv = format!(
        "phone,nome\n{},A\0na\n{},\u{1b}[31mBia\u{7}\n{},Caio\n",
        phone(1),
        phone(2),
        phone(3)
    );
    let path = rig.file("c.csv", &csv);
    let output = rig.run(
        rig.command(&path)
            .args(["--template", "t", "--max-invalid", "100%"]),
    );
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(rig.sent(), [phone(3)]);
    let rows = results(&rig.dir.path().join("c.results.csv"));
    for (row, escaped) in [(&rows[0], "\\u{0}"), (&rows[1], "\\u{1b}")] {
        assert_eq!(row["errorCode"], "CONTROL_CHARACTER");
        assert!(row["error"].starts_with("field nome:"), "{row:?}");
        assert!(row["error"].contains(escaped), "{row:?}");
    }
    assert!(
        !text(&output).contains(['\0', '\u{1b}', '\u{7}']),
        "{}",
        text(&output)
    );
}

#[test]
fn invisible_characters_are_read_as_meant_or_shown_escaped() {
    let rig = Rig::new();
    // A non-breaking space in a number, a zero-width space after `nome` and before `phone`.
    let csv =
        "\u{200b}phone,nome\u{200b}\n+55\u{a0}11\u{a0}98888-0010,Ana\n+5511988880011\u{7},Bia\n";
    let path = rig.file("c.csv", csv);
    let output = rig.run(
        rig.command(&path)
            .args(["--template", "t", "--max-invalid", "100%"]),
    );
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(rig.sent(), ["+5511988880010"]);
    assert_eq!(rig.accepted()[0].body["variables"], json!({"nome": "Ana"}));
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert!(
        rows[1]["error"].contains("+5511988880011\\u{7}"),
        "{:?}",
        rows[1]
    );
    // The same header with a merge field.
    let rig = Rig::new();
    let path = rig.file("c.csv", csv);
    let output =
        rig.run(
            rig.command(&path)
                .args(["--text", "Oi {{nome}}", "--max-invalid", "100%"]),
        );
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(rig.accepted()[0].body["text"], "Oi Ana");
    // A zero-width character inside a name is shown where the name is quoted.
    let rig = Rig::new();
    let path = rig.file("c.csv", "ph\u{200b}one,nome\n+5511988880010,Ana\n");
    let mut command = rig.command(&path);
    command.args(["--template", "t"]);
    assert_refused(&rig, &mut command, &["'ph\\u{200b}one'"]);
}

#[test]
fn excels_sep_line_names_the_delimiter_and_is_skipped() {
    let rig = Rig::new();
    let path = rig.file(
        "c.csv",
        &format!("sep=;\n\u{feff}phone;nome\n{};Ana, Bia\n", phone(1)),
    );
    let output = rig.run(rig.command(&path).args(["--template", "t"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(
        rig.accepted()[0].body["variables"],
        json!({"nome": "Ana, Bia"})
    );
    assert_eq!(
        results(&rig.dir.path().join("c.results.csv"))[0]["row"],
        "1"
    );
    // Lines are still the file's own.
    let rig = Rig::new();
    let path = rig.file(
        "c.csv",
        &format!("SEP=;\r\nphone;nome\r\n{};\"Ana\r\n", phone(1)),
    );
    let mut command = rig.command(&path);
    command.args(["--template", "t"]);
    assert_refused(&rig, &mut command, &["row 1 (line 3 of the file)"]);
}

#[test]
fn a_header_of_many_columns_is_checked_at_once_and_listed_short() {
    let rig = Rig::new();
    let columns: Vec<String> = (0..60_000).map(|i| format!("c{i}")).collect();
    let csv = format!(
        "phone,{},C59999\n{},{}x\n",
        columns.join(","),
        phone(1),
        ",".repeat(60_001)
    );
    let path = rig.file("c.csv", &csv);
    let mut command = rig.command(&path);
    command.args(["--template", "t"]);
    assert_refused(
        &rig,
        &mut command,
        &["'c59999' and 'C59999'", "and 59982 more"],
    );
    assert!(text(&rig.run(&mut command)).len() < 2000);
}

#[test]
fn utf8_past_the_sample_is_never_sent_decoded_as_a_legacy_encoding() {
    let rig = Rig::new();
    // 70 rows of ASCII (more than the 256 KiB looked at first), then a UTF-8 accent.
    let mut csv = String::from("phone,nome,obs\n");
    for i in 0..70 {
        csv.push_str(&format!("{},Cliente,{}\n", phone(i), "x".repeat(4000)));
    }
    csv.push_str(&format!("{},José,y\n", phone(70)));
    let path = rig.file("c.csv", &csv);
    let output =
        rig.run(
            rig.command(&path)
                .args(["--template", "t", "--encoding", "windows-1252"]),
        );
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(rig.accepted().len(), 70);
    assert!(
        rig.accepted()
            .iter()
            .all(|e| e.body["variables"]["nome"] == "Cliente"),
        "no garbled name is sent"
    );
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert_eq!(rows[70]["errorCode"], "INVALID_ENCODING");
    assert!(rows[70]["error"].contains("'JosÃ©'"), "{:?}", rows[70]);
    assert!(
        rows[70]["error"].contains("UTF-8 text read as windows-1252"),
        "{:?}",
        rows[70]
    );
}

/// A line of the output (stdout or stderr) that a file's name started: the name's line
/// break must be written escaped, or the rest of the name reads as a log line of its own.
fn forged_lines(output: &std::process::Output) -> Vec<String> {
    text(output)
        .lines()
        .filter(|line| line.starts_with("ERROR forged"))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_file_name_with_a_line_break_is_quoted_on_one_line() {
    let rig = Rig::new();
    // A campaign list of that name, refused (empty): named, escaped.
    let csv = rig.file("a\nERROR forged\u{1b}[31m.csv", "");
    let mut command = rig.command(&csv);
    command.args(["--template", "t"]);
    assert_refused(
        &rig,
        &mut command,
        &["a\\nERROR forged\\u{1b}[31m.csv is empty"],
    );
    let output = rig.run(&mut command);
    assert_eq!(forged_lines(&output), Vec::<String>::new());
    assert!(!text(&output).contains('\u{1b}'), "{}", text(&output));

    // A results file of that name that is not one: refused, named, escaped.
    let good = rig.file("ok.csv", &campaign_csv(2));
    let other = rig.file("o\nERROR forged.csv", "a,b\n1,2\n");
    let mut command = rig.command(&good);
    command.args(["--template", "t", "--results"]).arg(&other);
    assert_refused(
        &rig,
        &mut command,
        &["o\\nERROR forged.csv is not a campaign-sender"],
    );
    assert_eq!(forged_lines(&rig.run(&mut command)), Vec::<String>::new());

    // A run whose results go to such a name: its summary and `report` say where, escaped.
    let results = rig.dir.path().join("r\nERROR forged.results.csv");
    let output = rig.run(
        rig.command(&good)
            .args(["--template", "t", "--results"])
            .arg(&results),
    );
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.sent().len(), 2);
    assert!(
        text(&output).contains("r\\nERROR forged.results.csv"),
        "{}",
        text(&output)
    );
    assert_eq!(forged_lines(&output), Vec::<String>::new());
    let output = rig.run(binary().arg("report").arg(&results));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert!(
        text(&output).contains("Campaign report: ") && text(&output).contains("r\\nERROR forged"),
        "{}",
        text(&output)
    );
    assert_eq!(forged_lines(&output), Vec::<String>::new());
}

#[test]
fn report_shows_escape_sequences_in_results_cells_escaped() {
    // A results file is anyone's file: errorCode and sender cells holding a sequence that
    // clears the screen or writes the terminal's clipboard (OSC 52), or a bidirectional
    // override, were printed raw to the terminal showing the report.
    let rig = Rig::new();
    let header = "row,destination,status,messageId,correlationId,httpStatus,errorCode,error,attempts,sentAt,rawDestination,sender";
    let file = format!(
        "{header}\n1,{p1},FAILED,,,400,\u{1b}]52;c;cHduZWQ=\u{7}BAD,x,1,2026-12-01T17:12:52Z,{p1},loja\u{1b}[2J\n\
         2,{p2},QUEUED,m2,,202,,,1,2026-12-01T17:12:53Z,{p2},a\u{202e}b\n",
        p1 = phone(1),
        p2 = phone(2)
    );
    let path = rig.file("hostile.results.csv", &file);
    let output = rig.run(binary().arg("report").arg(&path));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let table = String::from_utf8_lossy(&output.stdout);
    for raw in ['\u{1b}', '\u{7}', '\u{202e}'] {
        assert!(!table.contains(raw), "{raw:?} raw in:\n{table}");
    }
    for shown in [
        "\\u{1b}]52;c;cHduZWQ=\\u{7}BAD",
        "loja\\u{1b}[2J",
        "a\\u{202e}b",
    ] {
        assert!(table.contains(shown), "missing {shown} in:\n{table}");
    }
}
