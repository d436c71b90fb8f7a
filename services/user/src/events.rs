//! What the user service consumes: `user.registered` on `user-events` seeds the profile, once
//! per event (the inbox records the event id in the same transaction).

use kit::Shutdown;
use kit::config::KafkaSettings;
use kit::events::CloudEvent;
use kit::kafka::{ConsumerOptions, Delivery, Outcome};
use kit::metrics::Metrics;
use sqlx::{PgConnection, PgPool};

use crate::service::{CONSUMER, Registered, UserService};

/// Applies one event: `user.registered` seeds the profile; other types are ignored.
pub async fn handle(pool: &PgPool, event: &CloudEvent) -> anyhow::Result<Outcome> {
    let r: Registered = match event.decode() {
        None => return Ok(Outcome::Ignored),
        Some(Ok(r)) => r,
        Some(Err(e)) => {
            // Retrying cannot fix a malformed payload; record nothing and move on.
            tracing::error!(event_id = %event.id, error = %e, "user.registered without a valid user_id; skipping");
            return Ok(Outcome::Ignored);
        }
    };
    kit::inbox::apply_once(
        pool,
        CONSUMER,
        event,
        async move |conn: &mut PgConnection| UserService::seed_profile(conn, &r).await,
    )
    .await
}

/// Consumes `user-events` as `group` until shutdown.
pub async fn consume(
    kafka: KafkaSettings,
    group: String,
    pool: PgPool,
    metrics: Metrics,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let topic = kit::events::topic(&kafka, kit::events::topics::USER_EVENTS);
    kit::kafka::run_consumer(
        &kafka,
        ConsumerOptions::new(group, vec![topic]),
        Some(metrics),
        shutdown,
        move |d: Delivery| {
            let pool = pool.clone();
            async move { handle(&pool, &d.event).await }
        },
    )
    .await
}
