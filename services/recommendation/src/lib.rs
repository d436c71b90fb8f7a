//! The recommendation service: `GET /api/v1/recommendations` reads the rec:* keys in Redis
//! (written by the recommender or an external ML pipeline), falls back personalized -> similar
//! -> similar to recently viewed -> trending -> popular -> newest active products, and hydrates
//! product cards from product in batches. HTTP on one port with `/healthz`, `/readyz`,
//! `/metrics`; no database.
#![forbid(unsafe_code)]

extern crate storefront_kit as kit;

pub mod api;
pub mod chain;
pub mod config;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use kit::cache::Keys;
use kit::config::Validate;
use kit::health::{CheckStatus, Readiness, checks};
use kit::jwt::JwksVerifier;
use kit::metrics::Metrics;
use kit::{Shutdown, Supervisor};
use tokio::net::TcpListener;

pub use config::{Config, RecommendationSettings};

/// The role name (metrics label, supervisor name).
pub const ROLE: &str = "recommendation";

/// A bound recommendation role; [`Server::run`] serves until shutdown.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    app: Router,
    shutdown: Shutdown,
}

/// Validates `cfg`, binds `recommendation.listen` and connects to Redis (product is dialled
/// lazily, so it may start later).
pub async fn build(cfg: Config, shutdown: Shutdown) -> anyhow::Result<Server> {
    cfg.validate()?;
    let s = &cfg.recommendation;
    let listener = kit::server::bind(ROLE, s.listen)
        .await
        .context("binding STOREFRONT_RECOMMENDATION__LISTEN")?;
    let local_addr = listener.local_addr()?;
    let redis = kit::cache::connect(&cfg.common.redis).await?;
    let product =
        kit::upstream::grpc_channel(&s.product_url, Duration::from_millis(s.product_timeout_ms))
            .context("STOREFRONT_RECOMMENDATION__PRODUCT_URL")?;
    let verifier = JwksVerifier::new(&cfg.common.auth).context("access-token verifier")?;
    let metrics = Metrics::new(ROLE);
    let state = api::AppState {
        redis: redis.clone(),
        keys: Keys::new(&cfg.common.redis),
        product: product.clone(),
        verifier,
        default_limit: s.default_limit,
        candidate_factor: s.candidate_factor,
    };
    let readiness = Readiness::new()
        .with("redis", checks::redis(redis))
        .with("product", move || {
            let channel = product.clone();
            async move {
                let mut c = storefront_proto::product::v1::product_service_client::ProductServiceClient::new(channel);
                let req = storefront_proto::product::v1::ListProductsRequest {
                    page_size: 1,
                    ..Default::default()
                };
                match c.list_products(req).await {
                    Ok(_) => CheckStatus::Up,
                    Err(e) => CheckStatus::Down(e.message().to_owned()),
                }
            }
        });
    let app = kit::server::http_app(api::router(state), readiness, &metrics);
    Ok(Server {
        listener,
        local_addr,
        app,
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

    /// Serves until shutdown.
    pub async fn run(self) -> anyhow::Result<()> {
        tracing::info!(addr = %self.local_addr, "recommendation listening");
        let mut sup = Supervisor::new(ROLE, self.shutdown.clone());
        sup.serve(self.listener, self.app);
        sup.run().await
    }
}
