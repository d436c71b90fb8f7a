//! The twelve roles of the `storefront` image as the operator deploys them: the platform's one
//! role list (port, protocol, database, bucket) lives in the contracts crate.

pub use storefront_kit::contracts::roles::Role;
