//! The two deliberately failing tests of the demo workspace.

#[cfg(test)]
mod tests {
    #[test]
    fn assert_fails() {
        println!("captured stdout from assert_fails");
        eprintln!("captured stderr from assert_fails");
        assert_eq!(1 + 1, 3, "deliberate failure");
    }

    #[test]
    fn result_err() -> Result<(), String> {
        Err("deliberate error from result_err".to_string())
    }
}
