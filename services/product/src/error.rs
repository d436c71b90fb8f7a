//! The product API's errors: kit's one gRPC error and its status mapping ([`kit::error`]).

pub use kit::error::{Error, Result, on_constraint};
