//! The order service: checkout (cart -> prices from product -> all-or-nothing reservation in
//! inventory -> `pending_payment` order), the customer's orders, cancellation and the admin
//! actions over REST on one port with `/healthz`, `/readyz` and `/metrics`, and the saga's
//! reactions to `payment-events` and `inventory-events`.
//!
//! [`build`] binds and connects (port 0 picks a free port, see [`Server::local_addr`]);
//! [`Server::run`] supervises the server, the outbox relay and the consumer until shutdown.
#![forbid(unsafe_code)]

extern crate storefront_kit as kit;

pub mod api;
pub mod checkout;
pub mod config;
pub mod domain;
pub mod events;
pub mod store;
pub mod totals;
pub mod upstreams;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use kit::config::Validate;
use kit::health::{Readiness, checks};
use kit::jwt::JwksVerifier;
use kit::metrics::Metrics;
use kit::{Shutdown, Supervisor};
use sqlx::PgPool;
use tokio::net::TcpListener;

pub use config::{Config, OrderSettings};
pub use store::MIGRATIONS;

/// The role name (database `order_db`, metrics label, supervisor name).
pub const ROLE: &str = "order";
/// The `inventory-events` consumer's group is `order.consumer_group` plus this.
pub const EXPIRY_GROUP_SUFFIX: &str = ".expiry";

/// A bound, connected order role; [`Server::run`] serves until shutdown.
pub struct Server {
    cfg: Config,
    listener: TcpListener,
    local_addr: SocketAddr,
    pool: PgPool,
    verifier: JwksVerifier,
    upstreams: upstreams::Upstreams,
    metrics: Metrics,
    shutdown: Shutdown,
}

/// Validates `cfg`, binds `order.listen`, creates and migrates order_db.
pub async fn build(cfg: Config, shutdown: Shutdown) -> anyhow::Result<Server> {
    cfg.validate()?;
    let listener = kit::server::bind(ROLE, cfg.order.listen)
        .await
        .context("binding STOREFRONT_ORDER__LISTEN")?;
    let local_addr = listener.local_addr()?;
    let verifier = JwksVerifier::new(&cfg.common.auth).context("access-token verifier")?;
    let upstreams = upstreams::Upstreams::new(&cfg.order).await?;
    let pool = kit::db::connect(&cfg.common.postgres, ROLE, &MIGRATIONS)
        .await
        .context("order database")?;
    Ok(Server {
        cfg,
        listener,
        local_addr,
        pool,
        verifier,
        upstreams,
        metrics: Metrics::new(ROLE),
        shutdown,
    })
}

/// `build` then `run`.
pub async fn run(cfg: Config, shutdown: Shutdown) -> anyhow::Result<()> {
    build(cfg, shutdown).await?.run().await
}

/// The whole HTTP application: the API, the health routes, problem+json errors, RED metrics
/// and tracing.
pub fn app(state: api::AppState, readiness: Readiness, metrics: &Metrics) -> Router {
    kit::server::http_app(api::router(state), readiness, metrics)
}

impl Server {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The pool of order_db (tests inspect the tables with it).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Serves the API and runs the relay and the consumer, until shutdown or until one of them
    /// fails (which stops the others).
    pub async fn run(self) -> anyhow::Result<()> {
        let Server {
            cfg,
            listener,
            local_addr,
            pool,
            verifier,
            upstreams,
            metrics,
            shutdown,
        } = self;
        let common = &cfg.common;
        let settings = &cfg.order;
        let state = api::AppState {
            pool: pool.clone(),
            verifier,
            upstreams,
            settings: Arc::new(settings.clone()),
        };
        let readiness = Readiness::new()
            .with("postgres", checks::postgres(pool.clone()))
            .with("kafka", checks::kafka(common.kafka.clone()));
        let app = app(state, readiness, &metrics);

        let mut sup = Supervisor::new(ROLE, shutdown.clone());
        tracing::info!(addr = %local_addr, "order listening");
        sup.serve(listener, app);
        sup.relay(pool.clone(), &common.kafka, settings.relay_poll_interval_ms)?;
        sup.spawn(
            "idempotency key purge",
            store::idempotency::purge_loop(
                pool.clone(),
                settings.idempotency_retention_hours,
                shutdown.clone(),
            ),
        );
        let late_margin = Duration::from_secs(settings.late_payment_margin_secs.into());
        // Payments are on the way to `paid` and get the saga's short fetch wait; reservation
        // expiry (after `order.reservation_ttl_secs`, 15 minutes by default) is not, so it has
        // a consumer of its own at the normal wait instead of costing the broker a short poll
        // (README Decisions "Consumer fetch wait"). Both apply through the one inbox.
        let handler = move |pool: PgPool| {
            move |d| {
                let pool = pool.clone();
                async move { events::consume::handle(&pool, late_margin, d).await }
            }
        };
        sup.consume_saga(
            &common.kafka,
            &settings.consumer_group,
            &[kit::events::topics::PAYMENT_EVENTS],
            Some(metrics.clone()),
            handler(pool.clone()),
        );
        sup.consume(
            &common.kafka,
            &format!("{}{}", settings.consumer_group, EXPIRY_GROUP_SUFFIX),
            &[kit::events::topics::INVENTORY_EVENTS],
            Some(metrics),
            handler(pool.clone()),
        );
        let result = sup.run().await;
        pool.close().await;
        result
    }
}
