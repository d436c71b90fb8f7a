//! The payment REST API (the same paths the gateway serves): `GET|POST /api/v1/payment-methods`
//! and `DELETE /api/v1/payment-methods/{id}`, for the token's own user only. A card is
//! tokenized by the provider and only the token (encrypted), brand, last 4 and expiry are kept.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use kit::jwt::{AuthUser, JwksVerifier};
use kit::problem::extract::{Json, Path, Query};
use kit::problem::{FieldError, Problem};
use serde::Serialize;
use sqlx::PgPool;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::card::{self, Card};
use crate::crypto::TokenCipher;
use crate::provider::{PaymentProvider, ProviderError};
use crate::store::{self, MethodRow};

/// Longest holder name kept.
const HOLDER_MAX: usize = 100;
use kit::problem::idempotency_key;

/// What a repeated save must match: brand, last 4, expiry and holder (never the number).
fn request_hash(card: &Card) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(format!(
        "{}|{}|{}|{}|{}|{}",
        card.brand(),
        card.last4(),
        card.number.len(),
        card.exp_month,
        card.exp_year,
        card.holder_name.as_deref().unwrap_or("")
    )))
}

fn key_reused() -> Problem {
    Problem::unprocessable("This Idempotency-Key was used with a different card; use a new key.")
        .with_errors(vec![FieldError::new(
            "Idempotency-Key",
            "was used with a different card",
        )])
}

fn replayed(m: &MethodRow) -> Response {
    let mut resp = created(m);
    resp.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    resp
}

fn created(m: &MethodRow) -> Response {
    let mut resp = no_store(StatusCode::CREATED, MethodView::from(m));
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/payment-methods/{}", m.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// What the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub verifier: JwksVerifier,
    pub cipher: TokenCipher,
    pub provider: Arc<dyn PaymentProvider>,
    pub provider_timeout: std::time::Duration,
}

impl FromRef<AppState> for JwksVerifier {
    fn from_ref(s: &AppState) -> Self {
        s.verifier.clone()
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/payment-methods",
            get(list_methods).post(create_method),
        )
        .route("/api/v1/payment-methods/{id}", delete(delete_method))
}

pub use kit::contracts::page::PageQuery;
pub use kit::contracts::payment::{
    CreatePaymentMethodRequest as CreateMethod, PaymentMethod as MethodView,
    PaymentMethodList as MethodList,
};

impl From<&MethodRow> for MethodView {
    fn from(m: &MethodRow) -> Self {
        Self {
            id: m.id,
            brand: m.brand.clone(),
            last4: m.last4.clone(),
            exp_month: m.exp_month,
            exp_year: m.exp_year,
            holder_name: m.holder_name.clone(),
            created_at: m.created_at.format(&Rfc3339).unwrap_or_default(),
        }
    }
}

pub async fn list_methods(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Query(q): Query<PageQuery>,
) -> Result<Response, Problem> {
    let page = kit::page::Page::parse(q.cursor.as_deref(), q.limit, 20).map_err(|errors| {
        Problem::bad_request("The query string is invalid.").with_errors(errors)
    })?;
    let mut rows = store::list_methods(&state.pool, claims.sub, page.after, page.limit + 1).await?;
    let next_cursor = page.finish(&mut rows, |m| m.id);
    let list = MethodList {
        items: rows.iter().map(MethodView::from).collect(),
        next_cursor,
    };
    Ok(no_store(StatusCode::OK, list))
}

fn no_store(status: StatusCode, body: impl Serialize) -> Response {
    let mut r = (status, axum::Json(body)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Checks the posted card; a 422 names every bad field (never echoing the number or CVC).
fn parse_card(body: CreateMethod, now: OffsetDateTime) -> Result<Card, Problem> {
    let mut errors = Vec::new();
    let number = match card::normalize_number(&body.card_number) {
        None => {
            errors.push(FieldError::new(
                "card_number",
                "must be 12 to 19 digits (spaces and dashes are ignored)",
            ));
            None
        }
        Some(n) if !card::luhn_valid(&n) => {
            errors.push(FieldError::new(
                "card_number",
                "is not a valid card number (check digit mismatch)",
            ));
            None
        }
        Some(n) => Some(n),
    };
    if !(1..=12).contains(&body.exp_month) {
        errors.push(FieldError::new("exp_month", "must be between 1 and 12"));
    }
    let this_year = i64::from(now.year());
    if !(2000..=2200).contains(&body.exp_year) {
        errors.push(FieldError::new(
            "exp_year",
            "must be the four-digit year, e.g. 2030",
        ));
    } else if body.exp_year > this_year + 25 {
        errors.push(FieldError::new("exp_year", "is too far in the future"));
    } else if (1..=12).contains(&body.exp_month)
        && card::expired(body.exp_month as u8, body.exp_year as u16, now)
    {
        errors.push(FieldError::new("exp_year", "the card has expired"));
    }
    if !(3..=4).contains(&body.cvc.len()) || !body.cvc.bytes().all(|b| b.is_ascii_digit()) {
        errors.push(FieldError::new("cvc", "must be 3 or 4 digits"));
    }
    let holder = body
        .holder_name
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty());
    if holder
        .as_ref()
        .is_some_and(|h| h.chars().count() > HOLDER_MAX)
    {
        errors.push(FieldError::new(
            "holder_name",
            format!("must be at most {HOLDER_MAX} characters"),
        ));
    }
    match number {
        Some(number) if errors.is_empty() => Ok(Card {
            number,
            exp_month: body.exp_month as u8,
            exp_year: body.exp_year as u16,
            cvc: body.cvc,
            holder_name: holder,
        }),
        _ => Err(Problem::validation(errors)),
    }
}

pub async fn create_method(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    headers: axum::http::HeaderMap,
    Json(body): Json<CreateMethod>,
) -> Result<Response, Problem> {
    let now = OffsetDateTime::now_utc();
    let key = idempotency_key(&headers)?;
    let card = parse_card(body, now)?;
    let hash = request_hash(&card);
    if let Some(k) = &key
        && let Some((h, m)) = store::find_method_request(&state.pool, claims.sub, k).await?
    {
        return if h == hash {
            Ok(replayed(&m))
        } else {
            Err(key_reused())
        };
    }
    let tokenized =
        match tokio::time::timeout(state.provider_timeout, state.provider.tokenize(&card)).await {
            Ok(Ok(t)) => t,
            Ok(Err(ProviderError::Declined(m))) => {
                return Err(Problem::validation(vec![FieldError::new("card_number", m)]));
            }
            Ok(Err(ProviderError::Transient(m))) => {
                tracing::warn!(error = %m, "provider could not tokenize a card");
                return Err(Problem::service_unavailable(
                    "The payment provider is unavailable; try again shortly.",
                ));
            }
            Err(_) => {
                tracing::warn!("provider did not answer a tokenization in time");
                return Err(Problem::service_unavailable(
                    "The payment provider did not answer in time; try again shortly.",
                ));
            }
        };
    let id = Uuid::now_v7();
    let sealed = state
        .cipher
        .seal(&tokenized.token, id.as_bytes())
        .map_err(Problem::internal)?;
    let row = MethodRow {
        id,
        user_id: claims.sub,
        brand: card.brand().to_owned(),
        last4: card.last4().to_owned(),
        exp_month: i16::from(card.exp_month),
        exp_year: card.exp_year as i16,
        holder_name: card.holder_name.clone(),
        token_nonce: sealed.nonce,
        token_ciphertext: sealed.ciphertext,
        created_at: now
            .replace_nanosecond(now.microsecond() * 1_000)
            .unwrap_or(now),
    };
    let saved = store::insert_method_once(
        &state.pool,
        &row,
        state.provider.name(),
        key.as_deref().map(|k| (k, hash.as_str())),
    )
    .await?;
    if !saved {
        // A concurrent request with the same key saved the card first.
        let k = key.as_deref().unwrap_or_default();
        return match store::find_method_request(&state.pool, claims.sub, k).await? {
            Some((h, m)) if h == hash => Ok(replayed(&m)),
            Some(_) => Err(key_reused()),
            None => Err(Problem::conflict(
                "A request with this Idempotency-Key is being processed; try again.",
            )),
        };
    }
    tracing::info!(payment_method_id = %id, brand = %row.brand, "payment method saved");
    Ok(created(&row))
}

pub async fn delete_method(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Response, Problem> {
    if store::delete_method(&state.pool, id, claims.sub).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(Problem::not_found("There is no such payment method."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(n: &str, m: i64, y: i64, cvc: &str) -> CreateMethod {
        CreateMethod {
            card_number: n.into(),
            exp_month: m,
            exp_year: y,
            cvc: cvc.into(),
            holder_name: None,
        }
    }

    #[test]
    fn bad_cards_name_every_field_without_echoing_the_number() {
        let now = time::macros::datetime!(2026-11-26 10:00 UTC);
        let p = parse_card(body("4242424242424241", 13, 2020, "12"), now).unwrap_err();
        let fields: Vec<&str> = p.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["card_number", "exp_month", "cvc"], "{p:?}");
        let text = serde_json::to_string(&p).unwrap();
        assert!(!text.contains("4242424242424241"), "{text}");
        let p = parse_card(body("4242424242424242", 10, 2026, "123"), now).unwrap_err();
        assert_eq!(p.errors[0].field, "exp_year");
        let c = parse_card(body("4242 4242 4242 4242", 11, 2026, "123"), now).unwrap();
        assert_eq!(c.last4(), "4242");
    }
}
