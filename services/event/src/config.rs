//! The event role's settings: `STOREFRONT_EVENT__*` on top of the shared ones.

use std::net::SocketAddr;

use kit::config::{Common, ConfigError, Validate};
use serde::{Deserialize, Serialize};

/// Everything the event role reads at start.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub common: Common,
    pub event: EventSettings,
}

impl Config {
    /// Defaults, overridden by `STOREFRONT_*` (shared) and `STOREFRONT_EVENT__*` variables,
    /// validated; errors name the variable.
    pub fn load() -> Result<Self, ConfigError> {
        let (common, event) = kit::config::load_role::<EventSettings>("event")?;
        let cfg = Self { common, event };
        cfg.validate()?;
        Ok(cfg)
    }

    /// The database: `event.database` when set, else `<prefix>event_db`.
    pub fn database_name(&self) -> String {
        match &self.event.database {
            Some(d) if !d.is_empty() => d.clone(),
            _ => kit::db::database_name(&self.common.postgres, crate::ROLE),
        }
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.common.validate()?;
        self.event.validate()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct EventSettings {
    /// Where `POST /api/v1/events` and `/healthz`, `/readyz`, `/metrics` are served.
    pub listen: SocketAddr,
    /// Database name override (tests use one each); default `<prefix>event_db`.
    pub database: Option<String>,
    /// Most events one request may carry.
    pub max_batch: usize,
    /// Largest request body, bytes.
    pub body_limit_bytes: usize,
    /// Kafka messages that may wait for the broker at once (each event is two: `user-events`
    /// and its own topic). Beyond it requests are answered 429 instead of queueing in memory.
    pub max_in_flight: u32,
    /// Target for how long a batch waits for the broker's acknowledgement, milliseconds. While
    /// recent batches took longer than this on average and messages are still waiting, new
    /// batches are answered 429: a broker slower than the clients then costs clients a retry,
    /// not a request that outlives the gateway's upstream timeout.
    pub max_publish_latency_ms: u64,
    /// `Retry-After` of a 429, seconds.
    pub retry_after_secs: u64,
    /// Producer: how long a message waits to fill a batch, milliseconds.
    pub linger_ms: u32,
    /// Producer: `none`, `gzip`, `snappy`, `lz4` or `zstd`.
    pub compression: String,
    /// Producer: largest batch per partition, bytes.
    pub batch_bytes: u32,
    /// Producer: `all` (wait for every in-sync replica) or `1` (the leader only).
    pub acks: String,
    /// Kafka consumer group of the `order-events` consumer (purchases).
    pub consumer_group: String,
    /// Polling fallback of the outbox relay (purchase events), milliseconds.
    pub relay_poll_interval_ms: u64,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3009)),
            database: None,
            max_batch: 500,
            body_limit_bytes: 1024 * 1024,
            max_in_flight: 10_000,
            max_publish_latency_ms: 2_000,
            retry_after_secs: 1,
            linger_ms: 10,
            compression: "lz4".into(),
            batch_bytes: 1024 * 1024,
            acks: "all".into(),
            consumer_group: "event".into(),
            relay_poll_interval_ms: 1_000,
        }
    }
}

impl Validate for EventSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid =
            |key: &str, msg: &str| Err(ConfigError::invalid(&format!("event.{key}"), msg));
        if !(1..=10_000).contains(&self.max_batch) {
            return invalid("max_batch", "must be between 1 and 10000");
        }
        if self.body_limit_bytes < 1024 {
            return invalid("body_limit_bytes", "must be at least 1024");
        }
        if self.max_in_flight < 2 {
            return invalid(
                "max_in_flight",
                "must be at least 2 (one event is two messages)",
            );
        }
        if !(10..=60_000).contains(&self.max_publish_latency_ms) {
            return invalid("max_publish_latency_ms", "must be between 10 and 60000");
        }
        if self.retry_after_secs == 0 {
            return invalid("retry_after_secs", "must be at least 1");
        }
        if self.linger_ms > 5_000 {
            return invalid("linger_ms", "must be at most 5000");
        }
        if !["none", "gzip", "snappy", "lz4", "zstd"].contains(&self.compression.as_str()) {
            return invalid(
                "compression",
                "must be one of none, gzip, snappy, lz4, zstd",
            );
        }
        if !(1024..=100_000_000).contains(&self.batch_bytes) {
            return invalid("batch_bytes", "must be between 1024 and 100000000");
        }
        if !["all", "1", "-1"].contains(&self.acks.as_str()) {
            return invalid("acks", "must be `all` or `1`");
        }
        if self.consumer_group.trim().is_empty() {
            return invalid("consumer_group", "must not be empty");
        }
        if self.relay_poll_interval_ms == 0 {
            return invalid("relay_poll_interval_ms", "must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_name_the_setting() {
        EventSettings::default().validate().unwrap();
        let s = EventSettings {
            compression: "brotli".into(),
            ..EventSettings::default()
        };
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("STOREFRONT_EVENT__COMPRESSION"), "{e}");
        let s = EventSettings {
            max_in_flight: 1,
            ..EventSettings::default()
        };
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("STOREFRONT_EVENT__MAX_IN_FLIGHT"), "{e}");
        let s = EventSettings {
            max_publish_latency_ms: 0,
            ..EventSettings::default()
        };
        let e = s.validate().unwrap_err().to_string();
        assert!(
            e.contains("STOREFRONT_EVENT__MAX_PUBLISH_LATENCY_MS"),
            "{e}"
        );
    }
}
