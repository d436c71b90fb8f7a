//! The recommendation role's settings: `STOREFRONT_RECOMMENDATION__*` on top of the shared ones.

use std::net::SocketAddr;

use kit::config::{Common, ConfigError, Validate, check_url};
use serde::{Deserialize, Serialize};

/// Everything the recommendation role reads at start.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub common: Common,
    pub recommendation: RecommendationSettings,
}

impl Config {
    /// Defaults, overridden by `STOREFRONT_*` (shared) and `STOREFRONT_RECOMMENDATION__*`
    /// variables, validated; errors name the variable.
    pub fn load() -> Result<Self, ConfigError> {
        let (common, recommendation) =
            kit::config::load_role::<RecommendationSettings>("recommendation")?;
        let cfg = Self {
            common,
            recommendation,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.common.validate()?;
        self.recommendation.validate()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct RecommendationSettings {
    /// `GET /api/v1/recommendations` and `/healthz`, `/readyz`, `/metrics`.
    pub listen: SocketAddr,
    /// The product service (gRPC), which hydrates product cards.
    pub product_url: String,
    /// Bound on each product call, milliseconds.
    pub product_timeout_ms: u64,
    /// `limit` when the request has none.
    pub default_limit: u32,
    /// Candidates read per source, as a multiple of `limit` (some are filtered out).
    pub candidate_factor: u32,
}

impl Default for RecommendationSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3008)),
            product_url: "http://127.0.0.1:3003".into(),
            product_timeout_ms: 2_000,
            default_limit: 10,
            candidate_factor: 3,
        }
    }
}

impl Validate for RecommendationSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid =
            |key: &str, msg: &str| Err(ConfigError::invalid(&format!("recommendation.{key}"), msg));
        check_url(
            "recommendation.product_url",
            &self.product_url,
            &["http", "https"],
        )?;
        if self.product_timeout_ms == 0 {
            return invalid("product_timeout_ms", "must be at least 1");
        }
        if !(1..=100).contains(&self.default_limit) {
            return invalid("default_limit", "must be between 1 and 100");
        }
        if !(1..=20).contains(&self.candidate_factor) {
            return invalid("candidate_factor", "must be between 1 and 20");
        }
        Ok(())
    }
}
