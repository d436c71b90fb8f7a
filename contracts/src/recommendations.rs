//! The recommendation service's HTTP contract (issue #12). The recommendation service answers
//! these types; the gateway documents them.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::money::Money;

/// What to recommend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecommendationKind {
    /// For the signed-in user (from their recent items' neighbours, without what they bought).
    Personalized,
    /// Products bought or viewed together with `product_id`.
    Similar,
    /// Most interest recently (time-decayed).
    Trending,
    /// Most interest overall (purchases and views, weighted).
    Popular,
}

impl RecommendationKind {
    pub const ALL: [Self; 4] = [
        Self::Personalized,
        Self::Similar,
        Self::Trending,
        Self::Popular,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Personalized => "personalized",
            Self::Similar => "similar",
            Self::Trending => "trending",
            Self::Popular => "popular",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Which source of the fallback chain an item came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecommendationSource {
    Personalized,
    Similar,
    RecentlyViewed,
    Trending,
    Popular,
    Newest,
}

/// Query of `GET /api/v1/recommendations`. The service reads the raw strings so that every bad
/// parameter is a 422 naming it.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecommendationQuery {
    /// Default `personalized`. Each kind falls back along personalized -> similar -> similar to
    /// recently viewed -> trending -> popular -> newest products when it has too few items.
    #[param(value_type = Option<RecommendationKind>)]
    pub kind: Option<String>,
    /// The product being viewed: never recommended itself; required for `similar`.
    #[param(value_type = Option<uuid::Uuid>)]
    pub product_id: Option<String>,
    /// 1 to 100 items, default 10.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// A product card: an active product with stock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": "0192e4a0-7b1c-7def-8abc-0123456789aa", "slug": "trail-running-shoe", "name": "Trail Running Shoe", "brand": "Acme", "image_url": null, "price": {"amount": 8999, "currency": "EUR"}, "in_stock": true, "score": 0.82, "source": "personalized"}))]
pub struct RecommendedProduct {
    #[schema(format = "uuid")]
    pub id: String,
    pub slug: String,
    pub name: String,
    /// Empty when none.
    pub brand: String,
    /// The primary image; null when the product has none.
    pub image_url: Option<String>,
    /// Lowest variant price.
    pub price: Option<Money>,
    /// Always true: out-of-stock products are never recommended.
    pub in_stock: bool,
    /// The model's score (higher is better); null for the `newest` fallback.
    pub score: Option<f64>,
    pub source: RecommendationSource,
}

/// Recommended products, best first (one page).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RecommendationList {
    pub kind: RecommendationKind,
    pub items: Vec<RecommendedProduct>,
    /// Always null: recommendations are one page.
    pub next_cursor: Option<String>,
}
