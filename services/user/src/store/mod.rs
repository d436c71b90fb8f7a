//! SQL of user_db, one module per aggregate. Every statement is parameterised and every
//! statement on user data is scoped by the owner's id.

pub mod addresses;
pub mod avatars;
pub mod preferences;
pub mod profiles;
pub mod wishlist;

pub use kit::error::on_constraint;
