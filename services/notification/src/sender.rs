//! The sender: takes due e-mails from the notifications ledger and sends them. Each is claimed
//! (`sending`, committed) before the SMTP session, so a crash mid-session leaves a `sending` row
//! that is later marked `unknown` and not sent again. What the SMTP server accepted is marked
//! `sent` in one statement every [`MARK_EVERY`] for all senders (and when a sender stops), so a
//! crash in that window leaves an e-mail that was sent as `unknown`: never a second copy.
//! Definite failures are retried with exponential backoff; an e-mail whose recipient is not
//! known yet waits for `user.registered`.

use std::sync::Arc;
use std::time::Duration;

use kit::Shutdown;
use sqlx::PgPool;
use tokio::sync::Notify;

use crate::config::NotificationSettings;
use crate::mailer::{Mailer, SendError};
use crate::render::{self, Kind};
use crate::store::{self, Claimed, Sent};

/// How often accepted e-mails are marked `sent` (one statement for all of them).
pub const MARK_EVERY: Duration = Duration::from_millis(500);

/// E-mails accepted by the SMTP server and not marked `sent` yet, shared by the senders.
#[derive(Clone, Default)]
pub struct Marks(Arc<std::sync::Mutex<Vec<Sent>>>);

impl Marks {
    fn push(&self, s: Sent) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(s);
    }

    /// Writes the waiting marks; on failure they wait for the next flush.
    pub async fn flush(&self, pool: &PgPool) {
        let batch = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        if batch.is_empty() {
            return;
        }
        if let Err(e) = store::mark_sent(pool, &batch).await {
            tracing::warn!(error = %e, count = batch.len(), "cannot mark e-mails sent yet; retrying");
            let mut marks = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let newer = std::mem::replace(&mut *marks, batch);
            marks.extend(newer);
        }
    }

    /// Flushes every [`MARK_EVERY`] until shutdown, then once more.
    pub async fn run(self, pool: PgPool, shutdown: Shutdown) -> anyhow::Result<()> {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(MARK_EVERY) => self.flush(&pool).await,
            }
        }
        self.flush(&pool).await;
        Ok(())
    }
}

#[derive(Clone)]
pub struct Sender {
    pub pool: PgPool,
    pub mailer: Mailer,
    pub settings: Arc<NotificationSettings>,
    pub wake: Arc<Notify>,
    pub marks: Marks,
}

impl Sender {
    fn backoff(&self, attempts: i32) -> Duration {
        let s = &self.settings;
        let exp = attempts.clamp(1, 20) as u32 - 1;
        let ms = s
            .retry_initial_backoff_ms
            .saturating_mul(1u64 << exp.min(30))
            .min(s.retry_max_backoff_ms);
        Duration::from_millis(ms)
    }

    /// Runs until shutdown.
    pub async fn run(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let poll = Duration::from_millis(self.settings.poll_interval_ms);
        let stale = Duration::from_secs(self.settings.stale_sending_secs);
        tracing::info!("notification sender started");
        let mut next_recovery = tokio::time::Instant::now();
        loop {
            if shutdown.is_triggered() {
                break;
            }
            // Registered before looking, so a wake-up between the look and the wait is kept.
            let woken = self.wake.notified();
            if tokio::time::Instant::now() >= next_recovery {
                next_recovery = tokio::time::Instant::now() + poll;
                match store::recover_interrupted(&self.pool, stale).await {
                    Ok(ids) => {
                        for id in ids {
                            tracing::warn!(event_id = %id, "an e-mail was interrupted mid-send (crash?); marked unknown and not sent again");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot look for interrupted e-mails"),
                }
            }
            match store::claim_next(&self.pool).await {
                Ok(Some(c)) => {
                    if let Err(e) = self.process(&c).await {
                        tracing::warn!(event_id = %c.event_id, error = %e, "recording an e-mail's outcome failed");
                    }
                    continue;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot claim the next e-mail"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = woken => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
        // What this sender sent last is marked now, not left to the flusher (it may be gone).
        self.marks.flush(&self.pool).await;
        tracing::info!("notification sender stopped");
        Ok(())
    }

    async fn process(&self, c: &Claimed) -> Result<(), sqlx::Error> {
        let s = &self.settings;
        let Some(kind) = Kind::parse(&c.kind) else {
            return store::finish(&self.pool, c.event_id, "failed", "unknown e-mail kind").await;
        };
        let Some((email, name)) = store::recipient(&self.pool, c.user_id).await? else {
            tracing::info!(event_id = %c.event_id, user_id = %c.user_id, "recipient not known yet (user.registered not consumed); retrying later");
            return store::reschedule(
                &self.pool,
                c.event_id,
                Duration::from_millis(s.recipient_retry_ms),
                "recipient not known yet",
                false,
            )
            .await;
        };
        let mail = render::render(
            kind,
            &c.payload,
            name.as_deref().unwrap_or(""),
            &s.shop_name,
        );
        let result = match self.mailer.build(
            &email,
            name.as_deref(),
            &mail,
            &c.event_id.to_string(),
            &s.message_id_domain,
        ) {
            Ok(out) => self.mailer.send(&out).await.map(|()| out.message_id),
            Err(e) => Err(e),
        };
        match result {
            Ok(message_id) => {
                tracing::info!(event_id = %c.event_id, kind = kind.as_str(), %message_id, "e-mail sent");
                self.marks.push(Sent {
                    event_id: c.event_id,
                    recipient: email,
                    subject: mail.subject,
                    message_id,
                    at: time::OffsetDateTime::now_utc(),
                });
                Ok(())
            }
            Err(SendError::Retry(m)) if c.attempts < s.max_attempts => {
                let delay = self.backoff(c.attempts);
                tracing::warn!(event_id = %c.event_id, error = %m, retry_in = ?delay, "e-mail not sent; will retry");
                store::reschedule(&self.pool, c.event_id, delay, &m, true).await
            }
            Err(e @ (SendError::Retry(_) | SendError::Permanent(_))) => {
                tracing::error!(event_id = %c.event_id, error = %e, attempts = c.attempts, "e-mail given up");
                store::finish(&self.pool, c.event_id, "failed", &e.to_string()).await
            }
            Err(SendError::Ambiguous(m)) => {
                tracing::warn!(event_id = %c.event_id, error = %m, "e-mail may or may not have been delivered; not sending it again");
                store::finish(&self.pool, c.event_id, "unknown", &m).await
            }
        }
    }
}
