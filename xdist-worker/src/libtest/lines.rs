//! The single lines of libtest's output the parser recognises on their own: result words,
//! the `running N tests` announcement and the `test result:` summary.

/// A result word libtest printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// `ok`
    Ok,
    /// `FAILED`
    Failed,
    /// `ignored` or `ignored, <reason>`
    Ignored,
}

/// How many tests passed, failed and were ignored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// `N passed`
    pub passed: usize,
    /// `N failed`
    pub failed: usize,
    /// `N ignored`
    pub ignored: usize,
}

impl Counts {
    /// Counts one more verdict.
    pub fn add(&mut self, verdict: Verdict) {
        match verdict {
            Verdict::Ok => self.passed += 1,
            Verdict::Failed => self.failed += 1,
            Verdict::Ignored => self.ignored += 1,
        }
    }
}

/// The verdict a line ends with: libtest's result word follows whatever the test wrote on
/// the same line around the capture.
pub fn verdict_of(line: &[u8]) -> Option<Verdict> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // `ignored, <reason>` first: a reason may end in anything (`needs a webhook`).
    if line == b"ignored" || line.starts_with(b"ignored, ") {
        Some(Verdict::Ignored)
    } else if line.ends_with(b"FAILED") {
        Some(Verdict::Failed)
    } else if line.ends_with(b"ok") {
        Some(Verdict::Ok)
    } else if line.ends_with(b"ignored") {
        // Stray bytes of an earlier test's lingering thread before the word.
        Some(Verdict::Ignored)
    } else {
        None
    }
}

/// `running 5 tests` or `running 1 test`: how many of the given names libtest found.
pub fn announced_count(line: &[u8]) -> Option<usize> {
    let rest = line.strip_prefix(b"running ")?;
    let count = rest.strip_suffix(b" tests").or_else(|| rest.strip_suffix(b" test"))?;
    std::str::from_utf8(count).ok()?.parse().ok()
}

/// The counts of a summary line, `test result: FAILED. 2 passed; 1 failed; 1 ignored; 0
/// measured; 4 filtered out; finished in 0.00s`, if it is well formed: all three counts
/// present, and `ok` exactly when nothing failed.
pub fn summary_counts(line: &[u8]) -> Option<Counts> {
    let line = std::str::from_utf8(line.strip_prefix(b"test result: ")?).ok()?;
    let (status, rest) = line.split_once(". ")?;
    let mut counts = Counts::default();
    let mut seen = [false; 3];
    for part in rest.split("; ") {
        let Some((number, what)) = part.split_once(' ') else { continue };
        let Ok(number) = number.parse() else { continue };
        let slot = match what {
            "passed" => 0,
            "failed" => 1,
            "ignored" => 2,
            _ => continue,
        };
        seen[slot] = true;
        *[&mut counts.passed, &mut counts.failed, &mut counts.ignored][slot] = number;
    }
    let status_agrees = match status {
        "ok" => counts.failed == 0,
        "FAILED" => counts.failed > 0,
        _ => false,
    };
    (seen == [true; 3] && status_agrees).then_some(counts)
}

/// Where `needle` first occurs in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_of_libtest_and_libtest_mimic() {
        let line = b"test result: FAILED. 2 passed; 1 failed; 3 ignored; 0 measured; 4 filtered out; finished in 0.00s";
        assert_eq!(summary_counts(line), Some(Counts { passed: 2, failed: 1, ignored: 3 }));
        let mimic =
            b"test result: ok. 7 passed; 0 failed; 0 ignored; 0 filtered out; finished in 0.01s";
        assert_eq!(summary_counts(mimic), Some(Counts { passed: 7, failed: 0, ignored: 0 }));
    }

    #[test]
    fn a_summary_that_contradicts_itself_or_lacks_counts_is_none() {
        assert_eq!(summary_counts(b"test result: ok. 1 passed"), None);
        assert_eq!(summary_counts(b"test result: ok. 1 passed; 1 failed; 0 ignored"), None);
        assert_eq!(summary_counts(b"test result: FAILED. 1 passed; 0 failed; 0 ignored"), None);
        assert_eq!(summary_counts(b"test result: maybe. 1 passed; 0 failed; 0 ignored"), None);
    }

    #[test]
    fn announcements() {
        assert_eq!(announced_count(b"running 12 tests"), Some(12));
        assert_eq!(announced_count(b"running 1 test"), Some(1));
        assert_eq!(announced_count(b"running tests"), None);
        assert_eq!(announced_count(b"running 3 tests now"), None);
    }

    #[test]
    fn verdict_words_end_the_line() {
        assert_eq!(verdict_of(b"ok"), Some(Verdict::Ok));
        assert_eq!(verdict_of(b"noise FAILED\r"), Some(Verdict::Failed));
        assert_eq!(verdict_of(b"ignored, needs a database"), Some(Verdict::Ignored));
        assert_eq!(verdict_of(b"ignored, needs a webhook"), Some(Verdict::Ignored));
        assert_eq!(verdict_of(b"ignored, until it is FAILED"), Some(Verdict::Ignored));
        assert_eq!(verdict_of(b"stray bytesignored"), Some(Verdict::Ignored));
        assert_eq!(verdict_of(b"ignored by a test"), None);
        assert_eq!(verdict_of(b"ok then more"), None);
    }
}
