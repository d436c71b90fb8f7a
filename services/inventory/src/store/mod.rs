//! SQL of inventory_db, one module per aggregate. Every stock change goes through
//! [`apply_stock_changes`], which writes the ledger and the `inventory.stock_changed` events in
//! the caller's transaction, on stock rows the caller has locked in SKU order.

pub mod announce;
pub mod movements;
pub mod reservations;
pub mod stock;

use std::collections::HashMap;
use std::time::Duration;

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{Actor, MovementReason};
use crate::error::{Error, Result};

/// Migrations of inventory_db (`migrations/inventory/`).
pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/inventory");

/// Attempts of a transaction that failed with a deadlock or serialization error.
const MAX_ATTEMPTS: u32 = 8;

/// Runs `$body` (an expression using `$tx: &mut Transaction`) in a transaction and commits. A
/// deadlock or serialization failure (which the lock order should prevent, but a database may
/// still report) reruns the whole transaction, so it never reaches a caller. Any other error
/// rolls back. (A macro rather than a function taking an async closure: such closures do not
/// yet give `Send` futures, which tonic handlers need.)
macro_rules! in_tx {
    ($pool:expr, |$tx:ident| $body:expr) => {{
        let mut attempt: u32 = 1;
        loop {
            let mut $tx = $pool.begin().await?;
            let outcome = $body.await;
            let result: $crate::error::Result<_> = match outcome {
                Ok(v) => $tx
                    .commit()
                    .await
                    .map(|()| v)
                    .map_err($crate::error::Error::from),
                Err(e) => Err(e),
            };
            match result {
                Err(e) if $crate::store::retry_transient(&e, attempt).await => attempt += 1,
                other => break other,
            }
        }
    }};
}
pub(crate) use in_tx;

/// Whether a failed transaction should run again (and waits a little first).
pub(crate) async fn retry_transient(e: &Error, attempt: u32) -> bool {
    if !e.is_transient() || attempt >= MAX_ATTEMPTS {
        return false;
    }
    tracing::debug!(attempt, error = %e, "transient database error; retrying the transaction");
    tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt))).await;
    true
}

/// The stock of one SKU. A never-stocked SKU has zeros and no `updated_at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StockRow {
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub updated_at: Option<OffsetDateTime>,
}

impl StockRow {
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }

    pub fn empty(sku: &str) -> Self {
        Self {
            sku: sku.to_owned(),
            on_hand: 0,
            reserved: 0,
            updated_at: None,
        }
    }
}

/// One ledger row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MovementRow {
    pub seq: i64,
    pub id: Uuid,
    pub sku: String,
    pub delta_on_hand: i64,
    pub delta_reserved: i64,
    pub on_hand_after: i64,
    pub reserved_after: i64,
    pub reason: MovementReason,
    pub note: String,
    pub order_id: Option<Uuid>,
    pub actor_user_id: Option<Uuid>,
    pub created_at: OffsetDateTime,
}

/// A change of one SKU's stock.
#[derive(Clone, Debug)]
pub struct Change {
    pub sku: String,
    pub delta_on_hand: i64,
    pub delta_reserved: i64,
}

/// What is recorded with a set of changes.
#[derive(Clone, Debug)]
pub struct ChangeContext<'a> {
    pub reason: MovementReason,
    pub note: &'a str,
    pub order_id: Option<Uuid>,
    pub actor: Actor,
    pub idempotency_key: Option<&'a str>,
}

/// Applies `changes` (each SKU at most once, rows existing and locked by the caller), writes a
/// ledger row per change and an `inventory.stock_changed` event per SKU. The CHECK constraints
/// of `stock` are the last line of defence: a change that would break `0 <= reserved <= on_hand`
/// fails the transaction. Returns the new levels and ledger rows in the order of `changes`.
pub async fn apply_stock_changes(
    tx: &mut PgConnection,
    changes: &[Change],
    ctx: &ChangeContext<'_>,
) -> Result<Vec<(StockRow, MovementRow)>> {
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let skus: Vec<&str> = changes.iter().map(|c| c.sku.as_str()).collect();
    let d_on_hand: Vec<i64> = changes.iter().map(|c| c.delta_on_hand).collect();
    let d_reserved: Vec<i64> = changes.iter().map(|c| c.delta_reserved).collect();
    let rows: Vec<(String, i64, i64, OffsetDateTime)> = sqlx::query_as(
        "UPDATE stock s
            SET on_hand = s.on_hand + c.d_on_hand,
                reserved = s.reserved + c.d_reserved,
                updated_at = now()
           FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS c(sku, d_on_hand, d_reserved)
          WHERE s.sku = c.sku
      RETURNING s.sku, s.on_hand, s.reserved, s.updated_at",
    )
    .bind(&skus)
    .bind(&d_on_hand)
    .bind(&d_reserved)
    .fetch_all(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.code().as_deref() == Some("23514") => {
            Error::FailedPrecondition(format!(
                "This change would leave stock below zero or below the units reserved ({}).",
                d.constraint().unwrap_or("stock check")
            ))
        }
        _ => Error::Db(e),
    })?;
    let after: HashMap<String, StockRow> = rows
        .into_iter()
        .map(|(sku, on_hand, reserved, updated_at)| {
            (
                sku.clone(),
                StockRow {
                    sku,
                    on_hand,
                    reserved,
                    updated_at: Some(updated_at),
                },
            )
        })
        .collect();
    let mut out = Vec::with_capacity(changes.len());
    for c in changes {
        let stock = after
            .get(&c.sku)
            .cloned()
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("stock row of `{}` vanished", c.sku)))?;
        let movement = MovementRow {
            seq: 0,
            id: Uuid::now_v7(),
            sku: c.sku.clone(),
            delta_on_hand: c.delta_on_hand,
            delta_reserved: c.delta_reserved,
            on_hand_after: stock.on_hand,
            reserved_after: stock.reserved,
            reason: ctx.reason,
            note: ctx.note.to_owned(),
            order_id: ctx.order_id,
            actor_user_id: ctx.actor.user_id(),
            created_at: stock.updated_at.unwrap_or_else(OffsetDateTime::now_utc),
        };
        out.push((stock, movement));
    }
    let ids: Vec<Uuid> = out.iter().map(|(_, m)| m.id).collect();
    let on_hand_after: Vec<i64> = out.iter().map(|(s, _)| s.on_hand).collect();
    let reserved_after: Vec<i64> = out.iter().map(|(s, _)| s.reserved).collect();
    let seqs: Vec<(Uuid, i64)> = sqlx::query_as(
        "INSERT INTO stock_movements
                (id, sku, delta_on_hand, delta_reserved, on_hand_after, reserved_after,
                 reason, note, order_id, actor_user_id, idempotency_key, created_at)
         SELECT u.id, u.sku, u.d_on_hand, u.d_reserved, u.on_hand_after, u.reserved_after,
                $7, $8, $9, $10, $11, now()
           FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])
                AS u(id, sku, d_on_hand, d_reserved, on_hand_after, reserved_after)
      RETURNING id, seq",
    )
    .bind(&ids)
    .bind(&skus)
    .bind(&d_on_hand)
    .bind(&d_reserved)
    .bind(&on_hand_after)
    .bind(&reserved_after)
    .bind(ctx.reason.as_str())
    .bind(ctx.note)
    .bind(ctx.order_id)
    .bind(ctx.actor.user_id())
    .bind(ctx.idempotency_key)
    .fetch_all(&mut *tx)
    .await?;
    let seqs: HashMap<Uuid, i64> = seqs.into_iter().collect();
    for (stock, movement) in &mut out {
        movement.seq = seqs.get(&movement.id).copied().unwrap_or_default();
        announce::stock_changed(tx, stock, ctx.reason, ctx.order_id).await?;
    }
    Ok(out)
}

/// Locks the stock rows of `skus` in SKU order (the one lock order of this service) and returns
/// the existing ones by SKU. `skus` need not be sorted.
pub async fn lock_stock(
    tx: &mut PgConnection,
    skus: &[String],
) -> Result<HashMap<String, StockRow>> {
    let rows: Vec<(String, i64, i64, OffsetDateTime)> = sqlx::query_as(
        "SELECT sku, on_hand, reserved, updated_at FROM stock
          WHERE sku = ANY($1) ORDER BY sku FOR UPDATE",
    )
    .bind(skus)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(sku, on_hand, reserved, updated_at)| {
            (
                sku.clone(),
                StockRow {
                    sku,
                    on_hand,
                    reserved,
                    updated_at: Some(updated_at),
                },
            )
        })
        .collect())
}
