//! WAL checkpoints off the writer's path. SQLite checkpoints in the connection whose commit
//! pushed the WAL past its threshold, and that commit is the journal writer's round, which
//! every waiting send waits for. A thread of its own with its own connection copies the WAL
//! into the database between the writer's commits instead (PASSIVE: it never blocks a
//! writer or a reader); the writer's automatic checkpoint stays as a backstop.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use rusqlite::Connection;

/// Commits between two checkpoints: a few hundred WAL pages at the c64 batch sizes, below
/// SQLite's default threshold of 1,000.
const COMMITS: u64 = 16;

/// WAL pages at which the writer's own commit checkpoints anyway, should this thread fall
/// behind (or be missing).
pub const BACKSTOP_PAGES: i64 = 4_000;

#[derive(Default)]
struct State {
    commits: u64,
    closing: bool,
}

/// The checkpointing thread; stopped (and joined) when dropped.
pub struct Checkpointer {
    state: Arc<(Mutex<State>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Checkpointer")
    }
}

impl Checkpointer {
    /// Starts the thread on `connection`; `None` when no thread can be had (the writer's
    /// automatic checkpoints then do it all).
    pub fn start(connection: Connection) -> Option<Checkpointer> {
        let state = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let shared = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("ledger-checkpoint".into())
            .spawn(move || run(&connection, &shared))
            .ok()?;
        Some(Checkpointer {
            state,
            thread: Some(thread),
        })
    }

    /// Counts one commit of the writer; every [`COMMITS`] the thread checkpoints.
    pub fn committed(&self) {
        let (lock, wake) = &*self.state;
        let mut state = lock.lock().unwrap_or_else(PoisonError::into_inner);
        state.commits += 1;
        if state.commits == COMMITS {
            wake.notify_one();
        }
    }
}

fn run(connection: &Connection, state: &(Mutex<State>, Condvar)) {
    let (lock, wake) = state;
    loop {
        {
            let mut state = lock.lock().unwrap_or_else(PoisonError::into_inner);
            while state.commits < COMMITS && !state.closing {
                state = wake.wait(state).unwrap_or_else(PoisonError::into_inner);
            }
            if state.closing {
                return;
            }
            state.commits = 0;
        }
        // A failed or partial checkpoint is no loss: the next one, or the backstop, does it.
        let _ = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (lock, wake) = &*self.state;
        lock.lock().unwrap_or_else(PoisonError::into_inner).closing = true;
        wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
