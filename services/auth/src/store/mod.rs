//! SQL of auth_db, one module per aggregate. Every statement is parameterised.

pub mod refresh_tokens;
pub mod users;

/// Whether `e` is a violation of the named constraint.
pub fn is_constraint(e: &sqlx::Error, name: &str) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.constraint() == Some(name))
}
