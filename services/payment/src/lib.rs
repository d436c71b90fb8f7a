//! The payment service: saved cards (`/api/v1/payment-methods`, port 3007) tokenized by a
//! [`provider::PaymentProvider`] with the token encrypted at rest, and the charge and refund
//! steps of the purchase saga (`order.created` -> `payment.completed|failed`,
//! `order.refund_requested` -> `payment.refunded`).
//!
//! [`build`] binds and connects (port 0 picks a free port, see [`Server::local_addr`]);
//! [`Server::run`] supervises the server, the outbox relay and the `order-events` consumer.
#![forbid(unsafe_code)]
// A `Problem` is the error of a whole request, built at most once per request.
#![allow(clippy::result_large_err)]

extern crate storefront_kit as kit;

pub mod api;
pub mod card;
pub mod config;
pub mod crypto;
pub mod events;
pub mod provider;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use kit::config::Validate;
use kit::health::{Readiness, checks};
use kit::jwt::JwksVerifier;
use kit::kafka::ConsumerOptions;
use kit::metrics::Metrics;
use kit::{Shutdown, Supervisor};
use sqlx::PgPool;
use tokio::net::TcpListener;

pub use config::{Config, PaymentSettings};
pub use store::MIGRATIONS;

/// The role name (database `payment_db`, metrics label, supervisor name).
pub const ROLE: &str = "payment";

/// A bound, connected payment role; [`Server::run`] serves until shutdown.
pub struct Server {
    cfg: Config,
    listener: TcpListener,
    local_addr: SocketAddr,
    state: api::AppState,
    metrics: Metrics,
    shutdown: Shutdown,
}

/// Validates `cfg` (including the encryption key), binds `payment.listen`, creates and
/// migrates payment_db.
pub async fn build(cfg: Config, shutdown: Shutdown) -> anyhow::Result<Server> {
    cfg.validate()?;
    let cipher = cfg.payment.cipher()?;
    if cfg.payment.uses_dev_key() {
        tracing::warn!(
            "payment tokens are encrypted with the built-in development key; set STOREFRONT_PAYMENT__ENCRYPTION_KEY in production"
        );
    }
    let listener = kit::server::bind(ROLE, cfg.payment.listen)
        .await
        .context("binding STOREFRONT_PAYMENT__LISTEN")?;
    let local_addr = listener.local_addr()?;
    let verifier = JwksVerifier::new(&cfg.common.auth).context("access-token verifier")?;
    let pool = kit::db::connect(&cfg.common.postgres, ROLE, &MIGRATIONS)
        .await
        .context("payment database")?;
    let provider: Arc<dyn provider::PaymentProvider> =
        Arc::new(provider::Sandbox::new(pool.clone()));
    let state = api::AppState {
        pool,
        verifier,
        cipher,
        provider,
        provider_timeout: Duration::from_millis(cfg.payment.provider_timeout_ms),
    };
    Ok(Server {
        cfg,
        listener,
        local_addr,
        state,
        metrics: Metrics::new(ROLE),
        shutdown,
    })
}

/// `build` then `run`.
pub async fn run(cfg: Config, shutdown: Shutdown) -> anyhow::Result<()> {
    build(cfg, shutdown).await?.run().await
}

/// The HTTP application: the API, health routes, problem+json errors, metrics and tracing.
pub fn app(state: api::AppState, readiness: Readiness, metrics: Metrics) -> Router {
    kit::server::http_app(api::router().with_state(state), readiness, &metrics)
}

impl Server {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The pool of payment_db (tests inspect the tables with it).
    pub fn pool(&self) -> &PgPool {
        &self.state.pool
    }

    /// Serves the API and runs the relay and the consumer until shutdown or until one of them
    /// fails (which stops the others).
    pub async fn run(self) -> anyhow::Result<()> {
        let Server {
            cfg,
            listener,
            local_addr,
            state,
            metrics,
            shutdown,
        } = self;
        let common = &cfg.common;
        let settings = &cfg.payment;
        let pool = state.pool.clone();
        let payments = events::Payments {
            pool: pool.clone(),
            cipher: state.cipher.clone(),
            provider: state.provider.clone(),
            call_timeout: Duration::from_millis(settings.provider_timeout_ms),
            initial_backoff: Duration::from_millis(settings.retry_initial_backoff_ms),
            budget: Duration::from_millis(settings.retry_budget_ms),
            shutdown: shutdown.clone(),
        };
        let readiness = Readiness::new()
            .with("postgres", checks::postgres(pool.clone()))
            .with("kafka", checks::kafka(common.kafka.clone()));
        let app = app(state, readiness, metrics.clone());

        let mut sup = Supervisor::new(ROLE, shutdown.clone());
        tracing::info!(addr = %local_addr, "payment listening");
        sup.serve(listener, app);
        sup.relay(pool.clone(), &common.kafka, settings.relay_poll_interval_ms)?;
        let mut opts = ConsumerOptions::new(
            settings.consumer_group.clone(),
            vec![kit::events::topic(
                &common.kafka,
                kit::events::topics::ORDER_EVENTS,
            )],
        );
        opts.max_backoff = Duration::from_secs(30);
        // Shoppers wait for this hop (order.created -> the charge).
        opts.fetch_wait_ms = Some(common.kafka.saga_fetch_wait_ms);
        sup.consume_with(&common.kafka, opts, Some(metrics), move |d| {
            let payments = payments.clone();
            async move { payments.handle(d).await }
        });
        let result = sup.run().await;
        pool.close().await;
        result
    }
}
