//! The `checkout` scenario: each client is a signed-in shopper with a saved good card; one step
//! waits until its last purchase left the cart, puts a unit in the cart, checks out with a fresh
//! `Idempotency-Key` and polls the order (every 25 ms) until it is `paid`. Prints checkouts/s to
//! `paid` with the time from `POST /checkout` to `paid` seen, the whole step's latency, and the
//! latency of the `POST /checkout` call alone.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::{Report, phase};

struct Shopper {
    http: reqwest::Client,
    base: String,
    token: String,
    card: String,
    sku: String,
    posts: Arc<Mutex<Histogram<u64>>>,
    /// From the start of `POST /checkout` to the poll that saw `paid`.
    paid: Arc<Mutex<Histogram<u64>>>,
    /// The last step bought a unit; it leaves the cart when `order.paid` is handled.
    await_clear: bool,
}

pub(crate) async fn send(req: reqwest::RequestBuilder) -> Result<(u16, Value), String> {
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map_err(|e| e.to_string())?;
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

pub(crate) async fn expect(
    req: reqwest::RequestBuilder,
    want: u16,
    what: &str,
) -> anyhow::Result<Value> {
    let (status, body) = send(req)
        .await
        .map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    if status != want {
        bail!("{what}: {status} {body}");
    }
    Ok(body)
}

pub(crate) async fn login(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<String> {
    let body = expect(
        http.post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password})),
        200,
        "login",
    )
    .await?;
    Ok(body["access_token"]
        .as_str()
        .context("access token")?
        .to_owned())
}

/// Polls the cart until it holds no line of `sku`, for at most `within`. After a purchase the
/// cart service takes the bought units out when `order.paid` arrives, asynchronously: a unit
/// added before that would be taken out with them and the next checkout would find the cart
/// empty.
async fn wait_line_gone(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    sku: &str,
    within: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + within;
    loop {
        let (st, cart) = send(http.get(format!("{base}/api/v1/cart")).bearer_auth(token)).await?;
        if st != 200 {
            return Err(format!("cart: {st} {cart}"));
        }
        let holds = cart["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|l| l["sku"] == sku));
        if !holds {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the cart still holds the purchased line {} s after `paid`: {cart}",
                within.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One step: wait until the last purchase left the cart, add to cart, check out, wait for `paid`.
async fn buy(s: &mut Shopper) -> Result<(), String> {
    if std::mem::take(&mut s.await_clear) {
        wait_line_gone(&s.http, &s.base, &s.token, &s.sku, Duration::from_secs(30)).await?;
    }
    let (st, body) = send(
        s.http
            .post(format!("{}/api/v1/cart/items", s.base))
            .bearer_auth(&s.token)
            .json(&json!({"sku": s.sku, "quantity": 1})),
    )
    .await?;
    if !(200..300).contains(&st) {
        return Err(format!("add to cart: {st} {body}"));
    }
    resolve_shipping(&s.http, &s.base, &s.token).await?;
    let t = Instant::now();
    let (st, order) = send(
        s.http
            .post(format!("{}/api/v1/checkout", s.base))
            .bearer_auth(&s.token)
            .header("idempotency-key", uuid::Uuid::now_v7().to_string())
            .json(&checkout_body(&s.card)),
    )
    .await?;
    if st != 201 {
        return Err(format!("checkout: {st} {order}"));
    }
    s.await_clear = true;
    let _ = s
        .posts
        .lock()
        .expect("histogram")
        .record(t.elapsed().as_micros().max(1) as u64);
    let id = order["id"].as_str().unwrap_or_default().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (st, o) = send(
            s.http
                .get(format!("{}/api/v1/orders/{id}", s.base))
                .bearer_auth(&s.token),
        )
        .await?;
        match o["status"].as_str() {
            Some("paid") => {
                let _ = s
                    .paid
                    .lock()
                    .expect("histogram")
                    .record(t.elapsed().as_micros().max(1) as u64);
                return Ok(());
            }
            Some("cancelled") => return Err(format!("order {id} was cancelled: {o}")),
            _ if st != 200 => return Err(format!("order {id}: {st} {o}")),
            _ => {}
        }
        if Instant::now() > deadline {
            return Err(format!("order {id} not paid after 60 s"));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub async fn run(
    base: &str,
    concurrency: usize,
    duration: Duration,
    max: u64,
    admin_email: &str,
    admin_password: &str,
) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency * 2)
        .timeout(Duration::from_secs(30))
        .build()?;
    let admin = login(&http, base, admin_email, admin_password)
        .await
        .context("admin login (scripts/bench.sh creates the admin)")?;
    let sku = format!("BENCH-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]).to_uppercase();
    expect(
        http.post(format!("{base}/api/v1/admin/products"))
            .bearer_auth(&admin)
            .json(&json!({"name": format!("Bench item {sku}"), "status": "active",
                          "variants": [{"sku": sku, "price": {"amount": 1999, "currency": "EUR"}, "attributes": {}}]})),
        201,
        "creating the bench product",
    )
    .await?;
    expect(
        http.put(format!("{base}/api/v1/admin/inventory/{sku}"))
            .bearer_auth(&admin)
            .json(&json!({"on_hand": 1_000_000, "reason": "restock"})),
        200,
        "stocking the bench product",
    )
    .await?;
    let histogram = || {
        Arc::new(Mutex::new(
            Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds"),
        ))
    };
    let (posts, paid) = (histogram(), histogram());
    let mut shoppers = Vec::with_capacity(concurrency);
    for i in 0..concurrency {
        let email = format!("bench-{}-{i}@example.test", uuid::Uuid::now_v7().simple());
        let (token, card) = register_with_card(&http, base, &email, "bench password 123").await?;
        shoppers.push(Shopper {
            http: http.clone(),
            base: base.to_owned(),
            token,
            card,
            sku: sku.clone(),
            posts: posts.clone(),
            paid: paid.clone(),
            await_clear: false,
        });
    }
    println!(
        "checkout: {concurrency} shoppers, {}s, gateway {base}\n",
        duration.as_secs()
    );
    let report = phase(
        "purchase step",
        shoppers,
        duration,
        max,
        |mut s| async move {
            let r = buy(&mut s).await;
            (s, r)
        },
    )
    .await;
    // The first line is what `scripts/bench.sh` reads the number of checkouts from.
    let line = |name: &str, hist: &Arc<Mutex<Histogram<u64>>>| {
        let hist = hist.lock().expect("histogram").clone();
        Report {
            name: name.into(),
            ok: hist.len(),
            errors: 0,
            elapsed: report.elapsed,
            hist,
            first_error: None,
        }
    };
    line("checkout to paid", &paid).print();
    report.print();
    line("POST /checkout", &posts).print();
    println!(
        "\n  checkout to paid: from POST /checkout to the poll that saw `paid` (polls every 25 ms)\n  \
         purchase step: wait until the last purchase left the cart, add to cart, checkout, paid"
    );
    Ok(())
}

/// Registers an account and saves a good sandbox card; returns (access token, card id).
pub(crate) async fn register_with_card(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<(String, String)> {
    let body = expect(
        http.post(format!("{base}/api/v1/auth/register"))
            .json(&json!({"email": email, "password": password})),
        201,
        "registering a shopper",
    )
    .await?;
    let token = body["access_token"]
        .as_str()
        .context("access token")?
        .to_owned();
    let card = expect(
        http.post(format!("{base}/api/v1/payment-methods"))
            .bearer_auth(&token)
            .json(&json!({"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"})),
        201,
        "saving a card",
    )
    .await?;
    let card = card["id"].as_str().context("card id")?.to_owned();
    Ok((token, card))
}

/// The shipping method benchmark checkouts take: the cheapest the shop offers to the bench
/// address, read once from a cart estimate (`None` when the shop has no shipping zones).
static SHIPPING: tokio::sync::OnceCell<Option<String>> = tokio::sync::OnceCell::const_new();

/// Reads [`SHIPPING`] from `token`'s cart (which must hold a line) unless it is known.
pub(crate) async fn resolve_shipping(
    http: &reqwest::Client,
    base: &str,
    token: &str,
) -> Result<(), String> {
    SHIPPING
        .get_or_try_init(|| async {
            let (st, cart) = send(
                http.get(format!("{base}/api/v1/cart?country=DE&currency=EUR"))
                    .bearer_auth(token),
            )
            .await?;
            if st != 200 {
                return Err(format!("cart estimate: {st} {cart}"));
            }
            Ok(cart["estimate"]["shipping_method_id"]
                .as_str()
                .map(str::to_owned))
        })
        .await
        .map(|_| ())
}

/// The body of `POST /api/v1/checkout` paying with `card` (call [`resolve_shipping`] first).
pub(crate) fn checkout_body(card: &str) -> Value {
    let mut body = json!({
        "payment_method_id": card,
        "shipping_address": {"recipient_name": "Bench", "address_lines": ["1 Loop Street"],
                             "locality": "Berlin", "postal_code": "10115", "country_code": "DE"}
    });
    if let Some(Some(method)) = SHIPPING.get() {
        body["shipping_method_id"] = json!(method);
    }
    body
}
