//! A tiny procedural macro. Proc-macro crates are built with `-C prefer-dynamic`, so their
//! unit-test binary needs the toolchain's `libstd-*.so` on the dynamic library path, which
//! `cargo test` (and cargo-xdist) provide.

use proc_macro::TokenStream;

/// Expands to the number of tokens it was given, as a `usize` literal.
#[proc_macro]
pub fn count_tokens(input: TokenStream) -> TokenStream {
    let count = input.into_iter().count();
    format!("{count}usize").parse().expect("a literal parses")
}

#[cfg(test)]
mod tests {
    #[test]
    fn links_against_the_dynamic_libstd() {
        // Reaching this line means the binary started: its libstd was found.
        assert_eq!(format!("{}", 6 * 7), "42");
    }
}
