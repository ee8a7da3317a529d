//! `-E/--filterset`: the same expressions select the same tests as `cargo nextest list -E`;
//! a malformed expression is a one-line error naming the column, exit 2; a profile's
//! `default-filter` is ANDed with `-E`.

use crate::support::*;

const DEMO: &str = "examples/demo";
/// 340 tests in four binaries (lib, two integration tests, a bin), 62 of them ignored.
const SHARDS: &str = "tests/fixtures/shards";

fn xdist_selection(fixture: &str, args: &[&str]) -> Vec<String> {
    let out = xdist(fixture, "list").args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    text(&out.stdout).lines().map(String::from).collect()
}

fn same_as_nextest(fixture: &str, cases: &[&[&str]]) {
    let all = ["--run-ignored", "all", "--ignore-default-filter"];
    let everything = xdist_selection(fixture, &all).len();
    for args in cases {
        let ours = xdist_selection(fixture, args);
        let theirs = nextest_selection(fixture, args);
        assert_eq!(ours, theirs, "{fixture}: {args:?}");
        // Each case selects something and leaves something out, so it tells apart.
        let none = args.iter().any(|a| a.contains("none()"));
        assert!(none || !ours.is_empty(), "{fixture}: {args:?} selects nothing");
        assert!(ours.len() < everything, "{fixture}: {args:?} selects everything");
    }
}

#[test]
fn filtersets_select_what_nextest_selects() {
    if !nextest_available("filtersets_select_what_nextest_selects") {
        return;
    }
    same_as_nextest(
        SHARDS,
        &[
            &["-E", "test(common)"],
            &["-E", "test(=common_name)"],
            &["-E", "test(~CASE)"],
            &["-E", "test(/^[A-Z]/)"],
            &["-E", "test(/_1[05]$/)"],
            &["-E", "test(#*::t0[0-2]?)"],
            &["-E", "test(#case00*)"],
            &["-E", r"test(=alpha::t00\u{31})"],
            &["-E", "kind(test)"],
            &["-E", "kind(bin) | kind(lib)"],
            &["-E", "binary(one) + binary(shards-bin)"],
            &["-E", "binary(shards)"],
            &["-E", "binary_id(shards::*)"],
            &["-E", "binary_id(=shards::two) and not test(case)"],
            &["-E", "binary_id(/o/)"],
            &["-E", "package(shards) & test(/9$/)"],
            &["-E", "all() - test(/1/)"],
            &["-E", "none()"],
            &["-E", "not (kind(lib) or test(~CASE))"],
            &["-E", "!test(t0) & package(#sha*) & !kind(lib)"],
            &["-E", "test(a) | test(b) & test(c)"],
            &["-E", "(test(a) | test(b)) & test(c)"],
            &["-E", "test(a) & test(T) - test(1)"],
            &["-E", "  ( test(_5) )  "],
            // Spaces before a matcher are skipped, after it they are part of it.
            &["-E", "test( _5) | test(T_5)"],
            &["-E", "test(_5 ) | test(T_5)"],
            // Several -E are OR'd.
            &["-E", "test(case001)", "-E", "kind(bin)"],
            // With name filters: both must match.
            &["-E", "kind(test)", "--", "common"],
            &["-E", "kind(lib)", "--", "T_", "common"],
            // Ignored tests are filtered too.
            &["-E", "test(1)", "--run-ignored", "all"],
            &["-E", "kind(test)", "--run-ignored", "only"],
        ],
    );
    same_as_nextest(
        DEMO,
        &[
            &["-E", "package(demo-cli)"],
            &["-E", "package(demo-*) - package(demo-core)"],
            &["-E", "kind(proc-macro)"],
            &["-E", "kind(lib) & test(/^math::/)"],
            &["-E", "binary(demo_core) & test(tests::nested)"],
            &["-E", "binary(demo-cli) | binary(cli)"],
            &["-E", "binary_id(demo-cli::*)"],
            &["-E", "binary_id(=demo-cli::bin/demo-cli)"],
            &["-E", "package(=demo-core) and not test(/crash|fail/)"],
        ],
    );
}

#[test]
fn a_malformed_filterset_is_a_one_line_error_at_its_column() {
    for (expr, column, what) in [
        ("test(a) &", 10, "expected an expression"),
        ("test(a) | bogus(b)", 11, "unknown predicate `bogus()`"),
        ("deps(demo-core)", 1, "`deps()` is not supported"),
        ("test(/[/)", 6, "invalid regex"),
        ("(test(a)", 9, "expected `)`"),
    ] {
        let out = xdist(DEMO, "list").args(["-E", expr]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{expr}");
        let stderr = text(&out.stderr);
        let want = format!("error: -E: invalid filterset `{expr}`: column {column}: ");
        assert!(stderr.starts_with(&want) && stderr.contains(what), "{expr}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        // It is caught before anything is built.
        assert!(!stderr.contains("Compiling"), "{stderr}");
    }
}

#[test]
fn the_default_filter_is_anded_with_e_and_can_be_ignored() {
    let with_default = |args: &[&str]| {
        let out = xdist(DEMO, "list")
            .env("XDIST_DEFAULT_FILTER", "package(demo-core)")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).lines().map(String::from).collect::<Vec<_>>()
    };
    let core = xdist_selection(DEMO, &["-E", "package(demo-core)"]);
    assert_eq!(with_default(&[]), core);
    assert_eq!(
        with_default(&["-E", "test(tests::)"]),
        xdist_selection(DEMO, &["-E", "package(demo-core) & test(tests::)"])
    );
    assert_eq!(
        with_default(&["-E", "test(tests::)", "--ignore-default-filter"]),
        xdist_selection(DEMO, &["-E", "test(tests::)"])
    );
    assert_eq!(with_default(&["-E", "default() | kind(test)"]), core);
    // Ignored, `default()` still names it.
    assert_eq!(
        with_default(&["-E", "default()", "--ignore-default-filter"]),
        core,
        "default() is the default filter under --ignore-default-filter too"
    );
    assert!(with_default(&["-E", "not default()"]).is_empty());
    // `run` applies it too.
    let out = xdist(DEMO, "run")
        .env("XDIST_DEFAULT_FILTER", "package(demo-cli)")
        .args(["-E", "kind(test)"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(final_line(&out), "xdist: 4 passed, 0 failed, 0 skipped");
}

#[test]
fn the_default_filter_selects_what_nextests_selects() {
    if !nextest_available("the_default_filter_selects_what_nextests_selects") {
        return;
    }
    // A copy of the fixture with the same default filter for both tools.
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("shards");
    copy_tree(&repo_root().join(SHARDS), &ws);
    std::fs::create_dir_all(ws.join(".config")).unwrap();
    let profile = "[profile.default]\ndefault-filter = \"kind(test) | test(=alpha::t001)\"\n";
    std::fs::write(ws.join(".config/nextest.toml"), profile).unwrap();
    std::fs::write(ws.join(".config/xdist.toml"), profile).unwrap();
    let ws = ws.to_str().unwrap();
    same_as_nextest(
        ws,
        &[
            &[],
            &["-E", "test(common)"],
            &["-E", "test(common)", "--ignore-default-filter"],
            &["-E", "not default()", "--ignore-default-filter"],
            &["-E", "default() & test(CASE)", "--ignore-default-filter"],
            &["-E", "default() | kind(bin)"],
            &["-E", "kind(lib)", "--", "t00"],
        ],
    );
}
