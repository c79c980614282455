//! Stopping cleanly: the first SIGINT/SIGTERM (or SIGHUP: the terminal or ssh session that
//! ran a long campaign closed) lets the send in flight finish and be recorded, then the run
//! exits 3; a second signal exits at once. Both are safe because the intent is already on
//! disk: the worst case is one row a rerun reports as `UNCERTAIN`. A SIGHUP ignored when the
//! run started (`nohup`) stays ignored: the run was asked to outlive its terminal.

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

    /// Listens for SIGINT, SIGTERM and SIGHUP (unless ignored, see the module's note): the
    /// first requests a stop, the second exits 3 now.
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
        let mut hup = (!ignored(libc::SIGHUP))
            .then(|| signal(SignalKind::hangup()).ok())
            .flatten();
        let hangup = async move |hup: &mut Option<tokio::signal::unix::Signal>| match hup {
            Some(hup) => hup.recv().await,
            None => std::future::pending().await,
        };
        let shutdown = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
                _ = hangup(&mut hup) => {}
            }
            // Requested before it is said, so the line means the stop is in effect.
            shutdown.request();
            tracing::warn!(
                "stopping: no new send will start; the one in flight is finished and recorded (Ctrl-C again to quit now)"
            );
            // Only a deliberate second signal quits at once: a closing terminal may send
            // SIGHUP twice (the shell's, then the kernel's to the foreground group).
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

/// Whether `signal`'s disposition is "ignore" (as `nohup` leaves SIGHUP), read from the
/// kernel's `SigIgn` mask in `/proc/self/status`, so nothing changes it. Where that cannot be
/// read, taken as ignored: the signal then keeps its default action, as before this was
/// handled, rather than stop a run that `nohup` told to outlive its terminal.
fn ignored(signal: libc::c_int) -> bool {
    let mask = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let hex = status.lines().find_map(|l| l.strip_prefix("SigIgn:"))?;
            u64::from_str_radix(hex.trim(), 16).ok()
        });
    let bit = u32::try_from(signal - 1)
        .ok()
        .and_then(|b| 1u64.checked_shl(b));
    match (mask, bit) {
        (Some(mask), Some(bit)) => mask & bit != 0,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_ignored_signal_reads_as_ignored() {
        // Rust's runtime ignores SIGPIPE before main; SIGTERM keeps its default.
        assert!(super::ignored(libc::SIGPIPE));
        assert!(!super::ignored(libc::SIGTERM));
    }
}
