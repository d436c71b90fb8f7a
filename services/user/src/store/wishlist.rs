//! `wishlist`: (user, product) pairs, listed newest first with keyset pagination.

use sqlx::PgExecutor;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ItemRow {
    pub product_id: Uuid,
    pub added_at: OffsetDateTime,
}

/// Adds the product unless present or the list holds `max` items already. `None`: the cap
/// was reached. A product already listed keeps its original time (`new` is false).
pub async fn add(
    conn: &mut sqlx::PgConnection,
    user_id: Uuid,
    product_id: Uuid,
    max: i64,
) -> sqlx::Result<Option<(ItemRow, bool)>> {
    let inserted: Option<ItemRow> = sqlx::query_as(
        "INSERT INTO wishlist (user_id, product_id)
         SELECT $1, $2 WHERE (SELECT count(*) FROM wishlist WHERE user_id = $1) < $3
         ON CONFLICT (user_id, product_id) DO NOTHING
         RETURNING product_id, added_at",
    )
    .bind(user_id)
    .bind(product_id)
    .bind(max)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = inserted {
        return Ok(Some((row, true)));
    }
    let existing: Option<ItemRow> = sqlx::query_as(
        "SELECT product_id, added_at FROM wishlist WHERE user_id = $1 AND product_id = $2",
    )
    .bind(user_id)
    .bind(product_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(existing.map(|r| (r, false)))
}

pub async fn remove(db: impl PgExecutor<'_>, user_id: Uuid, product_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM wishlist WHERE user_id = $1 AND product_id = $2")
        .bind(user_id)
        .bind(product_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Up to `limit` items after the keyset position `after` (newest first).
pub async fn list(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    after: Option<(OffsetDateTime, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<ItemRow>> {
    let (t, id) = after.unzip();
    sqlx::query_as(
        "SELECT product_id, added_at FROM wishlist
         WHERE user_id = $1 AND ($2::timestamptz IS NULL OR (added_at, product_id) < ($2, $3))
         ORDER BY added_at DESC, product_id DESC
         LIMIT $4",
    )
    .bind(user_id)
    .bind(t)
    .bind(id)
    .bind(limit)
    .fetch_all(db)
    .await
}
