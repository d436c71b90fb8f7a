//! Checkout and orders over REST: `POST /api/v1/checkout`, `GET /api/v1/orders[/{id}]`,
//! `POST /api/v1/orders/{id}/cancel` and the admin actions `POST
//! /api/v1/admin/orders/{id}/ship|deliver|refund`, forwarded as they are to the order service
//! (HTTP), which serves the same paths, verifies the token again and owns every rule. All of
//! them need a valid access token (checked here first).

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::AppState;
use crate::openapi::Problem as ProblemDoc;
use crate::routes::product::Money;

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
        CheckoutRequest, ShippingAddress, Order, OrderItem, OrderStatus, StatusChange, Shipment,
        OrderList, ShipRequest, RefundRequest, RefundLine, ShortLine, InsufficientStockProblem, Money
    )),
    tags(
        (name = "orders", description = "Checkout and the customer's orders"),
        (name = "admin", description = "Back-office routes (role `admin`)"),
    )
)]
pub struct OrderApiDoc;

// ---------- bodies (documentation of what the order service answers) ----------

/// Where an order is in its life. `pending_payment -> paid -> shipped -> delivered`;
/// `pending_payment -> cancelled`; `paid|shipped|delivered -> refund_requested -> refunded`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    PendingPayment,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
    RefundRequested,
    Refunded,
}

/// A shipping address, kept on the order as it was at checkout.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"name": "Ada Lovelace", "line1": "12 Market Street", "line2": null, "city": "Berlin",
    "region": null, "postal_code": "10115", "country": "DE", "phone": "+49 30 1234567"}))]
pub struct ShippingAddress {
    /// Recipient, 1 to 200 characters.
    #[schema(max_length = 200)]
    pub name: String,
    /// 1 to 200 characters.
    #[schema(max_length = 200)]
    pub line1: String,
    /// At most 200 characters.
    #[schema(max_length = 200)]
    pub line2: Option<String>,
    /// 1 to 100 characters.
    #[schema(max_length = 100)]
    pub city: String,
    /// State, province or county; at most 100 characters.
    #[schema(max_length = 100)]
    pub region: Option<String>,
    /// 1 to 20 characters.
    #[schema(max_length = 20)]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 code (answered uppercase).
    #[schema(example = "DE", min_length = 2, max_length = 2)]
    pub country: String,
    /// Digits, spaces and `+-().`; at most 32 characters.
    #[schema(max_length = 32)]
    pub phone: Option<String>,
}

/// A checkout: the cart's lines are read from the cart service and priced by the product
/// service; prices and lines are never taken from the client.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"payment_method_id": "0190f3c4-8f0e-7a4b-9d2e-3f1a2b3c4d5e",
    "shipping_address": {"name": "Ada Lovelace", "line1": "12 Market Street", "city": "Berlin", "postal_code": "10115", "country": "DE"},
    "currency": "EUR", "shipping_method_id": "0190f3c4-4444-7a4b-9d2e-3f1a2b3c4d5e", "promotion_code": "TENOFF"}))]
pub struct CheckoutRequest {
    /// One of the caller's saved payment methods (`GET /api/v1/payment-methods`).
    pub payment_method_id: uuid::Uuid,
    pub shipping_address: ShippingAddress,
    /// ISO 4217 code to pay in; every item needs a price in it (else 422 naming the line).
    /// Default: the currency the items are primarily priced in.
    #[schema(example = "EUR")]
    pub currency: Option<String>,
    /// One of the methods `GET /api/v1/shipping-methods` lists for the address; required when
    /// any covers it.
    pub shipping_method_id: Option<uuid::Uuid>,
    /// A promotion code (case-insensitive). One that does not apply is 409 naming it.
    #[schema(example = "TENOFF")]
    pub promotion_code: Option<String>,
}

/// One line of an order: a price and name snapshot taken from the catalog at checkout.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderItem {
    #[schema(example = "TSHIRT-M-RED")]
    pub sku: String,
    pub product_id: uuid::Uuid,
    /// The product's name at checkout.
    pub name: String,
    #[schema(minimum = 1)]
    pub quantity: i64,
    pub unit_price: Money,
    /// `unit_price * quantity`.
    pub line_total: Money,
}

/// A status the order entered.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusChange {
    pub status: OrderStatus,
    /// Why (`checkout_completed`, `payment_completed`, `payment_failed`, `reservation_expired`,
    /// `customer_cancelled`, `shipped`, `delivered`, `refund_requested`, `payment_refunded`).
    pub reason: Option<String>,
    /// When (RFC 3339, UTC).
    pub at: String,
}

/// How a shipped order travels.
#[derive(Debug, Serialize, ToSchema)]
pub struct Shipment {
    pub carrier: String,
    pub tracking_number: String,
}

/// An order.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0190f3c4-8f0e-7a4b-9d2e-3f1a2b3c4d5e", "user_id": "0190f3c4-1111-7a4b-9d2e-3f1a2b3c4d5e",
    "status": "pending_payment",
    "items": [{"sku": "TSHIRT-M-RED", "product_id": "0190f3c4-2222-7a4b-9d2e-3f1a2b3c4d5e", "name": "T-shirt",
               "quantity": 2, "unit_price": {"amount": 1999, "currency": "EUR"}, "line_total": {"amount": 3998, "currency": "EUR"}}],
    "subtotal": {"amount": 3998, "currency": "EUR"}, "total": {"amount": 4588, "currency": "EUR"}, "currency": "EUR",
    "breakdown": {"currency": "EUR", "mode": "tax_inclusive",
        "lines": [{"sku": "TSHIRT-M-RED", "quantity": 2, "unit_price": 1999, "gross": 3998, "discount": 400, "tax": 574, "tax_rate_ppm": 190000, "total": 3598}],
        "subtotal": 3998, "discount_total": 400, "shipping": 990, "shipping_discount": 0, "shipping_tax": 158, "tax_total": 732,
        "taxes": [{"rate_ppm": 190000, "base": 4588, "amount": 732}],
        "applied": [{"promotion_id": "0190f3c4-5555-7a4b-9d2e-3f1a2b3c4d5e", "code": "TENOFF", "amount": 400}], "total": 4588},
    "shipping_method": {"id": "0190f3c4-4444-7a4b-9d2e-3f1a2b3c4d5e", "name": "Express", "delivery_days": {"min": 1, "max": 2}},
    "promotion_code": "TENOFF",
    "shipping_address": {"name": "Ada Lovelace", "line1": "12 Market Street", "line2": null, "city": "Berlin",
                         "region": null, "postal_code": "10115", "country": "DE", "phone": null},
    "payment_method_id": "0190f3c4-3333-7a4b-9d2e-3f1a2b3c4d5e", "transaction_id": null, "shipment": null,
    "created_at": "2026-01-31T10:15:00Z", "updated_at": "2026-01-31T10:15:00Z",
    "status_history": [{"status": "pending_payment", "reason": "checkout_completed", "at": "2026-01-31T10:15:00Z"}]
}))]
pub struct Order {
    pub id: uuid::Uuid,
    /// The customer.
    pub user_id: uuid::Uuid,
    pub status: OrderStatus,
    pub items: Vec<OrderItem>,
    /// Sum of the line totals.
    pub subtotal: Money,
    /// What is charged: the breakdown's `total`.
    pub total: Money,
    /// The priced order: per line discount and tax, shipping, tax per rate, the promotions
    /// that applied and the grand total, in minor units of `currency`.
    pub breakdown: kit::pricing::Breakdown,
    /// The shipping method chosen at checkout; null when the shop ships nothing.
    pub shipping_method: Option<kit::totals::ShippingChoice>,
    /// The promotion code that applied (uppercase).
    pub promotion_code: Option<String>,
    /// ISO 4217 code of every amount of the order.
    #[schema(example = "EUR")]
    pub currency: String,
    pub shipping_address: ShippingAddress,
    pub payment_method_id: uuid::Uuid,
    /// The payment's transaction, once paid.
    pub transaction_id: Option<String>,
    /// Set once shipped.
    pub shipment: Option<Shipment>,
    pub created_at: String,
    pub updated_at: String,
    /// Every status the order entered, oldest first.
    pub status_history: Vec<StatusChange>,
}

/// A page of the caller's orders, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderList {
    pub items: Vec<Order>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// `cursor` and `limit` of `GET /api/v1/orders`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderListQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Orders per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

/// How the order is shipped.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"carrier": "DHL", "tracking_number": "00340434161094042557"}))]
pub struct ShipRequest {
    /// 1 to 100 characters.
    #[schema(max_length = 100)]
    pub carrier: String,
    /// 1 to 100 characters.
    #[schema(max_length = 100)]
    pub tracking_number: String,
}

/// A line that cannot be reserved in full.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShortLine {
    pub sku: String,
    /// Units in the cart.
    pub requested: i64,
    /// Units available at the time of the attempt.
    pub available: i64,
}

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
/// (poll `GET /api/v1/orders/{id}`). `Idempotency-Key` is required and per user: the same key
/// with the same body answers the first answer again (header `idempotent-replayed: true`), a
/// different body 422, and a request while the first is still running 409. A refused checkout
/// (empty cart, short stock, ...) does not use up its key.
#[utoipa::path(
    post,
    path = "/api/v1/checkout",
    tag = "orders",
    operation_id = "checkout",
    request_body = CheckoutRequest,
    params(("Idempotency-Key" = String, Header, description = "1 to 255 visible ASCII characters, unique per checkout; reuse it to retry", example = "3f0c1e7a-checkout-1")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The order, awaiting payment", body = Order,
            headers(("location" = String, description = "The order's URL"))),
        (status = 400, description = "Missing or malformed `Idempotency-Key`, or a body that is not JSON", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "Not enough stock (`lines` names each short SKU), a promotion code that does not apply or ran out (`promotion_code` names it), or the key's first request is still running", body = InsufficientStockProblem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Empty cart, a line that cannot be sold or has no price in the currency (`errors` names it), a missing or inapplicable `shipping_method_id`, a destination the shop does not ship to, an invalid field, or the key reused with another body", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 502, description = "The order service is unavailable", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "A service checkout needs is unavailable; retry with the same key", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 504, description = "A service did not answer in time; retry with the same key", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn checkout(State(state): State<AppState>, req: Request) -> Response {
    crate::routes::forward::forward(&state, &state.upstreams.order, "order", req).await
}

/// The caller's orders, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/orders",
    tag = "orders",
    operation_id = "listOrders",
    params(OrderListQuery),
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

/// Units to refund: each line's share of its total in the order's breakdown (after its
/// discount, with its tax). Without a body the whole order is refunded, shipping included.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"lines": [{"sku": "TSHIRT-M-RED", "quantity": 1}]}))]
pub struct RefundRequest {
    /// 1 or more lines of the order, each once.
    pub lines: Vec<RefundLine>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefundLine {
    pub sku: String,
    /// 1 to the units ordered.
    #[schema(minimum = 1)]
    pub quantity: i64,
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
