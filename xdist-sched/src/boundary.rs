//! Moving the end of a contiguous chunk of the queue to the nearest test-binary boundary.
//!
//! A worker runs what it holds in one process per binary, so a chunk of the queue that ends
//! inside a binary costs that binary a second process (on whichever worker gets the rest).
//! For small binaries that start is most of their cost: 25 binaries of 60 tiny tests, handed
//! out in chunks of 100 tests, start about 40 processes instead of 25. A chunk's size is a
//! rough target anyway (a fraction of the queue, or 100 ms of estimated work), so its end may
//! move to a binary boundary nearby: back, when the chunk keeps at least half its tests; or
//! forward, by at most half as many tests again. The nearer boundary wins; the caller says
//! whether the tests it would move are little enough work to move.

use std::collections::VecDeque;

use crate::TestIndex;

/// Where a chunk of the first `take` tests of `queue` should end: `take` itself when it
/// already ends a binary's run (or cannot move), else the nearest binary boundary within
/// half of `take` (never past `most`, never to an empty chunk) whose moved tests
/// `movable` accepts.
pub(crate) fn aligned_end(
    queue: &VecDeque<TestIndex>,
    take: usize,
    most: usize,
    binaries: &[u32],
    movable: impl Fn(&[TestIndex]) -> bool,
) -> usize {
    let len = queue.len();
    if take == 0 || take >= len {
        return take;
    }
    let binary_at = |position: usize| binaries.get(queue[position] as usize).copied();
    let cut = binary_at(take - 1);
    if binary_at(take) != cut {
        return take;
    }
    let slack = (take / 2).max(1);
    // The cut binary's run around `take`: [start, end), each looked at only within the slack.
    let mut end = take;
    while end < len && end - take <= slack && binary_at(end) == cut {
        end += 1;
    }
    let forward = (end - take <= slack && end <= most).then_some(end);
    let mut start = take;
    while start > 0 && take - start <= slack && binary_at(start - 1) == cut {
        start -= 1;
    }
    let backward = (start > 0 && take - start <= slack).then_some(start);
    let mut candidates: Vec<usize> = forward.into_iter().chain(backward).collect();
    candidates.sort_by_key(|&boundary| boundary.abs_diff(take));
    candidates
        .into_iter()
        .find(|&boundary| {
            let (from, to) = if boundary > take { (take, boundary) } else { (boundary, take) };
            movable(&queue.range(from..to).copied().collect::<Vec<_>>())
        })
        .unwrap_or(take)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A queue of `runs` binaries (binary `b` has `runs[b]` tests), in order.
    fn queue_of(runs: &[usize]) -> (VecDeque<TestIndex>, Vec<u32>) {
        let binaries: Vec<u32> =
            runs.iter().enumerate().flat_map(|(b, &n)| std::iter::repeat_n(b as u32, n)).collect();
        let queue = (0..binaries.len() as TestIndex).collect();
        (queue, binaries)
    }

    fn any(_: &[TestIndex]) -> bool {
        true
    }

    #[test]
    fn a_chunk_inside_a_binary_ends_at_the_nearer_boundary() {
        let (queue, binaries) = queue_of(&[60, 60, 60]);
        assert_eq!(aligned_end(&queue, 100, 180, &binaries, any), 120, "20 forward");
        assert_eq!(aligned_end(&queue, 70, 180, &binaries, any), 60, "10 back");
        assert_eq!(aligned_end(&queue, 60, 180, &binaries, any), 60, "already a boundary");
    }

    #[test]
    fn it_moves_at_most_half_the_chunk_and_never_past_the_most() {
        let (queue, binaries) = queue_of(&[10, 200]);
        // 40 is 30 past the boundary at 10 (more than half of 40) and 170 before the next.
        assert_eq!(aligned_end(&queue, 40, 210, &binaries, any), 40);
        let (queue, binaries) = queue_of(&[100, 30, 100]);
        assert_eq!(aligned_end(&queue, 120, 125, &binaries, any), 100, "130 is past the most");
        assert_eq!(aligned_end(&queue, 120, 200, &binaries, any), 130);
    }

    #[test]
    fn it_never_empties_the_chunk_and_keeps_it_when_the_move_is_refused() {
        let (queue, binaries) = queue_of(&[50, 50]);
        // Back would be 0 tests; forward is 49 tests away, more than half of 1.
        assert_eq!(aligned_end(&queue, 1, 100, &binaries, any), 1);
        let refuse = |_: &[TestIndex]| false;
        assert_eq!(aligned_end(&queue, 45, 100, &binaries, refuse), 45);
        // The nearer boundary refused, the farther one is taken.
        let only_forward = |tests: &[TestIndex]| tests.iter().all(|&t| t >= 45);
        let (queue, binaries) = queue_of(&[40, 60, 40]);
        assert_eq!(aligned_end(&queue, 45, 140, &binaries, only_forward), 45, "forward too far");
        assert_eq!(aligned_end(&queue, 90, 140, &binaries, only_forward), 100);
    }

    #[test]
    fn the_whole_queue_or_nothing_is_left_alone() {
        let (queue, binaries) = queue_of(&[5, 5]);
        assert_eq!(aligned_end(&queue, 10, 10, &binaries, any), 10);
        assert_eq!(aligned_end(&queue, 0, 10, &binaries, any), 0);
    }
}
