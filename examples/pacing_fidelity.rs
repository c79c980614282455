//! Pacing fidelity over a long simulated run, for `bench/run.sh` (not a test: CI never runs
//! it). Drives the real `Pacer` on a simulated clock, so days of pacing take milliseconds,
//! and reports the worst sliding window against the quota and the spacing distribution.
//!
//! `cargo run --release --example pacing_fidelity [SENDS]` prints one line per scenario:
//! `scenario<TAB>sends<TAB>quota<TAB>worst_window<TAB>spacing_min<TAB>mean<TAB>max<TAB>range`.

use std::time::Duration;

use campaign_sender::clock::Clock;
use campaign_sender::pacing::{Pacer, Rate, Spacing};

/// The most starts that fall in any half-open window `[t, t + per)`; the worst case is a
/// window opening at a start, so checking those suffices.
fn worst_window(starts: &[Duration], per: Duration) -> usize {
    let mut worst = 0;
    let mut end = 0;
    for (i, start) in starts.iter().enumerate() {
        while end < starts.len() && starts[end] < *start + per {
            end += 1;
        }
        worst = worst.max(end - i);
    }
    worst
}

async fn scenario(name: &str, rate: &str, spacing: &str, sends: usize) {
    let rate: Rate = rate.parse().expect("a rate");
    let spacing: Spacing = spacing.parse().expect("a spacing");
    let clock = Clock::simulated(jiff::Timestamp::UNIX_EPOCH);
    // A fixed seed: the same draws on every run, so the figure is reproducible.
    let pacer = Pacer::new(Some(rate), spacing, clock, Some(2026));
    let mut starts = Vec::with_capacity(sends);
    for _ in 0..sends {
        starts.push(pacer.ready().await);
    }
    let worst = worst_window(&starts, rate.per);
    let gaps: Vec<f64> = starts
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64())
        .collect();
    let min = gaps.iter().copied().fold(f64::INFINITY, f64::min);
    let max = gaps.iter().copied().fold(0.0, f64::max);
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    let span = starts.last().expect("sends > 0").as_secs_f64();
    println!(
        "{name}\t{sends}\t{rate}\t{worst}\t{min:.3}\t{mean:.3}\t{max:.3}\t{spacing}\t{:.1}",
        span / 3600.0
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let sends = std::env::args()
        .nth(1)
        .map_or(100_000, |n| n.parse().expect("SENDS is a number"));
    scenario("marketing", "30/min", "8s..25s", sends).await;
    scenario("utility", "100/s", "0", sends).await;
}
