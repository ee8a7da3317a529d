//! `--dist loadscope`: a scope is a test's binary id plus its module path (the name up to
//! the last `::`), so the tests of one module, and any `OnceLock` fixture they share, run on
//! one worker. A test at the root of its binary (no `::`) has the binary id as its scope.
//! The scheduling itself is [`UnitScheduler`](crate::UnitScheduler)'s.

use crate::TestMeta;

/// The scope of `test`: `"{binary_id} {module path}"`, or the binary id alone.
pub(crate) fn scope_key(test: &TestMeta) -> Option<String> {
    Some(match test.name.rsplit_once("::") {
        Some((module, _)) => format!("{} {module}", test.binary_id),
        None => test.binary_id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{Assignment, DistMode, SchedOptions, build_scheduler};

    fn key(binary: &str, name: &str) -> String {
        scope_key(&TestMeta::new(binary, name)).expect("always a scope")
    }

    #[test]
    fn the_scope_is_the_binary_and_the_module_path() {
        assert_eq!(key("crate", "a::b::test"), "crate a::b");
        assert_eq!(key("crate", "a::test"), "crate a");
        assert_eq!(key("crate::it", "top_level"), "crate::it");
        assert_ne!(key("crate", "a::t"), key("crate::bin/x", "a::t"), "binaries never share");
    }

    /// Scopes of 1, 3 and 2 tests, interleaved in the list.
    fn suite() -> Vec<TestMeta> {
        ["s::a", "m::a", "l::a", "m::b", "l::b", "m::c"]
            .into_iter()
            .map(|name| TestMeta::new("bin", name))
            .collect()
    }

    fn first_plan(tests: &[TestMeta], options: &SchedOptions, workers: u32) -> Vec<Assignment> {
        let mut sched = build_scheduler(DistMode::LoadScope, tests, options);
        for w in 0..workers {
            sched.add_worker(w);
        }
        sched.schedule()
    }

    #[test]
    fn largest_scopes_go_first() {
        let plan = first_plan(&suite(), &SchedOptions::default(), 2);
        // m (3 tests) to worker 0; l (2 tests) to worker 1, which holds 2 and also gets s.
        assert_eq!(plan[0].tests, vec![1, 3, 5]);
        assert_eq!(plan[1].tests, vec![2, 4, 0]);
    }

    #[test]
    fn no_reorder_keeps_first_appearance_order() {
        let options = SchedOptions { loadscope_reorder: false, ..SchedOptions::default() };
        let plan = first_plan(&suite(), &options, 2);
        // s (1 test) to worker 0, which then also gets l; m to worker 1.
        assert_eq!(plan[0].tests, vec![0, 2, 4]);
        assert_eq!(plan[1].tests, vec![1, 3, 5]);
    }

    #[test]
    fn history_orders_scopes_by_total_duration() {
        let mut tests = suite();
        tests[0].duration = Some(Duration::from_secs(10));
        for i in [1, 3, 5] {
            tests[i].duration = Some(Duration::from_secs(1));
        }
        // l is unknown and counts as the median (1 s): s = 10 s, m = 3 s, l = 2 s.
        let plan = first_plan(&tests, &SchedOptions::default(), 1);
        assert_eq!(plan[0].tests, vec![0, 1, 3, 5], "s, then m as a second unit");
        let off = SchedOptions { use_history: false, ..SchedOptions::default() };
        assert_eq!(first_plan(&tests, &off, 1)[0].tests, vec![1, 3, 5], "m has most tests");
        let no_reorder = SchedOptions { loadscope_reorder: false, ..SchedOptions::default() };
        assert_eq!(first_plan(&tests, &no_reorder, 1)[0].tests, vec![0, 1, 3, 5]);
    }
}
