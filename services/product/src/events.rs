//! What product consumes: `inventory.stock_changed` on `inventory-events` keeps
//! `product_variants.in_stock` current (available > 0), once per event through the inbox, and
//! invalidates the cached product after commit. What it publishes (`product.created|updated|
//! archived|deleted` on `product-events`) is written by [`crate::service`] through the outbox.

use uuid::Uuid;

use kit::contracts::events::inventory::StockChanged;
use kit::kafka::{Delivery, Outcome};

use crate::service::Catalog;
use crate::store::products;

/// The inbox name of the `inventory-events` consumer.
pub const CONSUMER: &str = "product";

/// Applies one `inventory-events` delivery.
pub async fn handle_inventory_event(catalog: &Catalog, d: Delivery) -> anyhow::Result<Outcome> {
    let data: StockChanged = match d.event.decode() {
        None => return Ok(Outcome::Ignored),
        Some(Ok(v)) => v,
        Some(Err(e)) => {
            tracing::warn!(event_id = %d.event.id, error = %e, "skipping a malformed inventory.stock_changed");
            return Ok(Outcome::Ignored);
        }
    };
    let mut changed: Option<(Uuid, i64)> = None;
    let outcome = kit::inbox::apply_once(&catalog.pool, CONSUMER, &d.event, async |tx| {
        let product: Option<Uuid> = sqlx::query_scalar(
            "UPDATE product_variants SET in_stock = $2, updated_at = now()
              WHERE sku = $1 AND in_stock <> $2 RETURNING product_id",
        )
        .bind(&data.sku)
        .bind(data.available > 0)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(p) = product {
            changed = Some((p, products::refresh(tx, p).await?));
        }
        Ok(())
    })
    .await?;
    if let Some((p, version)) = changed
        && !catalog.cache.invalidate(p, version).await
    {
        tracing::warn!(product_id = %p, "could not invalidate the cached product");
    }
    Ok(outcome)
}
