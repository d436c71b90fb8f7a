//! Per-user `Idempotency-Key` records of checkout: claimed before any side effect, completed
//! with the answer in the order's own transaction, deleted when the checkout is refused.

use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

/// What a key already holds when a claim did not succeed.
#[derive(Clone, Debug, PartialEq)]
pub enum Existing {
    /// Another request with this key is still being processed.
    InFlight { request_hash: String },
    /// The key's checkout finished with this answer.
    Completed {
        request_hash: String,
        status: u16,
        body: serde_json::Value,
    },
}

/// The outcome of a claim.
#[derive(Clone, Debug, PartialEq)]
pub enum Claim {
    /// This request owns the key; the order id to use (the one of an abandoned earlier claim
    /// when it is taken over, so a retried reservation is recognised by inventory).
    Owned {
        order_id: Uuid,
    },
    Taken(Existing),
}

/// Claims (`user_id`, `key`) for a request hashing to `request_hash`. A claim left `in_flight`
/// past its lock (its holder died) is taken over by a request with the same hash.
pub async fn claim(
    pool: &PgPool,
    user_id: Uuid,
    key: &str,
    request_hash: &str,
    order_id: Uuid,
    lock_secs: u32,
) -> Result<Claim, sqlx::Error> {
    for _ in 0..3 {
        let owned: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO checkout_idempotency (user_id, key, request_hash, order_id, state, locked_until)
             VALUES ($1, $2, $3, $4, 'in_flight', now() + make_interval(secs => $5))
             ON CONFLICT (user_id, key) DO UPDATE
                SET locked_until = EXCLUDED.locked_until, updated_at = now()
              WHERE checkout_idempotency.state = 'in_flight'
                AND checkout_idempotency.locked_until < now()
                AND checkout_idempotency.request_hash = EXCLUDED.request_hash
             RETURNING order_id",
        )
        .bind(user_id)
        .bind(key)
        .bind(request_hash)
        .bind(order_id)
        .bind(f64::from(lock_secs))
        .fetch_optional(pool)
        .await?;
        if let Some(order_id) = owned {
            return Ok(Claim::Owned { order_id });
        }
        let row = sqlx::query(
            "SELECT request_hash, state, response_status, response_body
               FROM checkout_idempotency WHERE user_id = $1 AND key = $2",
        )
        .bind(user_id)
        .bind(key)
        .fetch_optional(pool)
        .await?;
        // Deleted between the two statements (a refused checkout): claim again.
        let Some(row) = row else { continue };
        let request_hash: String = row.try_get("request_hash")?;
        let state: String = row.try_get("state")?;
        return Ok(Claim::Taken(if state == "completed" {
            let status: Option<i32> = row.try_get("response_status")?;
            Existing::Completed {
                request_hash,
                status: status.and_then(|s| u16::try_from(s).ok()).unwrap_or(201),
                body: row
                    .try_get::<Option<serde_json::Value>, _>("response_body")?
                    .unwrap_or_default(),
            }
        } else {
            Existing::InFlight { request_hash }
        }));
    }
    // Three claims lost to deletions in a row: report it as in flight (the client retries).
    Ok(Claim::Taken(Existing::InFlight {
        request_hash: request_hash.to_owned(),
    }))
}

/// Stores the answer of the key's checkout, inside the order's transaction.
pub async fn complete(
    tx: &mut PgConnection,
    user_id: Uuid,
    key: &str,
    status: u16,
    body: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE checkout_idempotency
            SET state = 'completed', response_status = $3, response_body = $4, updated_at = now()
          WHERE user_id = $1 AND key = $2",
    )
    .bind(user_id)
    .bind(key)
    .bind(i32::from(status))
    .bind(body)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Forgets an unfinished claim (the checkout was refused or failed), so the key can be retried.
pub async fn release(pool: &PgPool, user_id: Uuid, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM checkout_idempotency WHERE user_id = $1 AND key = $2 AND state = 'in_flight'",
    )
    .bind(user_id)
    .bind(key)
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets keys older than `hours` (completed ones: their orders stay; abandoned claims).
pub async fn purge(pool: &PgPool, hours: u32) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM checkout_idempotency
          WHERE created_at < now() - make_interval(hours => $1)
            AND (state = 'completed' OR locked_until < now())",
    )
    .bind(i32::try_from(hours).unwrap_or(i32::MAX))
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Purges old keys every hour until shutdown. A failed purge is logged and tried again later.
pub async fn purge_loop(pool: PgPool, hours: u32, shutdown: kit::Shutdown) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tick.tick() => {}
        }
        match purge(&pool, hours).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(keys = n, "forgot old checkout idempotency keys"),
            Err(e) => tracing::warn!(error = %e, "purging old checkout idempotency keys failed"),
        }
    }
}
