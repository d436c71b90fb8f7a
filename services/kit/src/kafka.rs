//! Kafka: a producer for the outbox relay, a supervised consumer loop with at-least-once
//! delivery (offsets are stored only after the handler succeeded), topic creation, a probe for
//! `/readyz`, and W3C `traceparent` in message headers.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{BorrowedMessage, Headers, OwnedHeaders};
use rdkafka::producer::FutureProducer;

use crate::config::KafkaSettings;
use crate::events::CloudEvent;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;

fn base_config(settings: &KafkaSettings) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &settings.brokers)
        .set("client.id", "storefront")
        .set("socket.keepalive.enable", "true");
    c
}

/// An acks=all producer that keeps order per partition: what the outbox relay publishes with.
/// Idempotent when `kafka.idempotent_producer` is set; otherwise one request in flight per
/// connection, so a retried batch cannot overtake the next one (duplicates are possible and the
/// consumers' inbox drops them).
pub fn producer(settings: &KafkaSettings) -> anyhow::Result<FutureProducer> {
    let mut c = base_config(settings);
    c.set(
        "message.timeout.ms",
        settings.message_timeout_ms.to_string(),
    )
    .set("acks", "all")
    .set("linger.ms", "5");
    if settings.idempotent_producer {
        c.set("enable.idempotence", "true");
    } else {
        c.set("enable.idempotence", "false")
            .set("max.in.flight.requests.per.connection", "1");
    }
    c.create()
        .context("creating Kafka producer (STOREFRONT_KAFKA__BROKERS)")
}

/// Headers of a published event: its `traceparent`, type and id (CloudEvents binding names).
pub fn event_headers(event: &CloudEvent) -> OwnedHeaders {
    let mut h = OwnedHeaders::new()
        .insert(rdkafka::message::Header {
            key: "ce_id",
            value: Some(event.id.to_string().as_bytes()),
        })
        .insert(rdkafka::message::Header {
            key: "ce_type",
            value: Some(event.event_type.as_bytes()),
        })
        .insert(rdkafka::message::Header {
            key: "content-type",
            value: Some("application/cloudevents+json".as_bytes()),
        });
    if let Some(tp) = &event.traceparent {
        h = h.insert(rdkafka::message::Header {
            key: "traceparent",
            value: Some(tp.as_bytes()),
        });
    }
    h
}

fn header<'a>(msg: &'a BorrowedMessage<'_>, name: &str) -> Option<&'a str> {
    let headers = msg.headers()?;
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())
}

/// Checks the brokers answer a metadata request.
pub async fn probe(settings: &KafkaSettings) -> anyhow::Result<()> {
    let cfg = base_config(settings);
    tokio::task::spawn_blocking(move || {
        let c: BaseConsumer = cfg.create()?;
        c.fetch_metadata(None, Duration::from_secs(2))?;
        Ok::<_, anyhow::Error>(())
    })
    .await?
    .context("Kafka brokers do not answer")
}

/// Creates topics that do not exist yet (existing ones are adopted as they are).
pub async fn ensure_topics(
    settings: &KafkaSettings,
    names: &[String],
    partitions: i32,
) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = base_config(settings)
        .create()
        .context("creating Kafka admin client")?;
    let topics: Vec<NewTopic<'_>> = names
        .iter()
        .map(|n| NewTopic::new(n, partitions, TopicReplication::Fixed(1)))
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics(&topics, &opts)
        .await
        .context("creating Kafka topics")?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => anyhow::bail!("creating topic {name}: {code}"),
        }
    }
    Ok(())
}

/// [`ensure_topics`], tried again with backoff (1 s doubling to 8 s) until it succeeds or
/// `patience` has passed: a role started while the broker restarts, or is too busy to answer in
/// time, waits for it instead of exiting (the soak saw a role restarted under full load fail its
/// start-up on one admin-request timeout).
pub async fn ensure_topics_patiently(
    settings: &KafkaSettings,
    names: &[String],
    partitions: i32,
    patience: Duration,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut delay = Duration::from_secs(1);
    loop {
        match ensure_topics(settings, names, partitions).await {
            Ok(()) => return Ok(()),
            Err(e) if tokio::time::Instant::now() + delay < deadline => {
                tracing::warn!(error = %e, error.chain = %crate::telemetry::chain(e.as_ref()), retry_in = ?delay, "cannot create the Kafka topics yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(8));
            }
            Err(e) => return Err(e),
        }
    }
}

/// One consumed event with where it came from.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub event: CloudEvent,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
}

/// What a handler did with an event (for metrics and logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// Already applied before (found in the inbox).
    Duplicate,
    /// Not an event this consumer acts on.
    Ignored,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Ignored => "ignored",
        }
    }
}

/// Settings of one consumer loop.
#[derive(Clone, Debug)]
pub struct ConsumerOptions {
    pub group: String,
    pub topics: Vec<String>,
    /// First retry delay after a handler error; doubles up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// How often an idle consumer checks that the group is making progress (see
    /// [`run_consumer`]); two checks in a row without progress make it rejoin.
    pub stall_check: Duration,
    /// `fetch.wait.max.ms` for this consumer; `None`: `kafka.fetch_wait_ms`.
    pub fetch_wait_ms: Option<u64>,
}

impl ConsumerOptions {
    pub fn new(group: impl Into<String>, topics: Vec<String>) -> Self {
        Self {
            group: group.into(),
            topics,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            stall_check: Duration::from_secs(10),
            fetch_wait_ms: None,
        }
    }
}

/// Where the group stands on one partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PartitionProgress {
    /// The group's committed offset (the partition's first offset when nothing is committed).
    committed: i64,
    /// The high watermark: the offset the next produced message gets.
    high: i64,
}

type GroupProgress = BTreeMap<(String, i32), PartitionProgress>;

/// The partitions that had events waiting at both checks while the group committed nothing
/// on them in between: nobody consumes them. (An event handled just before the first check
/// whose offset was not committed yet is not a stall: it was not waiting then.)
fn stalled(before: &GroupProgress, now: &GroupProgress) -> Vec<(String, i32)> {
    now.iter()
        .filter(|(tp, p)| {
            p.committed < p.high
                && before
                    .get(*tp)
                    .is_some_and(|b| b.committed == p.committed && b.committed < b.high)
        })
        .map(|(tp, _)| tp.clone())
        .collect()
}

/// Reads the group's committed offset and the high watermark of every partition of `topics`
/// (blocking calls to the broker).
fn group_progress(
    consumer: &StreamConsumer,
    topics: &[String],
) -> rdkafka::error::KafkaResult<GroupProgress> {
    let timeout = Duration::from_secs(5);
    let mut tpl = TopicPartitionList::new();
    for topic in topics {
        let md = consumer.fetch_metadata(Some(topic), timeout)?;
        for t in md.topics() {
            for p in t.partitions() {
                tpl.add_partition(t.name(), p.id());
            }
        }
    }
    let committed = consumer.committed_offsets(tpl, timeout)?;
    let mut out = GroupProgress::new();
    for e in committed.elements() {
        let (low, high) = consumer.fetch_watermarks(e.topic(), e.partition(), timeout)?;
        let committed = match e.offset() {
            Offset::Offset(o) => o,
            _ => low,
        };
        out.insert(
            (e.topic().to_owned(), e.partition()),
            PartitionProgress { committed, high },
        );
    }
    Ok(out)
}

fn subscribed_consumer(
    settings: &KafkaSettings,
    opts: &ConsumerOptions,
) -> anyhow::Result<Arc<StreamConsumer>> {
    // Groups take the topic prefix too: storefronts that share a broker under different
    // prefixes must not share group membership (a rebalance in one would stall the other).
    let group_id = format!("{}{}", settings.topic_prefix, opts.group);
    let consumer: StreamConsumer = base_config(settings)
        .set("group.id", &group_id)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        // A group that formed while the broker had no metadata for the topics (it was just
        // restarted) gets no partitions; a metadata refresh that sees them triggers the
        // rebalance that assigns them. librdkafka's default waits 5 minutes for that.
        .set("topic.metadata.refresh.interval.ms", "5000")
        // How long the broker may hold a fetch: what each hop costs (KafkaSettings).
        .set(
            "fetch.wait.max.ms",
            opts.fetch_wait_ms
                .unwrap_or(settings.fetch_wait_ms)
                .to_string(),
        )
        .create()
        .context("creating Kafka consumer")?;
    let topics: Vec<&str> = opts.topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .with_context(|| format!("subscribing to {topics:?}"))?;
    Ok(Arc::new(consumer))
}

/// Marks `msg` consumed. Failing is not fatal: it happens when a rebalance took the partition
/// away meanwhile, and then its new owner gets the event again (the inbox drops the repeat).
fn store_offset(consumer: &StreamConsumer, msg: &BorrowedMessage<'_>, group: &str) {
    if let Err(e) = consumer.store_offset_from_message(msg) {
        tracing::warn!(
            group, topic = msg.topic(), partition = msg.partition(), offset = msg.offset(),
            error = %e, "could not store the consumed offset; the event will be redelivered"
        );
    }
}

/// Consumes until shutdown. Each event is handed to `handler`; its offset is stored only after
/// the handler succeeded, so a crash redelivers (at least once) and the handler's inbox makes the
/// effect happen once. A failing handler is retried with backoff on the same event (never
/// skipped); a message that is not a CloudEvent is logged and skipped.
///
/// Group watchdog: a broker's group coordinator can leave a group formed with no partition
/// assigned to anyone (seen with tansu after a member was killed with SIGKILL, or after the
/// broker restarted), and librdkafka then waits forever. So every `stall_check` while idle the
/// consumer compares the group's committed offsets with the partitions' high watermarks; when
/// events wait on a partition and nothing was committed on it over a whole interval, it leaves
/// the group and joins again, which makes the coordinator assign the partitions afresh.
pub async fn run_consumer<H, Fut>(
    settings: &KafkaSettings,
    opts: ConsumerOptions,
    metrics: Option<Metrics>,
    shutdown: Shutdown,
    handler: H,
) -> anyhow::Result<()>
where
    H: Fn(Delivery) -> Fut + Send + Sync,
    Fut: Future<Output = anyhow::Result<Outcome>> + Send,
{
    let mut consumer = subscribed_consumer(settings, &opts)?;
    tracing::info!(group = %opts.group, topics = ?opts.topics, "consumer started");
    let mut watch = tokio::time::interval_at(
        tokio::time::Instant::now() + opts.stall_check,
        opts.stall_check,
    );
    watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_progress: Option<GroupProgress> = None;

    loop {
        let msg = tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = watch.tick() => {
                let c = consumer.clone();
                let topics = opts.topics.clone();
                let progress = tokio::task::spawn_blocking(move || group_progress(&c, &topics))
                    .await
                    .context("group progress check")?;
                match progress {
                    Ok(now) => {
                        let stuck = last_progress.as_ref().map(|before| stalled(before, &now)).unwrap_or_default();
                        if !stuck.is_empty() {
                            tracing::warn!(
                                group = %opts.group, partitions = ?stuck,
                                "events wait and the group committed nothing for {:?}; rejoining the group",
                                opts.stall_check
                            );
                            // Leave first (closing commits what was stored; it blocks), then
                            // join as a new member: the group never holds both at once.
                            let old = consumer;
                            let _ = tokio::task::spawn_blocking(move || drop(old)).await;
                            consumer = subscribed_consumer(settings, &opts)?;
                            last_progress = None;
                        } else {
                            last_progress = Some(now);
                        }
                    }
                    Err(e) => {
                        tracing::debug!(group = %opts.group, error = %e, "group progress check failed");
                        last_progress = None;
                    }
                }
                continue;
            }
            m = consumer.recv() => m,
        };
        let msg = match msg {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(group = %opts.group, error = %e, "Kafka receive error; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(opts.backoff) => continue,
                }
            }
        };
        let payload = msg.payload().unwrap_or_default();
        let event: CloudEvent = match serde_json::from_slice(payload) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(
                    group = %opts.group, topic = msg.topic(), partition = msg.partition(),
                    offset = msg.offset(), error = %e,
                    "message is not a CloudEvents JSON envelope; skipping it"
                );
                if let Some(m) = &metrics {
                    m.observe_event(&opts.group, "invalid", "invalid", 0.0);
                }
                store_offset(&consumer, &msg, &opts.group);
                continue;
            }
        };
        let span = tracing::info_span!(
            "consume",
            group = %opts.group,
            topic = msg.topic(),
            event_type = %event.event_type,
            event_id = %event.id,
        );
        let tp = header(&msg, "traceparent").or(event.traceparent.as_deref());
        crate::telemetry::set_parent_from_traceparent(&span, tp);
        let delivery = Delivery {
            topic: msg.topic().to_owned(),
            partition: msg.partition(),
            offset: msg.offset(),
            key: msg
                .key()
                .and_then(|k| std::str::from_utf8(k).ok())
                .map(str::to_owned),
            event,
        };
        let mut delay = opts.backoff;
        loop {
            let start = Instant::now();
            let result = {
                use tracing::Instrument;
                handler(delivery.clone()).instrument(span.clone()).await
            };
            match result {
                Ok(outcome) => {
                    if let Some(m) = &metrics {
                        m.observe_event(
                            &opts.group,
                            &delivery.event.event_type,
                            outcome.as_str(),
                            start.elapsed().as_secs_f64(),
                        );
                    }
                    break;
                }
                Err(e) => {
                    if let Some(m) = &metrics {
                        m.observe_event(
                            &opts.group,
                            &delivery.event.event_type,
                            "error",
                            start.elapsed().as_secs_f64(),
                        );
                    }
                    tracing::warn!(
                        parent: &span, error = %e, error.chain = %crate::telemetry::chain(e.as_ref()), retry_in = ?delay,
                        "event handler failed; retrying"
                    );
                    tokio::select! {
                        _ = shutdown.cancelled() => {
                            // Not stored: the event is redelivered after restart.
                            let _ = consumer.commit_consumer_state(CommitMode::Sync);
                            return Ok(());
                        }
                        _ = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(opts.max_backoff);
                }
            }
        }
        store_offset(&consumer, &msg, &opts.group);
    }
    if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
        // Nothing to commit is not a problem.
        tracing::debug!(group = %opts.group, error = %e, "final offset commit");
    }
    tracing::info!(group = %opts.group, "consumer stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(parts: &[(i32, i64, i64)]) -> GroupProgress {
        parts
            .iter()
            .map(|&(p, committed, high)| {
                (("t".to_owned(), p), PartitionProgress { committed, high })
            })
            .collect()
    }

    #[test]
    fn a_group_is_stalled_only_when_waiting_events_see_no_commit() {
        // Events wait on partition 1 and its commit did not move: stalled.
        assert_eq!(
            stalled(
                &progress(&[(0, 5, 5), (1, 3, 9)]),
                &progress(&[(0, 5, 5), (1, 3, 9)])
            ),
            vec![("t".to_owned(), 1)]
        );
        // The commit moved: someone consumes it.
        assert!(
            stalled(
                &progress(&[(0, 5, 5), (1, 3, 9)]),
                &progress(&[(0, 5, 5), (1, 4, 9)])
            )
            .is_empty()
        );
        // Nothing waits anywhere: an idle group is not a stalled one.
        assert!(stalled(&progress(&[(0, 5, 5)]), &progress(&[(0, 5, 5)])).is_empty());
        // A partition not seen in the previous check cannot be judged yet.
        assert!(stalled(&progress(&[(0, 5, 5)]), &progress(&[(1, 0, 3)])).is_empty());
        // Nothing waited at the first check: an event that arrived since (or was handled and
        // is not committed yet) is not a stall.
        assert!(stalled(&progress(&[(0, 5, 5)]), &progress(&[(0, 5, 6)])).is_empty());
    }
}
