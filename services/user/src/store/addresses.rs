//! `addresses`: a user's postal addresses. At most one default shipping and one default billing
//! address per user, enforced by partial unique indexes; switching a default clears the old one
//! in the same transaction. Writes of one user are serialised by locking the profile row.

use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

/// The partial unique indexes behind the default rules.
pub const ONE_DEFAULT_SHIPPING: &str = "addresses_one_default_shipping";
pub const ONE_DEFAULT_BILLING: &str = "addresses_one_default_billing";

#[derive(Clone, Debug, Default, sqlx::FromRow)]
pub struct AddressRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub label: String,
    pub recipient_name: String,
    pub organization: String,
    pub address_lines: Vec<String>,
    pub locality: String,
    pub administrative_area: String,
    pub postal_code: String,
    pub country_code: String,
    pub phone: String,
    pub is_default_shipping: bool,
    pub is_default_billing: bool,
    pub created_at: Option<OffsetDateTime>,
    pub updated_at: Option<OffsetDateTime>,
}

const COLUMNS: &str = "id, user_id, label, recipient_name, organization, address_lines, locality, \
     administrative_area, postal_code, country_code::text AS country_code, phone, \
     is_default_shipping, is_default_billing, created_at, updated_at";

/// Serialises address writes of `user_id` for the rest of the transaction.
pub async fn lock_user(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<()> {
    crate::store::profiles::get_or_create(conn, user_id).await?;
    sqlx::query("SELECT 1 FROM user_profiles WHERE user_id = $1 FOR UPDATE")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn count(db: impl PgExecutor<'_>, user_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM addresses WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(db)
        .await
}

/// Defaults first, then newest first.
pub async fn list(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    offset: i64,
    limit: i64,
) -> sqlx::Result<Vec<AddressRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM addresses WHERE user_id = $1
         ORDER BY (is_default_shipping OR is_default_billing) DESC, created_at DESC, id DESC
         OFFSET $2 LIMIT $3"
    )))
    .bind(user_id)
    .bind(offset)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The address `id` if it belongs to `user_id` (another user's id reads as absent).
pub async fn get(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    id: Uuid,
    for_update: bool,
) -> sqlx::Result<Option<AddressRow>> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM addresses WHERE user_id = $1 AND id = $2{lock}"
    )))
    .bind(user_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Clears the flags `a` sets on the user's other addresses, so `a` can take them.
async fn clear_defaults(conn: &mut PgConnection, a: &AddressRow) -> sqlx::Result<()> {
    if a.is_default_shipping {
        sqlx::query(
            "UPDATE addresses SET is_default_shipping = false, updated_at = now()
             WHERE user_id = $1 AND id <> $2 AND is_default_shipping",
        )
        .bind(a.user_id)
        .bind(a.id)
        .execute(&mut *conn)
        .await?;
    }
    if a.is_default_billing {
        sqlx::query(
            "UPDATE addresses SET is_default_billing = false, updated_at = now()
             WHERE user_id = $1 AND id <> $2 AND is_default_billing",
        )
        .bind(a.user_id)
        .bind(a.id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Inserts `a` (in the caller's transaction, after [`lock_user`]).
pub async fn insert(conn: &mut PgConnection, a: &AddressRow) -> sqlx::Result<AddressRow> {
    clear_defaults(conn, a).await?;
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO addresses (id, user_id, label, recipient_name, organization, address_lines,
             locality, administrative_area, postal_code, country_code, phone,
             is_default_shipping, is_default_billing)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         RETURNING {COLUMNS}"
    )))
    .bind(a.id)
    .bind(a.user_id)
    .bind(&a.label)
    .bind(&a.recipient_name)
    .bind(&a.organization)
    .bind(&a.address_lines)
    .bind(&a.locality)
    .bind(&a.administrative_area)
    .bind(&a.postal_code)
    .bind(&a.country_code)
    .bind(&a.phone)
    .bind(a.is_default_shipping)
    .bind(a.is_default_billing)
    .fetch_one(&mut *conn)
    .await
}

/// Writes every mutable field of `a` (in the caller's transaction, after [`lock_user`]).
pub async fn update(conn: &mut PgConnection, a: &AddressRow) -> sqlx::Result<AddressRow> {
    clear_defaults(conn, a).await?;
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE addresses SET label = $3, recipient_name = $4, organization = $5,
             address_lines = $6, locality = $7, administrative_area = $8, postal_code = $9,
             country_code = $10, phone = $11, is_default_shipping = $12,
             is_default_billing = $13, updated_at = now()
         WHERE user_id = $2 AND id = $1
         RETURNING {COLUMNS}"
    )))
    .bind(a.id)
    .bind(a.user_id)
    .bind(&a.label)
    .bind(&a.recipient_name)
    .bind(&a.organization)
    .bind(&a.address_lines)
    .bind(&a.locality)
    .bind(&a.administrative_area)
    .bind(&a.postal_code)
    .bind(&a.country_code)
    .bind(&a.phone)
    .bind(a.is_default_shipping)
    .bind(a.is_default_billing)
    .fetch_one(&mut *conn)
    .await
}

/// Deletes the address if it is the user's; whether it was.
pub async fn delete(db: impl PgExecutor<'_>, user_id: Uuid, id: Uuid) -> sqlx::Result<bool> {
    let r = sqlx::query("DELETE FROM addresses WHERE user_id = $1 AND id = $2")
        .bind(user_id)
        .bind(id)
        .execute(db)
        .await?;
    Ok(r.rows_affected() == 1)
}
