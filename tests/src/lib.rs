//! Shared helpers for the integration tests: settings pointing at the dev stack, one fresh
//! database per test, unique topic names, and polling with a deadline.
#![forbid(unsafe_code)]

use std::future::Future;
use std::time::Duration;

pub mod platform;
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
