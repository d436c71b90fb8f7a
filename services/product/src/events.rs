//! What product consumes: `inventory.stock_changed` on `inventory-events` keeps
//! `product_variants.in_stock` current (available > 0), and invalidates the cached product after
//! commit. What it publishes (`product.created|updated|
//! archived|deleted` on `product-events`) is written by [`crate::service`] through the outbox.

use uuid::Uuid;

use kit::contracts::events::inventory::StockChanged;
use kit::kafka::{Delivery, Outcome};

use crate::service::Catalog;
use crate::store::products;

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
    // No inbox row: the effect is absolute (the SKU's in_stock is set from `available`), so a
    // redelivered event sets what it set before, and a replay after a crash runs the partition's
    // events in their order again, ending at the latest. A delivery that changes nothing writes
    // nothing (no transaction id, no row), which is most of them: a sale that leaves stock.
    let mut tx = catalog.pool.begin().await?;
    let product: Option<Uuid> = sqlx::query_scalar(
        "UPDATE product_variants SET in_stock = $2, updated_at = now()
          WHERE sku = $1 AND in_stock <> $2 RETURNING product_id",
    )
    .bind(&data.sku)
    .bind(data.available > 0)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(p) = product else {
        // Already in effect: the SKU's in_stock says what this event says.
        tx.rollback().await?;
        return Ok(Outcome::Applied);
    };
    let version = products::refresh(&mut tx, p).await?;
    tx.commit().await?;
    if !catalog.cache.invalidate(p, version).await {
        tracing::warn!(product_id = %p, "could not invalidate the cached product");
    }
    Ok(Outcome::Applied)
}
