//! The cart role's settings: `STOREFRONT_CART__*` on top of the shared ones.

use std::net::SocketAddr;

use kit::config::{Common, ConfigError, Validate};
use serde::{Deserialize, Serialize};

/// Everything the cart role reads at start.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub common: Common,
    pub cart: CartSettings,
}

impl Config {
    /// Defaults, overridden by `STOREFRONT_*` (shared) and `STOREFRONT_CART__*` variables,
    /// validated; errors name the variable.
    pub fn load() -> Result<Self, ConfigError> {
        let (common, cart) = kit::config::load_role::<CartSettings>("cart")?;
        let cfg = Self { common, cart };
        cfg.validate()?;
        Ok(cfg)
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.common.validate()?;
        self.cart.validate()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct CartSettings {
    /// Where the REST API and `/healthz`, `/readyz`, `/metrics` are served.
    pub listen: SocketAddr,
    /// The services the cart asks (`STOREFRONT_CART__UPSTREAMS__PRODUCT`, ...).
    pub upstreams: Upstreams,
    /// Most lines one cart may hold.
    pub max_lines: usize,
    /// Most units of one SKU one line may hold.
    pub max_quantity: i32,
    /// Days a guest cart's hot copy lives in Redis after its last change (it is rebuilt from
    /// cart_db when it expired).
    pub guest_ttl_days: u64,
    /// Kafka consumer group of the `order-events` consumer.
    pub consumer_group: String,
    /// Polling fallback of the outbox relay (it is also woken by NOTIFY).
    pub relay_poll_interval_ms: u64,
}

/// Addresses of the gRPC services the cart calls, named as the gateway names its upstreams.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Upstreams {
    /// The product service: names, prices and status of SKUs.
    pub product: String,
    /// The inventory service: availability of SKUs.
    pub inventory: String,
    /// The order service (HTTP): the estimate `GET cart` shows with a currency or country.
    pub order: String,
    /// Milliseconds an upstream call may take.
    pub timeout_ms: u64,
}

impl Default for Upstreams {
    fn default() -> Self {
        Self {
            product: "http://127.0.0.1:3003".into(),
            inventory: "http://127.0.0.1:3004".into(),
            order: "http://127.0.0.1:3006".into(),
            timeout_ms: 5_000,
        }
    }
}

impl Default for CartSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3005)),
            upstreams: Upstreams::default(),
            max_lines: 100,
            max_quantity: 99,
            guest_ttl_days: 30,
            consumer_group: "cart".into(),
            relay_poll_interval_ms: 1_000,
        }
    }
}

impl Validate for CartSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, msg: &str| Err(ConfigError::invalid(&format!("cart.{key}"), msg));
        let u = &self.upstreams;
        kit::config::check_url("cart.upstreams.product", &u.product, &["http", "https"])?;
        kit::config::check_url("cart.upstreams.inventory", &u.inventory, &["http", "https"])?;
        kit::config::check_url("cart.upstreams.order", &u.order, &["http", "https"])?;
        if u.timeout_ms == 0 {
            return invalid("upstreams.timeout_ms", "must be at least 1");
        }
        if !(1..=100).contains(&self.max_lines) {
            return invalid(
                "max_lines",
                "must be between 1 and 100 (product batch lookups take 100 SKUs)",
            );
        }
        if !(1..=99).contains(&self.max_quantity) {
            return invalid("max_quantity", "must be between 1 and 99");
        }
        if self.guest_ttl_days == 0 {
            return invalid("guest_ttl_days", "must be at least 1");
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
        CartSettings::default().validate().unwrap();
        let s = CartSettings {
            max_quantity: 0,
            ..CartSettings::default()
        };
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("STOREFRONT_CART__MAX_QUANTITY"), "{e}");
        let mut s = CartSettings::default();
        s.upstreams.product = "nope".into();
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("STOREFRONT_CART__UPSTREAMS__PRODUCT"), "{e}");
    }
}
