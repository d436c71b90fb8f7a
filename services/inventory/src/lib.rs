//! The inventory service.
#![forbid(unsafe_code)]
