//! What inventory announces on `inventory-events` (`inventory.stock_changed`,
//! `inventory.reservation_expired`), written to the outbox in the transaction of the change.

use kit::contracts::events::inventory::{ReservationExpired, SkuQuantity, StockChanged};
use kit::outbox::{self, OutboxEvent};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::MovementReason;
use crate::store::StockRow;
use crate::store::reservations::Reservation;

/// `inventory.stock_changed` for `stock` after a movement of `reason`.
pub async fn stock_changed(
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

/// `inventory.reservation_expired`: `r` lapsed unpaid.
pub async fn reservation_expired(
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
            .map(|l| SkuQuantity {
                sku: l.sku.to_string(),
                quantity: l.quantity,
            })
            .collect(),
    };
    let ev = OutboxEvent::of(r.order_id.to_string(), &data);
    outbox::enqueue(tx, &ev).await.map(|_| ())
}
