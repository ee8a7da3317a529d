//! `--dist loadgroup`: the tests of one named group run on one worker, in list order; a
//! group spans binaries (its key is the group name alone). An ungrouped test is a unit of
//! its own, so ungrouped tests behave as `load` with a chunk of one. The scheduling itself
//! is [`UnitScheduler`](crate::UnitScheduler)'s.

use crate::TestMeta;

/// The group of `test`, or `None` for an ungrouped test (a unit of its own).
pub(crate) fn group_key(test: &TestMeta) -> Option<String> {
    test.group.clone()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::{DistMode, SchedOptions, TestMeta, build_scheduler};

    fn test(binary: &str, name: &str, group: Option<&str>) -> TestMeta {
        TestMeta { group: group.map(str::to_string), ..TestMeta::new(binary, name) }
    }

    #[test]
    fn a_group_spans_binaries_and_keeps_list_order() {
        let tests = [
            test("a", "t0", None),
            test("a", "db::t1", Some("db")),
            test("b", "t2", None),
            test("b", "t3", Some("db")),
            test("a", "z::t4", Some("db")),
        ];
        let mut sched = build_scheduler(DistMode::LoadGroup, &tests, &SchedOptions::default());
        sched.add_worker(0);
        sched.add_worker(1);
        let plan = sched.schedule();
        assert_eq!(plan[0].tests, vec![1, 3, 4], "the group, largest unit, first");
        assert_eq!(plan[1].tests, vec![0, 2], "ungrouped tests one unit at a time");
        assert!(!sched.has_unsent());
    }

    #[test]
    fn ungrouped_tests_are_single_units_handed_out_as_workers_drain() {
        let tests: Vec<TestMeta> = (0..8).map(|i| test("a", &format!("t{i}"), None)).collect();
        let mut sched = build_scheduler(DistMode::LoadGroup, &tests, &SchedOptions::default());
        sched.add_worker(0);
        assert_eq!(sched.schedule()[0].tests, vec![0, 1]);
        sched.mark_complete(0, 0, Duration::ZERO);
        assert_eq!(sched.schedule()[0].tests, vec![2]);
        assert!(sched.schedule().is_empty(), "holds 2; no change since");
    }
}
