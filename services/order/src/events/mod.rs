//! What order publishes on `order-events` (through the outbox, keyed by order id) and what it
//! consumes: `payment.completed|failed|refunded` from `payment-events` and
//! `inventory.reservation_expired` from `inventory-events`, each applied once per event id
//! (inbox) in the transaction that changes the order.

pub mod consume;

use kit::contracts::events::order::{
    OrderCancelled, OrderCreated, OrderDelivered, OrderLine, OrderPaid, OrderRefundRequested,
    OrderRefunded, OrderShipped, RefundLine,
};
use kit::contracts::events::{Event, sources};
use kit::outbox::{self, OutboxEvent};
use sqlx::PgConnection;

pub use kit::contracts::Money;
pub use kit::contracts::events::order::RefundReason;

use crate::domain::Reason;
use crate::store::orders::Order;

/// The `source` of every event order publishes.
pub const SOURCE: &str = sources::ORDER;

fn money(o: &Order, amount: i64) -> Money {
    Money::new(amount, o.currency.clone())
}

fn items(o: &Order) -> Vec<OrderLine> {
    o.items
        .iter()
        .map(|i| OrderLine {
            sku: i.sku.clone(),
            product_id: i.product_id,
            name: i.name.clone(),
            quantity: i.quantity,
            unit_price: money(o, i.unit_price),
        })
        .collect()
}

async fn enqueue(tx: &mut PgConnection, o: &Order, data: &impl Event) -> Result<(), sqlx::Error> {
    outbox::enqueue(tx, &OutboxEvent::of(o.id.to_string(), data))
        .await
        .map(|_| ())
}

/// `order.created`; `total` is the breakdown's grand total, the amount payment charges.
pub async fn created(tx: &mut PgConnection, o: &Order) -> Result<(), sqlx::Error> {
    let data = OrderCreated {
        order_id: o.id,
        user_id: o.user_id,
        payment_method_id: Some(o.payment_method_id),
        total: money(o, o.total),
        items: items(o),
        breakdown: Some(o.breakdown()),
        shipping_method: o.shipping_method.clone(),
        promotion_code: o.promotion_code.clone(),
        created_at: o.created_at,
    };
    enqueue(tx, o, &data).await
}

/// `order.paid`.
pub async fn paid(tx: &mut PgConnection, o: &Order) -> Result<(), sqlx::Error> {
    let data = OrderPaid {
        order_id: o.id,
        user_id: o.user_id,
        total: money(o, o.total),
        items: items(o),
        breakdown: Some(o.breakdown()),
        shipping_method: o.shipping_method.clone(),
        promotion_code: o.promotion_code.clone(),
        transaction_id: o.transaction_id.clone(),
        paid_at: o.updated_at,
    };
    enqueue(tx, o, &data).await
}

/// `order.cancelled`.
pub async fn cancelled(
    tx: &mut PgConnection,
    o: &Order,
    reason: Reason,
) -> Result<(), sqlx::Error> {
    let data = OrderCancelled {
        order_id: o.id,
        user_id: o.user_id,
        reason: reason.as_str().to_owned(),
        items: items(o),
        cancelled_at: o.updated_at,
    };
    enqueue(tx, o, &data).await
}

/// `order.shipped`.
pub async fn shipped(tx: &mut PgConnection, o: &Order) -> Result<(), sqlx::Error> {
    let data = OrderShipped {
        order_id: o.id,
        user_id: o.user_id,
        carrier: o.carrier.clone(),
        tracking_number: o.tracking_number.clone(),
        shipped_at: o.updated_at,
    };
    enqueue(tx, o, &data).await
}

/// `order.delivered` (an addition to the contract).
pub async fn delivered(tx: &mut PgConnection, o: &Order) -> Result<(), sqlx::Error> {
    let data = OrderDelivered {
        order_id: o.id,
        user_id: o.user_id,
        delivered_at: o.updated_at,
    };
    enqueue(tx, o, &data).await
}

/// `order.refund_requested`: `amount` is the whole total, or (with `lines`, the units refunded)
/// their share of the stored breakdown.
pub async fn refund_requested(
    tx: &mut PgConnection,
    o: &Order,
    reason: RefundReason,
    amount: i64,
    lines: &[(String, i64)],
) -> Result<(), sqlx::Error> {
    let data = OrderRefundRequested {
        order_id: o.id,
        user_id: o.user_id,
        amount: money(o, amount),
        reason,
        lines: lines
            .iter()
            .map(|(sku, quantity)| RefundLine {
                sku: sku.clone(),
                quantity: *quantity,
            })
            .collect(),
    };
    enqueue(tx, o, &data).await
}

/// `order.refunded`.
pub async fn refunded(tx: &mut PgConnection, o: &Order, amount: Money) -> Result<(), sqlx::Error> {
    let data = OrderRefunded {
        order_id: o.id,
        user_id: o.user_id,
        amount,
        refunded_at: o.updated_at,
    };
    enqueue(tx, o, &data).await
}
