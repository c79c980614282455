//! A row named in a message can be found in the file: once a blank line, a cell with line
//! breaks or Excel's `sep=` line comes above it, a row no longer starts on line row + 1, and
//! every message about it (the log, the preflight table, the results' `error` cell) names
//! the line of the file beside the data row. Rows still in place are named as before.

mod common;

use common::*;

/// A CRLF export (as Excel writes it): row 1 (a short number) and row 2 in place on lines
/// 2 and 3, a blank line, row 3 with a cell over three lines (lines 5-7), another blank
/// line, then row 4 (a bad number) on line 9 and row 5 (row 3's number again) on line 10.
fn shifted_csv() -> String {
    [
        "phone,nome",
        "12,short",
        &format!("{},Ana", phone(0)),
        "",
        &format!("{},\"Bea\r\nCosta\r\nLima\"", phone(1)),
        "",
        "123,bad",
        &format!("{},dup", phone(1)),
        "",
    ]
    .join("\r\n")
}

/// Fails naming the first of `needles` that `text` lacks.
fn assert_has(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "'{needle}' missing from:\n{text}");
    }
}

/// The campaign flags of these tests: most of the file is bad on purpose.
const FLAGS: [&str; 4] = ["--template", "t", "--max-invalid", "100%"];

#[test]
fn a_dry_run_names_the_line_of_each_moved_row_in_the_log_and_the_table() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &shifted_csv());
    let output = rig.run(rig.command(&path).args(FLAGS).arg("--dry-run"));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_has(
        &String::from_utf8_lossy(&output.stderr),
        &[
            // Row 1 is on line 2, where row + 1 says: named as ever.
            "row 1: INVALID INVALID_DESTINATION",
            "row 4 (line 9): INVALID INVALID_DESTINATION",
            "row 5 (line 10): INVALID DUPLICATE_DESTINATION",
            "same destination as row 3 (line 5)",
            "INVALID_DESTINATION              2  rows 1, 4 (line 9)\n",
            "duplicates             1  rows 5 (line 10)\n",
        ],
    );
    assert!(rig.log().is_empty(), "a dry run sends nothing");
}

#[test]
fn a_send_names_the_line_in_the_log_and_in_the_results_error_cell() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &shifted_csv());
    let output = rig.run(rig.command(&path).args(FLAGS));
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_has(
        &text(&output),
        &[
            "row 1: INVALID INVALID_DESTINATION",
            "row 4 (line 9): INVALID INVALID_DESTINATION",
            "row 5 (line 10): INVALID DUPLICATE_DESTINATION",
            // Rows sent are named the same way.
            &format!("row 2 {}: QUEUED", phone(0)),
            &format!("row 3 (line 5) {}: QUEUED", phone(1)),
        ],
    );
    assert_eq!(rig.sent(), [phone(0), phone(1)]);
    // The results keep their columns and data row numbers; only the text names the line.
    let rows = results(&rig.dir.path().join("c.results.csv"));
    let row: Vec<&str> = rows.iter().map(|r| r["row"].as_str()).collect();
    assert_eq!(row, ["1", "2", "3", "4", "5"]);
    assert_eq!(rows[4]["errorCode"], "DUPLICATE_DESTINATION");
    assert_has(&rows[4]["error"], &["same destination as row 3 (line 5):"]);
    // A moved row's own line leads its error cell; one in place is named by its row only.
    assert!(
        rows[3]["error"].starts_with("line 9 of the file: "),
        "{}",
        rows[3]["error"]
    );
    assert!(
        rows[4]["error"].starts_with("line 10 of the file: "),
        "{}",
        rows[4]["error"]
    );
    assert!(!rows[0]["error"].contains("line"), "{}", rows[0]["error"]);
}

#[test]
fn excels_sep_line_and_opted_out_rows_are_counted_too() {
    let rig = Rig::new();
    // `sep=;` is line 1 and the header line 2, so row 1 is on line 3; LF line breaks.
    let csv = format!("sep=;\nphone;nome\n{};Ana\n\n{};Bia\n", phone(0), phone(1));
    let path = rig.file("c.csv", &csv);
    let optout = rig.file("optout.csv", &format!("phone\n{}\n", phone(1)));
    let output = rig.run(
        rig.command(&path)
            .args(FLAGS)
            .args(["--dry-run", "--suppress"])
            .arg(&optout),
    );
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_has(
        &String::from_utf8_lossy(&output.stderr),
        &["opted out              1  rows 2 (line 5)\n"],
    );
}
