use super::*;

fn window(spec: &str, zone: &str) -> Window {
    Window::parse(spec, zone).unwrap()
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// Checks the state at each instant (UTC): `Ok(closes)` where the window is open,
/// `Err(opens)` where it is closed.
fn assert_states(w: &Window, cases: &[(&str, Result<&str, &str>)]) {
    for (when, expected) in cases {
        let found = match w.state(at(when)) {
            State::Open { closes } => Ok(closes.timestamp()),
            State::Closed { opens, .. } => Err(opens.timestamp()),
        };
        assert_eq!(found, expected.map(at).map_err(at), "{w} at {when}");
    }
}

#[test]
fn a_day_window_is_open_between_its_local_hours() {
    // São Paulo is UTC-3 all year: 09:00-20:00 local is 12:00Z-23:00Z.
    assert_states(
        &window("09:00-20:00", "America/Sao_Paulo"),
        &[
            ("2026-06-01T11:59:59Z", Err("2026-06-01T12:00:00Z")),
            ("2026-06-01T12:00:00Z", Ok("2026-06-01T23:00:00Z")),
            ("2026-06-01T22:59:59Z", Ok("2026-06-01T23:00:00Z")),
            // At 20:00 sharp it is closed, until 09:00 the next day.
            ("2026-06-01T23:00:00Z", Err("2026-06-02T12:00:00Z")),
            // 01:00 local, already the next UTC day.
            ("2026-06-02T04:00:00Z", Err("2026-06-02T12:00:00Z")),
        ],
    );
}

#[test]
fn a_night_window_wraps_midnight() {
    assert_states(
        &window("22:00-06:00", "UTC"),
        &[
            ("2026-06-01T23:00:00Z", Ok("2026-06-02T06:00:00Z")),
            ("2026-06-02T03:00:00Z", Ok("2026-06-02T06:00:00Z")),
            ("2026-06-02T06:00:00Z", Err("2026-06-02T22:00:00Z")),
            ("2026-06-02T21:59:00Z", Err("2026-06-02T22:00:00Z")),
        ],
    );
    assert_states(
        &window("09:00-24:00", "UTC"),
        &[
            ("2026-06-01T23:59:00Z", Ok("2026-06-02T00:00:00Z")),
            ("2026-06-02T00:00:00Z", Err("2026-06-02T09:00:00Z")),
        ],
    );
}

#[test]
fn local_hours_hold_across_daylight_saving_changes() {
    // New York springs forward on 2026-03-08 (EST -5 to EDT -4): 09:00 moves from 14:00Z
    // to 13:00Z.
    assert_states(
        &window("09:00-20:00", "America/New_York"),
        &[
            ("2026-03-07T13:00:00Z", Err("2026-03-07T14:00:00Z")),
            ("2026-03-08T12:00:00Z", Err("2026-03-08T13:00:00Z")),
            ("2026-03-08T13:00:00Z", Ok("2026-03-09T00:00:00Z")),
        ],
    );
    // The night of that change is an hour shorter (22:00 EST to 06:00 EDT, 7 hours), the
    // night it falls back (2026-11-01) an hour longer (22:00 EDT to 06:00 EST, 9 hours).
    assert_states(
        &window("22:00-06:00", "America/New_York"),
        &[
            ("2026-03-08T03:00:00Z", Ok("2026-03-08T10:00:00Z")),
            ("2026-11-01T01:59:00Z", Err("2026-11-01T02:00:00Z")),
            ("2026-11-01T02:00:00Z", Ok("2026-11-01T11:00:00Z")),
        ],
    );
    // Lisbon jumps 01:00 WET -> 02:00 WEST on 2026-03-29: 09:00 is 09:00Z, then 08:00Z.
    assert_states(
        &window("09:00-20:00", "Europe/Lisbon"),
        &[
            ("2026-03-28T08:30:00Z", Err("2026-03-28T09:00:00Z")),
            ("2026-03-29T08:30:00Z", Ok("2026-03-29T19:00:00Z")),
        ],
    );
}

#[test]
fn a_window_end_that_does_not_exist_or_happens_twice_never_stretches_the_window() {
    // 02:30 does not exist in New York on 2026-03-08: the clock jumps from 02:00 EST
    // (07:00Z) to 03:00 EDT. A window ending at 02:30 closes at the jump; one starting
    // at 02:30 opens there.
    let jump = "2026-03-08T07:00:00Z";
    assert_states(
        &window("22:00-02:30", "America/New_York"),
        &[("2026-03-08T06:00:00Z", Ok(jump))],
    );
    assert_states(
        &window("02:30-05:00", "America/New_York"),
        &[("2026-03-08T06:00:00Z", Err(jump))],
    );
    // 01:30 happens twice on 2026-11-01 (EDT, then EST): the window closes at the first
    // and does not open again at the second.
    assert_states(
        &window("22:00-01:30", "America/New_York"),
        &[
            ("2026-11-01T05:00:00Z", Ok("2026-11-01T05:30:00Z")),
            ("2026-11-01T06:10:00Z", Err("2026-11-02T03:00:00Z")),
        ],
    );
    // A window entirely inside the jump is empty that day: the next one is the next day's.
    assert_states(
        &window("02:10-02:50", "America/New_York"),
        &[("2026-03-08T06:00:00Z", Err("2026-03-09T06:10:00Z"))],
    );
}

#[test]
fn sending_time_is_spent_only_while_the_window_is_open() {
    let open_for = |spec: &str, deliver_until: bool| SendWindow {
        window: window(spec, "UTC"),
        wait: false,
        deliver_until,
    };
    let w = open_for("09:00-20:00", false);
    let after = |from: &str, hours: u64| w.after_open(at(from), Duration::from_secs(hours * 3600));
    assert_eq!(after("2026-06-01T10:00:00Z", 2), at("2026-06-01T12:00:00Z"));
    assert_eq!(
        after("2026-06-01T19:00:00Z", 2),
        at("2026-06-02T10:00:00Z"),
        "overnight"
    );
    assert_eq!(
        after("2026-06-01T05:00:00Z", 1),
        at("2026-06-01T10:00:00Z"),
        "closed at first"
    );
    // 20,000 sends at 16.5 s: 91h 40m of sending, 11 hours a day: eight days and 3h 40m.
    let days = w.after_open(
        at("2026-06-01T09:00:00Z"),
        Duration::from_secs(20_000 * 33 / 2),
    );
    assert_eq!(days, at("2026-06-09T12:40:00Z"));
    let night = open_for("22:00-06:00", false);
    assert_eq!(
        night.after_open(at("2026-06-01T23:00:00Z"), Duration::from_secs(8 * 3600)),
        at("2026-06-02T23:00:00Z"),
        "a night window wraps midnight"
    );
    assert_eq!(
        w.after_open(at("2026-06-01T10:00:00Z"), Duration::MAX),
        Timestamp::MAX
    ); // With the close as the sends' deadline, each day's last minute sends nothing.
    let deadline = open_for("09:00-20:00", true);
    assert_eq!(
        deadline.after_open(at("2026-06-01T19:00:00Z"), Duration::from_secs(2 * 3600)),
        at("2026-06-02T10:01:00Z")
    );
    assert_eq!(
        deadline.after_open(at("2026-06-01T19:59:30Z"), Duration::from_secs(10)),
        at("2026-06-02T09:00:10Z"),
        "in the last minute it is already closed"
    );
}

#[test]
fn bad_windows_and_zones_are_refused_saying_how_to_fix_them() {
    for bad in [
        "9-20",
        "09:00",
        "09:00-25:00",
        "09:60-10:00",
        "9:0-10:00",
        "a-b",
        "24:00-09:00",
        "",
    ] {
        let e = Window::parse(bad, "UTC").unwrap_err();
        assert_eq!(e, WindowError::Malformed(bad.into()), "{bad}");
        assert!(e.to_string().contains("09:00-20:00"));
    }
    let e = Window::parse("09:00-09:00", "UTC").unwrap_err();
    assert!(matches!(e, WindowError::Empty(_)), "{e}");
    let e = Window::parse("09:00-20:00", "Sao Paulo").unwrap_err();
    assert!(e.to_string().contains("America/Sao_Paulo"), "{e}");
    assert_eq!(
        window(" 9:00-20:30 ", "america/sao_paulo").to_string(),
        "09:00-20:30 America/Sao_Paulo"
    );
}

fn send_window(deliver_until: bool) -> SendWindow {
    SendWindow {
        window: window("09:00-20:00", "America/Sao_Paulo"),
        wait: false,
        deliver_until,
    }
}

fn message(deliver_at: Option<&str>, deliver_until: Option<DeliverUntil>) -> Message {
    Message {
        destination: crate::message::Destination::Phone("+5511988887777".into()),
        content: crate::message::Content::Text { body: "oi".into() },
        variables: Default::default(),
        interactive: Default::default(),
        labels: Vec::new(),
        ai_rewrite: false,
        deliver_at: deliver_at.map(at),
        deliver_until,
    }
}

fn deadline(window: &SendWindow, message: &Message, when: &str) -> Option<DeliverUntil> {
    with_deadline(Some(window), message, at(when)).deliver_until
}

#[test]
fn a_send_without_a_deadline_gets_the_close_of_its_window() {
    let w = send_window(true);
    let evening = Some(DeliverUntil::At(at("2026-06-01T23:00:00Z")));
    assert_eq!(
        deadline(&w, &message(None, None), "2026-06-01T15:00:00Z"),
        evening
    );
    // Scheduled for the next morning: that day's close.
    let scheduled = message(Some("2026-06-02T13:00:00Z"), None);
    assert_eq!(
        deadline(&w, &scheduled, "2026-06-01T15:00:00Z"),
        Some(DeliverUntil::At(at("2026-06-02T23:00:00Z")))
    );
    // Its own deadline is kept, and so is a provider's lack of one.
    let own = Some(DeliverUntil::After(jiff::SignedDuration::from_hours(4)));
    assert_eq!(
        deadline(&w, &message(None, own), "2026-06-01T15:00:00Z"),
        own
    );
    assert_eq!(
        deadline(
            &send_window(false),
            &message(None, None),
            "2026-06-01T15:00:00Z"
        ),
        None
    );
    let plain = message(None, None);
    assert!(matches!(
        with_deadline(None, &plain, at("2026-06-01T15:00:00Z")),
        Cow::Borrowed(_)
    ));
}

#[tokio::test]
async fn the_last_minute_starts_no_send_that_would_get_it_as_its_deadline() {
    // 19:59:30 in São Paulo: the window closes in 30 s.
    let late = "2026-06-01T22:59:30Z";
    let clock = Clock::simulated(at(late));
    let shutdown = Shutdown::new();
    match admit(Some(&send_window(true)), &clock, &shutdown).await {
        Admission::Closed(closed) => {
            assert_eq!(closed.opens.timestamp(), at("2026-06-02T12:00:00Z"))
        }
        other => panic!("{other:?}"),
    }
    assert!(send_window(true).outlook(at(late)).contains("closed now"));
    // Without a deadline from the window, the minute is as good as any other.
    assert_eq!(
        admit(Some(&send_window(false)), &clock, &shutdown).await,
        Admission::Open(at(late))
    );
    // A send scheduled for that minute gets the next window's close, not 30 s.
    let scheduled = message(Some(late), None);
    assert_eq!(
        deadline(&send_window(true), &scheduled, "2026-06-01T15:00:00Z"),
        Some(DeliverUntil::At(at("2026-06-02T23:00:00Z")))
    );
    let minute_before = message(Some("2026-06-01T22:59:00Z"), None);
    assert_eq!(
        deadline(&send_window(true), &minute_before, "2026-06-01T15:00:00Z"),
        Some(DeliverUntil::At(at("2026-06-01T23:00:00Z")))
    );
}

#[tokio::test]
async fn closed_stops_or_waits_on_the_clock_until_it_opens() {
    let clock = Clock::simulated(at("2026-06-01T23:30:00Z"));
    let shutdown = Shutdown::new();
    let mut w = send_window(false);
    let opens = "2026-06-02T12:00:00Z";
    match admit(Some(&w), &clock, &shutdown).await {
        Admission::Closed(closed) => {
            assert_eq!(closed.opens.timestamp(), at(opens));
            assert!(
                closed.to_string().contains("Tue 2026-06-02 09:00 -03"),
                "{closed}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        clock.wall(),
        at("2026-06-01T23:30:00Z"),
        "a stop does not wait"
    );
    w.wait = true;
    assert_eq!(admit(Some(&w), &clock, &shutdown).await, Admission::Waited);
    assert_eq!(clock.wall(), at(opens));
    assert_eq!(
        admit(Some(&w), &clock, &shutdown).await,
        Admission::Open(at(opens))
    );
    assert_eq!(
        admit(None, &clock, &shutdown).await,
        Admission::Open(at(opens))
    );
}

#[tokio::test]
async fn a_stop_request_ends_the_wait() {
    let clock = Clock::real();
    let shutdown = Shutdown::new();
    shutdown.request();
    // A window that opens two hours from now: a real wait would take that long.
    let now = clock.wall().to_zoned_datetime(TimeZone::UTC);
    let hours = |h: i64| {
        now.checked_add(jiff::SignedDuration::from_hours(h))
            .unwrap()
    };
    let spec = format!(
        "{}-{}",
        hours(2).strftime("%H:%M"),
        hours(3).strftime("%H:%M")
    );
    let w = SendWindow {
        window: window(&spec, "UTC"),
        wait: true,
        deliver_until: false,
    };
    assert_eq!(admit(Some(&w), &clock, &shutdown).await, Admission::Waited);
}

#[test]
fn the_outlook_says_whether_it_is_open_and_when_it_opens() {
    let w = send_window(false);
    assert_eq!(
        w.outlook(at("2026-06-01T15:00:00Z")),
        "09:00-20:00 America/Sao_Paulo: open now, closes 20:00"
    );
    let closed = w.outlook(at("2026-06-02T02:00:00Z"));
    assert!(
        closed.starts_with(
            "09:00-20:00 America/Sao_Paulo: closed now, opens Tue 2026-06-02 09:00 -03 (in 10h 00m)"
        ),
        "{closed}"
    );
    assert!(closed.contains("--wait-for-window"), "{closed}");
}
