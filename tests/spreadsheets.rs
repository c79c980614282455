//! Real spreadsheet exports: local phone numbers, `;` and tabs, BOMs, Windows-1252, broken
//! rows and headers, duplicates, opt-outs, the preflight gate, and results safe for Excel.
//! Each test checks what the sandbox really received, not just our own results file.

mod common;

use common::*;
use serde_json::json;

#[test]
fn local_and_international_spellings_become_the_same_e164() {
    let rig = Rig::new();
    let csv = "phone,nome\n(11) 98888-7777,A\n11977776666,B\n+55 11 96666-5555,C\n5511955554444,D\nBR.13491208655302741918,E\n";
    let path = rig.file("c.csv", csv);
    let output = rig.run(
        rig.command(&path)
            .args(["--template", "t", "--default-country", "BR"]),
    );
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(
        rig.sent(),
        [
            "+5511988887777",
            "+5511977776666",
            "+5511966665555",
            "+5511955554444",
            "BR.13491208655302741918"
        ]
    );
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert_eq!(
        rows[0]["destination"], "+5511988887777",
        "results show the normalized number"
    );
    assert_eq!(
        rows[0]["rawDestination"], "(11) 98888-7777",
        "and keep the raw one beside it"
    );
    assert_eq!(rows[3]["rawDestination"], "5511955554444");
}

#[test]
fn a_local_number_without_a_default_country_is_invalid_with_a_hint() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &format!("{}(11) 98888-7777,X\n", campaign_csv(9)));
    let output = rig.run(rig.command(&path).args(["--template", "t"]));
    assert_eq!(code(&output), 1, "{}", text(&output));
    let row = &results(&rig.dir.path().join("c.results.csv"))[9];
    assert_eq!(
        (row["status"].as_str(), row["errorCode"].as_str()),
        ("INVALID", "INVALID_DESTINATION")
    );
    assert!(row["error"].contains("--default-country"), "{row:?}");
}

#[test]
fn a_number_impossible_for_its_region_is_invalid_with_the_reason() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &format!("{}(11) 1234,X\n", campaign_csv(9)));
    let output = rig.run(
        rig.command(&path)
            .args(["--template", "t", "--default-country", "BR"]),
    );
    assert_eq!(code(&output), 1, "{}", text(&output));
    let row = &results(&rig.dir.path().join("c.results.csv"))[9];
    assert_eq!(row["errorCode"], "INVALID_DESTINATION");
    assert!(row["error"].contains("BR"), "{row:?}");
    assert_eq!(rig.accepted().len(), 9);
}

/// The Brazilian Excel export: `;`, Windows-1252, CRLF.
fn windows_1252(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            'é' => 0xE9,
            'ã' => 0xE3,
            'ç' => 0xE7,
            'ô' => 0xF4,
            c if c.is_ascii() => c as u8,
            c => panic!("add {c} to the test's table"),
        })
        .collect()
}

#[test]
fn a_windows_1252_semicolon_export_sends_exact_accents_and_says_how_it_was_read() {
    let rig = Rig::new();
    let path = rig.dir.path().join("c.csv");
    let export = "phone;nome;cidade\r\n+5511988887777;José;São Paulo\r\n+5511977776666;Conceição;Goiônia\r\n";
    std::fs::write(&path, windows_1252(export)).unwrap();
    let output = rig.run(rig.command(&path).args(["--template", "t"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let bodies: Vec<_> = rig
        .accepted()
        .into_iter()
        .map(|e| e.body["variables"].clone())
        .collect();
    assert_eq!(
        bodies,
        [
            json!({"nome": "José", "cidade": "São Paulo"}),
            json!({"nome": "Conceição", "cidade": "Goiônia"})
        ]
    );
    assert!(
        text(&output).contains("windows-1252"),
        "the fallback is announced: {}",
        text(&output)
    );
}

#[test]
fn an_explicit_encoding_is_used_without_guessing() {
    let rig = Rig::new();
    let path = rig.dir.path().join("c.csv");
    std::fs::write(&path, windows_1252("phone,nome\n+5511988887777,José\n")).unwrap();
    let output = rig.run(
        rig.command(&path)
            .args(["--template", "t", "--encoding", "latin1"]),
    );
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.accepted()[0].body["variables"]["nome"], "José");
    assert!(!text(&output).contains("not UTF-8"), "{}", text(&output));
}

#[test]
fn a_bom_tabs_and_quoted_newlines_are_read_as_the_spreadsheet_meant() {
    let rig = Rig::new();
    let path = rig.dir.path().join("c.csv");
    let export = "\u{feff}phone\tnome\tendereço\n+5511988887777\tAna\t\"Rua A, 1\nApto 2\"\n+5511977776666\tBia\tRua B\n";
    std::fs::write(&path, export).unwrap();
    let output = rig.run(rig.command(&path).args(["--template", "t"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let accepted = rig.accepted();
    assert_eq!(
        accepted[0].body["variables"],
        json!({"nome": "Ana", "endereço": "Rua A, 1\nApto 2"})
    );
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert_eq!(
        (rows[1]["row"].as_str(), rows[1]["destination"].as_str()),
        ("2", "+5511977776666"),
        "a quoted newline is one row"
    );
}

#[test]
fn a_forced_delimiter_wins_over_detection() {
    let rig = Rig::new();
    let path = rig.file("c.csv", "phone|nome\n+5511988887777|Ana; Bia\n");
    let output = rig.run(
        rig.command(&path)
            .args(["--template", "t", "--delimiter", "|"]),
    );
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.accepted()[0].body["variables"]["nome"], "Ana; Bia");
}

#[test]
fn header_problems_stop_before_any_send_listing_the_columns() {
    let cases: [(&str, &[&str]); 4] = [
        ("fone,nome\n+5511988887777,A\n", &["fone", "phone"]),
        ("phone,to,nome\n+5511988887777,,A\n", &["phone", "to"]),
        ("phone,nome,Nome\n+5511988887777,A,B\n", &["nome", "Nome"]),
        ("phone,,nome\n+5511988887777,,A\n", &["phone", "nome"]),
    ];
    for (csv, needles) in cases {
        let rig = Rig::new();
        let path = rig.file("c.csv", csv);
        let output = rig.run(rig.command(&path).args(["--template", "t"]));
        assert_eq!(code(&output), 2, "{csv}: {}", text(&output));
        assert!(rig.log().is_empty(), "{csv}: something was sent");
        for needle in needles {
            assert!(
                text(&output).contains(needle),
                "{csv}: '{needle}' missing from {}",
                text(&output)
            );
        }
    }
}

#[test]
fn a_duplicate_destination_is_sent_once_and_names_the_first_row() {
    let rig = Rig::new();
    let csv = format!("{}(11) 91000-0001,again\n", campaign_csv(9));
    let path = rig.file("c.csv", &csv);
    let output = rig.run(
        rig.command(&path)
            .args(["--template", "t", "--default-country", "BR"]),
    );
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(accepted_per_destination(&rig.log())[&phone(1)], 1);
    let row = &results(&rig.dir.path().join("c.results.csv"))[9];
    assert_eq!(
        (row["status"].as_str(), row["errorCode"].as_str()),
        ("INVALID", "DUPLICATE_DESTINATION")
    );
    assert!(row["error"].contains("row 2"), "{row:?}");
}

#[test]
fn opted_out_numbers_are_skipped_and_never_sent() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(4));
    let plain = rig.file("sair.txt", "(11) 91000-0001\n");
    let table = rig.file("optout.csv", "Nome;Celular\nX;+55 11 91000-0003\n");
    let output = rig.run(
        rig.command(&path)
            .args(["--template", "t", "--default-country", "BR", "--suppress"])
            .arg(&plain)
            .arg("--suppress")
            .arg(&table),
    );
    assert_eq!(
        code(&output),
        0,
        "SKIPPED counts as handled: {}",
        text(&output)
    );
    assert_eq!(rig.sent(), [phone(0), phone(2)]);
    let rows = results(&rig.dir.path().join("c.results.csv"));
    for i in [1, 3] {
        assert_eq!(
            (rows[i]["status"].as_str(), rows[i]["errorCode"].as_str()),
            ("SKIPPED", "OPTED_OUT")
        );
    }
    assert!(text(&output).contains("opted out"), "{}", text(&output));
}

#[test]
fn the_preflight_report_counts_each_kind_of_row_before_sending() {
    let rig = Rig::new();
    let csv = format!("{}123,bad\n{},dup\n", campaign_csv(8), phone(0));
    let path = rig.file("c.csv", &csv);
    let output = rig.run(rig.command(&path).args(["--template", "t", "--dry-run"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let report = String::from_utf8_lossy(&output.stderr);
    for line in [
        "rows                  10",
        "valid                  8",
        "invalid                1",
        "duplicates             1  rows 10",
        "to send                8",
    ] {
        assert!(report.contains(line), "'{line}' missing from:\n{report}");
    }
    assert!(
        report.contains("INVALID_DESTINATION") && report.contains("rows 9"),
        "{report}"
    );
    assert!(report.contains("estimated time"), "{report}");
    assert!(rig.log().is_empty());
}

#[test]
fn empty_rows_a_spreadsheet_saves_after_the_data_are_skipped_not_invalid() {
    let rig = Rig::new();
    // 3 of 11 rows empty: as invalid rows they were 27 %, over --max-invalid's 20 %.
    let csv = format!("{},\n,\u{200b}\n , \n", campaign_csv(8));
    let path = rig.file("c.csv", &csv);
    let output = rig.run(rig.command(&path).args(["--template", "t"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert!(
        text(&output).contains("empty rows             3  rows 9, 10, 11"),
        "{}",
        text(&output)
    );
    assert_eq!(rig.sent().len(), 8);
    let rows = results(&rig.dir.path().join("c.results.csv"));
    for row in &rows[8..] {
        assert_eq!(
            (row["status"].as_str(), row["errorCode"].as_str()),
            ("SKIPPED", "EMPTY_ROW")
        );
    }
}

#[test]
fn strict_refuses_any_invalid_row_and_max_invalid_refuses_a_bad_file() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &format!("{}123,bad\n", campaign_csv(9)));
    let output = rig.run(rig.command(&path).args(["--template", "t", "--strict"]));
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(text(&output).contains("--strict"), "{}", text(&output));

    let path = rig.file("d.csv", &format!("{}1,x\n2,x\n3,x\n", campaign_csv(7)));
    let output = rig.run(rig.command(&path).args(["--template", "t"]));
    assert_eq!(
        code(&output),
        2,
        "30% invalid is refused by default: {}",
        text(&output)
    );
    assert!(text(&output).contains("--max-invalid"), "{}", text(&output));
    assert!(rig.log().is_empty(), "nothing was sent");

    let output = rig.run(
        rig.command(&path)
            .args(["--template", "t", "--max-invalid", "40%"]),
    );
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(rig.accepted().len(), 7);
}

#[test]
fn results_are_safe_to_open_in_excel_and_can_use_semicolons() {
    let rig = Rig::new();
    let csv = format!(
        "{}\"=HYPERLINK(\"\"http://x.invalid\"\")\",evil\n",
        campaign_csv(9)
    );
    let path = rig.file("c.csv", &csv);
    let output = rig.run(
        rig.command(&path)
            .args(["--template", "t", "--results-delimiter", ";"]),
    );
    assert_eq!(code(&output), 1, "{}", text(&output));
    let raw = std::fs::read_to_string(rig.dir.path().join("c.results.csv")).unwrap();
    assert!(raw.starts_with("row;destination;status;"), "{raw}");
    for line in raw.lines().skip(1) {
        for cell in line.split(';') {
            let cell = cell.trim_start_matches('"');
            assert!(
                !cell.starts_with(['=', '-', '@']),
                "a formula cell survived: {line}"
            );
            assert!(
                !cell.starts_with('+') || cell[1..].chars().all(|c| c.is_ascii_digit()),
                "{line}"
            );
        }
    }
    assert!(
        raw.contains(&format!(";{};QUEUED;", phone(0))),
        "E.164 destinations stay usable: {raw}"
    );
    // A rerun reads the `;` file back as its checkpoint.
    let output = rig.run(rig.command(&path).args(["--template", "t"]));
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(rig.accepted().len(), 9);
}

#[test]
fn the_messy_sample_export_goes_out_clean() {
    let rig = Rig::new();
    for name in ["messy-export.csv", "messy-export.toml", "opt-out.txt"] {
        std::fs::copy(format!("samples/{name}"), rig.dir.path().join(name)).unwrap();
    }
    let path = rig.dir.path().join("messy-export.csv");
    let output = rig.run(rig.command(&path).args(["--spacing", "0"]));
    assert_eq!(code(&output), 1, "{}", text(&output));
    let first = &rig.accepted()[0].body;
    assert_eq!(first["destinationNumber"], "+5511988887777");
    assert_eq!(first["variables"]["nome"], "José da Silva");
    assert_eq!(first["variables"]["Cidade"], "São Paulo");
    let rows = results(&rig.dir.path().join("messy-export.results.csv"));
    let statuses: Vec<&str> = rows.iter().map(|r| r["status"].as_str()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == "QUEUED").count(), 14);
    assert_eq!(
        (statuses[5], statuses[6], statuses[7]),
        ("INVALID", "INVALID", "SKIPPED")
    );
    assert!(
        rows[6]["rawDestination"].starts_with("'="),
        "the formula is neutralized: {:?}",
        rows[6]
    );
}
