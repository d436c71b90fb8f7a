//! Stock levels: reads, availability, and the admin changes (set a count, adjust by a delta),
//! idempotent per key.

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Change, ChangeContext, MovementRow, StockRow, apply_stock_changes, in_tx, movements};
use crate::domain::{Actor, IdempotencyKey, MovementReason, Sku};
use crate::error::{Error, Result};

/// The stock of `sku` (zeros when never stocked).
pub async fn get(pool: &PgPool, sku: &Sku) -> Result<StockRow> {
    let row: Option<(i64, i64, OffsetDateTime)> =
        sqlx::query_as("SELECT on_hand, reserved, updated_at FROM stock WHERE sku = $1")
            .bind(sku.as_str())
            .fetch_optional(pool)
            .await?;
    Ok(match row {
        Some((on_hand, reserved, updated_at)) => StockRow {
            sku: sku.to_string(),
            on_hand,
            reserved,
            updated_at: Some(updated_at),
        },
        None => StockRow::empty(sku.as_str()),
    })
}

/// Available units of each SKU, in the order given (0 for never-stocked ones).
pub async fn availability(pool: &PgPool, skus: &[Sku]) -> Result<Vec<(String, i64)>> {
    let names: Vec<&str> = skus.iter().map(Sku::as_str).collect();
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT sku, on_hand - reserved FROM stock WHERE sku = ANY($1)")
            .bind(&names)
            .fetch_all(pool)
            .await?;
    let found: std::collections::HashMap<String, i64> = rows.into_iter().collect();
    Ok(names
        .iter()
        .map(|s| ((*s).to_owned(), found.get(*s).copied().unwrap_or(0).max(0)))
        .collect())
}

/// What an admin asks for.
#[derive(Clone, Debug)]
pub enum AdminChange {
    /// Set on_hand to a count, optionally only if it currently is `expected`.
    Set { on_hand: i64, expected: Option<i64> },
    /// Add `delta` (negative removes).
    Adjust { delta: i64 },
}

#[derive(Clone, Debug)]
pub struct AdminRequest {
    pub sku: Sku,
    pub change: AdminChange,
    pub reason: MovementReason,
    pub note: String,
    pub idempotency_key: Option<IdempotencyKey>,
    pub actor: Actor,
}

impl AdminRequest {
    fn operation(&self) -> &'static str {
        match self.change {
            AdminChange::Set { .. } => "set",
            AdminChange::Adjust { .. } => "adjust",
        }
    }

    /// What makes two requests under one key the same request.
    fn fingerprint(&self) -> String {
        format!(
            "{}|{:?}|{}|{}",
            self.sku,
            self.change,
            self.reason.as_str(),
            self.note
        )
    }
}

/// The answer to an admin change: the level after it and the movement (none when SetStock
/// found the count already right).
#[derive(Clone, Debug)]
pub struct AdminOutcome {
    pub stock: StockRow,
    pub movement: Option<MovementRow>,
}

/// Applies an admin change. A key seen before returns the first answer (or INVALID_ARGUMENT if
/// the request differs); the key row is written first, so concurrent retries wait for the first.
pub async fn admin_change(pool: &PgPool, req: &AdminRequest) -> Result<AdminOutcome> {
    in_tx!(pool, |tx| admin_change_in(&mut tx, req))
}

async fn admin_change_in(tx: &mut PgConnection, req: &AdminRequest) -> Result<AdminOutcome> {
    let sku = req.sku.as_str();
    if let Some(key) = &req.idempotency_key {
        let claimed = sqlx::query(
            "INSERT INTO admin_requests (idempotency_key, operation, fingerprint, sku)
             VALUES ($1, $2, $3, $4) ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(key.as_str())
        .bind(req.operation())
        .bind(req.fingerprint())
        .bind(sku)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !claimed {
            return replay(tx, key, req).await;
        }
    }
    sqlx::query("INSERT INTO stock (sku) VALUES ($1) ON CONFLICT (sku) DO NOTHING")
        .bind(sku)
        .execute(&mut *tx)
        .await?;
    let locked = super::lock_stock(tx, &[sku.to_owned()]).await?;
    let current = locked.get(sku).cloned().ok_or_else(|| {
        Error::Internal(anyhow::anyhow!("stock row of `{sku}` missing after insert"))
    })?;
    let new_on_hand = match req.change {
        AdminChange::Set { on_hand, expected } => {
            if let Some(exp) = expected
                && exp != current.on_hand
            {
                return Err(Error::Aborted(format!(
                    "on_hand of `{sku}` is {} now, not the expected {exp}: read the stock again and retry.",
                    current.on_hand
                )));
            }
            on_hand
        }
        AdminChange::Adjust { delta } => {
            let n = current.on_hand + delta;
            if n < 0 {
                return Err(Error::FailedPrecondition(format!(
                    "Removing {} units of `{sku}` would leave on_hand below zero: only {} are on hand.",
                    -delta, current.on_hand
                )));
            }
            n
        }
    };
    if new_on_hand < current.reserved {
        return Err(Error::FailedPrecondition(format!(
            "on_hand of `{sku}` cannot go to {new_on_hand}: {} units are held by active reservations. \
             Keep it at {} or more, or wait until reservations are committed or released.",
            current.reserved, current.reserved
        )));
    }
    let delta = new_on_hand - current.on_hand;
    let outcome = if delta == 0 {
        AdminOutcome {
            stock: current,
            movement: None,
        }
    } else {
        let ctx = ChangeContext {
            reason: req.reason,
            note: &req.note,
            order_id: None,
            actor: req.actor,
            idempotency_key: req.idempotency_key.as_ref().map(IdempotencyKey::as_str),
        };
        let mut applied = apply_stock_changes(
            tx,
            &[Change {
                sku: sku.to_owned(),
                delta_on_hand: delta,
                delta_reserved: 0,
            }],
            &ctx,
        )
        .await?;
        let (stock, movement) = applied.remove(0);
        AdminOutcome {
            stock,
            movement: Some(movement),
        }
    };
    if let Some(key) = &req.idempotency_key {
        sqlx::query(
            "UPDATE admin_requests
                SET on_hand = $2, reserved = $3, stock_updated_at = $4, movement_id = $5
              WHERE idempotency_key = $1",
        )
        .bind(key.as_str())
        .bind(outcome.stock.on_hand)
        .bind(outcome.stock.reserved)
        .bind(outcome.stock.updated_at)
        .bind(outcome.movement.as_ref().map(|m| m.id))
        .execute(&mut *tx)
        .await?;
    }
    Ok(outcome)
}

/// The first answer given under `key`.
async fn replay(
    tx: &mut PgConnection,
    key: &IdempotencyKey,
    req: &AdminRequest,
) -> Result<AdminOutcome> {
    type Row = (
        String,
        String,
        String,
        Option<i64>,
        Option<i64>,
        Option<OffsetDateTime>,
        Option<Uuid>,
    );
    let row: Row = sqlx::query_as(
        "SELECT operation, fingerprint, sku, on_hand, reserved, stock_updated_at, movement_id
           FROM admin_requests WHERE idempotency_key = $1",
    )
    .bind(key.as_str())
    .fetch_one(&mut *tx)
    .await?;
    let (operation, fingerprint, sku, on_hand, reserved, updated_at, movement_id) = row;
    if operation != req.operation() || fingerprint != req.fingerprint() {
        return Err(Error::Invalid(vec![crate::domain::Invalid::new(
            "idempotency_key",
            "was already used for a different request: use a new key for a new change",
        )]));
    }
    let movement = match movement_id {
        Some(id) => movements::get(&mut *tx, id).await?,
        None => None,
    };
    Ok(AdminOutcome {
        stock: StockRow {
            sku,
            on_hand: on_hand.unwrap_or_default(),
            reserved: reserved.unwrap_or_default(),
            updated_at,
        },
        movement,
    })
}
