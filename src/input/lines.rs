//! Where each data row stands in the file, for messages that name a row.
//!
//! Rows are numbered as data rows (1 = the first row after the header), which is the line
//! of the file minus one until a blank line, a cell with line breaks, or Excel's `sep=`
//! line comes above the row. From there on a row number alone does not find the row in an
//! editor or a spreadsheet, so messages name its line too ([`RowAt`]).

use std::fmt;

/// A data row as a message names it: `row 7`, or `row 7 (line 9)` when the row does not
/// start on line row + 1 of the file (the line it would be on with nothing but one row per
/// line under the header), so that it can still be found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowAt {
    /// 1-based data row (header excluded), as the results' `row` column.
    pub row: u64,
    /// The line of the file the row starts on (1-based, as an editor counts LF and CRLF
    /// line breaks, those inside quoted cells included).
    pub line: u64,
}

impl RowAt {
    /// The row's line, when it is not row + 1 (the one a reader would work out).
    pub fn moved_line(self) -> Option<u64> {
        (self.line != self.row.wrapping_add(1)).then_some(self.line)
    }

    /// The row number, with its line when it has moved: `7` or `7 (line 9)`, for lists
    /// (`rows 3, 7 (line 9)`).
    pub fn number(self) -> impl fmt::Display {
        struct Number(RowAt);
        impl fmt::Display for Number {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0.row)?;
                match self.0.moved_line() {
                    Some(line) => write!(f, " (line {line})"),
                    None => Ok(()),
                }
            }
        }
        Number(self)
    }
}

impl fmt::Display for RowAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "row {}", self.number())
    }
}

/// The lines of the rows read so far, kept only where a row's line moved away from the row
/// before's (line − row changed), so a file with one row per line keeps nothing; bounded
/// so that a file made of blank lines cannot grow it without end.
#[derive(Debug)]
pub(crate) struct Lines {
    /// Line − row of the last row seen (wrapping: a row can only start further down).
    shift: u64,
    /// (row, line − row) from that row on; before the first, line − row is 1.
    moves: Vec<(u64, u64)>,
    /// Set once `moves` is full: the rows from there on are not kept.
    full_from: Option<u64>,
}

impl Default for Lines {
    fn default() -> Lines {
        Lines {
            shift: 1,
            moves: Vec::new(),
            full_from: None,
        }
    }
}

impl Lines {
    /// Moves kept at most (16 MiB): far more than any real list has blank lines.
    const MOST: usize = 1 << 20;

    /// Notes that data row `row` (each row once, in order) starts on line `line`: a
    /// comparison per row, nothing stored unless the row moved.
    #[inline]
    pub(crate) fn see(&mut self, row: u64, line: u64) {
        if line.wrapping_sub(row) != self.shift {
            self.moved(row, line);
        }
    }

    #[cold]
    fn moved(&mut self, row: u64, line: u64) {
        if self.full_from.is_some() {
            return;
        }
        if self.moves.len() == Self::MOST {
            self.full_from = Some(row);
            return;
        }
        self.shift = line.wrapping_sub(row);
        self.moves.push((row, self.shift));
    }

    /// Row `row` as a message names it when `read` rows have been seen: with its line when
    /// read already, else (a row further down, named from an earlier run's results) as the
    /// row alone.
    pub(crate) fn at(&self, row: u64, read: u64) -> RowAt {
        let known = row <= read && self.full_from.is_none_or(|from| row < from);
        let at = self.moves.partition_point(|&(from, _)| from <= row);
        let shift = match (known, at) {
            (true, 0) | (false, _) => 1,
            (true, at) => self.moves[at - 1].1,
        };
        RowAt {
            row,
            line: row.wrapping_add(shift),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::input::tests::{open_bytes, options};

    #[test]
    fn a_row_names_its_line_only_when_it_moved() {
        assert_eq!(RowAt { row: 7, line: 8 }.to_string(), "row 7");
        assert_eq!(RowAt { row: 7, line: 9 }.to_string(), "row 7 (line 9)");
        assert_eq!(RowAt { row: 7, line: 9 }.number().to_string(), "7 (line 9)");
    }

    #[test]
    fn earlier_rows_keep_their_lines_and_later_ones_are_not_guessed() {
        let mut lines = Lines::default();
        // Rows 1-2 in place, a blank line, row 3 with a cell over 3 lines, row 4 after it.
        for (row, line) in [(1, 2), (2, 3), (3, 5), (4, 8), (5, 9)] {
            lines.see(row, line);
        }
        assert_eq!(lines.moves, [(3, 2), (4, 4)]);
        let got: Vec<u64> = (1..=6).map(|row| lines.at(row, 5).line).collect();
        assert_eq!(got, [2, 3, 5, 8, 9, 7]);
    }

    #[test]
    fn a_file_of_blank_lines_keeps_at_most_its_bound() {
        let mut lines = Lines::default();
        let rows = Lines::MOST as u64 + 10;
        for row in 1..=rows {
            lines.see(row, 2 * row);
        }
        assert_eq!(lines.moves.len(), Lines::MOST);
        assert_eq!(lines.at(5, rows).line, 10);
        assert_eq!(lines.at(rows, rows).moved_line(), None);
    }

    /// A file as spreadsheets and editors write them: LF, CRLF or CR, maybe Excel's `sep=,`
    /// line, blank lines before rows, cells over several lines, maybe no final line break;
    /// with the line each row starts on, counted as the file is built.
    fn file(
        eol: &str,
        sep: bool,
        rows: &[(usize, usize)],
        final_break: bool,
    ) -> (Vec<u8>, Vec<u64>) {
        let mut text = String::new();
        let mut line = 1;
        if sep {
            text.push_str(&format!("sep=,{eol}"));
            line += 1;
        }
        text.push_str("phone,nome");
        let mut starts = Vec::new();
        for (i, &(blanks, breaks)) in rows.iter().enumerate() {
            text.push_str(eol);
            line += 1;
            for _ in 0..blanks {
                text.push_str(eol);
                line += 1;
            }
            starts.push(line);
            let cell = vec!["Ana"; breaks + 1].join(eol);
            text.push_str(&format!("+55119{:08},\"{cell}\"", 10_000_000 + i));
            line += breaks as u64;
        }
        if final_break {
            text.push_str(eol);
        }
        (text.into_bytes(), starts)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn each_row_knows_the_line_it_starts_on(
            eol in prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
            sep in any::<bool>(),
            rows in prop::collection::vec((0usize..3, 0usize..3), 0..40),
            final_break in any::<bool>(),
            ahead in any::<bool>(),
        ) {
            let (bytes, starts) = file(eol, sep, &rows, final_break);
            let (_dir, input) = open_bytes(&bytes, &options()).unwrap();
            let input = if ahead { input.read_ahead(true).unwrap() } else { input };
            let got: Vec<u64> = input.map(|row| row.unwrap().line).collect();
            prop_assert_eq!(got, starts);
        }
    }
}
