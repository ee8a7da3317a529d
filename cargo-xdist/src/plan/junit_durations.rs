//! Test durations out of a JUnit XML report, for `cargo xdist durations import`.
//!
//! Every `testcase` element that ran (no `skipped` child) and has a `time` gives the id
//! `<classname> <name>` and `time` seconds. cargo-xdist and cargo-nextest write
//! `classname` = the binary id and `name` = the test name, so their ids are the history's;
//! a converter that writes something else as `classname` gives ids that match nothing
//! (harmless, but useless). A `testcase` without `classname` takes its `testsuite`'s
//! `name`; one without `name` or `time` is left out.

use camino::Utf8Path;

use crate::errors::DurationsError;

/// `(test id, seconds)` of each testcase of the report `xml`, read from `path`.
pub fn junit_durations(path: &Utf8Path, xml: &str) -> Result<Vec<(String, f64)>, DurationsError> {
    let doc = roxmltree::Document::parse(xml)
        .map_err(|source| DurationsError::Xml { path: path.into(), source })?;
    let mut durations = Vec::new();
    for case in doc.descendants().filter(|n| n.has_tag_name("testcase")) {
        let (Some(name), Some(time)) = (case.attribute("name"), case.attribute("time")) else {
            continue;
        };
        if case.children().any(|c| c.has_tag_name("skipped")) {
            continue;
        }
        let suite = case.ancestors().find(|n| n.has_tag_name("testsuite"));
        let Some(class) =
            case.attribute("classname").or_else(|| suite.and_then(|s| s.attribute("name")))
        else {
            continue;
        };
        let secs = time.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0);
        let Some(secs) = secs else {
            let pos = doc.text_pos_at(case.range().start);
            return Err(DurationsError::BadTime {
                path: path.into(),
                line: pos.row,
                column: pos.col,
                value: time.into(),
            });
        };
        durations.push((format!("{class} {name}"), secs));
    }
    Ok(durations)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(xml: &str) -> Result<Vec<(String, f64)>, String> {
        junit_durations(Utf8Path::new("r.xml"), xml).map_err(|e| e.to_string())
    }

    #[test]
    fn nextest_and_xdist_reports_give_binary_id_and_name() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nextest-run" tests="3" failures="1" errors="0" uuid="x" time="0.5">
    <testsuite name="demo-core" tests="3" disabled="1" errors="0" failures="1">
        <testcase name="tests::adds" classname="demo-core" timestamp="2026-01-01T00:00:00Z" time="0.012"/>
        <testcase name="tests::fails" classname="demo-core" time="1.5"><failure type="test failure"/></testcase>
        <testcase name="tests::ignored" classname="demo-core" time="0"><skipped/></testcase>
    </testsuite>
    <testsuite name="demo-cli::bin/demo"><testcase name="runs" classname="demo-cli::bin/demo" time="2"/></testsuite>
</testsuites>"#;
        assert_eq!(
            read(xml).unwrap(),
            [
                ("demo-core tests::adds".to_string(), 0.012),
                ("demo-core tests::fails".to_string(), 1.5),
                ("demo-cli::bin/demo runs".to_string(), 2.0),
            ]
        );
    }

    #[test]
    fn other_converters_keep_their_classname_or_the_suites_name() {
        // cargo2junit-style: one suite, classname a module path; and one without classname.
        let xml = r#"<testsuites><testsuite name="mycrate">
            <testcase name="adds" classname="mycrate::tests" time="0.25"/>
            <testcase name="bare" time="1"/>
            <testcase name="no_time" classname="x"/>
        </testsuite></testsuites>"#;
        assert_eq!(
            read(xml).unwrap(),
            [("mycrate::tests adds".to_string(), 0.25), ("mycrate bare".to_string(), 1.0)]
        );
    }

    #[test]
    fn bad_input_names_the_file_and_position() {
        let error = read("<testsuites>\n  <testcase name=\"a\" time=\"1\">\n</testsuites>");
        let error = error.unwrap_err();
        assert!(error.starts_with("r.xml: not a JUnit XML report: "), "{error}");
        assert!(error.ends_with(" at 3:1"), "{error}");
        assert!(!error.contains('\n'), "{error}");
        let error = read(
            "<testsuites>\n  <testcase classname=\"c\" name=\"a\" time=\"soon\"/>\n</testsuites>",
        );
        assert_eq!(
            error.unwrap_err(),
            "r.xml:2:3: testcase `time` must be a number of seconds, got `soon`"
        );
        for bad in ["-1", "NaN", "inf"] {
            let xml = format!("<testcase classname=\"c\" name=\"a\" time=\"{bad}\"/>");
            assert!(read(&xml).is_err(), "{bad}");
        }
    }
}
