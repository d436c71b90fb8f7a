//! The goose scenarios: what one simulated shopper does, through the gateway's REST API only.
//! Every request goes through [`call`], which lets goose measure and throttle it and records it
//! in our [`Recorder`] under its request type.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use goose::prelude::*;
use serde_json::{Value, json};

use super::record::{Kind, Recorder};

/// A shopper's account, made before the measurement.
#[derive(Clone, Debug)]
pub struct Account {
    pub token: String,
    /// A saved good sandbox card.
    pub card: String,
}

/// What the transactions of one scenario run share.
pub struct Ctx {
    pub rec: Arc<Recorder>,
    /// Category ids the browse listing cycles through (may be empty).
    pub categories: Vec<String>,
    /// Product slugs the product page cycles through (never empty).
    pub products: Vec<String>,
    /// Search queries, some misspelt.
    pub queries: Vec<String>,
    /// Accounts, one per goose user (by `weighted_users_index`).
    pub accounts: Vec<Account>,
    /// The SKU the cart scenario adds, updates and removes.
    pub cart_sku: String,
    /// The SKU the checkout scenario buys.
    pub checkout_sku: String,
    next: AtomicUsize,
    /// Ids of the orders checkouts created (answered 201), in order.
    orders: Mutex<Vec<String>>,
}

impl Ctx {
    pub fn new(
        rec: Arc<Recorder>,
        categories: Vec<String>,
        products: Vec<String>,
        queries: Vec<String>,
        accounts: Vec<Account>,
        cart_sku: String,
        checkout_sku: String,
    ) -> Self {
        Self {
            rec,
            categories,
            products,
            queries,
            accounts,
            cart_sku,
            checkout_sku,
            next: AtomicUsize::new(0),
            orders: Mutex::new(Vec::new()),
        }
    }

    /// The orders the checkout scenario created so far (answers lost in transit are not here).
    pub fn orders(&self) -> Vec<String> {
        self.orders.lock().expect("orders lock").clone()
    }

    /// A rotating index, so users spread over products, categories and queries.
    fn next(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    fn account(&self, user: &GooseUser) -> Result<&Account, Box<TransactionError>> {
        if self.accounts.is_empty() {
            return Err(Box::new(TransactionError::Custom(
                "no accounts were set up for this scenario".into(),
            )));
        }
        Ok(&self.accounts[user.weighted_users_index % self.accounts.len()])
    }
}

/// Request-type names, as the report and goose's own metrics show them.
pub mod names {
    pub const STATIC: &str = "gateway /healthz";
    pub const CATEGORY: &str = "category listing";
    pub const PRODUCT: &str = "product page";
    pub const SEARCH: &str = "search (facets)";
    pub const CART_ADD: &str = "cart add";
    pub const CART_UPDATE: &str = "cart update qty";
    pub const CART_REMOVE: &str = "cart remove";
    pub const CART_WAIT: &str = "cart read (wait clear)";
    pub const CART_CLEAR: &str = "cart clear";
    pub const CHECKOUT_ADD: &str = "checkout: cart add";
    pub const CHECKOUT_POST: &str = "checkout POST";
    pub const ORDER_POLL: &str = "order read (poll)";
    pub const TIME_TO_PAID: &str = "time to paid";
}

fn failure(
    user: &mut GooseUser,
    tag: &str,
    req: &mut goose::metrics::GooseRequestMetric,
) -> Box<TransactionError> {
    match user.set_failure(tag, req, None, None) {
        Err(e) => e,
        Ok(()) => Box::new(TransactionError::Custom(tag.to_owned())),
    }
}

/// One request through goose. Latency is goose's time to the response head plus reading the
/// body; a status outside `ok` marks the request failed (goose and our recorder agree).
#[allow(clippy::too_many_arguments)]
async fn call(
    user: &mut GooseUser,
    rec: &Recorder,
    name: &str,
    method: GooseMethod,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    idempotency_key: bool,
    ok: &[u16],
) -> Result<bytes::Bytes, Box<TransactionError>> {
    let mut rb = user.get_request_builder(&method, path)?;
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(b) = body {
        rb = rb.json(b);
    }
    if idempotency_key {
        rb = rb.header("idempotency-key", uuid::Uuid::now_v7().to_string());
    }
    let req = GooseRequest::builder()
        .method(method)
        .path(path)
        .name(name)
        .set_request_builder(rb)
        .build();
    let mut goose = user.request(req).await?;
    let head = Duration::from_micros(goose.request.response_time_micros());
    let t = Instant::now();
    let resp = match goose.response {
        Ok(r) => r,
        Err(e) => {
            let tag = format!("{name}: {e}");
            rec.record(name, Kind::Request, head, Err(tag.clone()));
            return Err(failure(user, &tag, &mut goose.request));
        }
    };
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await;
    let latency = head + t.elapsed();
    let bytes = match bytes {
        Ok(b) => b,
        Err(e) => {
            let tag = format!("{name}: reading the body: {e}");
            rec.record(name, Kind::Request, latency, Err(tag.clone()));
            return Err(failure(user, &tag, &mut goose.request));
        }
    };
    if !ok.contains(&status) {
        let text = String::from_utf8_lossy(&bytes);
        let tag = format!(
            "{name}: {status} {}",
            text.chars().take(200).collect::<String>()
        );
        rec.record(name, Kind::Request, latency, Err(tag.clone()));
        return Err(failure(user, &tag, &mut goose.request));
    }
    rec.record(name, Kind::Request, latency, Ok(()));
    Ok(bytes)
}

/// A body as JSON (`Null` when empty or not JSON). Only the scenarios that read an answer parse
/// it: a client parsing every 50 KB listing would spend its core on that, not on load.
fn json(bytes: bytes::Bytes) -> Value {
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

fn fail(
    rec: &Recorder,
    name: &str,
    kind: Kind,
    latency: Duration,
    why: String,
) -> Box<TransactionError> {
    rec.record(name, kind, latency, Err(why.clone()));
    Box::new(TransactionError::Custom(why))
}

/// The reference route: the gateway's `/healthz` touches no dependency.
pub async fn static_route(user: &mut GooseUser, c: &Ctx) -> TransactionResult {
    call(
        user,
        &c.rec,
        names::STATIC,
        GooseMethod::Get,
        "/healthz",
        None,
        None,
        false,
        &[200],
    )
    .await?;
    Ok(())
}

/// A category's product list page, then a product page.
pub async fn browse(user: &mut GooseUser, c: &Ctx) -> TransactionResult {
    let i = c.next();
    if !c.categories.is_empty() {
        let cat = &c.categories[i % c.categories.len()];
        let path = format!("/api/v1/products?category={cat}&sort=newest&limit=20");
        call(
            user,
            &c.rec,
            names::CATEGORY,
            GooseMethod::Get,
            &path,
            None,
            None,
            false,
            &[200],
        )
        .await?;
    }
    let slug = &c.products[i.wrapping_mul(7) % c.products.len()];
    let path = format!("/api/v1/products/{slug}");
    call(
        user,
        &c.rec,
        names::PRODUCT,
        GooseMethod::Get,
        &path,
        None,
        None,
        false,
        &[200],
    )
    .await?;
    Ok(())
}

/// Facet filters the search cycles through with its queries.
const FACETS: [&str; 4] = [
    "",
    "&in_stock=true",
    "&sort=price_asc",
    "&min_price=1000&max_price=20000",
];

/// Search with facets (the response always carries them), over the query list.
pub async fn search(user: &mut GooseUser, c: &Ctx) -> TransactionResult {
    let i = c.next();
    let q: String =
        url::form_urlencoded::byte_serialize(c.queries[i % c.queries.len()].as_bytes()).collect();
    let facet = FACETS[(i / c.queries.len().max(1)) % FACETS.len()];
    let path = format!("/api/v1/products?q={q}&limit=20{facet}");
    call(
        user,
        &c.rec,
        names::SEARCH,
        GooseMethod::Get,
        &path,
        None,
        None,
        false,
        &[200],
    )
    .await?;
    Ok(())
}

/// Add a line to the user's own cart, change its quantity, remove it.
pub async fn cart(user: &mut GooseUser, c: &Ctx) -> TransactionResult {
    let token = c.account(user)?.token.clone();
    let sku = &c.cart_sku;
    let line = format!("/api/v1/cart/items/{sku}");
    call(
        user,
        &c.rec,
        names::CART_ADD,
        GooseMethod::Post,
        "/api/v1/cart/items",
        Some(&token),
        Some(&json!({"sku": sku, "quantity": 1})),
        false,
        &[200, 201],
    )
    .await?;
    call(
        user,
        &c.rec,
        names::CART_UPDATE,
        GooseMethod::Patch,
        &line,
        Some(&token),
        Some(&json!({"quantity": 2})),
        false,
        &[200],
    )
    .await?;
    call(
        user,
        &c.rec,
        names::CART_REMOVE,
        GooseMethod::Delete,
        &line,
        Some(&token),
        None,
        false,
        &[200, 204],
    )
    .await?;
    Ok(())
}

/// How long a checkout may take to reach `paid`, and the last purchase to leave the cart.
const PAID_WITHIN: Duration = Duration::from_secs(30);
/// How often a shopper re-reads its order or cart while waiting (as a client would poll).
const POLL_EVERY: Duration = Duration::from_millis(50);

/// Per-user state of the checkout journey: whether the last purchase may still be in the cart.
#[derive(Clone, Copy)]
struct AwaitClear(bool);

/// The purchase journey: wait until the previous purchase has left the cart (the cart service
/// takes bought units out on `order.paid`, asynchronously; a unit added before that would go
/// with them and the checkout would find the cart empty), add a unit, check out with the saved
/// good card, poll the order until `paid`. The time from the checkout POST to reading `paid`
/// is its own request type.
pub async fn checkout(user: &mut GooseUser, c: &Ctx) -> TransactionResult {
    let Account { token, card } = c.account(user)?.clone();
    let sku = c.checkout_sku.as_str();
    if user.get_session_data::<AwaitClear>().is_some_and(|a| a.0) {
        let waited = Instant::now();
        loop {
            let cart = json(
                call(
                    user,
                    &c.rec,
                    names::CART_WAIT,
                    GooseMethod::Get,
                    "/api/v1/cart",
                    Some(&token),
                    None,
                    false,
                    &[200],
                )
                .await?,
            );
            let holds = cart["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|l| l["sku"] == sku));
            if !holds {
                break;
            }
            if waited.elapsed() > PAID_WITHIN {
                // Start over from an empty cart rather than wait again.
                user.set_session_data(AwaitClear(false));
                let _ = call(
                    user,
                    &c.rec,
                    names::CART_CLEAR,
                    GooseMethod::Delete,
                    "/api/v1/cart",
                    Some(&token),
                    None,
                    false,
                    &[200, 204],
                )
                .await;
                return Err(fail(
                    &c.rec,
                    names::TIME_TO_PAID,
                    Kind::Journey,
                    waited.elapsed(),
                    format!(
                        "the last purchase was still in the cart {} s after `paid`",
                        PAID_WITHIN.as_secs()
                    ),
                ));
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
        user.set_session_data(AwaitClear(false));
    }
    call(
        user,
        &c.rec,
        names::CHECKOUT_ADD,
        GooseMethod::Post,
        "/api/v1/cart/items",
        Some(&token),
        Some(&json!({"sku": c.checkout_sku, "quantity": 1})),
        false,
        &[200, 201],
    )
    .await?;
    let started = Instant::now();
    let order = json(
        call(
            user,
            &c.rec,
            names::CHECKOUT_POST,
            GooseMethod::Post,
            "/api/v1/checkout",
            Some(&token),
            Some(&crate::checkout::checkout_body(&card)),
            true,
            &[201],
        )
        .await?,
    );
    // From here the purchased unit leaves the cart when the order is paid.
    user.set_session_data(AwaitClear(true));
    let Some(id) = order["id"].as_str().map(str::to_owned) else {
        return Err(fail(
            &c.rec,
            names::TIME_TO_PAID,
            Kind::Journey,
            started.elapsed(),
            format!("checkout answered without an order id: {order}"),
        ));
    };
    c.orders.lock().expect("orders lock").push(id.clone());
    let path = format!("/api/v1/orders/{id}");
    loop {
        let o = json(
            call(
                user,
                &c.rec,
                names::ORDER_POLL,
                GooseMethod::Get,
                &path,
                Some(&token),
                None,
                false,
                &[200],
            )
            .await?,
        );
        match o["status"].as_str() {
            Some("paid") => break,
            Some("cancelled") => {
                return Err(fail(
                    &c.rec,
                    names::TIME_TO_PAID,
                    Kind::Journey,
                    started.elapsed(),
                    format!("order {id} was cancelled: {o}"),
                ));
            }
            _ => {}
        }
        if started.elapsed() > PAID_WITHIN {
            return Err(fail(
                &c.rec,
                names::TIME_TO_PAID,
                Kind::Journey,
                started.elapsed(),
                format!("order {id} not paid after {} s", PAID_WITHIN.as_secs()),
            ));
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    let to_paid = started.elapsed();
    c.rec
        .record(names::TIME_TO_PAID, Kind::Journey, to_paid, Ok(()));
    user.record_custom_request_duration("JOURNEY", names::TIME_TO_PAID, to_paid, true, None, None)
        .await?;
    Ok(())
}

/// Which scenario a goose scenario runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Journey {
    Static,
    Browse,
    Search,
    Cart,
    Checkout,
}

/// A goose scenario of one journey, its transaction bound to `ctx`.
pub fn scenario(journey: Journey, ctx: &Arc<Ctx>, weight: usize) -> Result<Scenario, GooseError> {
    let c = ctx.clone();
    let f: TransactionFunction = Arc::new(move |user| {
        let c = c.clone();
        Box::pin(async move {
            match journey {
                Journey::Static => static_route(user, &c).await,
                Journey::Browse => browse(user, &c).await,
                Journey::Search => search(user, &c).await,
                Journey::Cart => cart(user, &c).await,
                Journey::Checkout => checkout(user, &c).await,
            }
        })
    });
    let name = format!("{journey:?}").to_lowercase();
    Ok(Scenario::new(&name)
        .set_weight(weight)?
        .register_transaction(Transaction::new(f).set_name(&name)))
}
