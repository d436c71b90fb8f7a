//! The consumer inbox: an event's id is recorded in `processed_events` in the same transaction as
//! its effect, so a redelivered event is recognised and its effect is never applied twice.

use sqlx::{PgConnection, PgPool};

use crate::events::CloudEvent;
use crate::kafka::Outcome;

/// Records `event` for `consumer` inside the caller's transaction. `false` means it was already
/// processed (the caller must not apply the effect again). A concurrent transaction recording the
/// same event blocks here until it ends, so two deliveries never both see `true`.
pub async fn record(
    tx: &mut PgConnection,
    consumer: &str,
    event: &CloudEvent,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "INSERT INTO processed_events (consumer, event_id, event_type) VALUES ($1, $2, $3)
         ON CONFLICT (consumer, event_id) DO NOTHING",
    )
    .bind(consumer)
    .bind(event.id)
    .bind(&event.event_type)
    .execute(&mut *tx)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Applies `effect` once per (consumer, event): opens a transaction, records the event, runs the
/// effect in the same transaction and commits. A duplicate returns [`Outcome::Duplicate`] without
/// running the effect; an effect error rolls back both.
pub async fn apply_once<F>(
    pool: &PgPool,
    consumer: &str,
    event: &CloudEvent,
    effect: F,
) -> anyhow::Result<Outcome>
where
    F: AsyncFnOnce(&mut PgConnection) -> anyhow::Result<()>,
{
    let mut tx = pool.begin().await?;
    if !record(&mut tx, consumer, event).await? {
        tx.rollback().await?;
        return Ok(Outcome::Duplicate);
    }
    effect(&mut tx).await?;
    tx.commit().await?;
    Ok(Outcome::Applied)
}
