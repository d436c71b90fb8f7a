//! GCRA rate limiting per client IP and per user. The state lives in Redis
//! (`{prefix}ratelimit:{scope}:{key}`, one Lua script, atomic, Redis' clock) so every gateway
//! replica shares it; when Redis fails or is slow, an in-process limiter with the same
//! parameters decides, and readiness says so.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kit::health::CheckStatus;
use kit::problem::Problem;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::ExposeSecret;

use crate::AppState;
use crate::auth::Identity;
use crate::config::RateLimitSettings;

/// After a Redis failure, requests skip Redis this long before trying it again.
const REDIS_RETRY_AFTER: Duration = Duration::from_secs(1);
/// The local limiter drops idle keys when it holds more than this many.
const LOCAL_SWEEP_AT: usize = 10_000;

/// Paths never limited: probes and scrapes.
const EXEMPT: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

pub static RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub static RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub static RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// GCRA in Redis. Times in milliseconds from Redis' own clock, so replicas agree.
/// Returns {allowed, remaining, retry_after_ms, reset_ms}.
const GCRA_LUA: &str = r"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local window = interval * burst
local new_tat = tat + interval
local allow_at = new_tat - window
if allow_at > now then
  return {0, 0, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.max(1, new_tat - now))
return {1, math.floor((now + window - new_tat) / interval), 0, new_tat - now}
";

/// Who a budget belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    Ip,
    User,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ip => "ip",
            Scope::User => "user",
        }
    }
}

/// One budget: `burst` requests at once, refilled at `per_minute`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub per_minute: u32,
    pub burst: u32,
}

impl Quota {
    /// Milliseconds between two requests at the sustained rate.
    fn interval_ms(self) -> u64 {
        (60_000 / u64::from(self.per_minute.max(1))).max(1)
    }
}

/// The outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow {
        limit: u32,
        remaining: u32,
        /// Until the budget is full again.
        reset: Duration,
    },
    Deny {
        limit: u32,
        retry_after: Duration,
        reset: Duration,
    },
}

impl Decision {
    fn from_gcra(limit: u32, allowed: bool, remaining: i64, retry_ms: i64, reset_ms: i64) -> Self {
        let ms = |v: i64| Duration::from_millis(v.max(0) as u64);
        if allowed {
            Decision::Allow {
                limit,
                remaining: remaining.clamp(0, i64::from(limit)) as u32,
                reset: ms(reset_ms),
            }
        } else {
            Decision::Deny {
                limit,
                retry_after: ms(retry_ms),
                reset: ms(reset_ms),
            }
        }
    }

    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }

    /// `RateLimit-Limit`, `-Remaining`, `-Reset` (seconds, rounded up).
    fn headers(&self) -> [(HeaderName, HeaderValue); 3] {
        let (limit, remaining, reset) = match *self {
            Decision::Allow {
                limit,
                remaining,
                reset,
            } => (limit, remaining, reset),
            Decision::Deny { limit, reset, .. } => (limit, 0, reset),
        };
        [
            (RATELIMIT_LIMIT.clone(), HeaderValue::from(limit)),
            (RATELIMIT_REMAINING.clone(), HeaderValue::from(remaining)),
            (RATELIMIT_RESET.clone(), HeaderValue::from(ceil_secs(reset))),
        ]
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000) as u64
}

/// The same GCRA in process memory.
struct LocalGcra {
    epoch: Instant,
    tats: HashMap<(Scope, String), u64>,
}

impl LocalGcra {
    fn check(&mut self, scope: Scope, key: &str, quota: Quota) -> Decision {
        let now = self.epoch.elapsed().as_millis() as u64;
        if self.tats.len() > LOCAL_SWEEP_AT {
            self.tats.retain(|_, tat| *tat > now);
        }
        let interval = quota.interval_ms();
        let window = interval * u64::from(quota.burst);
        let entry = self.tats.entry((scope, key.to_owned())).or_insert(now);
        let tat = (*entry).max(now);
        let new_tat = tat + interval;
        let allow_at = new_tat.saturating_sub(window);
        if allow_at > now {
            return Decision::from_gcra(
                quota.burst,
                false,
                0,
                (allow_at - now) as i64,
                (tat - now) as i64,
            );
        }
        *entry = new_tat;
        let remaining = (now + window - new_tat) / interval;
        Decision::from_gcra(
            quota.burst,
            true,
            remaining as i64,
            0,
            (new_tat - now) as i64,
        )
    }
}

struct Inner {
    redis: Option<ConnectionManager>,
    key_prefix: String,
    script: redis::Script,
    timeout: Duration,
    ip: Quota,
    user: Quota,
    enabled: bool,
    local: Mutex<LocalGcra>,
    redis_ok: AtomicBool,
    /// Redis is skipped until then after a failure.
    retry_at: Mutex<Option<Instant>>,
    last_error: Mutex<String>,
}

/// Per-IP and per-user GCRA limiter. Cheap to clone.
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

impl RateLimiter {
    /// A limiter on `redis` (see [`lazy_redis`]: Redis may be down at start, the local limiter
    /// covers until it is up); `None`: local only.
    pub fn with_connection(
        settings: &RateLimitSettings,
        redis: Option<ConnectionManager>,
        key_prefix: &str,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                redis,
                key_prefix: key_prefix.to_owned(),
                script: redis::Script::new(GCRA_LUA),
                timeout: Duration::from_millis(settings.redis_timeout_ms.max(1)),
                ip: Quota {
                    per_minute: settings.per_ip_per_minute,
                    burst: settings.burst,
                },
                user: Quota {
                    per_minute: settings.per_user_per_minute,
                    burst: settings.burst,
                },
                enabled: settings.enabled,
                local: Mutex::new(LocalGcra {
                    epoch: Instant::now(),
                    tats: HashMap::new(),
                }),
                redis_ok: AtomicBool::new(true),
                retry_at: Mutex::new(None),
                last_error: Mutex::new(String::new()),
            }),
        }
    }

    pub fn quota(&self, scope: Scope) -> Quota {
        match scope {
            Scope::Ip => self.inner.ip,
            Scope::User => self.inner.user,
        }
    }

    /// The Redis key of a budget (ARCHITECTURE.md: `ratelimit:{scope}:{key}` under the prefix).
    pub fn key(&self, scope: Scope, key: &str) -> String {
        format!(
            "{}ratelimit:{}:{key}",
            self.inner.key_prefix,
            scope.as_str()
        )
    }

    /// `false` while the local limiter stands in for Redis.
    pub fn redis_ok(&self) -> bool {
        self.inner.redis_ok.load(Ordering::Relaxed)
    }

    /// Counts one request against `scope`/`key`.
    pub async fn check(&self, scope: Scope, key: &str) -> Decision {
        let quota = self.quota(scope);
        if let Some(conn) = &self.inner.redis
            && self.redis_worth_trying()
        {
            match self.check_redis(conn.clone(), scope, key, quota).await {
                Ok(d) => {
                    self.mark_ok();
                    return d;
                }
                Err(e) => self.mark_down(&e),
            }
        }
        self.inner
            .local
            .lock()
            .expect("local limiter poisoned")
            .check(scope, key, quota)
    }

    async fn check_redis(
        &self,
        mut conn: ConnectionManager,
        scope: Scope,
        key: &str,
        quota: Quota,
    ) -> Result<Decision, String> {
        let mut inv = self.inner.script.key(self.key(scope, key));
        inv.arg(quota.interval_ms()).arg(quota.burst);
        let res = tokio::time::timeout(
            self.inner.timeout,
            inv.invoke_async::<(i64, i64, i64, i64)>(&mut conn),
        )
        .await;
        match res {
            Ok(Ok((allowed, remaining, retry, reset))) => Ok(Decision::from_gcra(
                quota.burst,
                allowed == 1,
                remaining,
                retry,
                reset,
            )),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.inner.timeout)),
        }
    }

    fn redis_worth_trying(&self) -> bool {
        let retry_at = self.inner.retry_at.lock().expect("poisoned");
        retry_at.is_none_or(|t| Instant::now() >= t)
    }

    fn mark_ok(&self) {
        *self.inner.retry_at.lock().expect("poisoned") = None;
        if !self.inner.redis_ok.swap(true, Ordering::Relaxed) {
            tracing::info!("Redis answers again; rate limits are shared across replicas again");
        }
    }

    fn mark_down(&self, reason: &str) {
        *self.inner.retry_at.lock().expect("poisoned") = Some(Instant::now() + REDIS_RETRY_AFTER);
        *self.inner.last_error.lock().expect("poisoned") = reason.to_owned();
        // Logged once per outage, not once per request.
        if self.inner.redis_ok.swap(false, Ordering::Relaxed) {
            tracing::warn!(error = %reason, "Redis is unavailable for rate limiting; using the local limiter");
        }
    }

    /// Readiness: pings Redis (updating the state) and reports Degraded while the local limiter
    /// is in use. Never Down: the gateway still serves without Redis.
    pub async fn health(&self) -> CheckStatus {
        let Some(conn) = &self.inner.redis else {
            return CheckStatus::Degraded("local rate limiter in use (no Redis configured)".into());
        };
        let mut conn = conn.clone();
        let ping = tokio::time::timeout(
            self.inner.timeout.max(Duration::from_millis(500)),
            redis::cmd("PING").query_async::<String>(&mut conn),
        )
        .await;
        match ping {
            Ok(Ok(_)) => {
                self.mark_ok();
                CheckStatus::Up
            }
            Ok(Err(e)) => {
                self.mark_down(&e.to_string());
                CheckStatus::Degraded(format!("local rate limiter in use ({e})"))
            }
            Err(_) => {
                self.mark_down("PING timed out");
                CheckStatus::Degraded("local rate limiter in use (Redis does not answer)".into())
            }
        }
    }
}

/// A connection manager that connects on first use and reconnects by itself, with every
/// command bounded by `timeout` (the limiter adds its own bound on top).
pub fn lazy_redis(
    settings: &kit::config::RedisSettings,
    timeout: Duration,
) -> anyhow::Result<ConnectionManager> {
    let client = redis::Client::open(settings.url.expose_secret())
        .map_err(|e| anyhow::anyhow!("STOREFRONT_REDIS__URL is not a valid Redis URL: {e}"))?;
    let connect_timeout = Duration::from_millis(settings.timeout_ms.max(1)).max(timeout);
    let cfg = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(connect_timeout))
        .set_response_timeout(Some(connect_timeout))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_secs(1));
    Ok(ConnectionManager::new_lazy_with_config(client, cfg)?)
}

/// Middleware: per-user budget for requests with a valid token, per-IP otherwise. Allowed
/// responses carry `RateLimit-*`; denied ones are 429 problems with `Retry-After`.
pub async fn limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limiter = &state.limiter;
    // The shop's static files cost nothing upstream; only the API is limited. Catalog images
    // are static too (a page shows dozens; browsers and CDNs keep them a year) and their route
    // has its own bound on requests in flight.
    let path = req.uri().path();
    let shop_file = state.config.gateway.web_dir.is_some() && !crate::web::is_api_path(path);
    let image = path.starts_with(crate::routes::media::PREFIX);
    if !limiter.inner.enabled || EXEMPT.contains(&path) || shop_file || image {
        return next.run(req).await;
    }
    let (scope, key) = match req.extensions().get::<Identity>() {
        Some(Identity::User(id)) => (Scope::User, id.to_string()),
        Some(Identity::Ip(ip)) => (Scope::Ip, ip.to_string()),
        None => (Scope::Ip, "unknown".to_owned()),
    };
    let decision = limiter.check(scope, &key).await;
    let mut resp = match decision {
        Decision::Allow { .. } => next.run(req).await,
        Decision::Deny { retry_after, .. } => {
            tracing::debug!(scope = scope.as_str(), %key, "rate limited");
            Problem::too_many_requests(retry_after)
                .with_detail(format!(
                    "Too many requests from this {}. Try again in {} s.",
                    match scope {
                        Scope::Ip => "address",
                        Scope::User => "account",
                    },
                    ceil_secs(retry_after).max(1)
                ))
                .into_response()
        }
    };
    set_headers(resp.headers_mut(), &decision);
    resp
}

fn set_headers(headers: &mut HeaderMap, decision: &Decision) {
    for (name, value) in decision.headers() {
        headers.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(per_minute: u32, burst: u32) -> RateLimitSettings {
        RateLimitSettings {
            per_ip_per_minute: per_minute,
            per_user_per_minute: per_minute * 2,
            burst,
            ..RateLimitSettings::default()
        }
    }

    #[tokio::test]
    async fn local_gcra_allows_the_burst_then_denies_with_retry_after() {
        let l = RateLimiter::with_connection(&settings(60, 3), None, "");
        let mut remaining = Vec::new();
        for _ in 0..3 {
            match l.check(Scope::Ip, "1.2.3.4").await {
                Decision::Allow {
                    remaining: r,
                    limit,
                    ..
                } => {
                    assert_eq!(limit, 3);
                    remaining.push(r);
                }
                d => panic!("denied too early: {d:?}"),
            }
        }
        assert_eq!(remaining, [2, 1, 0]);
        match l.check(Scope::Ip, "1.2.3.4").await {
            Decision::Deny {
                retry_after, reset, ..
            } => {
                // One request per second refills.
                assert!(retry_after <= Duration::from_secs(1), "{retry_after:?}");
                assert!(retry_after > Duration::from_millis(900), "{retry_after:?}");
                assert!(reset > Duration::from_secs(2), "{reset:?}");
            }
            d => panic!("should be denied: {d:?}"),
        }
        // Other keys and scopes have their own budgets.
        assert!(l.check(Scope::Ip, "5.6.7.8").await.is_allowed());
        assert!(l.check(Scope::User, "1.2.3.4").await.is_allowed());
    }

    #[test]
    fn headers_round_up_to_seconds() {
        let d = Decision::Allow {
            limit: 10,
            remaining: 4,
            reset: Duration::from_millis(1200),
        };
        let h = d.headers();
        assert_eq!(h[0].1, "10");
        assert_eq!(h[1].1, "4");
        assert_eq!(h[2].1, "2");
    }

    #[tokio::test]
    async fn redis_gcra_agrees_with_the_local_one() {
        let redis = kit::config::RedisSettings {
            key_prefix: format!("test-{}:", uuid::Uuid::now_v7()),
            ..Default::default()
        };
        let conn = lazy_redis(&redis, Duration::from_millis(500)).unwrap();
        let mut s = settings(60, 3);
        s.redis_timeout_ms = 500;
        let l = RateLimiter::with_connection(&s, Some(conn.clone()), &redis.key_prefix);
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(l.check(Scope::Ip, "9.9.9.9").await);
        }
        assert!(
            l.redis_ok(),
            "needs Redis at 127.0.0.1:6379 (scripts/dev-stack up)"
        );
        assert!(seen[..3].iter().all(Decision::is_allowed), "{seen:?}");
        assert!(!seen[3].is_allowed(), "{seen:?}");
        // The state is in Redis under the contract key, with a TTL.
        let mut c = conn;
        let ttl: i64 = redis::cmd("PTTL")
            .arg(format!("{}ratelimit:ip:9.9.9.9", redis.key_prefix))
            .query_async(&mut c)
            .await
            .unwrap();
        assert!(ttl > 0 && ttl <= 3000, "{ttl}");
        // A second limiter (another replica) sees the same budget.
        let other = RateLimiter::with_connection(&s, Some(c), &redis.key_prefix);
        assert!(!other.check(Scope::Ip, "9.9.9.9").await.is_allowed());
    }
}
