//! SQL of auth_db, one module per aggregate. Every statement is parameterised.

pub mod refresh_tokens;
pub mod users;

pub use kit::error::on_constraint;
