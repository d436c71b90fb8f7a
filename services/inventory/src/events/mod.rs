//! What inventory publishes (`inventory.stock_changed`, `inventory.reservation_expired` on
//! `inventory-events`, through the outbox) and what it consumes (`order.paid` commits and
//! `order.cancelled` releases the order's reservation, once per event through the inbox).

use kit::kafka::{Delivery, Outcome};
use kit::outbox::{self, OutboxEvent};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{MovementReason, ReleaseReason};
use crate::error::Error;
use crate::store::StockRow;
use crate::store::reservations::{self, Access, Reservation};

pub use kit::contracts::events::inventory::{
    ReservationExpired, SkuQuantity as ExpiredLine, StockChanged,
};
use kit::contracts::events::order::{OrderCancelled, OrderPaid};

/// The inbox name of the `order-events` consumer.
pub const CONSUMER: &str = "inventory";

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
    let ev = OutboxEvent::of(stock.sku.clone(), &data);
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
    let ev = OutboxEvent::of(r.order_id.to_string(), &data);
    outbox::enqueue(tx, &ev).await.map(|_| ())
}

/// Handles one `order-events` delivery: `order.paid` commits the order's reservation,
/// `order.cancelled` releases it, both once per event id (inbox). An order without a
/// reservation, or one whose reservation cannot take the step (a paid order whose reservation
/// expired, a cancelled order already sold) is logged and recorded as handled: retrying would
/// never succeed. Database errors are returned, so the consumer retries the same event.
pub async fn handle_order_event(pool: &PgPool, delivery: Delivery) -> anyhow::Result<Outcome> {
    let event = &delivery.event;
    let decoded = match (
        event.decode::<OrderPaid>(),
        event.decode::<OrderCancelled>(),
    ) {
        (Some(p), _) => p.map(|p| (true, p.order_id)),
        (_, Some(c)) => c.map(|c| (false, c.order_id)),
        _ => return Ok(Outcome::Ignored),
    };
    let (paid, order_id) = match decoded {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(event_id = %event.id, event_type = %event.event_type, error = %e,
                "order event that does not decode; skipping it");
            return Ok(Outcome::Ignored);
        }
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
