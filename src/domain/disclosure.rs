//! Counts published to anyone (open data) without revealing a small group:
//! every count below [`THRESHOLD`] is withheld (primary suppression), and
//! so is whatever would let it be worked out again (secondary suppression).
//!
//! A table of counts is published by division (rows) and group (columns).
//! Its totals are published too, one way or another: a row's total is the
//! division's elders (another measure's row sums to it), a column's total
//! is the parent division's count of the group (the same measure asked one
//! level up). A row or a column with exactly one count withheld gives that
//! count away by subtraction, so withholding goes on, the smallest
//! published count of such a row or column next, until no row and no
//! column has exactly one count withheld.

/// The smallest count published.
pub const THRESHOLD: i64 = 5;

/// One count of a table: its row (a division) and column (a group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub row: usize,
    pub column: usize,
    pub count: i64,
    pub suppressed: bool,
}

/// Marks what must be withheld; the counts stay as they are (the caller
/// publishes `null` for a suppressed one).
pub fn suppress(cells: &mut [Cell]) {
    for cell in cells.iter_mut() {
        cell.suppressed = cell.count < THRESHOLD;
    }
    loop {
        let mut changed = false;
        for by_row in [true, false] {
            let line = |c: &Cell| if by_row { c.row } else { c.column };
            let lines: std::collections::BTreeSet<usize> = cells.iter().map(line).collect();
            for l in lines {
                let withheld = cells.iter().filter(|c| line(c) == l && c.suppressed).count();
                if withheld != 1 {
                    continue;
                }
                // The smallest published count of the line goes too.
                let next = cells
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| line(c) == l && !c.suppressed)
                    .min_by_key(|(i, c)| (c.count, *i))
                    .map(|(i, _)| i);
                if let Some(i) = next {
                    cells[i].suppressed = true;
                    changed = true;
                }
            }
        }
        if !changed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn table(rows: &[&[i64]]) -> Vec<Cell> {
        rows.iter()
            .enumerate()
            .flat_map(|(row, counts)| {
                counts.iter().enumerate().map(move |(column, &count)| Cell { row, column, count, suppressed: false })
            })
            .collect()
    }

    fn shown(cells: &[Cell]) -> Vec<Option<i64>> {
        cells.iter().map(|c| (!c.suppressed).then_some(c.count)).collect()
    }

    #[test]
    fn a_small_count_takes_the_smallest_of_its_row_and_column_with_it() {
        // Three elders of grade 4 in the first community.
        let mut cells = table(&[&[40, 12, 3], &[35, 9, 20], &[50, 30, 25]]);
        suppress(&mut cells);
        assert_eq!(
            shown(&cells),
            [Some(40), None, None, Some(35), None, None, Some(50), Some(30), Some(25)],
            "3 withheld; 12 (its row's smallest), then 9 (12's column) and 20 (3's column) with it"
        );
    }

    #[test]
    fn nothing_is_withheld_when_every_count_is_large_enough() {
        let mut cells = table(&[&[5, 6], &[7, 8]]);
        suppress(&mut cells);
        assert!(cells.iter().all(|c| !c.suppressed));
    }

    proptest! {
        /// Whatever the table, every small count is withheld and no row or
        /// column has exactly one count withheld: no total minus the rest
        /// of a line gives one back.
        #[test]
        fn no_withheld_count_is_alone_in_its_row_or_column(
            rows in 1usize..6, columns in 1usize..6, counts in proptest::collection::vec(0i64..40, 36)
        ) {
            let mut cells: Vec<Cell> = (0..rows)
                .flat_map(|row| (0..columns).map(move |column| (row, column)))
                .map(|(row, column)| Cell { row, column, count: counts[row * 6 + column], suppressed: false })
                .collect();
            suppress(&mut cells);
            for c in &cells {
                prop_assert!(c.count >= THRESHOLD || c.suppressed);
            }
            for by_row in [true, false] {
                let lines = if by_row { rows } else { columns };
                for l in 0..lines {
                    let line: Vec<&Cell> =
                        cells.iter().filter(|c| if by_row { c.row == l } else { c.column == l }).collect();
                    let withheld = line.iter().filter(|c| c.suppressed).count();
                    prop_assert!(withheld != 1 || line.len() == 1, "a line with one withheld: {line:?}");
                }
            }
        }
    }
}
