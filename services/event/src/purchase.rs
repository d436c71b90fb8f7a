//! `order.paid` on `order-events` becomes a `purchase.completed` tracking event on `user-events`
//! (key = user id): stored in user_events and written to the outbox in the same transaction as
//! the inbox record, so a redelivered `order.paid` never makes a second purchase.

use kit::contracts::events::order::OrderPaid;
use kit::contracts::events::tracking::{PurchaseCompleted, PurchasedItem};
use kit::events::CloudEvent;
use kit::kafka::Outcome;
use kit::outbox::{self, OutboxEvent};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use crate::domain::PURCHASE_TYPE;
use crate::store::{self, EventRow};

/// The inbox name of the `order-events` consumer.
pub const CONSUMER: &str = "event";

/// Handles one `order-events` message.
pub async fn handle(pool: &PgPool, event: &CloudEvent) -> anyhow::Result<Outcome> {
    let paid: OrderPaid = match event.decode() {
        None => return Ok(Outcome::Ignored),
        Some(Ok(p)) => p,
        Some(Err(e)) => {
            // Retrying cannot fix a malformed payload; nothing is recorded.
            tracing::error!(event_id = %event.id, error = %e, "order.paid with an unexpected payload; skipping");
            return Ok(Outcome::Ignored);
        }
    };
    let received_at = OffsetDateTime::now_utc();
    let occurred_at = paid.paid_at;
    let purchase = PurchaseCompleted {
        user_id: paid.user_id,
        anonymous_id: None,
        session_id: None,
        occurred_at,
        received_at,
        order_id: paid.order_id,
        transaction_id: paid.transaction_id,
        total: paid.total,
        items: paid
            .items
            .into_iter()
            .map(|i| PurchasedItem {
                product_id: i.product_id,
                sku: i.sku,
                name: Some(i.name),
                quantity: i.quantity,
                unit_price: i.unit_price,
            })
            .collect(),
    };
    let out = OutboxEvent::of(paid.user_id.to_string(), &purchase);
    let data = out.event.data.clone();
    let row = EventRow {
        id: out.event.id,
        event_type: PURCHASE_TYPE.into(),
        user_id: Some(paid.user_id),
        anonymous_id: None,
        session_id: None,
        product_id: None,
        occurred_at,
        received_at,
        data,
    };
    kit::inbox::apply_once(pool, CONSUMER, event, async move |tx: &mut PgConnection| {
        store::insert_events(tx, std::slice::from_ref(&row)).await?;
        outbox::enqueue(tx, &out).await?;
        Ok(())
    })
    .await
}
