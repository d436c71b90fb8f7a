//! The hot copy of carts in Redis: `cart:{user_id}` (and `cart:guest:{sha256(token)}` for guests),
//! a hash sku -> quantity plus the field `:v` holding the cart_db version it was built from (a
//! SKU never contains `:`). Writes go through a script that only replaces an older copy, so a
//! slow rebuild from cart_db can never overwrite a newer cart. cart_db stays authoritative: a
//! missing key is rebuilt from it, and a Redis failure falls back to it.

use std::collections::HashMap;

use kit::cache::Keys;
use redis::aio::ConnectionManager;

use crate::domain::Owner;
use crate::store::Snapshot;

/// The hash field holding the version.
const VERSION_FIELD: &str = ":v";

/// KEYS[1] cart key; ARGV[1] version, ARGV[2] TTL seconds (0: none), then sku, qty pairs.
const PUT: &str = r"
local cur = redis.call('HGET', KEYS[1], ':v')
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], ':v', ARGV[1])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
local ttl = tonumber(ARGV[2])
if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) end
return 1
";

#[derive(Clone)]
pub struct Hot {
    conn: ConnectionManager,
    keys: Keys,
    guest_ttl_secs: u64,
}

impl Hot {
    pub fn new(conn: ConnectionManager, keys: Keys, guest_ttl_secs: u64) -> Self {
        Self {
            conn,
            keys,
            guest_ttl_secs,
        }
    }

    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// The Redis key of `owner`'s cart.
    pub fn key(&self, owner: &Owner) -> String {
        match owner {
            Owner::User(id) => self.keys.cart(id),
            Owner::Guest(hash) => self.keys.key(format_args!("cart:guest:{hash}")),
        }
    }

    /// The cached cart: `None` when the key is missing (rebuild from cart_db).
    pub async fn get(&self, owner: &Owner) -> redis::RedisResult<Option<Snapshot>> {
        let mut c = self.conn.clone();
        let map: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.key(owner))
            .query_async(&mut c)
            .await?;
        let Some(version) = map.get(VERSION_FIELD).and_then(|v| v.parse::<i64>().ok()) else {
            return Ok(None);
        };
        let mut lines: Vec<(String, i32)> = map
            .into_iter()
            .filter(|(k, _)| k != VERSION_FIELD)
            .filter_map(|(k, v)| v.parse::<i32>().ok().map(|q| (k, q)))
            .collect();
        lines.sort();
        Ok(Some(Snapshot {
            cart_id: None,
            version,
            lines,
        }))
    }

    /// Stores `snap` unless Redis already holds the same or a newer version.
    pub async fn put(&self, owner: &Owner, snap: &Snapshot) -> redis::RedisResult<()> {
        let ttl = match owner {
            Owner::User(_) => 0,
            Owner::Guest(_) => self.guest_ttl_secs,
        };
        let script = redis::Script::new(PUT);
        let mut inv = script.prepare_invoke();
        inv.key(self.key(owner)).arg(snap.version).arg(ttl);
        for (sku, q) in &snap.lines {
            inv.arg(sku).arg(q);
        }
        let mut c = self.conn.clone();
        inv.invoke_async::<i64>(&mut c).await?;
        Ok(())
    }

    pub async fn remove(&self, owner: &Owner) -> redis::RedisResult<()> {
        let mut c = self.conn.clone();
        redis::cmd("DEL")
            .arg(self.key(owner))
            .query_async::<i64>(&mut c)
            .await?;
        Ok(())
    }
}
