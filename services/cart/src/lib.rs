//! The cart service: carts of signed-in users and guests over REST (port 3005), with Redis as
//! the hot copy and cart_db as the durable one, prices and availability asked of product and
//! inventory, `cart.item_added|removed` on `cart-events`, and purchased lines cleared on
//! `order.paid`.
//!
//! [`build`] binds and connects (port 0 picks a free port, see [`Server::local_addr`]);
//! [`Server::run`] supervises the server, the outbox relay and the `order-events` consumer.
#![forbid(unsafe_code)]
// A `Problem` is the error of a whole request, built at most once per request.
#![allow(clippy::result_large_err)]

extern crate storefront_kit as kit;

pub mod api;
pub mod catalog;
pub mod config;
pub mod domain;
pub mod events;
pub mod hot;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use kit::cache::Keys;
use kit::config::Validate;
use kit::health::{Readiness, checks};
use kit::jwt::{JwksVerifier, RedisDenyList};
use kit::metrics::Metrics;
use kit::{Shutdown, Supervisor};
use sqlx::PgPool;
use tokio::net::TcpListener;

pub use config::{CartSettings, Config};
pub use store::MIGRATIONS;

/// The role name (database `cart_db`, metrics label, supervisor name).
pub const ROLE: &str = "cart";

/// A bound, connected cart role; [`Server::run`] serves until shutdown.
pub struct Server {
    cfg: Config,
    listener: TcpListener,
    local_addr: SocketAddr,
    state: api::AppState,
    metrics: Metrics,
    shutdown: Shutdown,
}

/// Validates `cfg`, binds `cart.listen`, creates and migrates cart_db, connects to Redis.
pub async fn build(cfg: Config, shutdown: Shutdown) -> anyhow::Result<Server> {
    cfg.validate()?;
    let listener = kit::server::bind(ROLE, cfg.cart.listen)
        .await
        .context("binding STOREFRONT_CART__LISTEN")?;
    let local_addr = listener.local_addr()?;
    let pool = kit::db::connect(&cfg.common.postgres, ROLE, &MIGRATIONS)
        .await
        .context("cart database")?;
    let redis = kit::cache::connect(&cfg.common.redis).await?;
    // Cart routes are public at the gateway (guests), so logged-out tokens are refused here.
    let verifier = JwksVerifier::new(&cfg.common.auth)
        .context("access-token verifier")?
        .with_revocation(Arc::new(RedisDenyList::new(
            redis.clone(),
            &cfg.common.redis,
        )));
    let hot = hot::Hot::new(
        redis,
        Keys::new(&cfg.common.redis),
        cfg.cart.guest_ttl_days * 86_400,
    );
    let up = &cfg.cart.upstreams;
    let catalog = catalog::Catalog::new(
        &up.product,
        &up.inventory,
        Duration::from_millis(up.timeout_ms),
    )
    .context("product and inventory clients (STOREFRONT_CART__UPSTREAMS__PRODUCT, STOREFRONT_CART__UPSTREAMS__INVENTORY)")?
    .with_order(&up.order, Duration::from_millis(up.timeout_ms))
    .await
    .context("order client (STOREFRONT_CART__UPSTREAMS__ORDER)")?;
    let state = api::AppState {
        pool,
        hot,
        catalog,
        verifier,
        settings: Arc::new(cfg.cart.clone()),
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

/// Deletes guest carts idle for longer than their Redis copy lives, once an hour (and at start).
async fn sweep_guest_carts(pool: PgPool, days: u64, shutdown: Shutdown) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tick.tick() => {}
        }
        loop {
            match store::delete_stale_guest_carts(&pool, days, 1000).await {
                Ok(n) if n > 0 => tracing::info!(deleted = n, "stale guest carts deleted"),
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot delete stale guest carts; will retry");
                    break;
                }
            }
        }
    }
}

impl Server {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The pool of cart_db (tests inspect the tables with it).
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
        let settings = &cfg.cart;
        let pool = state.pool.clone();
        let hot = state.hot.clone();
        let readiness = Readiness::new()
            .with("postgres", checks::postgres(pool.clone()))
            .with("redis", checks::redis(hot.connection()))
            .with("kafka", checks::kafka(common.kafka.clone()));
        let app = app(state, readiness, metrics.clone());

        let mut sup = Supervisor::new(ROLE, shutdown.clone());
        tracing::info!(addr = %local_addr, "cart listening");
        sup.serve(listener, app);
        sup.relay(pool.clone(), &common.kafka, settings.relay_poll_interval_ms)?;
        sup.spawn(
            "guest cart sweeper",
            sweep_guest_carts(pool.clone(), settings.guest_ttl_days, shutdown.clone()),
        );
        let consumer_pool = pool.clone();
        // Shoppers wait for this one: the lines they bought leave the cart when it runs.
        sup.consume_saga(
            &common.kafka,
            &settings.consumer_group,
            &[kit::events::topics::ORDER_EVENTS],
            Some(metrics),
            move |d| {
                let (pool, hot) = (consumer_pool.clone(), hot.clone());
                async move { events::handle_order_event(&pool, &hot, d).await }
            },
        );
        let result = sup.run().await;
        pool.close().await;
        result
    }
}
