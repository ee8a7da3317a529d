//! Many small test processes at once, with far more workers than cores: no passing test may
//! ever be reported failed because its output was read late. Slow, so ignored by default;
//! `.ci/run` runs it (`cargo test -p cargo-xdist --test e2e -- --ignored stress`).

use crate::support::*;

const SWARM: &str = "tests/fixtures/swarm";

#[test]
#[ignore = "slow stress test; .ci/run runs it"]
fn oversubscribed_workers_report_no_false_failures() {
    let want = cargo_test_outcomes(SWARM, &[], &[]);
    assert!(want.len() > 300 && want.values().all(|o| *o == Outcome::Pass), "{want:?}");
    for round in 0..4 {
        for dist in ["load", "worksteal"] {
            let out = xdist(SWARM, "run").args(["-n", "16", "--dist", dist]).output().unwrap();
            let stdout = text(&out.stdout);
            assert_eq!(xdist_outcomes(&out), want, "round {round}, --dist {dist}:\n{stdout}");
            assert_eq!(out.status.code(), Some(0), "round {round}, --dist {dist}:\n{stdout}");
        }
    }
}
