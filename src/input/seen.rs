//! The duplicate check's memory: every destination sent to so far and the first row that
//! used it, compact at millions of rows (a 4-byte row number per table slot, plus the 8-byte
//! fingerprint of each row's destination) where a map of fingerprint to row took 13 to 17
//! bytes a slot and held two tables at once while it grew.

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// Destinations an earlier run sent from a row no longer in the CSV (or numbered past
    /// any real row: a corrupted number must not size `fingerprints`); reported as row 0.
    elsewhere: std::collections::HashSet<u64>,
    /// Row numbers, found by the fingerprint `fingerprints` keeps for them; a fingerprint is
    /// already a uniform hash, so it is its own table hash.
    table: HashTable<u32>,
    /// By row - 1: the fingerprint of that row's destination (0 where none is kept).
    fingerprints: Vec<u64>,
}

impl Seen {
    /// Makes room for `more` destinations up to row `last` at once (a resumed run knows how
    /// many it seeds), so the table is not rebuilt, and briefly doubled, as it fills.
    pub(crate) fn reserve(&mut self, more: usize, last: u32) {
        let Seen {
            table,
            fingerprints,
            ..
        } = self;
        table.reserve(more, |&r| fingerprints[r as usize - 1]);
        fingerprints.reserve((last as usize).saturating_sub(fingerprints.len()));
    }

    /// Keeps `fingerprint` as sent from no row of the CSV: any row with it is a duplicate.
    pub(crate) fn elsewhere(&mut self, fingerprint: u64) {
        self.elsewhere.insert(fingerprint);
    }

    /// Keeps `fingerprint` as `row`'s destination, or returns the earlier row that already
    /// has it. A row meeting its own fingerprint again (seeded, then read) is no duplicate.
    pub(crate) fn first(&mut self, row: u32, fingerprint: u64) -> Option<u32> {
        // Hashing for an empty set was a tenth of this check.
        if !self.elsewhere.is_empty() && self.elsewhere.contains(&fingerprint) {
            return Some(0);
        }
        let Seen {
            table,
            fingerprints,
            ..
        } = self;
        let slot = row as usize - 1;
        if fingerprints.len() <= slot {
            fingerprints.resize(slot + 1, 0);
        }
        // One probe finds the destination or the place for it.
        let known = |&r: &u32| fingerprints[r as usize - 1];
        match table.entry(fingerprint, |r| known(r) == fingerprint, known) {
            Entry::Occupied(first) => (*first.get() != row).then_some(*first.get()),
            // Seeded with another destination: the row changed, which the runner refuses;
            // its kept fingerprint stays, or the table would lose track of it.
            Entry::Vacant(_) if fingerprints[slot] != 0 => None,
            Entry::Vacant(place) => {
                place.insert(row);
                fingerprints[slot] = fingerprint;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_row_with_a_destination_is_named_and_a_row_never_duplicates_itself() {
        let mut seen = Seen::default();
        seen.reserve(2, 9);
        assert_eq!(seen.first(9, 0xA), None, "seeded from an earlier run");
        assert_eq!(seen.first(2, 0xB), None);
        assert_eq!(seen.first(3, 0xB), Some(2));
        assert_eq!(
            seen.first(1, 0xA),
            Some(9),
            "a later row sent earlier counts"
        );
        assert_eq!(seen.first(9, 0xA), None, "the seeded row itself");
        // A seeded row read with another destination keeps the seeded one.
        assert_eq!(seen.first(9, 0xC), None);
        assert_eq!(seen.first(4, 0xA), Some(9));
        assert_eq!(seen.first(5, 0xC), None);
        // Many rows, so the table grows past what was reserved.
        for row in 10..10_000u32 {
            assert_eq!(seen.first(row, u64::from(row) << 20), None);
        }
        assert_eq!(seen.first(10_000, 5000 << 20), Some(5000));
        seen.elsewhere(0xE);
        assert_eq!(seen.first(3, 0xE), Some(0), "sent from no row of the CSV");
    }
}
