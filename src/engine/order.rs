//! Terminal-digit order over a run of charts as scanned along a shelf: the longest run in
//! order, and how far each chart is from being part of one.
//!
//! A chart displaced on a shelf is the one a longest non-decreasing run leaves out. Which one
//! that is can take a few more charts to tell: a chart put at the start of a shelf looks in
//! order until the charts after it run on below it.

use std::cmp::Reverse;

/// For each chart, how many charts short of a longest non-decreasing run the best run through
/// it is: 0 when it is part of some longest run (in its place, as far as the run shows), 1 when
/// it is out unless one more chart is, and so on. O(n log n).
pub(super) fn shortfall<K: Ord + Copy>(keys: &[K]) -> Vec<usize> {
    let ending = run_lengths(keys.iter().copied());
    let mut starting = run_lengths(keys.iter().rev().map(|k| Reverse(*k)));
    starting.reverse();
    let longest = ending.iter().copied().max().unwrap_or(0);
    ending
        .iter()
        .zip(&starting)
        .map(|(e, s)| longest + 1 - e - s)
        .collect()
}

/// For each item, the length of the longest non-decreasing run ending with it (patience
/// sorting: `tails[i]` is the smallest last key of a run of length `i + 1`).
fn run_lengths<K: Ord>(keys: impl Iterator<Item = K>) -> Vec<usize> {
    let mut tails: Vec<K> = Vec::new();
    keys.map(|k| {
        let at = tails.partition_point(|t| *t <= k);
        if at == tails.len() {
            tails.push(k);
        } else {
            tails[at] = k;
        }
        at + 1
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::shortfall;
    use proptest::prelude::*;

    #[test]
    fn worked_examples() {
        assert_eq!(shortfall::<u8>(&[]), Vec::<usize>::new());
        assert_eq!(shortfall(&[1, 2, 3]), [0, 0, 0]);
        // 9 put first: in order until two charts below it follow.
        assert_eq!(shortfall(&[9, 1]), [0, 0]);
        assert_eq!(shortfall(&[9, 1, 2]), [1, 0, 0]);
        assert_eq!(shortfall(&[9, 1, 2, 3]), [2, 0, 0, 0]);
        // Two side by side, then the run goes on without them.
        assert_eq!(shortfall(&[1, 8, 9, 2, 3, 4]), [0, 1, 1, 0, 0, 0]);
        // Equal keys are in order.
        assert_eq!(shortfall(&[2, 2, 1]), [0, 0, 1]);
    }

    /// Every subsequence in order, by brute force: the longest through each position.
    fn brute(keys: &[u8]) -> Vec<usize> {
        let n = keys.len();
        let mut best = vec![0; n];
        let mut longest = 0;
        for mask in 1u32..(1 << n) {
            let picked: Vec<usize> = (0..n).filter(|i| mask & (1 << i) != 0).collect();
            if picked.windows(2).all(|w| keys[w[0]] <= keys[w[1]]) {
                longest = longest.max(picked.len());
                for &i in &picked {
                    best[i] = best[i].max(picked.len());
                }
            }
        }
        best.iter().map(|b| longest - b).collect()
    }

    proptest! {
        #[test]
        fn matches_brute_force(keys in proptest::collection::vec(0u8..6, 0..11)) {
            prop_assert_eq!(shortfall(&keys), brute(&keys));
        }
    }
}
