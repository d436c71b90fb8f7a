//! SQL of cart_db: carts and their lines, the durable copy of every cart. Every change runs in a
//! transaction that holds the cart row locked (`FOR UPDATE`), bumps its version and writes its
//! events into the outbox, so the lines, the version and the events always agree.

use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::domain::Owner;

/// Migrations of cart_db (`migrations/cart/`).
pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/cart");

/// A locked cart row.
#[derive(Clone, Debug)]
pub struct CartRow {
    pub id: Uuid,
    pub user_id: Option<Uuid>,
    pub version: i64,
}

/// A cart as stored: its version and its lines (sku, quantity), sorted by SKU.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub cart_id: Option<Uuid>,
    pub version: i64,
    pub lines: Vec<(String, i32)>,
}

fn owner_column(owner: &Owner) -> (&'static str, Option<Uuid>, Option<&str>) {
    match owner {
        Owner::User(id) => ("user_id", Some(*id), None),
        Owner::Guest(h) => ("guest_token_hash", None, Some(h.as_str())),
    }
}

/// The owner's cart with its lines; an empty snapshot (version 0) when there is none.
pub async fn load(pool: &PgPool, owner: &Owner) -> Result<Snapshot, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let row = match owner {
        Owner::User(id) => {
            sqlx::query("SELECT id, version FROM carts WHERE user_id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?
        }
        Owner::Guest(h) => {
            sqlx::query("SELECT id, version FROM carts WHERE guest_token_hash = $1")
                .bind(h)
                .fetch_optional(&mut *conn)
                .await?
        }
    };
    let Some(row) = row else {
        return Ok(Snapshot::default());
    };
    let id: Uuid = row.try_get("id")?;
    let version: i64 = row.try_get("version")?;
    let lines = lines(&mut conn, id).await?;
    Ok(Snapshot {
        cart_id: Some(id),
        version,
        lines,
    })
}

/// Locks the owner's cart, creating it when missing.
pub async fn lock_or_create(tx: &mut PgConnection, owner: &Owner) -> Result<CartRow, sqlx::Error> {
    if let Some(c) = lock_existing(tx, owner).await? {
        return Ok(c);
    }
    let (_, user_id, hash) = owner_column(owner);
    sqlx::query(
        "INSERT INTO carts (id, user_id, guest_token_hash) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(Uuid::now_v7())
    .bind(user_id)
    .bind(hash)
    .execute(&mut *tx)
    .await?;
    match lock_existing(tx, owner).await? {
        Some(c) => Ok(c),
        None => Err(sqlx::Error::RowNotFound),
    }
}

/// Locks the owner's cart if there is one.
pub async fn lock_existing(
    tx: &mut PgConnection,
    owner: &Owner,
) -> Result<Option<CartRow>, sqlx::Error> {
    let row = match owner {
        Owner::User(id) => {
            sqlx::query("SELECT id, user_id, version FROM carts WHERE user_id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
        }
        Owner::Guest(h) => {
            sqlx::query(
                "SELECT id, user_id, version FROM carts WHERE guest_token_hash = $1 FOR UPDATE",
            )
            .bind(h)
            .fetch_optional(&mut *tx)
            .await?
        }
    };
    row.map(|r| {
        Ok(CartRow {
            id: r.try_get("id")?,
            user_id: r.try_get("user_id")?,
            version: r.try_get("version")?,
        })
    })
    .transpose()
}

/// Lines of a cart, sorted by SKU (bytewise, as [`with_line`] and the Redis copy sort them).
pub async fn lines(
    conn: &mut PgConnection,
    cart_id: Uuid,
) -> Result<Vec<(String, i32)>, sqlx::Error> {
    sqlx::query_as(
        r#"SELECT sku, quantity FROM cart_items WHERE cart_id = $1 ORDER BY sku COLLATE "C""#,
    )
    .bind(cart_id)
    .fetch_all(&mut *conn)
    .await
}

/// `lines` (sorted by SKU) after the line of `sku` was set to `quantity` (`None`: deleted):
/// what [`lines`] reads after [`set_line`] or [`delete_line`], without reading it.
pub fn with_line(
    mut lines: Vec<(String, i32)>,
    sku: &str,
    quantity: Option<i32>,
) -> Vec<(String, i32)> {
    match (
        lines.binary_search_by(|(s, _)| s.as_str().cmp(sku)),
        quantity,
    ) {
        (Ok(i), Some(q)) => lines[i].1 = q,
        (Ok(i), None) => {
            lines.remove(i);
        }
        (Err(i), Some(q)) => lines.insert(i, (sku.to_owned(), q)),
        (Err(_), None) => {}
    }
    lines
}

pub async fn set_line(
    tx: &mut PgConnection,
    cart_id: Uuid,
    sku: &str,
    quantity: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO cart_items (cart_id, sku, quantity) VALUES ($1, $2, $3)
         ON CONFLICT (cart_id, sku) DO UPDATE SET quantity = EXCLUDED.quantity, updated_at = now()",
    )
    .bind(cart_id)
    .bind(sku)
    .bind(quantity)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub async fn delete_line(
    tx: &mut PgConnection,
    cart_id: Uuid,
    sku: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM cart_items WHERE cart_id = $1 AND sku = $2")
        .bind(cart_id)
        .bind(sku)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

pub async fn delete_lines(tx: &mut PgConnection, cart_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM cart_items WHERE cart_id = $1")
        .bind(cart_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Deletes a cart with its lines (a merged guest cart).
pub async fn delete_cart(tx: &mut PgConnection, cart_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM carts WHERE id = $1")
        .bind(cart_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Records a change: the next version, which the Redis copy is compared against.
pub async fn bump(tx: &mut PgConnection, cart_id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE carts SET version = version + 1, updated_at = now() WHERE id = $1 RETURNING version",
    )
    .bind(cart_id)
    .fetch_one(&mut *tx)
    .await
}

/// For a merge: locks the user's cart (created when missing) and the guest cart, in id order so
/// two merges never deadlock. Returns (user cart, guest cart if it exists).
pub async fn lock_for_merge(
    tx: &mut PgConnection,
    user_id: Uuid,
    guest_hash: &str,
) -> Result<(CartRow, Option<CartRow>), sqlx::Error> {
    sqlx::query("INSERT INTO carts (id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(Uuid::now_v7())
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let rows = sqlx::query(
        "SELECT id, user_id, version FROM carts WHERE user_id = $1 OR guest_token_hash = $2
         ORDER BY id FOR UPDATE",
    )
    .bind(user_id)
    .bind(guest_hash)
    .fetch_all(&mut *tx)
    .await?;
    let mut user = None;
    let mut guest = None;
    for r in rows {
        let row = CartRow {
            id: r.try_get("id")?,
            user_id: r.try_get("user_id")?,
            version: r.try_get("version")?,
        };
        if row.user_id == Some(user_id) {
            user = Some(row);
        } else {
            guest = Some(row);
        }
    }
    Ok((user.ok_or(sqlx::Error::RowNotFound)?, guest))
}

/// Deletes guest carts untouched for `days` days (at most `limit` per call). Returns how many.
pub async fn delete_stale_guest_carts(
    pool: &PgPool,
    days: u64,
    limit: i64,
) -> Result<u64, sqlx::Error> {
    let r = sqlx::query(
        "DELETE FROM carts WHERE id IN (
             SELECT id FROM carts
              WHERE guest_token_hash IS NOT NULL
                AND updated_at < now() - make_interval(days => $1)
              LIMIT $2
              FOR UPDATE SKIP LOCKED)",
    )
    .bind(i32::try_from(days).unwrap_or(i32::MAX))
    .bind(limit)
    .execute(pool)
    .await?;
    Ok(r.rows_affected())
}

/// The remembered answer of `POST cart/items` with `key` on `cart_id`: (request hash, status).
pub async fn find_request(
    tx: &mut PgConnection,
    cart_id: Uuid,
    key: &str,
) -> Result<Option<(String, i16)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT request_hash, status FROM cart_requests WHERE cart_id = $1 AND idempotency_key = $2",
    )
    .bind(cart_id)
    .bind(key)
    .fetch_optional(&mut *tx)
    .await
}

pub async fn remember_request(
    tx: &mut PgConnection,
    cart_id: Uuid,
    key: &str,
    hash: &str,
    status: i16,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO cart_requests (cart_id, idempotency_key, request_hash, status) VALUES ($1, $2, $3, $4)",
    )
    .bind(cart_id)
    .bind(key)
    .bind(hash)
    .bind(status)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// [`find_request`] by owner, outside a transaction (the cheap check before any upstream call).
pub async fn find_request_for_owner(
    pool: &PgPool,
    owner: &Owner,
    key: &str,
) -> Result<Option<(String, i16)>, sqlx::Error> {
    let (_, user_id, hash) = owner_column(owner);
    sqlx::query_as(
        "SELECT r.request_hash, r.status FROM cart_requests r JOIN carts c ON c.id = r.cart_id
          WHERE (c.user_id = $1 OR c.guest_token_hash = $3) AND r.idempotency_key = $2",
    )
    .bind(user_id)
    .bind(key)
    .bind(hash)
    .fetch_optional(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::with_line;

    #[test]
    fn a_changed_line_keeps_the_lines_sorted() {
        let lines = |v: &[(&str, i32)]| -> Vec<(String, i32)> {
            v.iter().map(|(s, q)| ((*s).to_owned(), *q)).collect()
        };
        let start = lines(&[("B-2", 1), ("b-1", 3)]);
        assert_eq!(
            with_line(start.clone(), "A-9", Some(2)),
            lines(&[("A-9", 2), ("B-2", 1), ("b-1", 3)])
        );
        assert_eq!(
            with_line(start.clone(), "Z", Some(1)),
            lines(&[("B-2", 1), ("Z", 1), ("b-1", 3)])
        );
        assert_eq!(
            with_line(start.clone(), "b-1", Some(5)),
            lines(&[("B-2", 1), ("b-1", 5)])
        );
        assert_eq!(with_line(start.clone(), "B-2", None), lines(&[("b-1", 3)]));
        assert_eq!(with_line(start.clone(), "C", None), start);
    }
}
