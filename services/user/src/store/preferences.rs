//! `user_preferences`: one row per user once saved.

use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PreferencesRow {
    pub locale: String,
    pub currency: String,
    pub marketing_opt_in: bool,
    pub updated_at: OffsetDateTime,
}

pub async fn get(db: impl PgExecutor<'_>, user_id: Uuid) -> sqlx::Result<Option<PreferencesRow>> {
    sqlx::query_as(
        "SELECT locale, currency, marketing_opt_in, updated_at
         FROM user_preferences WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(db)
    .await
}

/// Saves the whole row (the caller merged the change into the current values).
pub async fn put(
    conn: &mut PgConnection,
    user_id: Uuid,
    locale: &str,
    currency: &str,
    marketing_opt_in: bool,
) -> sqlx::Result<PreferencesRow> {
    sqlx::query_as(
        "INSERT INTO user_preferences (user_id, locale, currency, marketing_opt_in)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id) DO UPDATE SET
           locale = EXCLUDED.locale, currency = EXCLUDED.currency,
           marketing_opt_in = EXCLUDED.marketing_opt_in, updated_at = now()
         RETURNING locale, currency, marketing_opt_in, updated_at",
    )
    .bind(user_id)
    .bind(locale)
    .bind(currency)
    .bind(marketing_opt_in)
    .fetch_one(&mut *conn)
    .await
}
