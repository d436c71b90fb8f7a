//! The shared kit: everything a Storefront role needs that is not its own business logic.
#![forbid(unsafe_code)]

pub mod address;
pub mod cache;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod health;
pub mod inbox;
pub mod jwt;
pub mod kafka;
pub mod metrics;
pub mod outbox;
pub mod page;
pub mod problem;
pub mod role;
pub mod s3;
pub mod server;
pub mod shutdown;
pub mod telemetry;
pub mod upstream;
pub mod work;

/// The contracts between the platform's parts (event payloads, `Money`, the breakdown).
pub use contracts;
/// The checkout math and the totals contracts (`contracts::pricing`, `contracts::totals`).
pub use contracts::{pricing, totals};
pub use shutdown::{Shutdown, Supervisor};
