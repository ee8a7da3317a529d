//! Ignored tests: one would pass if run, one would fail.

#[cfg(test)]
mod tests {
    #[test]
    #[ignore = "slow"]
    fn slow_but_passes() {
        assert_eq!(crate::math::add(20, 22), 42);
    }

    #[test]
    #[ignore]
    fn ignored_fails() {
        panic!("ignored_fails was run and failed, as intended");
    }
}
