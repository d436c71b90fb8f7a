//! What payment consumes (`order.created` -> charge, `order.refund_requested` -> refund, on
//! `order-events`) and publishes (`payment.completed|failed|refunded` on `payment-events`, keyed
//! by order id, through the outbox).
//!
//! A charge is idempotent on the order id three times over: the inbox skips a redelivered event,
//! the charge row is unique per order and written with its outcome in the transaction that
//! records the event and enqueues the announcement (a settled row is never charged again), and
//! the order id is the provider's idempotency key, so a crash between the provider call and our
//! commit replays the same charge at the provider instead of making a second one. (A refund's row
//! is claimed, committed as `pending`, before the provider is called; a charge's is not, to save
//! a write transaction per checkout: with the idempotency key, the claim added nothing a crash
//! needs. A `pending` charge row, which earlier versions left when they crashed mid-charge, is
//! settled by the replay.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use kit::Shutdown;
use kit::events::CloudEvent;
use kit::kafka::{Delivery, Outcome};
use kit::outbox::{self, OutboxEvent};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::crypto::TokenCipher;
use crate::provider::{ChargeRequest, PaymentProvider, ProviderError, Receipt, RefundRequest};
use crate::store::{self, Attempt, NewTx, TxRow};

pub use kit::contracts::Money;
pub use kit::contracts::events::order::{OrderCreated, OrderRefundRequested as RefundRequested};
pub use kit::contracts::events::payment::{
    FailureCode, PaymentCompleted, PaymentFailed, PaymentRefunded,
};

/// The inbox name of the `order-events` consumer.
pub const CONSUMER: &str = "payment";

/// Everything the consumer needs.
#[derive(Clone)]
pub struct Payments {
    pub pool: PgPool,
    pub cipher: TokenCipher,
    pub provider: Arc<dyn PaymentProvider>,
    pub call_timeout: Duration,
    pub initial_backoff: Duration,
    pub budget: Duration,
    pub shutdown: Shutdown,
}

fn outbox_event(order_id: Uuid, data: &impl kit::contracts::Event) -> OutboxEvent {
    OutboxEvent::of(order_id.to_string(), data)
}

/// The provider call a retry loop makes.
#[derive(Clone, Copy)]
enum Op<'a> {
    Charge(&'a ChargeRequest),
    Refund(&'a RefundRequest),
}

/// How a charge or refund row is settled, with the event that announces it.
struct Settlement<'a> {
    row: &'a TxRow,
    /// The row to insert with its outcome when it is not in the ledger yet (a charge's).
    new: Option<&'a NewTx<'a>>,
    order_id: Uuid,
    user_id: Uuid,
    status: &'a str,
    provider_ref: Option<&'a str>,
    error: Option<(&'a str, &'a str)>,
    attempts: &'a [Attempt],
    event: OutboxEvent,
}

/// Why the retry loop stopped without success.
enum Gave {
    Declined(String),
    Exhausted(String),
    ShuttingDown,
}

impl Payments {
    /// Calls the provider until it succeeds, declines, or the retry budget is spent, waiting
    /// with exponential backoff between transient failures. Every call is recorded.
    async fn with_retries(&self, op: Op<'_>) -> (Result<Receipt, Gave>, Vec<Attempt>) {
        let start = Instant::now();
        let mut delay = self.initial_backoff;
        let mut attempts = Vec::new();
        loop {
            let at = OffsetDateTime::now_utc();
            let call = match op {
                Op::Charge(r) => self.provider.charge(r),
                Op::Refund(r) => self.provider.refund(r),
            };
            let result = match tokio::time::timeout(self.call_timeout, call).await {
                Ok(r) => r,
                Err(_) => Err(ProviderError::Transient(format!(
                    "no answer within {:?}",
                    self.call_timeout
                ))),
            };
            match result {
                Ok(receipt) => {
                    attempts.push(Attempt {
                        succeeded: true,
                        provider_ref: Some(receipt.reference.clone()),
                        error_code: None,
                        error_message: None,
                        at,
                    });
                    return (Ok(receipt), attempts);
                }
                Err(ProviderError::Declined(m)) => {
                    attempts.push(Attempt {
                        succeeded: false,
                        provider_ref: None,
                        error_code: Some("card_declined".into()),
                        error_message: Some(m.clone()),
                        at,
                    });
                    return (Err(Gave::Declined(m)), attempts);
                }
                Err(ProviderError::Transient(m)) => {
                    tracing::warn!(error = %m, retry_in = ?delay, "provider call failed transiently");
                    attempts.push(Attempt {
                        succeeded: false,
                        provider_ref: None,
                        error_code: Some("provider_unavailable".into()),
                        error_message: Some(m.clone()),
                        at,
                    });
                    if start.elapsed() + delay + self.call_timeout > self.budget {
                        return (
                            Err(Gave::Exhausted(format!(
                                "The payment provider did not complete the payment after {} attempts.",
                                attempts.len()
                            ))),
                            attempts,
                        );
                    }
                    tokio::select! {
                        _ = self.shutdown.cancelled() => return (Err(Gave::ShuttingDown), attempts),
                        _ = tokio::time::sleep(delay) => {}
                    }
                    delay *= 2;
                }
            }
        }
    }

    async fn already_processed(&self, event: &CloudEvent) -> anyhow::Result<bool> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM processed_events WHERE consumer = $1 AND event_id = $2)",
        )
        .bind(CONSUMER)
        .bind(event.id)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Records `event` as handled with no effect (a decision made before).
    async fn record_only(&self, event: &CloudEvent) -> anyhow::Result<Outcome> {
        let mut tx = self.pool.begin().await?;
        let fresh = kit::inbox::record(&mut tx, CONSUMER, event).await?;
        tx.commit().await?;
        Ok(if fresh {
            Outcome::Applied
        } else {
            Outcome::Duplicate
        })
    }

    /// In one transaction: records `event` in the inbox, settles the pending row, records the
    /// provider calls and enqueues the announcing event. A row settled before is left alone.
    async fn settle_once(&self, event: &CloudEvent, s: Settlement<'_>) -> anyhow::Result<Outcome> {
        let mut tx = self.pool.begin().await?;
        if !kit::inbox::record(&mut tx, CONSUMER, event).await? {
            tx.rollback().await?;
            return Ok(Outcome::Duplicate);
        }
        let settled = match s.new {
            Some(new) => {
                store::insert(&mut *tx, s.row.id, new, s.status, s.provider_ref, s.error).await?
            }
            None => store::settle(&mut tx, s.row.id, s.status, s.provider_ref, s.error).await?,
        };
        if settled {
            store::record_attempts(&mut tx, s.row, s.order_id, s.user_id, s.attempts).await?;
            outbox::enqueue(&mut tx, &s.event).await?;
            tracing::info!(order_id = %s.order_id, event_type = %s.event.event.event_type, "payment step settled");
        }
        tx.commit().await?;
        Ok(Outcome::Applied)
    }

    async fn charge(&self, event: &CloudEvent, o: OrderCreated) -> anyhow::Result<Outcome> {
        if self.already_processed(event).await? {
            return Ok(Outcome::Duplicate);
        }
        let new = NewTx {
            order_id: o.order_id,
            user_id: o.user_id,
            kind: "charge",
            amount: o.total.amount,
            currency: &o.total.currency,
            payment_method_id: o.payment_method_id,
            parent_id: None,
        };
        // The charge row is written when the charge is settled; one found here was settled
        // before (or left pending by an earlier version's crash, and is settled now).
        let (charge, new) = match store::find(&self.pool, o.order_id, "charge").await? {
            Some(row) if row.status != "pending" => {
                tracing::info!(order_id = %o.order_id, status = %row.status, "order already charged or failed; not charging again");
                return self.record_only(event).await;
            }
            Some(row) => (row, None),
            None => (new.row(Uuid::now_v7()), Some(&new)),
        };
        let method = match o.payment_method_id {
            Some(id) => {
                let mut conn = self.pool.acquire().await?;
                store::get_method(&mut conn, id, o.user_id).await?
            }
            None => None,
        };
        let Some(method) = method else {
            return self
                .fail(
                    event,
                    &o,
                    (&charge, new),
                    &[],
                    FailureCode::PaymentMethodNotFound,
                    "The order's payment method does not exist (it may have been deleted).",
                )
                .await;
        };
        let token = match self.cipher.open(
            &method.token_nonce,
            &method.token_ciphertext,
            method.id.as_bytes(),
        ) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, order_id = %o.order_id, "cannot decrypt the payment method's token");
                return self
                    .fail(
                        event,
                        &o,
                        (&charge, new),
                        &[],
                        FailureCode::ProviderUnavailable,
                        "The saved card cannot be used; add it again.",
                    )
                    .await;
            }
        };
        let req = ChargeRequest {
            idempotency_key: o.order_id.to_string(),
            token,
            amount: o.total.amount,
            currency: o.total.currency.clone(),
        };
        let (result, attempts) = self.with_retries(Op::Charge(&req)).await;
        match result {
            Ok(receipt) => {
                let data = PaymentCompleted {
                    order_id: o.order_id,
                    user_id: o.user_id,
                    transaction_id: charge.id.to_string(),
                    amount: o.total.clone(),
                    payment_method_id: method.id,
                    brand: method.brand.clone(),
                    last4: method.last4.clone(),
                };
                let ev = outbox_event(o.order_id, &data);
                self.settle_once(
                    event,
                    Settlement {
                        row: &charge,
                        new,
                        order_id: o.order_id,
                        user_id: o.user_id,
                        status: "succeeded",
                        provider_ref: Some(&receipt.reference),
                        error: None,
                        attempts: &attempts,
                        event: ev,
                    },
                )
                .await
            }
            Err(Gave::Declined(m)) => {
                self.fail(
                    event,
                    &o,
                    (&charge, new),
                    &attempts,
                    FailureCode::CardDeclined,
                    &m,
                )
                .await
            }
            Err(Gave::Exhausted(m)) => {
                self.fail(
                    event,
                    &o,
                    (&charge, new),
                    &attempts,
                    FailureCode::ProviderUnavailable,
                    &m,
                )
                .await
            }
            Err(Gave::ShuttingDown) => {
                anyhow::bail!(
                    "shutting down during a charge; the event is redelivered after restart"
                )
            }
        }
    }

    async fn fail(
        &self,
        event: &CloudEvent,
        o: &OrderCreated,
        (charge, new): (&TxRow, Option<&NewTx<'_>>),
        attempts: &[Attempt],
        code: FailureCode,
        message: &str,
    ) -> anyhow::Result<Outcome> {
        let data = PaymentFailed {
            order_id: o.order_id,
            user_id: o.user_id,
            code,
            message: message.to_owned(),
        };
        let ev = outbox_event(o.order_id, &data);
        self.settle_once(
            event,
            Settlement {
                row: charge,
                new,
                order_id: o.order_id,
                user_id: o.user_id,
                status: "failed",
                provider_ref: None,
                error: Some((code.as_str(), message)),
                attempts,
                event: ev,
            },
        )
        .await
    }

    async fn refund(&self, event: &CloudEvent, r: RefundRequested) -> anyhow::Result<Outcome> {
        if self.already_processed(event).await? {
            return Ok(Outcome::Duplicate);
        }
        let charge = match store::find(&self.pool, r.order_id, "charge").await? {
            Some(c) if c.status == "succeeded" => c,
            other => {
                tracing::error!(order_id = %r.order_id, charge = ?other.map(|c| c.status),
                    "refund requested for an order without a completed charge; recorded as handled");
                return self.record_only(event).await;
            }
        };
        if r.amount.currency != charge.currency {
            tracing::error!(order_id = %r.order_id, requested = %r.amount.currency, charged = %charge.currency,
                "refund requested in another currency than the charge; recorded as handled");
            return self.record_only(event).await;
        }
        let amount = r.amount.amount.clamp(0, charge.amount);
        let refund = store::claim(
            &self.pool,
            &NewTx {
                order_id: r.order_id,
                user_id: r.user_id,
                kind: "refund",
                amount,
                currency: &charge.currency,
                payment_method_id: charge.payment_method_id,
                parent_id: Some(charge.id),
            },
        )
        .await?;
        if refund.status != "pending" {
            return self.record_only(event).await;
        }
        let req = RefundRequest {
            idempotency_key: format!("refund:{}", r.order_id),
            charge_ref: charge.provider_ref.clone().unwrap_or_default(),
            amount: refund.amount,
            currency: refund.currency.clone(),
        };
        let (result, attempts) = self.with_retries(Op::Refund(&req)).await;
        let receipt = match result {
            Ok(r) => r,
            // Refunds are never given up: the event is retried (and the provider call with the
            // same idempotency key) until it goes through.
            Err(Gave::Declined(m)) | Err(Gave::Exhausted(m)) => {
                anyhow::bail!("refund of order {} not done yet: {m}", r.order_id)
            }
            Err(Gave::ShuttingDown) => anyhow::bail!("shutting down during a refund"),
        };
        let data = PaymentRefunded {
            order_id: r.order_id,
            user_id: r.user_id,
            transaction_id: charge.id.to_string(),
            refund_id: refund.id.to_string(),
            amount: Money::new(refund.amount, refund.currency.clone()),
        };
        let ev = outbox_event(r.order_id, &data);
        self.settle_once(
            event,
            Settlement {
                row: &refund,
                new: None,
                order_id: r.order_id,
                user_id: r.user_id,
                status: "succeeded",
                provider_ref: Some(&receipt.reference),
                error: None,
                attempts: &attempts,
                event: ev,
            },
        )
        .await
    }

    /// Handles one `order-events` delivery.
    pub async fn handle(&self, delivery: Delivery) -> anyhow::Result<Outcome> {
        let event = &delivery.event;
        if let Some(created) = event.decode::<OrderCreated>() {
            return match created {
                Ok(o) if o.total.amount < 0 || o.total.currency.len() != 3 => {
                    // Retrying would never help; the order's reservation expires and cancels it.
                    tracing::error!(event_id = %event.id, order_id = %o.order_id, total = ?o.total,
                        "order.created with an invalid total; not charged, recorded as handled");
                    self.record_only(event).await
                }
                Ok(o) => self.charge(event, o).await,
                Err(e) => {
                    tracing::error!(event_id = %event.id, error = %e, "order.created that does not decode; skipping it");
                    Ok(Outcome::Ignored)
                }
            };
        }
        match event.decode::<RefundRequested>() {
            Some(Ok(r)) => self.refund(event, r).await,
            Some(Err(e)) => {
                tracing::error!(event_id = %event.id, error = %e, "order.refund_requested that does not decode; skipping it");
                Ok(Outcome::Ignored)
            }
            None => Ok(Outcome::Ignored),
        }
    }
}
