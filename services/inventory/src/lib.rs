//! The inventory service: stock per SKU, reservations with a TTL and the movements ledger, over
//! gRPC (`storefront.inventory.v1`) on one port with `/healthz`, `/readyz` and `/metrics`.
//!
//! [`build`] binds and connects (port 0 picks a free port, see [`Server::local_addr`]);
//! [`Server::run`] supervises the server, the outbox relay, the reservation sweeper and the
//! `order-events` consumer until shutdown.
#![forbid(unsafe_code)]

extern crate storefront_kit as kit;

pub mod api;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod store;
pub mod sweeper;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use kit::config::Validate;
use kit::health::{Readiness, checks};
use kit::jwt::JwksVerifier;
use kit::metrics::Metrics;
use kit::{Shutdown, Supervisor};
use sqlx::PgPool;
use tokio::net::TcpListener;

pub use config::{Config, InventorySettings};
pub use error::{Error, Result};

/// The role name (database `inventory_db`, metrics label, supervisor name).
pub const ROLE: &str = "inventory";

/// A bound, connected inventory role; [`Server::run`] serves until shutdown.
pub struct Server {
    cfg: Config,
    listener: TcpListener,
    local_addr: SocketAddr,
    pool: PgPool,
    verifier: JwksVerifier,
    metrics: Metrics,
    shutdown: Shutdown,
}

/// Validates `cfg`, binds `inventory.listen`, creates and migrates inventory_db.
pub async fn build(cfg: Config, shutdown: Shutdown) -> anyhow::Result<Server> {
    cfg.validate()?;
    let listener = kit::server::bind(ROLE, cfg.inventory.listen)
        .await
        .context("binding STOREFRONT_INVENTORY__LISTEN")?;
    let local_addr = listener.local_addr()?;
    let verifier = JwksVerifier::new(&cfg.common.auth).context("access-token verifier")?;
    let pool = kit::db::connect(&cfg.common.postgres, ROLE, &store::MIGRATIONS)
        .await
        .context("inventory database")?;
    Ok(Server {
        cfg,
        listener,
        local_addr,
        pool,
        verifier,
        metrics: Metrics::new(ROLE),
        shutdown,
    })
}

/// `build` then `run`.
pub async fn run(cfg: Config, shutdown: Shutdown) -> anyhow::Result<()> {
    build(cfg, shutdown).await?.run().await
}

impl Server {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The pool of inventory_db (tests inspect the tables with it).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Serves gRPC and the health routes and runs the relay, the sweeper and the consumer,
    /// until shutdown or until one of them fails (which stops the others).
    pub async fn run(self) -> anyhow::Result<()> {
        let Server {
            cfg,
            listener,
            local_addr,
            pool,
            verifier,
            metrics,
            shutdown,
        } = self;
        let common = &cfg.common;
        let settings = &cfg.inventory;
        let grpc_api = api::InventoryApi::new(pool.clone(), verifier, settings.clone());
        let grpc = tonic::service::Routes::new(api::InventoryServiceServer::new(grpc_api));
        let readiness = Readiness::new()
            .with("postgres", checks::postgres(pool.clone()))
            .with("kafka", checks::kafka(common.kafka.clone()));
        let http = kit::health::router(readiness, metrics.clone());
        let app = kit::server::grpc_with_http(grpc, http, &metrics);

        let mut sup = Supervisor::new(ROLE, shutdown.clone());
        tracing::info!(addr = %local_addr, "inventory listening");
        sup.serve(listener, app);
        sup.relay(pool.clone(), &common.kafka, settings.relay_poll_interval_ms)?;
        sup.spawn(
            "reservation sweeper",
            sweeper::run(
                pool.clone(),
                Duration::from_millis(settings.sweeper_interval_ms),
                settings.sweeper_batch_size,
                shutdown.clone(),
            ),
        );
        let consumer_pool = pool.clone();
        sup.consume(
            &common.kafka,
            &settings.consumer_group,
            &[kit::events::topics::ORDER_EVENTS],
            Some(metrics),
            move |d| {
                let pool = consumer_pool.clone();
                async move { events::handle_order_event(&pool, d).await }
            },
        );
        let result = sup.run().await;
        pool.close().await;
        result
    }
}
