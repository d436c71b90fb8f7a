//! The reservation sweeper: every interval it expires active reservations whose TTL ran out, in
//! batches, giving their units back and publishing `inventory.reservation_expired` (so the order
//! is cancelled). Several replicas may sweep at once: each skips rows another one holds.

use std::time::Duration;

use kit::Shutdown;
use sqlx::PgPool;

use crate::store::reservations;

/// Sweeps until shutdown. A failed sweep is logged and tried again at the next tick.
pub async fn run(
    pool: PgPool,
    interval: Duration,
    batch_size: i64,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        if let Err(e) = sweep(&pool, batch_size, &shutdown).await {
            tracing::warn!(error = %e, error.chain = %kit::telemetry::chain(&e), "reservation sweep failed; retrying at the next tick");
        }
    }
    tracing::info!("reservation sweeper stopped");
    Ok(())
}

/// Expires everything due now, batch by batch. Returns how many reservations expired.
pub async fn sweep(pool: &PgPool, batch_size: i64, shutdown: &Shutdown) -> crate::Result<usize> {
    let mut total = 0;
    loop {
        let n = reservations::expire_batch(pool, batch_size).await?;
        total += n;
        if (n as i64) < batch_size || shutdown.is_triggered() {
            break;
        }
    }
    if total > 0 {
        tracing::info!(expired = total, "expired reservations released");
    }
    Ok(total)
}
