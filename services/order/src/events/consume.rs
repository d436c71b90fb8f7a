//! The consumers of `payment-events` and `inventory-events` (groups `order` and `order.expiry`;
//! one handler, one inbox). Each event is applied once (inbox, same transaction as the change);
//! the order row is locked while it is read and changed, and the change is guarded by the
//! expected status. Events about unknown orders, malformed payloads and events that no longer
//! apply are logged and recorded as handled: retrying them would never succeed. Database errors
//! are returned, so the consumer retries the same event.

use std::time::Duration;

use kit::events::CloudEvent;
use kit::kafka::{Delivery, Outcome};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use kit::contracts::events::inventory::ReservationExpired;
use kit::contracts::events::payment::{PaymentCompleted, PaymentFailed, PaymentRefunded};

use super::RefundReason;
use crate::domain::{OrderStatus, Reason};
use crate::store::orders::{self, Extra, Order};

/// The inbox name of the consumer.
pub const CONSUMER: &str = "order";

/// A consumed event this service acts on.
#[derive(Debug)]
pub enum Input {
    Completed(PaymentCompleted),
    Failed(PaymentFailed),
    Refunded(PaymentRefunded),
    Expired(ReservationExpired),
}

impl Input {
    fn order_id(&self) -> Uuid {
        match self {
            Input::Completed(p) => p.order_id,
            Input::Failed(p) => p.order_id,
            Input::Refunded(p) => p.order_id,
            Input::Expired(p) => p.order_id,
        }
    }

    /// `None` for events order does not act on; `Err` for a payload that does not decode.
    pub fn decode(event: &CloudEvent) -> Option<Result<Self, serde_json::Error>> {
        if let Some(r) = event.decode() {
            return Some(r.map(Input::Completed));
        }
        if let Some(r) = event.decode() {
            return Some(r.map(Input::Failed));
        }
        if let Some(r) = event.decode() {
            return Some(r.map(Input::Refunded));
        }
        event.decode().map(|r| r.map(Input::Expired))
    }
}

/// Handles one delivery from `payment-events` or `inventory-events`. A payment completing
/// less than `late_margin` before the order's reservation expires counts as too late.
pub async fn handle(
    pool: &PgPool,
    late_margin: Duration,
    delivery: Delivery,
) -> anyhow::Result<Outcome> {
    let event = &delivery.event;
    let input = match Input::decode(event) {
        None => return Ok(Outcome::Ignored),
        Some(Ok(i)) => i,
        Some(Err(e)) => {
            tracing::error!(event_id = %event.id, event_type = %event.event_type, error = %e,
                "event payload does not decode; skipping it");
            return Ok(Outcome::Ignored);
        }
    };
    kit::inbox::apply_once(pool, CONSUMER, event, async |tx| {
        apply(tx, &event.event_type, input, late_margin).await
    })
    .await
}

async fn apply(
    tx: &mut PgConnection,
    event_type: &str,
    input: Input,
    late_margin: Duration,
) -> anyhow::Result<()> {
    let order_id = input.order_id();
    let Some(order) = orders::get(tx, order_id, true).await? else {
        tracing::warn!(%order_id, event_type, "event for an unknown order; recorded as handled");
        return Ok(());
    };
    let ignore = |order: &Order| {
        tracing::info!(order_id = %order.id, status = %order.status, event_type,
            "event does not apply to the order in its current status; recorded as handled");
        Ok(())
    };
    match input {
        Input::Completed(p) => match order.status {
            OrderStatus::PendingPayment => {
                let a = &p.amount;
                if a.amount != order.total || a.currency != order.currency {
                    tracing::error!(%order_id, charged = a.amount, currency = %a.currency,
                        total = order.total, "payment amount differs from the order total");
                }
                let extra = Extra {
                    transaction_id: Some(p.transaction_id),
                    ..Extra::default()
                };
                let too_late = order
                    .reservation_expires_at
                    .is_some_and(|t| OffsetDateTime::now_utc() + late_margin >= t);
                if too_late {
                    // Inventory may release the units before it hears `order.paid`: rather
                    // than risk selling them twice, cancel and give the money back.
                    tracing::warn!(%order_id, "payment completed as the reservation expires; cancelling and requesting a refund");
                    let o = change(
                        tx,
                        &order,
                        OrderStatus::Cancelled,
                        Reason::ReservationExpired,
                        extra,
                    )
                    .await?;
                    super::cancelled(tx, &o, Reason::ReservationExpired).await?;
                    super::refund_requested(tx, &o, RefundReason::OrderCancelled, o.total, &[])
                        .await?;
                    return Ok(());
                }
                let o = change(
                    tx,
                    &order,
                    OrderStatus::Paid,
                    Reason::PaymentCompleted,
                    extra,
                )
                .await?;
                super::paid(tx, &o).await?;
            }
            // The reservation expired (or the customer cancelled) before the money came: the
            // goods may be gone, so the money goes back.
            OrderStatus::Cancelled => {
                tracing::warn!(%order_id, "payment completed for a cancelled order; requesting a refund");
                super::refund_requested(tx, &order, RefundReason::OrderCancelled, order.total, &[])
                    .await?;
            }
            _ => return ignore(&order),
        },
        Input::Failed(p) => {
            if order.status != OrderStatus::PendingPayment {
                return ignore(&order);
            }
            tracing::info!(%order_id, code = p.code.as_str(), "payment failed; cancelling the order");
            let o = change(
                tx,
                &order,
                OrderStatus::Cancelled,
                Reason::PaymentFailed,
                Extra::default(),
            )
            .await?;
            super::cancelled(tx, &o, Reason::PaymentFailed).await?;
        }
        Input::Expired(_) => {
            if order.status != OrderStatus::PendingPayment {
                return ignore(&order);
            }
            let o = change(
                tx,
                &order,
                OrderStatus::Cancelled,
                Reason::ReservationExpired,
                Extra::default(),
            )
            .await?;
            super::cancelled(tx, &o, Reason::ReservationExpired).await?;
        }
        Input::Refunded(p) => {
            let amount = p.amount;
            if order.status.can_become(OrderStatus::Refunded) {
                let o = change(
                    tx,
                    &order,
                    OrderStatus::Refunded,
                    Reason::PaymentRefunded,
                    Extra::default(),
                )
                .await?;
                super::refunded(tx, &o, amount).await?;
            } else if order.status == OrderStatus::Cancelled {
                // The refund of a payment that arrived after cancellation: the order stays
                // cancelled, the customer is told their money is back.
                super::refunded(tx, &order, amount).await?;
            } else {
                return ignore(&order);
            }
        }
    }
    Ok(())
}

/// [`orders::change_status`] on a locked order; losing the guard cannot happen under the lock,
/// but if it does the event is retried rather than half-applied.
async fn change(
    tx: &mut PgConnection,
    order: &Order,
    to: OrderStatus,
    reason: Reason,
    extra: Extra,
) -> anyhow::Result<Order> {
    order.status.transition(to)?;
    orders::change_status(tx, order, to, reason, extra)
        .await?
        .ok_or_else(|| anyhow::anyhow!("order {} changed status concurrently", order.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kit::contracts::Event;

    #[test]
    fn the_contract_payloads_decode() {
        let id = Uuid::now_v7();
        let e = CloudEvent::new(
            "/storefront/payment",
            PaymentCompleted::TYPE,
            Some(id.to_string()),
            serde_json::json!({"order_id": id, "user_id": Uuid::now_v7(), "transaction_id": "tx_1",
                "amount": {"amount": 1999, "currency": "EUR"}, "payment_method_id": Uuid::now_v7(),
                "brand": "visa", "last4": "4242"}),
        );
        match Input::decode(&e) {
            Some(Ok(Input::Completed(p))) => {
                assert_eq!(p.order_id, id);
                assert_eq!(p.transaction_id, "tx_1");
            }
            other => panic!("{other:?}"),
        }
        let e = CloudEvent::new(
            "/storefront/inventory",
            ReservationExpired::TYPE,
            None,
            serde_json::json!({"order_id": id, "reservation_id": Uuid::now_v7(), "user_id": Uuid::now_v7(),
                "lines": [{"sku": "A", "quantity": 1}]}),
        );
        assert!(matches!(Input::decode(&e), Some(Ok(Input::Expired(_)))));
        let e = CloudEvent::new("/x", "inventory.stock_changed", None, serde_json::json!({}));
        assert!(Input::decode(&e).is_none());
        let e = CloudEvent::new(
            "/x",
            PaymentFailed::TYPE,
            None,
            serde_json::json!({"order_id": 5}),
        );
        assert!(matches!(Input::decode(&e), Some(Err(_))));
    }
}
