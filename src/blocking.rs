//! Cold blocking work (opening and compacting the results file, the preflight's full read of
//! the input, a status pass's fsyncs, a prompt on stdin) kept off the runtime's workers.

use tokio::runtime::{Handle, RuntimeFlavor};

/// Runs `work` on this thread after handing the worker's other tasks (signal handling, the
/// in-process sandbox, reqwest's connections) to another thread, so they never wait behind
/// a disk or a person. It borrows what it needs, which `spawn_blocking` could not. On a
/// current-thread runtime, which has no other thread to hand them to, it simply runs.
pub(crate) fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_inline_outside_a_runtime_and_on_a_current_thread_one() {
        assert_eq!(blocking(|| 1), 1);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(runtime.block_on(async { blocking(|| 2) }), 2);
    }

    #[test]
    fn frees_the_worker_on_a_multi_thread_runtime() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let value = runtime.block_on(async {
            tokio::spawn(async {
                // The only worker blocks until another task on the runtime has run.
                let (ran, wait) = std::sync::mpsc::channel();
                let other = tokio::spawn(async move { ran.send(()).unwrap() });
                // Bounded: only a broken hand-over ever waits.
                let waited = blocking(|| wait.recv_timeout(std::time::Duration::from_secs(20)));
                assert!(waited.is_ok(), "the other task never ran");
                other.await.unwrap();
                3
            })
            .await
            .unwrap()
        });
        assert_eq!(value, 3);
    }
}
