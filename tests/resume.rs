//! The results file is the checkpoint: reruns skip what is final, never resend what may have
//! gone out, follow each destination to its row in a re-exported list, and end compacted.

mod common;

use common::*;

const HEADER: &str = "row,destination,status,messageId,correlationId,httpStatus,errorCode,error,attempts,sentAt,rawDestination,sender\n";

#[test]
fn a_rerun_after_a_crash_skips_finished_rows_and_marks_the_in_flight_one_uncertain() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(4));
    // What a kill -9 during row 2's request leaves: row 1 done, row 2's intent, a torn line
    // (a killed write stops at a page boundary of the file: blank lines bring it there).
    let whole = format!(
        "{HEADER}1,{p0},SENDING,,,,,,1,2026-01-01T00:00:00Z,{p0}\n1,{p0},QUEUED,msg_1,corr_1,202,,,1,2026-01-01T00:00:00Z,{p0}\n\
         2,{p1},SENDING,,,,,,1,2026-01-01T00:00:01Z,{p1}\n",
        p0 = phone(0),
        p1 = phone(1),
    );
    let torn = format!("3,{},SEND", phone(2));
    let pad = "\n".repeat(4096 - (whole.len() + torn.len()) % 4096);
    let journal = format!("{whole}{pad}{torn}");
    let results_path = rig.file("c.results.csv", &journal);
    let output = rig.run(rig.command(&path).args(["--template", "t"]));
    assert_eq!(code(&output), 1, "{}", text(&output));
    let sent = rig.sent();
    assert_eq!(
        sent,
        vec![phone(2), phone(3)],
        "only rows never attempted are sent"
    );
    let rows = results(&results_path);
    let statuses: Vec<&str> = rows.iter().map(|r| r["status"].as_str()).collect();
    assert_eq!(statuses, ["QUEUED", "UNCERTAIN", "QUEUED", "QUEUED"]);
    assert_eq!(rows[0]["messageId"], "msg_1");
    assert_eq!(rows[1]["errorCode"], "INTERRUPTED");
    assert_eq!(
        rows[1]["sentAt"], "2026-01-01T00:00:01Z",
        "when the request left: where to look for it in the provider's history"
    );
    assert_eq!(
        result_lines(&results_path),
        4,
        "a completed run compacts to one line per row"
    );
    assert!(
        text(&output).contains("--resend-uncertain"),
        "the summary says how to resolve UNCERTAIN"
    );

    // Once the operator has checked row 2 was not delivered, they can resend it.
    let output = rig.run(
        rig.command(&path)
            .args(["--template", "t", "--resend-uncertain"]),
    );
    assert_eq!(code(&output), 0, "{}", text(&output));
    let sent = rig.sent();
    assert_eq!(sent, vec![phone(2), phone(3), phone(1)]);
    assert_eq!(results(&results_path)[1]["status"], "QUEUED");
}

#[test]
fn a_finished_campaign_reruns_without_sending_anything() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(3));
    assert_eq!(
        code(&rig.run(rig.command(&path).args(["--template", "t"]))),
        0
    );
    let results_path = rig.dir.path().join("c.results.csv");
    let before = std::fs::read_to_string(&results_path).unwrap();
    let output = rig.run(rig.command(&path).args(["--template", "t"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.log().len(), 3);
    assert_eq!(std::fs::read_to_string(&results_path).unwrap(), before);
}

#[test]
fn a_resorted_or_shortened_csv_resumes_by_destination_and_sends_nothing_again() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(3));
    assert_eq!(
        code(&rig.run(rig.command(&path).args(["--template", "t"]))),
        0
    );
    // Someone re-sorted the sheet: each person's result follows them to their new row.
    rig.file(
        "c.csv",
        &format!(
            "phone,nome\n{},A\n{},B\n{},C\n",
            phone(0),
            phone(2),
            phone(1)
        ),
    );
    let output = rig.run(rig.command(&path).args(["--template", "t"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.log().len(), 3, "nothing was sent again");
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert_eq!(rows[1]["destination"], phone(2));
    assert_eq!(rows[2]["destination"], phone(1));

    // A shorter file: the recipient no longer in it keeps its line, with no row.
    rig.file("c.csv", &campaign_csv(2));
    let output = rig.run(rig.command(&path).args(["--template", "t"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.log().len(), 3);
    let text = std::fs::read_to_string(rig.dir.path().join("c.results.csv")).unwrap();
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with(&format!(",{},QUEUED,", phone(2))),
        "{text}"
    );
}

#[test]
fn a_fixed_invalid_row_is_sent_on_the_rerun() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &format!("{}5511,B\n", campaign_csv(5)));
    let output = rig.run(rig.command(&path).args(["--template", "t"]));
    assert_eq!(code(&output), 1, "{}", text(&output));
    let results_path = rig.dir.path().join("c.results.csv");
    assert_eq!(results(&results_path)[5]["status"], "INVALID");
    rig.file("c.csv", &campaign_csv(6));
    let output = rig.run(rig.command(&path).args(["--template", "t"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.accepted().len(), 6);
    assert_eq!(results(&results_path)[5]["status"], "QUEUED");
}

#[test]
fn dry_run_prints_bodies_and_touches_nothing() {
    let rig = Rig::new();
    let path = rig.file(
        "c.csv",
        &format!(
            "phone,nome\n{},Ana\n123,Bia\n{},Caio\n{},Duda\n{},Eva\n{},Fabi\n",
            phone(0),
            phone(2),
            phone(3),
            phone(4),
            phone(5)
        ),
    );
    let mut command = rig.command(&path);
    command
        .env_remove("PILOT_STATUS_API_KEY")
        .args(["--template", "boas_vindas", "--dry-run"]);
    let output = rig.run(&mut command);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let first: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(first["row"], 1);
    assert_eq!(first["body"]["variables"]["nome"], "Ana");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("row 2"),
        "the invalid row is reported"
    );
    assert!(rig.log().is_empty(), "a dry run sends nothing");
    assert!(
        !rig.dir.path().join("c.results.csv").exists(),
        "a dry run writes no results"
    );
}

/// `phone(i)` as a Brazilian spreadsheet writes it: `(11) 91000-000i`.
fn local(i: usize) -> String {
    let national = &phone(i)[5..];
    format!("(11) {}-{}", &national[..5], &national[5..])
}

#[test]
fn a_reformatted_spreadsheet_still_matches_its_checkpoint() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(3));
    let output = rig.run(rig.command(&path).args(["--template", "t"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    // The same people re-exported with local numbers, plus one new row: the settled rows'
    // cells differ from the checkpoint's, so they are normalized and compared again.
    let rows: String = (0..4)
        .map(|i| format!("{},Cliente {i}\n", local(i)))
        .collect();
    rig.file("c.csv", &format!("phone,nome\n{rows}"));
    let args = ["--template", "t", "--default-country", "BR"];
    let output = rig.run(rig.command(&path).args(args).arg("--dry-run"));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let report = text(&output);
    for (line, count) in [("valid", 4), ("already done", 3), ("to send", 1)] {
        assert!(
            report
                .lines()
                .any(|l| l.trim().starts_with(line) && l.trim().ends_with(&count.to_string())),
            "{line} {count}: {report}"
        );
    }
    let output = rig.run(rig.command(&path).args(args));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(rig.sent(), vec![phone(0), phone(1), phone(2), phone(3)]);
}

#[test]
fn a_settled_row_now_holding_someone_else_sends_only_to_the_new_person() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(3));
    let output = rig.run(rig.command(&path).args(["--template", "t"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    // Row 3 (QUEUED) now holds someone else; rows 1-2 are untouched, and a row 4 waits.
    let changed = format!(
        "phone,nome\n{},Cliente 0\n{},Cliente 1\n{},Cliente 2\n{},Cliente 3\n",
        phone(0),
        phone(1),
        phone(7),
        phone(3)
    );
    rig.file("c.csv", &changed);
    let output = rig.run(rig.command(&path).args(["--template", "t"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(
        rig.sent(),
        vec![phone(0), phone(1), phone(2), phone(7), phone(3)],
        "the new people only, each once"
    );
}

#[test]
fn a_duplicate_of_an_already_sent_row_is_not_sent_on_resume() {
    let rig = Rig::new();
    // Row 1 is invalid the first time; row 5 goes out.
    let path = rig.file(
        "c.csv",
        &format!("phone,nome\n5511,A\n{}", &campaign_csv(5)[11..]),
    );
    let output = rig.run(rig.command(&path).args(["--template", "t"]));
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(rig.sent().len(), 5);
    // Row 1 is "fixed" into the number row 5 already received: it comes before row 5, yet
    // it is a duplicate of a row already sent, not a first occurrence.
    rig.file(
        "c.csv",
        &format!("phone,nome\n{},A\n{}", phone(3), &campaign_csv(5)[11..]),
    );
    let output = rig.run(rig.command(&path).args(["--template", "t"]));
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(rig.sent().len(), 5, "nobody gets the campaign twice");
    let report = text(&output);
    assert!(
        report
            .lines()
            .any(|l| l.trim_start().starts_with("duplicates") && l.ends_with("rows 1")),
        "{report}"
    );
    let results_path = rig.dir.path().join("c.results.csv");
    assert_eq!(results(&results_path)[4]["status"], "QUEUED");
}

#[test]
fn a_sent_row_that_no_longer_validates_keeps_its_message_id() {
    let rig = Rig::new();
    let media = |first: &str| {
        let mut csv = String::from("phone,nome,media\n");
        for i in 0..6 {
            let url = if i == 0 {
                first
            } else {
                "https://cdn.example.com/a.png"
            };
            csv.push_str(&format!("{},Cliente {i},{url}\n", phone(i)));
        }
        csv
    };
    let path = rig.file("c.csv", &media("https://cdn.example.com/a.png"));
    let output = rig.run(rig.command(&path).args(["--template", "t"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let results_path = rig.dir.path().join("c.results.csv");
    let id = results(&results_path)[0]["messageId"].clone();
    assert!(!id.is_empty());
    // Row 1's media cell is spoiled after it was sent: the row is settled, not re-judged.
    rig.file("c.csv", &media("not a url"));
    let output = rig.run(rig.command(&path).args(["--template", "t"]));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let rows = results(&results_path);
    assert_eq!(
        (rows[0]["status"].as_str(), rows[0]["messageId"].as_str()),
        ("QUEUED", id.as_str())
    );
    assert_eq!(rig.sent().len(), 6, "nothing was sent again");
}

#[test]
fn an_interrupted_send_to_someone_taken_off_the_list_is_still_reported_uncertain() {
    let rig = Rig::new();
    // A kill during row 2's request, then a re-export without that person.
    let journal = format!(
        "{HEADER}1,{p0},QUEUED,msg_1,corr_1,202,,,1,2026-01-01T00:00:00Z,{p0}\n\
         2,{p1},SENDING,,,,,,1,2026-01-01T00:00:01Z,{p1}\n",
        p0 = phone(0),
        p1 = phone(1),
    );
    let results_path = rig.file("c.results.csv", &journal);
    let csv = format!(
        "phone,nome\n{},Cliente 0\n{},Cliente 2\n",
        phone(0),
        phone(2)
    );
    let path = rig.file("c.csv", &csv);
    let output = rig.run(rig.command(&path).args(["--template", "t"]));
    let said = text(&output);
    assert_eq!(rig.sent(), vec![phone(2)], "{said}");
    assert!(
        said.contains("1 recipient(s) no longer in the CSV have an UNCERTAIN send")
            && said.contains("check them"),
        "{said}"
    );
    let kept = std::fs::read_to_string(&results_path).unwrap();
    assert!(
        kept.lines()
            .any(|l| l.starts_with(&format!(",{},", phone(1)))),
        "kept with an empty row: {kept}"
    );
}

/// An `INVALID` row fixed, then wrong for another reason, is recorded with its new reason: the
/// results file (and the report) must not keep naming the problem the person already fixed.
#[test]
fn an_invalid_row_wrong_for_a_new_reason_is_recorded_with_it() {
    let rig = Rig::new();
    let args = ["--template", "t", "--max-invalid", "100%"];
    let path = rig.file("c.csv", "phone,deliverUntil\n12,\n");
    let output = rig.run(rig.command(&path).args(args));
    assert_eq!(code(&output), 1, "{}", text(&output));
    let results_path = rig.dir.path().join("c.results.csv");
    assert_eq!(
        results(&results_path)[0]["errorCode"],
        "INVALID_DESTINATION"
    );
    rig.file(
        "c.csv",
        "phone,deliverUntil\n+5511988887777,2000-01-01T00:00:00Z\n",
    );
    let output = rig.run(rig.command(&path).args(args));
    assert_eq!(code(&output), 1, "{}", text(&output));
    let rows = results(&results_path);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["errorCode"], "DELIVER_UNTIL_PAST", "{:?}", rows[0]);
    assert!(rig.log().is_empty(), "nothing sent");
}
