//! `users`: accounts, password hashes and roles.

use sqlx::{FromRow, PgConnection, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

/// Unique constraint on the normalised e-mail.
pub const EMAIL_KEY: &str = "users_email_key";

#[derive(Clone, Debug, FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub password_hash: String,
    pub roles: Vec<String>,
    pub display_name: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

const COLUMNS: &str = "id, email, password_hash, roles, display_name, created_at, updated_at";

/// Inserts an account; a taken e-mail is a `users_email_key` violation.
pub async fn insert(
    conn: &mut PgConnection,
    id: Uuid,
    email: &str,
    password_hash: &str,
    roles: &[&str],
    display_name: Option<&str>,
    registration_key: Option<&[u8]>,
) -> Result<UserRow, sqlx::Error> {
    let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
    sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO users (id, email, password_hash, roles, display_name, registration_key)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(email)
    .bind(password_hash)
    .bind(roles)
    .bind(display_name)
    .bind(registration_key)
    .fetch_one(conn)
    .await
}

/// The account `email` when it was created by a sign-up with `registration_key`.
pub async fn by_registration<'e>(
    db: impl PgExecutor<'e>,
    email: &str,
    registration_key: &[u8],
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM users WHERE email = $1 AND registration_key = $2"
    )))
    .bind(email)
    .bind(registration_key)
    .fetch_optional(db)
    .await
}

pub async fn by_email<'e>(
    db: impl PgExecutor<'e>,
    email: &str,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM users WHERE email = $1"
    )))
    .bind(email)
    .fetch_optional(db)
    .await
}

pub async fn by_id<'e>(db: impl PgExecutor<'e>, id: Uuid) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM users WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn set_password(
    conn: &mut PgConnection,
    id: Uuid,
    password_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET password_hash = $2, password_changed_at = now(), updated_at = now()
          WHERE id = $1",
    )
    .bind(id)
    .bind(password_hash)
    .execute(conn)
    .await?;
    Ok(())
}

/// Swaps a hash for a stronger one of the same password (not a password change: sessions and
/// `password_changed_at` stay). Does nothing when the hash changed meanwhile.
pub async fn replace_hash(
    conn: &mut PgConnection,
    id: Uuid,
    old_hash: &str,
    new_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2")
        .bind(id)
        .bind(old_hash)
        .bind(new_hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// Adds `role` (idempotent). None when there is no such user.
pub async fn add_role(
    conn: &mut PgConnection,
    id: Uuid,
    role: &str,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(format!(
        "UPDATE users
            SET roles = CASE WHEN $2 = ANY (roles) THEN roles ELSE array_append(roles, $2) END,
                updated_at = CASE WHEN $2 = ANY (roles) THEN updated_at ELSE now() END
          WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(role)
    .fetch_optional(conn)
    .await
}

/// Removes `role` (idempotent). None when there is no such user.
pub async fn remove_role(
    conn: &mut PgConnection,
    id: Uuid,
    role: &str,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(format!(
        "UPDATE users
            SET roles = array_remove(roles, $2),
                updated_at = CASE WHEN $2 = ANY (roles) THEN now() ELSE updated_at END
          WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(role)
    .fetch_optional(conn)
    .await
}

/// Locks the admin accounts (so two concurrent revocations cannot remove the last two admins)
/// and counts them.
pub async fn lock_admins(conn: &mut PgConnection) -> Result<i64, sqlx::Error> {
    let ids: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM users WHERE 'admin' = ANY (roles) FOR UPDATE")
            .fetch_all(conn)
            .await?;
    Ok(ids.len() as i64)
}
