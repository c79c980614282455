//! `--keep-alive`: how long an idle connection carries the next send. A server closing an
//! idle connection just as a send goes out on it leaves that send UNCERTAIN, so a connection
//! idle longer than the limit is never reused. Judged from the sandbox's log, which numbers
//! the TCP connection each request came on.

mod common;

use std::collections::BTreeSet;

use common::*;

/// Three rows 100 ms apart, with `keep_alive` if given; returns the connections the sandbox
/// saw the sends on.
fn connections(keep_alive: Option<&str>) -> BTreeSet<u64> {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(3));
    let mut command = binary();
    command
        .arg(&csv)
        .args(["--base-url", &rig.sandbox.base_url(), "--template", "t"])
        .args(["--rate", "1000/s", "--spacing", "100ms..100ms"])
        .env("CAMPAIGN_SENDER_LEDGER", rig.ledger());
    if let Some(keep_alive) = keep_alive {
        command.args(["--keep-alive", keep_alive]);
    }
    let output = rig.run(&mut command);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let log = rig.accepted();
    assert_eq!(log.len(), 3, "{log:?}");
    log.iter()
        .map(|entry| entry.connection.expect("the sandbox numbers connections"))
        .collect()
}

#[test]
fn a_connection_idle_longer_than_the_keep_alive_is_not_reused() {
    assert_eq!(connections(Some("0")).len(), 3, "one connection per send");
    assert_eq!(
        connections(Some("20ms")).len(),
        3,
        "one connection per send"
    );
}

#[test]
fn a_connection_idle_within_the_keep_alive_carries_the_next_send() {
    // The default (2 s) is far above the 100 ms between sends.
    assert_eq!(connections(None).len(), 1);
    assert_eq!(connections(Some("1m")).len(), 1);
}

#[test]
fn a_keep_alive_beyond_five_minutes_is_refused_before_anything_is_sent() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(1));
    let mut command = rig.command(&csv);
    command.args(["--template", "t", "--keep-alive", "10m"]);
    assert_refused(&rig, &mut command, &["--keep-alive", "5m", "2s"]);
    let mut command = rig.command(&csv);
    command.args(["--template", "t", "--keep-alive", "soon"]);
    assert_refused(&rig, &mut command, &["--keep-alive", "not a duration"]);
}
