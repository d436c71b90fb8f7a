//! The checkout saga's steps, which `POST /api/v1/checkout` ([`crate::api::checkout`]) runs
//! once it owns the request's idempotency key: read the customer's cart, price every line from
//! product (never from the client), quote the totals, reserve the stock in inventory (all lines
//! or none), then store the order, its promotion uses, `order.created` and the key's answer in
//! one transaction. A step that fails releases what the earlier ones took.

// A `Problem` is the error of a whole request, built at most once per request.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kit::problem::extract::Json;
use kit::problem::{FieldError, Problem};
use kit::totals::ShippingChoice;
use kit::upstream::grpc_request;
use storefront_proto::inventory::v1 as inv;
use uuid::Uuid;

pub(crate) use tonic_status::describe;

use crate::api::checkout::Choices;
use crate::api::{ApiResult, AppState, OrderView};
use crate::domain::{Address, IdempotencyKey, OrderStatus, Reason, valid_sku};
use crate::events;
use crate::store::idempotency;
use crate::store::orders::{self, HistoryEntry, Order, OrderItem};
use crate::totals::quote;
use crate::totals::store::{self as totals, Refused};
use crate::upstreams::read_cart;

/// One cart line, merged by SKU and checked.
#[derive(Clone, Debug)]
struct Line {
    sku: String,
    quantity: i64,
}

fn cart_lines(
    raw: Vec<crate::upstreams::CartLine>,
    max_lines: usize,
    max_quantity: i64,
) -> Result<Vec<Line>, Problem> {
    if raw.is_empty() {
        return Err(Problem::unprocessable(
            "Your cart is empty: add something before checking out.",
        ));
    }
    let mut lines: Vec<Line> = Vec::new();
    for l in raw {
        match lines.iter_mut().find(|x| x.sku == l.sku) {
            Some(x) => x.quantity = x.quantity.saturating_add(l.quantity),
            None => lines.push(Line {
                sku: l.sku,
                quantity: l.quantity,
            }),
        }
    }
    let mut errors = Vec::new();
    if lines.len() > max_lines {
        errors.push(FieldError::new(
            "items",
            format!("an order holds at most {max_lines} different items"),
        ));
    }
    for (i, l) in lines.iter().enumerate() {
        if !valid_sku(&l.sku) {
            errors.push(FieldError::new(
                format!("items[{i}].sku"),
                format!("`{}` is not a valid SKU", l.sku),
            ));
        }
        if !(1..=max_quantity).contains(&l.quantity) {
            errors.push(FieldError::new(
                format!("items[{i}].quantity"),
                format!("must be between 1 and {max_quantity}"),
            ));
        }
    }
    if errors.is_empty() {
        Ok(lines)
    } else {
        Err(Problem::validation(errors).with_detail("Some cart lines cannot be ordered."))
    }
}

/// Reserves every line for the order (or none): a shortage is 409 naming each short line.
/// Returns when the reservation expires.
async fn reserve(
    st: &AppState,
    headers: &HeaderMap,
    order_id: Uuid,
    lines: &[Line],
) -> Result<Option<time::OffsetDateTime>, Problem> {
    let req = inv::ReserveStockRequest {
        order_id: order_id.to_string(),
        lines: lines
            .iter()
            .map(|l| inv::ReservationLine {
                sku: l.sku.clone(),
                quantity: l.quantity,
            })
            .collect(),
        ttl_seconds: st.settings.reservation_ttl_secs as i32,
    };
    let resp = match st
        .upstreams
        .inventory
        .clone()
        .reserve_stock(grpc_request(req, headers))
        .await
    {
        Ok(r) => r.into_inner(),
        Err(s) => {
            // A call that timed out or broke off may still have reserved: give it back now
            // rather than when the reservation expires.
            if matches!(
                s.code(),
                tonic::Code::Cancelled
                    | tonic::Code::DeadlineExceeded
                    | tonic::Code::Unavailable
                    | tonic::Code::Unknown
                    | tonic::Code::Internal
            ) {
                release(st, headers, order_id).await;
            }
            return Err(describe("inventory", s));
        }
    };
    match resp.outcome {
        Some(inv::reserve_stock_response::Outcome::Reserved(r))
            if r.status == inv::ReservationStatus::Active as i32 =>
        {
            Ok(r.expire_time.and_then(|t| {
                time::OffsetDateTime::from_unix_timestamp(t.seconds)
                    .ok()
                    .and_then(|d| {
                        d.replace_nanosecond(t.nanos.clamp(0, 999_999_999) as u32)
                            .ok()
                    })
            }))
        }
        Some(inv::reserve_stock_response::Outcome::Reserved(_)) => Err(Problem::conflict(
            "This checkout's stock reservation has already ended; start a new checkout with a new Idempotency-Key.",
        )),
        Some(inv::reserve_stock_response::Outcome::Shortage(s)) => {
            let index: HashMap<&str, usize> = lines
                .iter()
                .enumerate()
                .map(|(i, l)| (l.sku.as_str(), i))
                .collect();
            let errors = s
                .lines
                .iter()
                .map(|l| {
                    let i = index.get(l.sku.as_str()).copied().unwrap_or_default();
                    FieldError::new(
                        format!("items[{i}].quantity"),
                        format!(
                            "`{}`: {} requested, only {} available",
                            l.sku, l.requested, l.available
                        ),
                    )
                })
                .collect();
            let short: Vec<kit::contracts::orders::ShortLine> = s
                .lines
                .iter()
                .map(|l| kit::contracts::orders::ShortLine {
                    sku: l.sku.clone(),
                    requested: l.requested,
                    available: l.available,
                })
                .collect();
            let names: Vec<&str> = s.lines.iter().map(|l| l.sku.as_str()).collect();
            Err(Problem::conflict(format!(
                "Not enough stock for {}; nothing was reserved. Lower the quantities and try again.",
                names.join(", ")
            ))
            .with_errors(errors)
            .with_extension("lines", short))
        }
        None => Err(Problem::internal(
            "inventory answered ReserveStock without an outcome",
        )),
    }
}

/// Gives a checkout's reservation back after the order could not be stored (best effort: an
/// unreleased reservation expires after its TTL).
async fn release(st: &AppState, headers: &HeaderMap, order_id: Uuid) {
    let req = inv::ReleaseReservationRequest {
        order_id: order_id.to_string(),
        reason: inv::ReleaseReason::CheckoutAborted as i32,
    };
    if let Err(s) = st
        .upstreams
        .inventory
        .clone()
        .release_reservation(grpc_request(req, headers))
        .await
        && s.code() != tonic::Code::NotFound
    {
        tracing::warn!(%order_id, code = ?s.code(), message = s.message(),
            "could not release the reservation of an aborted checkout; it expires after its TTL");
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn place(
    st: &AppState,
    headers: &HeaderMap,
    user_id: Uuid,
    order_id: Uuid,
    payment_method_id: Uuid,
    shipping_address: Address,
    choices: Choices,
    key: &IdempotencyKey,
) -> ApiResult<Response> {
    let raw = read_cart(&st.upstreams.cart, headers).await?;
    let lines = cart_lines(raw, st.settings.max_lines, st.settings.max_line_quantity)?;
    let pairs: Vec<(String, i64)> = lines.iter().map(|l| (l.sku.clone(), l.quantity)).collect();
    let (currency, catalog) =
        quote::catalog(st, headers, &pairs, choices.currency.as_deref()).await?;
    let ask = quote::Ask {
        country: Some(shipping_address.country_code.clone()),
        region: Some(shipping_address.administrative_area.clone()).filter(|r| !r.is_empty()),
        shipping_method_id: choices.shipping_method_id,
        code: choices.promotion_code.clone(),
        user_id: Some(user_id),
        strict: true,
    };
    let quoted = quote::quote(st, &currency, &catalog, &ask).await?;
    let breakdown = quoted.estimate.breakdown.clone();
    let items: Vec<OrderItem> = catalog
        .iter()
        .map(|i| OrderItem {
            sku: i.sku.clone(),
            product_id: i.product_id,
            name: i.name.clone(),
            quantity: i.quantity,
            unit_price: i.unit_price,
            line_total: i.unit_price * i.quantity,
        })
        .collect();
    let reservation_expires_at = reserve(st, headers, order_id, &lines).await?;

    let now = crate::store::now();
    let order = Order {
        id: order_id,
        user_id,
        status: OrderStatus::PendingPayment,
        currency,
        subtotal: breakdown.subtotal,
        total: breakdown.total,
        payment_method_id,
        shipping_address,
        transaction_id: None,
        carrier: None,
        tracking_number: None,
        reservation_expires_at,
        created_at: now,
        updated_at: now,
        items,
        history: vec![HistoryEntry {
            status: OrderStatus::PendingPayment,
            reason: Some(Reason::CheckoutCompleted.as_str().to_owned()),
            at: now,
        }],
        breakdown: Some(breakdown),
        shipping_method: quoted.method.as_ref().map(|m| ShippingChoice {
            id: m.id,
            name: m.name.clone(),
            delivery_days: m.delivery_days.clone(),
        }),
        promotion_code: quoted.code.clone(),
    };
    let body = serde_json::to_value(OrderView::from(&order)).map_err(anyhow::Error::from)?;
    match store(st, &order, key, &body, &quoted.used).await {
        Ok(Ok(())) => {}
        Ok(Err(refused)) => {
            release(st, headers, order_id).await;
            return Err(refused_problem(st, refused, quoted.code.as_deref())
                .await
                .into());
        }
        Err(e) => {
            // Another request that took over this key may have stored the order already: its
            // reservation must stay.
            if !matches!(orders::find(&st.pool, order_id).await, Ok(Some(_))) {
                release(st, headers, order_id).await;
            }
            return Err(e.into());
        }
    }
    tracing::info!(%order_id, %user_id, total = order.total, currency = %order.currency, "order placed");
    let location = HeaderValue::from_str(&format!("/api/v1/orders/{order_id}"))
        .expect("a path is a header value");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(body),
    )
        .into_response())
}

/// The one transaction of a checkout in order_db. A promotion that ran out (or that the
/// customer used up) meanwhile refuses the checkout and nothing is written.
async fn store(
    st: &AppState,
    order: &Order,
    key: &IdempotencyKey,
    body: &serde_json::Value,
    used: &[(Uuid, i64)],
) -> Result<Result<(), Refused>, sqlx::Error> {
    let mut tx = st.pool.begin().await?;
    orders::insert(&mut tx, order).await?;
    if let Err(refused) =
        totals::redeem(&mut tx, order.id, order.user_id, order.created_at, used).await?
    {
        tx.rollback().await?;
        return Ok(Err(refused));
    }
    events::created(&mut tx, order).await?;
    idempotency::complete(&mut tx, order.user_id, key.as_str(), 201, body).await?;
    tx.commit().await.map(Ok)
}

/// 409 naming the promotion that could not be redeemed.
async fn refused_problem(st: &AppState, refused: Refused, code: Option<&str>) -> Problem {
    let (id, why) = match refused {
        Refused::Unavailable(id) => (id, "it has been used up or has ended"),
        Refused::CustomerLimit(id) => (id, "you have used it as often as it allows"),
    };
    let promotion = totals::get_promotion(&st.pool, id).await.ok().flatten();
    let label = promotion
        .as_ref()
        .and_then(|p| p.code.clone())
        .or_else(|| promotion.map(|p| p.name))
        .unwrap_or_else(|| id.to_string());
    let coded = code.is_some_and(|c| c == label);
    let p = Problem::conflict(format!(
        "The promotion {label} cannot be used: {why}. Nothing was ordered; check out again to see the new total."
    ))
    .with_extension("promotion_id", id);
    if coded {
        p.with_errors(vec![FieldError::new("promotion_code", why)])
            .with_extension("promotion_code", label)
    } else {
        // An automatic promotion: checking out again prices the cart without it.
        p.with_errors(vec![FieldError::new(
            "promotions",
            format!("{label}: {why}"),
        )])
    }
}

/// gRPC failures of product and inventory as problems: a refused token is 401, a request they
/// call invalid 422, the rest as `kit` maps them (unavailable 503, timeouts 504, ...).
mod tonic_status {
    use kit::problem::Problem;

    pub fn describe(service: &str, s: tonic::Status) -> Problem {
        match s.code() {
            tonic::Code::Unauthenticated => {
                Problem::unauthorized(format!("The {service} service refused the access token."))
            }
            // Their field paths are not the checkout body's: the message says what is wrong.
            tonic::Code::InvalidArgument => Problem::unprocessable(s.message().to_owned()),
            _ => {
                tracing::warn!(service, code = ?s.code(), message = s.message(), "upstream call failed");
                Problem::from(s)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstreams::CartLine;
    use std::collections::HashSet;

    fn cl(sku: &str, quantity: i64) -> CartLine {
        CartLine {
            sku: sku.into(),
            quantity,
        }
    }

    #[test]
    fn cart_lines_merge_and_name_bad_lines() {
        let l = cart_lines(vec![cl("A", 1), cl("B", 2), cl("A", 3)], 100, 10_000).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].quantity, 4);
        assert_eq!(cart_lines(vec![], 100, 10).unwrap_err().status, 422);
        let e = cart_lines(vec![cl("A", 0), cl("b c", 1)], 100, 10).unwrap_err();
        let fields: HashSet<&str> = e.errors.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, HashSet::from(["items[0].quantity", "items[1].sku"]));
        assert!(cart_lines(vec![cl("A", 1), cl("B", 1)], 1, 10).is_err());
    }
}
