//! A send's campaign is the message it sends, not how the list named it: one template
//! reached by `--template`, by a column or with spaces around its id is one campaign
//! (`ALREADY_SENT` from another results file), a row's own media or text is another one,
//! and what the previous release recorded under its names still counts.

mod common;

use std::path::{Path, PathBuf};

use campaign_sender::ledger::{
    Entry, Ledger as _, SendState, SqliteLedger, destination_fingerprint,
};
use common::*;

/// A list of `rows` under `header` (the phone column first).
fn list(rig: &Rig, name: &str, header: &str, rows: &[String]) -> PathBuf {
    rig.file(name, &format!("{header}\n{}\n", rows.join("\n")))
}

/// Sends `csv` with `flags` to the rig (exit 0 expected): its rows' `status,errorCode`.
fn send(rig: &Rig, csv: &Path, flags: &[&str]) -> Vec<String> {
    let output = rig.run(rig.command(csv).args(flags));
    assert_eq!(code(&output), 0, "{}", text(&output));
    (results(&csv.with_extension("results.csv")).iter())
        .map(|r| format!("{},{}", r["status"], r["errorCode"]))
        .collect()
}

const QUEUED: &str = "QUEUED,";
const ALREADY_SENT: &str = "SKIPPED,ALREADY_SENT";

/// What the previous release recorded for an accepted send of `campaign` (its name as that
/// release wrote it, pinned here from its ledgers) to `number`, from a results file of its
/// own.
fn sent_before_the_upgrade(rig: &Rig, campaign: &str, number: &str) {
    let ledger = SqliteLedger::open(&rig.ledger()).unwrap();
    let destination = destination_fingerprint(number);
    let entry = Entry {
        run: 1,
        // One row per number: an entry of the same run and row is its send's outcome.
        row: destination >> 1,
        results: "/old/list.results.csv",
        sender: "key:0",
        destination,
        campaign,
        earlier: &[],
        state: SendState::Accepted,
        message_id: "msg_before",
        at_ms: 0,
        hold_until_ms: None,
        settled_ms: None,
    };
    ledger.record(&[entry], None).unwrap();
}

/// `--template " promo "` sends the body of `--template promo` (the id is trimmed): one
/// campaign. It was another, so a new list reached the same person twice, and a rerun of
/// the same results file with the spaces stopped on "message changed".
#[test]
fn a_template_id_with_spaces_around_it_is_the_campaign_of_the_bare_id() {
    let rig = Rig::new();
    let march = list(&rig, "march.csv", "phone", &[phone(0)]);
    assert_eq!(send(&rig, &march, &["--template", "promo"]), [QUEUED]);
    let april = list(&rig, "april.csv", "phone", &[phone(0)]);
    let spaced = ["--template", " promo "];
    assert_eq!(send(&rig, &april, &spaced), [ALREADY_SENT]);
    // The same results file, a row added: the same message, no "message changed".
    let march = list(&rig, "march.csv", "phone", &[phone(0), phone(1)]);
    assert_eq!(send(&rig, &march, &spaced), [QUEUED, QUEUED]);
    assert_eq!(rig.sent(), [phone(0), phone(1)]);
    // The previous release: a results file it wrote with the spaces (its fingerprint of
    // them) resumes, and its ledger's send of that campaign still counts.
    let may = list(&rig, "may.csv", "phone", &[phone(2)]);
    send(&rig, &may, &spaced);
    let results = may.with_extension("results.csv");
    let written = std::fs::read_to_string(&results).unwrap();
    let (now, before) = ("m:c7c69729", "m:b5853d83");
    assert!(written.contains(now), "{written}");
    std::fs::write(&results, written.replace(now, before)).unwrap();
    let may = list(&rig, "may.csv", "phone", &[phone(2), phone(3)]);
    assert_eq!(send(&rig, &may, &spaced), [QUEUED, QUEUED]);
    sent_before_the_upgrade(&rig, "pilot-status/m:b5853d83", &phone(4));
    let june = list(&rig, "june.csv", "phone", &[phone(4)]);
    assert_eq!(send(&rig, &june, &spaced), [ALREADY_SENT]);
    assert_eq!(rig.sent().len(), 4);
}

/// Template "promo" to one person from three lists (`--template promo`; a `templateId`
/// column; a `templateId` column under `--template other`): one message, one send. They
/// were three campaigns and three sends.
#[test]
fn one_template_named_by_a_flag_or_a_column_is_one_campaign() {
    let rig = Rig::new();
    let by_flag = list(&rig, "flag.csv", "phone", &[phone(0)]);
    assert_eq!(send(&rig, &by_flag, &["--template", "promo"]), [QUEUED]);
    let row = |i: usize| format!("{},promo", phone(i));
    let by_column = list(&rig, "column.csv", "phone,templateId", &[row(0)]);
    assert_eq!(send(&rig, &by_column, &[]), [ALREADY_SENT]);
    let overriding = list(&rig, "override.csv", "phone,templateId", &[row(0)]);
    let other = ["--template", "other"];
    assert_eq!(send(&rig, &overriding, &other), [ALREADY_SENT]);
    assert_eq!(rig.sent(), [phone(0)]);
    // The previous release's names for such rows (a column with no --template, before and
    // after it told rows apart; a column overriding --template other) still count.
    sent_before_the_upgrade(&rig, "pilot-status/m:4fd0bfc1/row/m:c973ca77", &phone(1));
    sent_before_the_upgrade(&rig, "pilot-status/m:4fd0bfc1", &phone(2));
    sent_before_the_upgrade(&rig, "pilot-status/m:0b17bf7d/own/m:c973ca77", &phone(3));
    let copy = list(&rig, "copy.csv", "phone,templateId", &[row(1), row(2)]);
    assert_eq!(send(&rig, &copy, &[]), [ALREADY_SENT; 2]);
    let copy = list(&rig, "copy2.csv", "phone,templateId", &[row(3)]);
    assert_eq!(send(&rig, &copy, &other), [ALREADY_SENT]);
    assert_eq!(rig.sent(), [phone(0)]);
}

/// A row's own `media` cell under `--template`, or `text` cell under `--text`, is part of
/// its message: a second list with another image or text reaches the person. It was
/// skipped as "already sent".
#[test]
fn a_row_s_own_media_or_text_is_another_message() {
    let rig = Rig::new();
    let media = |name: &str, file: &str, i: usize| {
        let row = format!("{},https://cdn.example.com/{file}", phone(i));
        list(&rig, name, "phone,media", &[row])
    };
    let texts = |name: &str, body: &str, i: usize| {
        list(&rig, name, "phone,text", &[format!("{},{body}", phone(i))])
    };
    let (template, hi) = (["--template", "t"], ["--text", "Hi"]);
    let lists = [
        (media("a.csv", "a.png", 0), &template),
        (media("b.csv", "b.png", 0), &template),
        (texts("ta.csv", "Promo A", 1), &hi),
        (texts("tb.csv", "Promo B", 1), &hi),
    ];
    for (csv, flags) in &lists {
        assert_eq!(send(&rig, csv, *flags), [QUEUED], "{}", csv.display());
    }
    // The same image again, from a copy of the list: the same campaign.
    let copy = media("a2.csv", "a.png", 0);
    assert_eq!(send(&rig, &copy, &template), [ALREADY_SENT]);
    assert_eq!(rig.sent(), [phone(0), phone(0), phone(1), phone(1)]);
    // The previous release recorded such rows under the campaign's name alone: a copy of
    // a list it sent is not sent again.
    sent_before_the_upgrade(&rig, "pilot-status/m:5dd3466d", &phone(2));
    sent_before_the_upgrade(&rig, "pilot-status/m:a7ef77af", &phone(3));
    let copy = media("a3.csv", "a.png", 2);
    assert_eq!(send(&rig, &copy, &template), [ALREADY_SENT]);
    let copy = texts("ta2.csv", "Promo A", 3);
    assert_eq!(send(&rig, &copy, &hi), [ALREADY_SENT]);
    assert_eq!(rig.sent().len(), 4);
}
