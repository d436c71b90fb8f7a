//! The transactional outbox. A service writes its event with [`enqueue`] in the same transaction
//! as the state change; the [`Relay`] publishes pending rows in order as CloudEvents JSON keyed by
//! aggregate id and marks them. It is woken by LISTEN/NOTIFY and also polls, so a lost
//! notification only delays delivery. Delivery is at least once: a relay that dies after
//! publishing but before marking republishes on restart, and consumers dedupe with the inbox.
//! Marking is batched (every second or 1,000 events, issue #16): reading a batch is a plain
//! read and publishing it writes nothing, so a busy database pays one write transaction per
//! second for its relay instead of one per batch.

use std::time::Duration;

use anyhow::Context;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::config::KafkaSettings;
use crate::events::CloudEvent;
use crate::shutdown::Shutdown;

/// NOTIFY channel the relay listens on.
pub const CHANNEL: &str = "storefront_outbox";
/// Advisory lock key held by the one active relay of a database (keeps per-key order).
const RELAY_LOCK: i64 = 0x5354_4f52_4f55_5442; // "STOROUTB"

/// An event to publish: the envelope plus where it goes.
#[derive(Clone, Debug)]
pub struct OutboxEvent {
    pub topic: String,
    /// Kafka key: the aggregate id, so one entity's events stay in order.
    pub key: String,
    pub event: CloudEvent,
}

impl OutboxEvent {
    /// `source` is the service (`/storefront/order`), `key` the aggregate id; the subject is the key.
    pub fn new(
        topic: impl Into<String>,
        source: &str,
        event_type: &str,
        key: impl Into<String>,
        data: Value,
    ) -> Self {
        let key = key.into();
        Self {
            topic: topic.into(),
            event: CloudEvent::new(source, event_type, Some(key.clone()), data),
            key,
        }
    }

    /// `data` on its contract's topic, with its type and source, keyed (and subject) `key`.
    pub fn of<E: contracts::events::Event>(key: impl Into<String>, data: &E) -> Self {
        Self::new(
            E::TOPIC,
            E::SOURCE,
            E::TYPE,
            key,
            crate::events::payload(data),
        )
    }
}

/// Writes the event into the outbox inside the caller's transaction. Returns the event id.
pub async fn enqueue(tx: &mut PgConnection, ev: &OutboxEvent) -> Result<Uuid, sqlx::Error> {
    sqlx::query(
        "INSERT INTO outbox (id, topic, event_key, event_type, source, subject, data, traceparent, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(ev.event.id)
    .bind(&ev.topic)
    .bind(&ev.key)
    .bind(&ev.event.event_type)
    .bind(&ev.event.source)
    .bind(&ev.event.subject)
    .bind(&ev.event.data)
    .bind(&ev.event.traceparent)
    .bind(ev.event.time)
    .execute(&mut *tx)
    .await?;
    // Delivered at commit, once per transaction whatever the number of events.
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(CHANNEL)
        .execute(&mut *tx)
        .await?;
    Ok(ev.event.id)
}

/// How the relay works.
#[derive(Clone, Debug)]
pub struct RelayOptions {
    pub batch_size: i64,
    /// Polling fallback when no notification arrives.
    pub poll_interval: Duration,
    /// How long one publish may wait for the broker before the batch is retried.
    pub publish_timeout: Duration,
}

impl RelayOptions {
    /// The defaults, polling every `ms` milliseconds when no notification arrives.
    pub fn polling(ms: u64) -> Self {
        Self {
            poll_interval: Duration::from_millis(ms),
            ..Self::default()
        }
    }
}

impl Default for RelayOptions {
    fn default() -> Self {
        Self {
            batch_size: 200,
            poll_interval: Duration::from_secs(1),
            publish_timeout: Duration::from_secs(15),
        }
    }
}

/// How long published events may wait to be marked, and how many at most.
const MARK_EVERY: Duration = Duration::from_secs(1);
const MARK_MAX: usize = 1_000;

/// A claimed, not yet published outbox row.
#[derive(Clone, Debug)]
pub struct Pending {
    pub topic: String,
    pub key: String,
    pub event: CloudEvent,
}

/// Up to `limit` unpublished rows in `seq` order, leaving out `skip` (rows published but not
/// marked yet). A plain read: only the relay holding the relay lock publishes.
pub async fn claim(
    c: &mut PgConnection,
    limit: i64,
    skip: &[Uuid],
) -> Result<Vec<Pending>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, topic, event_key, event_type, source, subject, data, traceparent, created_at
           FROM outbox WHERE published_at IS NULL AND id <> ALL($2)
          ORDER BY seq LIMIT $1",
    )
    .bind(limit)
    .bind(skip)
    .fetch_all(&mut *c)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Pending {
                topic: r.try_get("topic")?,
                key: r.try_get("event_key")?,
                event: CloudEvent {
                    specversion: "1.0".into(),
                    id: r.try_get("id")?,
                    event_type: r.try_get("event_type")?,
                    source: r.try_get("source")?,
                    time: r.try_get::<OffsetDateTime, _>("created_at")?,
                    subject: r.try_get("subject")?,
                    datacontenttype: "application/json".into(),
                    data: r.try_get("data")?,
                    traceparent: r.try_get("traceparent")?,
                },
            })
        })
        .collect()
}

/// Publishes the rows in order (all enqueued before any is awaited, so the producer keeps their
/// order per partition). Returns the ids that the broker acknowledged and the first error.
pub async fn publish(
    producer: &FutureProducer,
    settings: &KafkaSettings,
    pending: &[Pending],
    timeout: Duration,
) -> (Vec<Uuid>, Option<anyhow::Error>) {
    let mut inflight = Vec::with_capacity(pending.len());
    let mut first_err = None;
    for p in pending {
        let payload = match serde_json::to_vec(&p.event) {
            Ok(b) => b,
            Err(e) => {
                first_err.get_or_insert(anyhow::Error::from(e));
                break;
            }
        };
        let topic = crate::events::topic(settings, &p.topic);
        let record = FutureRecord::to(&topic)
            .key(&p.key)
            .payload(&payload)
            .headers(crate::kafka::event_headers(&p.event));
        match producer.send_result(record) {
            Ok(fut) => inflight.push((p.event.id, fut)),
            Err((e, _)) => {
                first_err.get_or_insert(anyhow::anyhow!("queueing event {}: {e}", p.event.id));
                break;
            }
        }
    }
    let mut ok = Vec::with_capacity(inflight.len());
    let deadline = tokio::time::Instant::now() + timeout;
    for (id, fut) in inflight {
        match tokio::time::timeout_at(deadline, fut).await {
            Ok(Ok(Ok(_))) => ok.push(id),
            Ok(Ok(Err((e, _)))) => {
                first_err.get_or_insert(anyhow::anyhow!("publishing event {id}: {e}"));
            }
            Ok(Err(_)) => {
                first_err.get_or_insert(anyhow::anyhow!("publishing event {id}: producer dropped"));
            }
            Err(_) => {
                first_err.get_or_insert(anyhow::anyhow!(
                    "publishing event {id}: no broker acknowledgement within {timeout:?}"
                ));
            }
        }
    }
    (ok, first_err)
}

/// Marks rows published.
pub async fn mark_published(tx: &mut PgConnection, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE outbox SET published_at = now() WHERE id = ANY($1)")
        .bind(ids)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Records a failed attempt on rows that were not acknowledged (visible for operators).
async fn mark_failed(tx: &mut PgConnection, ids: &[Uuid], error: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = ANY($1)")
        .bind(ids)
        .bind(error)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Publishes one batch. The acknowledged ids join `unmarked` (the caller marks them later with
/// [`mark_published`], many batches at a time); rows the broker refused are marked failed at
/// once. Returns how many rows were published.
pub async fn relay_once(
    pool: &PgPool,
    producer: &FutureProducer,
    settings: &KafkaSettings,
    opts: &RelayOptions,
    unmarked: &mut Vec<Uuid>,
) -> anyhow::Result<usize> {
    let mut c = pool.acquire().await?;
    let pending = claim(&mut c, opts.batch_size, unmarked).await?;
    if pending.is_empty() {
        return Ok(0);
    }
    let (ok, err) = publish(producer, settings, &pending, opts.publish_timeout).await;
    unmarked.extend_from_slice(&ok);
    if let Some(e) = &err {
        let failed: Vec<Uuid> = pending
            .iter()
            .map(|p| p.event.id)
            .filter(|id| !ok.contains(id))
            .collect();
        mark_failed(&mut c, &failed, &format!("{e:#}")).await?;
    }
    match err {
        Some(e) => Err(e.context(format!(
            "{} of {} events published",
            ok.len(),
            pending.len()
        ))),
        None => Ok(ok.len()),
    }
}

/// Marks `unmarked` published in one statement and empties it; on failure they stay for the
/// next try (and are not published again meanwhile).
async fn flush(pool: &PgPool, unmarked: &mut Vec<Uuid>) {
    if unmarked.is_empty() {
        return;
    }
    let result = async {
        let mut c = pool.acquire().await?;
        mark_published(&mut c, unmarked).await
    }
    .await;
    match result {
        Ok(()) => unmarked.clear(),
        Err(e) => {
            tracing::warn!(error = %e, events = unmarked.len(), "outbox relay: cannot mark published events; retrying")
        }
    }
}

/// The relay of one database. Only one relay per database publishes at a time (advisory lock),
/// so events keep their order; others wait as hot standbys.
pub struct Relay {
    pool: PgPool,
    producer: FutureProducer,
    settings: KafkaSettings,
    opts: RelayOptions,
}

impl Relay {
    pub fn new(pool: PgPool, settings: &KafkaSettings, opts: RelayOptions) -> anyhow::Result<Self> {
        Ok(Self {
            pool,
            producer: crate::kafka::producer(settings)?,
            settings: settings.clone(),
            opts,
        })
    }

    /// Runs until shutdown. Broker outages are retried with backoff (events wait in the table);
    /// a lost database connection is retried too.
    pub async fn run(self, shutdown: Shutdown) -> anyhow::Result<()> {
        // Leadership: a session-level advisory lock on a dedicated connection. Connections are
        // waited for as long as it takes: a role that restarts into a backlog has every pooled
        // connection busy with it for a while, and that must not stop the role.
        let Some(conn) = patiently(&shutdown, "a connection for the relay lock", || {
            self.pool.acquire()
        })
        .await
        else {
            return Ok(());
        };
        let mut lock_conn = conn.detach();
        loop {
            let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(RELAY_LOCK)
                .fetch_one(&mut lock_conn)
                .await
                .context("outbox relay: taking the relay lock")?;
            if got {
                break;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(self.opts.poll_interval) => {}
            }
        }
        let Some(mut listener) = patiently(&shutdown, "the LISTEN connection", || {
            PgListener::connect_with(&self.pool)
        })
        .await
        else {
            return Ok(());
        };
        listener.listen(CHANNEL).await?;
        tracing::info!("outbox relay started");

        let mut backoff = Duration::from_millis(100);
        // Published, not marked yet: marked together every `MARK_EVERY` (or `MARK_MAX` ids),
        // one write transaction instead of one per batch. A relay that dies before marking
        // republishes them; the consumers' inbox drops the repeats, as after any crash.
        let mut unmarked: Vec<Uuid> = Vec::new();
        let mut oldest = tokio::time::Instant::now();
        loop {
            if shutdown.is_triggered() {
                break;
            }
            if !unmarked.is_empty()
                && (unmarked.len() >= MARK_MAX || oldest.elapsed() >= MARK_EVERY)
            {
                flush(&self.pool, &mut unmarked).await;
            }
            let before = unmarked.len();
            let result = relay_once(
                &self.pool,
                &self.producer,
                &self.settings,
                &self.opts,
                &mut unmarked,
            )
            .await;
            if before == 0 && !unmarked.is_empty() {
                oldest = tokio::time::Instant::now();
            }
            match result {
                Ok(n) if n > 0 => {
                    backoff = Duration::from_millis(100);
                    continue; // more may be waiting
                }
                Ok(_) => {
                    backoff = Duration::from_millis(100);
                    let mark_at = match unmarked.is_empty() {
                        true => None,
                        false => Some(oldest + MARK_EVERY),
                    };
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        n = listener.try_recv() => {
                            if let Err(e) = n {
                                tracing::warn!(error = %e, "outbox relay: LISTEN connection lost; polling until it is back");
                            }
                        }
                        _ = async {
                            match mark_at {
                                Some(at) => tokio::time::sleep_until(at).await,
                                None => std::future::pending().await,
                            }
                        } => {}
                        _ = tokio::time::sleep(self.opts.poll_interval) => {}
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, error.chain = %crate::telemetry::chain(e.as_ref()), retry_in = ?backoff, "outbox relay: batch failed; will retry");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
        flush(&self.pool, &mut unmarked).await;
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(RELAY_LOCK)
            .execute(&mut lock_conn)
            .await;
        tracing::info!("outbox relay stopped");
        Ok(())
    }
}

/// `connect()` retried with backoff (100 ms doubling to 5 s) until it succeeds; `None` when
/// shutdown comes first.
async fn patiently<T, F, Fut>(shutdown: &Shutdown, what: &str, mut connect: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let mut backoff = Duration::from_millis(100);
    loop {
        match connect().await {
            Ok(v) => return Some(v),
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "outbox relay: waiting for {what}");
                tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
