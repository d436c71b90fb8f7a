//! The inventory role's settings: `STOREFRONT_INVENTORY__*` on top of the shared ones.

use std::net::SocketAddr;

use kit::config::{Common, ConfigError, Validate};
use serde::{Deserialize, Serialize};

/// Everything the inventory role reads at start.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub common: Common,
    pub inventory: InventorySettings,
}

impl Config {
    /// Defaults, overridden by `STOREFRONT_*` (shared) and `STOREFRONT_INVENTORY__*` variables,
    /// validated; errors name the variable.
    pub fn load() -> Result<Self, ConfigError> {
        let (common, inventory) = kit::config::load_role::<InventorySettings>("inventory")?;
        let cfg = Self { common, inventory };
        cfg.validate()?;
        Ok(cfg)
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.common.validate()?;
        self.inventory.validate()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct InventorySettings {
    /// Where gRPC and `/healthz`, `/readyz`, `/metrics` are served (one port).
    pub listen: SocketAddr,
    /// TTL of a reservation whose request says 0.
    pub default_ttl_secs: u32,
    /// Shortest TTL a request may ask for.
    pub min_ttl_secs: u32,
    /// Longest TTL a request may ask for.
    pub max_ttl_secs: u32,
    /// Most lines one reservation may hold.
    pub max_lines: usize,
    /// Most units of one SKU one reservation line may hold.
    pub max_line_quantity: i64,
    /// How often the sweeper looks for expired reservations.
    pub sweeper_interval_ms: u64,
    /// Most reservations the sweeper expires in one transaction.
    pub sweeper_batch_size: i64,
    /// Kafka consumer group of the `order-events` consumer.
    pub consumer_group: String,
    /// Polling fallback of the outbox relay (it is also woken by NOTIFY).
    pub relay_poll_interval_ms: u64,
}

impl Default for InventorySettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3004)),
            default_ttl_secs: 900,
            min_ttl_secs: 60,
            max_ttl_secs: 3600,
            max_lines: 100,
            max_line_quantity: 10_000,
            sweeper_interval_ms: 5_000,
            sweeper_batch_size: 100,
            consumer_group: "inventory".into(),
            relay_poll_interval_ms: 1_000,
        }
    }
}

impl Validate for InventorySettings {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid =
            |key: &str, msg: &str| Err(ConfigError::invalid(&format!("inventory.{key}"), msg));
        if self.min_ttl_secs == 0 {
            return invalid("min_ttl_secs", "must be at least 1");
        }
        if self.max_ttl_secs < self.min_ttl_secs {
            return invalid("max_ttl_secs", "must not be below inventory.min_ttl_secs");
        }
        if !(self.min_ttl_secs..=self.max_ttl_secs).contains(&self.default_ttl_secs) {
            return invalid(
                "default_ttl_secs",
                "must lie between inventory.min_ttl_secs and inventory.max_ttl_secs",
            );
        }
        if self.max_lines == 0 || self.max_lines > 1000 {
            return invalid("max_lines", "must be between 1 and 1000");
        }
        if self.max_line_quantity < 1 {
            return invalid("max_line_quantity", "must be at least 1");
        }
        if self.sweeper_interval_ms == 0 {
            return invalid("sweeper_interval_ms", "must be at least 1");
        }
        if !(1..=10_000).contains(&self.sweeper_batch_size) {
            return invalid("sweeper_batch_size", "must be between 1 and 10000");
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
        InventorySettings::default().validate().unwrap();
        let s = InventorySettings {
            default_ttl_secs: 5,
            ..InventorySettings::default()
        };
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("STOREFRONT_INVENTORY__DEFAULT_TTL_SECS"), "{e}");
        let s = InventorySettings {
            max_ttl_secs: 10,
            ..InventorySettings::default()
        };
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("STOREFRONT_INVENTORY__MAX_TTL_SECS"), "{e}");
    }
}
