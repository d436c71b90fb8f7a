//! The user role's settings: `STOREFRONT_USER__*` on top of the shared ones. Validated before
//! anything binds; errors name the variable.

use std::net::SocketAddr;

use kit::config::{Common, ConfigError, Validate};
use serde::{Deserialize, Serialize};

/// Everything the user role reads at start.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub common: Common,
    pub user: UserSettings,
}

impl Config {
    /// Defaults, overridden by `STOREFRONT_*` and `STOREFRONT_USER__*` variables, validated.
    pub fn load() -> Result<Self, ConfigError> {
        let (common, user) = kit::config::load_role::<UserSettings>("user")?;
        let cfg = Self { common, user };
        cfg.validate()?;
        Ok(cfg)
    }

    /// The database this role uses: `user.database` when set, else `<prefix>user_db`.
    pub fn database_name(&self) -> String {
        match &self.user.database {
            Some(d) if !d.is_empty() => d.clone(),
            _ => kit::db::database_name(&self.common.postgres, "user"),
        }
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.common.validate()?;
        self.user.validate()
    }
}

/// The `user` section.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct UserSettings {
    /// gRPC and HTTP (health, metrics) on one port.
    pub listen: SocketAddr,
    /// Database name override (tests use one each); default `<prefix>user_db`.
    pub database: Option<String>,
    /// Kafka consumer group of the `user.registered` consumer.
    pub consumer_group: String,
    /// Largest avatar accepted, bytes (at most 5 MiB, the API's limit).
    pub avatar_max_bytes: i64,
    /// Seconds a presigned avatar upload URL works.
    pub avatar_upload_ttl_secs: u64,
    /// Seconds a presigned avatar download URL works (at least 600, the API's promise).
    pub avatar_download_ttl_secs: u64,
}

impl Default for UserSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3002)),
            database: None,
            consumer_group: "user".into(),
            avatar_max_bytes: 2 * 1024 * 1024,
            avatar_upload_ttl_secs: 900,
            avatar_download_ttl_secs: 900,
        }
    }
}

impl Validate for UserSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(d) = &self.database
            && !d
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(ConfigError::invalid(
                "user.database",
                "may only hold letters, digits, `_` and `-`",
            ));
        }
        if self.consumer_group.trim().is_empty() {
            return Err(ConfigError::invalid(
                "user.consumer_group",
                "must not be empty",
            ));
        }
        if !(1..=5 * 1024 * 1024).contains(&self.avatar_max_bytes) {
            return Err(ConfigError::invalid(
                "user.avatar_max_bytes",
                "must be between 1 and 5242880",
            ));
        }
        if !(60..=7 * 24 * 3600).contains(&self.avatar_upload_ttl_secs) {
            return Err(ConfigError::invalid(
                "user.avatar_upload_ttl_secs",
                "must be between 60 and 604800",
            ));
        }
        if !(600..=7 * 24 * 3600).contains(&self.avatar_download_ttl_secs) {
            return Err(ConfigError::invalid(
                "user.avatar_download_ttl_secs",
                "must be between 600 and 604800",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail closures return figment's large error
mod tests {
    use super::*;

    #[test]
    fn defaults_load_and_env_overrides() {
        figment::Jail::expect_with(|jail| {
            let c = Config::load().unwrap();
            assert_eq!(c.user.listen.port(), 3002);
            assert_eq!(c.database_name(), "user_db");
            assert_eq!(c.user.consumer_group, "user");
            jail.set_env("STOREFRONT_USER__LISTEN", "127.0.0.1:4002");
            jail.set_env("STOREFRONT_USER__DATABASE", "user_test_1");
            let c = Config::load().unwrap();
            assert_eq!(c.user.listen.port(), 4002);
            assert_eq!(c.database_name(), "user_test_1");
            Ok(())
        });
    }

    #[test]
    fn bad_values_name_the_setting() {
        for (var, value) in [
            ("STOREFRONT_USER__AVATAR_MAX_BYTES", "0"),
            ("STOREFRONT_USER__AVATAR_MAX_BYTES", "99999999"),
            ("STOREFRONT_USER__AVATAR_DOWNLOAD_TTL_SECS", "5"),
            ("STOREFRONT_USER__DATABASE", "x; drop"),
            ("STOREFRONT_USER__LISTEN", "nowhere"),
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
