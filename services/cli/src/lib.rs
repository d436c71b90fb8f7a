//! Library half of the `storefront` binary: maintenance work that tests call directly.
#![forbid(unsafe_code)]

pub mod seed;
pub mod seed_totals;
