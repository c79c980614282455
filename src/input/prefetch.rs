//! The campaign file's records, read as the rows are judged or split on a thread of their
//! own a few batches ahead.
//!
//! Reading a row was one thread's work from the CSV parser to the message, and on a
//! machine with a core to spare that thread was a preflight's bottleneck: the CSV parser
//! and the quote tracking ([`super::quotes`]) are a quarter of a row's cost. A pass that
//! reads the whole file at once (the preflight) runs them beside the judging, and reads
//! each record's destination there too ([`super::destinations`]). Records travel in reused
//! batches (no allocation per record once warm), each with what the reader knew right after
//! it, so every check of a record sees exactly what it saw when the two ran in turn. The
//! send pass reads inline: it reaches the end of the file only when
//! its sends do, so rows appended to the file meanwhile are sent too.

use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};

use csv::ByteRecord;

use super::destinations::{Destinations, Early};
use super::dialect::Records;
use super::quotes::Opened;

/// What the CSV reader knew right after reading a record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct After {
    /// The quote still open then ([`super::quotes::Quotes::unclosed`]).
    pub unclosed: Option<Opened>,
    /// The line of the file the record starts on ([`super::quotes::Quotes::next_record_line`]).
    pub line: u64,
}

/// Where [`super::CsvInput`] takes its records from.
pub(crate) enum Source {
    /// Read when a row is asked for.
    Inline(Records),
    /// Read ahead on a thread of its own.
    Ahead(Prefetch),
}

impl Source {
    /// The next record, read into `record`, and what the reader knew then; `None` at the
    /// end of the file. Read ahead, the record's destination comes in `early` (swapped:
    /// what `early` held goes back to the reading thread).
    pub(crate) fn read(
        &mut self,
        record: &mut ByteRecord,
        early: &mut Early,
    ) -> Result<Option<After>, csv::Error> {
        match self {
            Source::Inline(reader) => read_one(reader, record),
            Source::Ahead(prefetch) => prefetch.read(record, early),
        }
    }

    /// Whether records come with their destinations read ahead ([`Early`]).
    pub(crate) fn reads_destinations(&self) -> bool {
        matches!(self, Source::Ahead(prefetch) if prefetch.destinations)
    }

    /// The same records from now on, read ahead on a thread of their own, which reads
    /// their destinations too when given `destinations`.
    pub(crate) fn ahead(self, destinations: Option<Destinations>) -> std::io::Result<Source> {
        match self {
            Source::Inline(reader) => Prefetch::start(reader, destinations).map(Source::Ahead),
            ahead => Ok(ahead),
        }
    }
}

/// One record read inline, and what the reader knew right after it.
fn read_one(reader: &mut Records, record: &mut ByteRecord) -> Result<Option<After>, csv::Error> {
    if !reader.read_byte_record(record)? {
        return Ok(None);
    }
    let quotes = reader.get_mut();
    Ok(Some(After {
        unclosed: quotes.unclosed(),
        line: quotes.next_record_line(),
    }))
}

/// Records read in a row, then how the reading ended, if it did.
struct Batch {
    records: Vec<(ByteRecord, After, Early)>,
    /// How many of `records` this batch holds (the rest are kept for their memory).
    filled: usize,
    /// `None`: more batches follow; else the end of the file or the read error.
    end: Option<Result<(), csv::Error>>,
}

impl Batch {
    /// Records a batch holds at most: one channel message per this many rows.
    const RECORDS: usize = 512;
    /// Bytes of records after which a batch is handed over, so that batches of long rows
    /// stay small.
    const BYTES: usize = 256 << 10;
    /// A record buffer that held more than this is not kept for reuse (each slot would
    /// otherwise keep the largest row it ever held).
    const KEEP: usize = 64 << 10;

    /// Reads the next records into this batch, reusing its buffers.
    fn fill(&mut self, reader: &mut Records, destinations: Option<&Destinations>) {
        self.filled = 0;
        let mut bytes = 0;
        while self.filled < Self::RECORDS && bytes < Self::BYTES {
            if self.records.len() == self.filled {
                self.records
                    .push((ByteRecord::new(), After::default(), Early::default()));
            }
            let (record, after, early) = &mut self.records[self.filled];
            if record.as_slice().len() > Self::KEEP {
                *record = ByteRecord::new();
            }
            match read_one(reader, record) {
                Ok(Some(read)) => {
                    *after = read;
                    if let Some(destinations) = destinations {
                        destinations.read_ahead(record, early);
                    }
                    bytes += record.as_slice().len();
                    self.filled += 1;
                }
                Ok(None) => {
                    self.end = Some(Ok(()));
                    return;
                }
                Err(e) => {
                    self.end = Some(Err(e));
                    return;
                }
            }
        }
    }
}

/// The receiving end: records in file order, as [`read_one`] gives them. Dropping it stops
/// the reading thread at its next batch.
pub(crate) struct Prefetch {
    batches: Receiver<Batch>,
    /// Batches read out, back to the reading thread to be filled again.
    spent: Sender<Batch>,
    current: Option<Batch>,
    /// The next record of `current` to hand out.
    next: usize,
    /// The end (or an error) was handed out: nothing follows.
    ended: bool,
    /// Whether the reading thread reads each record's destination too.
    destinations: bool,
}

impl Prefetch {
    /// Batches read ahead at most: enough to ride out a slow row, a few hundred KiB.
    const AHEAD: usize = 4;

    /// Starts reading `reader`'s records on a new thread.
    fn start(mut reader: Records, destinations: Option<Destinations>) -> std::io::Result<Prefetch> {
        let (to_judge, batches) = sync_channel::<Batch>(Self::AHEAD);
        let (spent, back) = channel::<Batch>();
        let reads = destinations.is_some();
        std::thread::Builder::new()
            .name("csv-reader".into())
            .spawn(move || read_ahead(&mut reader, destinations.as_ref(), &to_judge, &back))?;
        Ok(Prefetch {
            batches,
            spent,
            current: None,
            next: 0,
            ended: false,
            destinations: reads,
        })
    }

    /// The next record and its destination, swapped into `record` and `early` (which go
    /// back to be filled again), and what the reader knew then; `None` at the end of the
    /// file.
    fn read(
        &mut self,
        record: &mut ByteRecord,
        early: &mut Early,
    ) -> Result<Option<After>, csv::Error> {
        while !self.ended {
            if let Some(batch) = &mut self.current {
                if self.next < batch.filled {
                    let (next, after, read) = &mut batch.records[self.next];
                    std::mem::swap(record, next);
                    std::mem::swap(early, read);
                    self.next += 1;
                    return Ok(Some(*after));
                }
                if let Some(end) = batch.end.take() {
                    self.ended = true;
                    return end.map(|()| None);
                }
                if let Some(spent) = self.current.take() {
                    // The reader may have ended already: then the batch is simply freed.
                    let _ = self.spent.send(spent);
                }
            }
            match self.batches.recv() {
                Ok(batch) => {
                    self.current = Some(batch);
                    self.next = 0;
                }
                // Only a panic ends the thread before it sends the end: never taken for the
                // end of the file, which would pass a truncated list for a whole one.
                Err(_) => {
                    self.ended = true;
                    return Err(std::io::Error::other("the CSV reading thread stopped").into());
                }
            }
        }
        Ok(None)
    }
}

/// The reading thread: fills batches (reused once read out) until the end of the file, an
/// error, or the receiving end is gone.
fn read_ahead(
    reader: &mut Records,
    destinations: Option<&Destinations>,
    to_judge: &SyncSender<Batch>,
    back: &Receiver<Batch>,
) {
    loop {
        let mut batch = back.try_recv().unwrap_or_else(|_| Batch {
            records: Vec::new(),
            filled: 0,
            end: None,
        });
        batch.fill(reader, destinations);
        let last = batch.end.is_some();
        if to_judge.send(batch).is_err() || last {
            return;
        }
    }
}

#[cfg(test)]
mod tests;
