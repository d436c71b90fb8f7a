//! `POST /api/v1/checkout`: the HTTP side of a checkout. The `Idempotency-Key` (per user) is
//! claimed before any side effect: the same key with the same request answers the first answer
//! again (`idempotent-replayed: true`), with another request 422, and while the first is still
//! running 409. Then the saga ([`crate::checkout`]) runs; a refused checkout forgets its key.

// A `Problem` is the error of a whole request, built at most once per request.
#![allow(clippy::result_large_err)]

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kit::jwt::AuthUser;
use kit::problem::extract::Json;
use kit::problem::{FieldError, Problem};
use sha2::{Digest, Sha256};
use tracing::Instrument;
use uuid::Uuid;

use super::{ApiError, ApiResult, AppState};
use crate::domain::{Address, IdempotencyKey};
use crate::store::idempotency::{self, Claim, Existing};

/// The header a replayed answer carries.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

pub use kit::contracts::orders::CheckoutRequest;

/// What a checkout asks for besides the cart, normalised.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub(crate) struct Choices {
    pub(crate) currency: Option<String>,
    pub(crate) shipping_method_id: Option<Uuid>,
    pub(crate) promotion_code: Option<String>,
}

impl Choices {
    fn parse(b: &CheckoutRequest) -> Result<Self, Problem> {
        let mut errors = Vec::new();
        let currency = kit::totals::currency_param(&mut errors, "currency", b.currency.as_deref());
        let code =
            kit::totals::code_param(&mut errors, "promotion_code", b.promotion_code.as_deref());
        if !errors.is_empty() {
            return Err(Problem::validation(errors));
        }
        Ok(Self {
            currency,
            shipping_method_id: b.shipping_method_id,
            promotion_code: code,
        })
    }
}

fn key_of(headers: &HeaderMap) -> Result<IdempotencyKey, Problem> {
    let Some(v) = headers.get("idempotency-key") else {
        return Err(Problem::bad_request(
            "The Idempotency-Key header is required: send a unique value (e.g. a UUID) per checkout and reuse it when retrying.",
        )
        .with_errors(vec![FieldError::new("Idempotency-Key", "is required")]));
    };
    IdempotencyKey::parse(v.as_bytes()).map_err(|e| {
        Problem::bad_request(format!("The Idempotency-Key header {}.", e.message))
            .with_errors(vec![e])
    })
}

/// A hash of the request as understood (normalised address, or the saved address's id), so the
/// same checkout sent with different whitespace or key order is the same request.
fn request_hash(
    payment_method_id: Uuid,
    address: &Address,
    address_id: Option<Uuid>,
    choices: &Choices,
) -> String {
    let canonical = match address_id {
        Some(id) => serde_json::json!({
            "payment_method_id": payment_method_id,
            "shipping_address_id": id,
            "choices": choices,
        }),
        None => serde_json::json!({
            "payment_method_id": payment_method_id,
            "shipping_address": address,
            "choices": choices,
        }),
    };
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

fn replay(status: u16, body: serde_json::Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::CREATED);
    let mut resp = (status, Json(body)).into_response();
    resp.headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    resp
}

pub async fn checkout(
    State(st): State<AppState>,
    AuthUser(claims): AuthUser,
    headers: HeaderMap,
    Json(body): Json<CheckoutRequest>,
) -> ApiResult<Response> {
    let key = key_of(&headers)?;
    let Some(raw) = &body.shipping_address else {
        return Err(Problem::validation(vec![FieldError::new(
            "shipping_address",
            "is required: send an address, or `shipping_address_id` naming a saved one",
        )])
        .into());
    };
    let address = kit::address::normalize(raw, "shipping_address").map_err(Problem::validation)?;
    let choices = Choices::parse(&body)?;
    let hash = request_hash(
        body.payment_method_id,
        &address,
        body.shipping_address_id,
        &choices,
    );
    let user_id = claims.sub;
    let claim = idempotency::claim(
        &st.pool,
        user_id,
        key.as_str(),
        &hash,
        Uuid::now_v7(),
        st.settings.idempotency_lock_secs,
    )
    .await?;
    let order_id = match claim {
        Claim::Owned { order_id } => order_id,
        Claim::Taken(Existing::Completed {
            request_hash,
            status,
            body,
        }) if request_hash == hash => return Ok(replay(status, body)),
        Claim::Taken(Existing::InFlight { request_hash }) if request_hash == hash => {
            return Err(Problem::conflict(
                "A checkout with this Idempotency-Key is still being processed; retry shortly to get its answer.",
            )
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
            .into());
        }
        Claim::Taken(_) => {
            return Err(Problem::unprocessable(
                "This Idempotency-Key was already used with a different request; use a new key for a new checkout.",
            )
            .into());
        }
    };
    // The saga runs to its end even if the client goes away meanwhile: its answer is stored
    // under the key, and a retry gets it instead of finding a half-done checkout.
    let work = tokio::spawn(async move {
        let result = crate::checkout::place(
            &st,
            &headers,
            user_id,
            order_id,
            body.payment_method_id,
            address,
            choices,
            &key,
        )
        .await;
        if result.is_err()
            && let Err(e) = idempotency::release(&st.pool, user_id, key.as_str()).await
        {
            tracing::warn!(error = %e, "could not forget a refused checkout's key; it frees itself after its lock");
        }
        result
    }
    .in_current_span());
    work.await
        .map_err(|e| ApiError::Other(anyhow::anyhow!("checkout task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_hash_ignores_formatting_and_follows_a_saved_address_by_id() {
        let raw: Address = serde_json::from_value(serde_json::json!({
            "recipient_name": "Ada", "address_lines": ["1 Main St"], "locality": "Berlin",
            "postal_code": "sw1a 1aa", "country_code": "GB"
        }))
        .unwrap();
        let a = kit::address::normalize(&raw, "a").unwrap();
        let mut raw2 = raw.clone();
        raw2.recipient_name = "  Ada ".into();
        raw2.postal_code = "SW1A 1AA".into();
        let b = kit::address::normalize(&raw2, "a").unwrap();
        let pm = Uuid::now_v7();
        let c = Choices::default();
        assert_eq!(
            request_hash(pm, &a, None, &c),
            request_hash(pm, &b, None, &c)
        );
        assert_ne!(
            request_hash(pm, &a, None, &c),
            request_hash(Uuid::now_v7(), &a, None, &c)
        );
        let coded = Choices {
            promotion_code: Some("TEN".into()),
            ..Choices::default()
        };
        assert_ne!(
            request_hash(pm, &a, None, &c),
            request_hash(pm, &a, None, &coded)
        );
        // By id: the same request whatever the saved address holds now, another than by value.
        let saved = Uuid::now_v7();
        let moved = Address {
            locality: "Hamburg".into(),
            ..a.clone()
        };
        assert_eq!(
            request_hash(pm, &a, Some(saved), &c),
            request_hash(pm, &moved, Some(saved), &c)
        );
        assert_ne!(
            request_hash(pm, &a, Some(saved), &c),
            request_hash(pm, &a, None, &c)
        );
    }

    #[test]
    fn missing_and_bad_keys_are_400() {
        let h = HeaderMap::new();
        assert_eq!(key_of(&h).unwrap_err().status, 400);
        let mut h = HeaderMap::new();
        h.insert("idempotency-key", HeaderValue::from_static("tab\there"));
        assert_eq!(key_of(&h).unwrap_err().status, 400);
        h.insert("idempotency-key", HeaderValue::from_static("with space"));
        assert_eq!(key_of(&h).unwrap().as_str(), "with space");
        h.insert("idempotency-key", HeaderValue::from_static("k-1"));
        assert_eq!(key_of(&h).unwrap().as_str(), "k-1");
    }
}
