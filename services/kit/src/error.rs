//! The one error of the gRPC roles (auth, user, product, inventory) and its one mapping to a
//! gRPC status: canonical codes, messages a person can act on, every invalid field as a
//! `google.rpc.BadRequest` violation, retry hints as `google.rpc.RetryInfo` or `retry-after`
//! metadata; database and other internal causes are logged, never sent. The gateway turns the
//! status back into a problem with [`crate::problem::Problem::from`], which keeps the field
//! errors and the hints.

use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::problem::FieldError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a gRPC role answers when a request does not succeed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request breaks rules (INVALID_ARGUMENT), every invalid field named.
    #[error("{}", describe(.0))]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// The resource is not in a state that allows the request.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A conditional change whose condition no longer holds (read and retry).
    #[error("{0}")]
    Aborted(String),
    /// A quota is used up (RESOURCE_EXHAUSTED, no retry hint).
    #[error("{0}")]
    Exhausted(String),
    /// Too many attempts: try again after the delay (RESOURCE_EXHAUSTED with `RetryInfo`).
    #[error("too many attempts")]
    Throttled(Duration),
    /// A dependency cannot be reached; the message is logged, the caller told to retry.
    #[error("{0}")]
    Unavailable(String),
    /// A bounded pool is full: UNAVAILABLE with `retry-after`, nothing was changed.
    #[error(transparent)]
    Overloaded(#[from] crate::work::Overloaded),
    #[error("database error")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Most field errors a status carries: its message and details travel as HTTP/2 headers, and
/// a request with thousands of bad fields must not make a status too large to send (the peer
/// would see a protocol error instead of the refusal).
pub const MAX_FIELD_ERRORS: usize = 20;

/// `` `field` message. `` for one, `N fields are invalid: ...` for several (the first ten
/// named).
fn describe(errors: &[FieldError]) -> String {
    match errors {
        [one] => format!("{one}."),
        many => {
            let named: Vec<String> = many
                .iter()
                .take(10)
                .map(|e| e.to_string().chars().take(100).collect())
                .collect();
            let more = if many.len() > 10 { "; ..." } else { "" };
            format!(
                "{} fields are invalid: {}{more}.",
                many.len(),
                named.join("; ")
            )
        }
    }
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }

    /// A serialization failure or deadlock: the whole transaction may simply be run again.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Db(e) if is_transient_db(e))
    }
}

/// A serialization failure (40001) or deadlock (40P01).
pub fn is_transient_db(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("40001") | Some("40P01")))
}

/// Whether `e` violates the constraint `name` (a unique index, a check, a foreign key).
pub fn on_constraint(e: &sqlx::Error, name: &str) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.constraint() == Some(name))
}

/// Whether the database could not be reached or had no connection free in time.
pub fn is_unavailable_db(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed
    )
}

impl From<FieldError> for Error {
    fn from(e: FieldError) -> Self {
        Self::Invalid(vec![e])
    }
}

impl From<Vec<FieldError>> for Error {
    fn from(e: Vec<FieldError>) -> Self {
        Self::Invalid(e)
    }
}

impl From<crate::jwt::AuthError> for Error {
    fn from(e: crate::jwt::AuthError) -> Self {
        match e {
            crate::jwt::AuthError::KeysUnavailable => Error::Unavailable(e.to_string()),
            other => {
                Error::Unauthenticated(format!("{}.", crate::jwt::capitalise(&other.to_string())))
            }
        }
    }
}

impl From<crate::jwt::Forbidden> for Error {
    fn from(f: crate::jwt::Forbidden) -> Self {
        Error::Forbidden(f.0)
    }
}

const INTERNAL: &str = "Something went wrong on our side.";

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid(ref list) => {
                let violations: Vec<FieldViolation> = list
                    .iter()
                    .take(MAX_FIELD_ERRORS)
                    .map(|i| {
                        let cut = |t: &str| t.chars().take(200).collect::<String>();
                        FieldViolation::new(cut(&i.field), cut(&i.message))
                    })
                    .collect();
                Status::with_error_details(
                    Code::InvalidArgument,
                    e.to_string(),
                    ErrorDetails::with_bad_request(violations),
                )
            }
            Error::Unauthenticated(m) => Status::unauthenticated(m),
            Error::Forbidden(m) => Status::permission_denied(m),
            Error::NotFound(m) => Status::not_found(m),
            Error::AlreadyExists(m) => Status::already_exists(m),
            Error::FailedPrecondition(m) => Status::failed_precondition(m),
            Error::Aborted(m) => Status::aborted(m),
            Error::Exhausted(m) => Status::resource_exhausted(m),
            Error::Throttled(after) => {
                let secs = after.as_secs_f64().ceil().max(1.0) as u64;
                Status::with_error_details(
                    Code::ResourceExhausted,
                    format!("Too many attempts. Try again in {secs} s."),
                    ErrorDetails::with_retry_info(Some(Duration::from_secs(secs))),
                )
            }
            Error::Unavailable(m) => {
                tracing::warn!(error = %m, "dependency unavailable");
                Status::unavailable(
                    "A dependency of this service is unavailable. Try again shortly.",
                )
            }
            Error::Overloaded(o) => {
                tracing::warn!(error = %o, "refused: the bounded pool is full");
                Status::from(o)
            }
            Error::Db(e) if is_unavailable_db(&e) => {
                tracing::warn!(error = %e, "database unavailable");
                Status::unavailable("The database is busy or unavailable. Try again shortly.")
            }
            Error::Db(e) => {
                tracing::error!(error = %e, error.chain = %crate::telemetry::chain(&e), "database error");
                Status::internal(INTERNAL)
            }
            Error::Internal(e) => {
                tracing::error!(error = %e, error.chain = %crate::telemetry::chain(e.as_ref()), "internal error");
                Status::internal(INTERNAL)
            }
        }
    }
}

/// The field errors a status carries (`google.rpc.BadRequest`), empty when it has none.
pub fn field_errors(s: &Status) -> Vec<FieldError> {
    s.get_details_bad_request()
        .map(|b| {
            b.field_violations
                .into_iter()
                .map(|v| FieldError::new(v.field, v.description))
                .collect()
        })
        .unwrap_or_default()
}

/// The retry delay a status carries (`google.rpc.RetryInfo`).
pub fn retry_delay(s: &Status) -> Option<Duration> {
    s.get_details_retry_info().and_then(|r| r.retry_delay)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::Problem;
    use http::StatusCode;

    #[test]
    fn field_errors_survive_the_trip_to_grpc_and_back_to_http() {
        let e = Error::Invalid(vec![
            FieldError::new("email", "is required"),
            FieldError::new("address.country_code", "is not a country"),
        ]);
        let s = Status::from(e);
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(
            s.message(),
            "2 fields are invalid: `email` is required; `address.country_code` is not a country."
        );
        assert_eq!(field_errors(&s)[1].field, "address.country_code");
        let p = Problem::from(s);
        assert_eq!(p.status, 422);
        assert_eq!(p.errors[0], FieldError::new("email", "is required"));
        assert_eq!(p.errors.len(), 2);
        let one = Status::from(Error::invalid("sku", "is required"));
        assert_eq!(one.message(), "`sku` is required.");
    }

    #[test]
    fn a_status_of_many_field_errors_stays_small_enough_to_send() {
        let many: Vec<FieldError> = (0..1000)
            .map(|i| FieldError::new(format!("items[{i}].{}", "x".repeat(400)), "é".repeat(400)))
            .collect();
        let s = Status::from(Error::Invalid(many));
        assert!(s.message().starts_with("1000 fields are invalid: "));
        assert!(s.message().chars().count() < 1200, "{}", s.message().len());
        assert_eq!(field_errors(&s).len(), MAX_FIELD_ERRORS);
        assert!(s.details().len() < 16 * 1024, "{}", s.details().len());
    }

    #[test]
    fn hints_and_hidden_internals() {
        let s = Status::from(Error::Throttled(Duration::from_millis(1500)));
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert_eq!(retry_delay(&s), Some(Duration::from_secs(2)));
        let p = Problem::from(s);
        assert_eq!(p.status_code(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(p.headers.get(http::header::RETRY_AFTER).unwrap(), "2");

        let s = Status::from(Error::Internal(anyhow::anyhow!("password=hunter2")));
        assert_eq!(s.code(), Code::Internal);
        assert!(!s.message().contains("hunter2"));
        let s = Status::from(Error::Db(sqlx::Error::PoolTimedOut));
        assert_eq!(s.code(), Code::Unavailable);
        let p = Problem::from(s);
        assert_eq!(p.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(p.headers.contains_key(http::header::RETRY_AFTER));

        let p = Problem::from(Status::from(Error::FailedPrecondition(
            "Archive it first.".into(),
        )));
        assert_eq!(p.status_code(), StatusCode::CONFLICT);
        assert_eq!(p.detail.as_deref(), Some("Archive it first."));
        let p = Problem::from(Status::from(Error::Unauthenticated("No token.".into())));
        assert!(p.headers.contains_key(http::header::WWW_AUTHENTICATE));
    }
}
