//! Integration tests against the real dependencies of the dev stack (PostgreSQL, Redis, the
//! Kafka-protocol broker, the S3 store). One binary, one module per area.

mod auth;
mod cart;
mod events;
mod fuzz;
mod inventory;
mod journey;
mod notification;
mod order;
mod outbox;
mod payment;
mod product;
mod recommendations;
mod seed;
mod totals;
mod user;
mod web;
