//! The auth API's errors: kit's one gRPC error and its status mapping ([`kit::error`]), and the
//! answers auth gives without saying why (so they reveal nothing about accounts).

pub use kit::error::{Error, Result};

/// Shown for every failed login, whether the account exists or not.
pub const BAD_CREDENTIALS: &str = "The e-mail address or password is incorrect.";
/// Shown for every refresh token that cannot be used, whatever the reason.
pub const BAD_REFRESH: &str = "The refresh token is invalid or has expired. Sign in again.";
/// Shown when the e-mail address of a sign-up is taken.
pub const EMAIL_TAKEN: &str =
    "An account with this e-mail address already exists. Sign in instead.";

pub fn email_taken() -> Error {
    Error::AlreadyExists(EMAIL_TAKEN.into())
}

pub fn bad_credentials() -> Error {
    Error::Unauthenticated(BAD_CREDENTIALS.into())
}

pub fn bad_refresh() -> Error {
    Error::Unauthenticated(BAD_REFRESH.into())
}

impl From<crate::password::HashError> for Error {
    fn from(e: crate::password::HashError) -> Self {
        match e {
            crate::password::HashError::Overloaded(o) => Error::Overloaded(o),
            crate::password::HashError::Failed(e) => Error::Internal(e),
        }
    }
}
