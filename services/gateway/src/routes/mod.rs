//! REST resources, one module each; every module exposes `router()`, merged in `crate::routes`.

// A `Problem` is the error of a whole request, built at most once per request.
#![allow(clippy::result_large_err)]

pub mod auth;
pub mod cart;
pub mod events;
pub mod forward;
pub mod inventory;
pub mod media;
pub mod order;
pub mod payment;
pub mod product;
pub mod recommendations;
pub mod totals;
pub mod user;

use kit::problem::{FieldError, Problem};

/// A protobuf timestamp as RFC 3339 in UTC (`None` when unset or out of range).
fn rfc3339(t: Option<prost_types::Timestamp>) -> Option<String> {
    let t = t?;
    let dt = time::OffsetDateTime::from_unix_timestamp(t.seconds).ok()?;
    let dt = dt
        .replace_nanosecond(t.nanos.clamp(0, 999_999_999) as u32)
        .ok()?;
    dt.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

use kit::problem::idempotency_key;

/// `Ok` when no field failed validation, else a 422 problem listing them.
fn valid(errors: Vec<FieldError>) -> Result<(), Problem> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Problem::validation(errors))
    }
}
