//! `--dist loadfile`: a scope is a test's source file, so the tests of one file run on one
//! worker. The key is the binary id plus the source file when the listing knows the file
//! (a file compiled into two binaries is two scopes: a fixture lives in one process of one
//! binary). Otherwise it is the binary id plus the top-level module (a unit test's
//! `tests::a` and `tests::b::c` share `tests`, usually one file), and the binary id alone
//! for tests at the root of their binary (an integration test's one file). The scheduling
//! itself is [`UnitScheduler`](crate::UnitScheduler)'s.

use crate::TestMeta;

/// The file scope of `test`; see the module docs.
pub(crate) fn file_key(test: &TestMeta) -> Option<String> {
    let binary = &test.binary_id;
    Some(match (&test.source_file, test.name.split_once("::")) {
        (Some(file), _) => format!("{binary} {file}"),
        (None, Some((top, _))) => format!("{binary} {top}"),
        (None, None) => binary.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DistMode, SchedOptions, build_scheduler};

    fn key(binary: &str, name: &str, file: Option<&str>) -> String {
        let test =
            TestMeta { source_file: file.map(str::to_string), ..TestMeta::new(binary, name) };
        file_key(&test).expect("always a scope")
    }

    #[test]
    fn the_source_file_wins_when_known() {
        assert_eq!(key("c", "a::b::t", Some("src/a/b.rs")), "c src/a/b.rs");
        assert_eq!(key("c", "t", Some("tests/it.rs")), "c tests/it.rs");
        assert_ne!(
            key("c::x", "t", Some("tests/common.rs")),
            key("c::y", "t", Some("tests/common.rs"))
        );
    }

    #[test]
    fn else_the_top_level_module_else_the_binary() {
        assert_eq!(key("c", "a::b::t", None), "c a");
        assert_eq!(key("c", "a::t", None), "c a");
        assert_eq!(key("c::it", "t", None), "c::it");
    }

    #[test]
    fn a_file_goes_to_one_worker() {
        let tests: Vec<TestMeta> = ["a::x::t1", "b::t2", "a::t3", "a::y::t4"]
            .into_iter()
            .map(|name| TestMeta::new("c", name))
            .collect();
        let mut sched = build_scheduler(DistMode::LoadFile, &tests, &SchedOptions::default());
        sched.add_worker(0);
        sched.add_worker(1);
        let plan = sched.schedule();
        assert_eq!(plan[0].tests, vec![0, 2, 3]);
        assert_eq!(plan[1].tests, vec![1]);
    }
}
