//! What notification consumes: `user.registered` on `user-events` (who to write to), and
//! `order.paid`, `order.shipped`, `order.refunded` (`order-events`) and `payment.failed`
//! (`payment-events`), each recorded once as an e-mail to send (the event id is the
//! notification's key, so the ledger is that consumer's inbox). Sending happens in
//! [`crate::sender`], so a slow SMTP server or an unknown recipient never holds up a partition.

use std::sync::Arc;

use kit::contracts::events::user::UserRegistered;
use kit::kafka::{Delivery, Outcome};
use sqlx::PgPool;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::render::Kind;
use crate::store;

/// Inbox name of the `user-events` consumer (the mail consumer's inbox is the notifications
/// ledger itself, keyed by event id).
pub const RECIPIENTS_CONSUMER: &str = "notification.recipients";

/// Handles one `user-events` delivery: `user.registered` records the recipient.
pub async fn handle_user_event(
    pool: &PgPool,
    wake: &Arc<Notify>,
    delivery: Delivery,
) -> anyhow::Result<Outcome> {
    let event = &delivery.event;
    let u: UserRegistered = match event.decode() {
        None => return Ok(Outcome::Ignored),
        Some(Ok(u)) => u,
        Some(Err(e)) => {
            tracing::error!(event_id = %event.id, error = %e, "user.registered without user_id and email; skipping it");
            return Ok(Outcome::Ignored);
        }
    };
    let mut tx = pool.begin().await?;
    if !kit::inbox::record(&mut tx, RECIPIENTS_CONSUMER, event).await? {
        tx.rollback().await?;
        return Ok(Outcome::Duplicate);
    }
    store::upsert_recipient(&mut tx, u.user_id, &u.email, u.display_name.as_deref()).await?;
    tx.commit().await?;
    wake.notify_waiters();
    Ok(Outcome::Applied)
}

/// Handles one `order-events` or `payment-events` delivery: an event that calls for an e-mail
/// is recorded (once) for the sender.
pub async fn handle_mail_event(
    pool: &PgPool,
    wake: &Arc<Notify>,
    delivery: Delivery,
) -> anyhow::Result<Outcome> {
    let event = &delivery.event;
    let Some(kind) = Kind::for_event(&event.event_type) else {
        return Ok(Outcome::Ignored);
    };
    let uuid_of = |k: &str| {
        event
            .data
            .get(k)
            .and_then(|v| v.as_str())
            .and_then(|s| Uuid::parse_str(s).ok())
    };
    let Some(user_id) = uuid_of("user_id") else {
        tracing::error!(event_id = %event.id, event_type = %event.event_type, "event without a user_id; no e-mail");
        return Ok(Outcome::Ignored);
    };
    // The notification's key is the event id, so the row is its own inbox: a redelivered
    // event inserts nothing (one statement, no transaction around it).
    let fresh = store::enqueue(
        pool,
        event.id,
        &event.event_type,
        kind.as_str(),
        user_id,
        uuid_of("order_id"),
        &event.data,
    )
    .await?;
    if !fresh {
        return Ok(Outcome::Duplicate);
    }
    // One new e-mail: one sender (a sender that finds more keeps claiming).
    wake.notify_one();
    Ok(Outcome::Applied)
}
