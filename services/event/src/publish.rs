//! Publishing tracking events straight to Kafka with a producer tuned for throughput (linger,
//! compression, large batches) behind a bounded in-flight budget: a request either gets permits
//! for all of its messages at once or is answered 429, so a slow broker never grows memory. A
//! latency target bounds the wait too: while recent batches took longer than
//! `event.max_publish_latency_ms` to be acknowledged (an exponentially weighted average) and
//! messages are still waiting, new batches are refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
    /// Average acknowledgement latency of recent batches, microseconds.
    latency_us: Arc<AtomicU64>,
    max_latency: Duration,
}

/// Weight of the newest batch in the latency average.
const LATENCY_WEIGHT: f64 = 0.2;

/// The latency average after a batch took `sample`.
fn next_average(average_us: u64, sample: Duration) -> u64 {
    let sample = sample.as_micros().min(u128::from(u64::MAX)) as f64;
    (average_us as f64 * (1.0 - LATENCY_WEIGHT) + sample * LATENCY_WEIGHT) as u64
}

/// Whether a new batch may go to the broker: always when nothing waits (the average is then
/// history, and an idle broker is fast), otherwise only while batches meet the latency target.
fn admits(in_flight: u32, average_us: u64, max_latency: Duration) -> bool {
    in_flight == 0 || u128::from(average_us) <= max_latency.as_micros()
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
            latency_us: Arc::new(AtomicU64::new(0)),
            max_latency: Duration::from_millis(s.max_publish_latency_ms),
        })
    }

    /// Takes `n` permits at once, or none: refused when the budget cannot hold them or when
    /// batches are waiting longer than the latency target.
    pub fn reserve(&self, n: u32) -> Result<OwnedSemaphorePermit, PublishError> {
        if n > self.capacity
            || !admits(
                self.in_flight(),
                self.latency_us.load(Ordering::Relaxed),
                self.max_latency,
            )
        {
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
        let start = Instant::now();
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
        // Concurrent batches race on the average; a lost update only weakens one sample.
        let average = self.latency_us.load(Ordering::Relaxed);
        self.latency_us
            .store(next_average(average, start.elapsed()), Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_refused_only_while_waiting_ones_miss_the_latency_target() {
        let target = Duration::from_millis(2_000);
        // Nothing waits: admitted whatever the history says.
        assert!(admits(0, 9_000_000, target));
        // Batches wait and recent ones met the target: admitted.
        assert!(admits(500, 1_500_000, target));
        // Batches wait and recent ones took 3 s on average: refused.
        assert!(!admits(500, 3_000_000, target));
    }

    #[test]
    fn the_average_follows_recent_batches() {
        let mut avg = 0;
        for _ in 0..30 {
            avg = next_average(avg, Duration::from_secs(3));
        }
        assert!((2_900_000..=3_000_000).contains(&avg), "{avg}");
        for _ in 0..30 {
            avg = next_average(avg, Duration::from_millis(100));
        }
        assert!((100_000..=200_000).contains(&avg), "{avg}");
    }
}
