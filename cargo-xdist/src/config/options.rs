//! Turns command-line options into the settings the core takes: the test filter and the
//! number of workers. Errors here are [`UsageError`]s (exit 2).

use xdist_core::testlist::{RunIgnored, TestFilter};

use crate::cli::{FilterOptions, RunIgnoredArg};
use crate::errors::UsageError;

impl FilterOptions {
    /// The filter these options describe, with libtest arguments after `--` folded in.
    pub fn to_filter(&self) -> Result<TestFilter, UsageError> {
        let mut filter = TestFilter {
            patterns: self.filters.clone(),
            skip: self.skip.clone(),
            exact: self.exact,
            run_ignored: match self.run_ignored {
                Some(RunIgnoredArg::Only) => RunIgnored::Only,
                Some(RunIgnoredArg::All) => RunIgnored::All,
                Some(RunIgnoredArg::Default) | None => RunIgnored::Default,
            },
        };
        if self.ignored {
            filter.run_ignored = RunIgnored::Only;
        }
        if self.include_ignored {
            filter.run_ignored = RunIgnored::All;
        }
        let mut args = self.libtest_args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--exact" => filter.exact = true,
                "--ignored" => filter.run_ignored = RunIgnored::Only,
                "--include-ignored" => filter.run_ignored = RunIgnored::All,
                "--skip" => {
                    let pattern = args.next().ok_or(UsageError::SkipWithoutPattern)?;
                    filter.skip.push(pattern.clone());
                }
                // Accepted for cargo test compatibility; the worker always captures output
                // and runs one test at a time per process.
                "--nocapture" | "--show-output" | "--quiet" | "-q" => {}
                "--test-threads" => {
                    args.next();
                }
                other if other.starts_with("--skip=") => {
                    filter.skip.push(other["--skip=".len()..].to_string());
                }
                other if other.starts_with("--test-threads=") => {}
                other if other.starts_with('-') => {
                    return Err(UsageError::UnsupportedLibtestArg { arg: other.to_string() });
                }
                pattern => filter.patterns.push(pattern.to_string()),
            }
        }
        Ok(filter)
    }
}

/// CPUs this process may use (affinity and cgroup quota respected).
pub fn available_cpus() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// All logical CPUs of the machine.
fn logical_cpus() -> u32 {
    use nix::unistd::{SysconfVar, sysconf};
    match sysconf(SysconfVar::_NPROCESSORS_ONLN) {
        Ok(Some(n)) if n > 0 => n as u32,
        _ => available_cpus(),
    }
}

/// Resolves `-n N|auto|logical` and `--maxprocesses`.
pub fn worker_count(
    numprocesses: Option<&str>,
    maxprocesses: Option<u32>,
) -> Result<u32, UsageError> {
    let auto = || -> Result<u32, UsageError> {
        match std::env::var("XDIST_AUTO_NUM_WORKERS") {
            Ok(value) => parse_count(&value, "XDIST_AUTO_NUM_WORKERS"),
            Err(_) => Ok(available_cpus()),
        }
    };
    let count = match numprocesses {
        None | Some("auto") => auto()?,
        Some("logical") => logical_cpus(),
        Some(n) => parse_count(n, "-n")?,
    };
    if maxprocesses == Some(0) {
        return Err(UsageError::ZeroMaxProcesses);
    }
    Ok(maxprocesses.map_or(count, |max| count.min(max)))
}

/// Checks `-n` and `--maxprocesses` as given on the command line, before anything is built
/// (a bad value would otherwise be found only when the workers start).
pub fn check_worker_flags(
    numprocesses: Option<&str>,
    maxprocesses: Option<u32>,
) -> Result<(), UsageError> {
    if let Some(n) = numprocesses.filter(|n| !matches!(*n, "auto" | "logical")) {
        parse_count(n, "-n")?;
    }
    if maxprocesses == Some(0) {
        return Err(UsageError::ZeroMaxProcesses);
    }
    Ok(())
}

fn parse_count(value: &str, what: &'static str) -> Result<u32, UsageError> {
    match value.trim().parse::<u32>() {
        Ok(0) => Err(UsageError::ZeroWorkers { what }),
        Ok(n) => Ok(n),
        Err(source) => Err(UsageError::BadWorkerCount { what, value: value.to_string(), source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtest_args_after_double_dash() {
        let opts = FilterOptions {
            filters: vec!["a".into()],
            libtest_args: [
                "b",
                "--exact",
                "--skip",
                "c",
                "--skip=d",
                "--include-ignored",
                "--test-threads",
                "3",
            ]
            .map(String::from)
            .to_vec(),
            ..Default::default()
        };
        let f = opts.to_filter().unwrap();
        assert_eq!(f.patterns, ["a", "b"]);
        assert_eq!(f.skip, ["c", "d"]);
        assert!(f.exact);
        assert_eq!(f.run_ignored, RunIgnored::All);
    }

    #[test]
    fn bad_libtest_args_are_usage_errors() {
        let opts = FilterOptions { libtest_args: vec!["--bogus".into()], ..Default::default() };
        assert!(opts.to_filter().unwrap_err().to_string().contains("--bogus"));
        let opts = FilterOptions { libtest_args: vec!["--skip".into()], ..Default::default() };
        assert!(opts.to_filter().is_err());
    }

    #[test]
    fn worker_counts() {
        assert_eq!(worker_count(Some("3"), None).unwrap(), 3);
        assert_eq!(worker_count(Some("8"), Some(2)).unwrap(), 2);
        assert!(worker_count(Some("logical"), None).unwrap() >= 1);
        assert!(worker_count(Some("0"), None).is_err());
        assert!(worker_count(Some("abc"), None).unwrap_err().to_string().contains("abc"));
        for (n, max) in
            [(Some("0"), None), (Some("abc"), None), (Some("-1"), None), (None, Some(0))]
        {
            assert!(check_worker_flags(n, max).is_err(), "{n:?} {max:?}");
        }
        for (n, max) in
            [(None, None), (Some("auto"), Some(3)), (Some("logical"), None), (Some("4"), None)]
        {
            assert!(check_worker_flags(n, max).is_ok(), "{n:?} {max:?}");
        }
    }
}
