//! The Storefront operator: the `Storefront` custom resource, the pure desired-state step, the
//! executor that reconciles it (Kubernetes objects and external PostgreSQL, Kafka, S3, Redis),
//! leader election and metrics.
#![forbid(unsafe_code)]

pub mod controller;
pub mod crd;
pub mod desired;
pub mod external;
pub mod leader;
pub mod metrics;
pub mod roles;
pub mod run;
pub mod secrets;

pub use crd::{Storefront, StorefrontSpec, StorefrontStatus};
