//! Ordering by recorded durations ("history"): the longest tests or units go first.
//!
//! Where history knows some tests but not others, an unknown test is counted as the median
//! of the known durations: a new test is as likely to be long as short, and the median keeps
//! one outlier from deciding where every new test goes. Sorts are stable, so equal estimates
//! (and the whole list, when nothing is known) keep collection order.

use std::cmp::Reverse;
use std::time::Duration;

use crate::deal::TINY;
use crate::{SchedOptions, TestIndex, TestMeta, index_range};

/// Each test's estimated run time, or `None` when history is off or knows no test at all.
pub(crate) fn estimates(tests: &[TestMeta], options: &SchedOptions) -> Option<Vec<Duration>> {
    if !options.use_history {
        return None;
    }
    let mut known: Vec<Duration> = tests.iter().filter_map(|t| t.duration).collect();
    if known.is_empty() {
        return None;
    }
    known.sort_unstable();
    let mid = known.len() / 2;
    let median = if known.len() % 2 == 1 { known[mid] } else { (known[mid - 1] + known[mid]) / 2 };
    Some(tests.iter().map(|t| t.duration.unwrap_or(median)).collect())
}

/// A duration's class for ordering: every tiny test in one, the rest by sixteenths of an
/// octave (about 4% apart). Tests of a class keep collection order, so tiny tests stay in the
/// contiguous runs that batches name by module (a test binary of thousands of tiny tests
/// would otherwise be dealt in the order of its timing noise), while long tests still go
/// first.
fn duration_class(estimate: Duration) -> u32 {
    if estimate < TINY {
        return 0;
    }
    let micros = estimate.as_micros().max(1) as f64;
    1 + (micros.log2() * 16.0) as u32
}

/// The order `load` and `worksteal` queue tests in: the tests marked `first` before the
/// others, and within each part longest estimated first (LPT, by [`duration_class`]) when
/// history is on and knows something, else collection order.
pub(crate) fn run_order(tests: &[TestMeta], options: &SchedOptions) -> Vec<TestIndex> {
    let mut order: Vec<TestIndex> = index_range(tests.len()).collect();
    match estimates(tests, options) {
        Some(estimate) => {
            let key = |i: TestIndex| Reverse(duration_class(estimate[i as usize]));
            order.sort_by_key(|&i| (!tests[i as usize].first, key(i)));
        }
        None => order.sort_by_key(|&i| !tests[i as usize].first),
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(ms: Option<u64>) -> TestMeta {
        TestMeta { duration: ms.map(Duration::from_millis), ..TestMeta::new("b", "t") }
    }

    #[test]
    fn unknown_tests_count_as_the_median() {
        let tests = [meta(Some(10)), meta(None), meta(Some(30)), meta(Some(20)), meta(Some(40))];
        let est = estimates(&tests, &SchedOptions::default()).expect("history known");
        assert_eq!(est[1], Duration::from_millis(25), "median of 10, 20, 30, 40");
    }

    #[test]
    fn longest_first_keeps_collection_order_on_ties() {
        let tests = [meta(Some(50)), meta(None), meta(Some(500)), meta(Some(50)), meta(Some(70))];
        // Median of 50, 50, 70, 500 is 60: the unknown test sits between 70 and the 50s.
        assert_eq!(run_order(&tests, &SchedOptions::default()), vec![2, 4, 1, 0, 3]);
    }

    #[test]
    fn tests_marked_first_go_first_whatever_their_estimates() {
        let mut tests =
            [meta(Some(50)), meta(Some(10)), meta(Some(500)), meta(None), meta(Some(20))];
        tests[1].first = true;
        tests[3].first = true;
        assert_eq!(run_order(&tests, &SchedOptions::default()), vec![3, 1, 2, 0, 4]);
        let off = SchedOptions { use_history: false, ..SchedOptions::default() };
        assert_eq!(run_order(&tests, &off), vec![1, 3, 0, 2, 4]);
    }

    #[test]
    fn tiny_tests_keep_collection_order_whatever_their_noise() {
        let tests = [meta(Some(3)), meta(Some(1)), meta(Some(40)), meta(Some(9)), meta(Some(2))];
        assert_eq!(run_order(&tests, &SchedOptions::default()), vec![2, 0, 1, 3, 4]);
        assert!(
            duration_class(Duration::from_millis(900)) < duration_class(Duration::from_secs(1))
        );
    }

    #[test]
    fn no_history_keeps_collection_order() {
        let tests = [meta(Some(5)), meta(Some(50))];
        let off = SchedOptions { use_history: false, ..SchedOptions::default() };
        assert_eq!(run_order(&tests, &off), vec![0, 1]);
        assert_eq!(run_order(&[meta(None), meta(None)], &SchedOptions::default()), vec![0, 1]);
        assert!(estimates(&[meta(None)], &SchedOptions::default()).is_none());
    }
}
