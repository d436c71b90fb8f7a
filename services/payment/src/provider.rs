//! The payment provider behind a trait, and the sandbox provider used in development and tests.
//!
//! Sandbox test cards (README, "Purchase journey contracts"): `4242424242424242` succeeds,
//! `4000000000000002` is declined, `4000000000000119` fails transiently twice (per idempotency
//! key) then succeeds, `4000000000009995` never answers (callers time out); any other Luhn-valid
//! number succeeds. The sandbox keeps its books per idempotency key in `sandbox_operations`, so
//! a repeated charge with the same key returns the first result and never charges twice, even
//! after this service crashed between the call and recording its result.

use futures::future::BoxFuture;
use sqlx::{PgPool, Row};

use crate::card::Card;

/// Why a provider call did not succeed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The issuer refused: retrying will not help.
    #[error("declined: {0}")]
    Declined(String),
    /// The provider could not answer now: retry with the same idempotency key.
    #[error("temporarily unavailable: {0}")]
    Transient(String),
}

/// What the provider returns for a card: a reusable token (stored encrypted).
#[derive(Clone, Debug)]
pub struct Tokenized {
    pub token: String,
}

#[derive(Clone, Debug)]
pub struct ChargeRequest {
    /// The order id: the provider charges at most once per key.
    pub idempotency_key: String,
    pub token: String,
    pub amount: i64,
    pub currency: String,
}

#[derive(Clone, Debug)]
pub struct RefundRequest {
    pub idempotency_key: String,
    /// The provider's reference of the charge.
    pub charge_ref: String,
    pub amount: i64,
    pub currency: String,
}

/// The provider's reference of a charge or refund.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub reference: String,
}

/// A payment provider. Calls may hang: callers bound them with a timeout.
pub trait PaymentProvider: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn tokenize<'a>(&'a self, card: &'a Card) -> BoxFuture<'a, Result<Tokenized, ProviderError>>;
    fn charge<'a>(
        &'a self,
        req: &'a ChargeRequest,
    ) -> BoxFuture<'a, Result<Receipt, ProviderError>>;
    fn refund<'a>(
        &'a self,
        req: &'a RefundRequest,
    ) -> BoxFuture<'a, Result<Receipt, ProviderError>>;
}

/// How a sandbox card behaves, encoded in its token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Behaviour {
    Succeed,
    Decline,
    FlakyTwice,
    Hang,
}

impl Behaviour {
    fn of_number(n: &str) -> Self {
        match n {
            "4000000000000002" => Self::Decline,
            "4000000000000119" => Self::FlakyTwice,
            "4000000000009995" => Self::Hang,
            _ => Self::Succeed,
        }
    }
    fn code(self) -> &'static str {
        match self {
            Self::Succeed => "ok",
            Self::Decline => "decline",
            Self::FlakyTwice => "flaky",
            Self::Hang => "hang",
        }
    }
    fn of_token(t: &str) -> Self {
        match t.split('_').nth(1) {
            Some("decline") => Self::Decline,
            Some("flaky") => Self::FlakyTwice,
            Some("hang") => Self::Hang,
            _ => Self::Succeed,
        }
    }
}

/// The sandbox provider (books in payment_db's `sandbox_operations`).
#[derive(Clone)]
pub struct Sandbox {
    pool: PgPool,
}

impl Sandbox {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Books a call for `key` in one statement and returns (calls so far, outcome, reference).
    /// The first call books `first` as the outcome; a repeat keeps a booked outcome, or, when
    /// none was booked (a flaky card, or a crash before an earlier call finished), books `then`
    /// once more than `grace` calls were made.
    async fn book(
        &self,
        key: &str,
        kind: &str,
        amount: i64,
        currency: &str,
        first: Option<&str>,
        (grace, then): (i32, &str),
    ) -> Result<(i32, Option<String>, String), ProviderError> {
        let reference = format!("sbx_{kind}_{}", uuid::Uuid::now_v7().simple());
        let row = sqlx::query(
            "INSERT INTO sandbox_operations (idempotency_key, kind, reference, amount, currency, outcome)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (idempotency_key) DO UPDATE SET calls = sandbox_operations.calls + 1,
                    outcome = coalesce(sandbox_operations.outcome,
                        CASE WHEN sandbox_operations.calls + 1 > $7 THEN $8 END)
             RETURNING calls, outcome, reference",
        )
        .bind(key)
        .bind(kind)
        .bind(&reference)
        .bind(amount)
        .bind(currency)
        .bind(first)
        .bind(grace)
        .bind(then)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| ProviderError::Transient(format!("sandbox books unavailable: {e}")))?;
        let get = |r: &sqlx::postgres::PgRow| -> Result<_, sqlx::Error> {
            Ok((
                r.try_get("calls")?,
                r.try_get("outcome")?,
                r.try_get("reference")?,
            ))
        };
        get(&row).map_err(|e| ProviderError::Transient(e.to_string()))
    }

    async fn do_charge(&self, req: &ChargeRequest) -> Result<Receipt, ProviderError> {
        let behaviour = Behaviour::of_token(&req.token);
        let (first, then) = match behaviour {
            Behaviour::Hang => return std::future::pending().await,
            Behaviour::Decline => (Some("declined"), (0, "declined")),
            // Fails the first two calls of a charge, then succeeds.
            Behaviour::FlakyTwice => (None, (2, "succeeded")),
            Behaviour::Succeed => (Some("succeeded"), (0, "succeeded")),
        };
        let (calls, outcome, reference) = self
            .book(
                &req.idempotency_key,
                "charge",
                req.amount,
                &req.currency,
                first,
                then,
            )
            .await?;
        match outcome.as_deref() {
            None => Err(ProviderError::Transient(format!(
                "sandbox: simulated outage (call {calls} of this charge)"
            ))),
            Some("declined") => Err(ProviderError::Declined(
                "The card was declined by its issuer.".into(),
            )),
            Some(_) => Ok(Receipt { reference }),
        }
    }

    async fn do_refund(&self, req: &RefundRequest) -> Result<Receipt, ProviderError> {
        let ok = "succeeded";
        let (_, _, reference) = self
            .book(
                &req.idempotency_key,
                "refund",
                req.amount,
                &req.currency,
                Some(ok),
                (0, ok),
            )
            .await?;
        Ok(Receipt { reference })
    }
}

impl PaymentProvider for Sandbox {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    fn tokenize<'a>(&'a self, card: &'a Card) -> BoxFuture<'a, Result<Tokenized, ProviderError>> {
        Box::pin(async move {
            let b = Behaviour::of_number(&card.number);
            Ok(Tokenized {
                token: format!("sbx_{}_{}", b.code(), uuid::Uuid::new_v4().simple()),
            })
        })
    }

    fn charge<'a>(
        &'a self,
        req: &'a ChargeRequest,
    ) -> BoxFuture<'a, Result<Receipt, ProviderError>> {
        Box::pin(self.do_charge(req))
    }

    fn refund<'a>(
        &'a self,
        req: &'a RefundRequest,
    ) -> BoxFuture<'a, Result<Receipt, ProviderError>> {
        Box::pin(self.do_refund(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_carries_the_test_card_behaviour() {
        for (n, b) in [
            ("4242424242424242", Behaviour::Succeed),
            ("4000000000000002", Behaviour::Decline),
            ("4000000000000119", Behaviour::FlakyTwice),
            ("4000000000009995", Behaviour::Hang),
            ("5555555555554444", Behaviour::Succeed),
        ] {
            let t = format!("sbx_{}_abc", Behaviour::of_number(n).code());
            assert_eq!(Behaviour::of_token(&t), b, "{n}");
        }
    }
}
