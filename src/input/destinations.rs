//! Which destination column a row fills, and that cell read as a phone number, a group or a
//! newsletter: one place for the judging and for the preflight's reading thread.
//!
//! Reading a phone number (the replay of libphonenumber in [`super::numbering`]) was a third
//! of judging a row, on the thread that bounds a preflight. The reading thread, which has
//! time to spare, now reads each record's destination as it reads the record, and the
//! answer travels with the record ([`Early`]); the judging takes it instead of reading the
//! cell again. Both go through [`Destinations`], so they cannot read a cell differently.

use csv::ByteRecord;

use super::RowError;
use super::phone::{DestKind, Phones};
use super::visible::visible;
use crate::message::Destination;

/// The destination columns of a file and how their cells are read.
#[derive(Debug, Clone)]
pub(crate) struct Destinations {
    /// Each destination column's position and kind, in the order a row's cells are tried.
    columns: Vec<(usize, DestKind)>,
    /// Their header names, for the errors.
    names: Vec<String>,
    phones: Phones,
}

/// A record's destination read ahead by the reading thread, travelling with the record.
#[derive(Debug, Default)]
pub(crate) struct Early {
    /// The slot ([`Destinations::first`]) of the record's first filled destination cell and
    /// what reading it gave; `None` when it was not read ahead.
    pub read: Option<(usize, Result<Destination, RowError>)>,
    /// A string handed back by the judging, to read a later destination into.
    pub spare: String,
}

impl Destinations {
    /// `columns` as the header's layout lists them; `names` are the header's names.
    pub(crate) fn new(columns: &[(usize, DestKind)], names: &[String], phones: Phones) -> Self {
        Destinations {
            columns: columns.to_vec(),
            names: columns.iter().map(|&(i, _)| names[i].clone()).collect(),
            phones,
        }
    }

    /// The first filled destination cell (its slot, and its text trimmed) and how many
    /// are filled, over cells known as text (`cell(i)`, `None` past the row's end).
    pub(crate) fn first<'r>(
        &self,
        cell: impl Fn(usize) -> Option<&'r str>,
    ) -> (Option<(usize, &'r str)>, usize) {
        let mut first = None;
        let mut count = 0;
        for (slot, &(i, _)) in self.columns.iter().enumerate() {
            if let Some(cell) = cell(i).map(visible)
                && !cell.is_empty()
            {
                count += 1;
                first = first.or(Some((slot, cell)));
            }
        }
        (first, count)
    }

    /// The cell of destination column `slot` read as its kind, normalized into `out` (a
    /// string to fill again).
    pub(crate) fn read(
        &self,
        slot: usize,
        cell: &str,
        out: String,
    ) -> Result<Destination, RowError> {
        let (_, kind) = self.columns[slot];
        self.phones
            .destination_into(kind, &self.names[slot], cell, out)
    }

    /// On the reading thread: `record`'s destination, read into `early` (whose previous
    /// answer, if the judging did not take it, gives back its string). A record that is not
    /// UTF-8 throughout is judged an encoding error, and its answer is never taken.
    pub(crate) fn read_ahead(&self, record: &ByteRecord, early: &mut Early) {
        let out = match early.read.take() {
            Some((_, Ok(unused))) => unused.into_string(),
            _ => std::mem::take(&mut early.spare),
        };
        let (first, _) = self.first(|i| record.get(i).and_then(|c| std::str::from_utf8(c).ok()));
        match first {
            Some((slot, cell)) => early.read = Some((slot, self.read(slot, cell, out))),
            None => early.spare = out,
        }
    }
}
