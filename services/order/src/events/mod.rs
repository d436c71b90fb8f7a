//! What order publishes on `order-events` (through the outbox, keyed by order id) and what it
//! consumes: `payment.completed|failed|refunded` from `payment-events` and
//! `inventory.reservation_expired` from `inventory-events`, each applied once per event id
//! (inbox) in the transaction that changes the order.

pub mod consume;

use kit::events::topics;
use kit::outbox::{self, OutboxEvent};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::Reason;
use crate::store::orders::Order;

/// The `source` of every event order publishes.
pub const SOURCE: &str = "/storefront/order";
pub const ORDER_CREATED: &str = "order.created";
pub const ORDER_PAID: &str = "order.paid";
pub const ORDER_CANCELLED: &str = "order.cancelled";
pub const ORDER_SHIPPED: &str = "order.shipped";
pub const ORDER_DELIVERED: &str = "order.delivered";
pub const ORDER_REFUND_REQUESTED: &str = "order.refund_requested";
pub const ORDER_REFUNDED: &str = "order.refunded";

/// Money in events and answers: minor units and an ISO 4217 code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub amount: i64,
    pub currency: String,
}

/// One line in order events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventItem {
    pub sku: String,
    pub product_id: Uuid,
    pub name: String,
    pub quantity: i64,
    pub unit_price: Money,
}

fn money(o: &Order, amount: i64) -> Money {
    Money {
        amount,
        currency: o.currency.clone(),
    }
}

fn items(o: &Order) -> Vec<EventItem> {
    o.items
        .iter()
        .map(|i| EventItem {
            sku: i.sku.clone(),
            product_id: i.product_id,
            name: i.name.clone(),
            quantity: i.quantity,
            unit_price: money(o, i.unit_price),
        })
        .collect()
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("a UTC time formats as RFC 3339")
}

async fn enqueue(
    tx: &mut PgConnection,
    o: &Order,
    event_type: &str,
    data: serde_json::Value,
) -> Result<(), sqlx::Error> {
    let ev = OutboxEvent::new(
        topics::ORDER_EVENTS,
        SOURCE,
        event_type,
        o.id.to_string(),
        data,
    );
    outbox::enqueue(tx, &ev).await.map(|_| ())
}

/// `order.created` `{order_id, user_id, payment_method_id, total, items, breakdown,
/// shipping_method, promotion_code, created_at}`; `total` is the breakdown's grand total, the
/// amount payment charges.
pub async fn created(tx: &mut PgConnection, o: &Order) -> Result<(), sqlx::Error> {
    let data = serde_json::json!({
        "order_id": o.id,
        "user_id": o.user_id,
        "payment_method_id": o.payment_method_id,
        "total": money(o, o.total),
        "items": items(o),
        "breakdown": o.breakdown(),
        "shipping_method": o.shipping_method,
        "promotion_code": o.promotion_code,
        "created_at": rfc3339(o.created_at),
    });
    enqueue(tx, o, ORDER_CREATED, data).await
}

/// `order.paid` `{order_id, user_id, total, items, breakdown, shipping_method, promotion_code,
/// transaction_id, paid_at}`.
pub async fn paid(tx: &mut PgConnection, o: &Order) -> Result<(), sqlx::Error> {
    let data = serde_json::json!({
        "order_id": o.id,
        "user_id": o.user_id,
        "total": money(o, o.total),
        "items": items(o),
        "breakdown": o.breakdown(),
        "shipping_method": o.shipping_method,
        "promotion_code": o.promotion_code,
        "transaction_id": o.transaction_id,
        "paid_at": rfc3339(o.updated_at),
    });
    enqueue(tx, o, ORDER_PAID, data).await
}

/// `order.cancelled` `{order_id, user_id, reason, items, cancelled_at}`.
pub async fn cancelled(
    tx: &mut PgConnection,
    o: &Order,
    reason: Reason,
) -> Result<(), sqlx::Error> {
    let data = serde_json::json!({
        "order_id": o.id,
        "user_id": o.user_id,
        "reason": reason.as_str(),
        "items": items(o),
        "cancelled_at": rfc3339(o.updated_at),
    });
    enqueue(tx, o, ORDER_CANCELLED, data).await
}

/// `order.shipped` `{order_id, user_id, carrier, tracking_number, shipped_at}`.
pub async fn shipped(tx: &mut PgConnection, o: &Order) -> Result<(), sqlx::Error> {
    let data = serde_json::json!({
        "order_id": o.id,
        "user_id": o.user_id,
        "carrier": o.carrier,
        "tracking_number": o.tracking_number,
        "shipped_at": rfc3339(o.updated_at),
    });
    enqueue(tx, o, ORDER_SHIPPED, data).await
}

/// `order.delivered` `{order_id, user_id, delivered_at}` (an addition to the contract).
pub async fn delivered(tx: &mut PgConnection, o: &Order) -> Result<(), sqlx::Error> {
    let data = serde_json::json!({
        "order_id": o.id,
        "user_id": o.user_id,
        "delivered_at": rfc3339(o.updated_at),
    });
    enqueue(tx, o, ORDER_DELIVERED, data).await
}

/// `order.refund_requested` `{order_id, user_id, amount, reason, lines}`; `reason` is
/// `admin_requested` or `order_cancelled` (paid after the order was cancelled); `amount` is the
/// whole total, or (with `lines`, the units refunded) their share of the stored breakdown.
pub async fn refund_requested(
    tx: &mut PgConnection,
    o: &Order,
    reason: &str,
    amount: i64,
    lines: &[(String, i64)],
) -> Result<(), sqlx::Error> {
    let lines: Vec<serde_json::Value> = lines
        .iter()
        .map(|(sku, quantity)| serde_json::json!({"sku": sku, "quantity": quantity}))
        .collect();
    let data = serde_json::json!({
        "order_id": o.id,
        "user_id": o.user_id,
        "amount": money(o, amount),
        "reason": reason,
        "lines": lines,
    });
    enqueue(tx, o, ORDER_REFUND_REQUESTED, data).await
}

/// `order.refunded` `{order_id, user_id, amount, refunded_at}`.
pub async fn refunded(tx: &mut PgConnection, o: &Order, amount: Money) -> Result<(), sqlx::Error> {
    let data = serde_json::json!({
        "order_id": o.id,
        "user_id": o.user_id,
        "amount": amount,
        "refunded_at": rfc3339(o.updated_at),
    });
    enqueue(tx, o, ORDER_REFUNDED, data).await
}
