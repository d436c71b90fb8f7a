//! Publishing tracking events straight to Kafka with a producer tuned for throughput (linger,
//! compression, large batches) behind a bounded in-flight budget: a request either gets permits
//! for all of its messages at once or is answered 429, so a slow broker never grows memory.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use kit::config::KafkaSettings;
use kit::events::CloudEvent;

use crate::config::EventSettings;

/// One message to publish: topic (already prefixed), key and envelope.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub topic: String,
    pub key: String,
    pub event: CloudEvent,
}

/// Why a publish did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The in-flight budget (or the producer queue) is full: the broker is slower than clients.
    #[error("the event pipeline is saturated")]
    Saturated,
    #[error("publishing failed: {0}")]
    Broker(String),
}

/// The producer and its in-flight budget. Cheap to clone.
#[derive(Clone)]
pub struct Publisher {
    producer: FutureProducer,
    budget: Arc<Semaphore>,
    capacity: u32,
    timeout: Duration,
}

impl Publisher {
    pub fn new(kafka: &KafkaSettings, s: &EventSettings) -> anyhow::Result<Self> {
        // librdkafka's own queue is a little larger than the budget, so it is the budget that
        // refuses work; the byte bound catches unusually large events.
        let queue_messages = (u64::from(s.max_in_flight) + 1_000).min(10_000_000);
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &kafka.brokers)
            .set("client.id", "storefront-event")
            .set("socket.keepalive.enable", "true")
            .set("message.timeout.ms", kafka.message_timeout_ms.to_string())
            .set("acks", &s.acks)
            .set(
                "enable.idempotence",
                if kafka.idempotent_producer && s.acks != "1" {
                    "true"
                } else {
                    "false"
                },
            )
            .set("linger.ms", s.linger_ms.to_string())
            .set("compression.type", &s.compression)
            .set("batch.size", s.batch_bytes.to_string())
            .set("batch.num.messages", "10000")
            .set("queue.buffering.max.messages", queue_messages.to_string())
            .set("queue.buffering.max.kbytes", "131072")
            .create()
            .context(
                "creating the Kafka producer of tracking events (STOREFRONT_KAFKA__BROKERS)",
            )?;
        Ok(Self {
            producer,
            budget: Arc::new(Semaphore::new(s.max_in_flight as usize)),
            capacity: s.max_in_flight,
            timeout: Duration::from_millis(kafka.message_timeout_ms + 1_000),
        })
    }

    /// Takes `n` permits at once, or none.
    pub fn reserve(&self, n: u32) -> Result<OwnedSemaphorePermit, PublishError> {
        if n > self.capacity {
            return Err(PublishError::Saturated);
        }
        self.budget
            .clone()
            .try_acquire_many_owned(n)
            .map_err(|_| PublishError::Saturated)
    }

    /// Messages currently waiting for the broker.
    pub fn in_flight(&self) -> u32 {
        self.capacity
            .saturating_sub(self.budget.available_permits() as u32)
    }

    /// Enqueues every message, then waits until the broker acknowledged all of them.
    pub async fn publish(&self, messages: &[Outgoing]) -> Result<(), PublishError> {
        let mut pending = Vec::with_capacity(messages.len());
        for m in messages {
            let payload = serde_json::to_vec(&m.event)
                .map_err(|e| PublishError::Broker(format!("serialising an event: {e}")))?;
            let record = FutureRecord::to(&m.topic)
                .key(&m.key)
                .payload(&payload)
                .headers(kit::kafka::event_headers(&m.event));
            match self.producer.send_result(record) {
                Ok(f) => pending.push(f),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    return Err(PublishError::Saturated);
                }
                Err((e, _)) => return Err(PublishError::Broker(e.to_string())),
            }
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        for f in pending {
            match tokio::time::timeout_at(deadline, f).await {
                Ok(Ok(Ok(_))) => {}
                Ok(Ok(Err((e, _)))) => return Err(PublishError::Broker(e.to_string())),
                Ok(Err(_)) => return Err(PublishError::Broker("producer dropped".into())),
                Err(_) => {
                    return Err(PublishError::Broker(
                        "no acknowledgement from the broker in time".into(),
                    ));
                }
            }
        }
        Ok(())
    }
}
