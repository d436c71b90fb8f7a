//! The errors of the auth API and their gRPC statuses (canonical codes, messages a person can act
//! on, `google.rpc.BadRequest` / `RetryInfo` details; never internals).

use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::domain::Invalid;

/// Shown for every failed login, whether the account exists or not.
pub const BAD_CREDENTIALS: &str = "The e-mail address or password is incorrect.";
/// Shown for every refresh token that cannot be used, whatever the reason.
pub const BAD_REFRESH: &str = "The refresh token is invalid or has expired. Sign in again.";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request")]
    Invalid(Vec<Invalid>),
    #[error("an account with this e-mail address already exists")]
    EmailTaken,
    #[error("bad credentials")]
    BadCredentials,
    #[error("bad refresh token")]
    BadRefresh,
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("throttled")]
    Throttled(Duration),
    #[error("{0}")]
    Unavailable(String),
    /// The hashing pool is full: 503 with `Retry-After`, nothing was changed.
    #[error(transparent)]
    Overloaded(#[from] kit::work::Overloaded),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<crate::password::HashError> for Error {
    fn from(e: crate::password::HashError) -> Self {
        match e {
            crate::password::HashError::Overloaded(o) => Error::Overloaded(o),
            crate::password::HashError::Failed(e) => Error::Internal(e),
        }
    }
}

impl From<Invalid> for Error {
    fn from(i: Invalid) -> Self {
        Error::Invalid(vec![i])
    }
}

impl From<kit::jwt::AuthError> for Error {
    fn from(e: kit::jwt::AuthError) -> Self {
        match e {
            kit::jwt::AuthError::KeysUnavailable => Error::Unavailable(e.to_string()),
            other => Error::Unauthenticated(format!("{}.", capitalise(&other.to_string()))),
        }
    }
}

impl From<kit::jwt::Forbidden> for Error {
    fn from(f: kit::jwt::Forbidden) -> Self {
        Error::Forbidden(f.0)
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid(list) => {
                let message = match list.as_slice() {
                    [one] => format!("`{}` {}.", one.field, one.message),
                    many => format!(
                        "{} fields are invalid: {}.",
                        many.len(),
                        many.iter()
                            .map(|i| format!("`{}` {}", i.field, i.message))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                };
                let violations: Vec<FieldViolation> = list
                    .iter()
                    .map(|i| FieldViolation::new(i.field, i.message.clone()))
                    .collect();
                Status::with_error_details(
                    Code::InvalidArgument,
                    message,
                    ErrorDetails::with_bad_request(violations),
                )
            }
            Error::EmailTaken => Status::already_exists(
                "An account with this e-mail address already exists. Sign in instead.",
            ),
            Error::BadCredentials => Status::unauthenticated(BAD_CREDENTIALS),
            Error::BadRefresh => Status::unauthenticated(BAD_REFRESH),
            Error::Unauthenticated(m) => Status::unauthenticated(m),
            Error::Forbidden(m) => Status::permission_denied(m),
            Error::NotFound(m) => Status::not_found(m),
            Error::FailedPrecondition(m) => Status::failed_precondition(m),
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
                    "The auth service cannot reach a dependency. Try again shortly.",
                )
            }
            Error::Overloaded(o) => {
                tracing::warn!(error = %o, "refused: hashing pool full");
                Status::from(o)
            }
            Error::Db(e) => match &e {
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                    tracing::warn!(error = %e, "database unavailable");
                    Status::unavailable("The account database is unavailable. Try again shortly.")
                }
                _ => {
                    tracing::error!(error = %e, error.chain = %kit::telemetry::chain(&e), "database error");
                    Status::internal("Something went wrong on our side.")
                }
            },
            Error::Internal(e) => {
                tracing::error!(error = %e, error.chain = %kit::telemetry::chain(e.as_ref()), "internal error");
                Status::internal("Something went wrong on our side.")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_carry_details() {
        let s = Status::from(Error::Invalid(vec![Invalid::new("email", "is required")]));
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().contains("email"), "{}", s.message());
        let br = s.get_details_bad_request().unwrap();
        assert_eq!(br.field_violations[0].field, "email");

        let s = Status::from(Error::Throttled(Duration::from_millis(1500)));
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert_eq!(
            s.get_details_retry_info().unwrap().retry_delay,
            Some(Duration::from_secs(2))
        );
        let s = Status::from(Error::Internal(anyhow::anyhow!("password=hunter2")));
        assert!(!s.message().contains("hunter2"));
    }
}
