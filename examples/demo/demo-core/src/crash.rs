//! A test that aborts the whole test process when `DEMO_CRASH=1`.
//!
//! libtest sorts tests by name, so within this module the order is
//! `aa_before_crash`, `aborts_when_asked`, `after_crash`.

#[cfg(test)]
mod tests {
    #[test]
    fn aa_before_crash() {
        assert_eq!(crate::math::add(1, 1), 2);
    }

    #[test]
    fn aborts_when_asked() {
        if std::env::var("DEMO_CRASH").as_deref() == Ok("1") {
            eprintln!("DEMO_CRASH=1: aborting the test process");
            std::process::abort();
        }
    }

    #[test]
    fn after_crash() {
        assert_eq!(crate::math::mul(2, 2), 4);
    }
}
