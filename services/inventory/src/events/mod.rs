//! What inventory publishes (`inventory.stock_changed`, `inventory.reservation_expired` on
//! `inventory-events`, through the outbox) and what it consumes (`order.paid` commits and
//! `order.cancelled` releases the order's reservation, once per event through the inbox).

use kit::events::{CloudEvent, topics};
use kit::kafka::{Delivery, Outcome};
use kit::outbox::{self, OutboxEvent};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{MovementReason, ReleaseReason};
use crate::error::Error;
use crate::store::StockRow;
use crate::store::reservations::{self, Access, Reservation};

/// The `source` of every event inventory publishes.
pub const SOURCE: &str = "/storefront/inventory";
pub const STOCK_CHANGED: &str = "inventory.stock_changed";
pub const RESERVATION_EXPIRED: &str = "inventory.reservation_expired";
pub const ORDER_PAID: &str = "order.paid";
pub const ORDER_CANCELLED: &str = "order.cancelled";
/// The inbox name of the `order-events` consumer.
pub const CONSUMER: &str = "inventory";

/// `data` of `inventory.stock_changed` (keyed by SKU).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockChanged {
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    /// The ledger reason (`restock`, `sale`, `reserve`, `release`, `expire`, ...).
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<Uuid>,
}

/// One line of `inventory.reservation_expired`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiredLine {
    pub sku: String,
    pub quantity: i64,
}

/// `data` of `inventory.reservation_expired` (keyed by order id): the order should be cancelled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationExpired {
    pub order_id: Uuid,
    pub reservation_id: Uuid,
    pub user_id: Uuid,
    pub lines: Vec<ExpiredLine>,
}

pub async fn enqueue_stock_changed(
    tx: &mut PgConnection,
    stock: &StockRow,
    reason: MovementReason,
    order_id: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    let data = StockChanged {
        sku: stock.sku.clone(),
        on_hand: stock.on_hand,
        reserved: stock.reserved,
        available: stock.available(),
        reason: reason.as_str().to_owned(),
        order_id,
    };
    let ev = OutboxEvent::new(
        topics::INVENTORY_EVENTS,
        SOURCE,
        STOCK_CHANGED,
        stock.sku.clone(),
        serde_json::to_value(&data).expect("plain data serialises"),
    );
    outbox::enqueue(tx, &ev).await.map(|_| ())
}

pub async fn enqueue_reservation_expired(
    tx: &mut PgConnection,
    r: &Reservation,
) -> Result<(), sqlx::Error> {
    let data = ReservationExpired {
        order_id: r.order_id,
        reservation_id: r.id,
        user_id: r.user_id,
        lines: r
            .lines
            .lines()
            .iter()
            .map(|l| ExpiredLine {
                sku: l.sku.to_string(),
                quantity: l.quantity,
            })
            .collect(),
    };
    let ev = OutboxEvent::new(
        topics::INVENTORY_EVENTS,
        SOURCE,
        RESERVATION_EXPIRED,
        r.order_id.to_string(),
        serde_json::to_value(&data).expect("plain data serialises"),
    );
    outbox::enqueue(tx, &ev).await.map(|_| ())
}

/// The order an `order.*` event is about: `data.order_id`, else the subject.
fn order_id_of(event: &CloudEvent) -> Option<Uuid> {
    event
        .data
        .get("order_id")
        .and_then(|v| v.as_str())
        .or(event.subject.as_deref())
        .and_then(|s| Uuid::parse_str(s).ok())
}

/// Handles one `order-events` delivery: `order.paid` commits the order's reservation,
/// `order.cancelled` releases it, both once per event id (inbox). An order without a
/// reservation, or one whose reservation cannot take the step (a paid order whose reservation
/// expired, a cancelled order already sold) is logged and recorded as handled: retrying would
/// never succeed. Database errors are returned, so the consumer retries the same event.
pub async fn handle_order_event(pool: &PgPool, delivery: Delivery) -> anyhow::Result<Outcome> {
    let event = &delivery.event;
    let paid = match event.event_type.as_str() {
        ORDER_PAID => true,
        ORDER_CANCELLED => false,
        _ => return Ok(Outcome::Ignored),
    };
    let Some(order_id) = order_id_of(event) else {
        tracing::error!(event_id = %event.id, event_type = %event.event_type,
            "order event without a valid order_id; skipping it");
        return Ok(Outcome::Ignored);
    };
    kit::inbox::apply_once(pool, CONSUMER, event, async |tx| {
        let result = if paid {
            reservations::commit_in(tx, order_id, Access::Internal).await
        } else {
            reservations::release_in(tx, order_id, ReleaseReason::OrderCancelled, Access::Internal)
                .await
        };
        match result {
            Ok(r) => {
                tracing::info!(%order_id, status = r.status.as_str(), "reservation updated from {}", event.event_type);
                Ok(())
            }
            Err(e @ (Error::NotFound(_) | Error::FailedPrecondition(_))) => {
                tracing::error!(%order_id, event_type = %event.event_type, error = %e,
                    "order event cannot be applied to the reservation; recorded as handled");
                Ok(())
            }
            Err(e) => Err(anyhow::Error::new(e)),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_id_comes_from_data_or_subject() {
        let id = Uuid::now_v7();
        let e = CloudEvent::new("/o", ORDER_PAID, None, serde_json::json!({"order_id": id}));
        assert_eq!(order_id_of(&e), Some(id));
        let e = CloudEvent::new(
            "/o",
            ORDER_PAID,
            Some(id.to_string()),
            serde_json::json!({}),
        );
        assert_eq!(order_id_of(&e), Some(id));
        let e = CloudEvent::new("/o", ORDER_PAID, None, serde_json::json!({"order_id": "x"}));
        assert_eq!(order_id_of(&e), None);
    }
}
