//! The second pass: rows in order, each to its sender's lane, with a bounded read-ahead.
//!
//! When the preflight found few rows with anything left to do (a resumed campaign near its
//! end), it kept them ([`Pending`]) and the send pass starts at once with the first, instead
//! of reading (and checking) every settled row of the input a second time.

use std::collections::VecDeque;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;

use crate::input::{CsvInput, InputError, Row, Verdict};
use crate::journal::Prior;
use crate::settings::Settings;

use super::resume::{keeps_record, needs_send, settled_cell};
use super::stop::Stop;
use super::{RunError, Runner};

/// Whether the send pass has anything to do with a row (send it, or record it): not when a
/// previous run settled it for good and its cell is unchanged, nor when it is not to be sent
/// and its destination already reached the API for good (that record stands).
/// `prior` gives the row's recorded state, looked up only if needed.
pub(super) fn acts_on(
    row: &Row,
    prior: impl FnOnce() -> Option<Prior>,
    settings: &Settings,
) -> bool {
    match row.verdict {
        Verdict::Unchanged => false,
        Verdict::Send(_) => true,
        Verdict::Invalid(_) | Verdict::Skip(_) => !keeps_record(prior(), settings),
    }
}

/// The rows the send pass acts on ([`acts_on`]), as the preflight judged them, while they
/// are few; past [`Pending::KEPT`] the send pass reads the input again. What is sent is then
/// what the preflight counted and the person confirmed, and nothing else is read.
#[derive(Debug)]
pub(super) enum Pending {
    Kept(Vec<Row>),
    /// Too many to keep, or not kept (a dry run has no send pass).
    Reread,
}

impl Pending {
    /// Rows kept at most: a few MiB of messages at worst.
    const KEPT: usize = 4096;

    /// Empty, keeping rows if `keep`.
    pub(super) fn new(keep: bool) -> Pending {
        if keep {
            Pending::Kept(Vec::new())
        } else {
            Pending::Reread
        }
    }

    /// The next row the send pass acts on, in input order.
    pub(super) fn keep(&mut self, row: &Row) {
        if let Pending::Kept(rows) = self {
            if rows.len() < Self::KEPT {
                rows.push(row.clone());
            } else {
                *self = Pending::Reread;
            }
        }
    }
}

/// Where the send pass takes its rows from: the input, read again, or the preflight's.
pub(super) enum Source<'a> {
    Input(CsvInput),
    /// The preflight's rows; then, if the input changed since the preflight opened it (rows
    /// appended during the run), the rows past those it read.
    Kept(std::vec::IntoIter<Row>, Option<Past<'a>>),
    /// The input read again from the start, rows up to `read` left out: the preflight's
    /// rows were sent or recorded as it judged them.
    Past(CsvInput, u64),
}

/// How to read what the input gained after the preflight read its `read` rows: `stamp` is
/// the input's [`Stamp`] before the preflight opened it.
pub(super) struct Past<'a> {
    pub(super) open: &'a (dyn Fn() -> Result<CsvInput, InputError> + Sync),
    pub(super) stamp: Option<Stamp>,
    pub(super) read: u64,
}

/// What tells a file changed: its length, modification time and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp(u64, std::time::SystemTime, u64);

impl Stamp {
    /// The file's stamp now; `None` if it cannot be read (then it counts as changed).
    pub(super) fn of(path: &std::path::Path) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt as _;
        let meta = std::fs::metadata(path).ok()?;
        Some(Stamp(meta.len(), meta.modified().ok()?, meta.ino()))
    }
}

impl Source<'_> {
    /// Hands a finished row's memory back to the reader that made it, for a later row to
    /// fill ([`CsvInput::recycle`]): a message and two strings allocated and freed per send
    /// were ~3 % of a send's own work.
    fn recycle(&mut self, row: Row) {
        let (Source::Input(input) | Source::Past(input, _)) = self else {
            return;
        };
        input.recycle_strings([row.raw_destination, row.destination]);
        if let Verdict::Send(message) = row.verdict {
            input.recycle(message);
        }
    }

    fn next_row(
        &mut self,
        settled: impl Fn(u64) -> Option<u32>,
        journal: &crate::journal::Shared,
        csv: &std::path::Path,
    ) -> Option<Result<Row, InputError>> {
        loop {
            match self {
                Source::Input(input) => return input.next_row(&settled),
                Source::Kept(rows, past) => {
                    if let Some(row) = rows.next() {
                        return Some(Ok(row));
                    }
                    let past = past
                        .take()
                        .filter(|p| p.stamp.is_none() || Stamp::of(csv) != p.stamp)?;
                    // Seeded as the first read of the send pass was: the rows appended meet
                    // every destination sent, being sent or kept to send.
                    let mut input = match (past.open)() {
                        Ok(input) => input,
                        Err(e) => return Some(Err(e)),
                    };
                    journal.read_checkpoint(|c| input.already_sent(c.attempted()));
                    *self = Source::Past(input, past.read);
                }
                Source::Past(input, read) => match input.next_row(&settled)? {
                    Ok(row) if row.index <= *read => {}
                    row => return Some(row),
                },
            }
        }
    }
}

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
    /// Lanes `held` from the start ([`super::lanes::held`]) send nothing (the rows only
    /// recorded, invalid ones, still are). Returns each stop with the label of the lane it
    /// stopped ("" for the whole run).
    pub(super) async fn send_all(
        &self,
        input: Source<'_>,
        held: Vec<Option<Stop>>,
    ) -> Result<Vec<(String, Stop)>, RunError> {
        let lanes = self.lanes.len();
        let concurrency = self.settings.concurrency;
        // Rows read ahead, so a lane waiting for its spacing does not hold the others back.
        let read_ahead = lanes * concurrency * 4;
        let mut dispatch = Dispatch {
            queues: (0..lanes).map(|_| VecDeque::new()).collect(),
            busy: vec![0; lanes],
            stopped: held,
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
                match rows.next_row(settled, &self.journal, &self.settings.csv) {
                    Some(Ok(row))
                        if !acts_on(&row, || self.journal.prior(row.index), self.settings) => {}
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
            let Some((lane, done, row)) = in_flight.next().await else {
                break;
            };
            rows.recycle(row);
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
    /// the outcome so the dispatcher knows which lane has room again, and the row, for its
    /// memory to be used again ([`Source::recycle`]).
    async fn handle(
        &self,
        row: Row,
        lane: Option<usize>,
    ) -> (Option<usize>, Result<Option<Stop>, RunError>, Row) {
        let outcome = match lane {
            Some(lane) => self.send_in(&self.lanes[lane], &row).await,
            None => self.record_only(&row).await,
        };
        (lane, outcome, row)
    }
}
