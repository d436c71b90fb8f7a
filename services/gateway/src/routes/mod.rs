//! REST resources, one module each; every module exposes `router()`, merged in `crate::routes`.

pub mod auth;
pub mod inventory;
pub mod product;
pub mod user;
