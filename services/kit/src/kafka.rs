//! Kafka: a producer for the outbox relay, a supervised consumer loop with at-least-once
//! delivery (offsets are stored only after the handler succeeded), topic creation, a probe for
//! `/readyz`, and W3C `traceparent` in message headers.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::Message;
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
}

impl ConsumerOptions {
    pub fn new(group: impl Into<String>, topics: Vec<String>) -> Self {
        Self {
            group: group.into(),
            topics,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
        }
    }
}

/// Consumes until shutdown. Each event is handed to `handler`; its offset is stored only after
/// the handler succeeded, so a crash redelivers (at least once) and the handler's inbox makes the
/// effect happen once. A failing handler is retried with backoff on the same event (never
/// skipped); a message that is not a CloudEvent is logged and skipped.
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
    let consumer: StreamConsumer = base_config(settings)
        .set("group.id", &opts.group)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        // A group that formed while the broker had no metadata for the topics (it was just
        // restarted) gets no partitions; a metadata refresh that sees them triggers the
        // rebalance that assigns them. librdkafka's default waits 5 minutes for that.
        .set("topic.metadata.refresh.interval.ms", "5000")
        .create()
        .context("creating Kafka consumer")?;
    let topics: Vec<&str> = opts.topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .with_context(|| format!("subscribing to {topics:?}"))?;
    tracing::info!(group = %opts.group, topics = ?opts.topics, "consumer started");

    loop {
        let msg = tokio::select! {
            _ = shutdown.cancelled() => break,
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
                consumer.store_offset_from_message(&msg)?;
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
                        parent: &span, error = %e, error.chain = ?e, retry_in = ?delay,
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
        consumer.store_offset_from_message(&msg)?;
    }
    if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
        // Nothing to commit is not a problem.
        tracing::debug!(group = %opts.group, error = %e, "final offset commit");
    }
    tracing::info!(group = %opts.group, "consumer stopped");
    Ok(())
}
