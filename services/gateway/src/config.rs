//! The gateway's settings: `STOREFRONT_GATEWAY__*` on top of the shared ones.

use std::net::SocketAddr;
use std::path::PathBuf;

use kit::config::{Common, ConfigError, Validate, check_url};
use serde::{Deserialize, Serialize};

use crate::client_ip::Cidr;

/// Everything the gateway reads at start.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    #[serde(flatten)]
    pub common: Common,
    pub gateway: GatewaySettings,
}

impl Config {
    /// Defaults, overridden by `STOREFRONT_*` (shared) and `STOREFRONT_GATEWAY__*` variables,
    /// validated; errors name the variable.
    pub fn load() -> Result<Self, ConfigError> {
        let (common, gateway) = kit::config::load_role::<GatewaySettings>("gateway")?;
        let cfg = Self { common, gateway };
        cfg.validate()?;
        Ok(cfg)
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.common.validate()?;
        self.gateway.validate()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewaySettings {
    /// Where the REST API listens.
    pub listen: SocketAddr,
    /// Browser origins allowed by CORS (exact `scheme://host[:port]`, credentials allowed).
    pub cors_origins: Vec<String>,
    /// Largest request body accepted; larger ones get 413.
    pub body_limit_bytes: usize,
    /// Whole-request bound (body reading included); slower requests get 504.
    pub request_timeout_ms: u64,
    /// Connections served at once (a file-descriptor bound; more wait in the accept queue).
    pub max_connections: usize,
    /// An HTTP/1 client must send its whole request head within this, milliseconds.
    pub header_read_timeout_ms: u64,
    /// Requests in flight to one service behind the gateway (per role: auth, cart, ...); more
    /// are shed at once with 503 and `Retry-After`. Health, readiness and metrics are never shed.
    pub max_in_flight_per_upstream: usize,
    /// Proxies (CIDRs) whose `X-Forwarded-For` is believed; empty: the peer is the client.
    pub trusted_proxies: Vec<String>,
    pub rate_limit: RateLimitSettings,
    pub answer_cache: AnswerCacheSettings,
    pub upstreams: UpstreamSettings,
    /// The built web shop (`web/dist`, with its `index.html`) to serve at every path outside
    /// the API; unset: no shop, unknown paths are 404 problems.
    pub web_dir: Option<PathBuf>,
    /// A second address serving the same application (shop and API, one origin), e.g.
    /// `127.0.0.1:5173` for the shop; needs `web_dir`.
    pub web_listen: Option<SocketAddr>,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            cors_origins: vec![
                "http://localhost:5173".into(),
                "http://127.0.0.1:5173".into(),
            ],
            body_limit_bytes: 1024 * 1024,
            request_timeout_ms: 10_000,
            max_connections: 10_000,
            header_read_timeout_ms: 10_000,
            max_in_flight_per_upstream: 512,
            trusted_proxies: Vec::new(),
            rate_limit: RateLimitSettings::default(),
            answer_cache: AnswerCacheSettings::default(),
            upstreams: UpstreamSettings::default(),
            web_dir: None,
            web_listen: None,
        }
    }
}

/// GCRA limits. Anonymous requests are limited per client IP, requests with a valid access
/// token per user. `burst` requests may come at once; the budget refills at the per-minute rate.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitSettings {
    pub enabled: bool,
    pub per_ip_per_minute: u32,
    pub per_user_per_minute: u32,
    pub burst: u32,
    /// How long a Redis call may take before the in-process limiter decides instead.
    pub redis_timeout_ms: u64,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            per_ip_per_minute: 300,
            per_user_per_minute: 600,
            burst: 60,
            redis_timeout_ms: 50,
        }
    }
}

/// The in-process cache of public catalog answers (`crate::answers`): each hit is checked
/// against the catalog generation in Redis, so a write is visible to the next read.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct AnswerCacheSettings {
    /// Memory the cached answers may take, bytes (0 turns the cache off).
    pub max_bytes: usize,
    /// Longest an answer is kept, seconds: bounds staleness should a write fail to reach Redis.
    pub ttl_secs: u64,
    /// How long the generation read may take before the request goes to the service instead.
    pub redis_timeout_ms: u64,
}

impl Default for AnswerCacheSettings {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024 * 1024,
            ttl_secs: 60,
            redis_timeout_ms: 50,
        }
    }
}

/// Where the gateway finds the services behind it. gRPC ones are `http://host:port` URIs, HTTP
/// ones base URLs; names resolving to several addresses are balanced over all of them.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct UpstreamSettings {
    pub auth: String,
    pub user: String,
    pub product: String,
    pub inventory: String,
    pub cart: String,
    pub order: String,
    pub payment: String,
    pub recommendation: String,
    pub event: String,
    /// Bound on each upstream call.
    pub timeout_ms: u64,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        let local = |port: u16| format!("http://127.0.0.1:{port}");
        Self {
            auth: local(3001),
            user: local(3002),
            product: local(3003),
            inventory: local(3004),
            cart: local(3005),
            order: local(3006),
            payment: local(3007),
            recommendation: local(3008),
            event: local(3009),
            timeout_ms: 5_000,
        }
    }
}

impl UpstreamSettings {
    /// `(setting name, value)` of every upstream.
    pub fn all(&self) -> [(&'static str, &str); 9] {
        [
            ("auth", &self.auth),
            ("user", &self.user),
            ("product", &self.product),
            ("inventory", &self.inventory),
            ("cart", &self.cart),
            ("order", &self.order),
            ("payment", &self.payment),
            ("recommendation", &self.recommendation),
            ("event", &self.event),
        ]
    }
}

impl GatewaySettings {
    fn validate(&self) -> Result<(), ConfigError> {
        for origin in &self.cors_origins {
            check_origin(origin)?;
        }
        if self.body_limit_bytes == 0 {
            return Err(ConfigError::invalid(
                "gateway.body_limit_bytes",
                "must be at least 1",
            ));
        }
        if self.request_timeout_ms == 0 {
            return Err(ConfigError::invalid(
                "gateway.request_timeout_ms",
                "must be at least 1",
            ));
        }
        if !(1..=1_000_000).contains(&self.max_connections) {
            return Err(ConfigError::invalid(
                "gateway.max_connections",
                "must be between 1 and 1000000",
            ));
        }
        if !(100..=300_000).contains(&self.header_read_timeout_ms) {
            return Err(ConfigError::invalid(
                "gateway.header_read_timeout_ms",
                "must be between 100 and 300000",
            ));
        }
        if !(1..=1_000_000).contains(&self.max_in_flight_per_upstream) {
            return Err(ConfigError::invalid(
                "gateway.max_in_flight_per_upstream",
                "must be between 1 and 1000000",
            ));
        }
        for p in &self.trusted_proxies {
            p.parse::<Cidr>().map_err(|e| {
                ConfigError::invalid("gateway.trusted_proxies", format!("`{p}`: {e}"))
            })?;
        }
        let rl = &self.rate_limit;
        for (key, v) in [
            ("gateway.rate_limit.per_ip_per_minute", rl.per_ip_per_minute),
            (
                "gateway.rate_limit.per_user_per_minute",
                rl.per_user_per_minute,
            ),
            ("gateway.rate_limit.burst", rl.burst),
        ] {
            if v == 0 {
                return Err(ConfigError::invalid(key, "must be at least 1"));
            }
        }
        if rl.per_ip_per_minute > 60_000 || rl.per_user_per_minute > 60_000 {
            return Err(ConfigError::invalid(
                "gateway.rate_limit",
                "at most 60000 requests per minute (one per millisecond) can be expressed",
            ));
        }
        if rl.redis_timeout_ms == 0 {
            return Err(ConfigError::invalid(
                "gateway.rate_limit.redis_timeout_ms",
                "must be at least 1",
            ));
        }
        let ac = &self.answer_cache;
        if ac.max_bytes > 16 << 30 {
            return Err(ConfigError::invalid(
                "gateway.answer_cache.max_bytes",
                "must be at most 17179869184 (16 GiB); 0 turns the cache off",
            ));
        }
        if !(1..=86_400).contains(&ac.ttl_secs) {
            return Err(ConfigError::invalid(
                "gateway.answer_cache.ttl_secs",
                "must be between 1 and 86400",
            ));
        }
        if !(1..=10_000).contains(&ac.redis_timeout_ms) {
            return Err(ConfigError::invalid(
                "gateway.answer_cache.redis_timeout_ms",
                "must be between 1 and 10000",
            ));
        }
        for (name, uri) in self.upstreams.all() {
            check_url(
                &format!("gateway.upstreams.{name}"),
                uri,
                &["http", "https"],
            )?;
        }
        if self.upstreams.timeout_ms == 0 {
            return Err(ConfigError::invalid(
                "gateway.upstreams.timeout_ms",
                "must be at least 1",
            ));
        }
        if let Some(dir) = &self.web_dir
            && !dir.join("index.html").is_file()
        {
            return Err(ConfigError::invalid(
                "gateway.web_dir",
                format!(
                    "`{}` has no index.html: build the shop first (`npm ci && npm run build` in web/)",
                    dir.display()
                ),
            ));
        }
        if self.web_listen.is_some() && self.web_dir.is_none() {
            return Err(ConfigError::invalid(
                "gateway.web_listen",
                "serves the shop, so it needs gateway.web_dir (STOREFRONT_GATEWAY__WEB_DIR) too",
            ));
        }
        Ok(())
    }
}

/// An allowed CORS origin is exactly `scheme://host[:port]`: no path, no wildcard (credentials
/// are allowed, and browsers refuse `*` with credentials).
fn check_origin(origin: &str) -> Result<(), ConfigError> {
    let key = "gateway.cors_origins";
    let u = check_url(key, origin, &["http", "https"])?;
    if u.path() != "/" || u.query().is_some() || origin.ends_with('/') {
        return Err(ConfigError::invalid(
            key,
            format!("`{origin}` must be an origin (scheme://host[:port]) without a path"),
        ));
    }
    if origin.contains('*') {
        return Err(ConfigError::invalid(
            key,
            "wildcards are not allowed; list each origin",
        ));
    }
    if http::HeaderValue::from_str(origin).is_err() {
        return Err(ConfigError::invalid(
            key,
            format!("`{origin}` is not a valid header value"),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_architecture() {
        figment::Jail::expect_with(|_| {
            let c = Config::load().unwrap();
            assert_eq!(c.gateway.listen.port(), 3000);
            assert_eq!(c.gateway.upstreams.inventory, "http://127.0.0.1:3004");
            assert_eq!(c.gateway.upstreams.event, "http://127.0.0.1:3009");
            assert_eq!(c.gateway.body_limit_bytes, 1 << 20);
            Ok(())
        });
    }

    #[test]
    fn env_overrides_and_errors_name_the_setting() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("STOREFRONT_GATEWAY__LISTEN", "0.0.0.0:8080");
            jail.set_env("STOREFRONT_GATEWAY__RATE_LIMIT__PER_IP_PER_MINUTE", "10");
            jail.set_env(
                "STOREFRONT_GATEWAY__CORS_ORIGINS",
                "[https://shop.example.com, http://localhost:5173]",
            );
            let c = Config::load().unwrap();
            assert_eq!(c.gateway.listen.port(), 8080);
            assert_eq!(c.gateway.rate_limit.per_ip_per_minute, 10);
            assert_eq!(c.gateway.cors_origins.len(), 2);
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.set_env(
                "STOREFRONT_GATEWAY__CORS_ORIGINS",
                "[https://shop.example.com/app]",
            );
            let e = Config::load().unwrap_err().to_string();
            assert!(e.contains("STOREFRONT_GATEWAY__CORS_ORIGINS"), "{e}");
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.set_env("STOREFRONT_GATEWAY__TRUSTED_PROXIES", "[10.0.0.0/33]");
            let e = Config::load().unwrap_err().to_string();
            assert!(e.contains("STOREFRONT_GATEWAY__TRUSTED_PROXIES"), "{e}");
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.set_env("STOREFRONT_GATEWAY__RATE_LIMIT__BURST", "0");
            let e = Config::load().unwrap_err().to_string();
            assert!(e.contains("STOREFRONT_GATEWAY__RATE_LIMIT__BURST"), "{e}");
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.set_env("STOREFRONT_GATEWAY__WEB_DIR", "/nonexistent/storefront-web");
            let e = Config::load().unwrap_err().to_string();
            assert!(e.contains("STOREFRONT_GATEWAY__WEB_DIR"), "{e}");
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.set_env("STOREFRONT_GATEWAY__WEB_LISTEN", "127.0.0.1:5173");
            let e = Config::load().unwrap_err().to_string();
            assert!(e.contains("STOREFRONT_GATEWAY__WEB_LISTEN"), "{e}");
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.create_file("index.html", "<!doctype html>")?;
            let dir = jail.directory().to_path_buf();
            jail.set_env("STOREFRONT_GATEWAY__WEB_DIR", dir.display().to_string());
            jail.set_env("STOREFRONT_GATEWAY__WEB_LISTEN", "127.0.0.1:5173");
            let c = Config::load().unwrap();
            assert_eq!(c.gateway.web_dir.as_deref(), Some(dir.as_path()));
            assert_eq!(c.gateway.web_listen.map(|a| a.port()), Some(5173));
            Ok(())
        });
        for (name, value) in [
            ("STOREFRONT_GATEWAY__ANSWER_CACHE__TTL_SECS", "0"),
            ("STOREFRONT_GATEWAY__ANSWER_CACHE__REDIS_TIMEOUT_MS", "0"),
            ("STOREFRONT_GATEWAY__ANSWER_CACHE__MAX_BYTES", "99999999999"),
        ] {
            figment::Jail::expect_with(|jail| {
                jail.set_env(name, value);
                let e = Config::load().unwrap_err().to_string();
                assert!(e.contains(name), "{e}");
                Ok(())
            });
        }
        figment::Jail::expect_with(|jail| {
            jail.set_env("STOREFRONT_GATEWAY__ANSWER_CACHE__MAX_BYTES", "0");
            let c = Config::load().unwrap();
            assert_eq!(c.gateway.answer_cache.max_bytes, 0);
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.set_env("STOREFRONT_GATEWAY__UPSTREAMS__CART", "cart:3005");
            let e = Config::load().unwrap_err().to_string();
            assert!(e.contains("STOREFRONT_GATEWAY__UPSTREAMS__CART"), "{e}");
            Ok(())
        });
    }
}
