//! `GET /api/v1/recommendations`: product cards from the recommendation service. Public: with a
//! bearer token `personalized` uses the token's user, without one it falls back to
//! non-personal sources.

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::get;
use kit::contracts::recommendations::{
    RecommendationKind, RecommendationList, RecommendationQuery, RecommendationSource,
    RecommendedProduct,
};
use utoipa::OpenApi;

use crate::AppState;
use crate::openapi::Problem as ProblemDoc;

/// The recommendation route (public; a token is optional).
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/recommendations", get(get_recommendations))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::answers::per_user,
        ))
}

/// The recommendations part of the OpenAPI document (merged in `crate::openapi`).
#[derive(OpenApi)]
#[openapi(
    paths(get_recommendations),
    components(schemas(RecommendationKind, RecommendationSource, RecommendedProduct, RecommendationList)),
    tags((name = "recommendations", description = "Product recommendations"))
)]
pub struct RecommendationsApiDoc;

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
        (status = 200, description = "Recommended products. Anonymous answers are `Cache-Control: public, max-age=30` and may come from the gateway's answer cache (`X-Cache: hit`) for that long, or until a catalog write; a signed-in user's are `private, no-store` and may come from the gateway's answer cache for that user until the user's next tracked event is applied, a catalog write, or 30 s", body = RecommendationList),
        (status = 304, description = "Not modified: `If-None-Match` named the current `ETag`"),
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
