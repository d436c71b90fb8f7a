//! `POST /api/v1/events`: a batch of tracking events, forwarded to the event service (which
//! validates each event, enriches, publishes and stores them). Public: with a bearer token the
//! events belong to the token's user, without one to an anonymous visitor id.

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::post;
use kit::contracts::track::{
    EventBatch, EventBatchResult, RejectedEvent, TrackingEvent, TrackingEventType,
};
use utoipa::OpenApi;

use crate::AppState;
use crate::openapi::Problem as ProblemDoc;

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
