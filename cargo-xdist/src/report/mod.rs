//! Subscribers of the run events: what the user sees ([`terminal`]) and what the next run
//! learns ([`durations`]).

pub mod durations;
pub mod terminal;

#[cfg(test)]
mod tests;
