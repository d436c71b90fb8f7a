//! `POST /api/v1/events`: a batch of up to `event.max_batch` tracking events. Each is checked
//! against its type's schema; bad ones are reported by index and the good ones are enriched,
//! published to `user-events` and their own topic, and stored in event_db.

// A `Problem` is the error of a whole request, built at most once per request.
#![allow(clippy::result_large_err)]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use kit::events::CloudEvent;
use kit::jwt::{AuthError, JwksVerifier};
use kit::problem::extract::Json;
use kit::problem::{FieldError, Problem, REQUEST_ID_HEADER};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::config::EventSettings;
use crate::domain::{self, Actor, SOURCE};
use crate::publish::{Outgoing, PublishError, Publisher};
use crate::store::{self, EventRow, Metadata};

/// What handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub verifier: JwksVerifier,
    pub publisher: Publisher,
    pub kafka: kit::config::KafkaSettings,
    pub settings: Arc<EventSettings>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/events", post(post_events))
        .with_state(state)
}

pub use kit::contracts::track::{
    EventBatch as Batch, EventBatchResult as BatchResult, RejectedEvent as Rejected,
};

/// The client address: `x-forwarded-for` set by the gateway, else the peer. Only its network
/// prefix is ever kept.
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok());
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(Self(forwarded.or(peer)))
    }
}

async fn post_events(
    State(st): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    body: Result<Json<Batch>, Problem>,
) -> Response {
    let user_id = match kit::jwt::bearer_token(&headers) {
        Ok(token) => match st.verifier.authenticate(token).await {
            Ok(c) => Some(c.sub),
            Err(e) => return e.into_response(),
        },
        Err(AuthError::MissingToken) => None,
        Err(e) => return e.into_response(),
    };
    let Json(batch) = match body {
        Ok(b) => b,
        Err(p) => return p.into_response(),
    };
    match accept(&st, user_id, ip, &headers, batch).await {
        Ok(r) => (StatusCode::ACCEPTED, axum::Json(r)).into_response(),
        Err(p) => p.into_response(),
    }
}

async fn accept(
    st: &AppState,
    user_id: Option<Uuid>,
    ip: Option<IpAddr>,
    headers: &HeaderMap,
    batch: Batch,
) -> Result<BatchResult, Problem> {
    let max = st.settings.max_batch;
    let mut errors = Vec::new();
    if batch.events.is_empty() {
        errors.push(FieldError::new("events", "must hold at least one event"));
    } else if batch.events.len() > max {
        errors.push(FieldError::new(
            "events",
            format!("may hold at most {max} events; split the batch"),
        ));
    }
    let anonymous_id = match batch.anonymous_id.as_ref().filter(|v| !v.is_null()) {
        Some(v) => domain::check_id(v)
            .map_err(|m| errors.push(FieldError::new("anonymous_id", m)))
            .ok(),
        None if user_id.is_none() => Some(Uuid::now_v7().to_string()),
        None => None,
    };
    let default_session = match batch.session_id.as_ref().filter(|v| !v.is_null()) {
        Some(v) => domain::check_id(v)
            .map_err(|m| errors.push(FieldError::new("session_id", m)))
            .ok(),
        None => None,
    };
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let actor = Actor {
        user_id,
        anonymous_id,
    };

    let now = OffsetDateTime::now_utc();
    let mut accepted = Vec::new();
    let mut rejected = Vec::new();
    for (index, v) in batch.events.iter().enumerate() {
        match domain::parse_event(v, now) {
            Ok(mut ev) => {
                if ev.session_id.is_none() {
                    ev.session_id.clone_from(&default_session);
                }
                accepted.push(ev);
            }
            Err(errors) => rejected.push(Rejected { index, errors }),
        }
    }
    if accepted.is_empty() {
        let errors = rejected
            .iter()
            .flat_map(|r| {
                r.errors.iter().map(move |e| {
                    let field = if e.field.is_empty() {
                        format!("events[{}]", r.index)
                    } else {
                        format!("events[{}].{}", r.index, e.field)
                    };
                    FieldError::new(field, e.message.clone())
                })
            })
            .collect();
        return Err(Problem::validation(errors)
            .with_detail("No event of the batch is valid; nothing was recorded.")
            .with_extension("rejected", &rejected));
    }

    let client = domain::client_info(
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
        ip,
    );
    let key = actor.key();
    let mut outgoing = Vec::with_capacity(accepted.len() * 2);
    let mut rows = Vec::with_capacity(accepted.len());
    for ev in &accepted {
        let data = domain::payload(ev, &actor, now, &client).map_err(Problem::internal)?;
        let mut envelope = CloudEvent::new(
            SOURCE,
            ev.kind.event_type(),
            Some(key.clone()),
            data.clone(),
        );
        envelope.time = now;
        rows.push(EventRow {
            id: envelope.id,
            event_type: envelope.event_type.clone(),
            user_id: actor.user_id,
            anonymous_id: actor.anonymous_id.clone(),
            session_id: ev.session_id.clone(),
            product_id: ev.product_id,
            occurred_at: ev.occurred_at.unwrap_or(now),
            received_at: now,
            data,
        });
        if let Some(t) = ev.kind.topic() {
            outgoing.push(Outgoing {
                topic: kit::events::topic(&st.kafka, t),
                key: key.clone(),
                event: envelope.clone(),
            });
        }
        outgoing.push(Outgoing {
            topic: kit::events::topic(&st.kafka, kit::events::topics::USER_EVENTS),
            key: key.clone(),
            event: envelope,
        });
    }
    let retry_after = Duration::from_secs(st.settings.retry_after_secs);
    let permit = st
        .publisher
        .reserve(outgoing.len() as u32)
        .map_err(|_| saturated(retry_after))?;
    let meta = Metadata {
        client,
        request_id: headers
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(128).collect()),
    };
    // The work runs in its own task holding the permits, so a client that goes away neither
    // cancels a half-done publish nor frees budget that the broker still uses.
    let publisher = st.publisher.clone();
    let pool = st.pool.clone();
    let work = tokio::spawn(async move {
        let (published, stored) = tokio::join!(
            publisher.publish(&outgoing),
            store::insert(&pool, &rows, Some(&meta))
        );
        drop(permit);
        // Not published means not recorded: the client sends the batch again.
        if published.is_err() && stored.is_ok() {
            let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
            if let Err(e) = store::delete(&pool, &ids).await {
                tracing::warn!(error = %e, "unpublished tracking events stay in event_db");
            }
        }
        (published, stored)
    });
    let (published, stored) = work.await.map_err(Problem::internal)?;
    match published {
        Ok(()) => {}
        Err(PublishError::Saturated) => return Err(saturated(retry_after)),
        Err(PublishError::Broker(e)) => {
            tracing::warn!(error = %e, "tracking events not published");
            return Err(unavailable(retry_after));
        }
    }
    if let Err(e) = stored {
        tracing::warn!(error = %e, error.chain = %kit::telemetry::chain(&e), "tracking events published but not stored");
        return Err(unavailable(retry_after));
    }
    Ok(BatchResult {
        accepted: accepted.len(),
        rejected,
        anonymous_id: actor.anonymous_id,
    })
}

fn saturated(retry_after: Duration) -> Problem {
    Problem::too_many_requests(retry_after).with_detail(format!(
        "The event pipeline is busy. Send the batch again in {} s.",
        retry_after.as_secs().max(1)
    ))
}

fn unavailable(retry_after: Duration) -> Problem {
    Problem::service_unavailable(
        "The events could not be recorded (the broker or the database is unavailable). Send the batch again shortly.",
    )
    .with_header(
        header::RETRY_AFTER,
        axum::http::HeaderValue::from(retry_after.as_secs().max(1)),
    )
}
