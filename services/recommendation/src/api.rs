//! `GET /api/v1/recommendations?kind=personalized|similar|trending|popular&product_id=&limit=`:
//! candidates from the rec:* keys along the fallback chain, hydrated from product in batches,
//! never an archived or out-of-stock product, nor the product being viewed.

// A `Problem` is the error of a whole request, built at most once per request.
#![allow(clippy::result_large_err)]

use std::collections::{HashMap, HashSet};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kit::cache::Keys;
use kit::jwt::{AuthError, JwksVerifier};
use kit::problem::extract::Query;
use kit::problem::{FieldError, Problem};
use redis::aio::ConnectionManager;
use storefront_proto::product::v1 as pb;
use storefront_proto::product::v1::product_service_client::ProductServiceClient;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::chain::{Kind, Source, chain};

/// Most items one request may ask for.
pub const LIMIT_MAX: u32 = 100;
/// How long an answer may be reused: trending, popularity and neighbours move with everyone's
/// events, so an answer drifts for at most this long (the user's own events and catalog writes
/// are seen at once, through the generations the gateway checks).
macro_rules! max_age {
    () => {
        "max-age=30"
    };
}
/// Recently viewed items whose neighbours are read.
const RECENT_SOURCES: isize = 5;

/// What handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub redis: ConnectionManager,
    pub keys: Keys,
    pub product: Channel,
    pub verifier: JwksVerifier,
    pub default_limit: u32,
    pub candidate_factor: u32,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/recommendations", get(get_recommendations))
        .with_state(state)
}

pub use kit::contracts::Money;
/// The query string (checked by hand so every bad parameter is a 422 naming it).
pub use kit::contracts::recommendations::RecommendationQuery as RecQuery;
pub use kit::contracts::recommendations::{
    RecommendationList as RecList, RecommendedProduct as Card,
};

async fn get_recommendations(
    State(st): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<RecQuery>, Problem>,
) -> Response {
    let user = match kit::jwt::bearer_token(&headers) {
        Ok(token) => match st.verifier.authenticate(token).await {
            Ok(c) => Some(c.sub),
            Err(e) => return e.into_response(),
        },
        Err(AuthError::MissingToken) => None,
        Err(e) => return e.into_response(),
    };
    let Query(q) = match query {
        Ok(q) => q,
        Err(p) => return p.into_response(),
    };
    match recommend(&st, user, q).await {
        Ok(list) => {
            let mut resp = axum::Json(list).into_response();
            let h = resp.headers_mut();
            if user.is_some() {
                // Not for browsers or shared caches; the gateway may keep it for this user
                // (until the user's or the catalog's generation moves) and strips the header.
                h.insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("private, no-store"),
                );
                h.insert(
                    kit::cache::SURROGATE_CONTROL,
                    HeaderValue::from_static(max_age!()),
                );
            } else {
                h.insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static(concat!("public, ", max_age!())),
                );
            }
            resp
        }
        Err(p) => p.into_response(),
    }
}

fn parse_query(q: RecQuery, default_limit: u32) -> Result<(Kind, Option<Uuid>, u32), Problem> {
    let mut errors = Vec::new();
    let kind = match q.kind.as_deref().filter(|s| !s.is_empty()) {
        None => Some(Kind::Personalized),
        Some(k) => Kind::parse(k).or_else(|| {
            errors.push(FieldError::new(
                "kind",
                "must be one of personalized, similar, trending, popular",
            ));
            None
        }),
    };
    let product = match q.product_id.as_deref() {
        None => None,
        Some(p) => Uuid::parse_str(p)
            .map_err(|_| errors.push(FieldError::new("product_id", "must be a product id (UUID)")))
            .ok(),
    };
    let limit = match q.limit.as_deref() {
        None => default_limit,
        Some(l) => match l.parse::<u32>() {
            Ok(n) if (1..=LIMIT_MAX).contains(&n) => n,
            _ => {
                errors.push(FieldError::new(
                    "limit",
                    format!("must be an integer between 1 and {LIMIT_MAX}"),
                ));
                default_limit
            }
        },
    };
    if kind == Some(Kind::Similar) && product.is_none() && q.product_id.is_none() {
        errors.push(FieldError::new(
            "product_id",
            "is required when kind is similar",
        ));
    }
    match kind {
        Some(k) if errors.is_empty() => Ok((k, product, limit)),
        _ => Err(Problem::validation(errors)),
    }
}

/// Walks the chain until `limit` cards are found.
pub async fn recommend(st: &AppState, user: Option<Uuid>, q: RecQuery) -> Result<RecList, Problem> {
    let (kind, product, limit) = parse_query(q, st.default_limit)?;
    let want = limit as usize;
    let fetch = (want * st.candidate_factor as usize).max(want + 5);
    let mut seen: HashSet<String> = HashSet::new();
    if let Some(p) = product {
        seen.insert(p.to_string());
    }
    let mut items: Vec<Card> = Vec::with_capacity(want);
    let mut client = ProductServiceClient::new(st.product.clone());
    let mut redis = st.redis.clone();
    for source in chain(kind, user, product) {
        if items.len() >= want {
            break;
        }
        if source == Source::Newest {
            let page_size = fetch.min(100) as i32;
            let r = client
                .list_products(pb::ListProductsRequest {
                    page_size,
                    ..Default::default()
                })
                .await
                .map_err(Problem::from)?
                .into_inner();
            for p in r.products {
                if items.len() >= want {
                    break;
                }
                if seen.insert(p.id.clone())
                    && let Some(card) = card(p, None, source)
                {
                    items.push(card);
                }
            }
            continue;
        }
        let candidates = match candidates(&mut redis, &st.keys, source, fetch).await {
            Ok(c) => c,
            Err(e) => {
                // A Redis outage degrades to the catalog fallback instead of failing.
                tracing::warn!(source = ?source.source(), error = %e, "reading recommendations failed");
                Vec::new()
            }
        };
        let fresh: Vec<(String, f64)> = candidates
            .into_iter()
            .filter(|(id, _)| Uuid::parse_str(id).is_ok() && !seen.contains(id))
            .collect();
        if fresh.is_empty() {
            continue;
        }
        let scores: HashMap<String, f64> = fresh.iter().cloned().collect();
        for chunk in fresh.chunks(100) {
            if items.len() >= want {
                break;
            }
            let ids: Vec<String> = chunk.iter().map(|(id, _)| id.clone()).collect();
            let r = client
                .batch_get_products(pb::BatchGetProductsRequest { ids })
                .await
                .map_err(Problem::from)?
                .into_inner();
            for p in r.products {
                if items.len() >= want {
                    break;
                }
                let score = scores.get(&p.id).copied();
                if seen.insert(p.id.clone())
                    && let Some(card) = card(p, score, source)
                {
                    items.push(card);
                }
            }
        }
    }
    Ok(RecList {
        kind,
        items,
        next_cursor: None,
    })
}

/// A card for an active product with stock; `None` for anything else.
fn card(p: pb::Product, score: Option<f64>, source: Source) -> Option<Card> {
    if p.status != pb::ProductStatus::Active as i32 || !p.variants.iter().any(|v| v.in_stock) {
        return None;
    }
    let image_url = p
        .images
        .iter()
        .min_by_key(|i| i.position)
        .map(|i| i.url.clone());
    Some(Card {
        id: p.id,
        slug: p.slug,
        name: p.name,
        brand: p.brand,
        image_url,
        price: p.min_price.map(|m| Money {
            amount: m.amount_minor,
            currency: m.currency,
        }),
        in_stock: true,
        score,
        source: source.source(),
    })
}

/// Top `n` (id, score) of a Redis source, best first.
async fn candidates(
    redis: &mut ConnectionManager,
    keys: &Keys,
    source: Source,
    n: usize,
) -> redis::RedisResult<Vec<(String, f64)>> {
    match source {
        Source::Personalized(u) => top(redis, &keys.rec_personalized(u), n).await,
        Source::Similar(p) => top(redis, &keys.rec_similar(p), n).await,
        Source::Trending => top(redis, &keys.rec_trending(), n).await,
        Source::Popular => top(redis, &keys.rec_popular(), n).await,
        Source::RecentlyViewed(u) => {
            let recent: Vec<String> = redis::cmd("LRANGE")
                .arg(keys.rec_recent(u))
                .arg(0)
                .arg(RECENT_SOURCES - 1)
                .query_async(redis)
                .await?;
            let mut merged: HashMap<String, f64> = HashMap::new();
            for (i, r) in recent.iter().enumerate() {
                for (q, s) in top(redis, &keys.rec_similar(r), n).await? {
                    *merged.entry(q).or_default() += s / (i + 1) as f64;
                }
            }
            for r in &recent {
                merged.remove(r);
            }
            let mut out: Vec<(String, f64)> = merged.into_iter().collect();
            out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            out.truncate(n);
            Ok(out)
        }
        Source::Newest => Ok(Vec::new()),
    }
}

async fn top(
    redis: &mut ConnectionManager,
    key: &str,
    n: usize,
) -> redis::RedisResult<Vec<(String, f64)>> {
    let flat: Vec<String> = redis::cmd("ZREVRANGE")
        .arg(key)
        .arg(0)
        .arg(n.saturating_sub(1))
        .arg("WITHSCORES")
        .query_async(redis)
        .await?;
    Ok(flat
        .chunks(2)
        .filter_map(|c| Some((c.first()?.clone(), c.get(1)?.parse().ok()?)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(kind: Option<&str>, product: Option<&str>, limit: Option<&str>) -> RecQuery {
        RecQuery {
            kind: kind.map(Into::into),
            product_id: product.map(Into::into),
            limit: limit.map(Into::into),
        }
    }

    #[test]
    fn query_rules() {
        assert_eq!(
            parse_query(q(None, None, None), 10).unwrap(),
            (Kind::Personalized, None, 10)
        );
        let fields = |r: Result<_, Problem>| -> Vec<String> {
            r.unwrap_err().errors.into_iter().map(|e| e.field).collect()
        };
        assert_eq!(
            fields(parse_query(q(Some("similar"), None, None), 10)),
            ["product_id"]
        );
        assert_eq!(
            fields(parse_query(q(Some("best"), Some("x"), Some("0")), 10)),
            ["kind", "product_id", "limit"]
        );
        assert_eq!(
            fields(parse_query(q(None, None, Some("101")), 10)),
            ["limit"]
        );
    }
}
