//! Setup before any measurement: the admin-made benchmark product with plenty of stock, a small
//! catalog when the platform has none, the products and categories browse cycles through, and one
//! account with a saved good card per goose user.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::scenarios::Account;
use crate::checkout::{expect, login, register_with_card, send};

const PASSWORD: &str = "bench password 123";

/// Products and SKUs the scenarios use.
pub struct Fixture {
    pub categories: Vec<String>,
    pub products: Vec<String>,
    /// `(cart SKU, checkout SKU)`, when an admin was given.
    pub skus: Option<(String, String)>,
}

fn run_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()[20..].to_owned()
}

async fn get(http: &reqwest::Client, url: &str) -> anyhow::Result<Value> {
    expect(http.get(url), 200, url).await
}

/// Slugs of up to `want` active products, newest first.
async fn product_slugs(
    http: &reqwest::Client,
    base: &str,
    want: usize,
) -> anyhow::Result<Vec<String>> {
    let mut slugs = Vec::with_capacity(want);
    let mut cursor: Option<String> = None;
    while slugs.len() < want {
        let mut url = format!("{base}/api/v1/products?sort=newest&limit=100");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = get(http, &url)
            .await
            .context("listing products (is the platform up?)")?;
        for item in page["items"].as_array().into_iter().flatten() {
            if let Some(slug) = item["slug"].as_str() {
                slugs.push(slug.to_owned());
            }
        }
        match page["next_cursor"].as_str() {
            Some(c) if slugs.len() < want => cursor = Some(c.to_owned()),
            _ => break,
        }
    }
    slugs.truncate(want);
    Ok(slugs)
}

/// Ids of up to 100 categories.
async fn category_ids(http: &reqwest::Client, base: &str) -> anyhow::Result<Vec<String>> {
    let page = get(http, &format!("{base}/api/v1/categories?limit=100")).await?;
    Ok(page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .collect())
}

/// A handful of products (in one new category) for an empty catalog; names match the default
/// search queries.
const STARTER: [(&str, &str, &str); 12] = [
    ("Merino wool socks", "Northwind", "socks"),
    ("Merino base layer", "Northwind", "wool"),
    ("Leather jacket", "Urban Co", "jackets"),
    ("Rugged canvas backpack", "Trailhead", "bags"),
    ("Canvas tote", "Urban Co", "bags"),
    ("Titanium bottle", "Trailhead", "outdoor"),
    ("Wool socks hiking", "Northwind", "socks"),
    ("Rugged boots", "Trailhead", "shoes"),
    ("Urban sneakers", "Urban Co", "shoes"),
    ("Northwind parka", "Northwind", "jackets"),
    ("Leather belt", "Urban Co", "accessories"),
    ("Titanium spork", "Trailhead", "outdoor"),
];

async fn create_starter_catalog(
    http: &reqwest::Client,
    base: &str,
    admin: &str,
) -> anyhow::Result<()> {
    let run = run_id();
    let cat = expect(
        http.post(format!("{base}/api/v1/admin/categories"))
            .bearer_auth(admin)
            .json(&json!({"name": format!("Bench catalog {run}")})),
        201,
        "creating the bench category",
    )
    .await?;
    let cat = cat["id"].as_str().context("category id")?.to_owned();
    for (i, (name, brand, tag)) in STARTER.iter().enumerate() {
        let sku = format!("BENCH-{run}-{i}").to_uppercase();
        expect(
            http.post(format!("{base}/api/v1/admin/products"))
                .bearer_auth(admin)
                .json(&json!({
                    "name": name, "brand": brand, "status": "active", "tags": [tag],
                    "category_ids": [cat],
                    "variants": [{"sku": sku, "attributes": {"size": "M"},
                                  "price": {"amount": 999 + 1000 * i as i64, "currency": "EUR"}}]
                })),
            201,
            "creating a starter product",
        )
        .await?;
    }
    Ok(())
}

/// The benchmark product: one variant for the cart scenario, one for checkout, each with
/// 1,000,000 units in stock.
async fn create_bench_product(
    http: &reqwest::Client,
    base: &str,
    admin: &str,
) -> anyhow::Result<(String, String)> {
    let run = run_id();
    let cart = format!("BENCH-CART-{run}").to_uppercase();
    let buy = format!("BENCH-BUY-{run}").to_uppercase();
    expect(
        http.post(format!("{base}/api/v1/admin/products"))
            .bearer_auth(admin)
            .json(&json!({"name": format!("Bench item {run}"), "status": "active",
                          "variants": [
                              {"sku": cart, "price": {"amount": 1999, "currency": "EUR"}, "attributes": {"use": "cart"}},
                              {"sku": buy, "price": {"amount": 1999, "currency": "EUR"}, "attributes": {"use": "checkout"}}]})),
        201,
        "creating the bench product",
    )
    .await?;
    for sku in [&cart, &buy] {
        expect(
            http.put(format!("{base}/api/v1/admin/inventory/{sku}"))
                .bearer_auth(admin)
                .json(&json!({"on_hand": 1_000_000, "reason": "restock"})),
            200,
            "stocking the bench product",
        )
        .await?;
    }
    Ok((cart, buy))
}

/// Everything the scenarios read, made or found before measuring.
pub async fn prepare(
    http: &reqwest::Client,
    base: &str,
    admin: Option<(&str, &str)>,
    want_products: usize,
) -> anyhow::Result<Fixture> {
    let admin = match admin {
        Some((email, password)) => Some(
            login(http, base, email, password)
                .await
                .context("admin login (scripts/bench.sh creates the admin)")?,
        ),
        None => None,
    };
    let mut products = product_slugs(http, base, want_products).await?;
    if products.is_empty() {
        let Some(admin) = &admin else {
            bail!(
                "the catalog is empty and no admin was given to create products (STOREFRONT_BENCH_ADMIN_EMAIL)"
            );
        };
        println!("the catalog is empty: creating {} products", STARTER.len());
        create_starter_catalog(http, base, admin).await?;
        products = product_slugs(http, base, want_products).await?;
        if products.is_empty() {
            bail!("the products just created are not listed");
        }
    }
    let categories = category_ids(http, base).await?;
    let skus = match &admin {
        Some(a) => Some(create_bench_product(http, base, a).await?),
        None => None,
    };
    // Warm the product cache, so browse measures steady state.
    for slug in &products {
        let _ = send(http.get(format!("{base}/api/v1/products/{slug}"))).await;
    }
    Ok(Fixture {
        categories,
        products,
        skus,
    })
}

/// One shopper account.
pub struct Shopper {
    pub email: String,
    pub account: Account,
    pub issued: Instant,
}

async fn register(http: reqwest::Client, base: String, email: String) -> anyhow::Result<Shopper> {
    let (token, card) = register_with_card(&http, &base, &email, PASSWORD).await?;
    Ok(Shopper {
        email,
        account: Account { token, card },
        issued: Instant::now(),
    })
}

/// `n` new accounts with a saved good sandbox card, made 8 at a time.
pub async fn shoppers(
    http: &reqwest::Client,
    base: &str,
    n: usize,
) -> anyhow::Result<Vec<Shopper>> {
    let run = run_id();
    let mut out = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(8) {
        let mut set = JoinSet::new();
        for &i in chunk {
            let email = format!("bench-load-{run}-{i}@example.test");
            set.spawn(register(http.clone(), base.to_owned(), email));
        }
        let mut got: Vec<Shopper> = Vec::new();
        while let Some(r) = set.join_next().await {
            got.push(r.context("registering")??);
        }
        got.sort_by(|a, b| a.email.cmp(&b.email));
        out.extend(got);
    }
    Ok(out)
}

/// Logs in again the shoppers whose access token is older than `max_age` (tokens live 15 min
/// by default; scenarios run one after another).
pub async fn refresh(
    http: &reqwest::Client,
    base: &str,
    shoppers: &mut [Shopper],
    max_age: Duration,
) -> anyhow::Result<()> {
    for s in shoppers.iter_mut().filter(|s| s.issued.elapsed() > max_age) {
        s.account.token = login(http, base, &s.email, PASSWORD).await?;
        s.issued = Instant::now();
    }
    Ok(())
}

/// Empties every shopper's cart, so a scenario never starts with what an earlier one left.
pub async fn clear_carts(
    http: &reqwest::Client,
    base: &str,
    shoppers: &[Shopper],
) -> anyhow::Result<()> {
    for s in shoppers {
        let (st, body) = send(
            http.delete(format!("{base}/api/v1/cart"))
                .bearer_auth(&s.account.token),
        )
        .await
        .map_err(|e| anyhow::anyhow!("clearing a cart: {e}"))?;
        if !matches!(st, 200 | 204 | 404) {
            bail!("clearing a cart: {st} {body}");
        }
    }
    Ok(())
}

/// One purchase taken to `paid` before anything is measured: the platform's consumer groups
/// form on their first events, which on a fresh broker can take tens of seconds, and that is
/// start-up, not the steady state the checkout scenario measures. Returns how long it took.
pub async fn warm_up_purchase(
    http: &reqwest::Client,
    base: &str,
    shopper: &Shopper,
    sku: &str,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let token = &shopper.account.token;
    // A new line answers 201, a line the cart already held 200.
    let (status, body) = send(
        http.post(format!("{base}/api/v1/cart/items"))
            .bearer_auth(token)
            .json(&json!({"sku": sku, "quantity": 1})),
    )
    .await
    .map_err(|e| anyhow::anyhow!("warm-up: adding to the cart: {e}"))?;
    if !matches!(status, 200 | 201) {
        bail!("warm-up: adding to the cart: {status} {body}");
    }
    crate::checkout::resolve_shipping(http, base, token)
        .await
        .map_err(|e| anyhow::anyhow!("warm-up: {e}"))?;
    let order = expect(
        http.post(format!("{base}/api/v1/checkout"))
            .bearer_auth(token)
            .header("Idempotency-Key", uuid::Uuid::now_v7().to_string())
            .json(&crate::checkout::checkout_body(&shopper.account.card)),
        201,
        "warm-up: checking out",
    )
    .await?;
    let id = order["id"].as_str().context("warm-up: order id")?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let o = expect(
            http.get(format!("{base}/api/v1/orders/{id}"))
                .bearer_auth(token),
            200,
            "warm-up: reading the order",
        )
        .await?;
        match o["status"].as_str() {
            Some("paid") => return Ok(started.elapsed()),
            Some("cancelled") => bail!("warm-up: order {id} was cancelled: {o}"),
            _ if Instant::now() > deadline => bail!("warm-up: order {id} not paid after 120 s"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
