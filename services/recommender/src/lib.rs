//! The reference recommender: consumes `user-events`, where every tracking event is (the
//! type's own topic has a copy of most), and maintains the rec:* keys of ARCHITECTURE.md in Redis
//! (popular, trending with exponential decay, item-to-item similar, per-user personalized), each
//! trimmed to a bounded length. Every change is applied in one Lua script together with the
//! consumer position, so restarting from committed offsets never counts an event twice. HTTP
//! serves only `/healthz`, `/readyz` and `/metrics`.
#![forbid(unsafe_code)]

extern crate storefront_kit as kit;

pub mod config;
pub mod model;

use std::net::SocketAddr;

use anyhow::Context;
use kit::cache::Keys;
use kit::config::Validate;
use kit::events::topics;
use kit::health::{Readiness, checks};
use kit::kafka::{Delivery, Outcome};
use kit::metrics::Metrics;
use kit::{Shutdown, Supervisor};
use redis::aio::ConnectionManager;
use tokio::net::TcpListener;

pub use config::{Config, RecommenderSettings};
pub use model::Model;

/// The role name (metrics label, supervisor name).
pub const ROLE: &str = "recommender";

/// The topics consumed: `user-events` alone, which carries every tracking event (README
/// Decisions "The recommender reads `user-events` only": reading the types' own topics too
/// made the broker serve each event twice).
pub const TOPICS: [&str; 1] = [topics::USER_EVENTS];

/// A bound, connected recommender; [`Server::run`] consumes until shutdown.
pub struct Server {
    cfg: Config,
    listener: TcpListener,
    local_addr: SocketAddr,
    redis: ConnectionManager,
    metrics: Metrics,
    shutdown: Shutdown,
}

/// Validates `cfg`, binds `recommender.listen` and connects to Redis.
pub async fn build(cfg: Config, shutdown: Shutdown) -> anyhow::Result<Server> {
    cfg.validate()?;
    let listener = kit::server::bind(ROLE, cfg.recommender.listen)
        .await
        .context("binding STOREFRONT_RECOMMENDER__LISTEN")?;
    let local_addr = listener.local_addr()?;
    let redis = kit::cache::connect(&cfg.common.redis).await?;
    Ok(Server {
        cfg,
        listener,
        local_addr,
        redis,
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

    /// Serves the health routes and consumes until shutdown or until either stops.
    pub async fn run(self) -> anyhow::Result<()> {
        let Server {
            cfg,
            listener,
            local_addr,
            redis,
            metrics,
            shutdown,
        } = self;
        let kafka = cfg.common.kafka.clone();
        let readiness = Readiness::new()
            .with("redis", checks::redis(redis.clone()))
            .with("kafka", checks::kafka(kafka.clone()));
        let app = kit::health::router(readiness, metrics.clone())
            .fallback(kit::problem::not_found_fallback)
            .layer(axum::middleware::from_fn_with_state(
                metrics.clone(),
                kit::metrics::track_http,
            ));
        let mut sup = Supervisor::new(ROLE, shutdown.clone());
        tracing::info!(addr = %local_addr, "recommender listening");
        sup.serve(listener, app);
        let model = Model::new(
            Keys::new(&cfg.common.redis),
            cfg.common.redis.key_prefix.clone(),
            cfg.recommender.clone(),
        );
        let prefix = kafka.topic_prefix.clone();
        sup.consume(
            &kafka,
            &cfg.recommender.consumer_group,
            &TOPICS,
            Some(metrics),
            move |d: Delivery| {
                let model = model.clone();
                let mut conn = redis.clone();
                let prefix = prefix.clone();
                async move { handle(&model, &mut conn, &prefix, d).await }
            },
        );
        sup.run().await
    }
}

/// Applies one delivery.
async fn handle(
    model: &Model,
    conn: &mut ConnectionManager,
    topic_prefix: &str,
    d: Delivery,
) -> anyhow::Result<Outcome> {
    let topic = d.topic.strip_prefix(topic_prefix).unwrap_or(&d.topic);
    let Some(signal) = model::signal(&d.event, topic) else {
        return Ok(Outcome::Ignored);
    };
    let position = format!("{}:{}", d.topic, d.partition);
    let applied = model
        .apply(conn, &signal, &position, d.offset)
        .await
        .context("applying a signal to Redis")?;
    Ok(if applied {
        Outcome::Applied
    } else {
        Outcome::Duplicate
    })
}
