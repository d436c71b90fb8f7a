//! The auth role's settings: `STOREFRONT_AUTH__*` on top of the shared ones. Validated before
//! anything binds; errors name the variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use kit::config::{Common, ConfigError, Validate};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Everything the auth role reads at start.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub common: Common,
    pub auth: AuthSettings,
}

impl Config {
    /// Defaults, overridden by `STOREFRONT_*` and `STOREFRONT_AUTH__*` variables, validated.
    pub fn load() -> Result<Self, ConfigError> {
        let (common, auth) = kit::config::load_role::<AuthSettings>("auth")?;
        let cfg = Self { common, auth };
        cfg.validate()?;
        Ok(cfg)
    }

    /// The database this role uses: `auth.database` when set, else `<prefix>auth_db`.
    pub fn database_name(&self) -> String {
        match &self.auth.database {
            Some(d) if !d.is_empty() => d.clone(),
            _ => kit::db::database_name(&self.common.postgres, "auth"),
        }
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.common.validate()?;
        self.auth.validate()
    }
}

/// The `auth` section. Shares `auth.issuer` with the verifiers of the other roles
/// (`kit::config::AuthSettings`), so one variable sets both.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthSettings {
    /// gRPC and HTTP (JWKS, health, metrics) on one port.
    pub listen: SocketAddr,
    /// `iss` of issued tokens.
    pub issuer: String,
    /// Access token lifetime, seconds.
    pub access_token_ttl_secs: u64,
    /// Refresh token lifetime, seconds (each rotation starts a new lifetime).
    pub refresh_token_ttl_secs: u64,
    /// Database name override (tests use one each); default `<prefix>auth_db`.
    pub database: Option<String>,
    /// `Cache-Control: max-age` of the JWKS, seconds.
    pub jwks_max_age_secs: u64,
    pub keys: KeySettings,
    pub argon2: Argon2Settings,
    pub throttle: ThrottleSettings,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3001)),
            issuer: "storefront".into(),
            access_token_ttl_secs: 900,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            database: None,
            jwks_max_age_secs: 300,
            keys: KeySettings::default(),
            argon2: Argon2Settings::default(),
            throttle: ThrottleSettings::default(),
        }
    }
}

/// A private key given inline: `{kid = "2026-01", pem = "-----BEGIN PRIVATE KEY-----..."}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InlineKey {
    pub kid: String,
    #[serde(serialize_with = "ser_secret")]
    pub pem: SecretString,
}

/// Signing keys (Ed25519, PKCS#8 PEM). Every configured key is published in the JWKS; the active
/// one signs. Rotate by adding a key, making it active, and removing the old one once the tokens
/// it signed have expired (access token lifetime plus leeway).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct KeySettings {
    /// Keys given inline (secrets mounted as env), listed before the file's keys.
    pub inline: Vec<InlineKey>,
    /// A file with one or more PEM private keys; each key's kid is its RFC 7638 thumbprint.
    pub file: Option<PathBuf>,
    /// The kid that signs; default: the last key listed (so appending a key rotates).
    pub active_kid: Option<String>,
    /// When no key is configured: generate one into `generated_file` (or reuse it) so that
    /// restarts of a development setup keep sessions. Switch off in production.
    pub generate: bool,
    pub generated_file: PathBuf,
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            inline: Vec::new(),
            file: None,
            active_kid: None,
            generate: true,
            generated_file: PathBuf::from(".storefront/auth/signing-keys.pem"),
        }
    }
}

/// argon2id cost. Below the OWASP minimum (m=19456 KiB, t=2, p=1) is refused.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// Hashes that run at once (each holds `memory_kib`); 0: one per core.
    pub workers: usize,
    /// Hash requests that may wait for a worker; more are answered 503 with `Retry-After`.
    pub queue: usize,
    /// How long a request waits for a worker before it is answered 503, milliseconds.
    pub queue_timeout_ms: u64,
}

impl Default for Argon2Settings {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            workers: 0,
            queue: 64,
            queue_timeout_ms: 2_000,
        }
    }
}

/// Brute-force limits, counted in Redis per fixed window (`ratelimit:login:...`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct ThrottleSettings {
    pub enabled: bool,
    /// Failed logins (and wrong current passwords) per account per window.
    pub login_failures_per_account: u32,
    /// Failed logins per client ip per window.
    pub login_failures_per_ip: u32,
    pub login_window_secs: u64,
    /// Registrations per client ip per window.
    pub registrations_per_ip: u32,
    pub registration_window_secs: u64,
    /// Refreshes per client ip per minute.
    pub refreshes_per_ip_per_minute: u32,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            login_failures_per_account: 10,
            login_failures_per_ip: 100,
            login_window_secs: 900,
            registrations_per_ip: 30,
            registration_window_secs: 3600,
            refreshes_per_ip_per_minute: 120,
        }
    }
}

impl Validate for AuthSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.issuer.trim().is_empty() {
            return Err(ConfigError::invalid("auth.issuer", "must not be empty"));
        }
        if !(60..=3600).contains(&self.access_token_ttl_secs) {
            return Err(ConfigError::invalid(
                "auth.access_token_ttl_secs",
                "must be between 60 and 3600",
            ));
        }
        if self.refresh_token_ttl_secs < self.access_token_ttl_secs
            || self.refresh_token_ttl_secs > 365 * 24 * 3600
        {
            return Err(ConfigError::invalid(
                "auth.refresh_token_ttl_secs",
                "must be at least the access token lifetime and at most a year",
            ));
        }
        if let Some(d) = &self.database
            && !d
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(ConfigError::invalid(
                "auth.database",
                "may only hold letters, digits, `_` and `-`",
            ));
        }
        if self.jwks_max_age_secs == 0 || self.jwks_max_age_secs > 3600 {
            return Err(ConfigError::invalid(
                "auth.jwks_max_age_secs",
                "must be between 1 and 3600 (shorter than the rotation overlap)",
            ));
        }
        let a = &self.argon2;
        if a.memory_kib < 19_456 || a.memory_kib > 4 * 1024 * 1024 {
            return Err(ConfigError::invalid(
                "auth.argon2.memory_kib",
                "must be at least 19456 (OWASP minimum) and at most 4194304",
            ));
        }
        if a.iterations < 2 || a.iterations > 64 {
            return Err(ConfigError::invalid(
                "auth.argon2.iterations",
                "must be between 2 and 64",
            ));
        }
        if a.parallelism < 1 || a.parallelism > 64 {
            return Err(ConfigError::invalid(
                "auth.argon2.parallelism",
                "must be between 1 and 64",
            ));
        }
        if a.workers > 256 {
            return Err(ConfigError::invalid(
                "auth.argon2.workers",
                "must be between 0 (one per core) and 256",
            ));
        }
        if a.queue > 100_000 {
            return Err(ConfigError::invalid(
                "auth.argon2.queue",
                "must be at most 100000",
            ));
        }
        if !(10..=60_000).contains(&a.queue_timeout_ms) {
            return Err(ConfigError::invalid(
                "auth.argon2.queue_timeout_ms",
                "must be between 10 and 60000",
            ));
        }
        let t = &self.throttle;
        for (key, v) in [
            (
                "auth.throttle.login_failures_per_account",
                t.login_failures_per_account,
            ),
            (
                "auth.throttle.login_failures_per_ip",
                t.login_failures_per_ip,
            ),
            ("auth.throttle.registrations_per_ip", t.registrations_per_ip),
            (
                "auth.throttle.refreshes_per_ip_per_minute",
                t.refreshes_per_ip_per_minute,
            ),
        ] {
            if v == 0 {
                return Err(ConfigError::invalid(key, "must be at least 1"));
            }
        }
        for (key, v) in [
            ("auth.throttle.login_window_secs", t.login_window_secs),
            (
                "auth.throttle.registration_window_secs",
                t.registration_window_secs,
            ),
        ] {
            if v == 0 || v > 24 * 3600 {
                return Err(ConfigError::invalid(key, "must be between 1 and 86400"));
            }
        }
        for (i, k) in self.keys.inline.iter().enumerate() {
            if k.kid.is_empty() || k.kid.len() > 64 {
                return Err(ConfigError::invalid(
                    &format!("auth.keys.inline.{i}.kid"),
                    "must be 1 to 64 characters",
                ));
            }
        }
        Ok(())
    }
}

fn ser_secret<S: serde::Serializer>(s: &SecretString, ser: S) -> Result<S::Ok, S::Error> {
    use secrecy::ExposeSecret;
    ser.serialize_str(s.expose_secret())
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail closures return figment's large error
mod tests {
    use super::*;

    #[test]
    fn defaults_load_and_env_overrides() {
        figment::Jail::expect_with(|jail| {
            let c = Config::load().unwrap();
            assert_eq!(c.auth.listen.port(), 3001);
            assert_eq!(c.auth.access_token_ttl_secs, 900);
            assert_eq!(c.database_name(), "auth_db");
            jail.set_env("STOREFRONT_AUTH__ACCESS_TOKEN_TTL_SECS", "600");
            jail.set_env("STOREFRONT_AUTH__DATABASE", "auth_test_1");
            jail.set_env("STOREFRONT_AUTH__ARGON2__ITERATIONS", "3");
            let c = Config::load().unwrap();
            assert_eq!(c.auth.access_token_ttl_secs, 600);
            assert_eq!(c.database_name(), "auth_test_1");
            assert_eq!(c.auth.argon2.iterations, 3);
            Ok(())
        });
    }

    #[test]
    fn inline_keys_come_from_the_environment() {
        let pem = crate::keys::generate_pem().replace('\n', "\\n");
        figment::Jail::expect_with(|jail| {
            jail.set_env(
                "STOREFRONT_AUTH__KEYS__INLINE",
                format!(r#"[{{kid="2026-01", pem="{pem}"}}]"#),
            );
            jail.set_env("STOREFRONT_AUTH__KEYS__ACTIVE_KID", "2026-01");
            let c = Config::load().unwrap();
            let ring = crate::keys::KeyRing::load(&c.auth.keys).unwrap();
            assert_eq!(ring.active().kid, "2026-01");
            Ok(())
        });
    }

    #[test]
    fn weak_argon2_and_bad_values_name_the_setting() {
        for (var, value) in [
            ("STOREFRONT_AUTH__ARGON2__MEMORY_KIB", "4096"),
            ("STOREFRONT_AUTH__ARGON2__ITERATIONS", "1"),
            ("STOREFRONT_AUTH__ACCESS_TOKEN_TTL_SECS", "0"),
            ("STOREFRONT_AUTH__THROTTLE__LOGIN_FAILURES_PER_ACCOUNT", "0"),
            ("STOREFRONT_AUTH__LISTEN", "nowhere"),
        ] {
            figment::Jail::expect_with(|jail| {
                jail.set_env(var, value);
                let e = Config::load().unwrap_err().to_string();
                assert!(e.contains(var), "{var}={value}: {e}");
                Ok(())
            });
        }
    }
}
