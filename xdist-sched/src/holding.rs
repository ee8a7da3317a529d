//! A worker's uncompleted tests in the order they were sent (`load.rs`, `worksteal.rs`), for the session's
//! questions (how many, which) and for steals (the tail: what the worker reaches last).
//!
//! Tests mostly complete in the order sent, and the front is dropped by moving an offset
//! (a `Vec::remove(0)` per completion would cost the whole holding each time). But libtest
//! runs a process's tests sorted by name, while `load` sends them longest first by the
//! duration history, so under history most completions are not the front: such a test is
//! marked gone and dropped at the next compaction, which comes once the gone outnumber the
//! held. Each completion then costs a constant amortized time, not a search and a shift of
//! the whole holding (which made a worker of 50,000 tests cost seconds).

use std::borrow::Cow;

use xdist_core::TestIndex;

/// Tests held by one worker.
#[derive(Debug, Default)]
pub(crate) struct Holding {
    /// In the order sent; from `start` on, those not `gone` are held.
    tests: Vec<TestIndex>,
    start: usize,
    /// By test index: held.
    held: Marks,
    /// By test index: completed but still in `tests[start..]`.
    gone: Marks,
}

/// A set of test indices, as a flag per index (indices are dense: the run's test slots).
#[derive(Debug, Default)]
struct Marks {
    flags: Vec<bool>,
    count: usize,
}

impl Marks {
    fn contains(&self, index: TestIndex) -> bool {
        self.flags.get(index as usize).copied().unwrap_or(false)
    }

    /// Marks `index`; says whether it was not marked.
    fn insert(&mut self, index: TestIndex) -> bool {
        let at = index as usize;
        if at >= self.flags.len() {
            self.flags.resize(at + 1, false);
        }
        let new = !std::mem::replace(&mut self.flags[at], true);
        self.count += usize::from(new);
        new
    }

    /// Unmarks `index`; says whether it was marked.
    fn remove(&mut self, index: TestIndex) -> bool {
        let was = self.flags.get_mut(index as usize).is_some_and(|f| std::mem::replace(f, false));
        self.count -= usize::from(was);
        was
    }

    fn clear(&mut self) {
        if self.count > 0 {
            self.flags.fill(false);
            self.count = 0;
        }
    }
}

impl Holding {
    /// The held tests, in the order sent.
    pub(crate) fn tests(&self) -> Cow<'_, [TestIndex]> {
        let rest = &self.tests[self.start..];
        if self.gone.count == 0 {
            Cow::Borrowed(rest)
        } else {
            Cow::Owned(rest.iter().copied().filter(|&i| !self.gone.contains(i)).collect())
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.held.count
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.held.count == 0
    }

    /// Holds `tests` too, after those held.
    pub(crate) fn extend(&mut self, tests: &[TestIndex]) {
        for &index in tests {
            if self.held.contains(index) {
                continue;
            }
            // A test completed and sent again leaves its old place for the new one.
            if self.gone.remove(index) {
                self.compact();
            }
            self.held.insert(index);
            self.tests.push(index);
        }
    }

    /// `index` completed (nothing if it is not held).
    pub(crate) fn remove(&mut self, index: TestIndex) {
        if !self.held.remove(index) {
            return;
        }
        if self.tests.get(self.start) == Some(&index) {
            self.start += 1;
            // Gone tests that now lead go too.
            while let Some(front) = self.tests.get(self.start) {
                if !self.gone.remove(*front) {
                    break;
                }
                self.start += 1;
            }
        } else {
            self.gone.insert(index);
        }
        if self.start >= 1024 && self.start * 2 >= self.tests.len() {
            self.tests.drain(..self.start);
            self.start = 0;
        }
        if self.gone.count > 1024 && self.gone.count > self.held.count {
            self.compact();
        }
    }

    /// Drops `released`; says whether any was held.
    pub(crate) fn release(&mut self, released: &[TestIndex]) -> bool {
        let before = self.len();
        for &index in released {
            self.held.remove(index);
        }
        self.compact();
        self.len() != before
    }

    /// The last `count` held tests, in the order sent (read from the end: the cost is
    /// theirs and the gone among them, not the holding's).
    pub(crate) fn tail(&self, count: usize) -> Vec<TestIndex> {
        let rest = self.tests[self.start..].iter().rev().copied();
        let mut tail: Vec<TestIndex> =
            rest.filter(|&i| !self.gone.contains(i)).take(count).collect();
        tail.reverse();
        tail
    }

    pub(crate) fn into_vec(self) -> Vec<TestIndex> {
        self.tests().into_owned()
    }

    /// Keeps only the held tests in `tests`, in order.
    fn compact(&mut self) {
        let held = &self.held;
        self.tests =
            self.tests[self.start..].iter().copied().filter(|&i| held.contains(i)).collect();
        self.start = 0;
        self.gone.clear();
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The plain model: a vector searched and shifted on every completion.
    #[derive(Default)]
    struct Model(Vec<TestIndex>);

    impl Model {
        fn extend(&mut self, tests: &[TestIndex]) {
            for &t in tests {
                if !self.0.contains(&t) {
                    self.0.push(t);
                }
            }
        }

        fn remove(&mut self, index: TestIndex) {
            if let Some(pos) = self.0.iter().position(|&i| i == index) {
                self.0.remove(pos);
            }
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Send(Vec<TestIndex>),
        Complete(TestIndex),
        Release(Vec<TestIndex>),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            1 => proptest::collection::vec(0u32..3000, 0..1500).prop_map(Op::Send),
            8 => (0u32..3000).prop_map(Op::Complete),
            1 => proptest::collection::vec(0u32..3000, 0..50).prop_map(Op::Release),
        ]
    }

    proptest! {
        #[test]
        fn holds_what_a_plain_vector_holds(ops in proptest::collection::vec(op(), 1..400)) {
            let (mut holding, mut model) = (Holding::default(), Model::default());
            for op in ops {
                match op {
                    Op::Send(tests) => {
                        holding.extend(&tests);
                        model.extend(&tests);
                    }
                    Op::Complete(index) => {
                        holding.remove(index);
                        model.remove(index);
                    }
                    Op::Release(tests) => {
                        let held = tests.iter().any(|t| model.0.contains(t));
                        prop_assert_eq!(holding.release(&tests), held);
                        model.0.retain(|t| !tests.contains(t));
                    }
                }
                prop_assert_eq!(&holding.tests()[..], &model.0[..]);
                prop_assert_eq!(holding.len(), model.0.len());
                let half = model.0.len() / 2;
                prop_assert_eq!(&holding.tail(half)[..], &model.0[model.0.len() - half..]);
            }
        }
    }

    #[test]
    fn completions_in_another_order_keep_the_order_sent() {
        let mut holding = Holding::default();
        let sent: Vec<TestIndex> = (0..5000).rev().collect();
        holding.extend(&sent);
        // libtest's order (by name, here by index): every completion but the last is not the
        // front, as under history.
        for index in 0..4990 {
            holding.remove(index);
        }
        assert_eq!(&holding.tests()[..], &(4990..5000).rev().collect::<Vec<_>>()[..]);
        assert_eq!(holding.len(), 10);
        assert!(holding.tests.len() < 5000, "compacted on the way");
    }
}
