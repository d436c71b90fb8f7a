//! The cart's REST API (the same paths the gateway serves): `GET|DELETE /api/v1/cart`,
//! `POST /api/v1/cart/items`, `PATCH|DELETE /api/v1/cart/items/{sku}`, `POST /api/v1/cart/merge`.
//! A request names its cart with a bearer token (the user's cart) or, for guests, with the
//! `X-Cart-Token` the first add returned.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use kit::jwt::{JwksVerifier, bearer_token};
use kit::problem::extract::{Json, Path, Query};
use kit::problem::{FieldError, Problem};
use sqlx::PgPool;
use uuid::Uuid;

use crate::catalog::{Catalog, Price, SkuInfo};
use crate::config::CartSettings;
use crate::domain::{GuestToken, Owner, sku_problem};
use crate::events::{self, RemovedReason};
use crate::hot::Hot;
use crate::store::{self, Snapshot};

/// The header naming a guest cart (request and response).
pub const CART_TOKEN: HeaderName = HeaderName::from_static("x-cart-token");
/// Set on an answer replayed for a repeated `Idempotency-Key`.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
use kit::problem::idempotency_key;

/// What the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub hot: Hot,
    pub catalog: Catalog,
    pub verifier: JwksVerifier,
    pub settings: Arc<CartSettings>,
}

impl FromRef<AppState> for JwksVerifier {
    fn from_ref(s: &AppState) -> Self {
        s.verifier.clone()
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/cart", get(get_cart).delete(clear_cart))
        .route("/api/v1/cart/items", post(add_item))
        .route(
            "/api/v1/cart/items/{sku}",
            patch(update_item).delete(remove_item),
        )
        .route("/api/v1/cart/merge", post(merge))
}

// ---------- bodies ----------

pub use kit::contracts::Money;

impl From<&Price> for Money {
    fn from(p: &Price) -> Self {
        Self {
            amount: p.amount,
            currency: p.currency.clone(),
        }
    }
}

pub use kit::contracts::cart::{
    AddCartItemRequest as AddItem, Cart as CartView, CartLine as LineView, EstimateQuery,
    UpdateCartItemRequest as UpdateItem,
};

/// What the query asks of the cart besides its lines.
trait Wanted {
    fn wanted(&self) -> bool;
    fn request(
        &self,
        lines: Vec<kit::totals::QuoteLine>,
        user_id: Option<Uuid>,
    ) -> Result<kit::totals::QuoteRequest, Problem>;
}

impl Wanted for EstimateQuery {
    fn wanted(&self) -> bool {
        self.currency.is_some()
            || self.country.is_some()
            || self.shipping_method_id.is_some()
            || self.promotion_code.is_some()
    }

    /// The quote request for `lines`, or 422 naming a malformed parameter.
    fn request(
        &self,
        lines: Vec<kit::totals::QuoteLine>,
        user_id: Option<Uuid>,
    ) -> Result<kit::totals::QuoteRequest, Problem> {
        use kit::totals::{code_param, country_param, currency_param};
        let mut errors = Vec::new();
        let currency = currency_param(&mut errors, "currency", self.currency.as_deref());
        let country = country_param(&mut errors, "country", self.country.as_deref());
        let region = self.region.clone().filter(|r| !r.trim().is_empty());
        if region.as_deref().is_some_and(|r| r.chars().count() > 100) {
            errors.push(FieldError::new("region", "must be at most 100 characters"));
        }
        let method = match self.shipping_method_id.as_deref() {
            None => None,
            Some(m) => match Uuid::parse_str(m) {
                Ok(id) => Some(id),
                Err(_) => {
                    errors.push(FieldError::new("shipping_method_id", "must be a UUID"));
                    None
                }
            },
        };
        let code = code_param(
            &mut errors,
            "promotion_code",
            self.promotion_code.as_deref(),
        );
        if !errors.is_empty() {
            return Err(Problem::validation(errors));
        }
        Ok(kit::totals::QuoteRequest {
            lines,
            currency,
            country,
            region,
            shipping_method_id: method,
            code,
            user_id,
        })
    }
}

// ---------- who is asking ----------

enum Who {
    User(Uuid),
    Guest(GuestToken),
    Nobody,
}

impl Who {
    fn owner(&self) -> Option<Owner> {
        match self {
            Who::User(id) => Some(Owner::User(*id)),
            Who::Guest(t) => Some(t.owner()),
            Who::Nobody => None,
        }
    }
}

/// A bearer token wins (it must be valid); else `X-Cart-Token` (it must be well-formed).
async fn identify(state: &AppState, headers: &HeaderMap) -> Result<Who, Problem> {
    if headers.contains_key(header::AUTHORIZATION) {
        let token = bearer_token(headers).map_err(Problem::from)?;
        let claims = state
            .verifier
            .authenticate(token)
            .await
            .map_err(Problem::from)?;
        return Ok(Who::User(claims.sub));
    }
    match headers.get(&CART_TOKEN) {
        None => Ok(Who::Nobody),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(GuestToken::parse)
            .map(Who::Guest)
            .ok_or_else(bad_cart_token),
    }
}

fn bad_cart_token() -> Problem {
    Problem::bad_request("The X-Cart-Token header is not a cart token issued by this service.")
        .with_errors(vec![FieldError::new(
            "X-Cart-Token",
            "must be the token returned by the first add to a guest cart",
        )])
}

fn no_line(sku: &str) -> Problem {
    Problem::not_found(format!("There is no line for `{sku}` in this cart."))
}

// ---------- reading ----------

/// The owner's cart: the Redis copy, else cart_db (then cached). A Redis failure falls back to
/// cart_db without caching.
async fn snapshot(state: &AppState, owner: &Owner) -> Result<Snapshot, Problem> {
    match state.hot.get(owner).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => {
            let snap = store::load(&state.pool, owner).await?;
            if snap.cart_id.is_some()
                && let Err(e) = state.hot.put(owner, &snap).await
            {
                tracing::warn!(error = %e, "cannot cache a cart in Redis");
            }
            Ok(snap)
        }
        Err(e) => {
            tracing::warn!(error = %e, "Redis unavailable; reading the cart from cart_db");
            store::load(&state.pool, owner).await.map_err(Problem::from)
        }
    }
}

/// Prices, names and availability for every line, asked of product and inventory now.
async fn view(state: &AppState, headers: &HeaderMap, snap: &Snapshot) -> Result<CartView, Problem> {
    Ok(view_in(state, headers, snap, None, Facts::default())
        .await?
        .0)
}

/// The SKUs of `snap`'s lines that `known` has no answer for.
fn unknown<V>(snap: &Snapshot, known: &HashMap<String, V>) -> Vec<String> {
    snap.lines
        .iter()
        .map(|(sku, _)| sku)
        .filter(|sku| !known.contains_key(*sku))
        .cloned()
        .collect()
}

/// What this request already asked product and inventory (for the SKU it changes): the view
/// after the write reuses it instead of asking again.
#[derive(Default)]
struct Facts {
    info: HashMap<String, SkuInfo>,
    available: HashMap<String, i64>,
}

/// [`view`] with line prices in `currency` (a line without a price in it shows none and is not
/// purchasable in it), and per line whether it names a variant of an active product whatever
/// its prices (the lines an estimate is asked for: a line without a price in the currency is
/// then the estimate's problem).
async fn view_in(
    state: &AppState,
    headers: &HeaderMap,
    snap: &Snapshot,
    currency: Option<&str>,
    known: Facts,
) -> Result<(CartView, Vec<bool>), Problem> {
    let (ask_info, ask_available) = (unknown(snap, &known.info), unknown(snap, &known.available));
    let (mut info, mut avail) = tokio::try_join!(
        state.catalog.lookup(&ask_info, headers),
        state.catalog.availability(&ask_available, headers)
    )?;
    info.extend(known.info);
    avail.extend(known.available);
    let mut items = Vec::with_capacity(snap.lines.len());
    let mut for_sale = Vec::with_capacity(snap.lines.len());
    let mut totals: Vec<Price> = Vec::new();
    for (sku, quantity) in &snap.lines {
        let i = info.get(sku);
        let available = avail.get(sku).copied().unwrap_or(0);
        let price = i.and_then(|i| match currency {
            None => i.price.as_ref(),
            Some(c) => i
                .prices
                .iter()
                .chain(i.price.iter())
                .find(|p| p.currency == c),
        });
        let purchasable = i.is_some_and(|i| i.purchasable) && price.is_some();
        let line_total = price.map(|p| Price {
            amount: p.amount.saturating_mul(i64::from(*quantity)),
            currency: p.currency.clone(),
        });
        if purchasable && let Some(t) = &line_total {
            totals.push(t.clone());
        }
        items.push(LineView {
            sku: sku.clone(),
            quantity: *quantity,
            product_id: i.map(|i| i.product_id.clone()),
            name: i.map(|i| i.name.clone()),
            unit_price: price.map(Money::from),
            line_total: line_total.as_ref().map(Money::from),
            available,
            in_stock: available >= i64::from(*quantity),
            purchasable,
        });
        for_sale.push(i.is_some_and(|i| i.purchasable));
    }
    let subtotal = match totals.first() {
        Some(first) if totals.iter().all(|t| t.currency == first.currency) => Some(Money {
            amount: totals
                .iter()
                .map(|t| t.amount)
                .fold(0i64, i64::saturating_add),
            currency: first.currency.clone(),
        }),
        _ => None,
    };
    let view = CartView {
        item_count: snap.lines.iter().map(|(_, q)| i64::from(*q)).sum(),
        items,
        subtotal,
        estimate: None,
        estimate_problem: None,
    };
    Ok((view, for_sale))
}

fn cart_response(status: StatusCode, view: CartView, new_token: Option<&GuestToken>) -> Response {
    let mut resp = (status, axum::Json(view)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(t) = new_token
        && let Ok(v) = HeaderValue::from_str(t.as_str())
    {
        resp.headers_mut().insert(CART_TOKEN, v);
    }
    resp
}

/// Stores the committed cart in Redis (a failure drops the key so the next read rebuilds it).
async fn cache(state: &AppState, owner: &Owner, snap: &Snapshot) {
    if let Err(e) = state.hot.put(owner, snap).await {
        tracing::warn!(error = %e, "cannot update the Redis copy of a cart; dropping it");
        if let Err(e) = state.hot.remove(owner).await {
            tracing::warn!(error = %e, "cannot drop the Redis copy of a cart either");
        }
    }
}

// ---------- handlers ----------

pub async fn get_cart(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<EstimateQuery>,
) -> Result<Response, Problem> {
    let who = identify(&state, &headers).await?;
    let user_id = match &who {
        Who::User(id) => Some(*id),
        _ => None,
    };
    let snap = match who.owner() {
        Some(owner) => snapshot(&state, &owner).await?,
        None => Snapshot::default(),
    };
    // Checked before any call, so a malformed query is 422 whatever the cart holds.
    let ask = q.request(Vec::new(), user_id)?;
    let currency = ask.currency.clone();
    let (mut v, for_sale) = view_in(
        &state,
        &headers,
        &snap,
        currency.as_deref(),
        Facts::default(),
    )
    .await?;
    if q.wanted() {
        let lines: Vec<kit::totals::QuoteLine> = v
            .items
            .iter()
            .zip(for_sale)
            .filter(|(_, sale)| *sale)
            .map(|(l, _)| kit::totals::QuoteLine {
                sku: l.sku.clone(),
                quantity: i64::from(l.quantity),
            })
            .collect();
        if !lines.is_empty() {
            let req = kit::totals::QuoteRequest { lines, ..ask };
            // The cart still answers when order cannot price it: the problem says why.
            match state.catalog.quote(&req, &headers).await {
                Ok(crate::catalog::Quote::Estimate(e)) => v.estimate = Some(*e),
                Ok(crate::catalog::Quote::Problem(p)) => v.estimate_problem = Some(p),
                Err(p) => v.estimate_problem = serde_json::to_value(&p).ok(),
            }
        }
    }
    Ok(cart_response(StatusCode::OK, v, None))
}

/// Product facts of one SKU, or a 422 naming the field.
/// Product's facts of `sku`, which must be for sale.
async fn for_sale(
    state: &AppState,
    headers: &HeaderMap,
    sku: &str,
) -> Result<HashMap<String, SkuInfo>, Problem> {
    let info = state.catalog.lookup(&[sku.to_owned()], headers).await?;
    match info.get(sku) {
        None => Err(Problem::validation(vec![FieldError::new(
            "sku",
            "no product variant has this SKU",
        )])),
        Some(i) if !i.purchasable || i.price.is_none() => {
            Err(Problem::validation(vec![FieldError::new(
                "sku",
                "this product is not for sale",
            )]))
        }
        Some(_) => Ok(info),
    }
}

/// Units of `sku` available now, with inventory's answer.
async fn available(
    state: &AppState,
    headers: &HeaderMap,
    sku: &str,
) -> Result<(i64, HashMap<String, i64>), Problem> {
    let available = state
        .catalog
        .availability(&[sku.to_owned()], headers)
        .await?;
    Ok((available.get(sku).copied().unwrap_or(0), available))
}

fn key_reused() -> Problem {
    Problem::unprocessable("This Idempotency-Key was used with a different body; use a new key.")
        .with_errors(vec![FieldError::new(
            "Idempotency-Key",
            "was used with a different body",
        )])
}

/// The answer to a repeated `POST cart/items`: the first status, the cart as it is now.
async fn replay(
    state: &AppState,
    headers: &HeaderMap,
    owner: &Owner,
    status: i16,
) -> Result<Response, Problem> {
    let snap = snapshot(state, owner).await?;
    let v = view(state, headers, &snap).await?;
    let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
    let mut resp = cart_response(status, v, None);
    resp.headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    Ok(resp)
}

fn short(sku: &str, wanted: i64, available: i64) -> Problem {
    Problem::conflict(format!(
        "Only {available} units of `{sku}` are available; the line would hold {wanted}."
    ))
    .with_errors(vec![FieldError::new(
        "quantity",
        format!("at most {available} units are available"),
    )])
    .with_extension("available", available)
}

pub async fn add_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<AddItem>,
) -> Result<Response, Problem> {
    let max_q = i64::from(state.settings.max_quantity);
    let mut errors = Vec::new();
    if let Some(m) = sku_problem(&body.sku) {
        errors.push(FieldError::new("sku", m));
    }
    if !(1..=max_q).contains(&body.quantity) {
        errors.push(FieldError::new(
            "quantity",
            format!("must be between 1 and {max_q}"),
        ));
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let who = identify(&state, &headers).await?;
    let key = idempotency_key(&headers)?;
    let request_hash = {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(format!("{}\n{}", body.sku, body.quantity)))
    };
    let sku = body.sku;
    if let (Some(k), Some(owner)) = (&key, who.owner())
        && let Some((hash, status)) = store::find_request_for_owner(&state.pool, &owner, k).await?
    {
        if hash != request_hash {
            return Err(key_reused());
        }
        return replay(&state, &headers, &owner, status).await;
    }
    let (info, (stock, available)) = tokio::try_join!(
        for_sale(&state, &headers, &sku),
        available(&state, &headers, &sku)
    )?;
    let (owner, new_token) = match who.owner() {
        Some(o) => (o, None),
        None => {
            let t = GuestToken::generate();
            (t.owner(), Some(t))
        }
    };

    let mut tx = state.pool.begin().await?;
    let cart = store::lock_or_create(&mut tx, &owner).await?;
    if let Some(k) = &key
        && let Some((hash, status)) = store::find_request(&mut tx, cart.id, k).await?
    {
        if hash != request_hash {
            return Err(key_reused());
        }
        tx.commit().await?;
        return replay(&state, &headers, &owner, status).await;
    }
    let lines = store::lines(&mut tx, cart.id).await?;
    let existing = lines.iter().find(|(s, _)| *s == sku).map(|(_, q)| *q);
    if existing.is_none() && lines.len() >= state.settings.max_lines {
        return Err(Problem::validation(vec![FieldError::new(
            "sku",
            format!(
                "the cart already holds {} lines, the most it may",
                state.settings.max_lines
            ),
        )]));
    }
    let line_q = i64::from(existing.unwrap_or(0)) + body.quantity;
    if line_q > max_q {
        return Err(Problem::validation(vec![FieldError::new(
            "quantity",
            format!("the line would hold {line_q} units; a line holds at most {max_q}"),
        )]));
    }
    if line_q > stock {
        return Err(short(&sku, line_q, stock));
    }
    let line_q = line_q as i32;
    store::set_line(&mut tx, cart.id, &sku, line_q).await?;
    let version = store::bump(&mut tx, cart.id).await?;
    events::enqueue_added(&mut tx, &cart, &sku, body.quantity as i32, line_q).await?;
    let status = if existing.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    if let Some(k) = &key {
        store::remember_request(&mut tx, cart.id, k, &request_hash, status.as_u16() as i16).await?;
    }
    let snap = Snapshot {
        cart_id: Some(cart.id),
        version,
        lines: store::with_line(lines, &sku, Some(line_q)),
    };
    tx.commit().await?;
    cache(&state, &owner, &snap).await;
    let known = Facts { info, available };
    let v = view_in(&state, &headers, &snap, None, known).await?.0;
    Ok(cart_response(status, v, new_token.as_ref()))
}

pub async fn update_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(sku): Path<String>,
    Json(body): Json<UpdateItem>,
) -> Result<Response, Problem> {
    let max_q = i64::from(state.settings.max_quantity);
    if !(1..=max_q).contains(&body.quantity) {
        return Err(Problem::validation(vec![FieldError::new(
            "quantity",
            format!("must be between 1 and {max_q} (DELETE the line to remove it)"),
        )]));
    }
    let Some(owner) = identify(&state, &headers).await?.owner() else {
        return Err(no_line(&sku));
    };
    if sku_problem(&sku).is_some() {
        return Err(no_line(&sku));
    }
    let (stock, available) = available(&state, &headers, &sku).await?;
    let mut tx = state.pool.begin().await?;
    let Some(cart) = store::lock_existing(&mut tx, &owner).await? else {
        return Err(no_line(&sku));
    };
    let lines = store::lines(&mut tx, cart.id).await?;
    let Some(old) = lines.iter().find(|(s, _)| *s == sku).map(|(_, q)| *q) else {
        return Err(no_line(&sku));
    };
    let new = body.quantity as i32;
    if new > old && body.quantity > stock {
        return Err(short(&sku, body.quantity, stock));
    }
    let snap = if new == old {
        Snapshot {
            cart_id: Some(cart.id),
            version: cart.version,
            lines,
        }
    } else {
        store::set_line(&mut tx, cart.id, &sku, new).await?;
        let version = store::bump(&mut tx, cart.id).await?;
        if new > old {
            events::enqueue_added(&mut tx, &cart, &sku, new - old, new).await
        } else {
            events::enqueue_removed(&mut tx, &cart, &sku, old - new, new, RemovedReason::Updated)
                .await
        }?;
        Snapshot {
            cart_id: Some(cart.id),
            version,
            lines: store::with_line(lines, &sku, Some(new)),
        }
    };
    tx.commit().await?;
    cache(&state, &owner, &snap).await;
    let known = Facts {
        available,
        ..Facts::default()
    };
    let v = view_in(&state, &headers, &snap, None, known).await?.0;
    Ok(cart_response(StatusCode::OK, v, None))
}

pub async fn remove_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(sku): Path<String>,
) -> Result<Response, Problem> {
    let Some(owner) = identify(&state, &headers).await?.owner() else {
        return Err(no_line(&sku));
    };
    let mut tx = state.pool.begin().await?;
    let Some(cart) = store::lock_existing(&mut tx, &owner).await? else {
        return Err(no_line(&sku));
    };
    let lines = store::lines(&mut tx, cart.id).await?;
    let Some(old) = lines.iter().find(|(s, _)| *s == sku).map(|(_, q)| *q) else {
        return Err(no_line(&sku));
    };
    store::delete_line(&mut tx, cart.id, &sku).await?;
    let version = store::bump(&mut tx, cart.id).await?;
    events::enqueue_removed(&mut tx, &cart, &sku, old, 0, RemovedReason::Removed).await?;
    let snap = Snapshot {
        cart_id: Some(cart.id),
        version,
        lines: store::with_line(lines, &sku, None),
    };
    tx.commit().await?;
    cache(&state, &owner, &snap).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn clear_cart(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let Some(owner) = identify(&state, &headers).await?.owner() else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let mut tx = state.pool.begin().await?;
    let Some(cart) = store::lock_existing(&mut tx, &owner).await? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let lines = store::lines(&mut tx, cart.id).await?;
    if lines.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    store::delete_lines(&mut tx, cart.id).await?;
    let version = store::bump(&mut tx, cart.id).await?;
    for (sku, q) in &lines {
        events::enqueue_removed(&mut tx, &cart, sku, *q, 0, RemovedReason::Cleared).await?;
    }
    tx.commit().await?;
    let snap = Snapshot {
        cart_id: Some(cart.id),
        version,
        lines: Vec::new(),
    };
    cache(&state, &owner, &snap).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Moves a guest cart into the signed-in user's cart (called by the gateway at login): each
/// guest line is added to the user's line for the same SKU (capped at the line maximum); lines
/// that do not fit under the line limit are dropped. The guest cart is deleted.
pub async fn merge(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, Problem> {
    let token = bearer_token(&headers).map_err(Problem::from)?;
    let claims = state
        .verifier
        .authenticate(token)
        .await
        .map_err(Problem::from)?;
    let guest = match headers.get(&CART_TOKEN) {
        None => {
            return Err(Problem::bad_request(
                "Send the guest cart's token in the X-Cart-Token header.",
            )
            .with_errors(vec![FieldError::new("X-Cart-Token", "is required")]));
        }
        Some(v) => v
            .to_str()
            .ok()
            .and_then(GuestToken::parse)
            .ok_or_else(bad_cart_token)?,
    };
    let user_owner = Owner::User(claims.sub);
    let guest_owner = guest.owner();
    let guest_hash = guest.hash();
    let max_q = state.settings.max_quantity;

    let mut tx = state.pool.begin().await?;
    let (user_cart, guest_cart) = store::lock_for_merge(&mut tx, claims.sub, &guest_hash).await?;
    let snap = match guest_cart {
        None => None,
        Some(guest_cart) => {
            let guest_lines = store::lines(&mut tx, guest_cart.id).await?;
            let user_lines: HashMap<String, i32> = store::lines(&mut tx, user_cart.id)
                .await?
                .into_iter()
                .collect();
            let mut count = user_lines.len();
            for (sku, q) in &guest_lines {
                let (line, added) = match user_lines.get(sku) {
                    Some(have) => {
                        let line = (have + q).min(max_q);
                        (line, line - have)
                    }
                    None if count < state.settings.max_lines => {
                        count += 1;
                        (*q.min(&max_q), *q.min(&max_q))
                    }
                    None => {
                        tracing::info!(sku, "guest line dropped at merge: the cart is full");
                        continue;
                    }
                };
                if added > 0 {
                    store::set_line(&mut tx, user_cart.id, sku, line).await?;
                    events::enqueue_added(&mut tx, &user_cart, sku, added, line).await?;
                }
            }
            store::delete_cart(&mut tx, guest_cart.id).await?;
            let version = store::bump(&mut tx, user_cart.id).await?;
            Some(Snapshot {
                cart_id: Some(user_cart.id),
                version,
                lines: store::lines(&mut tx, user_cart.id).await?,
            })
        }
    };
    tx.commit().await?;
    let snap = match snap {
        Some(s) => {
            if let Err(e) = state.hot.remove(&guest_owner).await {
                tracing::warn!(error = %e, "cannot drop the Redis copy of a merged guest cart");
            }
            cache(&state, &user_owner, &s).await;
            s
        }
        None => snapshot(&state, &user_owner).await?,
    };
    let v = view(&state, &headers, &snap).await?;
    Ok(cart_response(StatusCode::OK, v, None))
}
