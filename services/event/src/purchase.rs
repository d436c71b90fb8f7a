//! `order.paid` on `order-events` becomes a `purchase.completed` tracking event on `user-events`
//! (key = user id): stored in user_events and written to the outbox in the same transaction as
//! the inbox record, so a redelivered `order.paid` never makes a second purchase.

use kit::events::{CloudEvent, topics};
use kit::kafka::Outcome;
use kit::outbox::{self, OutboxEvent};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::domain::{PURCHASE_TYPE, SOURCE, rfc3339};
use crate::store::{self, EventRow};

/// The inbox name of the `order-events` consumer.
pub const CONSUMER: &str = "event";

/// `data` of `order.paid` (README, purchase journey contracts).
#[derive(Debug, Deserialize)]
struct OrderPaid {
    order_id: Uuid,
    user_id: Uuid,
    total: Value,
    items: Vec<Item>,
    #[serde(default)]
    transaction_id: Value,
    #[serde(default)]
    paid_at: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Item {
    sku: String,
    product_id: Uuid,
    #[serde(default)]
    name: Option<String>,
    quantity: i64,
    #[serde(default)]
    unit_price: Value,
}

/// Handles one `order-events` message.
pub async fn handle(pool: &PgPool, event: &CloudEvent) -> anyhow::Result<Outcome> {
    if event.event_type != "order.paid" {
        return Ok(Outcome::Ignored);
    }
    let paid: OrderPaid = match event.data_as() {
        Ok(p) => p,
        Err(e) => {
            // Retrying cannot fix a malformed payload; nothing is recorded.
            tracing::error!(event_id = %event.id, error = %e, "order.paid with an unexpected payload; skipping");
            return Ok(Outcome::Ignored);
        }
    };
    let received_at = OffsetDateTime::now_utc();
    let occurred_at = paid
        .paid_at
        .as_deref()
        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
        .unwrap_or(event.time);
    let data = json!({
        "user_id": paid.user_id,
        "anonymous_id": null,
        "session_id": null,
        "occurred_at": rfc3339(occurred_at),
        "received_at": rfc3339(received_at),
        "order_id": paid.order_id,
        "transaction_id": paid.transaction_id,
        "total": paid.total,
        "items": paid.items.iter().map(|i| json!({
            "product_id": i.product_id,
            "sku": i.sku,
            "name": i.name,
            "quantity": i.quantity,
            "unit_price": i.unit_price,
        })).collect::<Vec<_>>(),
    });
    let out = OutboxEvent::new(
        topics::USER_EVENTS,
        SOURCE,
        PURCHASE_TYPE,
        paid.user_id.to_string(),
        data.clone(),
    );
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
