//! The product role's settings: `STOREFRONT_PRODUCT__*` on top of the shared ones.

use std::net::SocketAddr;

use kit::config::{Common, ConfigError, Validate};
use serde::{Deserialize, Serialize};

/// Everything the product role reads at start.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub common: Common,
    pub product: ProductSettings,
}

impl Config {
    /// Defaults, overridden by `STOREFRONT_*` (shared) and `STOREFRONT_PRODUCT__*` variables,
    /// validated; errors name the variable.
    pub fn load() -> Result<Self, ConfigError> {
        let (common, product) = kit::config::load_role::<ProductSettings>("product")?;
        let cfg = Self { common, product };
        cfg.validate()?;
        Ok(cfg)
    }

    /// The database: `product.database` when set, else `<prefix>product_db`.
    pub fn database_name(&self) -> String {
        match &self.product.database {
            Some(d) if !d.is_empty() => d.clone(),
            _ => kit::db::database_name(&self.common.postgres, "product"),
        }
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.common.validate()?;
        self.product.validate()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct ProductSettings {
    /// gRPC and `/healthz`, `/readyz`, `/metrics` on one port.
    pub listen: SocketAddr,
    /// Database name override (tests use one each); default `<prefix>product_db`.
    pub database: Option<String>,
    /// How long a product stays in the Redis read-through cache, seconds.
    pub cache_ttl_secs: u64,
    /// How long a write's invalidation marker refuses older versions, seconds.
    pub cache_tombstone_secs: u64,
    /// How long a search answer (hits, total, facets) is cached in Redis, seconds; 0 turns the
    /// search cache off. Any catalog write makes cached answers unreachable at once.
    pub search_cache_secs: u64,
    /// Searches computed at once on the in-memory index (answers from the search cache do not
    /// count); 0 means one per core. Each takes a core while it runs.
    pub search_concurrency: usize,
    /// Searches waiting for a turn; past it a search is answered 503 with `Retry-After`.
    pub search_queue: usize,
    /// How long a search waits for its turn before it is answered 503, milliseconds.
    pub search_queue_timeout_ms: u64,
    /// Lifetime of presigned upload URLs, seconds.
    pub upload_url_ttl_secs: u64,
    /// Largest image accepted, bytes.
    pub max_image_bytes: i64,
    /// Where clients fetch catalog images: an image's URL is `<base>/<object_key>`. The default
    /// is the gateway's media route at its default address; set it to the gateway's public URL
    /// (`https://shop.example/api/v1/media`), a CDN in front of it, or a public-read
    /// `product-images` bucket. Nothing is signed per read (issue #16).
    pub image_url_base: String,
    /// Polling fallback of the outbox relay.
    pub relay_poll_interval_ms: u64,
    /// Kafka consumer group of the `inventory-events` consumer.
    pub consumer_group: String,
}

impl Default for ProductSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3003)),
            database: None,
            cache_ttl_secs: 300,
            cache_tombstone_secs: 60,
            search_cache_secs: 60,
            search_concurrency: 0,
            search_queue: 64,
            search_queue_timeout_ms: 2000,
            upload_url_ttl_secs: 900,
            max_image_bytes: 10 * 1024 * 1024,
            image_url_base: "http://127.0.0.1:3000/api/v1/media".into(),
            relay_poll_interval_ms: 1000,
            consumer_group: "product".into(),
        }
    }
}

impl Validate for ProductSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid =
            |key: &str, msg: &str| Err(ConfigError::invalid(&format!("product.{key}"), msg));
        if self.cache_ttl_secs == 0 {
            return invalid("cache_ttl_secs", "must be at least 1");
        }
        if self.cache_tombstone_secs == 0 {
            return invalid("cache_tombstone_secs", "must be at least 1");
        }
        if self.search_cache_secs > 24 * 3600 {
            return invalid("search_cache_secs", "must be between 0 and 86400");
        }
        if self.search_concurrency > 1024 {
            return invalid("search_concurrency", "must be between 0 and 1024");
        }
        if self.search_queue > 100_000 {
            return invalid("search_queue", "must be between 0 and 100000");
        }
        if !(1..=60_000).contains(&self.search_queue_timeout_ms) {
            return invalid("search_queue_timeout_ms", "must be between 1 and 60000");
        }
        if !(60..=7 * 24 * 3600).contains(&self.upload_url_ttl_secs) {
            return invalid("upload_url_ttl_secs", "must be between 60 and 604800");
        }
        if !(1..=100 * 1024 * 1024).contains(&self.max_image_bytes) {
            return invalid("max_image_bytes", "must be between 1 and 104857600");
        }
        kit::config::check_url(
            "product.image_url_base",
            &self.image_url_base,
            &["http", "https"],
        )?;
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
        ProductSettings::default().validate().unwrap();
        let s = ProductSettings {
            upload_url_ttl_secs: 5,
            ..Default::default()
        };
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("STOREFRONT_PRODUCT__UPLOAD_URL_TTL_SECS"), "{e}");
        let s = ProductSettings {
            search_queue_timeout_ms: 0,
            ..Default::default()
        };
        let e = s.validate().unwrap_err().to_string();
        assert!(
            e.contains("STOREFRONT_PRODUCT__SEARCH_QUEUE_TIMEOUT_MS"),
            "{e}"
        );
    }
}
