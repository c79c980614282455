//! The ledger's commit on a thread of its own, started once per run, so the writer's fsync
//! of a batch's lines and the ledger's commit of its sends run side by side. It used to be
//! a scoped thread per batch: a thread created and torn down every round (about ten system
//! calls each, thousands a minute at c64). The fsync stays on the writer's thread, so it
//! starts at once, never behind a thread waiting to be scheduled.

use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::journal::Record;
use crate::ledger::{LedgerError, Refusal, Sink};

/// A batch handed back, with the commit's result: the intents the run's rules refused.
pub(super) type Recorded = Result<Vec<(usize, Refusal)>, LedgerError>;

type Done = (Vec<Record>, Recorded);

/// The recording thread: handed each batch, hands it back with the commit's result.
pub(super) struct Recorder {
    ask: Option<mpsc::SyncSender<Vec<Record>>>,
    answer: mpsc::Receiver<Done>,
    thread: Option<JoinHandle<()>>,
}

impl Recorder {
    /// Starts the thread on `sink`; `None` when no thread can be had (the writer then
    /// records in line, before its fsync).
    pub(super) fn start(sink: Sink) -> Option<Recorder> {
        let (ask, asked) = mpsc::sync_channel::<Vec<Record>>(1);
        let (answered, answer) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("journal-ledger".into())
            .spawn(move || {
                for batch in asked {
                    let result = sink.record(&batch);
                    if answered.send((batch, result)).is_err() {
                        return;
                    }
                }
            })
            .ok()?;
        Some(Recorder {
            ask: Some(ask),
            answer,
            thread: Some(thread),
        })
    }

    /// Records `batch` in the ledger while `beside` runs here; returns both results once
    /// both are done (`None` for the ledger's when its thread is gone), `batch` handed back
    /// as it was (lost only with the thread: its lines are written by then).
    pub(super) fn record_while<T>(
        &self,
        batch: &mut Vec<Record>,
        beside: impl FnOnce() -> T,
    ) -> (Option<Recorded>, T) {
        let sent = match self.ask.as_ref().map(|ask| ask.send(std::mem::take(batch))) {
            Some(Ok(())) => true,
            Some(Err(mpsc::SendError(back))) => {
                *batch = back;
                false
            }
            None => false,
        };
        let done = beside();
        let recorded = sent.then(|| self.answer.recv().ok()).flatten();
        let recorded = recorded.map(|(back, recorded)| {
            *batch = back;
            recorded
        });
        (recorded, done)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        drop(self.ask.take()); // ends the thread's loop
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use super::*;
    use crate::journal::Status;
    use crate::ledger::{Ledger, SqliteLedger};

    #[test]
    fn each_batch_is_recorded_beside_the_work_and_handed_back() {
        let dir = tempfile::tempdir().unwrap();
        let ledger: Arc<dyn Ledger> =
            Arc::new(SqliteLedger::open(&dir.path().join("ledger.sqlite3")).unwrap());
        let sink = Sink {
            ledger: Arc::clone(&ledger),
            run: 7,
            results: "r.csv".into(),
            campaign: crate::ledger::Campaign::named("c".into()),
            senders: HashMap::from([(String::new(), "key:1".to_string())]),
            rules: None,
        };
        let recorder = Recorder::start(sink).unwrap();
        for round in 1..=3u64 {
            let mut batch = vec![Record {
                sent_at: "2026-11-29T10:00:00Z".into(),
                ..Record::new(round, "+5511987654321", Status::Sending)
            }];
            let (recorded, beside) = recorder.record_while(&mut batch, || round * 10);
            let refused = recorded.expect("the thread answers").unwrap();
            assert!(refused.is_empty(), "no rules, no refusals");
            assert_eq!(beside, round * 10);
            assert_eq!(batch.len(), 1, "the batch comes back");
            assert_eq!(ledger.sends_since("key:1", (0, i64::MAX)).unwrap(), round);
        }
    }
}
