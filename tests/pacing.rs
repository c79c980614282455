//! The pace on a simulated clock: the runner, the real HTTP stack and the sandbox run for
//! real, but every wait (spacing, quota, Retry-After, backoff) advances a virtual clock, so
//! hours of marketing pace are checked in milliseconds. The pace is judged from when the
//! requests reached the sandbox, stamped on the same clock, not from what the client recorded.

mod common;

use std::path::Path;
use std::time::Duration;

use campaign_sender::runner::Summary;
use campaign_sender::settings::CampaignOptions;
use common::*;
use jiff::Timestamp;

const START: &str = "2026-06-01T12:00:00Z";

fn run_simulated(rig: &Rig, csv: &Path, flags: CampaignOptions) -> Summary {
    run_in_process(rig, csv, flags, START.parse().unwrap())
}

/// When each accepted request reached the sandbox, in arrival order, and how many requests
/// its destination took.
fn sends(rig: &Rig) -> Vec<(Timestamp, u32)> {
    let arrivals = rig.arrivals();
    let attempts = |to: &str| arrivals.iter().filter(|a| a.destination == to).count();
    arrivals
        .iter()
        .filter(|a| a.accepted)
        .map(|a| (a.at, attempts(&a.destination) as u32))
        .collect()
}

#[test]
fn the_default_marketing_pace_spaces_sends_8_to_25_seconds_apart() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(60));
    let summary = run_simulated(&rig, &csv, CampaignOptions::default());
    assert_eq!(summary.queued, 60);
    let sends = sends(&rig);
    assert_eq!(
        sends[0].0,
        START.parse::<Timestamp>().unwrap(),
        "the first send does not wait"
    );
    let gaps: Vec<f64> = sends
        .windows(2)
        .map(|w| gap(w[0].0, w[1].0).as_secs_f64())
        .collect();
    assert!(gaps.iter().all(|g| (8.0..=25.0).contains(g)), "{gaps:?}");
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    assert!(
        (13.5..=19.5).contains(&mean),
        "mean spacing {mean}s is far from 16.5s"
    );
    assert!(
        gaps.iter().any(|g| *g > 20.0) && gaps.iter().any(|g| *g < 13.0),
        "the spacing is not random: {gaps:?}"
    );
}

#[test]
fn the_quota_alone_spaces_sends_evenly() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(10));
    let flags = CampaignOptions {
        rate: Some("30/min".into()),
        spacing: Some("0".into()),
        ..CampaignOptions::default()
    };
    run_simulated(&rig, &csv, flags);
    let sends = sends(&rig);
    for pair in sends.windows(2) {
        assert_eq!(gap(pair[0].0, pair[1].0), Duration::from_secs(2));
    }
}

#[test]
fn retry_after_holds_the_next_attempt_for_exactly_that_long() {
    let rig = Rig::with_faults("429=0.4,retry-after=7");
    let csv = rig.file("c.csv", &campaign_csv(20));
    let flags = CampaignOptions {
        rate: Some("1000000/s".into()),
        spacing: Some("0".into()),
        max_attempts: Some(30),
        ..CampaignOptions::default()
    };
    let summary = run_simulated(&rig, &csv, flags);
    assert_eq!(summary.queued, 20);
    let mut previous: Timestamp = START.parse().unwrap();
    let mut retried = 0;
    for (sent_at, attempts) in sends(&rig) {
        let waited = gap(previous, sent_at);
        let expected = Duration::from_secs(7) * (attempts - 1);
        assert!(
            waited >= expected && waited < expected + Duration::from_millis(5),
            "waited {waited:?} for {attempts} attempts"
        );
        retried += usize::from(attempts > 1);
        previous = sent_at;
    }
    assert!(retried > 0, "no row met a 429");
}

#[test]
fn sends_in_flight_together_still_keep_to_the_quota() {
    let rig = Rig::with_faults("latency=3ms");
    let csv = rig.file("c.csv", &campaign_csv(24));
    let flags = CampaignOptions {
        rate: Some("30/min".into()),
        spacing: Some("0".into()),
        concurrency: Some(8),
        ..CampaignOptions::default()
    };
    let summary = run_simulated(&rig, &csv, flags);
    assert_eq!(summary.queued, 24);
    let mut starts: Vec<Timestamp> = sends(&rig).into_iter().map(|(at, _)| at).collect();
    starts.sort();
    for pair in starts.windows(2) {
        assert!(gap(pair[0], pair[1]) >= Duration::from_secs(2), "{pair:?}");
    }
}
