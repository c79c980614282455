//! Stopping cleanly: the first SIGINT/SIGTERM lets the send in flight finish and be
//! recorded, then the run exits 3; a second SIGINT exits at once. Both are safe because the
//! intent is already on disk: the worst case is one row a rerun reports as `UNCERTAIN`.

use tokio::sync::watch;

/// A stop request shared by everything that waits, so no new send starts after it.
#[derive(Debug, Clone)]
pub struct Shutdown {
    sender: std::sync::Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl Shutdown {
    /// A fresh, un-requested stop.
    pub fn new() -> Shutdown {
        Shutdown {
            sender: std::sync::Arc::new(watch::channel(false).0),
        }
    }

    /// Asks every waiter to stop.
    pub fn request(&self) {
        self.sender.send_replace(true);
    }

    /// Whether a stop was asked for.
    pub fn is_requested(&self) -> bool {
        *self.sender.borrow()
    }

    /// Resolves when a stop is asked for; races a wait with `select!`.
    pub async fn requested(&self) {
        let mut receiver = self.sender.subscribe();
        let _ = receiver.wait_for(|stop| *stop).await;
    }

    /// Listens for SIGINT and SIGTERM: the first requests a stop, the second SIGINT exits 3 now.
    ///
    /// The handlers are installed before this returns: a task that installs them when it is
    /// first polled may not run before the signal arrives (a task spawned onto a busy worker
    /// waits in its slot), and the default action of SIGINT kills the process mid-send.
    pub fn listen_for_signals(&self) {
        use tokio::signal::unix::{SignalKind, signal};
        let (mut int, mut term) = match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(int), Ok(term)) => (int, term),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!("cannot listen for SIGINT/SIGTERM: {e}");
                return;
            }
        };
        let shutdown = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            // Requested before it is said, so the line means the stop is in effect.
            shutdown.request();
            tracing::warn!(
                "stopping: no new send will start; the one in flight is finished and recorded (Ctrl-C again to quit now)"
            );
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            // Through the log, so that with --log-format json this line is JSON too.
            tracing::error!(
                "quitting now; a send that was in flight will show as UNCERTAIN on the next run"
            );
            std::process::exit(3);
        });
    }
}
