//! The live view of a long pass (a send, a `status` pass): how far it is, how long it has
//! run, how fast it goes, what it waits for (the next send's turn, the send window) and when
//! it ends by its pacing. On a terminal a bar redrawn every second; otherwise (cron, a pipe)
//! a log line at most once a minute, JSON under `--log-format json`.

use std::fmt;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use jiff::{Timestamp, ZonedDateTime};

use crate::clock::{Clock, Instant};
use crate::fmt::human;
use crate::journal::Status;
use crate::pacing::{NextStart, Rate};
use crate::window::{SendWindow, State};

use super::eta::{self, Pace};
use super::logging::{json_logs, set_bar};

/// The plain log line's period: often enough for a cron log, rare enough to read.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// What a pass does, for the view's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    Sends,
    Lookups,
}

impl Work {
    /// What a done item is: `12/300 rows done` (a row is done when it is final: sent,
    /// refused, invalid or skipped; the counts after it say which), `4/5 looked up`.
    fn done(self) -> &'static str {
        match self {
            Work::Sends => "rows done",
            Work::Lookups => "looked up",
        }
    }

    /// One start: `next send in 12s`.
    fn one(self) -> &'static str {
        match self {
            Work::Sends => "send",
            Work::Lookups => "lookup",
        }
    }
}

/// What the view follows: the items, the starts left, and how they are paced.
pub struct Plan {
    pub work: Work,
    /// Items in the view, those done before this run included.
    pub total: u64,
    /// Items already done before this run.
    pub done: u64,
    /// Requests (sends or lookups) this run still has to start: the ETA counts them.
    pub starts: u64,
    pub pace: Pace,
    /// The daily send window: its closed hours hold the sends and count in the ETA.
    pub window: Option<SendWindow>,
    /// Where each lane's pacer publishes its next start.
    pub next: Vec<NextStart>,
}

/// A live view of a pass; see the module documentation. Cheap to share: the journal reports
/// accepted rows to it from its own thread.
pub struct Progress {
    view: Arc<View>,
    bar: Option<ProgressBar>,
    /// The task that logs a line a minute, when there is no bar.
    ticker: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Progress {
    /// A view of `plan` on `clock`: a bar when `show` and stderr is a terminal (and the log
    /// is text), else log lines when `show`, else nothing. Call within a tokio runtime.
    pub fn new(plan: Plan, clock: Clock, show: bool) -> Progress {
        let view = Arc::new(View {
            started: clock.now(),
            clock,
            counts: Counts::default(),
            last_line: Mutex::new(None),
            plan,
        });
        let terminal = std::io::stderr().is_terminal() && !json_logs();
        let bar = (show && terminal).then(|| draw(&view));
        let ticker = (show && !terminal).then(|| {
            let view = Arc::clone(&view);
            tokio::spawn(async move {
                loop {
                    view.log_line(false);
                    view.clock.sleep(LOG_EVERY).await;
                }
            })
        });
        Progress {
            view,
            bar,
            ticker: Mutex::new(ticker),
        }
    }

    /// The view of a `status` pass: `total` lookups at `rate`, one lane, shown unless the log
    /// is quieter than info (`-q`).
    pub fn lookups(total: u64, rate: Rate, next: NextStart, clock: &Clock) -> Progress {
        let plan = Plan {
            work: Work::Lookups,
            total,
            done: 0,
            starts: total,
            pace: Pace {
                gap: rate.interval(),
                lanes: 1,
            },
            window: None,
            next: vec![next],
        };
        Progress::new(plan, clock.clone(), tracing::enabled!(tracing::Level::INFO))
    }

    /// Counts one row of a send that reached a status in this run.
    pub fn row_done(&self, status: Status) {
        let counts = &self.view.counts;
        match status {
            Status::Queued => counts.queued.fetch_add(1, Ordering::Relaxed),
            Status::Failed | Status::Uncertain => counts.failed.fetch_add(1, Ordering::Relaxed),
            Status::Invalid | Status::Skipped | Status::Sending | Status::Deferred => 0,
        };
        let started = matches!(status, Status::Queued | Status::Failed | Status::Uncertain);
        self.advance(started);
    }

    /// Counts one lookup done.
    pub fn step(&self) {
        self.advance(true);
    }

    fn advance(&self, started: bool) {
        let counts = &self.view.counts;
        counts.done.fetch_add(1, Ordering::Relaxed);
        if started {
            counts.started.fetch_add(1, Ordering::Relaxed);
        }
        match &self.bar {
            Some(bar) => bar.inc(1),
            None => self.view.log_line(true),
        }
    }

    /// Removes the bar (before the summary is printed) and stops the log lines.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            set_bar(None);
        }
        let ticker = self
            .ticker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(ticker) = ticker {
            ticker.abort();
        }
    }
}

/// The bar, redrawn every second with a fresh [`Snapshot`] (the wait counts down between
/// sends), registered so log lines print above it.
fn draw(view: &Arc<View>) -> ProgressBar {
    let plan = &view.plan;
    let bar = ProgressBar::with_draw_target(Some(plan.total), ProgressDrawTarget::stderr());
    let shown = Arc::clone(view);
    let style = ProgressStyle::with_template("{bar:30.green/dim} {view}")
        .expect("a valid template")
        .with_key(
            "view",
            move |_: &ProgressState, out: &mut dyn fmt::Write| {
                let _ = write!(out, "{}", shown.snapshot());
            },
        );
    bar.set_style(style);
    bar.set_position(plan.done);
    bar.enable_steady_tick(Duration::from_secs(1));
    set_bar(Some(bar.clone()));
    bar
}

#[derive(Default)]
struct Counts {
    /// Items done in this run.
    done: AtomicU64,
    /// Requests started in this run (a row found invalid is done without one).
    started: AtomicU64,
    queued: AtomicU64,
    failed: AtomicU64,
}

/// What the bar and the log lines read.
struct View {
    plan: Plan,
    clock: Clock,
    started: Instant,
    counts: Counts,
    /// When the last log line was written.
    last_line: Mutex<Option<Instant>>,
}

impl View {
    /// The view now.
    fn snapshot(&self) -> Snapshot {
        let (now, wall) = (self.clock.now(), self.clock.wall());
        let started = self.counts.started.load(Ordering::Relaxed);
        let next = self
            .plan
            .next
            .iter()
            .map(NextStart::get)
            .filter(|at| *at > now)
            .min()
            .map(|at| at - now);
        let wait = match self.plan.window.as_ref().map(|w| w.state(wall)) {
            Some(State::Closed { opens, .. }) => Wait::Window(opens),
            // A turn less than a second off is not worth a word.
            _ => next
                .filter(|next| *next >= Duration::from_secs(1))
                .map_or(Wait::Nothing, Wait::Next),
        };
        let from = match next {
            Some(next) => wall.checked_add(next).unwrap_or(Timestamp::MAX),
            None => wall,
        };
        let left = self.plan.starts.saturating_sub(started);
        let last = eta::finish(self.plan.pace, left, self.plan.window.as_ref(), from);
        Snapshot {
            work: self.plan.work,
            done: self.plan.done + self.counts.done.load(Ordering::Relaxed),
            total: self.plan.total,
            elapsed: now.saturating_sub(self.started),
            started,
            queued: self.counts.queued.load(Ordering::Relaxed),
            failed: self.counts.failed.load(Ordering::Relaxed),
            wait,
            wall,
            eta: Duration::try_from(wall.duration_until(last)).unwrap_or_default(),
        }
    }

    /// Whether the send window holds the sends now.
    fn window_closed(&self) -> bool {
        let window = self.plan.window.as_ref();
        window.is_some_and(|w| matches!(w.state(self.clock.wall()), State::Closed { .. }))
    }

    /// Logs the view unless a line went out less than a minute ago. A first line waits for
    /// news (an item done, a closed window), so a quick pass logs none.
    fn log_line(&self, news: bool) {
        let now = self.clock.now();
        let mut last = self
            .last_line
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let due = match *last {
            Some(at) => now.saturating_sub(at) >= LOG_EVERY,
            None => news || self.window_closed(),
        };
        if !due {
            return;
        }
        *last = Some(now);
        drop(last);
        let snapshot = self.snapshot();
        let (next_in, opens) = match &snapshot.wait {
            Wait::Next(next) => (Some(next.as_secs()), None),
            Wait::Window(opens) => (None, Some(opens.timestamp())),
            Wait::Nothing => (None, None),
        };
        if !json_logs() {
            tracing::info!("{snapshot}");
            return;
        }
        tracing::info!(
            done = snapshot.done,
            total = snapshot.total,
            elapsed_secs = snapshot.elapsed.as_secs(),
            per_minute = snapshot.per_minute(),
            next_in_secs = next_in,
            window_opens = opens.map(tracing::field::display),
            eta_secs = snapshot.eta.as_secs(),
            "{snapshot}"
        );
    }
}

/// What the pass waits for now.
#[derive(Debug, Clone, PartialEq)]
enum Wait {
    Nothing,
    /// The pacer's next turn, this far off.
    Next(Duration),
    /// The send window, closed until then.
    Window(ZonedDateTime),
}

/// The view at one instant, as one line: `12/300 rows done · elapsed 3m 05s · 3.9/min · next
/// send in 12s · ETA 1h 02m · 11 queued, 1 not accepted`.
#[derive(Debug, Clone, PartialEq)]
struct Snapshot {
    work: Work,
    done: u64,
    total: u64,
    elapsed: Duration,
    /// Requests started in this run, for the rate.
    started: u64,
    queued: u64,
    failed: u64,
    wait: Wait,
    wall: Timestamp,
    eta: Duration,
}

impl Snapshot {
    /// Requests per minute over the whole run so far (not the last few), counted over at
    /// least a minute: the first send, a few milliseconds in, is 1/min, not 12,000/min.
    fn per_minute(&self) -> f64 {
        let minutes = self.elapsed.as_secs_f64().max(60.0) / 60.0;
        self.started as f64 / minutes
    }
}

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} {} · elapsed {}",
            self.done,
            self.total,
            self.work.done(),
            human(self.elapsed)
        )?;
        write!(f, " · {:.1}/min", self.per_minute())?;
        match &self.wait {
            Wait::Nothing => {}
            Wait::Next(next) => write!(f, " · next {} in {}", self.work.one(), human(*next))?,
            Wait::Window(opens) => {
                let wait = Duration::try_from(self.wall.duration_until(opens.timestamp()));
                write!(
                    f,
                    " · window opens at {} (in {})",
                    opens.strftime("%H:%M"),
                    human(wait.unwrap_or_default())
                )?;
            }
        }
        write!(f, " · ETA {}", eta::span(self.eta))?;
        if self.work == Work::Sends {
            write!(f, " · {} queued, {} not accepted", self.queued, self.failed)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(wait: Wait) -> Snapshot {
        Snapshot {
            work: Work::Sends,
            done: 12,
            total: 300,
            elapsed: Duration::from_secs(185),
            started: 12,
            queued: 11,
            failed: 1,
            wait,
            wall: "2026-06-01T05:48:00Z".parse().unwrap(),
            eta: Duration::from_secs(3720),
        }
    }

    #[test]
    fn the_line_tells_elapsed_rate_the_wait_and_the_eta() {
        let spacing = snapshot(Wait::Next(Duration::from_secs(12))).to_string();
        assert_eq!(
            spacing,
            "12/300 rows done · elapsed 3m 05s · 3.9/min · next send in 12s · ETA 1h 02m · 11 queued, 1 not accepted"
        );
        let opens = "2026-06-01T09:00:00Z[UTC]".parse().unwrap();
        let window = snapshot(Wait::Window(opens)).to_string();
        assert!(
            window.contains(" · window opens at 09:00 (in 3h 12m) · "),
            "{window}"
        );
        let lookups = Snapshot {
            work: Work::Lookups,
            elapsed: Duration::from_millis(10),
            ..snapshot(Wait::Nothing)
        };
        assert_eq!(
            lookups.to_string(),
            "12/300 looked up · elapsed 10ms · 12.0/min · ETA 1h 02m"
        );
    }
}
