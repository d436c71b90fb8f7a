//! SQL of notification_db: recipients and the notifications ledger (one row per event).

use std::time::Duration;

use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

/// Migrations of notification_db (`migrations/notification/`).
pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/notification");

pub async fn upsert_recipient(
    tx: &mut PgConnection,
    user_id: Uuid,
    email: &str,
    display_name: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO recipients (user_id, email, display_name) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO UPDATE SET email = EXCLUDED.email,
             display_name = EXCLUDED.display_name, updated_at = now()",
    )
    .bind(user_id)
    .bind(email)
    .bind(display_name)
    .execute(&mut *tx)
    .await?;
    // E-mails waiting for this recipient are due now.
    sqlx::query(
        "UPDATE notifications SET next_attempt_at = now() WHERE user_id = $1 AND status = 'pending'",
    )
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// (email, display name) of a user, when known.
pub async fn recipient(
    pool: &PgPool,
    user_id: Uuid,
) -> Result<Option<(String, Option<String>)>, sqlx::Error> {
    sqlx::query_as("SELECT email, display_name FROM recipients WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(pool)
        .await
}

/// Records that `event_id` calls for an e-mail (once: a second insert is a no-op).
pub async fn enqueue(
    db: impl sqlx::PgExecutor<'_>,
    event_id: Uuid,
    event_type: &str,
    kind: &str,
    user_id: Uuid,
    order_id: Option<Uuid>,
    payload: &serde_json::Value,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "INSERT INTO notifications (event_id, event_type, kind, user_id, order_id, payload)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event_id)
    .bind(event_type)
    .bind(kind)
    .bind(user_id)
    .bind(order_id)
    .bind(payload)
    .execute(db)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// A claimed e-mail.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub event_id: Uuid,
    pub kind: String,
    pub user_id: Uuid,
    pub payload: serde_json::Value,
    /// SMTP attempts including this one.
    pub attempts: i32,
}

/// Claims the next due e-mail: marks it `sending` and commits, before any SMTP traffic.
pub async fn claim_next(pool: &PgPool) -> Result<Option<Claimed>, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE notifications SET status = 'sending', attempts = attempts + 1, claimed_at = now()
          WHERE event_id = (SELECT event_id FROM notifications
                             WHERE status = 'pending' AND next_attempt_at <= now()
                             ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED)
          RETURNING event_id, kind, user_id, payload, attempts",
    )
    .fetch_optional(pool)
    .await?;
    row.map(|r| {
        Ok(Claimed {
            event_id: r.try_get("event_id")?,
            kind: r.try_get("kind")?,
            user_id: r.try_get("user_id")?,
            payload: r.try_get("payload")?,
            attempts: r.try_get("attempts")?,
        })
    })
    .transpose()
}

/// An e-mail the SMTP server accepted, to be marked `sent`.
#[derive(Clone, Debug)]
pub struct Sent {
    pub event_id: Uuid,
    pub recipient: String,
    pub subject: String,
    pub message_id: String,
    pub at: time::OffsetDateTime,
}

/// Marks every one of `sent` as `sent`, in one statement. A row the crash recovery marked
/// `unknown` meanwhile is corrected: it was sent.
pub async fn mark_sent(pool: &PgPool, sent: &[Sent]) -> Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = sent.iter().map(|s| s.event_id).collect();
    let recipients: Vec<&str> = sent.iter().map(|s| s.recipient.as_str()).collect();
    let subjects: Vec<&str> = sent.iter().map(|s| s.subject.as_str()).collect();
    let message_ids: Vec<&str> = sent.iter().map(|s| s.message_id.as_str()).collect();
    let at: Vec<time::OffsetDateTime> = sent.iter().map(|s| s.at).collect();
    sqlx::query(
        "UPDATE notifications n SET status = 'sent', sent_at = v.at, recipient = v.recipient,
                subject = v.subject, message_id = v.message_id, last_error = NULL
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
                AS v(event_id, recipient, subject, message_id, at)
          WHERE n.event_id = v.event_id AND n.status IN ('sending', 'unknown')",
    )
    .bind(ids)
    .bind(recipients)
    .bind(subjects)
    .bind(message_ids)
    .bind(at)
    .execute(pool)
    .await?;
    Ok(())
}

/// Back to `pending`, due after `delay`. `count` false: this try made no SMTP attempt.
pub async fn reschedule(
    pool: &PgPool,
    event_id: Uuid,
    delay: Duration,
    error: &str,
    count: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE notifications SET status = 'pending', claimed_at = NULL, last_error = $3,
                attempts = attempts - CASE WHEN $4 THEN 0 ELSE 1 END,
                next_attempt_at = now() + make_interval(secs => $2)
          WHERE event_id = $1",
    )
    .bind(event_id)
    .bind(delay.as_secs_f64())
    .bind(error)
    .bind(count)
    .execute(pool)
    .await?;
    Ok(())
}

/// Ends an e-mail as `failed` (given up) or `unknown` (may or may not have been delivered).
pub async fn finish(
    pool: &PgPool,
    event_id: Uuid,
    status: &str,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE notifications SET status = $2, last_error = $3 WHERE event_id = $1")
        .bind(event_id)
        .bind(status)
        .bind(error)
        .execute(pool)
        .await?;
    Ok(())
}

/// E-mails left `sending` longer than `older_than` (the process died mid-session): marked
/// `unknown`, never sent again. Returns their event ids.
pub async fn recover_interrupted(
    pool: &PgPool,
    older_than: Duration,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE notifications SET status = 'unknown',
                last_error = 'interrupted during the SMTP session; not sent again to avoid a duplicate'
          WHERE status = 'sending' AND claimed_at < now() - make_interval(secs => $1)
          RETURNING event_id",
    )
    .bind(older_than.as_secs_f64())
    .fetch_all(pool)
    .await
}
