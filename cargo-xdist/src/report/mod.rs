//! Subscribers of the run events: what the user sees ([`terminal`]), what CI reads
//! ([`junit`], [`json`], [`github`]) and what the next run learns ([`durations`],
//! [`outcomes`]).

pub mod durations;
pub mod github;
pub mod json;
pub mod junit;
pub mod outcomes;
pub mod terminal;

#[cfg(test)]
mod junit_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
