//! The auth service: accounts, argon2id passwords, EdDSA access tokens with a rotating JWKS,
//! rotating refresh tokens, sign-out through the Redis deny list, login throttling, and
//! `user.registered` through the outbox. One port carries gRPC (`storefront.auth.v1`) and HTTP
//! (`/.well-known/jwks.json`, `/healthz`, `/readyz`, `/metrics`).
#![forbid(unsafe_code)]

extern crate storefront_kit as kit;

pub mod api;
pub mod config;
pub mod domain;
pub mod keys;
pub mod password;
pub mod service;
pub mod store;
pub mod throttle;
pub mod tokens;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kit::config::Validate;
use kit::health::{Readiness, checks};
use kit::jwt::{JwksVerifier, RedisDenyList};
use kit::metrics::Metrics;
use kit::outbox::{Relay, RelayOptions};
use kit::{Shutdown, Supervisor};
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use storefront_proto::auth::v1::auth_service_server::AuthServiceServer;
use tokio::net::TcpListener;
use uuid::Uuid;

pub use config::{AuthSettings, Config};
pub use keys::KeyRing;
pub use service::Auth;

/// auth_db's own migrations (`migrations/auth/`); kit's outbox tables come first.
pub static MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/auth");

/// An auth role whose listener is bound; [`Server::run`] serves until shutdown.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    app: Router,
    relay: Relay,
    auth: Auth,
    shutdown: Shutdown,
}

/// Connects to auth_db (creating and migrating it) and returns the pool.
pub async fn connect_db(cfg: &Config) -> anyhow::Result<PgPool> {
    kit::db::connect_database(&cfg.common.postgres, &cfg.database_name(), &MIGRATIONS).await
}

/// Validates `cfg` and loads the signing keys, binds `auth.listen` (port 0 picks one; see
/// [`Server::local_addr`]), then connects to PostgreSQL (migrating) and Redis.
pub async fn build(cfg: Config, shutdown: Shutdown) -> anyhow::Result<Server> {
    cfg.validate()?;
    let ring = Arc::new(KeyRing::load(&cfg.auth.keys)?);
    let listener = kit::server::bind("auth", cfg.auth.listen).await?;
    let local_addr = listener.local_addr()?;
    let auth = assemble(&cfg, ring).await?;
    let metrics = Metrics::new("auth");
    let readiness = Readiness::new()
        .with("postgres", checks::postgres(auth.pool.clone()))
        .with("redis", checks::redis(auth.redis.clone()));
    let http = Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .with_state(auth.clone())
        .merge(kit::health::router(readiness, metrics.clone()));
    let grpc =
        tonic::service::Routes::new(AuthServiceServer::new(api::AuthApi { auth: auth.clone() }));
    let app = kit::server::grpc_with_http(grpc, http, &metrics);
    let relay = Relay::new(
        auth.pool.clone(),
        &cfg.common.kafka,
        RelayOptions::default(),
    )?;
    tracing::info!(addr = %local_addr, kid = %auth.issuer.ring().active().kid, "auth bound");
    Ok(Server {
        listener,
        local_addr,
        app,
        relay,
        auth,
        shutdown,
    })
}

/// Everything [`Auth`] needs, connected.
async fn assemble(cfg: &Config, ring: Arc<KeyRing>) -> anyhow::Result<Auth> {
    let pool = connect_db(cfg).await?;
    let redis = kit::cache::connect(&cfg.common.redis).await?;
    let keys = kit::cache::Keys::new(&cfg.common.redis);
    let redis_timeout = Duration::from_millis(cfg.common.redis.timeout_ms.max(1));
    let verifier_settings = kit::config::AuthSettings {
        issuer: cfg.auth.issuer.clone(),
        ..cfg.common.auth.clone()
    };
    let verifier = JwksVerifier::from_jwks(&ring.jwks(), &verifier_settings).with_revocation(
        Arc::new(RedisDenyList::new(redis.clone(), &cfg.common.redis)),
    );
    let hasher = password::Hasher::new(&cfg.auth.argon2).await?;
    let throttle = throttle::Throttle::new(
        redis.clone(),
        keys.clone(),
        &cfg.auth.throttle,
        redis_timeout,
    );
    Ok(Auth {
        pool,
        issuer: tokens::Issuer::new(
            ring,
            &cfg.auth.issuer,
            Duration::from_secs(cfg.auth.access_token_ttl_secs),
        ),
        hasher,
        throttle,
        redis,
        keys,
        verifier,
        refresh_ttl: Duration::from_secs(cfg.auth.refresh_token_ttl_secs),
        jwks_max_age_secs: cfg.auth.jwks_max_age_secs,
        redis_timeout,
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
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// Serves gRPC and HTTP and runs the outbox relay until shutdown; if either stops on its
    /// own, the role stops with an error naming it.
    pub async fn run(self) -> anyhow::Result<()> {
        tracing::info!(addr = %self.local_addr, "auth listening");
        let mut sup = Supervisor::new("auth", self.shutdown.clone());
        sup.serve(self.listener, self.app);
        sup.spawn("outbox relay", self.relay.run(self.shutdown.clone()));
        sup.run().await
    }
}

/// The public keys as a JWK Set, cacheable for `auth.jwks_max_age_secs`.
async fn jwks(State(auth): State<Auth>) -> Response {
    let max_age = auth.jwks_max_age_secs;
    (
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_str(&format!("public, max-age={max_age}"))
                .unwrap_or(HeaderValue::from_static("max-age=300")),
        )],
        axum::Json(auth.issuer.ring().jwks()),
    )
        .into_response()
}

/// For `storefront admin create`: creates an admin account, or gives an existing account the
/// admin role (its password is then left unchanged). Works on auth_db directly (migrating it),
/// so it needs no running auth role; `user.registered` of a new account is published by the
/// auth role's relay when it runs. Returns the account id.
pub async fn create_admin(cfg: &Config, email: &str, password: &str) -> anyhow::Result<Uuid> {
    cfg.validate()?;
    let email = domain::Email::parse("email", email).map_err(|e| anyhow::anyhow!("{e}"))?;
    let pool = connect_db(cfg).await?;
    if let Some(user) = store::users::by_email(&pool, email.as_str()).await? {
        let mut conn = pool.acquire().await?;
        store::users::add_role(&mut conn, user.id, "admin").await?;
        tracing::info!(user_id = %user.id, "granted the admin role to an existing account");
        return Ok(user.id);
    }
    let password =
        domain::Password::parse("password", password).map_err(|e| anyhow::anyhow!("{e}"))?;
    let hasher = password::Hasher::new(&cfg.auth.argon2).await?;
    let hash = hasher.hash(password.expose().to_owned()).await?;
    let mut tx = pool.begin().await?;
    let user = match store::users::insert(
        &mut tx,
        Uuid::now_v7(),
        email.as_str(),
        &hash,
        &["customer", "admin"],
        None,
        None,
    )
    .await
    {
        Ok(u) => u,
        Err(e) if store::on_constraint(&e, store::users::EMAIL_KEY) => {
            // Created concurrently: promote it.
            drop(tx);
            let existing = store::users::by_email(&pool, email.as_str())
                .await?
                .context("the account vanished")?;
            let mut conn = pool.acquire().await?;
            store::users::add_role(&mut conn, existing.id, "admin").await?;
            return Ok(existing.id);
        }
        Err(e) => return Err(e).context("creating the admin account"),
    };
    kit::outbox::enqueue(&mut tx, &service::registered_event(&user)).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, "created an admin account");
    Ok(user.id)
}
