//! Outbox relay and inbox against real PostgreSQL and the real broker: a relay killed in the
//! middle of a batch republishes, consumers apply every event exactly once.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use storefront_kit::config::KafkaSettings;
use storefront_kit::kafka::{ConsumerOptions, Delivery, Outcome};
use storefront_kit::outbox::{self, OutboxEvent, Relay, RelayOptions};
use storefront_kit::{Shutdown, inbox};
use storefront_tests::{common, count, eventually, fresh_database, unique};
use uuid::Uuid;

async fn enqueue_many(pool: &PgPool, topic: &str, n: usize, keys: usize) -> Vec<Uuid> {
    let mut ids = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(25) {
        let mut tx = pool.begin().await.unwrap();
        for &i in chunk {
            let key = format!("agg-{}", i % keys);
            let ev = OutboxEvent::new(
                topic,
                "/storefront/test",
                "test.happened",
                key.clone(),
                serde_json::json!({"n": i, "key": key}),
            );
            ids.push(outbox::enqueue(&mut tx, &ev).await.unwrap());
        }
        tx.commit().await.unwrap();
    }
    ids
}

async fn published(pool: &PgPool) -> i64 {
    count(
        pool,
        "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL",
    )
    .await
}

/// A consumer whose effect is one row per application in `effects`.
fn start_consumer(
    kafka: &KafkaSettings,
    pool: PgPool,
    topic: &str,
    deliveries: Arc<AtomicUsize>,
    duplicates: Arc<AtomicUsize>,
    shutdown: Shutdown,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let kafka = kafka.clone();
    let opts = ConsumerOptions::new(unique("it-group"), vec![topic.to_owned()]);
    tokio::spawn(async move {
        storefront_kit::kafka::run_consumer(&kafka, opts, None, shutdown, |d: Delivery| {
            let pool = pool.clone();
            let deliveries = deliveries.clone();
            let duplicates = duplicates.clone();
            async move {
                let event_id = d.event.id;
                let n = d.event.data["n"].as_i64().unwrap_or(-1);
                let outcome = inbox::apply_once(&pool, "it-consumer", &d.event, async |tx| {
                    sqlx::query("INSERT INTO effects (event_id, n) VALUES ($1, $2)")
                        .bind(event_id)
                        .bind(n)
                        .execute(&mut *tx)
                        .await?;
                    Ok(())
                })
                .await?;
                deliveries.fetch_add(1, Ordering::SeqCst);
                if outcome == Outcome::Duplicate {
                    duplicates.fetch_add(1, Ordering::SeqCst);
                }
                Ok(outcome)
            }
        })
        .await
    })
}

async fn setup() -> (storefront_kit::config::Common, PgPool, String) {
    let common = common();
    let (_, pool) = fresh_database(&common, &storefront_kit::db::NO_MIGRATIONS)
        .await
        .expect("fresh database (is PostgreSQL up? run scripts/dev-stack.sh up)");
    sqlx::query("CREATE TABLE effects (event_id uuid NOT NULL, n bigint NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())")
        .execute(&pool)
        .await
        .unwrap();
    let topic = unique("it-outbox");
    storefront_kit::kafka::ensure_topics(&common.kafka, std::slice::from_ref(&topic), 3)
        .await
        .expect("creating topic (is the broker up? run scripts/dev-stack.sh up)");
    (common, pool, topic)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn relay_killed_mid_batch_delivers_at_least_once_and_inbox_applies_exactly_once() {
    let (common, pool, topic) = setup().await;
    const N: usize = 1200;
    let ids = enqueue_many(&pool, &topic, N, 17).await;

    // Crash 1, deterministic: a relay claims a batch, publishes it, and dies before marking it.
    {
        let producer = storefront_kit::kafka::producer(&common.kafka).unwrap();
        let mut tx = pool.begin().await.unwrap();
        let batch = outbox::claim(&mut tx, 60, &[]).await.unwrap();
        assert_eq!(batch.len(), 60);
        let (acked, err) =
            outbox::publish(&producer, &common.kafka, &batch, Duration::from_secs(30)).await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(acked.len(), 60);
        drop(tx); // rolled back: published but not marked
    }
    assert_eq!(published(&pool).await, 0);

    // Crash 2, at an arbitrary point: a running relay is aborted in the middle of its work.
    let opts = RelayOptions {
        batch_size: 100,
        ..Default::default()
    };
    let relay = Relay::new(pool.clone(), &common.kafka, opts.clone()).unwrap();
    let shutdown = Shutdown::new();
    let handle = tokio::spawn(relay.run(shutdown.clone()));
    eventually(
        Duration::from_secs(60),
        "the first relay to publish",
        || async { (published(&pool).await >= 150).then_some(()) },
    )
    .await;
    handle.abort();
    let _ = handle.await;
    let after_kill = published(&pool).await;
    assert!(
        after_kill < N as i64,
        "the relay finished before it was killed"
    );

    // A new relay (the restarted process) takes over and finishes.
    let relay = Relay::new(pool.clone(), &common.kafka, opts).unwrap();
    let shutdown2 = Shutdown::new();
    let handle2 = tokio::spawn(relay.run(shutdown2.clone()));
    eventually(
        Duration::from_secs(90),
        "every event to be published",
        || async { (published(&pool).await == N as i64).then_some(()) },
    )
    .await;

    // Consume everything that reached the topic, duplicates included.
    let total_messages = topic_message_count(&common.kafka, &topic).await;
    assert!(
        total_messages >= N as i64 + 60,
        "expected the 60 republished events as duplicates, topic holds {total_messages}"
    );
    let deliveries = Arc::new(AtomicUsize::new(0));
    let duplicates = Arc::new(AtomicUsize::new(0));
    let stop_consumer = Shutdown::new();
    let consumer = start_consumer(
        &common.kafka,
        pool.clone(),
        &topic,
        deliveries.clone(),
        duplicates.clone(),
        stop_consumer.clone(),
    );
    eventually(
        Duration::from_secs(120),
        "every message to be consumed",
        || async { (deliveries.load(Ordering::SeqCst) as i64 >= total_messages).then_some(()) },
    )
    .await;

    // Exactly once: each event id has one effect row, none missing, none doubled.
    let rows: Vec<(Uuid, i64)> =
        sqlx::query_as("SELECT event_id, count(*) FROM effects GROUP BY event_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let applied: HashMap<Uuid, i64> = rows.into_iter().collect();
    assert_eq!(applied.len(), N, "events applied");
    assert!(
        applied.values().all(|&c| c == 1),
        "an event was applied twice"
    );
    assert!(
        ids.iter().all(|id| applied.contains_key(id)),
        "an event was lost"
    );
    assert_eq!(
        duplicates.load(Ordering::SeqCst),
        deliveries.load(Ordering::SeqCst) - N,
        "every extra delivery must be recognised as a duplicate"
    );
    let inbox: i64 = sqlx::query_scalar("SELECT count(*) FROM processed_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(inbox, N as i64);

    shutdown2.trigger();
    stop_consumer.trigger();
    handle2.await.unwrap().unwrap();
    consumer.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_is_woken_by_notify_and_keeps_per_key_order() {
    let (common, pool, topic) = setup().await;
    let relay = Relay::new(
        pool.clone(),
        &common.kafka,
        RelayOptions {
            // A long poll interval: prompt delivery below can only come from NOTIFY.
            poll_interval: Duration::from_secs(3600),
            ..Default::default()
        },
    )
    .unwrap();
    let shutdown = Shutdown::new();
    let handle = tokio::spawn(relay.run(shutdown.clone()));
    // Let the relay reach its LISTEN before the events are written.
    tokio::task::yield_now().await;
    let listening = "SELECT count(*) FROM pg_stat_activity \
                     WHERE datname = current_database() AND query LIKE 'LISTEN%'";
    eventually(Duration::from_secs(20), "the relay to listen", || async {
        (count(&pool, listening).await > 0).then_some(())
    })
    .await;
    const N: usize = 300;
    enqueue_many(&pool, &topic, N, 5).await;
    eventually(Duration::from_secs(30), "notified publication", || async {
        (published(&pool).await == N as i64).then_some(())
    })
    .await;

    let deliveries = Arc::new(AtomicUsize::new(0));
    let dups = Arc::new(AtomicUsize::new(0));
    let stop = Shutdown::new();
    let consumer = start_consumer(
        &common.kafka,
        pool.clone(),
        &topic,
        deliveries.clone(),
        dups,
        stop.clone(),
    );
    eventually(Duration::from_secs(60), "consumption", || async {
        (deliveries.load(Ordering::SeqCst) >= N).then_some(())
    })
    .await;
    // Within one key, effects were applied in the order the events were written.
    let rows: Vec<(i64,)> = sqlx::query_as("SELECT n FROM effects ORDER BY at")
        .fetch_all(&pool)
        .await
        .unwrap();
    let mut last: HashMap<i64, i64> = HashMap::new();
    for (n,) in rows {
        let key = n % 5;
        if let Some(prev) = last.insert(key, n) {
            assert!(prev < n, "key {key}: event {n} applied after {prev}");
        }
    }
    shutdown.trigger();
    stop.trigger();
    handle.await.unwrap().unwrap();
    consumer.await.unwrap().unwrap();
}

#[tokio::test]
async fn concurrent_deliveries_of_one_event_apply_once() {
    let common = common();
    let (_, pool) = fresh_database(&common, &storefront_kit::db::NO_MIGRATIONS)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE counter (id int PRIMARY KEY, n bigint NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO counter VALUES (1, 0)")
        .execute(&pool)
        .await
        .unwrap();
    let event = storefront_kit::events::CloudEvent::new(
        "/storefront/test",
        "order.paid",
        None,
        serde_json::json!({}),
    );
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let pool = pool.clone();
            let event = event.clone();
            tokio::spawn(async move {
                inbox::apply_once(&pool, "c", &event, async |tx| {
                    sqlx::query("UPDATE counter SET n = n + 1 WHERE id = 1")
                        .execute(&mut *tx)
                        .await?;
                    Ok(())
                })
                .await
                .unwrap()
            })
        })
        .collect();
    let mut applied = 0;
    for t in tasks {
        if t.await.unwrap() == Outcome::Applied {
            applied += 1;
        }
    }
    assert_eq!(applied, 1);
    let n: i64 = sqlx::query_scalar("SELECT n FROM counter WHERE id = 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 1);

    // A failing effect leaves no inbox row, so the redelivery applies it.
    let event2 = storefront_kit::events::CloudEvent::new("/t", "x", None, serde_json::json!({}));
    let err = inbox::apply_once(&pool, "c", &event2, async |_tx| anyhow::bail!("boom")).await;
    assert!(err.is_err());
    let again = inbox::apply_once(&pool, "c", &event2, async |_tx| Ok(()))
        .await
        .unwrap();
    assert_eq!(again, Outcome::Applied);
}

/// Sum of high watermarks over the topic's partitions.
async fn topic_message_count(kafka: &KafkaSettings, topic: &str) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let brokers = kafka.brokers.clone();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let c: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", "it-watermarks")
            .create()
            .unwrap();
        let md = c
            .fetch_metadata(Some(&topic), Duration::from_secs(10))
            .unwrap();
        let parts = md.topics()[0].partitions().len() as i32;
        (0..parts)
            .map(|p| {
                let (lo, hi) = c
                    .fetch_watermarks(&topic, p, Duration::from_secs(10))
                    .unwrap();
                hi - lo
            })
            .sum()
    })
    .await
    .unwrap()
}
