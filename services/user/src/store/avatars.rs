//! `avatar_uploads`: what CreateAvatarUpload announced, checked by CompleteAvatarUpload.

use sqlx::PgExecutor;
use uuid::Uuid;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct UploadRow {
    pub object_key: String,
    pub user_id: Uuid,
    pub content_type: String,
    pub size_bytes: i64,
}

pub async fn announce(
    db: impl PgExecutor<'_>,
    key: &str,
    user_id: Uuid,
    content_type: &str,
    size_bytes: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO avatar_uploads (object_key, user_id, content_type, size_bytes)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(key)
    .bind(user_id)
    .bind(content_type)
    .bind(size_bytes)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn get(db: impl PgExecutor<'_>, key: &str) -> sqlx::Result<Option<UploadRow>> {
    sqlx::query_as(
        "SELECT object_key, user_id, content_type, size_bytes FROM avatar_uploads
         WHERE object_key = $1",
    )
    .bind(key)
    .fetch_optional(db)
    .await
}

pub async fn forget(db: impl PgExecutor<'_>, key: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM avatar_uploads WHERE object_key = $1")
        .bind(key)
        .execute(db)
        .await?;
    Ok(())
}
