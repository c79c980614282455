//! Input that is broken or not what it claims to be: a stray quote that swallows the rest of
//! the file, workbooks and UTF-16 saved under a `.csv` name, phone numbers with an
//! international `00` prefix, and settings files whose typo must not print the key they hold.
//! Each run is refused before anything is sent, with a message that says how to fix it.

mod common;

use common::*;

/// The file: 1,000 rows, row 3 opens a quote that nothing closes.
fn stray_quote_csv() -> String {
    let mut csv = String::from("phone,nome\n");
    for i in 1..=1000 {
        match i {
            3 => csv.push_str("+5511900000002,\"Ana (VIP\n"),
            _ => csv.push_str(&format!("{},Cliente {i}\n", phone(i))),
        }
    }
    csv
}

#[test]
fn a_quote_never_closed_refuses_the_file_naming_its_row_and_line() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &stray_quote_csv());
    for dry_run in [false, true] {
        let mut command = rig.command(&path);
        command.args(["--template", "t"]);
        if dry_run {
            command.arg("--dry-run");
        }
        assert_refused(
            &rig,
            &mut command,
            &[
                "row 3 (line 4 of the file)",
                "'nome'",
                "never closed",
                "\"\"",
            ],
        );
    }
    let results = rig.dir.path().join("c.results.csv");
    assert!(
        !results.exists() || result_lines(&results) == 0,
        "no row recorded"
    );
}

#[test]
fn a_quote_closed_rows_later_refuses_the_file() {
    let rig = Rig::new();
    // Row 2's quote is closed by row 4's own (well-formed) quote: rows 3 and 4 would vanish
    // into row 2's `nome`, which still has the header's two cells.
    let csv = format!(
        "phone,nome\n{},Ana\n{},\"Bia (VIP\n{},Caio\n{},\"Davi\"\n{},Eva\n",
        phone(1),
        phone(2),
        phone(3),
        phone(4),
        phone(5)
    );
    let path = rig.file("c.csv", &csv);
    assert_refused(
        &rig,
        rig.command(&path).args(["--template", "t"]),
        &["row 2 (line 3 of the file)", "'nome'", "2 line(s)"],
    );
}

#[test]
fn a_cell_with_real_line_breaks_is_still_one_row() {
    let rig = Rig::new();
    let csv = format!(
        "phone,text\n{},\"Oi Ana,\nsua oferta: 10% off\nligue +55 11 3333-4444\"\n{},\"Oi \"\"Bia\"\"\"\n",
        phone(1),
        phone(2)
    );
    let path = rig.file("c.csv", &csv);
    let output = rig.run(&mut rig.command(&path));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.sent(), [phone(1), phone(2)]);
}

#[test]
fn a_typo_in_a_settings_file_names_its_line_but_never_prints_the_key() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(2));
    let secret = "ps_live_TYPO_9c2e41";
    for (senders, line) in [
        // The closing quote is missing.
        (format!("[centro]\nkey = \"{secret}\n"), "line 2, column"),
        (format!("[centro]\nkey = {secret}\n"), "line 2, column"),
        (format!("[centro]\n{secret} = 1\n"), "line 2, column"),
        (
            format!("[centro]\nkey = [\"{secret}\"]\n"),
            "line 2, column",
        ),
    ] {
        let file = rig.file("senders.toml", &senders);
        let mut command = rig.command(&csv);
        command.args(["--template", "t", "--senders"]).arg(&file);
        let output = rig.run(&mut command);
        assert_eq!(code(&output), 2, "{}", text(&output));
        assert!(!text(&output).contains(secret), "{}", text(&output));
        assert!(text(&output).contains(line), "{}", text(&output));
    }
    // A campaign file: a key pasted where a setting goes.
    let campaign = rig.file("c.toml", &format!("template = \"t\"\nrate = \"{secret}\n"));
    let mut command = rig.command(&csv);
    command.arg("--campaign").arg(&campaign);
    assert_refused(&rig, &mut command, &["line 2, column", "c.toml"]);
    let output = rig.run(&mut command);
    assert!(!text(&output).contains(secret), "{}", text(&output));
    let campaign = rig.file(
        "c.toml",
        &format!("template = \"t\"\nmax-attempts = \"{secret}\"\n"),
    );
    let output = rig.run(rig.command(&csv).arg("--campaign").arg(&campaign));
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(!text(&output).contains(secret), "{}", text(&output));
}

/// Values from a campaign or senders file (or a flag) are quoted in errors as cells are:
/// control characters written out, so no log line can be forged, and cut short.
#[test]
fn settings_values_in_errors_are_escaped_and_cut() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(1));
    let forged = "2026-01-01T00:00:00Z  INFO campaign done";
    let long = "R".repeat(100_000);
    for (key, value, named) in [
        ("rate", format!("30/min\\n{forged}"), "--rate"),
        ("spacing", format!("1s..{long}"), "--spacing"),
        ("timeout", format!("{long}s"), "--timeout"),
        ("window", format!("09:00-20:00\\n{forged}"), "--window"),
        ("frequency-cap", long.clone(), "--frequency-cap"),
        ("max-invalid", long.clone(), "--max-invalid"),
        ("deliver-until", long.clone(), "deliverUntil"),
    ] {
        let zone = if key == "window" {
            "tz = \"UTC\"\n"
        } else {
            ""
        };
        let campaign = rig.file(
            "c.toml",
            &format!("template = \"t\"\n{key} = \"{value}\"\n{zone}"),
        );
        // Not rig.command: its pace flags would override the file's.
        let output = rig.run(
            binary()
                .arg(&csv)
                .arg("--sandbox")
                .arg("--campaign")
                .arg(&campaign),
        );
        assert_eq!(code(&output), 2, "{key}: {}", text(&output));
        assert!(rig.log().is_empty(), "something was sent");
        let shown = text(&output);
        assert!(shown.contains(named), "{key}: {shown}");
        assert!(shown.len() < 2_000, "{key}: {} bytes", shown.len());
        assert!(
            !shown.lines().any(|l| l.starts_with(forged)),
            "{key}: {shown}"
        );
    }
    let senders = rig.file("senders.toml", &format!("[\"{long}\"]\nkey = \"k\"\n"));
    let mut command = rig.command(&csv);
    command.args(["--template", "t", "--senders"]).arg(&senders);
    let output = rig.run(&mut command);
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(
        text(&output).contains("not a usable label"),
        "{}",
        text(&output)
    );
    assert!(text(&output).len() < 2_000, "{} bytes", text(&output).len());
}

#[test]
fn an_international_00_prefix_is_read_as_a_plus() {
    let rig = Rig::new();
    let csv = rig.file(
        "c.csv",
        "phone,nome\n0055 11 97777 5555,Ana\n0055 11 9777 555,Bia\n",
    );
    let output = rig.run(rig.command(&csv).args([
        "--template",
        "t",
        "--default-country",
        "BR",
        "--max-invalid",
        "50%",
    ]));
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(rig.sent(), ["+5511977775555"]);
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert!(
        rows[1]["error"].contains("not a valid BR number"),
        "the country written, not +1: {:?}",
        rows[1]
    );
}

/// Writes raw bytes into the rig's directory.
fn raw_file(rig: &Rig, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = rig.dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// No NUL, no other control character but line breaks, no `\u{…}` or `\x..` escapes.
fn assert_no_raw_bytes(output: &std::process::Output) {
    let text = text(output);
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "raw bytes in:\n{text:?}"
    );
    for escape in ["\\u{", "\\x", "\\0"] {
        assert!(!text.contains(escape), "escaped bytes in:\n{text}");
    }
}

#[test]
fn a_workbook_saved_as_csv_is_refused_saying_what_it_is() {
    let rig = Rig::new();
    for (magic, format) in [
        (
            &b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00"[..],
            ".xlsx",
        ),
        (
            &b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\x00\x00\x00\x00"[..],
            ".xls",
        ),
    ] {
        let mut bytes = magic.to_vec();
        bytes.extend((0..2000u32).map(|i| (i * 7919 % 251) as u8));
        let path = raw_file(&rig, "c.csv", &bytes);
        let mut command = rig.command(&path);
        command.args(["--template", "t"]);
        let output = rig.run(&mut command);
        assert_no_raw_bytes(&output);
        assert_refused(
            &rig,
            &mut command,
            &["is an Excel workbook", format, "save it as CSV UTF-8"],
        );
    }
}

#[test]
fn utf16_without_a_byte_order_mark_is_decoded() {
    let rig = Rig::new();
    let csv = campaign_csv(2).replace("Cliente 0", "José");
    for (name, bytes) in [
        (
            "le.csv",
            csv.encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect::<Vec<u8>>(),
        ),
        (
            "be.csv",
            csv.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        ),
    ] {
        let path = raw_file(&rig, name, &bytes);
        // The same campaign twice on purpose: a second send is intended.
        let output = rig.run(
            rig.command(&path)
                .args(["--template", "t", "--allow-resend"]),
        );
        assert_eq!(code(&output), 0, "{}", text(&output));
        assert_no_raw_bytes(&output);
        assert!(
            text(&output).contains("no byte order mark"),
            "{}",
            text(&output)
        );
    }
    assert_eq!(rig.sent(), [phone(0), phone(1), phone(0), phone(1)]);
    let nomes: Vec<String> = rig
        .accepted()
        .iter()
        .filter_map(|e| e.body["variables"]["nome"].as_str().map(String::from))
        .collect();
    assert_eq!(nomes[0], "José");
}

#[test]
fn a_double_byte_order_mark_never_ends_up_in_a_column_name() {
    let rig = Rig::new();
    let mut bytes = "\u{feff}\u{feff}phone,nome\n".as_bytes().to_vec();
    bytes.extend(format!("{},Ana\n", phone(1)).as_bytes());
    let path = raw_file(&rig, "c.csv", &bytes);
    let output = rig.run(rig.command(&path).args(["--template", "t"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.sent(), [phone(1)]);
    // A binary file that is neither: refused without echoing its bytes.
    let mut bytes = b"\x1f\x8b\x08\x00phone\x00\x01,nome\n".to_vec();
    bytes.extend_from_slice(&[0xff; 64]);
    let path = raw_file(&rig, "gz.csv", &bytes);
    let output = rig.run(rig.command(&path).args(["--template", "t"]));
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert_no_raw_bytes(&output);
}
