//! What the cart publishes (`cart.item_added`, `cart.item_removed` on `cart-events`, keyed by
//! cart id, through the outbox) and what it consumes (`order.paid` on `order-events`: the
//! purchased quantities leave the buyer's cart, once per event through the inbox).

use kit::events::topics;
use kit::kafka::{Delivery, Outcome};
use kit::outbox::{self, OutboxEvent};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::Owner;
use crate::hot::Hot;
use crate::store::{self, CartRow};

/// The `source` of every event the cart publishes.
pub const SOURCE: &str = "/storefront/cart";
pub const ITEM_ADDED: &str = "cart.item_added";
pub const ITEM_REMOVED: &str = "cart.item_removed";
pub const ORDER_PAID: &str = "order.paid";
/// The inbox name of the `order-events` consumer.
pub const CONSUMER: &str = "cart";

/// `data` of `cart.item_added`: `quantity` units of `sku` were added; the line now holds
/// `line_quantity`. `user_id` is null for a guest cart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemAdded {
    pub cart_id: Uuid,
    pub user_id: Option<Uuid>,
    pub sku: String,
    pub quantity: i32,
    pub line_quantity: i32,
}

/// Why units left a cart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovedReason {
    /// The customer removed the line.
    Removed,
    /// The customer lowered the quantity.
    Updated,
    /// The customer emptied the cart.
    Cleared,
    /// The units were bought (`order.paid`).
    Purchased,
}

/// `data` of `cart.item_removed`: `quantity` units of `sku` left the cart; the line now holds
/// `line_quantity` (0: the line is gone).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRemoved {
    pub cart_id: Uuid,
    pub user_id: Option<Uuid>,
    pub sku: String,
    pub quantity: i32,
    pub line_quantity: i32,
    pub reason: RemovedReason,
}

fn event(cart: &CartRow, event_type: &str, data: serde_json::Value) -> OutboxEvent {
    OutboxEvent::new(
        topics::CART_EVENTS,
        SOURCE,
        event_type,
        cart.id.to_string(),
        data,
    )
}

pub async fn enqueue_added(
    tx: &mut PgConnection,
    cart: &CartRow,
    sku: &str,
    quantity: i32,
    line_quantity: i32,
) -> Result<(), sqlx::Error> {
    let data = ItemAdded {
        cart_id: cart.id,
        user_id: cart.user_id,
        sku: sku.to_owned(),
        quantity,
        line_quantity,
    };
    let data = serde_json::to_value(&data).expect("plain data serialises");
    outbox::enqueue(tx, &event(cart, ITEM_ADDED, data))
        .await
        .map(|_| ())
}

pub async fn enqueue_removed(
    tx: &mut PgConnection,
    cart: &CartRow,
    sku: &str,
    quantity: i32,
    line_quantity: i32,
    reason: RemovedReason,
) -> Result<(), sqlx::Error> {
    let data = ItemRemoved {
        cart_id: cart.id,
        user_id: cart.user_id,
        sku: sku.to_owned(),
        quantity,
        line_quantity,
        reason,
    };
    let data = serde_json::to_value(&data).expect("plain data serialises");
    outbox::enqueue(tx, &event(cart, ITEM_REMOVED, data))
        .await
        .map(|_| ())
}

/// The fields of `order.paid` the cart needs.
#[derive(Debug, Deserialize)]
struct OrderPaid {
    user_id: Uuid,
    #[serde(default)]
    items: Vec<PaidItem>,
}

#[derive(Debug, Deserialize)]
struct PaidItem {
    sku: String,
    quantity: i64,
}

/// Handles one `order-events` delivery: `order.paid` takes the purchased quantities out of the
/// buyer's cart (lines that were changed since checkout keep what exceeds the purchase), once per
/// event id. Other types are ignored. Then the Redis copy is refreshed from cart_db.
pub async fn handle_order_event(
    pool: &PgPool,
    hot: &Hot,
    delivery: Delivery,
) -> anyhow::Result<Outcome> {
    let event = &delivery.event;
    if event.event_type != ORDER_PAID {
        return Ok(Outcome::Ignored);
    }
    let paid: OrderPaid = match event.data_as() {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(event_id = %event.id, error = %e, "order.paid without user_id and items; skipping it");
            return Ok(Outcome::Ignored);
        }
    };
    let owner = Owner::User(paid.user_id);
    let outcome = kit::inbox::apply_once(pool, CONSUMER, event, async |tx| {
        let Some(cart) = store::lock_existing(tx, &owner).await? else {
            return Ok(());
        };
        let lines = store::lines(tx, cart.id).await?;
        let mut changed = false;
        for item in &paid.items {
            let Some((_, have)) = lines.iter().find(|(s, _)| *s == item.sku) else {
                continue;
            };
            let bought = item.quantity.clamp(0, i64::from(*have)) as i32;
            if bought == 0 {
                continue;
            }
            let left = have - bought;
            if left == 0 {
                store::delete_line(tx, cart.id, &item.sku).await?;
            } else {
                store::set_line(tx, cart.id, &item.sku, left).await?;
            }
            enqueue_removed(tx, &cart, &item.sku, bought, left, RemovedReason::Purchased).await?;
            changed = true;
        }
        if changed {
            store::bump(tx, cart.id).await?;
        }
        Ok(())
    })
    .await?;
    if outcome == Outcome::Applied {
        refresh(pool, hot, &owner).await;
    }
    Ok(outcome)
}

/// Rebuilds the Redis copy of `owner`'s cart from cart_db; on failure drops it, so the next
/// read rebuilds it.
pub async fn refresh(pool: &PgPool, hot: &Hot, owner: &Owner) {
    let result = match store::load(pool, owner).await {
        Ok(snap) if snap.cart_id.is_some() => hot.put(owner, &snap).await,
        Ok(_) => hot.remove(owner).await,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the cart to refresh its Redis copy");
            hot.remove(owner).await
        }
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot refresh the Redis copy of a cart");
    }
}
