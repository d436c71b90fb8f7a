//! The order role's settings: `STOREFRONT_ORDER__*` on top of the shared ones.

use std::net::SocketAddr;

use kit::config::{Common, ConfigError, Validate, check_url};
use serde::{Deserialize, Serialize};

/// Everything the order role reads at start.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub common: Common,
    pub order: OrderSettings,
}

impl Config {
    /// Defaults, overridden by `STOREFRONT_*` (shared) and `STOREFRONT_ORDER__*` variables,
    /// validated; errors name the variable.
    pub fn load() -> Result<Self, ConfigError> {
        let (common, order) = kit::config::load_role::<OrderSettings>("order")?;
        let cfg = Self { common, order };
        cfg.validate()?;
        Ok(cfg)
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.common.validate()?;
        self.order.validate()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct OrderSettings {
    /// Where the REST API and `/healthz`, `/readyz`, `/metrics` are served (one port).
    pub listen: SocketAddr,
    /// The product service (gRPC): prices every checkout line.
    pub product_url: String,
    /// The inventory service (gRPC): reserves stock at checkout.
    pub inventory_url: String,
    /// The cart service (HTTP): `GET /api/v1/cart` with the customer's token.
    pub cart_url: String,
    /// Timeout of every call to product, inventory and cart.
    pub upstream_timeout_ms: u64,
    /// How long checkout's stock reservation holds before inventory releases it (60..=3600
    /// with inventory's default limits).
    pub reservation_ttl_secs: u32,
    /// A payment completing less than this before the reservation expires is refunded and the
    /// order cancelled: inventory may let the units go before it hears `order.paid`.
    pub late_payment_margin_secs: u32,
    /// How long a checkout may hold its `Idempotency-Key` claim before a retry may take over
    /// (a holder that died mid-checkout).
    pub idempotency_lock_secs: u32,
    /// How long checkout `Idempotency-Key`s are remembered (at least 24 hours).
    pub idempotency_retention_hours: u32,
    /// Most lines one order may have (inventory reserves at most 100).
    pub max_lines: usize,
    /// Most units of one line.
    pub max_line_quantity: i64,
    /// Kafka consumer group of the `payment-events` consumer; the `inventory-events` consumer
    /// (reservation expiry) uses this name plus `.expiry`.
    pub consumer_group: String,
    /// Polling fallback of the outbox relay (it is also woken by NOTIFY).
    pub relay_poll_interval_ms: u64,
}

impl Default for OrderSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3006)),
            product_url: "http://127.0.0.1:3003".into(),
            inventory_url: "http://127.0.0.1:3004".into(),
            cart_url: "http://127.0.0.1:3005".into(),
            upstream_timeout_ms: 5_000,
            reservation_ttl_secs: 900,
            late_payment_margin_secs: 30,
            idempotency_lock_secs: 60,
            idempotency_retention_hours: 72,
            max_lines: 100,
            max_line_quantity: 10_000,
            consumer_group: "order".into(),
            relay_poll_interval_ms: 1_000,
        }
    }
}

impl Validate for OrderSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid =
            |key: &str, msg: &str| Err(ConfigError::invalid(&format!("order.{key}"), msg));
        for (key, url) in [
            ("product_url", &self.product_url),
            ("inventory_url", &self.inventory_url),
            ("cart_url", &self.cart_url),
        ] {
            check_url(&format!("order.{key}"), url, &["http", "https"])?;
        }
        if self.upstream_timeout_ms == 0 {
            return invalid("upstream_timeout_ms", "must be at least 1");
        }
        if !(1..=3600).contains(&self.reservation_ttl_secs) {
            return invalid("reservation_ttl_secs", "must be between 1 and 3600");
        }
        if self.idempotency_lock_secs == 0 {
            return invalid("idempotency_lock_secs", "must be at least 1");
        }
        if self.idempotency_retention_hours < 24 {
            return invalid("idempotency_retention_hours", "must be at least 24");
        }
        if !(1..=100).contains(&self.max_lines) {
            return invalid("max_lines", "must be between 1 and 100");
        }
        if !(1..=10_000).contains(&self.max_line_quantity) {
            return invalid("max_line_quantity", "must be between 1 and 10000");
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
        OrderSettings::default().validate().unwrap();
        let s = OrderSettings {
            reservation_ttl_secs: 0,
            ..OrderSettings::default()
        };
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("STOREFRONT_ORDER__RESERVATION_TTL_SECS"), "{e}");
        let s = OrderSettings {
            cart_url: "cart".into(),
            ..OrderSettings::default()
        };
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("STOREFRONT_ORDER__CART_URL"), "{e}");
    }
}
