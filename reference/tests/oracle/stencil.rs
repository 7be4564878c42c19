//! The Jacobi stencil: parallel equals sequential bit for bit on random blocks, blocks with
//! halos reassemble the whole-grid step, and hand-checked examples.

use proptest::prelude::*;
use riptide_reference::sequential;
use riptide_reference::stencil::{Jacobi5Block, jacobi5};

use crate::inputs::{Special, bits, f32s};

/// A grid, a block of it and valid output rows (every interior output row has its halo).
fn block() -> impl Strategy<Value = Jacobi5Block> {
    (
        1usize..200,
        prop_oneof![0usize..=3, 4usize..300],
        any::<[u64; 4]>(),
    )
        .prop_map(|(global_rows, cols, s)| {
            let row_offset = (s[0] % global_rows as u64) as usize;
            let rows = 1 + (s[1] % (global_rows - row_offset) as u64) as usize;
            // Rows that can be computed: all but a first/last row that is not the grid's.
            let first = usize::from(row_offset != 0);
            let last = rows - usize::from(row_offset + rows != global_rows);
            let (row_begin, row_end) = if first >= last {
                (first.min(rows), first.min(rows))
            } else {
                let a = first + (s[2] % (last - first + 1) as u64) as usize;
                let b = first + (s[3] % (last - first + 1) as u64) as usize;
                (a.min(b), a.max(b))
            };
            Jacobi5Block {
                rows,
                cols,
                row_offset,
                global_rows,
                row_begin,
                row_end,
            }
        })
}

/// The whole grid as one block.
fn whole(global_rows: usize, cols: usize) -> Jacobi5Block {
    Jacobi5Block {
        rows: global_rows,
        cols,
        row_offset: 0,
        global_rows,
        row_begin: 0,
        row_end: global_rows,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn prop_jacobi5_parallel_matches_sequential(b in block(), seed: u64) {
        let input = f32s(b.rows * b.cols, seed, Special::NonFinite);
        let n = (b.row_end - b.row_begin) * b.cols;
        let (mut par, mut seq) = (vec![0.0; n], vec![0.0; n]);
        jacobi5(&b, &input, &mut par).unwrap();
        sequential::stencil::jacobi5(&b, &input, &mut seq).unwrap();
        prop_assert_eq!(bits(&par), bits(&seq));
    }

    #[test]
    fn prop_jacobi5_blocks_with_halos_reassemble_the_grid(
        global_rows in 1usize..120, cols in 0usize..80, step in 1usize..40, seed: u64,
    ) {
        let grid = f32s(global_rows * cols, seed, Special::Finite);
        let mut expected = vec![0.0; grid.len()];
        jacobi5(&whole(global_rows, cols), &grid, &mut expected).unwrap();
        let mut assembled = Vec::with_capacity(grid.len());
        for start in (0..global_rows).step_by(step) {
            let end = (start + step).min(global_rows);
            let lo = start.saturating_sub(1);
            let hi = (end + 1).min(global_rows);
            let b = Jacobi5Block {
                rows: hi - lo, cols, row_offset: lo, global_rows,
                row_begin: start - lo, row_end: end - lo,
            };
            let mut out = vec![0.0; (end - start) * cols];
            jacobi5(&b, &grid[lo * cols..hi * cols], &mut out).unwrap();
            assembled.extend(out);
        }
        prop_assert_eq!(bits(&assembled), bits(&expected));
    }
}

#[test]
fn jacobi5_small_example() {
    // in[r][c] = 10·r² + c² on a 4 × 4 grid; the four interior cells, e.g. (1, 1):
    // up 1, down 41, left 10, right 14 → 0.25·((1 + 41) + (10 + 14)) = 16.5.
    let input: Vec<f32> = (0..16)
        .map(|i| (10 * (i / 4) * (i / 4) + (i % 4) * (i % 4)) as f32)
        .collect();
    let mut out = vec![0.0; 16];
    jacobi5(&whole(4, 4), &input, &mut out).unwrap();
    let mut expected = input.clone();
    expected[5] = 16.5; // 0.25·((1 + 41) + (10 + 14))
    expected[6] = 19.5; // 0.25·((4 + 44) + (11 + 19))
    expected[9] = 46.5; // 0.25·((11 + 91) + (40 + 44))
    expected[10] = 49.5; // 0.25·((14 + 94) + (41 + 49))
    assert_eq!(out, expected);
}

#[test]
fn jacobi5_adds_in_the_specified_order() {
    // up = 2^24, down = 1, left = 1, right = −2^24. (up + down) rounds to 2^24 (a tie to
    // even), (left + right) = 1 − 2^24 exactly, their sum is 1: the centre is 0.25. Adding
    // left to right instead would give 0.
    let big = 2f32.powi(24);
    let input = [0.0, big, 0.0, 1.0, 0.0, -big, 0.0, 1.0, 0.0];
    let mut out = [0.0; 9];
    jacobi5(&whole(3, 3), &input, &mut out).unwrap();
    assert_eq!(out[4], 0.25);
}

#[test]
fn jacobi5_block_with_halo() {
    // A 5 × 3 grid; the block is global rows 1..4, and only its middle row (global row 2)
    // is computed: 0.25·((in[1][1] + in[3][1]) + (in[2][0] + in[2][2])).
    let grid: Vec<f32> = (0..15).map(|i| (i * i) as f32).collect();
    let b = Jacobi5Block {
        rows: 3,
        cols: 3,
        row_offset: 1,
        global_rows: 5,
        row_begin: 1,
        row_end: 2,
    };
    let mut out = [0.0; 3];
    jacobi5(&b, &grid[3..12], &mut out).unwrap();
    // in[1][1] = 16, in[3][1] = 100, in[2][0] = 36, in[2][2] = 64 → 0.25·(116 + 100) = 54.
    assert_eq!(out, [36.0, 54.0, 64.0]);
    // The grid's last row is a boundary row: copied, no halo below needed.
    let b = Jacobi5Block {
        rows: 2,
        cols: 3,
        row_offset: 3,
        global_rows: 5,
        row_begin: 1,
        row_end: 2,
    };
    jacobi5(&b, &grid[9..15], &mut out).unwrap();
    assert_eq!(out, [144.0, 169.0, 196.0]);
}

#[test]
fn sweeps_of_a_whole_grid_feed_each_step_the_last() {
    let (rows, cols) = (7, 9);
    let grid: Vec<f32> = (0..rows * cols).map(|i| ((i * 37) % 23) as f32).collect();
    let block = Jacobi5Block::whole(rows, cols);
    let mut one = vec![0.0; grid.len()];
    jacobi5(&block, &grid, &mut one).expect("valid");
    let mut two = vec![0.0; grid.len()];
    jacobi5(&block, &one, &mut two).expect("valid");
    use riptide_reference::stencil::jacobi5_sweeps;
    assert_eq!(jacobi5_sweeps(&grid, cols, 0).unwrap(), grid);
    assert_eq!(jacobi5_sweeps(&grid, cols, 2).unwrap(), two);
    assert!(
        jacobi5_sweeps(&grid[1..], cols, 0).is_err(),
        "a ragged grid is refused"
    );
}
