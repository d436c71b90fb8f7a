//! SQL of user_db, one module per aggregate. Every statement is parameterised and every
//! statement on user data is scoped by the owner's id.

pub mod addresses;
pub mod avatars;
pub mod preferences;
pub mod profiles;
pub mod wishlist;

/// Whether `e` is a violation of the named constraint.
pub fn is_constraint(e: &sqlx::Error, name: &str) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.constraint() == Some(name))
}
