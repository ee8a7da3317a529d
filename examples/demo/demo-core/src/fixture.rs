//! Five tests sharing one slow (300 ms) fixture held in a `OnceLock`.
//!
//! With `DEMO_LOG_DIR` set, building the fixture appends
//! `fixture-built pid=<pid> worker=<XDIST_WORKER|none>` to
//! `$DEMO_LOG_DIR/fixture.log`, and every test appends
//! `test fixture::tests::<name> pid=<pid> worker=<XDIST_WORKER|none>` to
//! `$DEMO_LOG_DIR/tests.log`. Counting lines in `fixture.log` shows how many
//! processes had to build the fixture.

#[cfg(test)]
mod tests {
    use crate::testlog;
    use std::sync::OnceLock;
    use std::time::Duration;

    struct Fixture {
        squares: Vec<u64>,
    }

    static FIXTURE: OnceLock<Fixture> = OnceLock::new();

    fn build_fixture() -> Fixture {
        std::thread::sleep(Duration::from_millis(300));
        testlog::append(
            "fixture.log",
            &format!(
                "fixture-built pid={} worker={}",
                std::process::id(),
                testlog::worker()
            ),
        );
        Fixture {
            squares: (0..10).map(|i| i * i).collect(),
        }
    }

    fn fixture(test_name: &str) -> &'static Fixture {
        testlog::append(
            "tests.log",
            &format!(
                "test {}::{} pid={} worker={}",
                testlog::libtest_path(module_path!()),
                test_name,
                std::process::id(),
                testlog::worker()
            ),
        );
        FIXTURE.get_or_init(build_fixture)
    }

    #[test]
    fn fixture_1() {
        assert_eq!(fixture("fixture_1").squares[1], 1);
    }

    #[test]
    fn fixture_2() {
        assert_eq!(fixture("fixture_2").squares[2], 4);
    }

    #[test]
    fn fixture_3() {
        assert_eq!(fixture("fixture_3").squares[3], 9);
    }

    #[test]
    fn fixture_4() {
        assert_eq!(fixture("fixture_4").squares[4], 16);
    }

    #[test]
    fn fixture_5() {
        assert_eq!(fixture("fixture_5").squares.len(), 10);
    }
}
