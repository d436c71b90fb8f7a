//! `GET /api/v1/recommendations`: product cards from the recommendation service. Public: with a
//! bearer token `personalized` uses the token's user, without one it falls back to
//! non-personal sources.

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::product::Money;
use crate::AppState;
use crate::openapi::Problem as ProblemDoc;

/// The recommendation route (public; a token is optional).
pub fn router(_state: &AppState) -> Router<AppState> {
    Router::new().route("/api/v1/recommendations", get(get_recommendations))
}

/// The recommendations part of the OpenAPI document (merged in `crate::openapi`).
#[derive(OpenApi)]
#[openapi(
    paths(get_recommendations),
    components(schemas(RecommendationKind, RecommendationSource, RecommendedProduct, RecommendationList)),
    tags((name = "recommendations", description = "Product recommendations"))
)]
pub struct RecommendationsApiDoc;

/// What to recommend.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
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

/// Which source of the fallback chain an item came from.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecommendationSource {
    Personalized,
    Similar,
    RecentlyViewed,
    Trending,
    Popular,
    Newest,
}

/// Query of `GET /api/v1/recommendations`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct RecommendationQuery {
    /// Default `personalized`. Each kind falls back along personalized -> similar -> similar to
    /// recently viewed -> trending -> popular -> newest products when it has too few items.
    kind: Option<RecommendationKind>,
    /// The product being viewed: never recommended itself; required for `similar`.
    #[param(format = "uuid")]
    product_id: Option<String>,
    /// 1 to 100 items, default 10.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

/// A product card: an active product with stock.
#[derive(Debug, Serialize, ToSchema)]
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
#[derive(Debug, Serialize, ToSchema)]
pub struct RecommendationList {
    pub kind: RecommendationKind,
    pub items: Vec<RecommendedProduct>,
    /// Always null.
    pub next_cursor: Option<String>,
}

/// Recommends products. Archived and out-of-stock products and the product being viewed are
/// never returned; the list may be shorter than `limit` when the catalog has too few products.
#[utoipa::path(
    get,
    path = "/api/v1/recommendations",
    tag = "recommendations",
    operation_id = "getRecommendations",
    params(RecommendationQuery),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Recommended products", body = RecommendationList),
        (status = 400, description = "A query parameter is repeated", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "A bearer token was sent but is not valid", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Bad `kind`, `product_id` or `limit`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 502, description = "The recommendation service is unavailable", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "The catalog is unavailable; retry", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 504, description = "The recommendation service did not answer in time", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn get_recommendations(State(state): State<AppState>, req: Request) -> Response {
    super::forward::forward(
        &state,
        &state.upstreams.recommendation,
        "recommendation",
        req,
    )
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_route_is_documented_with_its_schemas() {
        let v: serde_json::Value = serde_json::from_str(crate::openapi::document()).unwrap();
        let op = &v["paths"]["/api/v1/recommendations"]["get"];
        let names: Vec<&str> = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["kind", "product_id", "limit"]);
        assert!(op["responses"]["200"].is_object());
        for schema in [
            "RecommendationList",
            "RecommendedProduct",
            "RecommendationSource",
        ] {
            assert!(
                v["components"]["schemas"][schema].is_object(),
                "{schema} missing"
            );
        }
    }
}
