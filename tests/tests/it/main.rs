//! Integration tests against the real dependencies of the dev stack (PostgreSQL, Redis, the
//! Kafka-protocol broker, the S3 store). One binary, one module per area.

mod auth;
mod inventory;
mod outbox;
mod product;
mod seed;
mod user;
