//! A MsgFlash instance id is a UUID, the same number in any case. The ledger once kept an
//! instance under the id as typed: a number's sends and holds recorded under an upper-case
//! spelling still count when the id is now written in lower case.

mod common;

use std::time::Duration;

use campaign_sender::ledger::{Entry, Ledger as _, SendState, SqliteLedger};
use common::*;

/// The rig's ledger holding, as an earlier release wrote it, `sends` sends by the rig's
/// instance spelled in upper case, the last with `hold` (an answer's `Retry-After`).
fn recorded_in_upper_case(rig: &Rig, sends: u64, hold: Option<Duration>) {
    let ledger = SqliteLedger::open(&rig.ledger()).unwrap();
    let now = jiff::Timestamp::now().as_millisecond();
    let sender = format!("instance:{}", INSTANCE.to_ascii_uppercase());
    let entries: Vec<Entry> = (0..sends)
        .map(|row| Entry {
            run: 7,
            row,
            results: "earlier.results.csv",
            sender: &sender,
            destination: row,
            campaign: "msgflash/earlier",
            earlier: &[],
            state: SendState::Accepted,
            message_id: "m",
            at_ms: now - 60_000,
            hold_until_ms: hold
                .filter(|_| row + 1 == sends)
                .map(|h| now + h.as_millis() as i64),
            settled_ms: None,
        })
        .collect();
    ledger.record(&entries, None).unwrap();
}

/// A 3-row MsgFlash text campaign from the rig's instance, written in lower case.
fn send(rig: &Rig, extra: &[&str]) -> (std::process::Output, Vec<String>) {
    let csv = rig.file("c.csv", &campaign_csv(3));
    let output = rig.run(rig.msgflash(&csv).args(["--text", "hi"]).args(extra));
    let rows = results(&rig.dir.path().join("c.results.csv"));
    (output, rows.iter().map(|r| r["status"].clone()).collect())
}

#[test]
fn sends_recorded_under_an_upper_case_instance_id_count_for_its_daily_cap() {
    let rig = Rig::new();
    recorded_in_upper_case(&rig, 2, None);
    let (output, statuses) = send(&rig, &["--daily-cap", "3"]);
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert_eq!(statuses, ["QUEUED"], "{}", text(&output));
    assert_eq!(rig.sent().len(), 1);
}

#[test]
fn a_wait_recorded_under_an_upper_case_instance_id_holds_it() {
    let rig = Rig::new();
    recorded_in_upper_case(&rig, 1, Some(Duration::from_secs(7200)));
    let (output, _) = send(&rig, &[]);
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert!(rig.sent().is_empty(), "{}", text(&output));
}
