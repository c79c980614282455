//! The results file as people's tools leave it: saved with no line break after
//! its last line, sorted by a column, saved with CRLF, with rows of empty cells after the
//! data, saved as UTF-16. Each test drives the real binary and counts what the sandbox
//! accepted: 0 duplicates, 0 lines lost, a refused run leaves the file byte for byte.
//!
//! Each failed on the binary before the fix: the unterminated last line was dropped as torn
//! (resent, deleted by `status` and by a refused run), a sort made the oldest line of a row
//! win (accepted rows turned UNCERTAIN, a DEFERRED one was sent again), a stopped run left
//! several lines a row, CRLF named the line before the bad one, empty rows were refused,
//! and a UTF-16 file's message printed NUL bytes.

mod common;

use std::path::Path;

use common::*;

const T: [&str; 2] = ["--template", "t"];

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// Each row's (status, messageId), as `status` and `report` read it.
fn states(results: &Path) -> Vec<(u64, String, String)> {
    (campaign_sender::journal::delivery::read_rows(results).unwrap())
        .into_iter()
        .map(|r| {
            let status = r.record.status.to_string();
            (r.record.row, status, r.record.message_id)
        })
        .collect()
}

/// Each row's message id, in row order.
fn ids(results: &Path) -> Vec<String> {
    states(results).into_iter().map(|(_, _, id)| id).collect()
}

/// Rewrites the file line by line as a person would (`edit` gets each line's index, 0 for
/// the header, and the line, and gives it back with its line break); returns the new text.
fn edit_lines(results: &Path, edit: impl Fn(usize, &str) -> String) -> String {
    let edited: String = read(results)
        .lines()
        .enumerate()
        .map(|(i, line)| edit(i, line))
        .collect();
    std::fs::write(results, &edited).unwrap();
    edited
}

/// The copies a rewrite kept of `c.results.csv` beside it.
fn saved_copies(rig: &Rig) -> Vec<std::path::PathBuf> {
    (std::fs::read_dir(rig.dir.path()).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("c.results.saved-"))
        .collect()
}

#[test]
fn a_last_line_without_a_line_break_is_kept_by_a_refused_run_by_status_and_by_a_rerun() {
    let rig = Rig::new();
    let (_, results) = rig.finished(3);
    // Google Sheets' "Download as CSV": no line break after the last line.
    let saved = read(&results).trim_end().to_string();
    std::fs::write(&results, &saved).unwrap();
    let before = states(&results);
    assert_eq!(before.len(), 3, "{saved}");

    // A fourth row and other message settings: refused before anything is sent.
    let csv = rig.file("c.csv", &campaign_csv(4));
    let output = rig.run(rig.command(&csv).args(["--template", "other"]));
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert_eq!(
        read(&results),
        saved,
        "a refused run leaves the file as it was"
    );

    let output = rig.run(&mut rig.operation("status", &results));
    assert!(matches!(code(&output), 0 | 1), "{}", text(&output));
    let after = states(&results);
    assert_eq!(after.len(), 3, "{}", read(&results));
    assert_eq!(
        after[2], before[2],
        "the last line kept, its message id with it"
    );

    let output = rig.run(rig.command(&csv).args(T));
    assert_eq!(code(&output), 0, "{}", text(&output));
    rig.assert_each_accepted_once(4);
    assert_eq!(result_lines(&results), 4);
}

/// A results file as a run killed part-way leaves it: several lines a row. Row 1 was
/// refused (429) once then accepted on its second attempt, row 2 accepted at once, row 3
/// killed with its request in flight. The lines are the ones a finished run wrote, with
/// the earlier ones made from them.
fn interrupted_lines(results: &Path) -> (String, Vec<String>) {
    let text = read(results);
    let mut lines = text.lines();
    let header = lines.next().unwrap().to_string();
    let queued: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let line = |cells: &[String], status: &str, attempts: &str, sent: bool| {
        let mut cells = cells.to_vec();
        cells[2] = status.into();
        cells[8] = attempts.into();
        if !sent {
            for i in [3, 4, 5] {
                cells[i].clear();
            }
        }
        if status == "DEFERRED" {
            cells[5] = "429".into();
            cells[6] = "RATE_LIMITED".into();
        }
        cells.join(",")
    };
    let (one, two, three) = (&queued[0], &queued[1], &queued[2]);
    let lines = vec![
        line(one, "SENDING", "1", false),
        line(two, "SENDING", "1", false),
        line(one, "DEFERRED", "1", false),
        line(two, "QUEUED", "1", true),
        line(one, "SENDING", "2", false),
        line(three, "SENDING", "1", false),
        line(one, "QUEUED", "2", true),
    ];
    (header, lines)
}

#[test]
fn a_results_file_sorted_by_status_either_way_reads_and_resumes_the_same() {
    for descending in [false, true] {
        let rig = Rig::new();
        let (csv, results) = rig.finished(3);
        let ids: Vec<String> = states(&results).into_iter().map(|s| s.2).collect();
        let (header, mut lines) = interrupted_lines(&results);
        // A spreadsheet's sort by the status column (stable, as they are).
        lines.sort_by_key(|l| l.split(',').nth(2).unwrap().to_string());
        if descending {
            lines.reverse();
        }
        std::fs::write(&results, format!("{header}\n{}\n", lines.join("\n"))).unwrap();
        let want = vec![
            (1, "QUEUED".to_string(), ids[0].clone()),
            (2, "QUEUED".to_string(), ids[1].clone()),
            (3, "SENDING".to_string(), String::new()),
        ];
        assert_eq!(states(&results), want, "descending: {descending}");

        let output = rig.run(rig.command(&csv).args(T));
        assert_eq!(code(&output), 1, "{}", text(&output));
        rig.assert_each_accepted_once(3);
        let rows = common::results(&results);
        assert_eq!(rows.len(), 3);
        assert_eq!(result_lines(&results), 3, "compacted");
        for (row, id) in rows.iter().zip(&ids).take(2) {
            assert_eq!(
                (row["status"].as_str(), &row["messageId"]),
                ("QUEUED", id),
                "{row:?}"
            );
        }
        assert_eq!(rows[0]["attempts"], "2");
        assert_eq!(rows[2]["status"], "UNCERTAIN", "{:?}", rows[2]);
        assert_eq!(rows[2]["errorCode"], "INTERRUPTED");
    }
}

#[test]
fn a_run_that_stops_early_leaves_one_line_a_row() {
    let rig = Rig::with_faults("429=1,retry-after=0");
    let csv = rig.file("c.csv", &campaign_csv(4));
    let output = rig.run(rig.command(&csv).args(T).args(["--max-attempts", "1"]));
    assert_eq!(code(&output), 3, "{}", text(&output));
    let results = rig.dir.path().join("c.results.csv");
    let rows = common::results(&results);
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r["status"] == "DEFERRED"), "{rows:?}");
    assert_eq!(result_lines(&results), rows.len(), "{}", read(&results));
}

#[test]
fn a_line_that_does_not_read_is_named_by_its_line_in_the_file_with_crlf_and_line_breaks() {
    let rig = Rig::new();
    let (csv, results) = rig.finished(4);
    let good = read(&results);
    let mut lines: Vec<String> = good.lines().map(str::to_string).collect();
    // A cell with a line break in it (Alt+Enter) on line 2, which takes lines 2 and 3.
    lines[1] = lines[1].replace(",202,,,", ",202,,\"two\nlines\",");
    lines[3] = lines[3].replace("QUEUED", "zzz");
    for ending in ["\n", "\r\n"] {
        let body = lines.join("\n").replace('\n', ending) + ending;
        std::fs::write(&results, &body).unwrap();
        let output = rig.run(rig.command(&csv).args(T));
        assert_eq!(code(&output), 2, "{}", text(&output));
        assert!(
            text(&output).contains("line 5 cannot be read (unknown status 'zzz')"),
            "{ending:?}: {}",
            text(&output)
        );
        assert_eq!(read(&results), body, "refused untouched");
    }
}

#[test]
fn rows_of_empty_cells_after_the_data_are_blank_lines() {
    let rig = Rig::new();
    let (csv, results) = rig.finished(3);
    let good = read(&results);
    std::fs::write(
        &results,
        good.replace('\n', "\r\n") + ",,,,,,,,,,,,,\r\n,,,,,,,,,,,,,\r\n",
    )
    .unwrap();
    let output = rig.run(rig.command(&csv).args(T));
    assert_eq!(code(&output), 0, "{}", text(&output));
    rig.assert_each_accepted_once(3);
    assert_eq!(
        read(&results),
        good,
        "the empty rows are dropped by compaction"
    );
}

#[test]
fn a_file_saved_as_utf16_is_refused_with_a_message_free_of_control_bytes() {
    let rig = Rig::new();
    let (csv, results) = rig.finished(2);
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in read(&results).replace(',', "\t").encode_utf16() {
        utf16.extend(unit.to_le_bytes());
    }
    std::fs::write(&results, &utf16).unwrap();
    let output = rig.run(rig.command(&csv).args(T));
    assert_eq!(code(&output), 2, "{}", text(&output));
    let shown = [output.stdout.as_slice(), output.stderr.as_slice()].concat();
    let control = shown
        .iter()
        .find(|b| b.is_ascii_control() && !matches!(b, b'\n' | b'\t'));
    assert_eq!(control, None, "{}", text(&output));
    assert!(text(&output).contains("UTF-16"), "{}", text(&output));
    assert!(
        text(&output).contains("row\tdestination"),
        "{}",
        text(&output)
    );
    assert_eq!(std::fs::read(&results).unwrap(), utf16, "refused untouched");
}

#[test]
fn a_workbook_given_the_results_name_is_refused_as_one_untouched() {
    let rig = Rig::new();
    let (csv, results) = rig.finished(2);
    // What Excel writes for .xlsx: a zip archive (its local file header, then no line break).
    let workbook = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00[Content_Types].xml".to_vec();
    std::fs::write(&results, &workbook).unwrap();
    let output = rig.run(rig.command(&csv).args(T));
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(
        text(&output).contains("spreadsheet workbook"),
        "{}",
        text(&output)
    );
    assert!(!text(&output).contains("old Mac"), "{}", text(&output));
    assert_eq!(
        std::fs::read(&results).unwrap(),
        workbook,
        "refused untouched"
    );
    assert_eq!(rig.log().len(), 2, "nothing more was sent");
}

#[test]
fn a_column_deleted_in_a_spreadsheet_is_named_and_the_file_left_untouched() {
    let rig = Rig::new();
    let (csv, results) = rig.finished(2);
    // The `attempts` column (the 9th) deleted, cells and all.
    let deleted: String = read(&results)
        .lines()
        .map(|line| {
            let mut cells: Vec<&str> = line.split(',').collect();
            cells.remove(8);
            cells.join(",") + "\n"
        })
        .collect();
    std::fs::write(&results, &deleted).unwrap();
    let output = rig.run(rig.command(&csv).args(T));
    let said = text(&output);
    assert_eq!(code(&output), 2, "{said}");
    assert!(said.contains("it lacks the column(s) attempts"), "{said}");
    assert_eq!(read(&results), deleted, "refused untouched");
    assert_eq!(rig.log().len(), 2, "nothing more was sent");
}

#[test]
fn a_column_a_person_added_is_kept_in_a_copy_before_a_rewrite_drops_it() {
    let rig = Rig::new();
    let (csv, results) = rig.finished(2);
    // A "notes" column typed in a spreadsheet, one note filled in.
    let noted = edit_lines(&results, |i, line| match i {
        0 => format!("{line},notes\n"),
        1 => format!("{line},call back on Monday\n"),
        _ => format!("{line},\n"),
    });
    let output = rig.run(rig.command(&csv).args(T));
    let said = text(&output);
    assert_eq!(code(&output), 0, "{said}");
    assert!(!read(&results).contains("notes"), "{}", read(&results));
    let kept = saved_copies(&rig);
    assert_eq!(kept.len(), 1, "{said}");
    assert_eq!(read(&kept[0]), noted, "the file with the notes, as it was");
    assert!(
        said.contains("notes") && said.contains(&kept[0].display().to_string()),
        "{said}"
    );
    assert_eq!(rig.accepted().len(), 2, "nothing sent again");
}

#[test]
fn row_cells_filled_down_in_a_spreadsheet_send_nothing_again_and_keep_every_id() {
    let rig = Rig::new();
    let (csv, results) = rig.finished(3);
    let before = ids(&results);
    // Every `row` cell now says 1.
    edit_lines(&results, |i, line| match i {
        0 => format!("{line}\n"),
        _ => format!("1{}\n", &line[line.find(',').unwrap()..]),
    });
    let output = rig.run(rig.command(&csv).args(T));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(
        rig.accepted().len(),
        3,
        "nothing sent again: {}",
        text(&output)
    );
    let now = ids(&results);
    assert_eq!(now, before, "{}", read(&results));
}

#[test]
fn a_column_a_person_added_under_one_of_our_names_is_theirs_or_refused() {
    for (title, cell, refused) in [
        ("Destination", "Lisboa", false),
        ("MessageID", "", false),
        ("destination", "Lisboa", true),
    ] {
        let rig = Rig::new();
        let (csv, results) = rig.finished(3);
        let before = ids(&results);
        let added = edit_lines(&results, |i, line| match i {
            0 => format!("{title},{line}\n"),
            _ => format!("{cell},{line}\n"),
        });
        let output = rig.run(rig.command(&csv).args(T));
        let said = text(&output);
        assert_eq!(
            rig.accepted().len(),
            3,
            "{title}: nothing sent again: {said}"
        );
        if refused {
            assert_eq!(code(&output), 2, "{title}: {said}");
            assert!(said.contains("columns A and C"), "{title}: {said}");
            assert_eq!(read(&results), added, "{title}: left as it was");
            continue;
        }
        assert_eq!(code(&output), 0, "{title}: {said}");
        let now = ids(&results);
        assert_eq!(now, before, "{title}: {}", read(&results));
        assert!(said.contains(title), "{title}: kept aside and said: {said}");
    }
}

#[test]
fn a_note_typed_past_the_last_column_with_no_title_is_kept_aside_too() {
    let rig = Rig::new();
    let (csv, results) = rig.finished(2);
    let noted = edit_lines(&results, |i, line| match i {
        1 => format!("{line},call back\n"),
        _ => format!("{line}\n"),
    });
    let output = rig.run(rig.command(&csv).args(T));
    let said = text(&output);
    assert_eq!(code(&output), 0, "{said}");
    assert!(said.contains("cells past the last titled column"), "{said}");
    let kept = saved_copies(&rig);
    assert_eq!(kept.len(), 1, "{said}");
    assert_eq!(read(&kept[0]), noted);
}

/// A header a person (or a hostile tool) widened by a hundred thousand columns: the warning
/// that the rewrite drops them names the first few and counts the rest, in one short line.
#[test]
fn the_warning_about_columns_a_person_added_names_a_few_and_counts_the_rest() {
    let rig = Rig::new();
    let (csv, results) = rig.finished(2);
    let added = 100_000;
    let titles: Vec<String> = (0..added).map(|i| format!("extra{i}")).collect();
    edit_lines(&results, |i, line| match i {
        0 => format!("{line},{}\n", titles.join(",")),
        1 => format!("{line}{}call back\n", ",".repeat(added + 1)),
        _ => format!("{line}\n"),
    });
    let output = rig.run(rig.command(&csv).args(T));
    let said = text(&output);
    assert_eq!(code(&output), 0, "{}", &said[..said.len().min(2000)]);
    assert!(said.len() < 8 * 1024, "{} bytes said", said.len());
    for needle in [
        "cells past the last titled column",
        "extra0, extra1",
        "extra8 and 99991 more",
    ] {
        assert!(said.contains(needle), "missing '{needle}' in: {said}");
    }
    assert!(!said.contains("extra9,"), "{said}");
    assert_eq!(saved_copies(&rig).len(), 1, "{said}");
}
