//! What the cart publishes (`cart.item_added`, `cart.item_removed` on `cart-events`, keyed by
//! cart id, through the outbox) and what it consumes (`order.paid` on `order-events`: the
//! purchased quantities leave the buyer's cart, once per event through the inbox).

use kit::contracts::events::order::OrderPaid;
use kit::kafka::{Delivery, Outcome};
use kit::outbox::{self, OutboxEvent};
use sqlx::{PgConnection, PgPool};

use crate::domain::Owner;
use crate::hot::Hot;
use crate::store::{self, CartRow};

pub use kit::contracts::events::cart::{
    CartItemAdded as ItemAdded, CartItemRemoved as ItemRemoved, RemovedReason,
};

/// The inbox name of the `order-events` consumer.
pub const CONSUMER: &str = "cart";

fn event(cart: &CartRow, data: &impl kit::contracts::Event) -> OutboxEvent {
    OutboxEvent::of(cart.id.to_string(), data)
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
    outbox::enqueue(tx, &event(cart, &data)).await.map(|_| ())
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
    outbox::enqueue(tx, &event(cart, &data)).await.map(|_| ())
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
    let paid: OrderPaid = match event.decode() {
        None => return Ok(Outcome::Ignored),
        Some(Ok(p)) => p,
        Some(Err(e)) => {
            tracing::error!(event_id = %event.id, error = %e, "order.paid that does not decode; skipping it");
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
