//! The contracts between Storefront's parts, written once (issue #12): every event type with
//! its topic, producer and typed payload, [`Money`], and the checkout breakdown that travels
//! from the cart's estimate to the refund, and the list of the platform's roles. Producers and consumers both use these types; no
//! service imports another service.
//!
//! This crate is data only: serde and OpenAPI schemas, no I/O. The CloudEvents envelope and the
//! outbox that carry these payloads are in `kit`.

pub mod address;
pub mod cart;
pub mod events;
pub mod idempotency;
pub mod money;
pub mod orders;
pub mod page;
pub mod payment;
pub mod pricing;
pub mod problem;
pub mod recommendations;
pub mod roles;
pub mod sku;
pub mod text;
pub mod totals;
pub mod track;

pub use address::Address;
pub use events::Event;
pub use money::Money;
