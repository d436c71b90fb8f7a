//! The event service: `POST /api/v1/events` validates, enriches and publishes tracking events
//! (to `user-events` and their own topic) and keeps a copy in event_db; `order.paid` becomes a
//! `purchase.completed` tracking event. HTTP on one port with `/healthz`, `/readyz`, `/metrics`.
//!
//! [`build`] binds and connects (port 0 picks a free port, see [`Server::local_addr`]);
//! [`Server::run`] supervises the server, the outbox relay and the `order-events` consumer.
#![forbid(unsafe_code)]

extern crate storefront_kit as kit;

pub mod api;
pub mod config;
pub mod domain;
pub mod publish;
pub mod purchase;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use kit::config::Validate;
use kit::health::{Readiness, checks};
use kit::jwt::JwksVerifier;
use kit::kafka::Delivery;
use kit::metrics::Metrics;
use kit::{Shutdown, Supervisor};
use sqlx::PgPool;
use tokio::net::TcpListener;

pub use config::{Config, EventSettings};
pub use store::MIGRATIONS;

/// The role name (database `event_db`, metrics label, supervisor name).
pub const ROLE: &str = "event";

/// A bound, connected event role; [`Server::run`] serves until shutdown.
pub struct Server {
    cfg: Config,
    listener: TcpListener,
    local_addr: SocketAddr,
    pool: PgPool,
    app: Router,
    metrics: Metrics,
    shutdown: Shutdown,
}

/// Validates `cfg`, binds `event.listen`, creates and migrates event_db, creates the producer.
/// The broker is not needed to start: publishing fails (503) until it answers.
pub async fn build(cfg: Config, shutdown: Shutdown) -> anyhow::Result<Server> {
    cfg.validate()?;
    let listener = kit::server::bind(ROLE, cfg.event.listen)
        .await
        .context("binding STOREFRONT_EVENT__LISTEN")?;
    let local_addr = listener.local_addr()?;
    let verifier = JwksVerifier::new(&cfg.common.auth).context("access-token verifier")?;
    let pool = kit::db::connect_database(&cfg.common.postgres, &cfg.database_name(), &MIGRATIONS)
        .await
        .context("event database")?;
    let publisher = publish::Publisher::new(&cfg.common.kafka, &cfg.event)?;
    let metrics = Metrics::new(ROLE);
    let state = api::AppState {
        pool: pool.clone(),
        verifier,
        publisher,
        kafka: cfg.common.kafka.clone(),
        settings: Arc::new(cfg.event.clone()),
    };
    let readiness = Readiness::new()
        .with("postgres", checks::postgres(pool.clone()))
        .with("kafka", checks::kafka(cfg.common.kafka.clone()));
    let app = kit::server::http_app(
        api::router(state).layer(DefaultBodyLimit::max(cfg.event.body_limit_bytes)),
        readiness,
        &metrics,
    );
    Ok(Server {
        cfg,
        listener,
        local_addr,
        pool,
        app,
        metrics,
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

    /// The pool of event_db (tests inspect the tables with it).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Serves HTTP and runs the outbox relay and the `order-events` consumer until shutdown or
    /// until one of them fails (which stops the others).
    pub async fn run(self) -> anyhow::Result<()> {
        let Server {
            cfg,
            listener,
            local_addr,
            pool,
            app,
            metrics,
            shutdown,
        } = self;
        let kafka = cfg.common.kafka.clone();
        let mut sup = Supervisor::new(ROLE, shutdown.clone());
        tracing::info!(addr = %local_addr, "event listening");
        sup.serve(listener, app);
        sup.relay(pool.clone(), &kafka, cfg.event.relay_poll_interval_ms)?;
        let consumer_pool = pool.clone();
        sup.consume(
            &kafka,
            &cfg.event.consumer_group,
            &[kit::events::topics::ORDER_EVENTS],
            Some(metrics),
            move |d: Delivery| {
                let pool = consumer_pool.clone();
                async move { purchase::handle(&pool, &d.event).await }
            },
        );
        let result = sup.run().await;
        pool.close().await;
        result
    }
}
