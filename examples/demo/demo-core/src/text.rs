//! String helpers.

/// Upper-cases ASCII letters.
pub fn upper(s: &str) -> String {
    s.to_ascii_uppercase()
}

/// Reverses a string by `char`s.
pub fn reverse(s: &str) -> String {
    s.chars().rev().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper() {
        assert_eq!(super::upper("xdist"), "XDIST");
    }

    #[test]
    fn reverses() {
        assert_eq!(reverse("abc"), "cba");
    }

    mod nested {
        use super::super::*;

        #[test]
        fn deep_one() {
            assert_eq!(upper(&reverse("ab")), "BA");
        }

        #[test]
        fn deep_two() {
            assert!(reverse("").is_empty());
        }
    }
}
