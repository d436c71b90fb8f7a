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
    /// `rec:user:{id}:recent`: the user's recently viewed products, most recent first.
    pub fn rec_recent(&self, user_id: impl std::fmt::Display) -> String {
        self.key(format_args!("rec:user:{user_id}:recent"))
    }
    /// `rec:user:{id}:gen`: incremented whenever the user's rec:user:{id}:* keys change; the
    /// gateway keeps a signed-in user's recommendations under it (missing reads as 0).
    pub fn rec_user_generation(&self, user_id: impl std::fmt::Display) -> String {
        self.key(format_args!("rec:user:{user_id}:gen"))
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
    /// The catalog generation: incremented (see [`bump_generation`]) by every product write,
    /// stock flip and category change before the write returns. The product service keys its
    /// cached search answers by it and the gateway checks its cached answers against it. (The
    /// name predates the gateway's use.)
    pub fn catalog_generation(&self) -> String {
        self.key("cache:search:gen")
    }
}

/// A response header with which a service directs the gateway's answer cache (a surrogate, in
/// the Edge Architecture's terms) and nobody else: `max-age=N` lets it keep a signed-in user's
/// answer for that user. The gateway removes it from every answer it sends.
pub const SURROGATE_CONTROL: &str = "surrogate-control";

/// Seeds a missing generation key with a random start, then increments it: a value a cache saw
/// before Redis lost its data (a restart without persistence) is not reached again by counting
/// up from 1, so an answer cached under it can never look current afterwards.
const BUMP_GENERATION: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[1]) end
return redis.call('INCR', KEYS[1])
";

/// A random start for a generation key (50 bits: far from overflow, exact in Lua numbers).
fn generation_seed() -> i64 {
    (uuid::Uuid::new_v4().as_u128() >> 78) as i64
}

/// Increments the generation at `key` (seeding it when missing); returns the new value.
pub async fn bump_generation(conn: &mut ConnectionManager, key: &str) -> redis::RedisResult<i64> {
    redis::Script::new(BUMP_GENERATION)
        .key(key)
        .arg(generation_seed())
        .invoke_async(conn)
        .await
}

/// The current generation at `key`; a missing key is seeded with a random start first (see
/// [`bump_generation`]), so every reader of an empty Redis agrees on one value.
pub async fn read_generation(conn: &mut ConnectionManager, key: &str) -> redis::RedisResult<i64> {
    let current: Option<i64> = redis::cmd("GET").arg(key).query_async(conn).await?;
    if let Some(g) = current {
        return Ok(g);
    }
    let _: Option<String> = redis::cmd("SET")
        .arg(key)
        .arg(generation_seed())
        .arg("NX")
        .query_async(conn)
        .await?;
    redis::cmd("GET").arg(key).query_async(conn).await
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
