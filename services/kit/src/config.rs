//! Layered configuration: built-in defaults that work against the local dev stack, overridden by
//! `STOREFRONT_` environment variables (`__` separates nesting levels), validated before any port
//! is bound, with errors that name the setting.
//!
//! Example: `STOREFRONT_POSTGRES__URL=postgres://...` sets `postgres.url`;
//! `STOREFRONT_GATEWAY__LISTEN=0.0.0.0:3000` sets `gateway.listen` in the gateway's config.

use figment::Figment;
use figment::providers::{Env, Serialized};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The environment prefix of every setting.
pub const ENV_PREFIX: &str = "STOREFRONT_";

/// A configuration error that names the setting (as its environment variable) and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid setting {var}: {message}")]
    Invalid { var: String, message: String },
    #[error("configuration: {0}")]
    Parse(String),
}

impl ConfigError {
    /// `key` is the dotted path (`postgres.url`); the message shows its environment variable.
    pub fn invalid(key: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            var: env_var(key),
            message: message.into(),
        }
    }
}

/// `postgres.max_connections` -> `STOREFRONT_POSTGRES__MAX_CONNECTIONS`.
pub fn env_var(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        key.replace('.', "__").to_ascii_uppercase()
    )
}

/// Something that checks its own values after loading.
pub trait Validate {
    fn validate(&self) -> Result<(), ConfigError>;
}

/// Loads `T` from its defaults overridden by `STOREFRONT_*` variables, then validates it. `T`
/// must not use `#[serde(flatten)]` (it hides which setting is wrong); roles use [`load_role`].
pub fn load<T>() -> Result<T, ConfigError>
where
    T: Serialize + DeserializeOwned + Default + Validate,
{
    load_from(Figment::from(Serialized::defaults(T::default())))
}

/// Like [`load`] but starting from given defaults (used by `storefront up` and tests to pick ports).
pub fn load_with_defaults<T>(defaults: &T) -> Result<T, ConfigError>
where
    T: Serialize + DeserializeOwned + Validate,
{
    load_from(Figment::from(Serialized::defaults(defaults)))
}

/// Loads the shared settings alone (tools such as `storefront migrate`).
pub fn load_common() -> Result<Common, ConfigError> {
    load()
}

/// Loads a role's configuration: the shared settings plus the role's own section (`gateway`,
/// `auth`, ...). Both are extracted on their own rather than through `#[serde(flatten)]`, which
/// would hide the name of a badly typed setting. The caller validates the section.
pub fn load_role<S>(section: &str) -> Result<(Common, S), ConfigError>
where
    S: Serialize + DeserializeOwned + Default,
{
    let mut dict = figment::value::Dict::new();
    dict.insert(
        section.to_owned(),
        figment::value::Value::serialize(S::default()).map_err(|e| {
            ConfigError::Parse(format!("defaults of `{section}` do not serialise: {e}"))
        })?,
    );
    let fig = Figment::from(Serialized::defaults(Common::default()))
        .merge(Serialized::defaults(dict))
        .merge(Env::prefixed(ENV_PREFIX).split("__"));
    let common: Common = fig.extract().map_err(located(None))?;
    common.validate()?;
    let own: S = fig.extract_inner(section).map_err(located(Some(section)))?;
    Ok((common, own))
}

fn located(section: Option<&str>) -> impl Fn(figment::Error) -> ConfigError + '_ {
    move |e| {
        let mut parts: Vec<&str> = section.into_iter().collect();
        parts.extend(e.path.iter().map(String::as_str));
        let msg = e.kind.to_string();
        if parts.is_empty() {
            ConfigError::Parse(msg)
        } else {
            ConfigError::invalid(&parts.join("."), msg)
        }
    }
}

fn load_from<T>(base: Figment) -> Result<T, ConfigError>
where
    T: DeserializeOwned + Validate,
{
    let fig = base.merge(Env::prefixed(ENV_PREFIX).split("__"));
    let value: T = fig.extract().map_err(located(None))?;
    value.validate()?;
    Ok(value)
}

/// PostgreSQL server the role connects to. `url` points at the server with admin rights (used to
/// create the role's database if missing); the role's own database name replaces its path.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct PostgresSettings {
    #[serde(serialize_with = "ser_secret")]
    pub url: SecretString,
    pub max_connections: u32,
    /// Seconds to wait for a pooled connection.
    pub acquire_timeout_secs: u64,
    /// Database name prefix (several storefronts on one server); empty by default.
    pub database_prefix: String,
}

impl Default for PostgresSettings {
    fn default() -> Self {
        Self {
            url: SecretString::from("postgres://postgres@127.0.0.1:5432/postgres"),
            max_connections: 10,
            acquire_timeout_secs: 5,
            database_prefix: String::new(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct RedisSettings {
    #[serde(serialize_with = "ser_secret")]
    pub url: SecretString,
    /// Prefix put in front of every key (`<storefront>:`); empty by default.
    pub key_prefix: String,
    /// Milliseconds before a Redis command is given up.
    pub timeout_ms: u64,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: SecretString::from("redis://127.0.0.1:6379"),
            key_prefix: String::new(),
            timeout_ms: 500,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct KafkaSettings {
    /// Comma-separated bootstrap servers.
    pub brokers: String,
    /// Topic name prefix (several storefronts on one cluster); empty by default. Consumer
    /// group ids carry it too.
    pub topic_prefix: String,
    /// Milliseconds a produce may wait for the broker before failing.
    pub message_timeout_ms: u64,
    /// Kafka's idempotent producer (`enable.idempotence`). Off by default: effects are made
    /// exactly once by the outbox and the consumers' inbox, not by the broker, and order per
    /// key is kept with one request in flight per connection; the idempotent path broke the
    /// dev broker (tansu 0.6) when a producer was killed and restarted.
    pub idempotent_producer: bool,
    /// How long the broker may hold a consumer's fetch (`fetch.wait.max.ms`), in milliseconds.
    /// tansu 0.6 holds every fetch for all of it (half of it from 250 ms up), events or not, so
    /// this is also what each hop from producer to consumer costs: lower is faster and makes
    /// more idle fetch requests.
    pub fetch_wait_ms: u64,
    /// The same for the consumers shoppers wait for ([`crate::role::Supervisor::consume_saga`]:
    /// payment's and cart's `order-events`, order's `payment-events`).
    /// Each costs the broker one fetch per wait while idle, and tansu 0.6 with SQLite plans every
    /// query anew for each partition fetched (README Decisions "Topic partitions").
    pub saga_fetch_wait_ms: u64,
    /// Partitions of each topic the platform creates (topics that exist are adopted as they
    /// are). A consumer group reads a partition with one member at a time, so this bounds how
    /// many replicas of a consumer share a topic's work; every partition also costs the broker
    /// work on every fetch (tansu 0.6 plans each partition's queries anew). Unset: 1 under
    /// `storefront up` (every role in one process, so one member per group), 3 otherwise.
    pub partitions: Option<u32>,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            topic_prefix: String::new(),
            message_timeout_ms: 10_000,
            idempotent_producer: false,
            fetch_wait_ms: 500,
            saga_fetch_wait_ms: 20,
            partitions: None,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct S3Settings {
    pub endpoint: String,
    pub region: String,
    pub access_key: String,
    #[serde(serialize_with = "ser_secret")]
    pub secret_key: SecretString,
    /// Bucket name prefix (several storefronts on one store); empty by default.
    pub bucket_prefix: String,
    /// Public base URL for presigned links when clients reach the store by another address.
    pub public_endpoint: Option<String>,
}

impl Default for S3Settings {
    fn default() -> Self {
        Self {
            endpoint: "http://127.0.0.1:9000".into(),
            region: "us-east-1".into(),
            access_key: "storefront".into(),
            secret_key: SecretString::from("storefront-secret"),
            bucket_prefix: String::new(),
            public_endpoint: None,
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human output on a terminal, JSON otherwise.
    Auto,
    Json,
    Pretty,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct TelemetrySettings {
    /// `tracing` filter directive, e.g. `info,storefront_gateway=debug`. `RUST_LOG` wins if set.
    pub log_level: String,
    pub log_format: LogFormat,
    /// OTLP gRPC endpoint (e.g. `http://127.0.0.1:4317`); traces are exported only when set.
    pub otlp_endpoint: Option<String>,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            log_level: "info".into(),
            log_format: LogFormat::Auto,
            otlp_endpoint: None,
        }
    }
}

/// How services verify access tokens.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthSettings {
    /// Where the auth role serves its JWKS.
    pub jwks_url: String,
    /// Expected `iss` claim.
    pub issuer: String,
    /// Seconds a fetched JWKS is trusted before it is fetched again.
    pub jwks_cache_secs: u64,
    /// Clock skew allowed on `exp`/`iat`, seconds.
    pub leeway_secs: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwks_url: "http://127.0.0.1:3001/.well-known/jwks.json".into(),
            issuer: "storefront".into(),
            jwks_cache_secs: 300,
            leeway_secs: 30,
        }
    }
}

/// Settings every role shares.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Common {
    pub postgres: PostgresSettings,
    pub redis: RedisSettings,
    pub kafka: KafkaSettings,
    pub s3: S3Settings,
    pub telemetry: TelemetrySettings,
    pub auth: AuthSettings,
}

impl Validate for Common {
    fn validate(&self) -> Result<(), ConfigError> {
        check_url(
            "postgres.url",
            self.postgres.url.expose_secret(),
            &["postgres", "postgresql"],
        )?;
        if self.postgres.max_connections == 0 || self.postgres.max_connections > 1000 {
            return Err(ConfigError::invalid(
                "postgres.max_connections",
                "must be between 1 and 1000",
            ));
        }
        check_url(
            "redis.url",
            self.redis.url.expose_secret(),
            &["redis", "rediss"],
        )?;
        if self.kafka.brokers.split(',').any(|b| b.trim().is_empty()) {
            return Err(ConfigError::invalid(
                "kafka.brokers",
                "must be a comma-separated list of host:port",
            ));
        }
        for (key, ms) in [
            ("kafka.fetch_wait_ms", self.kafka.fetch_wait_ms),
            ("kafka.saga_fetch_wait_ms", self.kafka.saga_fetch_wait_ms),
        ] {
            if !(1..=10_000).contains(&ms) {
                return Err(ConfigError::invalid(
                    key,
                    "must be between 1 and 10000 (milliseconds)",
                ));
            }
        }
        if let Some(n) = self.kafka.partitions
            && !(1..=1000).contains(&n)
        {
            return Err(ConfigError::invalid(
                "kafka.partitions",
                "must be between 1 and 1000",
            ));
        }
        check_url("s3.endpoint", &self.s3.endpoint, &["http", "https"])?;
        if let Some(p) = &self.s3.public_endpoint {
            check_url("s3.public_endpoint", p, &["http", "https"])?;
        }
        check_url("auth.jwks_url", &self.auth.jwks_url, &["http", "https"])?;
        if let Some(o) = &self.telemetry.otlp_endpoint {
            check_url("telemetry.otlp_endpoint", o, &["http", "https"])?;
        }
        if tracing_subscriber::EnvFilter::try_new(&self.telemetry.log_level).is_err() {
            return Err(ConfigError::invalid(
                "telemetry.log_level",
                "is not a valid filter (e.g. `info` or `warn,storefront_gateway=debug`)",
            ));
        }
        Ok(())
    }
}

/// Checks that `value` parses as a URL with one of `schemes`.
pub fn check_url(key: &str, value: &str, schemes: &[&str]) -> Result<url::Url, ConfigError> {
    let u = url::Url::parse(value).map_err(|e| {
        ConfigError::invalid(
            key,
            format!("is not a URL ({e}); expected {}://...", schemes[0]),
        )
    })?;
    if !schemes.contains(&u.scheme()) {
        return Err(ConfigError::invalid(
            key,
            format!("scheme must be one of {schemes:?}, got `{}`", u.scheme()),
        ));
    }
    Ok(u)
}

fn ser_secret<S: serde::Serializer>(s: &SecretString, ser: S) -> Result<S::Ok, S::Error> {
    // Defaults must round-trip through figment; the secret never reaches logs because
    // configuration is never logged with `Serialize`.
    ser.serialize_str(s.expose_secret())
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail closures return figment's large error
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(default)]
    struct Section {
        listen: SocketAddr,
        workers: u32,
    }

    impl Default for Section {
        fn default() -> Self {
            Self {
                listen: "127.0.0.1:3000".parse().unwrap(),
                workers: 4,
            }
        }
    }

    #[test]
    fn defaults_are_valid() {
        figment::Jail::expect_with(|_| {
            let (c, s) = load_role::<Section>("role").unwrap();
            assert_eq!(c.kafka.brokers, "127.0.0.1:9092");
            assert_eq!(s.listen.port(), 3000);
            Ok(())
        });
    }

    #[test]
    fn env_overrides_nested_settings() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("STOREFRONT_KAFKA__BROKERS", "k1:9092,k2:9092");
            jail.set_env("STOREFRONT_POSTGRES__MAX_CONNECTIONS", "42");
            jail.set_env("STOREFRONT_ROLE__LISTEN", "127.0.0.1:4000");
            let (c, s) = load_role::<Section>("role").unwrap();
            assert_eq!(c.kafka.brokers, "k1:9092,k2:9092");
            assert_eq!(c.postgres.max_connections, 42);
            assert_eq!(s.listen.port(), 4000);
            assert_eq!(s.workers, 4);
            assert_eq!(c.kafka.partitions, None);
            jail.set_env("STOREFRONT_KAFKA__PARTITIONS", "6");
            let (c, _) = load_role::<Section>("role").unwrap();
            assert_eq!(c.kafka.partitions, Some(6));
            Ok(())
        });
    }

    #[test]
    fn bad_values_name_the_setting() {
        let cases = [
            ("STOREFRONT_POSTGRES__MAX_CONNECTIONS", "lots", ""),
            ("STOREFRONT_POSTGRES__MAX_CONNECTIONS", "0", "between"),
            ("STOREFRONT_REDIS__URL", "http://nope", "scheme"),
            ("STOREFRONT_ROLE__LISTEN", "somewhere", ""),
            ("STOREFRONT_ROLE__WORKERS", "-1", ""),
            ("STOREFRONT_TELEMETRY__LOG_FORMAT", "xml", ""),
            ("STOREFRONT_KAFKA__FETCH_WAIT_MS", "0", "between 1"),
            ("STOREFRONT_KAFKA__SAGA_FETCH_WAIT_MS", "60000", "between 1"),
            ("STOREFRONT_KAFKA__PARTITIONS", "0", "between 1"),
            ("STOREFRONT_KAFKA__PARTITIONS", "3000", "between 1"),
            ("STOREFRONT_KAFKA__PARTITIONS", "-2", ""),
        ];
        for (var, value, words) in cases {
            figment::Jail::expect_with(|jail| {
                jail.set_env(var, value);
                let e = load_role::<Section>("role").unwrap_err().to_string();
                assert!(e.contains(var), "{var}={value}: {e}");
                assert!(e.contains(words), "{var}={value}: {e}");
                Ok(())
            });
        }
    }
}
