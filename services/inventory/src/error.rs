//! The errors of the inventory API and how they reach callers: canonical gRPC codes with a
//! message a person can act on; database and other internal causes are logged, never sent.

use crate::domain::Invalid;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request breaks a rule (INVALID_ARGUMENT), every invalid field named.
    #[error("{}", describe(.0))]
    Invalid(Vec<Invalid>),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// A conditional change whose condition no longer holds (read and retry).
    #[error("{0}")]
    Aborted(String),
    #[error("database error")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

fn describe(errors: &[Invalid]) -> String {
    let parts: Vec<String> = errors.iter().map(ToString::to_string).collect();
    format!("Invalid request: {}.", parts.join("; "))
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

impl Error {
    /// A serialization failure or deadlock: the whole transaction may simply be run again.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Db(e) => is_transient_db(e),
            _ => false,
        }
    }
}

pub fn is_transient_db(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("40001") | Some("40P01")))
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
            Error::FailedPrecondition(m) => tonic::Status::failed_precondition(m),
            Error::AlreadyExists(m) => tonic::Status::already_exists(m),
            Error::Aborted(m) => tonic::Status::aborted(m),
            Error::Db(ref cause) => {
                tracing::error!(error = %cause, error.chain = %kit::telemetry::chain(cause), "inventory: database error");
                if matches!(cause, sqlx::Error::PoolTimedOut) {
                    tonic::Status::unavailable("The inventory database is busy. Try again shortly.")
                } else {
                    tonic::Status::internal("Something went wrong on our side.")
                }
            }
            Error::Other(cause) => {
                tracing::error!(error = %cause, error.chain = %kit::telemetry::chain(cause.as_ref()), "inventory: internal error");
                tonic::Status::internal("Something went wrong on our side.")
            }
        }
    }
}
