//! Setup and teardown scripts in the JUnit report: a `testsuite` per phase that ran a
//! script, `@setup` before the binaries' suites and `@teardown` after them (the `@` keeps
//! them apart from any binary id, as nextest's `@setup-script:` suites), with a `testcase`
//! per script named by its command line: a `failure` when it failed or was stopped, and its
//! output as `system-out`.

use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};

use crate::scripts::{ScriptRecord, ScriptResult};

/// The suite of the scripts of `phase` among `records`, if any ran.
pub fn suite(phase: &str, records: &[ScriptRecord]) -> Option<TestSuite> {
    let name = format!("@{phase}");
    let mut suite = TestSuite::new(name.as_str());
    for record in records.iter().filter(|r| r.phase == phase) {
        let status = match &record.result {
            ScriptResult::Passed => TestCaseStatus::success(),
            ScriptResult::Failed(why) => failure(why, "script failure"),
            ScriptResult::Interrupted(signal) => {
                failure(&format!("stopped by {signal}"), "script interrupted")
            }
        };
        let mut case = TestCase::new(record.command.as_str(), status);
        case.set_classname(name.as_str());
        case.set_time(record.duration);
        case.add_property(Property::new("index", record.index.to_string()));
        if !record.output.is_empty() {
            case.set_system_out_lossy(&record.output);
        }
        suite.add_test_case(case);
    }
    (!suite.test_cases.is_empty()).then_some(suite)
}

fn failure(message: &str, kind: &str) -> TestCaseStatus {
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
    status.set_message(message).set_type(kind);
    status
}
