//! The user service: profiles (seeded from `user.registered`), addresses with one default of
//! each kind, preferences, the wishlist and avatars in the `user-avatars` bucket. One port
//! carries gRPC (`storefront.user.v1`) and HTTP (`/healthz`, `/readyz`, `/metrics`). Every RPC
//! acts on the user of the verified access token only.
#![forbid(unsafe_code)]

extern crate storefront_kit as kit;

pub mod api;
pub mod config;
pub mod domain;
pub mod events;
pub mod service;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use kit::config::Validate;
use kit::health::{Readiness, checks};
use kit::jwt::{JwksVerifier, RedisDenyList};
use kit::metrics::Metrics;
use kit::{Shutdown, Supervisor};
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use storefront_proto::user::v1::user_service_server::UserServiceServer;
use tokio::net::TcpListener;

pub use config::{Config, UserSettings};
pub use service::UserService;

/// user_db's own migrations (`migrations/user/`); kit's inbox tables come first.
pub static MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/user");

/// A user role whose listener is bound; [`Server::run`] serves until shutdown.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    app: Router,
    svc: UserService,
    cfg: Config,
    metrics: Metrics,
    shutdown: Shutdown,
}

/// Connects to user_db (creating and migrating it) and returns the pool.
pub async fn connect_db(cfg: &Config) -> anyhow::Result<PgPool> {
    kit::db::connect_database(&cfg.common.postgres, &cfg.database_name(), &MIGRATIONS).await
}

/// Validates `cfg`, binds `user.listen` (port 0 picks one; see [`Server::local_addr`]), then
/// connects to PostgreSQL (migrating) and Redis (token deny list) and makes sure the avatar
/// bucket exists.
pub async fn build(cfg: Config, shutdown: Shutdown) -> anyhow::Result<Server> {
    cfg.validate()?;
    let listener = kit::server::bind("user", cfg.user.listen).await?;
    let local_addr = listener.local_addr()?;
    let pool = connect_db(&cfg).await?;
    let redis = kit::cache::connect(&cfg.common.redis).await?;
    let verifier = JwksVerifier::new(&cfg.common.auth)?
        .with_revocation(Arc::new(RedisDenyList::new(redis, &cfg.common.redis)));
    let s3 = kit::s3::client(&cfg.common.s3);
    let bucket = kit::s3::bucket_name(&cfg.common.s3, service::AVATAR_BUCKET);
    kit::s3::ensure_bucket(&s3, &bucket).await?;
    let svc = UserService {
        pool: pool.clone(),
        verifier,
        s3: s3.clone(),
        presign: kit::s3::presign_client(&cfg.common.s3),
        bucket,
        avatar_max_bytes: cfg.user.avatar_max_bytes,
        upload_ttl: Duration::from_secs(cfg.user.avatar_upload_ttl_secs),
        download_ttl: Duration::from_secs(cfg.user.avatar_download_ttl_secs),
    };
    let metrics = Metrics::new("user");
    let readiness = Readiness::new()
        .with("postgres", checks::postgres(pool))
        .with("s3", checks::s3(s3));
    let http = kit::health::router(readiness, metrics.clone());
    let grpc =
        tonic::service::Routes::new(UserServiceServer::new(api::UserApi { svc: svc.clone() }));
    let app = kit::server::grpc_with_http(grpc, http, &metrics);
    tracing::info!(addr = %local_addr, "user bound");
    Ok(Server {
        listener,
        local_addr,
        app,
        svc,
        cfg,
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

    /// The service behind the API (tests and tools).
    pub fn service(&self) -> &UserService {
        &self.svc
    }

    /// Serves gRPC and HTTP and consumes `user-events` until shutdown; if either stops on its
    /// own, the role stops with an error naming it.
    pub async fn run(self) -> anyhow::Result<()> {
        tracing::info!(addr = %self.local_addr, "user listening");
        let mut sup = Supervisor::new("user", self.shutdown.clone());
        sup.serve(self.listener, self.app);
        sup.spawn(
            "user-events-consumer",
            events::consume(
                self.cfg.common.kafka.clone(),
                self.cfg.user.consumer_group.clone(),
                self.svc.pool.clone(),
                self.metrics.clone(),
                self.shutdown.clone(),
            ),
        );
        sup.run().await
    }
}
