//! The recommender role's settings: `STOREFRONT_RECOMMENDER__*` on top of the shared ones.

use std::net::SocketAddr;

use kit::config::{Common, ConfigError, Validate};
use serde::{Deserialize, Serialize};

/// Everything the recommender role reads at start.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub common: Common,
    pub recommender: RecommenderSettings,
}

impl Config {
    /// Defaults, overridden by `STOREFRONT_*` (shared) and `STOREFRONT_RECOMMENDER__*`
    /// variables, validated; errors name the variable.
    pub fn load() -> Result<Self, ConfigError> {
        let (common, recommender) = kit::config::load_role::<RecommenderSettings>("recommender")?;
        let cfg = Self {
            common,
            recommender,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.common.validate()?;
        self.recommender.validate()
    }
}

/// Model settings. Every sorted set the recommender writes is trimmed to its length here.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct RecommenderSettings {
    /// `/healthz`, `/readyz`, `/metrics`.
    pub listen: SocketAddr,
    /// Kafka consumer group of the tracking-topic consumer.
    pub consumer_group: String,
    /// Items kept per visitor in their recent-items list (the "session" co-occurrence uses).
    pub recent_len: u32,
    /// Entries kept in each `rec:product:{id}:similar`.
    pub similar_len: u32,
    /// Raw co-occurrence counts kept per product.
    pub cooccurrence_len: u32,
    /// Entries kept in `rec:popular`.
    pub popular_len: u32,
    /// Entries kept in `rec:trending`.
    pub trending_len: u32,
    /// Entries kept in each `rec:user:{id}:personalized`.
    pub personalized_len: u32,
    /// Half-life of a signal in `rec:trending`, seconds.
    pub trending_half_life_secs: u64,
    /// How long per-user keys live after the user's last event, seconds.
    pub user_ttl_secs: u64,
    /// Neighbours read per recent item when building personalized lists.
    pub neighbours: u32,
    /// Recent items a personalized list is built from.
    pub personalized_sources: u32,
}

impl Default for RecommenderSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3011)),
            consumer_group: "recommender".into(),
            recent_len: 20,
            similar_len: 50,
            cooccurrence_len: 200,
            popular_len: 1000,
            trending_len: 500,
            personalized_len: 50,
            trending_half_life_secs: 6 * 3600,
            user_ttl_secs: 30 * 24 * 3600,
            neighbours: 20,
            personalized_sources: 10,
        }
    }
}

impl Validate for RecommenderSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid =
            |key: &str, msg: &str| Err(ConfigError::invalid(&format!("recommender.{key}"), msg));
        if self.consumer_group.trim().is_empty() {
            return invalid("consumer_group", "must not be empty");
        }
        for (key, v) in [
            ("recent_len", self.recent_len),
            ("similar_len", self.similar_len),
            ("cooccurrence_len", self.cooccurrence_len),
            ("popular_len", self.popular_len),
            ("trending_len", self.trending_len),
            ("personalized_len", self.personalized_len),
            ("neighbours", self.neighbours),
            ("personalized_sources", self.personalized_sources),
        ] {
            if !(1..=100_000).contains(&v) {
                return invalid(key, "must be between 1 and 100000");
            }
        }
        if self.personalized_sources > self.recent_len {
            return invalid(
                "personalized_sources",
                "must not exceed recommender.recent_len",
            );
        }
        if u64::from(self.neighbours) * u64::from(self.personalized_sources) > 2_000 {
            return invalid(
                "neighbours",
                "times recommender.personalized_sources must be at most 2000",
            );
        }
        if self.trending_half_life_secs < 60 {
            return invalid("trending_half_life_secs", "must be at least 60");
        }
        if self.user_ttl_secs < 60 {
            return invalid("user_ttl_secs", "must be at least 60");
        }
        Ok(())
    }
}
