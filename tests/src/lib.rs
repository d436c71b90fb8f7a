//! Shared helpers for the integration tests: settings pointing at the dev stack, one fresh
//! database per test, unique topic names, and polling with a deadline.
#![forbid(unsafe_code)]

use std::future::Future;
use std::time::Duration;

pub mod platform;
pub mod shopper;

use storefront_kit::config::Common;

/// Settings for the dev stack started by `scripts/dev-stack.sh` (overridable with the usual
/// `STOREFRONT_*` variables).
pub fn common() -> Common {
    storefront_kit::config::load_common().expect("test configuration")
}

/// A short unique suffix for names (databases, topics, groups, key prefixes).
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    // The tail of a v7 UUID is random; the head is the clock.
    format!("{prefix}_{}", &id[id.len() - 12..])
}

/// A fresh database with kit's tables (outbox, processed_events) plus `migrations`.
pub async fn fresh_database(
    common: &Common,
    migrations: &sqlx::migrate::Migrator,
) -> anyhow::Result<(String, sqlx::PgPool)> {
    let name = unique("it");
    let pool = storefront_kit::db::connect_database(&common.postgres, &name, migrations).await?;
    Ok((name, pool))
}

/// Polls `check` every 50 ms until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Serves `key`'s JWKS on 127.0.0.1:0 (what services fetch to verify test tokens); returns its URL.
pub async fn jwks_server(key: &storefront_kit::jwt::testing::TestKey) -> String {
    let set = storefront_kit::jwt::testing::jwks(&[key]);
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            let set = set.clone();
            async move { axum::Json(set) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/.well-known/jwks.json")
}
