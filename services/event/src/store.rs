//! SQL of event_db: the copy of every accepted tracking event and its enrichment, written in one
//! batch per request.

use kit::contracts::events::tracking::ClientContext;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// event_db's own migrations (`migrations/event/`); kit's outbox and inbox come first.
pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/event");

/// One row of user_events.
#[derive(Clone, Debug)]
pub struct EventRow {
    pub id: Uuid,
    pub event_type: String,
    pub user_id: Option<Uuid>,
    pub anonymous_id: Option<String>,
    pub session_id: Option<String>,
    pub product_id: Option<Uuid>,
    pub occurred_at: OffsetDateTime,
    pub received_at: OffsetDateTime,
    pub data: serde_json::Value,
}

/// What a request tells about its client (one event_metadata row per event).
#[derive(Clone, Debug)]
pub struct Metadata {
    pub client: ClientContext,
    pub request_id: Option<String>,
}

/// Inserts the rows (and one metadata row each, when given) in one transaction, with one
/// statement per table whatever the batch size.
pub async fn insert(pool: &PgPool, rows: &[EventRow], meta: Option<&Metadata>) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    insert_events(&mut tx, rows).await?;
    if let Some(m) = meta {
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        sqlx::query(
            "INSERT INTO event_metadata (event_id, user_agent, device, browser, os, ip_prefix, request_id)
             SELECT id, $2, $3, $4, $5, $6, $7 FROM UNNEST($1::uuid[]) AS t(id)",
        )
        .bind(&ids)
        .bind(&m.client.user_agent)
        .bind(&m.client.device)
        .bind(&m.client.browser)
        .bind(&m.client.os)
        .bind(&m.client.ip_prefix)
        .bind(&m.request_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// Removes rows (with their metadata) of events that could not be published.
pub async fn delete(pool: &PgPool, ids: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM user_events WHERE id = ANY($1)")
        .bind(ids)
        .execute(pool)
        .await?;
    Ok(())
}

/// Inserts user_events rows inside the caller's transaction (ids already present are skipped).
pub async fn insert_events(tx: &mut PgConnection, rows: &[EventRow]) -> sqlx::Result<()> {
    let mut ids = Vec::with_capacity(rows.len());
    let mut types = Vec::with_capacity(rows.len());
    let mut users = Vec::with_capacity(rows.len());
    let mut anons = Vec::with_capacity(rows.len());
    let mut sessions = Vec::with_capacity(rows.len());
    let mut products = Vec::with_capacity(rows.len());
    let mut occurred = Vec::with_capacity(rows.len());
    let mut received = Vec::with_capacity(rows.len());
    let mut data = Vec::with_capacity(rows.len());
    for r in rows {
        ids.push(r.id);
        types.push(r.event_type.clone());
        users.push(r.user_id);
        anons.push(r.anonymous_id.clone());
        sessions.push(r.session_id.clone());
        products.push(r.product_id);
        occurred.push(r.occurred_at);
        received.push(r.received_at);
        data.push(r.data.clone());
    }
    sqlx::query(
        "INSERT INTO user_events
           (id, event_type, user_id, anonymous_id, session_id, product_id, occurred_at, received_at, data)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::uuid[],
                              $7::timestamptz[], $8::timestamptz[], $9::jsonb[])
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&ids)
    .bind(&types)
    .bind(&users)
    .bind(&anons)
    .bind(&sessions)
    .bind(&products)
    .bind(&occurred)
    .bind(&received)
    .bind(&data)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
