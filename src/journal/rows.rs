//! The resume index's entries by row number: a vector indexed by row for the rows a results
//! file holds densely (1 to N, nearly every one recorded), a B-tree for numbers far past
//! them.
//!
//! A million rows take 24 bytes each in the vector, where a `BTreeMap` took ~56 and cost a
//! tree walk per look-up. The vector only grows to a row while it stays at least half full
//! (plus some slack), so a corrupted or hostile row number costs one tree entry, never
//! gigabytes of empty slots.

use std::collections::BTreeMap;

/// One entry per row number, ordered by row (the checkpoint's `Entry`: generic so that this
/// file needs nothing from the index it serves).
#[derive(Debug)]
pub(super) struct Rows<Entry> {
    /// By row - 1: rows 1 to `dense.len()`, `None` where no line is recorded.
    dense: Vec<Option<Entry>>,
    /// Rows numbered past `dense.len()` (every key is), one entry each.
    sparse: BTreeMap<u32, Entry>,
    /// How many rows hold an entry.
    len: usize,
}

impl<Entry> Default for Rows<Entry> {
    fn default() -> Self {
        Rows {
            dense: Vec::new(),
            sparse: BTreeMap::new(),
            len: 0,
        }
    }
}

impl<Entry: Clone> Rows<Entry> {
    /// Empty slots the vector may hold besides one per recorded row.
    const SLACK: usize = 4096;

    /// The entry of `row`, if any.
    pub(super) fn get(&self, row: u32) -> Option<&Entry> {
        match self.slot(row) {
            Some(i) if i < self.dense.len() => self.dense[i].as_ref(),
            _ => self.sparse.get(&row),
        }
    }

    pub(super) fn get_mut(&mut self, row: u32) -> Option<&mut Entry> {
        match self.slot(row) {
            Some(i) if i < self.dense.len() => self.dense[i].as_mut(),
            _ => self.sparse.get_mut(&row),
        }
    }

    pub(super) fn contains(&self, row: u32) -> bool {
        self.get(row).is_some()
    }

    /// Sets `row`'s entry (row 0 is no row and is ignored: callers keep it elsewhere).
    pub(super) fn insert(&mut self, row: u32, entry: Entry) {
        let Some(i) = self.slot(row) else {
            return;
        };
        if i >= self.dense.len() && i < 2 * self.len + Self::SLACK {
            // Grown to `row`: the rows the tree held up to it move into the vector.
            self.dense.resize(i + 1, None);
            if !self.sparse.is_empty() {
                let above =
                    (row.checked_add(1)).map_or_else(BTreeMap::new, |r| self.sparse.split_off(&r));
                for (moved, entry) in std::mem::replace(&mut self.sparse, above) {
                    self.dense[moved as usize - 1] = Some(entry);
                }
            }
        }
        let before = match self.dense.get_mut(i) {
            Some(slot) => slot.replace(entry),
            None => self.sparse.insert(row, entry),
        };
        self.len += usize::from(before.is_none());
    }

    /// Sets `row`'s entry unless it has one.
    pub(super) fn insert_new(&mut self, row: u32, entry: Entry) {
        if !self.contains(row) {
            self.insert(row, entry);
        }
    }

    /// How many rows hold an entry.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The highest row holding an entry, 0 if none.
    pub(super) fn last(&self) -> u32 {
        match self.sparse.last_key_value() {
            Some((row, _)) => *row,
            None => (self.dense.iter().rposition(Option::is_some)).map_or(0, |i| i as u32 + 1),
        }
    }

    /// Every row's entry, in row order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u32, &Entry)> + Clone + '_ {
        let dense =
            (self.dense.iter().enumerate()).filter_map(|(i, e)| Some((i as u32 + 1, e.as_ref()?)));
        dense.chain(self.sparse.iter().map(|(row, e)| (*row, e)))
    }

    /// The entries of rows `from` and after, in row order.
    pub(super) fn from(&self, from: u32) -> impl Iterator<Item = (u32, &Entry)> + '_ {
        let skip = (from as usize).saturating_sub(1).min(self.dense.len());
        let dense = (self.dense.iter().enumerate().skip(skip))
            .filter_map(|(i, e)| Some((i as u32 + 1, e.as_ref()?)));
        dense.chain(self.sparse.range(from..).map(|(row, e)| (*row, e)))
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &Entry> + Clone + '_ {
        self.iter().map(|(_, e)| e)
    }

    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut Entry> + '_ {
        (self.dense.iter_mut().flatten()).chain(self.sparse.values_mut())
    }

    /// Where `row` would sit in the vector (`None` for row 0).
    fn slot(&self, row: u32) -> Option<usize> {
        (row as usize).checked_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone, Copy)]
    struct Entry {
        offset: u64,
        attempts: u32,
    }

    fn entry(offset: u64) -> Entry {
        Entry {
            offset,
            attempts: 1,
        }
    }

    /// Row numbers as files hold them: dense from 1, duplicates, a list renumbered far
    /// out (past the slack: moved into the vector as it grows), and corrupted numbers up to `u32::MAX`.
    fn row() -> impl Strategy<Value = u32> {
        prop_oneof![
            6 => 0u32..64,
            4 => 4_000u32..4_400,
            1 => Just(u32::MAX),
            1 => any::<u32>(),
        ]
    }

    proptest! {
        /// The index answers exactly as the `BTreeMap` it replaced: every look-up, the
        /// order, the count and the last row, after any sequence of notes.
        #[test]
        fn rows_answer_like_a_btree_map(
            inserts in prop::collection::vec((row(), any::<bool>()), 0..400),
            asked in prop::collection::vec(row(), 0..64),
        ) {
            let mut rows: Rows<Entry> = Rows::default();
            let mut model: BTreeMap<u32, Entry> = BTreeMap::new();
            for (at, (row, only_if_absent)) in inserts.into_iter().enumerate() {
                let new = entry(at as u64);
                if only_if_absent {
                    rows.insert_new(row, new);
                    if row > 0 {
                        model.entry(row).or_insert(new);
                    }
                } else {
                    rows.insert(row, new);
                    if row > 0 {
                        model.insert(row, new);
                    }
                }
                if let Some(e) = rows.get_mut(row) {
                    e.attempts = 2;
                    model.get_mut(&row).unwrap().attempts = 2;
                }
            }
            let offsets = |e: &Entry| (e.offset, e.attempts);
            let got: Vec<_> = rows.iter().map(|(r, e)| (r, offsets(e))).collect();
            let want: Vec<_> = model.iter().map(|(r, e)| (*r, offsets(e))).collect();
            prop_assert_eq!(got, want);
            prop_assert_eq!(rows.len(), model.len());
            prop_assert_eq!(rows.last(), model.keys().next_back().copied().unwrap_or(0));
            for row in asked {
                prop_assert_eq!(rows.get(row).map(offsets), model.get(&row).map(offsets));
                let after: Vec<_> = rows.from(row).map(|(r, e)| (r, offsets(e))).collect();
                let want: Vec<_> = model.range(row..).map(|(r, e)| (*r, offsets(e))).collect();
                prop_assert_eq!(after, want);
            }
            let mutated: Vec<u64> = rows.values_mut().map(|e| e.offset).collect();
            prop_assert_eq!(mutated, model.values().map(|e| e.offset).collect::<Vec<_>>());
            // Memory stays near the rows held: a hostile number is one entry.
            prop_assert!(rows.dense.len() <= 2 * rows.len() + Rows::<Entry>::SLACK);
        }
    }

    #[test]
    fn a_million_rows_in_order_sit_in_the_vector() {
        let mut rows: Rows<Entry> = Rows::default();
        for row in 1..=1_000_000 {
            rows.insert(row, entry(u64::from(row)));
        }
        assert_eq!(rows.dense.len(), 1_000_000);
        assert!(rows.sparse.is_empty());
        assert_eq!(rows.last(), 1_000_000);
    }
}
