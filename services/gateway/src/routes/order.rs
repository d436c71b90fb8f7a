//! Checkout and orders over REST: `POST /api/v1/checkout`, `GET /api/v1/orders[/{id}]`,
//! `POST /api/v1/orders/{id}/cancel` and the admin actions `POST
//! /api/v1/admin/orders/{id}/ship|deliver|refund`, forwarded as they are to the order service
//! (HTTP), which serves the same paths, verifies the token again and owns every rule. All of
//! them need a valid access token (checked here first).

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kit::contracts::Money;
use kit::contracts::address::Address;
use kit::contracts::orders::{
    CheckoutRequest, Order, OrderItem, OrderList, OrderStatus, RefundLine, RefundRequest,
    ShipRequest, Shipment, ShortLine, StatusChange,
};
use kit::contracts::page::PageQuery;
use kit::problem::{FieldError, Problem};
use kit::upstream::grpc_request;
use serde::Serialize;
use storefront_proto::user::v1 as pb;
use storefront_proto::user::v1::user_service_client::UserServiceClient;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::openapi::Problem as ProblemDoc;

/// The order routes, every one behind [`crate::protect`].
pub fn router(state: &AppState) -> Router<AppState> {
    let routes = Router::new()
        .route("/api/v1/checkout", post(checkout))
        .route("/api/v1/orders", get(list_orders))
        .route("/api/v1/orders/{id}", get(get_order))
        .route("/api/v1/orders/{id}/cancel", post(cancel_order))
        .route("/api/v1/admin/orders/{id}/ship", post(ship_order))
        .route("/api/v1/admin/orders/{id}/deliver", post(deliver_order))
        .route("/api/v1/admin/orders/{id}/refund", post(refund_order));
    crate::protect(routes, state)
}

/// The order part of the OpenAPI document (merged in `crate::openapi`).
#[derive(OpenApi)]
#[openapi(
    paths(checkout, list_orders, get_order, cancel_order, ship_order, deliver_order, refund_order),
    components(schemas(
        CheckoutRequest, Address, Order, OrderItem, OrderStatus, StatusChange, Shipment,
        OrderList, ShipRequest, RefundRequest, RefundLine, ShortLine, InsufficientStockProblem, Money
    )),
    tags(
        (name = "orders", description = "Checkout and the customer's orders"),
        (name = "admin", description = "Back-office routes (role `admin`)"),
    )
)]
pub struct OrderApiDoc;

// ---------- bodies: the order service's contract (`contracts::orders`) ----------

/// 409 of a checkout when stock is short: a problem naming each short line. Nothing was
/// reserved.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"type": "about:blank", "title": "Conflict", "status": 409,
    "detail": "Not enough stock for MUG-1; nothing was reserved. Lower the quantities and try again.",
    "errors": [{"field": "items[0].quantity", "message": "`MUG-1`: 3 requested, only 1 available"}],
    "lines": [{"sku": "MUG-1", "requested": 3, "available": 1}]}))]
pub struct InsufficientStockProblem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: Option<String>,
    pub instance: Option<String>,
    #[serde(default)]
    pub errors: Vec<crate::openapi::FieldError>,
    pub request_id: Option<String>,
    /// The short lines (absent on other conflicts, e.g. a key still in progress).
    pub lines: Option<Vec<ShortLine>>,
}

// ---------- handlers ----------

/// Place an order from the caller's cart.
///
/// Reads the cart, prices every line from the catalog, reserves all lines (or none) for 15
/// minutes and creates the order as `pending_payment`; payment is then taken asynchronously
/// (poll `GET /api/v1/orders/{id}`). The address is `shipping_address` or the id of a saved
/// address (`shipping_address_id`), read when the request arrives and kept on the order as it
/// was. `Idempotency-Key` is required and per user: the same key
/// with the same body answers the first answer again (header `idempotent-replayed: true`), a
/// different body 422, and a request while the first is still running 409. A refused checkout
/// (empty cart, short stock, ...) does not use up its key.
#[utoipa::path(
    post,
    path = "/api/v1/checkout",
    tag = "orders",
    operation_id = "checkout",
    request_body = CheckoutRequest,
    params(("Idempotency-Key" = String, Header, pattern = r"^[!-~]([ -~]{0,253}[!-~])?$", description = "1 to 255 printable ASCII characters, not starting or ending with a space, unique per checkout; reuse it to retry", example = "3f0c1e7a-checkout-1")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The order, awaiting payment", body = Order,
            headers(("location" = String, description = "The order's URL"))),
        (status = 400, description = "Missing or malformed `Idempotency-Key`, or a body that is not JSON", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "Not enough stock (`lines` names each short SKU), a promotion code that does not apply or ran out (`promotion_code` names it), or the key's first request is still running", body = InsufficientStockProblem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Empty cart, a line that cannot be sold or has no price in the currency (`errors` names it), a missing or inapplicable `shipping_method_id`, a destination the shop does not ship to, no address or a `shipping_address_id` that is not one of the caller's saved addresses, an invalid field, or the key reused with another body", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 502, description = "The order service is unavailable", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "A service checkout needs is unavailable; retry with the same key", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 504, description = "A service did not answer in time; retry with the same key", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn checkout(State(state): State<AppState>, req: Request) -> Response {
    match with_saved_address(&state, req).await {
        Ok(req) => {
            crate::routes::forward::forward(&state, &state.upstreams.order, "order", req).await
        }
        Err(p) => p.into_response(),
    }
}

/// A checkout naming `shipping_address_id` gets that saved address (read from the user service
/// with the caller's token) as `shipping_address`, so the order service sees one shape and
/// keeps the id for the key's request hash. Other bodies pass unchanged.
async fn with_saved_address(state: &AppState, req: Request) -> Result<Request, Problem> {
    let (parts, body) = req.into_parts();
    // The same limit as every body (`gateway.body_limit_bytes`).
    let limit = state.config.gateway.body_limit_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        Problem::new(StatusCode::PAYLOAD_TOO_LARGE)
            .with_detail(format!("A request body is at most {limit} bytes."))
    })?;
    let body = match saved_address_body(state, &parts.headers, &bytes).await? {
        Some(b) => Body::from(b),
        None => Body::from(bytes),
    };
    Ok(Request::from_parts(parts, body))
}

/// The body with the saved address filled in, or `None` when it names none.
async fn saved_address_body(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    bytes: &[u8],
) -> Result<Option<Vec<u8>>, Problem> {
    let Ok(serde_json::Value::Object(mut obj)) = serde_json::from_slice(bytes) else {
        return Ok(None);
    };
    let id = match obj.get("shipping_address_id") {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(v) => v.as_str().and_then(|s| Uuid::parse_str(s).ok()),
    };
    let invalid =
        |message: &str| Problem::validation(vec![FieldError::new("shipping_address_id", message)]);
    let Some(id) = id else {
        return Err(invalid("must be a UUID"));
    };
    if obj.get("shipping_address").is_some_and(|v| !v.is_null()) {
        return Err(invalid(
            "send either `shipping_address` or `shipping_address_id`, not both",
        ));
    }
    let saved = UserServiceClient::new(state.upstreams.user.clone())
        .get_address(grpc_request(
            pb::GetAddressRequest {
                address_id: id.to_string(),
            },
            headers,
        ))
        .await;
    let saved = match saved {
        Ok(a) => crate::routes::user::address_of(a.into_inner()),
        Err(s) if s.code() == tonic::Code::NotFound => {
            return Err(invalid("is not one of your saved addresses"));
        }
        Err(s) => return Err(Problem::from(s)),
    };
    obj.insert(
        "shipping_address".to_owned(),
        serde_json::to_value(saved).expect("an address serialises"),
    );
    Ok(Some(
        serde_json::to_vec(&obj).expect("a JSON object serialises"),
    ))
}

/// The caller's orders, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/orders",
    tag = "orders",
    operation_id = "listOrders",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of orders", body = OrderList),
        (status = 400, description = "A malformed query parameter", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "`limit` out of range or an unknown `cursor`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 502, description = "The order service is unavailable", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "The order service is busy", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 504, description = "The order service did not answer in time", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn list_orders(State(state): State<AppState>, req: Request) -> Response {
    crate::routes::forward::forward(&state, &state.upstreams.order, "order", req).await
}

/// One order of the caller (admins: any order). Other customers' orders are 404.
#[utoipa::path(
    get,
    path = "/api/v1/orders/{id}",
    tag = "orders",
    operation_id = "getOrder",
    params(("id" = uuid::Uuid, Path, description = "The order id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The order", body = Order),
        (status = 400, description = "The id is not a UUID", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such order of the caller", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 502, description = "The order service is unavailable", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "The order service is busy", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 504, description = "The order service did not answer in time", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn get_order(State(state): State<AppState>, req: Request) -> Response {
    crate::routes::forward::forward(&state, &state.upstreams.order, "order", req).await
}

/// Cancel one of the caller's orders while it awaits payment; its stock is released.
#[utoipa::path(
    post,
    path = "/api/v1/orders/{id}/cancel",
    tag = "orders",
    operation_id = "cancelOrder",
    params(("id" = uuid::Uuid, Path, description = "The order id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The cancelled order", body = Order),
        (status = 400, description = "The id is not a UUID", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such order of the caller", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "The order no longer awaits payment; `current_status` is its current status", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 502, description = "The order service is unavailable", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "The order service is busy", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 504, description = "The order service did not answer in time", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn cancel_order(State(state): State<AppState>, req: Request) -> Response {
    crate::routes::forward::forward(&state, &state.upstreams.order, "order", req).await
}

/// Mark a paid order shipped. Admin only.
#[utoipa::path(
    post,
    path = "/api/v1/admin/orders/{id}/ship",
    tag = "admin",
    operation_id = "shipOrder",
    params(("id" = uuid::Uuid, Path, description = "The order id")),
    request_body = ShipRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The shipped order", body = Order),
        (status = 400, description = "The id is not a UUID or the body is not JSON", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "The order is not paid; `current_status` is its current status", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "A field breaks a rule; `errors` names it", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 502, description = "The order service is unavailable", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "The order service is busy", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 504, description = "The order service did not answer in time", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn ship_order(State(state): State<AppState>, req: Request) -> Response {
    crate::routes::forward::forward(&state, &state.upstreams.order, "order", req).await
}

/// Mark a shipped order delivered. Admin only.
#[utoipa::path(
    post,
    path = "/api/v1/admin/orders/{id}/deliver",
    tag = "admin",
    operation_id = "deliverOrder",
    params(("id" = uuid::Uuid, Path, description = "The order id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The delivered order", body = Order),
        (status = 400, description = "The id is not a UUID", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "The order is not shipped; `current_status` is its current status", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 502, description = "The order service is unavailable", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "The order service is busy", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 504, description = "The order service did not answer in time", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn deliver_order(State(state): State<AppState>, req: Request) -> Response {
    crate::routes::forward::forward(&state, &state.upstreams.order, "order", req).await
}

/// Refund a paid, shipped or delivered order, whole or some units of its lines. Admin only.
///
/// Answers 202 with the order in `refund_requested`: payment refunds asynchronously, then the
/// order becomes `refunded`. One refund per order; its amount comes from the stored breakdown.
#[utoipa::path(
    post,
    path = "/api/v1/admin/orders/{id}/refund",
    tag = "admin",
    operation_id = "refundOrder",
    request_body(content = Option<RefundRequest>, description = "Optional: the units to refund"),
    params(("id" = uuid::Uuid, Path, description = "The order id")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The refund is requested", body = Order),
        (status = 400, description = "The id is not a UUID", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "The order is not paid, shipped or delivered (or a refund is already requested); `current_status` is its current status", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "A line that is not in the order or a quantity out of range; `errors` names it", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 502, description = "The order service is unavailable", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "The order service is busy", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 504, description = "The order service did not answer in time", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn refund_order(State(state): State<AppState>, req: Request) -> Response {
    crate::routes::forward::forward(&state, &state.upstreams.order, "order", req).await
}
