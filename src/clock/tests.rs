use super::*;

fn clock() -> Clock {
    Clock::simulated(Timestamp::UNIX_EPOCH)
}

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Sleeps `duration` and says when it ended.
async fn ends(clock: &Clock, duration: Duration) -> Instant {
    clock.sleep(duration).await;
    clock.now()
}

#[tokio::test]
async fn simulated_sleep_advances_both_clocks_without_waiting() {
    let start: Timestamp = "2026-06-01T12:00:00Z".parse().unwrap();
    let clock = Clock::simulated(start);
    let before = std::time::Instant::now();
    clock.sleep(secs(3600)).await;
    assert!(before.elapsed() < secs(1));
    assert_eq!(clock.now(), secs(3600));
    assert_eq!(clock.wall().to_string(), "2026-06-01T13:00:00Z");
}

#[tokio::test]
async fn the_longest_sleep_saturates_instead_of_overflowing() {
    let clock = clock();
    clock.sleep(secs(10)).await;
    clock.sleep(Duration::MAX).await;
    assert_eq!(clock.now(), Duration::MAX);
    assert_eq!(clock.wall(), Timestamp::MAX);
}

#[tokio::test]
async fn sleep_until_a_past_deadline_returns_at_once() {
    let clock = clock();
    clock.sleep(secs(10)).await;
    clock.sleep_until(secs(5)).await;
    assert_eq!(clock.now(), secs(10));
}

#[tokio::test]
async fn two_concurrent_sleeps_of_5s_both_end_at_5s() {
    let clock = clock();
    let ended = tokio::join!(ends(&clock, secs(5)), ends(&clock, secs(5)));
    assert_eq!(ended, (secs(5), secs(5)));
    assert_eq!(clock.now(), secs(5));
}

#[tokio::test]
async fn a_5s_and_a_3s_sleep_end_at_3s_and_5s() {
    let clock = clock();
    let ended = tokio::join!(ends(&clock, secs(5)), ends(&clock, secs(3)));
    assert_eq!(ended, (secs(5), secs(3)));
}

#[tokio::test]
async fn participants_that_sleep_together_overlap_too() {
    let clock = clock();
    let ended = tokio::join!(
        clock.participate(ends(&clock, secs(5))),
        clock.participate(ends(&clock, secs(3))),
        clock.participate(async {
            clock.sleep(secs(1)).await;
            ends(&clock, secs(1)).await
        }),
    );
    assert_eq!(ended, (secs(5), secs(3), secs(2)));
}

#[tokio::test]
async fn time_stands_still_while_a_participant_does_real_work() {
    let clock = clock();
    let (done, work) = tokio::sync::oneshot::channel::<()>();
    let ended = tokio::join!(
        clock.participate(ends(&clock, secs(5))),
        clock.participate(async {
            work.await.unwrap();
            ends(&clock, secs(1)).await
        }),
        async {
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
            let during = clock.now();
            done.send(()).unwrap();
            during
        },
    );
    assert_eq!(ended, (secs(5), secs(1), Duration::ZERO));
}

#[tokio::test]
async fn waiters_for_a_lock_held_by_a_sleeper_let_time_move() {
    let clock = clock();
    let turn = tokio::sync::Mutex::new(());
    let (clock, turn) = (&clock, &turn);
    let take_turn = |duration| async move {
        let _turn = clock.waiting(turn.lock()).await;
        ends(clock, duration).await
    };
    let ended = tokio::join!(
        clock.participate(take_turn(secs(5))),
        clock.participate(take_turn(secs(1))),
    );
    assert_eq!(ended, (secs(5), secs(6)));
}

#[tokio::test]
async fn a_scope_replaces_a_finished_participant_before_time_moves() {
    let clock = clock();
    let (sleeper, next) = (secs(10), secs(2));
    // One participant sleeps; another finishes and is replaced within the same poll by
    // one that sleeps less: the replacement must not find the clock at +10 s.
    let ended = clock
        .scope(async {
            let first = clock.participate(ends(&clock, sleeper));
            let mut first = pin!(first);
            let quick = clock.participate(async {});
            let mut quick = pin!(quick);
            let mut replacement = None;
            poll_fn(|cx| {
                let _ = first.as_mut().poll(cx);
                if replacement.is_none() && quick.as_mut().poll(cx).is_ready() {
                    replacement = Some(Box::pin(clock.participate(ends(&clock, next))));
                }
                match replacement.as_mut().map(|r| r.as_mut().poll(cx)) {
                    Some(Poll::Ready(at)) => Poll::Ready(at),
                    _ => Poll::Pending,
                }
            })
            .await
        })
        .await;
    assert_eq!(ended, next);
}

#[tokio::test]
async fn advancing_to_a_later_instant_ends_the_sleeps_it_passes() {
    let clock = clock();
    clock.advance_to(Timestamp::UNIX_EPOCH + secs(60));
    assert_eq!(clock.now(), secs(60));
    clock.advance_to(Timestamp::UNIX_EPOCH);
    assert_eq!(clock.now(), secs(60), "a clock never goes back");
}

#[tokio::test]
async fn the_real_clock_runs_futures_as_they_are() {
    let clock = Clock::real();
    let value = clock
        .scope(clock.participate(clock.waiting(async { 7 })))
        .await;
    assert_eq!(value, 7);
}
