//! The notification role's settings: `STOREFRONT_NOTIFICATION__*` (SMTP under
//! `STOREFRONT_NOTIFICATION__SMTP__*`) on top of the shared ones.

use std::net::SocketAddr;

use kit::config::{Common, ConfigError, Validate};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Everything the notification role reads at start.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub common: Common,
    pub notification: NotificationSettings,
}

impl Config {
    pub fn load() -> Result<Self, ConfigError> {
        let (common, notification) =
            kit::config::load_role::<NotificationSettings>("notification")?;
        let cfg = Self {
            common,
            notification,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.common.validate()?;
        self.notification.validate()
    }
}

/// The SMTP server mail is handed to (plain SMTP; the dev stack's sink listens on 1025).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// Empty: no authentication.
    pub username: String,
    #[serde(serialize_with = "ser_secret")]
    pub password: SecretString,
    /// Milliseconds for connecting and for each SMTP command.
    pub timeout_ms: u64,
    /// The name sent in EHLO.
    pub hello_name: String,
}

fn ser_secret<S: serde::Serializer>(s: &SecretString, ser: S) -> Result<S::Ok, S::Error> {
    // Only defaults are serialised (for figment); configuration is never logged.
    ser.serialize_str(s.expose_secret())
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 1025,
            username: String::new(),
            password: SecretString::from(""),
            timeout_ms: 10_000,
            hello_name: "storefront.local".into(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct NotificationSettings {
    /// Where `/healthz`, `/readyz` and `/metrics` are served.
    pub listen: SocketAddr,
    pub smtp: SmtpSettings,
    /// The sender of every e-mail (`Name <address>`).
    pub from: String,
    /// The domain of Message-IDs (`<event id>@domain`).
    pub message_id_domain: String,
    /// The shop's name in subjects and greetings.
    pub shop_name: String,
    /// Kafka consumer group of the order and payment events consumer; the `user-events`
    /// consumer uses this name plus `.recipients`.
    pub consumer_group: String,
    /// Sender loops sending in parallel (each claims its own e-mails).
    pub senders: usize,
    /// How often the sender looks for due e-mails when nothing woke it.
    pub poll_interval_ms: u64,
    /// First wait after a failed SMTP attempt; doubles each time up to `retry_max_backoff_ms`.
    pub retry_initial_backoff_ms: u64,
    pub retry_max_backoff_ms: u64,
    /// SMTP attempts before an e-mail is given up (`failed`).
    pub max_attempts: i32,
    /// Wait before trying again an e-mail whose recipient is not known yet.
    pub recipient_retry_ms: u64,
    /// An e-mail still `sending` this long after it was claimed was interrupted (a crash): it is
    /// marked `unknown` and not sent again.
    pub stale_sending_secs: u64,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3010)),
            smtp: SmtpSettings::default(),
            from: "Storefront <orders@storefront.local>".into(),
            message_id_domain: "storefront.local".into(),
            shop_name: "Storefront".into(),
            consumer_group: "notification".into(),
            senders: 4,
            poll_interval_ms: 1_000,
            retry_initial_backoff_ms: 1_000,
            retry_max_backoff_ms: 300_000,
            max_attempts: 10,
            recipient_retry_ms: 2_000,
            stale_sending_secs: 300,
        }
    }
}

impl NotificationSettings {
    pub fn from_mailbox(&self) -> Result<lettre::message::Mailbox, ConfigError> {
        self.from.parse().map_err(|e| {
            ConfigError::invalid(
                "notification.from",
                format!("is not a mailbox ({e}); e.g. `Shop <orders@example.com>`"),
            )
        })
    }
}

impl Validate for NotificationSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid =
            |key: &str, msg: &str| Err(ConfigError::invalid(&format!("notification.{key}"), msg));
        self.from_mailbox()?;
        if self.smtp.host.trim().is_empty() {
            return invalid("smtp.host", "must not be empty");
        }
        if self.smtp.port == 0 {
            return invalid("smtp.port", "must be a port number");
        }
        if self.smtp.timeout_ms == 0 {
            return invalid("smtp.timeout_ms", "must be at least 1");
        }
        if !self.smtp.username.is_empty() && self.smtp.password.expose_secret().is_empty() {
            return invalid("smtp.password", "must be set when smtp.username is");
        }
        if self.message_id_domain.is_empty()
            || !self
                .message_id_domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        {
            return invalid("message_id_domain", "must be a domain name");
        }
        if self.consumer_group.trim().is_empty() {
            return invalid("consumer_group", "must not be empty");
        }
        if self.poll_interval_ms == 0
            || self.retry_initial_backoff_ms == 0
            || self.recipient_retry_ms == 0
        {
            return invalid("poll_interval_ms", "intervals must be at least 1 ms");
        }
        if self.retry_max_backoff_ms < self.retry_initial_backoff_ms {
            return invalid(
                "retry_max_backoff_ms",
                "must not be below notification.retry_initial_backoff_ms",
            );
        }
        if !(1..=64).contains(&self.senders) {
            return invalid("senders", "must be between 1 and 64");
        }
        if self.max_attempts < 1 {
            return invalid("max_attempts", "must be at least 1");
        }
        if self.stale_sending_secs * 1000 <= self.smtp.timeout_ms * 4 {
            return invalid(
                "stale_sending_secs",
                "must be well above the longest SMTP session (4 x smtp.timeout_ms)",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_name_the_setting() {
        NotificationSettings::default().validate().unwrap();
        let s = NotificationSettings {
            from: "not a mailbox".into(),
            ..Default::default()
        };
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("STOREFRONT_NOTIFICATION__FROM"), "{e}");
        let mut s = NotificationSettings::default();
        s.smtp.port = 0;
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("STOREFRONT_NOTIFICATION__SMTP__PORT"), "{e}");
    }
}
