//! The errors of the user API and their gRPC statuses (canonical codes, messages a person can act
//! on, `google.rpc.BadRequest` field violations; never internals).

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::domain::Invalid;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request")]
    Invalid(Vec<Invalid>),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    Exhausted(String),
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Invalid> for Error {
    fn from(i: Invalid) -> Self {
        Error::Invalid(vec![i])
    }
}

impl From<Vec<Invalid>> for Error {
    fn from(v: Vec<Invalid>) -> Self {
        Error::Invalid(v)
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
                    .map(|i| FieldViolation::new(i.field.clone(), i.message.clone()))
                    .collect();
                Status::with_error_details(
                    Code::InvalidArgument,
                    message,
                    ErrorDetails::with_bad_request(violations),
                )
            }
            Error::Unauthenticated(m) => Status::unauthenticated(m),
            Error::PermissionDenied(m) => Status::permission_denied(m),
            Error::NotFound(m) => Status::not_found(m),
            Error::FailedPrecondition(m) => Status::failed_precondition(m),
            Error::Exhausted(m) => Status::resource_exhausted(m),
            Error::Unavailable(m) => {
                tracing::warn!(error = %m, "dependency unavailable");
                Status::unavailable(
                    "The user service cannot reach a dependency. Try again shortly.",
                )
            }
            Error::Db(e) => match &e {
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                    tracing::warn!(error = %e, "database unavailable");
                    Status::unavailable("The user database is unavailable. Try again shortly.")
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
    fn statuses_carry_field_violations_and_hide_internals() {
        let s = Status::from(Error::Invalid(vec![Invalid::new(
            "address.country_code",
            "is not a country",
        )]));
        assert_eq!(s.code(), Code::InvalidArgument);
        let br = s.get_details_bad_request().unwrap();
        assert_eq!(br.field_violations[0].field, "address.country_code");
        let s = Status::from(Error::Internal(anyhow::anyhow!("secret=hunter2")));
        assert!(!s.message().contains("hunter2"));
        assert_eq!(s.code(), Code::Internal);
    }
}
