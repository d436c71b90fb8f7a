//! The payment role's settings: `STOREFRONT_PAYMENT__*` on top of the shared ones.

use std::net::SocketAddr;

use kit::config::{Common, ConfigError, Validate};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::crypto::TokenCipher;

/// The development key (base64 of `dev-only-payment-key-32-bytes!!!`). Never use it in
/// production: set `STOREFRONT_PAYMENT__ENCRYPTION_KEY`.
pub const DEV_ENCRYPTION_KEY: &str = "ZGV2LW9ubHktcGF5bWVudC1rZXktMzItYnl0ZXMhISE=";

/// Everything the payment role reads at start.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub common: Common,
    pub payment: PaymentSettings,
}

impl Config {
    /// Defaults, overridden by `STOREFRONT_*` (shared) and `STOREFRONT_PAYMENT__*` variables,
    /// validated; errors name the variable.
    pub fn load() -> Result<Self, ConfigError> {
        let (common, payment) = kit::config::load_role::<PaymentSettings>("payment")?;
        let cfg = Self { common, payment };
        cfg.validate()?;
        Ok(cfg)
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.common.validate()?;
        self.payment.validate()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct PaymentSettings {
    /// Where the REST API and `/healthz`, `/readyz`, `/metrics` are served.
    pub listen: SocketAddr,
    /// AES-256-GCM key for provider tokens at rest: 32 bytes in standard base64. The default is
    /// a development key; set your own in production (`openssl rand -base64 32`).
    #[serde(serialize_with = "ser_secret")]
    pub encryption_key: SecretString,
    /// The payment provider; only `sandbox` is built in.
    pub provider: String,
    /// Milliseconds one provider call may take before it counts as a transient failure.
    pub provider_timeout_ms: u64,
    /// First wait after a transient failure; doubles on each retry.
    pub retry_initial_backoff_ms: u64,
    /// Total milliseconds a charge or refund may spend retrying before it is given up
    /// (a charge then fails with `provider_unavailable`).
    pub retry_budget_ms: u64,
    /// Kafka consumer group of the `order-events` consumer.
    pub consumer_group: String,
    /// Polling fallback of the outbox relay (it is also woken by NOTIFY).
    pub relay_poll_interval_ms: u64,
}

fn ser_secret<S: serde::Serializer>(s: &SecretString, ser: S) -> Result<S::Ok, S::Error> {
    // Only defaults are serialised (for figment); configuration is never logged.
    ser.serialize_str(s.expose_secret())
}

impl Default for PaymentSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3007)),
            encryption_key: SecretString::from(DEV_ENCRYPTION_KEY),
            provider: "sandbox".into(),
            provider_timeout_ms: 5_000,
            retry_initial_backoff_ms: 200,
            retry_budget_ms: 20_000,
            consumer_group: "payment".into(),
            relay_poll_interval_ms: 1_000,
        }
    }
}

impl PaymentSettings {
    /// The token cipher of the configured key (validated at start).
    pub fn cipher(&self) -> Result<TokenCipher, ConfigError> {
        TokenCipher::from_base64(self.encryption_key.expose_secret())
            .map_err(|m| ConfigError::invalid("payment.encryption_key", m))
    }

    pub fn uses_dev_key(&self) -> bool {
        self.encryption_key.expose_secret() == DEV_ENCRYPTION_KEY
    }
}

impl Validate for PaymentSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid =
            |key: &str, msg: &str| Err(ConfigError::invalid(&format!("payment.{key}"), msg));
        self.cipher()?;
        if self.provider != "sandbox" {
            return invalid("provider", "must be `sandbox` (the only provider built in)");
        }
        if self.provider_timeout_ms == 0 {
            return invalid("provider_timeout_ms", "must be at least 1");
        }
        if self.retry_initial_backoff_ms == 0 {
            return invalid("retry_initial_backoff_ms", "must be at least 1");
        }
        if self.retry_budget_ms < self.provider_timeout_ms {
            return invalid(
                "retry_budget_ms",
                "must be at least payment.provider_timeout_ms",
            );
        }
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
    fn defaults_are_valid_and_a_bad_key_names_the_setting() {
        PaymentSettings::default().validate().unwrap();
        let s = PaymentSettings {
            encryption_key: SecretString::from("c2hvcnQ="),
            ..PaymentSettings::default()
        };
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("STOREFRONT_PAYMENT__ENCRYPTION_KEY"), "{e}");
        assert!(e.contains("32 bytes"), "{e}");
    }
}
