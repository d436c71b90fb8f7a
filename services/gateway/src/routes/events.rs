//! `POST /api/v1/events`: a batch of tracking events, forwarded to the event service (which
//! validates each event, enriches, publishes and stores them). Public: with a bearer token the
//! events belong to the token's user, without one to an anonymous visitor id.

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::post;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::AppState;
use crate::openapi::{FieldError, Problem as ProblemDoc};

/// The tracking route (public; a token is optional).
pub fn router(_state: &AppState) -> Router<AppState> {
    Router::new().route("/api/v1/events", post(post_events))
}

/// The events part of the OpenAPI document (merged in `crate::openapi`).
#[derive(OpenApi)]
#[openapi(
    paths(post_events),
    components(schemas(EventBatch, TrackingEvent, TrackingEventType, EventBatchResult, RejectedEvent)),
    tags((name = "events", description = "Tracking events for analytics and recommendations"))
)]
pub struct EventsApiDoc;

/// What a tracking event reports. Published as CloudEvents `product.viewed`, `product.clicked`,
/// `search.performed`, `cart.item_added`, `cart.item_removed` and `wishlist.item_added`.
/// Purchases are recorded by the platform when an order is paid and cannot be sent.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TrackingEventType {
    ProductViewed,
    ProductClicked,
    SearchPerformed,
    CartItemAdded,
    CartItemRemoved,
    WishlistAdded,
}

/// One tracking event. Fields by type (others are refused): `product_viewed`: `product_id`
/// (required), `sku`; `product_clicked`: `product_id` (required), `list`, `position`;
/// `search_performed`: `query` (required), `results_count`; `cart_item_added` and
/// `cart_item_removed`: `product_id`, `sku`, `quantity` (all required); `wishlist_added`:
/// `product_id` (required). Every type may carry `occurred_at`, `session_id` and `properties`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"type": "product_viewed", "product_id": "0192e4a0-7b1c-7def-8abc-0123456789aa", "occurred_at": "2026-01-31T10:15:00Z", "session_id": "s-7f3a"}))]
pub struct TrackingEvent {
    #[serde(rename = "type")]
    pub event_type: TrackingEventType,
    /// The product concerned (UUID).
    #[schema(format = "uuid")]
    pub product_id: Option<String>,
    /// 1 to 64 letters, digits, `-`, `_` and `.`.
    #[schema(example = "TS-RED-42")]
    pub sku: Option<String>,
    /// Units, 1 to 1000.
    #[schema(minimum = 1, maximum = 1000)]
    pub quantity: Option<i64>,
    /// Search text, 1 to 256 characters.
    #[schema(example = "trail shoe")]
    pub query: Option<String>,
    /// Hits the search returned.
    #[schema(minimum = 0)]
    pub results_count: Option<i64>,
    /// The list the product was clicked in (`search`, `recommendations`, ...), 1 to 64 characters.
    pub list: Option<String>,
    /// 0-based position in that list, at most 10000.
    #[schema(minimum = 0, maximum = 10000)]
    pub position: Option<i64>,
    /// Client time, RFC 3339; at most 5 minutes ahead and 7 days old. Defaults to the time the
    /// server received it.
    #[schema(format = "date-time")]
    pub occurred_at: Option<String>,
    /// 1 to 128 of `[A-Za-z0-9._:-]`; defaults to the batch's `session_id`.
    pub session_id: Option<String>,
    /// Free-form data, at most 2048 bytes of JSON.
    #[schema(value_type = Option<Object>)]
    pub properties: Option<serde_json::Value>,
}

/// A batch of 1 to 500 tracking events.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventBatch {
    #[schema(min_items = 1, max_items = 500)]
    pub events: Vec<TrackingEvent>,
    /// The visitor's id when not signed in (1 to 128 of `[A-Za-z0-9._:-]`); the service makes
    /// one up and returns it when absent, to be sent with later batches.
    pub anonymous_id: Option<String>,
    /// Default session id of events that carry none.
    pub session_id: Option<String>,
}

/// Why one event of a batch was refused.
#[derive(Serialize, ToSchema)]
pub struct RejectedEvent {
    /// Its 0-based index in `events`.
    pub index: usize,
    /// Its invalid fields (relative to the event).
    pub errors: Vec<FieldError>,
}

/// The answer to a batch: valid events were recorded, invalid ones are listed.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"accepted": 2, "rejected": [{"index": 1, "errors": [{"field": "product_id", "message": "is required"}]}], "anonymous_id": "0192e4a0-7b1c-7def-8abc-0123456789ff"}))]
pub struct EventBatchResult {
    /// Events recorded (published and stored).
    pub accepted: usize,
    pub rejected: Vec<RejectedEvent>,
    /// The anonymous id the events were recorded under; null for a signed-in caller that sent none.
    pub anonymous_id: Option<String>,
}

/// Records a batch of tracking events. Each event is checked on its own: invalid ones are listed
/// by index in `rejected` while the valid ones are recorded (202). When none is valid the answer
/// is 422 with the fields named `events[i].field`. A busy event pipeline answers 429 with
/// `Retry-After`: send the same batch again later.
#[utoipa::path(
    post,
    path = "/api/v1/events",
    tag = "events",
    operation_id = "trackEvents",
    request_body = EventBatch,
    security((), ("bearer" = [])),
    responses(
        (status = 202, description = "The valid events were recorded", body = EventBatchResult),
        (status = 400, description = "The body is not JSON", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "A bearer token was sent but is not valid", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "No valid event, an empty or too large batch, or a bad `anonymous_id`/`session_id`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited, or the event pipeline is busy", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 502, description = "The event service is unavailable", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "The events could not be recorded now; retry", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 504, description = "The event service did not answer in time", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn post_events(State(state): State<AppState>, req: Request) -> Response {
    super::forward::forward(&state, &state.upstreams.event, "event", req).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_route_is_documented_with_its_schemas() {
        let v: serde_json::Value = serde_json::from_str(crate::openapi::document()).unwrap();
        let op = &v["paths"]["/api/v1/events"]["post"];
        assert!(op["requestBody"].is_object(), "{op}");
        for code in ["202", "422", "429"] {
            assert!(op["responses"][code].is_object(), "{code}");
        }
        for schema in [
            "EventBatch",
            "TrackingEvent",
            "EventBatchResult",
            "RejectedEvent",
        ] {
            assert!(
                v["components"]["schemas"][schema].is_object(),
                "{schema} missing"
            );
        }
    }
}
