//! The field errors of a refused request: the `errors[]` of every problem+json answer, the
//! gRPC status details the services send each other, and what every validation returns.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One invalid field of a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// Dotted path of the field (`items[0].quantity`).
    #[schema(example = "email")]
    pub field: String,
    #[schema(example = "is not an e-mail address")]
    pub message: String,
}

/// RFC 9457 problem details: the body of every error response (`application/problem+json`).
/// This is its documented shape; `kit::problem::Problem` builds it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[schema(title = "Problem")]
pub struct Problem {
    /// A URI naming the kind of problem; `about:blank` when the status says it all.
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    pub type_uri: String,
    /// The status' reason phrase.
    #[schema(example = "Unprocessable Entity")]
    pub title: String,
    #[schema(example = 422)]
    pub status: u16,
    /// What went wrong and what to do about it, for people.
    #[schema(example = "The field `email` is invalid.")]
    pub detail: Option<String>,
    /// The path of the request that failed.
    #[schema(example = "/api/v1/auth/register")]
    pub instance: Option<String>,
    /// The invalid fields, on validation errors.
    #[serde(default)]
    pub errors: Vec<FieldError>,
    /// The request id (also in the `x-request-id` header); quote it when reporting a problem.
    pub request_id: Option<String>,
    /// Seconds to wait, on 429.
    pub retry_after: Option<u64>,
    /// A machine-readable reason, on 401 (`expired`, `bad_signature`, `revoked`...).
    pub reason: Option<String>,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
