//! `refresh_tokens`: hashes of issued refresh tokens, grouped in families (one per sign-in).

use std::net::IpAddr;

use sqlx::{FromRow, PgConnection};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Clone, Debug, FromRow)]
pub struct RefreshRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

/// A new token of `family_id`.
pub struct NewToken<'a> {
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub hash: &'a [u8; 32],
    pub expires_at: OffsetDateTime,
    pub client_ip: Option<IpAddr>,
    pub user_agent: Option<&'a str>,
}

pub async fn insert(conn: &mut PgConnection, t: &NewToken<'_>) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at, client_ip, user_agent)
         VALUES ($1, $2, $3, $4, $5, $6::inet, $7)",
    )
    .bind(id)
    .bind(t.user_id)
    .bind(t.family_id)
    .bind(&t.hash[..])
    .bind(t.expires_at)
    .bind(t.client_ip.map(|ip| ip.to_string()))
    .bind(t.user_agent)
    .execute(conn)
    .await?;
    Ok(id)
}

/// The token with this hash, locked for the rest of the transaction (concurrent refreshes of
/// one token are serialised: the second sees it spent).
pub async fn lock_by_hash(
    conn: &mut PgConnection,
    hash: &[u8; 32],
) -> Result<Option<RefreshRow>, sqlx::Error> {
    sqlx::query_as::<_, RefreshRow>(
        "SELECT id, user_id, family_id, expires_at, used_at, revoked_at
           FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(&hash[..])
    .fetch_optional(conn)
    .await
}

pub async fn mark_used(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE refresh_tokens SET used_at = now() WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Revokes every live token of a family. Returns how many were revoked.
pub async fn revoke_family(conn: &mut PgConnection, family_id: Uuid) -> Result<u64, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now()
          WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family_id)
    .execute(conn)
    .await?;
    Ok(r.rows_affected())
}

/// Revokes every family of a user that still had a usable token. Returns the number of families
/// (sessions) that were live.
pub async fn revoke_all_for_user(
    conn: &mut PgConnection,
    user_id: Uuid,
) -> Result<i64, sqlx::Error> {
    let live: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT family_id) FROM refresh_tokens
          WHERE user_id = $1 AND revoked_at IS NULL AND used_at IS NULL AND expires_at > now()",
    )
    .bind(user_id)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    Ok(live)
}
