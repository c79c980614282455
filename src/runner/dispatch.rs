//! The second pass: rows in order, each to its sender's lane, with a bounded read-ahead.

use std::collections::VecDeque;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;

use crate::input::{CsvInput, Row, Verdict};

use super::resume::{keeps_record, needs_send, settled_cell};
use super::stop::Stop;
use super::{RunError, Runner};

/// The send pass's bookkeeping: rows waiting for their lane, sends in flight per lane, and
/// the lanes that stopped.
pub(super) struct Dispatch {
    queues: Vec<VecDeque<Row>>,
    busy: Vec<usize>,
    stopped: Vec<Option<Stop>>,
    /// Rows read ahead and not yet started, across lanes.
    waiting: usize,
}

impl Runner<'_> {
    /// The second pass: rows in order, each sender's rows in its own lane with up to
    /// `concurrency` in flight, until the end or a stop. A stop (signal, disk, or every lane
    /// stopped) lets sends already in flight finish and be recorded; nothing new starts.
    /// Returns each stop with the label of the lane it stopped ("" for the whole run).
    pub(super) async fn send_all(&self, input: CsvInput) -> Result<Vec<(String, Stop)>, RunError> {
        let lanes = self.lanes.len();
        let concurrency = self.settings.concurrency;
        // Rows read ahead, so a lane waiting for its spacing does not hold the others back.
        let read_ahead = lanes * concurrency * 4;
        let mut dispatch = Dispatch {
            queues: (0..lanes).map(|_| VecDeque::new()).collect(),
            busy: vec![0; lanes],
            stopped: (0..lanes).map(|_| None).collect(),
            waiting: 0,
        };
        let mut in_flight = FuturesUnordered::new();
        let mut stop = None;
        let mut failure = None;
        let mut rows = input;
        let mut exhausted = false;
        loop {
            while !exhausted
                && stop.is_none()
                && failure.is_none()
                && dispatch.waiting + in_flight.len() < read_ahead
            {
                if self.context.shutdown.is_requested() {
                    stop = Some(Stop::Shutdown);
                    break;
                }
                let settled = |i| settled_cell(self.journal.prior(i), self.settings);
                match rows.next_row(settled) {
                    // Settled for good and unchanged: nothing to send or record.
                    Some(Ok(row)) if row.verdict == Verdict::Unchanged => {}
                    // Reached the API for good: its record stands, whatever the row says now.
                    Some(Ok(row))
                        if !matches!(row.verdict, Verdict::Send(_))
                            && keeps_record(self.journal.prior(row.index), self.settings) => {}
                    Some(Ok(row)) => match self.lane_for(&row) {
                        // A participant of the clock from now: no simulated time passes
                        // while a send or record is under way.
                        None => {
                            let record = Box::pin(self.handle(row, None));
                            in_flight.push(self.context.clock.participate(record))
                        }
                        Some(lane) if dispatch.stopped[lane].is_some() => {}
                        Some(lane) => {
                            dispatch.queues[lane].push_back(row);
                            dispatch.waiting += 1;
                        }
                    },
                    Some(Err(e)) => failure = Some(RunError::Input(e)),
                    None => exhausted = true,
                }
            }
            if stop.is_none() && failure.is_none() {
                for lane in 0..lanes {
                    while dispatch.busy[lane] < concurrency
                        && let Some(row) = dispatch.queues[lane].pop_front()
                    {
                        dispatch.busy[lane] += 1;
                        dispatch.waiting -= 1;
                        // Boxed: a send's future is several KiB, and the set of sends in
                        // flight would otherwise copy all of it twice on every push.
                        let send = Box::pin(self.handle(row, Some(lane)));
                        in_flight.push(self.context.clock.participate(send));
                    }
                }
            }
            let Some((lane, done)) = in_flight.next().await else {
                break;
            };
            if let Some(lane) = lane {
                dispatch.busy[lane] -= 1;
            }
            match (done, lane) {
                (Ok(None), _) => {}
                // The lane's own stop already ended this send's wait: nothing new to report.
                (Ok(Some(Stop::Shutdown)), Some(lane))
                    if !self.context.shutdown.is_requested()
                        && dispatch.stopped[lane].is_some() => {}
                (Ok(Some(reason)), Some(lane)) if reason.ends_lane() => {
                    self.lanes[lane].halt.request();
                    if dispatch.stopped[lane].is_none() {
                        dispatch.waiting -= dispatch.queues[lane].len();
                        dispatch.queues[lane].clear();
                        dispatch.stopped[lane] = Some(reason);
                    }
                    if dispatch.stopped.iter().all(Option::is_some) {
                        self.context.shutdown.request();
                    }
                }
                (Ok(Some(reason)), _) => {
                    self.context.shutdown.request();
                    stop.get_or_insert(reason);
                }
                (Err(e), _) => {
                    self.context.shutdown.request();
                    failure.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        let mut stops: Vec<(String, Stop)> = Vec::new();
        for (lane, stopped) in self.lanes.iter().zip(dispatch.stopped) {
            if let Some(reason) = stopped {
                stops.push((lane.label.to_string(), reason));
            }
        }
        // Every lane stopped: that is the run's stop, not a signal.
        if let Some(reason) = stop.filter(|_| stops.len() < lanes) {
            stops.push((String::new(), reason));
        }
        Ok(stops)
    }

    /// The lane a row is sent in, or `None` when the row is only recorded (invalid, opted
    /// out, interrupted earlier) or needs nothing at all.
    fn lane_for(&self, row: &Row) -> Option<usize> {
        let send = matches!(row.verdict, Verdict::Send(_))
            && needs_send(self.journal.prior(row.index), self.settings);
        send.then(|| crate::senders::assign(&self.settings.senders, &row.destination))
    }

    /// Records or sends one row; `lane` is [`Runner::lane_for`]'s answer, handed back with
    /// the outcome so the dispatcher knows which lane has room again.
    async fn handle(
        &self,
        row: Row,
        lane: Option<usize>,
    ) -> (Option<usize>, Result<Option<Stop>, RunError>) {
        let outcome = match lane {
            Some(lane) => self.send_in(&self.lanes[lane], &row).await,
            None => self.record_only(&row).await,
        };
        (lane, outcome)
    }
}
