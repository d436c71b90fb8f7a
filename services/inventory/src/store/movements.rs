//! The movements ledger: reads for the API (only rows that changed on_hand are movements there;
//! reserve/release/expire rows stay in the table for audit).

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::MovementRow;
use crate::domain::MovementReason;
use crate::error::{Error, Result};

const COLUMNS: &str = "seq, id, sku, delta_on_hand, delta_reserved, on_hand_after, reserved_after, \
                       reason, note, order_id, actor_user_id, created_at";

fn from_row(r: &PgRow) -> Result<MovementRow> {
    let reason: String = r.try_get("reason")?;
    Ok(MovementRow {
        seq: r.try_get("seq")?,
        id: r.try_get("id")?,
        sku: r.try_get("sku")?,
        delta_on_hand: r.try_get("delta_on_hand")?,
        delta_reserved: r.try_get("delta_reserved")?,
        on_hand_after: r.try_get("on_hand_after")?,
        reserved_after: r.try_get("reserved_after")?,
        reason: MovementReason::from_db(&reason).ok_or_else(|| {
            Error::Internal(anyhow::anyhow!("unknown movement reason `{reason}`"))
        })?,
        note: r.try_get("note")?,
        order_id: r.try_get("order_id")?,
        actor_user_id: r.try_get("actor_user_id")?,
        created_at: r.try_get("created_at")?,
    })
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<MovementRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM stock_movements WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Filters of a listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub sku: Option<String>,
    pub order_id: Option<Uuid>,
}

/// Movements that changed on_hand, newest first, older than `before_seq`; `limit` of them and
/// whether there are more.
pub async fn list(
    pool: &PgPool,
    filter: &Filter,
    before_seq: Option<i64>,
    limit: i64,
) -> Result<(Vec<MovementRow>, bool)> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM stock_movements
          WHERE delta_on_hand <> 0
            AND ($1::text IS NULL OR sku = $1)
            AND ($2::uuid IS NULL OR order_id = $2)
            AND ($3::bigint IS NULL OR seq < $3)
          ORDER BY seq DESC
          LIMIT $4"
    )))
    .bind(filter.sku.as_deref())
    .bind(filter.order_id)
    .bind(before_seq)
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let more = rows.len() as i64 > limit;
    let items = rows
        .iter()
        .take(limit as usize)
        .map(from_row)
        .collect::<Result<Vec<_>>>()?;
    Ok((items, more))
}
