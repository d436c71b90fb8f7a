//! The errors of the product API and their gRPC statuses: canonical codes, messages a person can
//! act on, `google.rpc.BadRequest` field violations; database and other causes are logged only.

use crate::domain::Invalid;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}", describe(.0))]
    Invalid(Vec<Invalid>),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("database error")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

fn describe(errors: &[Invalid]) -> String {
    let parts: Vec<String> = errors.iter().map(ToString::to_string).collect();
    format!("Invalid request: {}.", parts.join("; "))
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![Invalid::new(field, message)])
    }
}

impl From<Invalid> for Error {
    fn from(e: Invalid) -> Self {
        Self::Invalid(vec![e])
    }
}

impl From<Vec<Invalid>> for Error {
    fn from(e: Vec<Invalid>) -> Self {
        Self::Invalid(e)
    }
}

/// Whether `e` violates the named constraint.
pub fn is_constraint(e: &sqlx::Error, name: &str) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.constraint() == Some(name))
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid(ref list) => {
                use tonic_types::{ErrorDetails, FieldViolation, StatusExt};
                let violations: Vec<FieldViolation> = list
                    .iter()
                    .map(|i| FieldViolation::new(i.field.clone(), i.message.clone()))
                    .collect();
                tonic::Status::with_error_details(
                    tonic::Code::InvalidArgument,
                    e.to_string(),
                    ErrorDetails::with_bad_request(violations),
                )
            }
            Error::NotFound(m) => tonic::Status::not_found(m),
            Error::AlreadyExists(m) => tonic::Status::already_exists(m),
            Error::FailedPrecondition(m) => tonic::Status::failed_precondition(m),
            Error::Unauthenticated(m) => tonic::Status::unauthenticated(m),
            Error::Forbidden(m) => tonic::Status::permission_denied(m),
            Error::Db(ref cause) => {
                tracing::error!(error = %cause, error.chain = %kit::telemetry::chain(cause), "product: database error");
                if matches!(cause, sqlx::Error::PoolTimedOut) {
                    tonic::Status::unavailable("The catalog database is busy. Try again shortly.")
                } else {
                    tonic::Status::internal("Something went wrong on our side.")
                }
            }
            Error::Other(cause) => {
                tracing::error!(error = %cause, error.chain = %kit::telemetry::chain(cause.as_ref()), "product: internal error");
                tonic::Status::internal("Something went wrong on our side.")
            }
        }
    }
}
