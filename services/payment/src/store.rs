//! SQL of payment_db: saved payment methods and the transactions ledger.

use sqlx::{PgConnection, PgPool, Row};
use time::OffsetDateTime;
use uuid::Uuid;

/// Migrations of payment_db (`migrations/payment/`).
pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/payment");

/// A saved card as stored (the token still sealed).
#[derive(Clone, Debug)]
pub struct MethodRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub brand: String,
    pub last4: String,
    pub exp_month: i16,
    pub exp_year: i16,
    pub holder_name: Option<String>,
    pub token_nonce: Vec<u8>,
    pub token_ciphertext: Vec<u8>,
    pub created_at: OffsetDateTime,
}

fn method(r: &sqlx::postgres::PgRow) -> Result<MethodRow, sqlx::Error> {
    Ok(MethodRow {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        brand: r.try_get("brand")?,
        last4: r.try_get("last4")?,
        exp_month: r.try_get("exp_month")?,
        exp_year: r.try_get("exp_year")?,
        holder_name: r.try_get("holder_name")?,
        token_nonce: r.try_get("token_nonce")?,
        token_ciphertext: r.try_get("token_ciphertext")?,
        created_at: r.try_get("created_at")?,
    })
}

const METHOD_COLUMNS: &str = "id, user_id, brand, last4, exp_month, exp_year, holder_name, \
                              token_nonce, token_ciphertext, created_at";

/// A page of the user's methods, newest first, after `before` (exclusive); one extra row tells
/// whether there is a next page.
pub async fn list_methods(
    pool: &PgPool,
    user_id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<MethodRow>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {METHOD_COLUMNS} FROM payment_methods
          WHERE user_id = $1 AND ($2::uuid IS NULL OR id < $2)
          ORDER BY id DESC LIMIT $3"
    )))
    .bind(user_id)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(method).collect()
}

/// The method `id` if it belongs to `user_id`.
pub async fn get_method(
    conn: &mut PgConnection,
    id: Uuid,
    user_id: Uuid,
) -> Result<Option<MethodRow>, sqlx::Error> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {METHOD_COLUMNS} FROM payment_methods WHERE id = $1 AND user_id = $2"
    )))
    .bind(id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(method).transpose()
}

pub async fn delete_method(pool: &PgPool, id: Uuid, user_id: Uuid) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("DELETE FROM payment_methods WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(pool)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// A charge or refund row.
#[derive(Clone, Debug)]
pub struct TxRow {
    pub id: Uuid,
    pub status: String,
    pub amount: i64,
    pub currency: String,
    pub provider_ref: Option<String>,
    pub payment_method_id: Option<Uuid>,
}

/// What a new charge or refund row holds.
pub struct NewTx<'a> {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub kind: &'a str,
    pub amount: i64,
    pub currency: &'a str,
    pub payment_method_id: Option<Uuid>,
    pub parent_id: Option<Uuid>,
}

impl NewTx<'_> {
    /// The row this becomes, as `pending`, under `id` (not stored yet).
    pub fn row(&self, id: Uuid) -> TxRow {
        TxRow {
            id,
            status: "pending".into(),
            amount: self.amount,
            currency: self.currency.to_owned(),
            provider_ref: None,
            payment_method_id: self.payment_method_id,
        }
    }
}

/// Inserts the order's `kind` row as pending unless it exists; returns the row either way
/// (the unique index per order and kind makes this the idempotency claim).
pub async fn claim(pool: &PgPool, t: &NewTx<'_>) -> Result<TxRow, sqlx::Error> {
    insert(pool, Uuid::now_v7(), t, "pending", None, None).await?;
    find(pool, t.order_id, t.kind)
        .await?
        .ok_or(sqlx::Error::RowNotFound)
}

/// Inserts the order's `kind` row as `id` with `status` (a charge is inserted already settled)
/// unless the order has one of that kind (`false`: another delivery wrote it first).
pub async fn insert(
    db: impl sqlx::PgExecutor<'_>,
    id: Uuid,
    t: &NewTx<'_>,
    status: &str,
    provider_ref: Option<&str>,
    error: Option<(&str, &str)>,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "INSERT INTO transactions (id, order_id, user_id, kind, status, amount, currency,
                payment_method_id, parent_id, provider_ref, error_code, error_message)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(t.order_id)
    .bind(t.user_id)
    .bind(t.kind)
    .bind(status)
    .bind(t.amount)
    .bind(t.currency)
    .bind(t.payment_method_id)
    .bind(t.parent_id)
    .bind(provider_ref)
    .bind(error.map(|e| e.0))
    .bind(error.map(|e| e.1))
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The order's charge or refund row.
pub async fn find(pool: &PgPool, order_id: Uuid, kind: &str) -> Result<Option<TxRow>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, status, amount, currency, provider_ref, payment_method_id
           FROM transactions WHERE order_id = $1 AND kind = $2",
    )
    .bind(order_id)
    .bind(kind)
    .fetch_optional(pool)
    .await?;
    row.map(|r| {
        Ok(TxRow {
            id: r.try_get("id")?,
            status: r.try_get("status")?,
            amount: r.try_get("amount")?,
            currency: r.try_get("currency")?,
            provider_ref: r.try_get("provider_ref")?,
            payment_method_id: r.try_get("payment_method_id")?,
        })
    })
    .transpose()
}

/// Settles a pending row. `false` when it was settled already.
pub async fn settle(
    tx: &mut PgConnection,
    id: Uuid,
    status: &str,
    provider_ref: Option<&str>,
    error: Option<(&str, &str)>,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE transactions SET status = $2, provider_ref = $3, error_code = $4, error_message = $5,
                updated_at = now()
          WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .bind(status)
    .bind(provider_ref)
    .bind(error.map(|e| e.0))
    .bind(error.map(|e| e.1))
    .execute(&mut *tx)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// One provider call made for the charge or refund `parent`.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub succeeded: bool,
    pub provider_ref: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub at: OffsetDateTime,
}

pub async fn record_attempts(
    tx: &mut PgConnection,
    parent: &TxRow,
    order_id: Uuid,
    user_id: Uuid,
    attempts: &[Attempt],
) -> Result<(), sqlx::Error> {
    for a in attempts {
        sqlx::query(
            "INSERT INTO transactions (id, order_id, user_id, kind, status, amount, currency,
                                       payment_method_id, parent_id, provider_ref, error_code, error_message, created_at, updated_at)
             VALUES ($1, $2, $3, 'attempt', $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
        )
        .bind(Uuid::now_v7())
        .bind(order_id)
        .bind(user_id)
        .bind(if a.succeeded { "succeeded" } else { "failed" })
        .bind(parent.amount)
        .bind(&parent.currency)
        .bind(parent.payment_method_id)
        .bind(parent.id)
        .bind(&a.provider_ref)
        .bind(&a.error_code)
        .bind(&a.error_message)
        .bind(a.at)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// The card saved by an earlier `POST payment-methods` with `key`: (request hash, method).
pub async fn find_method_request(
    pool: &PgPool,
    user_id: Uuid,
    key: &str,
) -> Result<Option<(String, MethodRow)>, sqlx::Error> {
    let row: Option<(String, Uuid)> = sqlx::query_as(
        "SELECT request_hash, payment_method_id FROM payment_method_requests
          WHERE user_id = $1 AND idempotency_key = $2",
    )
    .bind(user_id)
    .bind(key)
    .fetch_optional(pool)
    .await?;
    let Some((hash, id)) = row else {
        return Ok(None);
    };
    let mut conn = pool.acquire().await?;
    Ok(get_method(&mut conn, id, user_id).await?.map(|m| (hash, m)))
}

/// Saves a method and, with a key, remembers it. `false` when another request with the same key
/// won the race (nothing is saved then).
pub async fn insert_method_once(
    pool: &PgPool,
    m: &MethodRow,
    provider: &str,
    key: Option<(&str, &str)>,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO payment_methods
           (id, user_id, brand, last4, exp_month, exp_year, holder_name, provider, token_nonce, token_ciphertext, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(m.id)
    .bind(m.user_id)
    .bind(&m.brand)
    .bind(&m.last4)
    .bind(m.exp_month)
    .bind(m.exp_year)
    .bind(&m.holder_name)
    .bind(provider)
    .bind(&m.token_nonce)
    .bind(&m.token_ciphertext)
    .bind(m.created_at)
    .execute(&mut *tx)
    .await?;
    if let Some((key, hash)) = key {
        let r = sqlx::query(
            "INSERT INTO payment_method_requests (user_id, idempotency_key, request_hash, payment_method_id)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(m.user_id)
        .bind(key)
        .bind(hash)
        .bind(m.id)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
    }
    tx.commit().await?;
    Ok(true)
}
