//! The product service: catalog, categories, variants, images in S3, tags, specifications,
//! full-text and faceted search, and a Redis read-through cache, over gRPC
//! (`storefront.product.v1`) with `/healthz`, `/readyz` and `/metrics` on the same port.
//!
//! [`build`] binds and connects (port 0 picks a free port, see [`Server::local_addr`]);
//! [`Server::run`] supervises the server, the outbox relay, the `inventory-events` consumer
//! (which keeps `Variant.in_stock` current) and the search index's catch-up until shutdown.
#![forbid(unsafe_code)]

extern crate storefront_kit as kit;

pub mod api;
pub mod cache;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod index;
pub mod media;
pub mod service;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use kit::config::Validate;
use kit::health::{Readiness, checks};
use kit::jwt::JwksVerifier;
use kit::metrics::Metrics;
use kit::outbox::{Relay, RelayOptions};
use kit::{Shutdown, Supervisor};
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use tokio::net::TcpListener;

pub use config::{Config, ProductSettings};
pub use error::{Error, Result};
pub use service::Catalog;

/// The role name (database `product_db`, metrics label, supervisor name).
pub const ROLE: &str = "product";

/// product_db's own migrations (`migrations/product/`); kit's outbox tables come first.
pub static MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/product");

/// A bound, connected product role; [`Server::run`] serves until shutdown.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    app: Router,
    relay: Relay,
    catalog: Catalog,
    kafka: kit::config::KafkaSettings,
    consumer_group: String,
    metrics: Metrics,
    shutdown: Shutdown,
}

/// Validates `cfg`, binds `product.listen`, creates and migrates product_db, connects to Redis
/// and creates the `product-images` bucket when missing.
pub async fn build(cfg: Config, shutdown: Shutdown) -> anyhow::Result<Server> {
    cfg.validate()?;
    let listener = kit::server::bind(ROLE, cfg.product.listen)
        .await
        .context("binding STOREFRONT_PRODUCT__LISTEN")?;
    let local_addr = listener.local_addr()?;
    let verifier = JwksVerifier::new(&cfg.common.auth).context("access-token verifier")?;
    let pool = connect_db(&cfg).await?;
    let redis = kit::cache::connect(&cfg.common.redis).await?;
    let s3 = kit::s3::client(&cfg.common.s3);
    let bucket = kit::s3::bucket_name(&cfg.common.s3, service::BUCKET);
    // The catalog serves reads without the object store; uploads fail until it is back (and
    // `/readyz` reports it), so an S3 outage at start does not keep the role down.
    if let Err(e) = kit::s3::ensure_bucket(&s3, &bucket).await {
        tracing::warn!(bucket = %bucket, error = %e, "cannot ensure the product-images bucket (STOREFRONT_S3__*); image uploads fail until it exists");
    }
    let settings = &cfg.product;
    let cache = cache::ProductCache::new(
        Some(redis.clone()),
        kit::cache::Keys::new(&cfg.common.redis),
        Duration::from_secs(settings.cache_ttl_secs),
        Duration::from_secs(settings.cache_tombstone_secs),
        Duration::from_millis(cfg.common.redis.timeout_ms.max(1)),
    )
    .with_search_ttl(Duration::from_secs(settings.search_cache_secs));
    let catalog = Catalog {
        pool: pool.clone(),
        search_gate: kit::work::BlockingPool::new(
            "search",
            settings.search_concurrency,
            settings.search_queue,
            Duration::from_millis(settings.search_queue_timeout_ms),
        ),
        index: index::sync::SearchIndex::new(),
        cache,
        s3: s3.clone(),
        presign: kit::s3::presign_client(&cfg.common.s3),
        bucket,
        settings: Arc::new(settings.clone()),
    };
    let metrics = Metrics::new(ROLE);
    let readiness = Readiness::new()
        .with("postgres", checks::postgres(pool.clone()))
        .with("redis", checks::redis(redis))
        .with("s3", checks::s3(s3));
    let grpc = tonic::service::Routes::new(api::ProductServiceServer::new(api::ProductApi {
        catalog: catalog.clone(),
        verifier,
    }));
    let app = kit::server::grpc_with_http(
        grpc,
        kit::health::router(readiness, metrics.clone()).merge(media::router(catalog.clone())),
        &metrics,
    );
    let relay = Relay::new(
        pool,
        &cfg.common.kafka,
        RelayOptions::polling(settings.relay_poll_interval_ms),
    )?;
    tracing::info!(addr = %local_addr, "product bound");
    Ok(Server {
        listener,
        local_addr,
        app,
        relay,
        catalog,
        kafka: cfg.common.kafka.clone(),
        consumer_group: cfg.product.consumer_group.clone(),
        metrics,
        shutdown,
    })
}

/// Creates and migrates product_db, then returns a pool on it.
pub async fn connect_db(cfg: &Config) -> anyhow::Result<PgPool> {
    let pg = &cfg.common.postgres;
    let database = cfg.database_name();
    kit::db::connect_database(pg, &database, &MIGRATIONS)
        .await
        .context("product database")?
        .close()
        .await;
    let opts = kit::db::connect_options(pg, &database)?;
    PgPoolOptions::new()
        .max_connections(pg.max_connections)
        .acquire_timeout(Duration::from_secs(pg.acquire_timeout_secs))
        .connect_with(opts)
        .await
        .with_context(|| format!("connecting to database {database}"))
}

/// `build` then `run`.
pub async fn run(cfg: Config, shutdown: Shutdown) -> anyhow::Result<()> {
    build(cfg, shutdown).await?.run().await
}

impl Server {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The operations behind the API (tests and tools such as the seed command).
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Serves gRPC and the health routes and runs the outbox relay until shutdown; if either
    /// stops on its own, the role stops with an error naming it.
    pub async fn run(self) -> anyhow::Result<()> {
        tracing::info!(addr = %self.local_addr, "product listening");
        let mut sup = Supervisor::new(ROLE, self.shutdown.clone());
        sup.serve(self.listener, self.app);
        let shutdown = self.shutdown.clone();
        sup.spawn("outbox relay", self.relay.run(shutdown));
        sup.spawn(
            "search index",
            self.catalog
                .index
                .clone()
                .keep_in_step(self.catalog.pool.clone(), self.shutdown.clone()),
        );
        let catalog = self.catalog.clone();
        sup.consume(
            &self.kafka,
            &self.consumer_group,
            &[kit::events::topics::INVENTORY_EVENTS],
            Some(self.metrics.clone()),
            move |d| {
                let catalog = catalog.clone();
                async move { events::handle_inventory_event(&catalog, d).await }
            },
        );
        let result = sup.run().await;
        self.catalog.pool.close().await;
        result
    }
}
