//! The checkpoint survives the ordinary life of its files (issue 12): re-saved by a
//! spreadsheet, edited by a person, with line breaks in cells, grown during a run. Each test
//! counts what the sandbox accepted: 0 duplicates, 0 rows lost.
//!
//! Each of these failed on e18a1f7 (the main this work started from): a CRLF re-save was
//! rewritten as blank lines and resent, a BOM/`;`/quoted re-save was refused with advice to
//! start a new results file, a line break in a cell made the rows after it resend, an
//! edited last line was dropped as torn and resent, rows appended during a run were cut by
//! compaction and resent.

mod common;

use std::path::Path;

use common::*;

const T: [&str; 2] = ["--template", "t"];

/// Every destination the sandbox accepted, exactly once each.
fn assert_each_sent_once(rig: &Rig, n: usize) {
    let counts = accepted_per_destination(&rig.log());
    for i in 0..n {
        assert_eq!(counts.get(&phone(i)), Some(&1), "{}: {counts:?}", phone(i));
    }
    assert_eq!(counts.len(), n, "{counts:?}");
}

/// The file as a spreadsheet would save it: every cell quoted, `delimiter`, CRLF, a BOM.
fn resave(path: &Path, delimiter: u8, bom: bool) {
    let text = std::fs::read(path).unwrap();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_slice());
    let mut out = Vec::new();
    if bom {
        out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    {
        let mut writer = csv::WriterBuilder::new()
            .delimiter(delimiter)
            .quote_style(csv::QuoteStyle::Always)
            .terminator(csv::Terminator::CRLF)
            .flexible(true)
            .from_writer(&mut out);
        for record in reader.byte_records() {
            writer.write_byte_record(&record.unwrap()).unwrap();
        }
    }
    std::fs::write(path, out).unwrap();
}

fn message_ids(results: &Path) -> Vec<String> {
    read_back(results)
        .into_iter()
        .map(|r| r.record.message_id)
        .collect()
}

fn read_back(results: &Path) -> Vec<campaign_sender::journal::delivery::ResultRow> {
    campaign_sender::journal::delivery::read_rows(results).unwrap()
}

#[test]
fn a_results_file_resaved_with_crlf_is_read_as_it_was_by_a_rerun_and_by_status() {
    let rig = Rig::new();
    let (csv, results) = rig.finished(5);
    let ids = message_ids(&results);
    let body = std::fs::read_to_string(&results).unwrap();
    std::fs::write(&results, body.replace('\n', "\r\n")).unwrap();
    let output = rig.run(rig.command(&csv).args(T));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_each_sent_once(&rig, 5);
    assert_eq!(message_ids(&results), ids, "every message id is kept");

    // `status` on a CRLF file keeps every line too.
    let body = std::fs::read_to_string(&results).unwrap();
    std::fs::write(&results, body.replace('\n', "\r\n")).unwrap();
    let output = rig.run(&mut rig.operation("status", &results));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(message_ids(&results), ids);
    let output = rig.run(rig.command(&csv).args(T));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_each_sent_once(&rig, 5);
}

#[test]
fn a_results_file_resaved_with_bom_semicolons_and_quotes_resumes_with_the_new_rows_only() {
    let rig = Rig::new();
    let (_, results) = rig.finished(4);
    let ids = message_ids(&results);
    resave(&results, b';', true);
    let csv = rig.file("c.csv", &campaign_csv(6));
    let output = rig.run(rig.command(&csv).args(T));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_each_sent_once(&rig, 6);
    assert_eq!(&message_ids(&results)[..4], &ids[..]);
    assert_eq!(read_back(&results).len(), 6);
}

/// Failed before `Journal::open_as_is`: opening the file rewrote a re-save at once, so a
/// run refused a moment later (other message settings, no key) had already changed it.
#[test]
fn a_resaved_results_file_is_left_as_saved_by_a_run_or_a_pass_that_is_refused() {
    let rig = Rig::new();
    let (_, results) = rig.finished(3);
    resave(&results, b';', true);
    let saved = std::fs::read(&results).unwrap();
    // One new row, under other message settings.
    let csv = rig.file("c.csv", &campaign_csv(4));
    let output = rig.run(rig.command(&csv).args(["--template", "another"]));
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(
        text(&output).contains("--message-changed"),
        "{}",
        text(&output)
    );
    assert_eq!(std::fs::read(&results).unwrap(), saved, "a refused run");

    let output = rig.run(
        rig.operation("status", &results)
            .env_remove("PILOT_STATUS_API_KEY"),
    );
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(
        text(&output).contains("PILOT_STATUS_API_KEY"),
        "{}",
        text(&output)
    );
    assert_eq!(
        std::fs::read(&results).unwrap(),
        saved,
        "a refused status pass"
    );

    // Once the run goes ahead, the file is rewritten into the form appends need and the
    // rerun sends nothing.
    let output = rig.run(rig.command(&csv).args(T));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_ne!(std::fs::read(&results).unwrap(), saved);
    assert_each_sent_once(&rig, 4);
}

#[test]
fn a_line_break_typed_in_a_cell_reads_as_one_record_and_nothing_after_it_is_resent() {
    let rig = Rig::new();
    let (_, results) = rig.finished(3);
    // Alt+Enter in row 2's error and rawDestination cells, as a spreadsheet saves it.
    let body = std::fs::read_to_string(&results).unwrap();
    let mut lines: Vec<String> = body.lines().map(str::to_string).collect();
    let mut cells: Vec<String> = lines[2].split(',').map(str::to_string).collect();
    cells[7] = "\"checked by Ana\nthen by Bia\"".into();
    cells[10] = format!("\"{}\r\n\"", phone(1));
    lines[2] = cells.join(",");
    std::fs::write(&results, lines.join("\n") + "\n").unwrap();
    let csv = rig.file("c.csv", &campaign_csv(5));
    for _ in 0..2 {
        let output = rig.run(rig.command(&csv).args(T));
        assert_eq!(code(&output), 0, "{}", text(&output));
        assert_each_sent_once(&rig, 5);
    }
    let rows = read_back(&results);
    assert_eq!(rows.len(), 5);
    assert_eq!(
        rows[1].record.error, "checked by Ana then by Bia",
        "compaction copied the whole record, its line break now a space"
    );
    assert_eq!(
        std::fs::read_to_string(&results).unwrap().lines().count(),
        6,
        "one line per record once compacted"
    );
}

#[test]
fn a_stray_quote_that_swallows_lines_is_refused_untouched() {
    let rig = Rig::new();
    let (csv, results) = rig.finished(4);
    let body = std::fs::read_to_string(&results).unwrap();
    let broken = body
        .replacen(",QUEUED,", ",QUEUED,\"", 2)
        .replacen(",QUEUED,\"", ",QUEUED,", 1);
    std::fs::write(&results, &broken).unwrap();
    let output = rig.run(rig.command(&csv).args(T));
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(text(&output).contains("line 3"), "{}", text(&output));
    assert_eq!(std::fs::read_to_string(&results).unwrap(), broken);
    assert_each_sent_once(&rig, 4);
}

#[test]
fn an_edited_complete_last_line_is_read_leniently_or_refused_never_dropped() {
    let rig = Rig::new();
    let (csv, results) = rig.finished(3);
    // A person retyped the last row's status in lower case: the same state.
    let body = std::fs::read_to_string(&results).unwrap();
    let retyped = format!(
        "{}{}",
        &body[..body.rfind(",QUEUED,").unwrap()],
        body[body.rfind(",QUEUED,").unwrap()..].replacen("QUEUED", " queued", 1)
    );
    std::fs::write(&results, &retyped).unwrap();
    let output = rig.run(rig.command(&csv).args(T));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_each_sent_once(&rig, 3);

    // A status nobody can read is refused, the file left byte for byte.
    let body = std::fs::read_to_string(&results).unwrap();
    let unknown = format!(
        "{}{}",
        &body[..body.rfind(",QUEUED,").unwrap()],
        body[body.rfind(",QUEUED,").unwrap()..].replacen("QUEUED", "done", 1)
    );
    std::fs::write(&results, &unknown).unwrap();
    for command in [
        rig.command(&csv).args(T),
        &mut rig.operation("status", &results),
    ] {
        let output = rig.run(command);
        assert_eq!(code(&output), 2, "{}", text(&output));
        let message = text(&output);
        assert!(
            message.contains("line 4") && message.contains("done"),
            "{message}"
        );
        assert!(message.contains("Restore that line"), "{message}");
        assert!(!message.contains("new path") && !message.contains("another path"));
        assert_eq!(std::fs::read_to_string(&results).unwrap(), unknown);
    }
    assert_each_sent_once(&rig, 3);
}

#[test]
fn a_status_typed_over_an_accepted_send_is_refused_never_sent_again() {
    // A person set row 1 back to DEFERRED (or FAILED...): its line still holds the id
    // the API gave it, which only an accepted send has. (SKIPPED may: ALREADY_SENT keeps
    // the earlier send's id, and a SKIPPED row is never sent again.)
    for typed in ["DEFERRED", "SENDING", "INVALID", "FAILED"] {
        let rig = Rig::new();
        let (csv, results) = rig.finished(2);
        let body = std::fs::read_to_string(&results).unwrap();
        let edited = body.replacen(",QUEUED,", &format!(",{typed},"), 1);
        std::fs::write(&results, &edited).unwrap();
        let output = rig.run(rig.command(&csv).args(T));
        let message = text(&output);
        assert_eq!(code(&output), 2, "{typed}: {message}");
        assert!(
            message.contains("line 2")
                && message.contains("messageId")
                && message.contains("QUEUED"),
            "{typed}: {message}"
        );
        assert_eq!(std::fs::read_to_string(&results).unwrap(), edited);
        assert_each_sent_once(&rig, 2);
    }
}

#[test]
fn rows_appended_to_the_csv_during_a_run_are_kept_by_compaction() {
    let rig = Rig::new();
    // The first answer is held until the rows are appended: the run is certainly under way.
    let gate = rig.gate();
    let csv = rig.file("c.csv", &campaign_csv(40));
    let mut child = rig
        .command_to(&csv, &gate.base_url())
        .args(T)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    rig.wait_for_requests(1);
    let extra: String = (40..43)
        .map(|i| format!("{},Cliente {i}\n", phone(i)))
        .collect();
    let mut file = std::fs::OpenOptions::new().append(true).open(&csv).unwrap();
    std::io::Write::write_all(&mut file, extra.as_bytes()).unwrap();
    gate.open();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let results = rig.dir.path().join("c.results.csv");
    assert_eq!(
        read_back(&results).len(),
        43,
        "the appended rows keep their lines"
    );
    let output = rig.run(rig.command_to(&csv, &gate.base_url()).args(T));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_each_sent_once(&rig, 43);
}

/// A run started in the background through `base_url` (a [`Gate`] holds its first answer
/// until the test has acted; the sandbox with latency lets it run on), with `extra` flags.
fn slow_run(rig: &Rig, csv: &Path, base_url: &str, extra: &[&str]) -> std::process::Child {
    rig.command_to(csv, base_url)
        .args(T)
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_results_link_that_leads_back_to_itself_is_named_as_such() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(1));
    let (link, other) = (
        rig.dir.path().join("c.results.csv"),
        rig.dir.path().join("o.csv"),
    );
    std::os::unix::fs::symlink(&other, &link).unwrap();
    std::os::unix::fs::symlink(&link, &other).unwrap();
    let output = rig.run(rig.command(&csv).args(["--template", "t"]));
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(rig.log().is_empty(), "something was sent");
    assert!(
        text(&output).contains("leads back to itself") && !text(&output).contains("disk space"),
        "{}",
        text(&output)
    );
    let output = rig.run(&mut rig.operation("status", &link));
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(
        !text(&output).contains("entity not found"),
        "{}",
        text(&output)
    );
}

#[test]
fn a_symlinked_results_file_has_one_lock_and_stays_a_link() {
    let rig = Rig::new();
    let gate = rig.gate();
    let csv = rig.file("c.csv", &campaign_csv(20));
    std::fs::create_dir(rig.dir.path().join("shared")).unwrap();
    let real = rig.dir.path().join("shared/c.results.csv");
    let link = rig.dir.path().join("c.results.csv");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let first = slow_run(&rig, &csv, &gate.base_url(), &[]);
    rig.wait_for_requests(1);
    // The same file through its real path: refused while the first run holds it.
    let output = rig.run(
        rig.command_to(&csv, &gate.base_url())
            .args(T)
            .args(["--results", real.to_str().unwrap()]),
    );
    assert_eq!(code(&output), 4, "already running: {}", text(&output));
    assert!(
        text(&output).contains("in use by another run"),
        "{}",
        text(&output)
    );
    assert!(!text(&output).contains("elsewhere"), "{}", text(&output));
    gate.open();
    let first = first.wait_with_output().unwrap();
    assert_eq!(code(&first), 0, "{}", text(&first));
    assert!(
        std::fs::symlink_metadata(&link).unwrap().is_symlink(),
        "compaction wrote through the link"
    );
    assert_eq!(read_back(&real).len(), 20);
    let output = rig.run(rig.command_to(&csv, &gate.base_url()).args(T));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_each_sent_once(&rig, 20);
}

#[test]
fn a_lock_file_deleted_during_a_run_stops_it_before_the_next_send() {
    let rig = Rig::new();
    let gate = rig.gate();
    let csv = rig.file("c.csv", &campaign_csv(30));
    let run = slow_run(&rig, &csv, &gate.base_url(), &[]);
    rig.wait_for_requests(1);
    std::fs::remove_file(rig.dir.path().join("c.results.csv.lock")).unwrap();
    gate.open();
    // A second run now gets a lock of its own; the first must not send beside it.
    let output = run.wait_with_output().unwrap();
    assert_eq!(code(&output), 3, "{}", text(&output));
    let message = text(&output);
    assert!(
        message.contains("lock") && message.contains("deleted"),
        "{message}"
    );
    assert!(!message.contains("elsewhere"), "{message}");
    assert_eq!(rig.sent().len(), 1, "no send after the lock was deleted");
    let output = rig.run(rig.command_to(&csv, &gate.base_url()).args(T));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_each_sent_once(&rig, 30);
}

#[test]
fn a_second_run_started_after_the_lock_was_deleted_leaves_every_line_whole() {
    let rig = Rig::new();
    let gate = rig.gate();
    let csv = rig.file("c.csv", &campaign_csv(30));
    let first = slow_run(&rig, &csv, &gate.base_url(), &[]);
    rig.wait_for_requests(1);
    // A stale-lock cleanup lets a second run start on the same results while the first
    // run's request is out; both write their answers once the gate opens.
    std::fs::remove_file(rig.dir.path().join("c.results.csv.lock")).unwrap();
    let second = slow_run(&rig, &csv, &gate.base_url(), &[]);
    rig.wait_for_requests(2);
    gate.open();
    let mut told = String::new();
    for run in [first, second] {
        let output = run.wait_with_output().unwrap();
        assert_eq!(code(&output), 3, "each run stops: {}", text(&output));
        told += &text(&output);
    }
    assert!(told.contains("written by another process"), "{told}");
    // The file reads (no line written over another), and every accepted send is in it.
    let output = rig.run(rig.command_to(&csv, &gate.base_url()).args(T));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_each_sent_once(&rig, 30);
    let results = rig.dir.path().join("c.results.csv");
    let recorded: std::collections::HashSet<String> = read_back(&results)
        .into_iter()
        .map(|r| r.record.message_id)
        .collect();
    for entry in rig.accepted() {
        let id = entry.message_id.unwrap();
        assert!(recorded.contains(&id), "{id} accepted but not recorded");
    }
}

/// A re-export of people `order` (indexes into [`phone`]), as a CRM would write it.
fn export(order: impl IntoIterator<Item = usize>) -> String {
    let rows: String = order
        .into_iter()
        .map(|i| format!("{},Cliente {i}\n", phone(i)))
        .collect();
    format!("phone,nome\n{rows}")
}

#[test]
fn a_reexported_list_in_another_order_with_three_new_people_sends_exactly_those_three() {
    let rig = Rig::new();
    let (csv, results) = rig.finished(10);
    let ids: std::collections::HashMap<String, String> = read_back(&results)
        .into_iter()
        .map(|r| (r.record.destination, r.record.message_id))
        .collect();
    // Reversed, person 4 gone, three sign-ups spread through the list.
    let order = [12, 9, 8, 7, 6, 11, 5, 3, 2, 1, 10, 0];
    rig.file("c.csv", &export(order));
    let output = rig.run(rig.command(&csv).args(T));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let mut new: Vec<String> = rig.sent()[10..].to_vec();
    new.sort();
    assert_eq!(new, vec![phone(10), phone(11), phone(12)]);
    assert_each_sent_once(&rig, 13);
    let rows = read_back(&results);
    assert_eq!(
        rows.len(),
        13,
        "12 rows and the person no longer in the list"
    );
    for (row, person) in rows.iter().zip(order) {
        assert_eq!(
            row.record.destination,
            phone(person),
            "row {}",
            row.record.row
        );
        if let Some(id) = ids.get(&phone(person)) {
            assert_eq!(&row.record.message_id, id, "the result follows the person");
        }
    }
    let gone = &rows[12];
    assert_eq!(
        (gone.record.row, gone.record.destination.as_str()),
        (0, phone(4).as_str())
    );
    assert_eq!(&gone.record.message_id, &ids[&phone(4)]);

    // A rerun, report and status all take the line with no row.
    let output = rig.run(rig.command(&csv).args(T));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let output = rig.run(binary().arg("report").arg(&results));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let output = rig.run(&mut rig.operation("status", &results));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(read_back(&results).len(), 13);
    // Person 4 comes back: their result returns to a row, and nothing is sent.
    rig.file("c.csv", &export([12, 9, 8, 7, 6, 11, 5, 3, 2, 1, 10, 0, 4]));
    let output = rig.run(rig.command(&csv).args(T));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_each_sent_once(&rig, 13);
    assert_eq!(read_back(&results)[12].record.row, 13);
}

#[test]
fn a_reexported_run_killed_midway_never_resends_on_the_rerun() {
    let rig = Rig::with_faults("latency=5ms");
    let (csv, _) = rig.finished(10);
    // Reordered, with 30 new people; killed while sending to them.
    rig.file("c.csv", &export((0..40).rev()));
    let mut run = slow_run(&rig, &csv, &rig.sandbox.base_url(), &[]);
    rig.wait_for_requests(15);
    run.kill().unwrap();
    run.wait().unwrap();
    for _ in 0..2 {
        let output = rig.run(rig.command(&csv).args(T));
        assert!(code(&output) <= 1, "{}", text(&output));
    }
    let counts = accepted_per_destination(&rig.log());
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    // Every person has a line; one the kill caught between its intent and its request is
    // UNCERTAIN, and rightly never sent on its own.
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert_eq!(rows.len(), 40);
    for row in &rows {
        match row["status"].as_str() {
            "QUEUED" => assert!(counts.contains_key(&row["destination"]), "{row:?}"),
            "UNCERTAIN" => {}
            _ => panic!("neither sent nor uncertain: {row:?}"),
        }
    }
}

/// A long name that is still legal (a 248-byte results name, from a 236-byte CSV name) gets
/// the files that go with it (lock, rewrite, copies) under names that fit: the run finishes,
/// and its rerun finds the campaign done. The rewrite's name used to pass 255 bytes, so every
/// run stopped after its sends with exit 3.
#[test]
fn a_results_file_with_a_long_legal_name_is_compacted_and_done() {
    let rig = Rig::new();
    let stem = format!("{}xy", "ç".repeat(117));
    let csv = rig.file(&format!("{stem}.csv"), &campaign_csv(3));
    let results = rig.dir.path().join(format!("{stem}.results.csv"));
    assert_eq!(results.file_name().unwrap().len(), 248);
    for run in ["first", "rerun"] {
        let output = rig.run(rig.command(&csv).args(T));
        assert_eq!(code(&output), 0, "{run}: {}", text(&output));
    }
    assert_each_sent_once(&rig, 3);
    let raw = std::fs::read_to_string(&results).unwrap();
    assert_eq!(
        raw.lines().count(),
        4,
        "compacted: a header and one line a row"
    );
}
