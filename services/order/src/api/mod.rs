//! The REST API of the order role (the same paths the gateway serves): checkout, the
//! customer's orders, cancellation and the admin actions. Every route verifies the bearer
//! token itself; customers see only their own orders (others' are 404), admins see all.

pub mod checkout;
pub mod view;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;

use axum::routing::{get, post};
use kit::jwt::{AdminUser, AuthUser, Claims, JwksVerifier};
use kit::problem::extract::{Json, Path, Query};
use kit::problem::{FieldError, Problem};
use sqlx::PgPool;
use uuid::Uuid;

use crate::config::OrderSettings;
use crate::domain::{OrderStatus, Reason};
use crate::events;
use crate::store::orders::{self, Extra, Order};
use crate::upstreams::Upstreams;
pub use kit::contracts::orders::{RefundLine, RefundRequest, ShipRequest};
pub use view::{OrderList, OrderView};

/// What handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub verifier: JwksVerifier,
    pub upstreams: Upstreams,
    pub settings: Arc<OrderSettings>,
}

impl FromRef<AppState> for JwksVerifier {
    fn from_ref(s: &AppState) -> Self {
        s.verifier.clone()
    }
}

pub use kit::problem::{ApiError, ApiResult};

/// The routes of the API (without health routes and middleware).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/checkout", post(checkout::checkout))
        .route("/api/v1/orders", get(list_orders))
        .route("/api/v1/orders/{id}", get(get_order))
        .route("/api/v1/orders/{id}/cancel", post(cancel_order))
        .route("/api/v1/admin/orders/{id}/ship", post(ship_order))
        .route("/api/v1/admin/orders/{id}/deliver", post(deliver_order))
        .route("/api/v1/admin/orders/{id}/refund", post(refund_order))
        .merge(crate::totals::router())
        .with_state(state)
}

fn not_found(id: Uuid) -> Problem {
    Problem::not_found(format!("There is no order {id}."))
}

/// Customers see their own orders; admins see every order.
fn visible(claims: &Claims, order: &Order) -> bool {
    order.user_id == claims.sub || claims.is_admin()
}

pub use kit::contracts::page::PageQuery as ListQuery;

/// `GET /api/v1/orders`: the caller's orders, newest first, `limit` (1..=100, default 20) per
/// page; `next_cursor` continues.
pub async fn list_orders(
    State(st): State<AppState>,
    AuthUser(claims): AuthUser,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<OrderList>> {
    let page =
        kit::page::Page::parse(q.cursor.as_deref(), q.limit, 20).map_err(Problem::validation)?;
    let mut rows = orders::list_for_user(&st.pool, claims.sub, page.after, page.limit + 1).await?;
    let next_cursor = page.finish(&mut rows, |o| o.id);
    Ok(Json(OrderList {
        items: rows.iter().map(OrderView::from).collect(),
        next_cursor,
    }))
}

/// `GET /api/v1/orders/{id}`: one order of the caller (or any order, for admins).
pub async fn get_order(
    State(st): State<AppState>,
    AuthUser(claims): AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<OrderView>> {
    match orders::find(&st.pool, id).await? {
        Some(o) if visible(&claims, &o) => Ok(Json(OrderView::from(&o))),
        _ => Err(not_found(id).into()),
    }
}

/// Who may take a step: the order's owner, or an admin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Actor {
    Owner,
    Admin,
}

/// Applies one status change the API offers, with its history row and event, in one
/// transaction on the locked order. Refused transitions are 409 naming the current status.
#[allow(clippy::too_many_arguments)]
async fn step(
    st: &AppState,
    claims: &Claims,
    actor: Actor,
    id: Uuid,
    to: OrderStatus,
    reason: Reason,
    extra: Extra,
    refund_units: &[(String, i64)],
) -> ApiResult<Order> {
    let mut tx = st.pool.begin().await?;
    let order = orders::get(&mut tx, id, true)
        .await?
        .filter(|o| match actor {
            Actor::Owner => o.user_id == claims.sub,
            Actor::Admin => true,
        })
        .ok_or_else(|| not_found(id))?;
    if let Err(e) = order.status.transition(to) {
        return Err(Problem::conflict(format!(
            "The order is {}; {}.",
            order.status,
            match to {
                OrderStatus::Cancelled => "only an order awaiting payment can be cancelled".into(),
                OrderStatus::Shipped => "only a paid order can be shipped".into(),
                OrderStatus::Delivered => "only a shipped order can be delivered".into(),
                OrderStatus::RefundRequested =>
                    "only a paid, shipped or delivered order can be refunded".into(),
                _ => e.to_string(),
            }
        ))
        .with_extension("current_status", order.status)
        .into());
    }
    // A refund of some units gives back their share of the stored breakdown; the whole order
    // its total (shipping included).
    let refund = if refund_units.is_empty() {
        order.total
    } else {
        kit::pricing::refund(&order.breakdown(), refund_units).map_err(|e| match e {
            kit::pricing::PricingError::Invalid { field, message } => {
                Problem::validation(vec![FieldError::new(field, message)])
            }
            kit::pricing::PricingError::Overflow => {
                Problem::unprocessable("The refund is too large.")
            }
        })?
    };
    let Some(o) = orders::change_status(&mut tx, &order, to, reason, extra).await? else {
        return Err(Problem::conflict("The order changed meanwhile; read it and retry.").into());
    };
    match to {
        OrderStatus::Cancelled => events::cancelled(&mut tx, &o, reason).await?,
        OrderStatus::Shipped => events::shipped(&mut tx, &o).await?,
        OrderStatus::Delivered => events::delivered(&mut tx, &o).await?,
        OrderStatus::RefundRequested => {
            events::refund_requested(
                &mut tx,
                &o,
                events::RefundReason::AdminRequested,
                refund,
                refund_units,
            )
            .await?
        }
        _ => {}
    }
    tx.commit().await?;
    tracing::info!(order_id = %o.id, status = %o.status, "order status changed");
    Ok(o)
}

/// `POST /api/v1/orders/{id}/cancel`: the owner cancels an order still awaiting payment.
pub async fn cancel_order(
    State(st): State<AppState>,
    AuthUser(claims): AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<OrderView>> {
    let o = step(
        &st,
        &claims,
        Actor::Owner,
        id,
        OrderStatus::Cancelled,
        Reason::CustomerCancelled,
        Extra::default(),
        &[],
    )
    .await?;
    Ok(Json(OrderView::from(&o)))
}

/// `POST /api/v1/admin/orders/{id}/ship` `{carrier, tracking_number}`: paid -> shipped.
pub async fn ship_order(
    State(st): State<AppState>,
    AdminUser(claims): AdminUser,
    Path(id): Path<Uuid>,
    Json(body): Json<ShipRequest>,
) -> ApiResult<Json<OrderView>> {
    let mut errors = Vec::new();
    let mut field = |name: &str, v: &str| {
        kit::address::text(name, v, true, 100)
            .map_err(|e| errors.push(e))
            .unwrap_or_default()
    };
    let carrier = field("carrier", &body.carrier);
    let tracking_number = field("tracking_number", &body.tracking_number);
    if !errors.is_empty() {
        return Err(Problem::validation(errors).into());
    }
    let o = step(
        &st,
        &claims,
        Actor::Admin,
        id,
        OrderStatus::Shipped,
        Reason::Shipped,
        Extra {
            carrier: Some(carrier),
            tracking_number: Some(tracking_number),
            ..Extra::default()
        },
        &[],
    )
    .await?;
    Ok(Json(OrderView::from(&o)))
}

/// `POST /api/v1/admin/orders/{id}/deliver`: shipped -> delivered.
pub async fn deliver_order(
    State(st): State<AppState>,
    AdminUser(claims): AdminUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<OrderView>> {
    let o = step(
        &st,
        &claims,
        Actor::Admin,
        id,
        OrderStatus::Delivered,
        Reason::Delivered,
        Extra::default(),
        &[],
    )
    .await?;
    Ok(Json(OrderView::from(&o)))
}

/// `POST /api/v1/admin/orders/{id}/refund` `[{lines}]`: asks payment to refund a paid, shipped
/// or delivered order, whole or some units of its lines (202); `payment.refunded` later makes it
/// `refunded`. One refund per order.
pub async fn refund_order(
    State(st): State<AppState>,
    AdminUser(claims): AdminUser,
    Path(id): Path<Uuid>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<OrderView>)> {
    // No body, or `null`: the whole order.
    let request: Option<RefundRequest> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        kit::problem::extract::from_json(&body)?
    };
    let units: Vec<(String, i64)> = match request {
        None => Vec::new(),
        Some(r) if r.lines.is_empty() => {
            return Err(Problem::validation(vec![FieldError::new(
                "lines",
                "must name at least one line (send no body to refund the whole order)",
            )])
            .into());
        }
        Some(r) => r.lines.into_iter().map(|l| (l.sku, l.quantity)).collect(),
    };
    let o = step(
        &st,
        &claims,
        Actor::Admin,
        id,
        OrderStatus::RefundRequested,
        Reason::RefundRequested,
        Extra::default(),
        &units,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(OrderView::from(&o))))
}

#[cfg(test)]
mod tests {
    //! Router tests of what is decided before any dependency is touched (the pool and the
    //! upstreams are lazy and point nowhere).
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, header};
    use kit::jwt::Role;
    use kit::jwt::testing::{TestKey, claims, jwks};
    use tower::ServiceExt;

    async fn app(key: &TestKey) -> Router {
        let settings = OrderSettings {
            product_url: "http://127.0.0.1:9".into(),
            inventory_url: "http://127.0.0.1:9".into(),
            cart_url: "http://127.0.0.1:9".into(),
            ..OrderSettings::default()
        };
        let auth = kit::config::AuthSettings::default();
        let state = AppState {
            pool: sqlx::postgres::PgPoolOptions::new()
                .connect_lazy("postgres://nobody@127.0.0.1:9/none")
                .unwrap(),
            verifier: JwksVerifier::from_jwks(&jwks(&[key]), &auth),
            upstreams: Upstreams::new(&settings).await.unwrap(),
            settings: Arc::new(settings),
        };
        router(state)
            .fallback(kit::problem::not_found_fallback)
            .layer(axum::middleware::from_fn(kit::problem::normalize_errors))
    }

    async fn send(app: &Router, req: Request<Body>) -> (StatusCode, serde_json::Value) {
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            kit::problem::CONTENT_TYPE
        );
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    fn checkout(token: Option<&str>, key: Option<&str>, body: &str) -> Request<Body> {
        let mut r =
            Request::post("/api/v1/checkout").header(header::CONTENT_TYPE, "application/json");
        if let Some(t) = token {
            r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        if let Some(k) = key {
            r = r.header("idempotency-key", k);
        }
        r.body(Body::from(body.to_owned())).unwrap()
    }

    const GOOD: &str = r#"{"payment_method_id": "0190f3c4-8f0e-7a4b-9d2e-3f1a2b3c4d5e",
        "shipping_address": {"recipient_name": "Ada", "address_lines": ["1 Main St"], "locality": "Berlin", "postal_code": "10115", "country_code": "DE"}}"#;

    #[tokio::test]
    async fn requests_are_refused_before_anything_is_touched() {
        let key = TestKey::generate("k1");
        let app = app(&key).await;
        let token = key.sign(&claims(Uuid::now_v7(), vec![Role::Customer], "storefront"));

        let (s, _) = send(&app, checkout(None, Some("k"), GOOD)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, p) = send(&app, checkout(Some(&token), None, GOOD)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{p}");
        assert_eq!(p["errors"][0]["field"], "Idempotency-Key");
        let (s, p) = send(&app, checkout(Some(&token), Some("é"), GOOD)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{p}");
        let with_total = GOOD.replacen('{', r#"{"total": {"amount": 1, "currency": "EUR"}, "#, 1);
        let (s, p) = send(&app, checkout(Some(&token), Some("k"), &with_total)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        let msg = p["errors"][0]["message"].as_str().unwrap();
        assert!(msg.starts_with("unknown field `total`"), "{p}");
        let bad_country = GOOD.replace("\"DE\"", "\"Germany\"");
        let (s, p) = send(&app, checkout(Some(&token), Some("k"), &bad_country)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        assert_eq!(
            p["errors"][0]["field"], "shipping_address.country_code",
            "{p}"
        );

        let get = |uri: &str, token: &str| {
            Request::get(uri)
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap()
        };
        let (s, p) = send(&app, get("/api/v1/orders/nope", &token)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{p}");
        let (s, p) = send(&app, get("/api/v1/orders?limit=101", &token)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        let (s, p) = send(&app, get("/api/v1/orders?cursor=zzz", &token)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        assert_eq!(p["errors"][0]["field"], "cursor", "{p}");

        // Admin routes need the admin role.
        let id = Uuid::now_v7();
        let req = Request::post(format!("/api/v1/admin/orders/{id}/refund"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let (s, _) = send(&app, req).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
}
