//! Saved payment methods over REST: `GET|POST /api/v1/payment-methods` and
//! `DELETE /api/v1/payment-methods/{id}`, forwarded as they are to the payment service (HTTP),
//! which serves the same paths, verifies the token again and owns every rule. All need a valid
//! access token (checked here first). Card numbers and CVCs pass through and are never stored
//! or logged by the gateway.

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::{delete, get};
use kit::contracts::page::PageQuery;
use kit::contracts::payment::{CreatePaymentMethodRequest, PaymentMethod, PaymentMethodList};
use utoipa::OpenApi;

use crate::AppState;
use crate::openapi::Problem as ProblemDoc;

/// The payment-method routes, every one behind [`crate::protect`].
pub fn router(state: &AppState) -> Router<AppState> {
    let routes = Router::new()
        .route(
            "/api/v1/payment-methods",
            get(list_payment_methods).post(create_payment_method),
        )
        .route(
            "/api/v1/payment-methods/{id}",
            delete(delete_payment_method),
        );
    crate::protect(routes, state)
}

/// The payment part of the OpenAPI document (merged in `crate::openapi`).
#[derive(OpenApi)]
#[openapi(
    paths(list_payment_methods, create_payment_method, delete_payment_method),
    components(schemas(PaymentMethod, PaymentMethodList, CreatePaymentMethodRequest)),
    tags((name = "payment-methods", description = "Saved cards (only a provider token, brand, last 4 digits and expiry are kept)"))
)]
pub struct PaymentApiDoc;

/// The caller's saved cards, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/payment-methods",
    tag = "payment-methods",
    operation_id = "listPaymentMethods",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of saved cards", body = PaymentMethodList),
        (status = 400, description = "`limit` out of range or a malformed `cursor`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 502, description = "The payment service is unavailable", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "The payment service is busy", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 504, description = "The payment service did not answer in time", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn list_payment_methods(State(state): State<AppState>, req: Request) -> Response {
    crate::routes::forward::forward(&state, &state.upstreams.payment, "payment", req).await
}

/// Save a card: the provider tokenizes it and only its token (encrypted), brand, last 4 digits
/// and expiry are kept.
#[utoipa::path(
    post,
    path = "/api/v1/payment-methods",
    tag = "payment-methods",
    operation_id = "createPaymentMethod",
    request_body = CreatePaymentMethodRequest,
    params(("Idempotency-Key" = Option<String>, Header, pattern = r"^[!-~]([ -~]{0,253}[!-~])?$", description = "1 to 255 printable ASCII characters, not starting or ending with a space; a retry with the same key and card returns the card saved the first time (`idempotent-replayed: true`)")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The saved card", body = PaymentMethod,
            headers(("location" = String, description = "The card's URL"),
                    ("idempotent-replayed" = String, description = "`true` when this answers a repeated Idempotency-Key"))),
        (status = 400, description = "The body is not valid JSON, or `Idempotency-Key` is malformed", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "A request with the same Idempotency-Key is still being processed", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Number fails the Luhn check, expired card, bad CVC..., or the Idempotency-Key was used with another card; `errors` names every field", body = ProblemDoc, content_type = "application/problem+json",
            example = json!({"type": "about:blank", "title": "Unprocessable Entity", "status": 422, "detail": "The field `card_number` is invalid.", "errors": [{"field": "card_number", "message": "is not a valid card number (check digit mismatch)"}]})),
        (status = 429, description = "Rate limited", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 502, description = "The payment service is unavailable", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "The payment provider is unavailable", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 504, description = "The payment service did not answer in time", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn create_payment_method(State(state): State<AppState>, req: Request) -> Response {
    crate::routes::forward::forward(&state, &state.upstreams.payment, "payment", req).await
}

/// Delete a saved card. Orders already placed with it fail their payment if not yet charged.
#[utoipa::path(
    delete,
    path = "/api/v1/payment-methods/{id}",
    tag = "payment-methods",
    operation_id = "deletePaymentMethod",
    params(("id" = uuid::Uuid, Path, description = "The card's id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a UUID", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such card of the caller", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 502, description = "The payment service is unavailable", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 504, description = "The payment service did not answer in time", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn delete_payment_method(State(state): State<AppState>, req: Request) -> Response {
    crate::routes::forward::forward(&state, &state.upstreams.payment, "payment", req).await
}
