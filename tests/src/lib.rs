//! Shared helpers for the integration tests: settings pointing at the dev stack, one fresh
//! database per test, unique topic names, and polling with a deadline.
#![forbid(unsafe_code)]

use std::future::Future;
use std::time::Duration;

/// Lets a test's fixture type (one with a `stack` field) be used as its [`stack::Stack`].
#[macro_export]
macro_rules! deref_stack {
    ($t:ty) => {
        impl std::ops::Deref for $t {
            type Target = $crate::stack::Stack;
            fn deref(&self) -> &$crate::stack::Stack {
                &self.stack
            }
        }
    };
}

pub mod platform;
pub mod roles;
pub mod shopper;
pub mod stack;

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

/// A fresh SKU (`SKU-<random>`).
pub fn sku() -> String {
    unique("SKU").replace('_', "-")
}

/// `amount` minor units of `currency`, as the API writes money.
pub fn money(amount: i64, currency: &str) -> serde_json::Value {
    serde_json::json!({"amount": amount, "currency": currency})
}

/// `amount` euro cents, as the API writes money.
pub fn eur(amount: i64) -> serde_json::Value {
    money(amount, "EUR")
}

/// `field` of each element of the array `list`, as strings.
pub fn column(list: &serde_json::Value, field: &str) -> Vec<String> {
    let items = list
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"));
    items
        .iter()
        .map(|v| v[field].as_str().unwrap().to_owned())
        .collect()
}

/// The fields a problem's `errors` name, in order (none when it has no `errors`).
pub fn fields(problem: &serde_json::Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|f| f["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// `message` with `token` as its bearer `authorization` metadata.
pub fn bearer<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

/// What a gRPC call answered, expecting success.
pub async fn ok<T>(call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>) -> T {
    call.await.unwrap().into_inner()
}

/// How a gRPC call failed, expecting a failure.
pub async fn refused<T: std::fmt::Debug>(
    call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> tonic::Status {
    call.await.unwrap_err()
}

/// A lazily connecting gRPC channel to a role at `addr`, each call bounded by `timeout`.
pub fn channel(addr: std::net::SocketAddr, timeout: Duration) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .timeout(timeout)
        .connect_lazy()
}

/// Sum of the `storefront_events_consumed_total` samples with `outcome` on a role's `/metrics`.
pub async fn consumed(addr: std::net::SocketAddr, outcome: &str) -> u64 {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("storefront_events_consumed_total{")
                && l.contains(&format!("outcome=\"{outcome}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// A count (or any bigint) `sql` selects from `pool`.
pub async fn count(pool: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Waits up to `timeout` until `sql` on `pool` counts `want`.
pub async fn wait_count(pool: &sqlx::PgPool, sql: &str, want: i64, timeout: Duration) {
    eventually(timeout, &format!("{sql} to count {want}"), || async {
        (count(pool, sql).await == want).then_some(())
    })
    .await
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

/// Every message on `topic` up to its end at the time of the call, as JSON (non-JSON payloads
/// are skipped). Reads with assigned partitions, not a consumer group, so no group coordination
/// is involved.
pub async fn read_topic(brokers: &str, topic: &str) -> Vec<serde_json::Value> {
    use rdkafka::Message;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let brokers = brokers.to_owned();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let timeout = Duration::from_secs(10);
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", unique("it-topic-reader"))
            .set("enable.auto.commit", "false")
            .create()
            .expect("Kafka consumer");
        let md = consumer
            .fetch_metadata(Some(&topic), timeout)
            .expect("topic metadata");
        let mut tpl = rdkafka::TopicPartitionList::new();
        let mut ends = std::collections::HashMap::new();
        for p in md.topics().iter().flat_map(|t| t.partitions()) {
            let (low, high) = consumer
                .fetch_watermarks(&topic, p.id(), timeout)
                .expect("watermarks");
            if high > low {
                tpl.add_partition_offset(&topic, p.id(), rdkafka::Offset::Offset(low))
                    .expect("partition offset");
                ends.insert(p.id(), high);
            }
        }
        let mut out = Vec::new();
        if ends.is_empty() {
            return out;
        }
        consumer.assign(&tpl).expect("assigning partitions");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !ends.is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "reading {topic}: partitions {ends:?} not read to their end"
            );
            let Some(msg) = consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let msg = msg.expect("reading a message");
            if let Some(v) = msg
                .payload()
                .and_then(|p| serde_json::from_slice::<serde_json::Value>(p).ok())
            {
                out.push(v);
            }
            if ends
                .get(&msg.partition())
                .is_some_and(|end| msg.offset() + 1 >= *end)
            {
                ends.remove(&msg.partition());
            }
        }
        out
    })
    .await
    .expect("topic reader")
}

/// Serves `key`'s JWKS on 127.0.0.1:0 (what services fetch to verify test tokens); returns its URL.
pub async fn jwks_server(key: &storefront_kit::jwt::testing::TestKey) -> String {
    let set = storefront_kit::jwt::testing::jwks(&[key]);
    serve_jwks(serde_json::to_value(set).expect("a JWKS serialises")).await
}

/// Serves `set` as a JWKS on 127.0.0.1:0; returns its URL.
pub async fn serve_jwks(set: serde_json::Value) -> String {
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
