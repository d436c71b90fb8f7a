//! The public REST gateway: request ids, tracing, CORS, limits, timeouts, compression, RFC 9457
//! errors, JWT checks, Redis GCRA rate limiting, OpenAPI and the clients of the services behind.
#![forbid(unsafe_code)]

extern crate storefront_kit as kit;

pub mod answers;
pub mod auth;
pub mod client_ip;
pub mod config;
pub mod openapi;
pub mod ratelimit;
pub mod routes;
pub mod upstreams;
pub mod web;

#[cfg(test)]
mod overload_tests;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use kit::Shutdown;
use kit::config::Validate;
use kit::health::Readiness;
use kit::jwt::{JwksVerifier, RedisDenyList};
use kit::metrics::Metrics;
use kit::problem::{Problem, REQUEST_ID_HEADER};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

pub use auth::protect;
pub use config::{Config, GatewaySettings};
pub use ratelimit::RateLimiter;

/// What handlers and middleware share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub verifier: JwksVerifier,
    pub limiter: RateLimiter,
    pub client_ip: client_ip::ClientIpResolver,
    pub upstreams: upstreams::Upstreams,
    pub metrics: Metrics,
    pub readiness: Readiness,
    pub answers: answers::AnswerCache,
}

impl FromRef<AppState> for JwksVerifier {
    fn from_ref(s: &AppState) -> Self {
        s.verifier.clone()
    }
}

impl AppState {
    /// Everything but the listener. Connects to nothing yet: Redis and the upstreams are used
    /// lazily, so the gateway starts while they are still starting.
    pub async fn new(cfg: Config) -> anyhow::Result<Self> {
        let rl = &cfg.gateway.rate_limit;
        let redis = ratelimit::lazy_redis(
            &cfg.common.redis,
            Duration::from_millis(rl.redis_timeout_ms),
        )?;
        let limiter =
            RateLimiter::with_connection(rl, Some(redis.clone()), &cfg.common.redis.key_prefix);
        let answers = answers::AnswerCache::new(
            &cfg.gateway.answer_cache,
            redis.clone(),
            &kit::cache::Keys::new(&cfg.common.redis),
        );
        let verifier = JwksVerifier::new(&cfg.common.auth)?
            .with_revocation(Arc::new(RedisDenyList::new(redis, &cfg.common.redis)));
        let upstreams = upstreams::Upstreams::new(&cfg.gateway.upstreams).await?;
        let probe = limiter.clone();
        let readiness = Readiness::new().with("redis", move || {
            let l = probe.clone();
            async move { l.health().await }
        });
        Ok(Self {
            client_ip: client_ip::ClientIpResolver::new(&cfg.gateway.trusted_proxies),
            config: Arc::new(cfg),
            verifier,
            limiter,
            upstreams,
            metrics: Metrics::new("gateway"),
            readiness,
            answers,
        })
    }
}

/// The routes of the API (without middleware). Resource modules merge theirs here; protected
/// ones go through [`protect`].
pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi::openapi_json))
        .route("/docs", get(openapi::docs_page))
        .merge(bounded(routes::auth::router(state), "auth", state))
        .merge(bounded(routes::cart::router(state), "cart", state))
        .merge(bounded(routes::events::router(state), "event", state))
        .merge(bounded(
            routes::inventory::router(state),
            "inventory",
            state,
        ))
        .merge(bounded(
            routes::order::router(state).merge(routes::totals::router(state)),
            "order",
            state,
        ))
        .merge(bounded(routes::payment::router(state), "payment", state))
        .merge(bounded(routes::product::router(state), "product", state))
        // Its own bound: image reads must not take the catalog's turns.
        .merge(bounded(routes::media::router(state), "product", state))
        .merge(bounded(
            routes::recommendations::router(state),
            "recommendation",
            state,
        ))
        .merge(bounded(routes::user::router(state), "user", state))
}

/// At most `gateway.max_in_flight_per_upstream` requests of `routes` (one service behind the
/// gateway) in flight; the next is shed at once with 503 and `Retry-After`, so one slow service
/// cannot take every connection, and the health routes (not behind this) keep answering.
fn bounded(routes: Router<AppState>, upstream: &'static str, state: &AppState) -> Router<AppState> {
    let limit = state.config.gateway.max_in_flight_per_upstream;
    routes.layer(
        ServiceBuilder::new()
            .layer(axum::error_handling::HandleErrorLayer::new(
                move |_: tower::BoxError| async move {
                    Problem::service_unavailable(format!(
                        "Too many requests to the {upstream} service are in flight. Try again shortly."
                    ))
                    .with_retry_after(Duration::from_secs(1))
                },
            ))
            .load_shed()
            .layer(tower::limit::GlobalConcurrencyLimitLayer::new(limit)),
    )
}

/// The whole application: [`routes`], health routes and the middleware stack.
pub fn app(state: AppState) -> Router {
    let routes = routes(&state);
    with_middleware(routes, state)
}

/// Adds the health routes, the 404/405 problems and the middleware stack to `routes`.
pub fn with_middleware(routes: Router<AppState>, state: AppState) -> Router {
    let cfg = &state.config.gateway;
    let timeout = Duration::from_millis(cfg.request_timeout_ms);
    let body_limit = cfg.body_limit_bytes;
    let health = kit::health::router(state.readiness.clone(), state.metrics.clone());
    let web = web::WebFiles::new(cfg.web_dir.clone());
    let stack = ServiceBuilder::new()
        .layer(middleware::from_fn(request_id))
        .layer(kit::telemetry::http_trace_layer())
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            kit::metrics::track_http,
        ))
        // The fastest level: on the search path the default level took 12% of the process's
        // CPU (perf, issue #16); level 1 still shrinks JSON several times.
        .layer(CompressionLayer::new().quality(tower_http::CompressionLevel::Fastest))
        .layer(cors(&cfg.cors_origins))
        .layer(middleware::from_fn(kit::problem::normalize_errors))
        .layer(CatchPanicLayer::custom(kit::problem::panic_response))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            timeout,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::identify,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            ratelimit::limit,
        ))
        // Innermost: the limited body type is only accepted by the routes themselves.
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(RequestBodyLimitLayer::new(body_limit));
    routes
        .with_state(state)
        .merge(health)
        .fallback(move |method: Method, uri: Uri| {
            let web = web.clone();
            async move { web.serve(method, uri).await }
        })
        .method_not_allowed_fallback(kit::problem::method_not_allowed_fallback)
        .layer(stack)
}

fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::ACCEPT_LANGUAGE,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("x-cart-token"),
            HeaderName::from_static(REQUEST_ID_HEADER),
            HeaderName::from_static("traceparent"),
        ])
        .expose_headers([
            ratelimit::RATELIMIT_LIMIT.clone(),
            ratelimit::RATELIMIT_REMAINING.clone(),
            ratelimit::RATELIMIT_RESET.clone(),
            header::RETRY_AFTER,
            header::LOCATION,
            HeaderName::from_static(REQUEST_ID_HEADER),
            HeaderName::from_static("x-cart-token"),
            HeaderName::from_static("idempotent-replayed"),
        ])
        .max_age(Duration::from_secs(600))
}

/// Keeps a sane incoming `x-request-id` (1..=128 of `[A-Za-z0-9._:-]`), else makes a UUIDv7; sets
/// it on the request (for logs, problems and upstreams) and on the response.
async fn request_id(mut req: Request, next: Next) -> Response {
    let incoming = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .filter(|v| {
            let b = v.as_bytes();
            !b.is_empty()
                && b.len() <= 128
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || b"._:-".contains(c))
        })
        .cloned();
    let id = incoming.unwrap_or_else(|| {
        HeaderValue::from_str(&uuid::Uuid::now_v7().to_string())
            .expect("a UUID is a valid header value")
    });
    req.headers_mut().insert(REQUEST_ID_HEADER, id.clone());
    let mut resp = next.run(req).await;
    resp.headers_mut().insert(REQUEST_ID_HEADER, id);
    resp
}

/// A gateway whose listener is bound; [`Gateway::run`] serves until shutdown.
pub struct Gateway {
    listener: TcpListener,
    local_addr: SocketAddr,
    /// `gateway.web_listen`: the same application on a second address (the shop's port).
    web_listener: Option<TcpListener>,
    app: Router,
    state: AppState,
    shutdown: Shutdown,
}

/// Validates `cfg`, binds `gateway.listen` (port 0 picks one; see [`Gateway::local_addr`]) and
/// builds the application.
pub async fn build(cfg: Config, shutdown: Shutdown) -> anyhow::Result<Gateway> {
    cfg.validate()?;
    let listen = cfg.gateway.listen;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding STOREFRONT_GATEWAY__LISTEN={listen}"))?;
    let local_addr = listener.local_addr()?;
    let web_listener = match cfg.gateway.web_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding STOREFRONT_GATEWAY__WEB_LISTEN={addr}"))?,
        ),
        None => None,
    };
    let state = AppState::new(cfg).await?;
    let app = app(state.clone());
    Ok(Gateway {
        listener,
        local_addr,
        web_listener,
        app,
        state,
        shutdown,
    })
}

/// `build` then `run`.
pub async fn run(cfg: Config, shutdown: Shutdown) -> anyhow::Result<()> {
    build(cfg, shutdown).await?.run().await
}

impl Gateway {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The address of `gateway.web_listen`, when set (port 0 picks one).
    pub fn web_addr(&self) -> Option<SocketAddr> {
        self.web_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until the shutdown signal, then drains in-flight requests.
    pub async fn run(self) -> anyhow::Result<()> {
        tracing::info!(addr = %self.local_addr, "gateway listening");
        let g = &self.state.config.gateway;
        let limits = kit::server::Limits {
            max_connections: g.max_connections,
            header_read_timeout: Duration::from_millis(g.header_read_timeout_ms),
        };
        let api = kit::server::serve_with(
            self.listener,
            self.app.clone(),
            self.shutdown.clone(),
            limits,
        );
        let Some(web_listener) = self.web_listener else {
            return api.await.context("gateway server");
        };
        if let Ok(addr) = web_listener.local_addr() {
            tracing::info!(addr = %addr, "web shop listening");
        }
        let web = kit::server::serve_with(web_listener, self.app, self.shutdown, limits);
        let api = async move { api.await.context("gateway server") };
        let web = async move { web.await.context("gateway web listener") };
        tokio::try_join!(api, web).map(|_| ())
    }
}
