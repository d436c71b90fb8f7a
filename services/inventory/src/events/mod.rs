//! What inventory consumes: `order.paid` commits and `order.cancelled` releases the order's
//! reservation, once per event through the inbox. What it publishes is written by the store
//! in the transaction of the change ([`crate::store::announce`]).

use kit::contracts::events::order::{OrderCancelled, OrderPaid};
use kit::kafka::{Delivery, Outcome};
use sqlx::PgPool;

use crate::domain::ReleaseReason;
use crate::error::Error;
use crate::store::reservations::{self, Access};

/// The inbox name of the `order-events` consumer.
pub const CONSUMER: &str = "inventory";

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
