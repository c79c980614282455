//! One source of time for pacing, retries, schedules and timestamps.
//!
//! Production uses the real clock. Tests inject a simulated clock, so hours of an 8–25 s
//! marketing pace (and every `Retry-After`) run in milliseconds while the HTTP traffic stays
//! real. tokio's paused clock cannot do that: it auto-advances while a request waits on the
//! socket and fires its timeout.
//!
//! The simulated clock is a small virtual-time scheduler. A sleep registers its wake-up
//! instant; time jumps to the earliest pending wake-up only when nobody is busy, so concurrent
//! sleeps overlap as they do in real time (two 5 s sleeps end together at +5 s) and no time
//! passes while real work is under way. Busy means one of:
//! - a *participant* ([`Clock::participate`], one per send) that is not waiting on this
//!   clock: it is running, or waiting on real work (a request, an fsync), which takes no
//!   simulated time. A participant waiting on a lock whose holder sleeps says so with
//!   [`Clock::waiting`];
//! - a sleep outside any participant that has ended but whose owner has not yet run on.
//!
//! Whatever a [`Clock::scope`] polls counts as one step: time moves only once its poll ends,
//! so a dispatcher can replace a finished send by the next before the clock moves on.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use jiff::Timestamp;

/// A monotonic instant: the time elapsed since the clock was created.
pub type Instant = Duration;

/// The clock every time-dependent part of a run shares.
#[derive(Debug, Clone)]
pub struct Clock {
    origin_wall: Timestamp,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Real(std::time::Instant),
    Virtual(Arc<Scheduler>),
}

impl Clock {
    /// The wall clock, for real campaigns.
    pub fn real() -> Clock {
        Clock {
            origin_wall: Timestamp::now(),
            kind: Kind::Real(std::time::Instant::now()),
        }
    }

    /// A simulated clock starting at `start`: time moves only by sleeping, and only as far as
    /// the earliest wake-up once nobody is busy (see the module documentation).
    pub fn simulated(start: Timestamp) -> Clock {
        Clock {
            origin_wall: start,
            kind: Kind::Virtual(Arc::default()),
        }
    }

    /// Monotonic now, for measuring waits.
    pub fn now(&self) -> Instant {
        match &self.kind {
            Kind::Real(origin) => origin.elapsed(),
            Kind::Virtual(scheduler) => scheduler.state().now,
        }
    }

    /// Calendar now, for `sentAt`, schedules and send windows (the last representable
    /// instant rather than an overflow).
    pub fn wall(&self) -> Timestamp {
        let elapsed = self.now();
        self.origin_wall
            .checked_add(elapsed)
            .unwrap_or(Timestamp::MAX)
    }

    /// Moves a simulated clock forward to `wall` at once (a test's next run, the next
    /// morning), ending every sleep it passes. The real clock cannot be moved, nor any clock
    /// backward: both are left as they are.
    pub fn advance_to(&self, wall: Timestamp) {
        let Kind::Virtual(scheduler) = &self.kind else {
            return;
        };
        let Ok(target) = Duration::try_from(wall.duration_since(self.origin_wall)) else {
            return;
        };
        let woken = {
            let mut state = scheduler.state();
            state.now = state.now.max(target);
            state.fire_due()
        };
        woken.into_iter().for_each(Waker::wake);
    }

    /// Waits `duration` on this clock. Any duration is safe: the simulated clock saturates,
    /// and tokio's timer treats an unreachable deadline as "never".
    pub async fn sleep(&self, duration: Duration) {
        match &self.kind {
            Kind::Real(_) => tokio::time::sleep(duration).await,
            Kind::Virtual(scheduler) => {
                let mut sleep = Sleep {
                    scheduler,
                    duration,
                    entry: None,
                };
                poll_fn(|cx| sleep.poll(cx)).await;
            }
        }
    }

    /// Waits until the monotonic instant `deadline` (at once if it has passed).
    pub async fn sleep_until(&self, deadline: Instant) {
        let now = self.now();
        if deadline > now {
            self.sleep(deadline - now).await;
        }
    }

    /// Runs `future` as one participant: on a simulated clock, time stands still while it is
    /// busy (running, or waiting on anything but this clock). It counts from this call, not
    /// from its first poll, so a send queued to start cannot be overtaken by the clock. On
    /// the real clock, just `future`.
    pub fn participate<F: Future>(&self, future: F) -> impl Future<Output = F::Output> {
        let member = match &self.kind {
            Kind::Virtual(scheduler) => Some(Member::join(scheduler)),
            Kind::Real(_) => None,
        };
        async move {
            let mut future = pin!(future);
            match member {
                Some(member) => poll_fn(|cx| member.poll(future.as_mut(), cx)).await,
                None => future.await,
            }
        }
    }

    /// Awaits `future` as a wait on this clock: for a lock (the pacer's turn) whose holder is
    /// asleep on the clock, so its waiters do not keep time standing still. Outside a
    /// participant, or on the real clock, just `future`.
    pub async fn waiting<F: Future>(&self, future: F) -> F::Output {
        let Kind::Virtual(scheduler) = &self.kind else {
            return future.await;
        };
        let mut future = pin!(future);
        let mut wait = Wait {
            scheduler,
            owner: None,
        };
        poll_fn(|cx| {
            let output = future.as_mut().poll(cx);
            match output {
                Poll::Ready(_) => wait.end(),
                Poll::Pending => wait.begin(),
            }
            output
        })
        .await
    }

    /// Polls `future` as one step: time moves only when a poll of it ends, never while it
    /// replaces finished participants by new ones. On the real clock, just `future`.
    pub async fn scope<F: Future>(&self, future: F) -> F::Output {
        let Kind::Virtual(scheduler) = &self.kind else {
            return future.await;
        };
        let mut future = pin!(future);
        poll_fn(|cx| {
            let outer = Polling::enter(Polling::get().current);
            let output = future.as_mut().poll(cx);
            outer.restore(scheduler);
            output
        })
        .await
    }
}

/// governor reads the same clock, so quota and spacing agree on what time it is.
impl governor::clock::Clock for Clock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        Clock::now(self)
    }
}

/// The simulated clock's shared state.
#[derive(Debug, Default)]
struct Scheduler {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    now: Duration,
    /// Pending sleeps by wake-up instant, then registration order.
    sleepers: BTreeMap<(Duration, u64), Sleeper>,
    participants: HashMap<u64, Participant>,
    /// Sleeps outside any participant that have ended but not yet been seen by their owner.
    woken_outside: usize,
    next_id: u64,
}

#[derive(Debug)]
struct Sleeper {
    waker: Waker,
    owner: Option<u64>,
}

#[derive(Debug)]
struct Participant {
    /// Sleeps and [`Clock::waiting`] waits pending.
    waits: usize,
    busy: bool,
    /// Woken during its current poll: it has more to do at once.
    woken: bool,
}

impl Scheduler {
    /// A poisoned lock only means a panicking test thread; the state is still consistent.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves time on if nobody is busy, then wakes the sleepers it reached (outside the lock).
    fn settle(&self) {
        let woken = self.state().settle();
        woken.into_iter().for_each(Waker::wake);
    }

    /// Identifies this scheduler in the thread-local [`Polling`] record.
    fn address(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }
}

impl State {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// While nobody is busy, jumps to the earliest wake-up and ends the sleeps due by then.
    fn settle(&mut self) -> Vec<Waker> {
        let mut woken = Vec::new();
        while self.woken_outside == 0 && !self.participants.values().any(|p| p.busy) {
            let Some(&(deadline, _)) = self.sleepers.keys().next() else {
                break;
            };
            self.now = self.now.max(deadline);
            woken.extend(self.fire_due());
        }
        woken
    }

    /// Ends every sleep due by now; their owners become busy until they run on.
    fn fire_due(&mut self) -> Vec<Waker> {
        let mut woken = Vec::new();
        while let Some(entry) = self.sleepers.first_entry()
            && entry.key().0 <= self.now
        {
            let sleeper = entry.remove();
            match sleeper.owner {
                Some(id) => {
                    if let Some(participant) = self.participants.get_mut(&id) {
                        participant.waits -= 1;
                        participant.busy = true;
                    }
                }
                None => self.woken_outside += 1,
            }
            woken.push(sleeper.waker);
        }
        woken
    }

    /// The participant being polled on this thread, if it belongs to this scheduler.
    fn current(&self, scheduler: &Scheduler) -> Option<u64> {
        Polling::get()
            .current
            .filter(|(address, _)| *address == scheduler.address())
            .map(|(_, id)| id)
            .filter(|id| self.participants.contains_key(id))
    }
}

/// What this thread is polling: the innermost participant (scheduler address, id), and how
/// many participants and scopes enclose the poll (time moves only when the outermost ends).
#[derive(Debug, Clone, Copy, Default)]
struct Polling {
    current: Option<(usize, u64)>,
    depth: usize,
}

thread_local! {
    static POLLING: Cell<Polling> = const { Cell::new(Polling { current: None, depth: 0 }) };
}

impl Polling {
    fn get() -> Polling {
        POLLING.get()
    }

    /// Enters a nested poll on behalf of `current`; returns the record to restore.
    fn enter(current: Option<(usize, u64)>) -> Polling {
        let outer = Polling::get();
        POLLING.set(Polling {
            current,
            depth: outer.depth + 1,
        });
        outer
    }

    /// Leaves a nested poll; the outermost one lets time move on.
    fn restore(self, scheduler: &Scheduler) {
        POLLING.set(self);
        if self.depth == 0 {
            scheduler.settle();
        }
    }
}

/// One simulated sleep; registered on its first poll.
struct Sleep<'a> {
    scheduler: &'a Scheduler,
    duration: Duration,
    /// Its key in `sleepers` and its owner, once registered.
    entry: Option<((Duration, u64), Option<u64>)>,
}

impl Sleep<'_> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.scheduler.state();
        let Some((key, owner)) = self.entry else {
            let deadline = state.now.saturating_add(self.duration);
            if deadline <= state.now {
                return Poll::Ready(());
            }
            let key = (deadline, state.id());
            let owner = state.current(self.scheduler);
            if let Some(participant) = owner.and_then(|id| state.participants.get_mut(&id)) {
                participant.waits += 1;
            }
            let waker = cx.waker().clone();
            state.sleepers.insert(key, Sleeper { waker, owner });
            self.entry = Some((key, owner));
            if owner.is_none() && Polling::get().depth == 0 {
                // Outside a participant: a round for whoever else is about to sleep too,
                // then this sleep moves the clock on itself.
                cx.waker().wake_by_ref();
            }
            return Poll::Pending;
        };
        if !state.sleepers.contains_key(&key) {
            self.entry = None;
            self.duration = Duration::ZERO;
            if owner.is_none() {
                drop(state);
                self.seen();
            }
            return Poll::Ready(());
        }
        if owner.is_none() && Polling::get().depth == 0 {
            drop(state);
            self.scheduler.settle();
            state = self.scheduler.state();
            if !state.sleepers.contains_key(&key) {
                drop(state);
                return self.poll(cx);
            }
        }
        if let Some(sleeper) = state.sleepers.get_mut(&key) {
            sleeper.waker.clone_from(cx.waker());
        }
        Poll::Pending
    }

    /// An ended sleep outside any participant has been seen or abandoned: once no
    /// such sleep is pending a look, every sleeper looks at the clock again, so one of them
    /// moves it on.
    fn seen(&self) {
        let wakers: Vec<Waker> = {
            let mut state = self.scheduler.state();
            state.woken_outside -= 1;
            if state.woken_outside > 0 {
                return;
            }
            state.sleepers.values().map(|s| s.waker.clone()).collect()
        };
        wakers.into_iter().for_each(Waker::wake);
    }
}

impl Drop for Sleep<'_> {
    /// An abandoned sleep (a `select!` that woke for another reason) stops counting.
    fn drop(&mut self) {
        let Some((key, owner)) = self.entry else {
            return;
        };
        let mut state = self.scheduler.state();
        if state.sleepers.remove(&key).is_some() {
            if let Some(participant) = owner.and_then(|id| state.participants.get_mut(&id)) {
                participant.waits -= 1;
            }
        } else if owner.is_none() {
            drop(state);
            self.seen();
        }
    }
}

/// A [`Clock::waiting`] wait, counted on its participant while pending.
struct Wait<'a> {
    scheduler: &'a Scheduler,
    owner: Option<u64>,
}

impl Wait<'_> {
    fn begin(&mut self) {
        if self.owner.is_some() {
            return;
        }
        let mut state = self.scheduler.state();
        self.owner = state.current(self.scheduler);
        if let Some(participant) = self.owner.and_then(|id| state.participants.get_mut(&id)) {
            participant.waits += 1;
        }
    }

    fn end(&mut self) {
        let Some(id) = self.owner.take() else {
            return;
        };
        if let Some(participant) = self.scheduler.state().participants.get_mut(&id) {
            participant.waits -= 1;
        }
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        self.end();
    }
}

/// A participant's membership: registered when created, removed when dropped.
struct Member {
    scheduler: Arc<Scheduler>,
    id: u64,
}

impl Member {
    fn join(scheduler: &Arc<Scheduler>) -> Member {
        let mut state = scheduler.state();
        let id = state.id();
        state.participants.insert(
            id,
            Participant {
                waits: 0,
                busy: true,
                woken: false,
            },
        );
        Member {
            scheduler: Arc::clone(scheduler),
            id,
        }
    }

    /// Polls the participant's future with a waker that marks it busy when anything wakes
    /// it; afterwards it is idle if it waits on the clock and nothing woke it meanwhile.
    fn poll<F: Future>(&self, future: Pin<&mut F>, cx: &mut Context<'_>) -> Poll<F::Output> {
        if let Some(participant) = self.scheduler.state().participants.get_mut(&self.id) {
            participant.busy = true;
            participant.woken = false;
        }
        let waker = Waker::from(Arc::new(Hook {
            scheduler: Arc::clone(&self.scheduler),
            id: self.id,
            waker: cx.waker().clone(),
        }));
        let outer = Polling::enter(Some((self.scheduler.address(), self.id)));
        let output = future.poll(&mut Context::from_waker(&waker));
        if let Some(participant) = self.scheduler.state().participants.get_mut(&self.id) {
            participant.busy = output.is_ready() || participant.woken || participant.waits == 0;
        }
        outer.restore(&self.scheduler);
        output
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.scheduler.state().participants.remove(&self.id);
        if Polling::get().depth == 0 {
            self.scheduler.settle();
        }
    }
}

/// A participant's waker: whatever wakes it makes it busy before it runs.
struct Hook {
    scheduler: Arc<Scheduler>,
    id: u64,
    waker: Waker,
}

impl Wake for Hook {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(participant) = self.scheduler.state().participants.get_mut(&self.id) {
            participant.busy = true;
            participant.woken = true;
        }
        self.waker.wake_by_ref();
    }
}

#[cfg(test)]
mod tests;
