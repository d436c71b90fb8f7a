//! The auth service.
#![forbid(unsafe_code)]
