//! The Redis read-through cache of product reads: `cache:product:{id}` holds the product as JSON
//! with its `version`, and `cache:product:slug:{slug}` maps a slug to an id (checked against the
//! product it names, so renames need no invalidation).
//!
//! Writes invalidate after commit by replacing the entry with a tombstone `T:<version>` (for
//! `product.cache_tombstone_secs`). A reader stores what it read only if its version is at least
//! the tombstone's or the cached one's (one Lua script, atomic), so a reader that fetched the row
//! before the write committed cannot put the old value back. Every Redis failure degrades to a
//! database read.
//!
//! Search answers (hit ids with scores, total, facets; products are hydrated through the
//! product cache) are cached under `cache:search:{generation}:{fingerprint}`; every product
//! write and category change increments the catalog generation (`cache:search:gen`, also read
//! by the gateway's answer cache), so a cached answer is never read after the write that
//! changed it returned.

use std::time::Duration;

use redis::aio::ConnectionManager;
use uuid::Uuid;

use crate::domain::ProductRecord;

const PUT: &str = r#"
local cur = redis.call('GET', KEYS[1])
local v = tonumber(ARGV[1])
if cur then
  if string.sub(cur, 1, 2) == 'T:' then
    if v < tonumber(string.sub(cur, 3)) then return 0 end
  else
    local ok, obj = pcall(cjson.decode, cur)
    if ok and type(obj) == 'table' and obj.version and tonumber(obj.version) >= v then return 0 end
  end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"#;

const INVALIDATE: &str = r#"
local cur = redis.call('GET', KEYS[1])
local v = tonumber(ARGV[1])
if cur and string.sub(cur, 1, 2) == 'T:' and tonumber(string.sub(cur, 3)) > v then return 0 end
redis.call('SET', KEYS[1], 'T:' .. ARGV[1], 'EX', ARGV[2])
return 1
"#;

#[derive(Clone)]
pub struct ProductCache {
    conn: Option<ConnectionManager>,
    keys: kit::cache::Keys,
    ttl: Duration,
    tombstone: Duration,
    timeout: Duration,
    search_ttl: Duration,
}

impl ProductCache {
    pub fn new(
        conn: Option<ConnectionManager>,
        keys: kit::cache::Keys,
        ttl: Duration,
        tombstone: Duration,
        timeout: Duration,
    ) -> Self {
        Self {
            conn,
            keys,
            ttl,
            tombstone,
            timeout,
            search_ttl: Duration::ZERO,
        }
    }

    /// Caches search answers for `ttl` (zero: not at all).
    pub fn with_search_ttl(mut self, ttl: Duration) -> Self {
        self.search_ttl = ttl;
        self
    }

    fn slug_key(&self, slug: &str) -> String {
        self.keys.key(format_args!("cache:product:slug:{slug}"))
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        what: &str,
        f: impl FnOnce(ConnectionManager) -> futures::future::BoxFuture<'static, redis::RedisResult<T>>,
    ) -> Option<T> {
        let conn = self.conn.clone()?;
        match tokio::time::timeout(self.timeout, f(conn)).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, op = what, "product cache unavailable; using the database");
                None
            }
            Err(_) => {
                tracing::warn!(op = what, "product cache timed out; using the database");
                None
            }
        }
    }

    /// The cached product, when there is a current entry.
    pub async fn get(&self, id: Uuid) -> Option<ProductRecord> {
        let key = self.keys.product_cache(id);
        let raw: Option<String> = self
            .run("get", move |mut c| {
                Box::pin(async move { redis::cmd("GET").arg(&key).query_async(&mut c).await })
            })
            .await
            .flatten();
        let raw = raw?;
        if raw.starts_with("T:") {
            return None;
        }
        serde_json::from_str(&raw).ok()
    }

    /// The cached products of `ids` in one round trip (`MGET`), by position; `None` where
    /// there is no current entry.
    pub async fn get_many(&self, ids: &[Uuid]) -> Vec<Option<ProductRecord>> {
        if ids.is_empty() {
            return Vec::new();
        }
        let keys: Vec<String> = ids.iter().map(|id| self.keys.product_cache(*id)).collect();
        let raw: Vec<Option<String>> = self
            .run("get many", move |mut c| {
                Box::pin(async move { redis::cmd("MGET").arg(&keys).query_async(&mut c).await })
            })
            .await
            .unwrap_or_default();
        let mut out: Vec<Option<ProductRecord>> = raw
            .into_iter()
            .map(|r| {
                r.filter(|r| !r.starts_with("T:"))
                    .and_then(|r| serde_json::from_str(&r).ok())
            })
            .collect();
        out.resize_with(ids.len(), || None);
        out
    }

    /// Stores what a reader fetched, unless a newer version was seen (see the module docs).
    pub async fn put(&self, p: &ProductRecord) {
        let Ok(json) = serde_json::to_string(p) else {
            return;
        };
        let key = self.keys.product_cache(p.id);
        let slug_key = self.slug_key(&p.slug);
        let (version, ttl, id) = (p.version, self.ttl.as_secs().max(1), p.id.to_string());
        self.run::<()>("put", move |mut c| {
            Box::pin(async move {
                redis::Script::new(PUT)
                    .key(&key)
                    .arg(version)
                    .arg(json)
                    .arg(ttl)
                    .invoke_async::<i64>(&mut c)
                    .await?;
                redis::cmd("SET")
                    .arg(&slug_key)
                    .arg(id)
                    .arg("EX")
                    .arg(ttl)
                    .query_async::<()>(&mut c)
                    .await
            })
        })
        .await;
    }

    /// The id a slug was last seen naming (callers check the product's slug still matches).
    pub async fn id_for_slug(&self, slug: &str) -> Option<Uuid> {
        let key = self.slug_key(slug);
        let raw: Option<String> = self
            .run("get-slug", move |mut c| {
                Box::pin(async move { redis::cmd("GET").arg(&key).query_async(&mut c).await })
            })
            .await
            .flatten();
        raw.and_then(|r| Uuid::parse_str(&r).ok())
    }

    /// Replaces the entry with a tombstone for `version` (the version the write committed).
    /// Returns whether Redis acknowledged it.
    pub async fn invalidate(&self, id: Uuid, version: i64) -> bool {
        let key = self.keys.product_cache(id);
        let gen_key = self.search_generation_key();
        let ttl = self.tombstone.as_secs().max(1);
        self.run::<i64>("invalidate", move |mut c| {
            Box::pin(async move {
                let done = redis::Script::new(INVALIDATE)
                    .key(&key)
                    .arg(version)
                    .arg(ttl)
                    .invoke_async(&mut c)
                    .await?;
                kit::cache::bump_generation(&mut c, &gen_key).await?;
                Ok(done)
            })
        })
        .await
        .is_some()
    }

    fn search_generation_key(&self) -> String {
        self.keys.catalog_generation()
    }

    /// Makes every cached search answer unreachable (after a category change; product writes
    /// do it in [`ProductCache::invalidate`]).
    pub async fn bump_search(&self) -> bool {
        let key = self.search_generation_key();
        self.run::<i64>("bump search", move |mut c| {
            Box::pin(async move { kit::cache::bump_generation(&mut c, &key).await })
        })
        .await
        .is_some()
    }

    /// The key a search answer is cached under: the current generation and the request's
    /// fingerprint. `None` when the cache is off or Redis fails (then nothing is cached).
    pub async fn search_key(&self, fingerprint: &str) -> Option<String> {
        if self.search_ttl.is_zero() {
            return None;
        }
        let gen_key = self.search_generation_key();
        let generation: Option<i64> = self
            .run("search generation", move |mut c| {
                Box::pin(async move { redis::cmd("GET").arg(&gen_key).query_async(&mut c).await })
            })
            .await?;
        Some(self.keys.key(format_args!(
            "cache:search:{}:{fingerprint}",
            generation.unwrap_or(0)
        )))
    }

    /// A cached search answer.
    pub async fn search_get<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        let key = key.to_owned();
        let raw: Option<String> = self
            .run("search get", move |mut c| {
                Box::pin(async move { redis::cmd("GET").arg(&key).query_async(&mut c).await })
            })
            .await
            .flatten();
        serde_json::from_str(&raw?).ok()
    }

    /// Caches a search answer for `product.search_cache_secs`. An answer computed before a
    /// write lands under the generation the write retired, where no reader looks any more.
    pub async fn search_put<T: serde::Serialize>(&self, key: &str, value: &T) {
        let Ok(json) = serde_json::to_string(value) else {
            return;
        };
        let (key, ttl) = (key.to_owned(), self.search_ttl.as_secs().max(1));
        self.run::<()>("search put", move |mut c| {
            Box::pin(async move {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(json)
                    .arg("EX")
                    .arg(ttl)
                    .query_async(&mut c)
                    .await
            })
        })
        .await;
    }
}
