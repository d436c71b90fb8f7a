//! SQL of product_db, one module per aggregate. Every statement is parameterised.

pub mod categories;
pub mod images;
pub mod products;
pub mod search;
pub mod variants;
