//! Plain arithmetic helpers.

/// Adds two numbers.
pub fn add(a: i64, b: i64) -> i64 {
    a + b
}

/// Multiplies two numbers.
pub fn mul(a: i64, b: i64) -> i64 {
    a * b
}

/// Divides `a` by `b`, panicking with a message containing `boom` when `b`
/// is zero.
pub fn div(a: i64, b: i64) -> i64 {
    if b == 0 {
        panic!("boom: division by zero");
    }
    a / b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds() {
        assert_eq!(add(2, 3), 5);
    }

    #[test]
    fn multiplies() {
        assert_eq!(mul(4, 5), 20);
    }

    #[test]
    fn result_ok() -> Result<(), String> {
        if div(10, 2) == 5 {
            Ok(())
        } else {
            Err("10 / 2 should be 5".to_string())
        }
    }

    #[test]
    #[should_panic(expected = "boom")]
    fn div_by_zero_panics() {
        div(1, 0);
    }
}
