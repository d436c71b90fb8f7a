//! REST resources, one module each; every module exposes `router()`, merged in `crate::routes`.

// A `Problem` is the error of a whole request, built at most once per request.
#![allow(clippy::result_large_err)]

pub mod auth;
pub mod cart;
pub mod events;
pub mod forward;
pub mod inventory;
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

/// Longest `Idempotency-Key` accepted.
const IDEMPOTENCY_KEY_MAX: usize = 255;

/// The `Idempotency-Key` header, when present and sane (1 to 255 printable ASCII characters).
fn idempotency_key(headers: &axum::http::HeaderMap) -> Result<Option<String>, Problem> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match v.to_str() {
        Ok(k)
            if !k.is_empty()
                && k.len() <= IDEMPOTENCY_KEY_MAX
                && k.chars().all(|c| c.is_ascii_graphic() || c == ' ') =>
        {
            Ok(Some(k.to_owned()))
        }
        _ => Err(Problem::bad_request(format!(
            "The Idempotency-Key header must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters."
        ))),
    }
}

/// `Ok` when no field failed validation, else a 422 problem listing them.
fn valid(errors: Vec<FieldError>) -> Result<(), Problem> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Problem::validation(errors))
    }
}
