//! `user_profiles`: one row per user, created by `user.registered` or on first access.

use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ProfileRow {
    pub user_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub phone: String,
    pub avatar_object_key: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

const COLUMNS: &str =
    "user_id, email, display_name, phone, avatar_object_key, created_at, updated_at";

/// The profile of `user_id`, created empty when there is none yet.
pub async fn get_or_create(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<ProfileRow> {
    sqlx::query("INSERT INTO user_profiles (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM user_profiles WHERE user_id = $1"
    )))
    .bind(user_id)
    .fetch_one(&mut *conn)
    .await
}

/// Seeds a profile from `user.registered`. A profile created lazily before the event arrived
/// keeps what the user set and only gains the e-mail and a missing display name.
pub async fn seed(
    conn: &mut PgConnection,
    user_id: Uuid,
    email: &str,
    display_name: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO user_profiles (user_id, email, display_name) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO UPDATE SET
           email = EXCLUDED.email,
           display_name = CASE WHEN user_profiles.display_name = ''
                               THEN EXCLUDED.display_name ELSE user_profiles.display_name END,
           updated_at = now()",
    )
    .bind(user_id)
    .bind(email)
    .bind(display_name)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Sets the given fields (None leaves a field unchanged), creating the profile if needed.
pub async fn update(
    conn: &mut PgConnection,
    user_id: Uuid,
    display_name: Option<&str>,
    phone: Option<&str>,
) -> sqlx::Result<ProfileRow> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO user_profiles (user_id, display_name, phone)
         VALUES ($1, COALESCE($2, ''), COALESCE($3, ''))
         ON CONFLICT (user_id) DO UPDATE SET
           display_name = COALESCE($2, user_profiles.display_name),
           phone = COALESCE($3, user_profiles.phone),
           updated_at = now()
         RETURNING {COLUMNS}"
    )))
    .bind(user_id)
    .bind(display_name)
    .bind(phone)
    .fetch_one(&mut *conn)
    .await
}

/// Points the profile at `key` ("" clears it); returns the new profile and the previous key.
pub async fn set_avatar(
    conn: &mut PgConnection,
    user_id: Uuid,
    key: &str,
) -> sqlx::Result<(ProfileRow, String)> {
    let before = get_or_create(conn, user_id).await?;
    let row: ProfileRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE user_profiles SET avatar_object_key = $2, updated_at = now()
         WHERE user_id = $1 RETURNING {COLUMNS}"
    )))
    .bind(user_id)
    .bind(key)
    .fetch_one(&mut *conn)
    .await?;
    Ok((row, before.avatar_object_key))
}

/// Whether a profile exists (tests and tools).
pub async fn exists(db: impl PgExecutor<'_>, user_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM user_profiles WHERE user_id = $1)")
        .bind(user_id)
        .fetch_one(db)
        .await
}
