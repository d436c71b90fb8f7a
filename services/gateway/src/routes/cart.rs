//! The cart over REST: `GET|DELETE /api/v1/cart`, `POST /api/v1/cart/items`,
//! `PATCH|DELETE /api/v1/cart/items/{sku}` and `POST /api/v1/cart/merge`, forwarded as they are to
//! the cart service (HTTP), which serves the same paths and owns every rule. A request names its
//! cart with a bearer token (the user's cart) or, for guests, with the `X-Cart-Token` that the
//! first `POST /api/v1/cart/items` without either returned. Both are optional here; an invalid
//! bearer token is refused by the cart service.

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::{get, patch, post};
use kit::contracts::Money;
use kit::contracts::cart::{
    AddCartItemRequest, Cart, CartLine, EstimateQuery, UpdateCartItemRequest,
};
use utoipa::OpenApi;

use crate::AppState;
use crate::openapi::Problem as ProblemDoc;

/// The cart routes (public: the cart service checks the bearer token or the cart token).
pub fn router(_state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/cart", get(get_cart).delete(clear_cart))
        .route("/api/v1/cart/items", post(add_cart_item))
        .route(
            "/api/v1/cart/items/{sku}",
            patch(update_cart_item).delete(remove_cart_item),
        )
        .route("/api/v1/cart/merge", post(merge_cart))
}

/// The cart part of the OpenAPI document (merged in `crate::openapi`).
#[derive(OpenApi)]
#[openapi(
    paths(get_cart, add_cart_item, update_cart_item, remove_cart_item, clear_cart, merge_cart),
    components(schemas(Cart, CartLine, AddCartItemRequest, UpdateCartItemRequest, Money)),
    tags((name = "cart", description = "The shopping cart of a signed-in user or a guest (X-Cart-Token)"))
)]
pub struct CartApiDoc;

// ---------- handlers ----------

/// The caller's cart with current prices and availability. Without a bearer token or
/// `X-Cart-Token` it is empty.
#[utoipa::path(
    get,
    path = "/api/v1/cart",
    tag = "cart",
    operation_id = "getCart",
    params(("X-Cart-Token" = Option<String>, Header, description = "A guest cart's token (ignored when a bearer token is sent)"), EstimateQuery),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The cart", body = Cart),
        (status = 400, description = "`X-Cart-Token` is not a cart token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "A bearer token was sent but is not valid", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "A malformed estimate parameter; `errors` names it", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 502, description = "The cart service is unavailable", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "Product or inventory is unavailable (when order cannot price an estimate, `estimate_problem` says so instead)", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 504, description = "The cart service did not answer in time", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn get_cart(State(state): State<AppState>, req: Request) -> Response {
    crate::routes::forward::forward(&state, &state.upstreams.cart, "cart", req).await
}

/// Put units of a SKU in the cart. A guest's first add (no bearer token, no `X-Cart-Token`)
/// creates a guest cart and returns its token in `X-Cart-Token`: send it on later cart requests.
#[utoipa::path(
    post,
    path = "/api/v1/cart/items",
    tag = "cart",
    operation_id = "addCartItem",
    request_body = AddCartItemRequest,
    params(
        ("X-Cart-Token" = Option<String>, Header, description = "A guest cart's token (ignored when a bearer token is sent)"),
        ("Idempotency-Key" = Option<String>, Header, pattern = r"^[!-~]([ -~]{0,253}[!-~])?$", description = "1 to 255 printable ASCII characters, not starting or ending with a space; a retry with the same key and body answers as the first request did (`idempotent-replayed: true`) instead of adding again"),
    ),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The SKU was in the cart already; its line grew", body = Cart,
            headers(("idempotent-replayed" = String, description = "`true` when this answers a repeated Idempotency-Key"))),
        (status = 201, description = "A new line", body = Cart,
            headers(("x-cart-token" = String, description = "Only when a guest cart was created: its token"),
                    ("idempotent-replayed" = String, description = "`true` when this answers a repeated Idempotency-Key"))),
        (status = 400, description = "The body is not JSON, `X-Cart-Token` is not a cart token, or `Idempotency-Key` is malformed", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "A bearer token was sent but is not valid", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "Not that many units are available (`available` says how many)", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Unknown or archived SKU, quantity out of 1..=99, the line would exceed 99, the cart holds 100 lines, or the Idempotency-Key was used with another body; `errors` names the field", body = ProblemDoc, content_type = "application/problem+json",
            example = json!({"type": "about:blank", "title": "Unprocessable Entity", "status": 422, "detail": "The field `sku` is invalid.", "errors": [{"field": "sku", "message": "no product variant has this SKU"}]})),
        (status = 429, description = "Rate limited", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 502, description = "The cart service is unavailable", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "Product or inventory is unavailable", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 504, description = "The cart service did not answer in time", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn add_cart_item(State(state): State<AppState>, req: Request) -> Response {
    crate::routes::forward::forward(&state, &state.upstreams.cart, "cart", req).await
}

/// Set the quantity of a line.
#[utoipa::path(
    patch,
    path = "/api/v1/cart/items/{sku}",
    tag = "cart",
    operation_id = "updateCartItem",
    request_body = UpdateCartItemRequest,
    params(
        ("sku" = String, Path, description = "The line's SKU", pattern = r"^[A-Za-z0-9._-]{1,64}$", example = "TSHIRT-M-RED"),
        ("X-Cart-Token" = Option<String>, Header, description = "A guest cart's token (ignored when a bearer token is sent)"),
    ),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The cart", body = Cart),
        (status = 400, description = "The body is not JSON, or `X-Cart-Token` is not a cart token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "A bearer token was sent but is not valid", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "The cart has no line for this SKU", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "Not that many units are available", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "`quantity` out of 1..=99", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 502, description = "The cart service is unavailable", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "Product or inventory is unavailable", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 504, description = "The cart service did not answer in time", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn update_cart_item(State(state): State<AppState>, req: Request) -> Response {
    crate::routes::forward::forward(&state, &state.upstreams.cart, "cart", req).await
}

/// Remove a line.
#[utoipa::path(
    delete,
    path = "/api/v1/cart/items/{sku}",
    tag = "cart",
    operation_id = "removeCartItem",
    params(
        ("sku" = String, Path, description = "The line's SKU", pattern = r"^[A-Za-z0-9._-]{1,64}$", example = "TSHIRT-M-RED"),
        ("X-Cart-Token" = Option<String>, Header, description = "A guest cart's token (ignored when a bearer token is sent)"),
    ),
    security((), ("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "`X-Cart-Token` is not a cart token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "A bearer token was sent but is not valid", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "The cart has no line for this SKU", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 502, description = "The cart service is unavailable", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 504, description = "The cart service did not answer in time", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn remove_cart_item(State(state): State<AppState>, req: Request) -> Response {
    crate::routes::forward::forward(&state, &state.upstreams.cart, "cart", req).await
}

/// Empty the cart (a missing cart is already empty).
#[utoipa::path(
    delete,
    path = "/api/v1/cart",
    tag = "cart",
    operation_id = "clearCart",
    params(("X-Cart-Token" = Option<String>, Header, description = "A guest cart's token (ignored when a bearer token is sent)")),
    security((), ("bearer" = [])),
    responses(
        (status = 204, description = "The cart is empty"),
        (status = 400, description = "`X-Cart-Token` is not a cart token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "A bearer token was sent but is not valid", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 502, description = "The cart service is unavailable", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 504, description = "The cart service did not answer in time", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn clear_cart(State(state): State<AppState>, req: Request) -> Response {
    crate::routes::forward::forward(&state, &state.upstreams.cart, "cart", req).await
}

/// Move a guest cart (`X-Cart-Token`) into the signed-in user's cart: quantities of the same SKU
/// are added (capped at 99), lines beyond the 100-line limit are dropped, the guest cart is
/// deleted. Login does this by itself when it receives `X-Cart-Token`.
#[utoipa::path(
    post,
    path = "/api/v1/cart/merge",
    tag = "cart",
    operation_id = "mergeCart",
    params(("X-Cart-Token" = String, Header, description = "The guest cart's token")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user's cart after the merge", body = Cart),
        (status = 400, description = "`X-Cart-Token` is missing or not a cart token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 502, description = "The cart service is unavailable", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "Product or inventory is unavailable", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 504, description = "The cart service did not answer in time", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn merge_cart(State(state): State<AppState>, req: Request) -> Response {
    crate::routes::forward::forward(&state, &state.upstreams.cart, "cart", req).await
}
