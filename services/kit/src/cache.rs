//! Redis: a connection manager (reconnects by itself) with bounded timeouts, and the key names of
//! ARCHITECTURE.md behind one optional `<storefront>:` prefix.

use std::time::Duration;

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::ExposeSecret;

use crate::config::RedisSettings;

/// Connects to Redis. Fails when Redis does not answer at start-up; afterwards the manager
/// reconnects on its own and commands fail fast (bounded by `redis.timeout_ms`).
pub async fn connect(settings: &RedisSettings) -> anyhow::Result<ConnectionManager> {
    let client = redis::Client::open(settings.url.expose_secret())
        .context("STOREFRONT_REDIS__URL is not a valid Redis URL")?;
    let timeout = Duration::from_millis(settings.timeout_ms.max(1));
    let cfg = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(2);
    ConnectionManager::new_with_config(client, cfg)
        .await
        .context("connecting to Redis (STOREFRONT_REDIS__URL)")
}

/// Key names shared between roles (and with an external ML pipeline for `rec:*`).
#[derive(Clone, Debug, Default)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(settings: &RedisSettings) -> Self {
        Self {
            prefix: settings.key_prefix.clone(),
        }
    }

    /// Any key under the prefix.
    pub fn key(&self, rest: impl std::fmt::Display) -> String {
        format!("{}{rest}", self.prefix)
    }
    pub fn cart(&self, user_id: impl std::fmt::Display) -> String {
        self.key(format_args!("cart:{user_id}"))
    }
    pub fn product_cache(&self, id: impl std::fmt::Display) -> String {
        self.key(format_args!("cache:product:{id}"))
    }
    pub fn session_deny(&self, jti: impl std::fmt::Display) -> String {
        self.key(format_args!("session:deny:{jti}"))
    }
    pub fn ratelimit(&self, scope: &str, key: impl std::fmt::Display) -> String {
        self.key(format_args!("ratelimit:{scope}:{key}"))
    }
    pub fn rec_personalized(&self, user_id: impl std::fmt::Display) -> String {
        self.key(format_args!("rec:user:{user_id}:personalized"))
    }
    pub fn rec_similar(&self, product_id: impl std::fmt::Display) -> String {
        self.key(format_args!("rec:product:{product_id}:similar"))
    }
    pub fn rec_trending(&self) -> String {
        self.key("rec:trending")
    }
    pub fn rec_popular(&self) -> String {
        self.key("rec:popular")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_contract() {
        let k = Keys::new(&RedisSettings {
            key_prefix: "shop1:".into(),
            ..Default::default()
        });
        assert_eq!(k.cart("u1"), "shop1:cart:u1");
        assert_eq!(k.rec_similar("p9"), "shop1:rec:product:p9:similar");
        assert_eq!(k.ratelimit("ip", "1.2.3.4"), "shop1:ratelimit:ip:1.2.3.4");
        assert_eq!(Keys::default().rec_popular(), "rec:popular");
    }
}
