//! The cart service end to end: real product, inventory and cart roles on 127.0.0.1:0 (each with
//! its own database, Redis prefix and topics) and the real gateway in front, driven over REST
//! with tokens signed by a test JWKS: prices and availability from product and inventory, bounds
//! with 422 naming the field, guest carts and their merge, the Redis copy rebuilt from cart_db,
//! `cart.*` events, and `order.paid` clearing purchased lines exactly once.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use storefront_kit::events::{CloudEvent, topics};
use storefront_tests::stack::{Bearer, Client, Stack, find_events, produce};
use storefront_tests::{consumed, eventually, fields, serve_jwks, sku, unique, wait_count};
use uuid::Uuid;

/// product + inventory + cart + gateway, stopped on drop.
struct Shop {
    stack: Stack,
    cart_addr: std::net::SocketAddr,
    admin: Client,
    cart_pool: PgPool,
    redis: redis::aio::ConnectionManager,
}

storefront_tests::deref_stack!(Shop);

type Answer = (StatusCode, reqwest::header::HeaderMap, Value);

impl Shop {
    async fn start() -> Self {
        Self::start_inner(false).await
    }

    /// With the real auth role too; tokens verify against auth's keys and the test key.
    async fn start_with_auth() -> Self {
        Self::start_inner(true).await
    }

    async fn start_inner(with_auth: bool) -> Self {
        let mut stack = Stack::new("it_cart").await;
        stack.common.postgres.max_connections = 10;
        stack.http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let mut auth_url = None;
        if with_auth {
            let addr = stack.auth(|_| {}).await.addr;
            auth_url = Some(format!("http://{addr}"));
            let auth_jwks: Value =
                eventually(Duration::from_secs(30), "auth's JWKS", || async move {
                    reqwest::get(format!("http://{addr}/.well-known/jwks.json"))
                        .await
                        .ok()?
                        .json()
                        .await
                        .ok()
                })
                .await;
            let mut set =
                serde_json::to_value(storefront_kit::jwt::testing::jwks(&[&stack.key])).unwrap();
            let theirs = auth_jwks["keys"].as_array().cloned().unwrap_or_default();
            set["keys"].as_array_mut().unwrap().extend(theirs);
            stack.common.auth.jwks_url = serve_jwks(set).await;
        }
        stack
            .topics(&[
                topics::PRODUCT_EVENTS,
                topics::INVENTORY_EVENTS,
                topics::ORDER_EVENTS,
                topics::CART_EVENTS,
            ])
            .await;
        let product = stack.product(|_| {}).await.url();
        let inventory = stack.inventory(|_| {}).await.url();
        let cart = stack
            .cart(|c| {
                c.cart.upstreams.product = product.clone();
                c.cart.upstreams.inventory = inventory.clone();
            })
            .await;
        stack
            .gateway(|gw| {
                gw.gateway.upstreams.product = product;
                gw.gateway.upstreams.inventory = inventory;
                gw.gateway.upstreams.cart = cart.url();
                if let Some(a) = auth_url {
                    gw.gateway.upstreams.auth = a;
                }
            })
            .await;
        let redis = stack.redis().await;
        Self {
            admin: stack.client(&stack.admin()),
            stack,
            cart_addr: cart.addr,
            cart_pool: cart.state,
            redis,
        }
    }

    /// `method path` with the guest cart token `guest` (and `token`, if any); headers too.
    async fn as_guest(
        &self,
        method: Method,
        path: &str,
        token: impl Bearer,
        guest: &str,
        body: impl Into<Option<Value>>,
    ) -> Answer {
        let req = self.req(method, path).token(token);
        req.header("x-cart-token", guest).json(body).full().await
    }

    /// An active product with one variant per (sku, price in cents), and stock of each.
    async fn product(&self, name: &str, variants: &[(&str, i64, i64)]) -> String {
        let vs: Vec<Value> = variants
            .iter()
            .map(|(sku, amount, _)| {
                json!({"sku": sku, "price": {"amount": amount, "currency": "EUR"}, "attributes": {"n": sku.to_lowercase()}})
            })
            .collect();
        let (s, p) = self
            .admin
            .post(
                "/api/v1/admin/products",
                json!({"name": name, "status": "active", "variants": vs}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "create product: {p}");
        for (sku, _, on_hand) in variants {
            let (s, b) = self
                .admin
                .put(
                    format!("/api/v1/admin/inventory/{sku}"),
                    json!({"on_hand": on_hand, "reason": "restock"}),
                )
                .await;
            assert!(s.is_success(), "set stock: {s} {b}");
        }
        p["id"].as_str().unwrap().to_owned()
    }

    /// Deletes every Redis key of this test (its prefix).
    async fn flush_redis(&self) -> usize {
        let mut c = self.redis.clone();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.common.redis.key_prefix))
            .query_async(&mut c)
            .await
            .unwrap();
        for k in &keys {
            let _: i64 = redis::cmd("DEL").arg(k).query_async(&mut c).await.unwrap();
        }
        keys.len()
    }

    async fn redis_cart(&self, user: Uuid) -> std::collections::HashMap<String, String> {
        let mut c = self.redis.clone();
        redis::cmd("HGETALL")
            .arg(format!("{}cart:{user}", self.common.redis.key_prefix))
            .query_async(&mut c)
            .await
            .unwrap()
    }
}

fn lines(cart: &Value) -> Vec<(String, i64)> {
    cart["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {cart}"))
        .iter()
        .map(|l| {
            (
                l["sku"].as_str().unwrap().to_owned(),
                l["quantity"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_cart_shows_prices_and_availability_and_enforces_its_bounds() {
    let shop = Shop::start().await;
    let (a, b, archived) = (sku(), sku(), sku());
    let product_id = shop
        .product("Cart Mug", &[(&a, 1250, 10), (&b, 799, 3)])
        .await;
    let gone = shop.product("Old Mug", &[(&archived, 500, 5)]).await;
    let (s, _) = shop
        .admin
        .post(format!("/api/v1/admin/products/{gone}/archive"), None)
        .await;
    assert!(s.is_success(), "archive: {s}");
    let (user, token) = shop.customer();
    let t = Some(token.as_str());

    // An empty cart before anything was added.
    let (s, cart) = shop.get_as("/api/v1/cart", t).await;
    assert_eq!(s, StatusCode::OK, "{cart}");
    assert_eq!(cart["items"], json!([]));
    assert_eq!(cart["subtotal"], Value::Null);

    let (s, h, cart) = shop
        .req(Method::POST, "/api/v1/cart/items")
        .token(t)
        .json(json!({"sku": a, "quantity": 2}))
        .full()
        .await;
    assert_eq!(s, StatusCode::CREATED, "{cart}");
    assert!(
        h.get("x-cart-token").is_none(),
        "signed-in carts get no guest token"
    );
    let line = &cart["items"][0];
    assert_eq!(line["sku"], a.as_str());
    assert_eq!(line["product_id"], product_id.as_str());
    assert_eq!(line["name"], "Cart Mug");
    assert_eq!(
        line["unit_price"],
        json!({"amount": 1250, "currency": "EUR"})
    );
    assert_eq!(
        line["line_total"],
        json!({"amount": 2500, "currency": "EUR"})
    );
    assert_eq!(line["available"], 10);
    assert_eq!(line["in_stock"], true);
    assert_eq!(line["purchasable"], true);

    // The same SKU again grows the line (200), a second SKU is a new line (201).
    let (s, cart) = shop
        .post("/api/v1/cart/items", t, json!({"sku": a, "quantity": 1}))
        .await;
    assert_eq!(s, StatusCode::OK, "{cart}");
    let (s, cart2) = shop
        .post("/api/v1/cart/items", t, json!({"sku": b, "quantity": 2}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{cart2}");
    assert_eq!(lines(&cart), vec![(a.clone(), 3)]);
    let mut want = vec![(a.clone(), 3), (b.clone(), 2)];
    want.sort();
    assert_eq!(lines(&cart2), want);
    assert_eq!(cart2["item_count"], 5);
    assert_eq!(
        cart2["subtotal"],
        json!({"amount": 3 * 1250 + 2 * 799, "currency": "EUR"})
    );

    // Bounds, each a 422 naming the field.
    for (body, field) in [
        (json!({"sku": a, "quantity": 0}), "quantity"),
        (json!({"sku": a, "quantity": 100}), "quantity"),
        (json!({"sku": "NO-SUCH-SKU", "quantity": 1}), "sku"),
        (json!({"sku": archived, "quantity": 1}), "sku"),
        (json!({"sku": "bad sku!", "quantity": 1}), "sku"),
        (json!({"quantity": 1}), "sku"),
    ] {
        let (s, h, p) = shop
            .req(Method::POST, "/api/v1/cart/items")
            .token(t)
            .json(body.clone())
            .full()
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body} -> {p}");
        assert!(
            h["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/problem+json"),
            "{h:?}"
        );
        assert!(fields(&p).contains(&field.to_owned()), "{body} -> {p}");
    }
    // More than inventory has: 409 with what is available.
    let (s, p) = shop
        .post("/api/v1/cart/items", t, json!({"sku": b, "quantity": 2}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{p}");
    assert_eq!(p["available"], 3, "{p}");
    // A line never exceeds 99 units, however it is reached.
    let (s, p) = shop
        .patch(
            format!("/api/v1/cart/items/{a}"),
            t,
            json!({"quantity": 100}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(fields(&p), ["quantity"]);

    // Update and remove.
    let (s, cart) = shop
        .patch(format!("/api/v1/cart/items/{a}"), t, json!({"quantity": 1}))
        .await;
    assert_eq!(s, StatusCode::OK, "{cart}");
    assert_eq!(lines(&cart)[0], (a.clone(), 1));
    let (s, _) = shop.delete(format!("/api/v1/cart/items/{b}"), t).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, p) = shop.delete(format!("/api/v1/cart/items/{b}"), t).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{p}");
    let (s, p) = shop
        .patch(format!("/api/v1/cart/items/{b}"), t, json!({"quantity": 1}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{p}");

    // Another customer sees their own (empty) cart; a forged token is refused.
    let (_, other) = shop.customer();
    let (s, cart) = shop.get_as("/api/v1/cart", &other).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(cart["items"], json!([]));
    let (s, _) = shop.get_as("/api/v1/cart", "not-a-jwt").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Clear; the user's Redis copy follows cart_db.
    let (s, _) = shop.delete("/api/v1/cart", t).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, cart) = shop.get_as("/api/v1/cart", t).await;
    assert_eq!(cart["items"], json!([]));
    let hot = shop.redis_cart(user).await;
    assert_eq!(hot.len(), 1, "only the version field is left: {hot:?}");

    // Every change is on cart-events, keyed by cart id: 3 adds (a, a, b), 1 update down of a,
    // 1 removal of b, 1 clear of a.
    let cart_id: Uuid = sqlx::query_scalar("SELECT id FROM carts WHERE user_id = $1")
        .bind(user)
        .fetch_one(&shop.cart_pool)
        .await
        .unwrap();
    let evs = find_events(
        &shop.common.kafka,
        &shop.topic(topics::CART_EVENTS),
        6,
        Duration::from_secs(60),
        |e| e.subject.as_deref() == Some(&cart_id.to_string()),
    )
    .await;
    let kinds: Vec<(String, String)> = evs
        .iter()
        .map(|e| {
            (
                e.event_type.clone(),
                e.data["reason"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("cart.item_added".into(), "".into()),
            ("cart.item_added".into(), "".into()),
            ("cart.item_added".into(), "".into()),
            ("cart.item_removed".into(), "updated".into()),
            ("cart.item_removed".into(), "removed".into()),
            ("cart.item_removed".into(), "cleared".into()),
        ]
    );
    assert_eq!(evs[0].data["user_id"], user.to_string());
    assert_eq!(evs[1].data["line_quantity"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cart_survives_a_redis_flush_and_is_rebuilt_from_cart_db() {
    let shop = Shop::start().await;
    let (a, b) = (sku(), sku());
    shop.product("Flush Mug", &[(&a, 1000, 20), (&b, 2000, 20)])
        .await;
    let (user, token) = shop.customer();
    let t = Some(token.as_str());
    for (s, q) in [(&a, 2), (&b, 5)] {
        let (st, body) = shop
            .post("/api/v1/cart/items", t, json!({"sku": s, "quantity": q}))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{body}");
    }
    let hot = shop.redis_cart(user).await;
    assert_eq!(hot.get(&a).map(String::as_str), Some("2"), "{hot:?}");
    assert!(shop.flush_redis().await >= 1);
    assert!(shop.redis_cart(user).await.is_empty());

    let (s, cart) = shop.get_as("/api/v1/cart", t).await;
    assert_eq!(s, StatusCode::OK, "{cart}");
    let mut want = vec![(a.clone(), 2), (b.clone(), 5)];
    want.sort();
    assert_eq!(lines(&cart), want);
    assert_eq!(cart["subtotal"]["amount"], 2 * 1000 + 5 * 2000);
    // The read put the hot copy back.
    let hot = shop.redis_cart(user).await;
    assert_eq!(hot.get(&b).map(String::as_str), Some("5"), "{hot:?}");

    // A stale copy never wins over a newer cart_db version: write an old one by hand.
    let mut c = shop.redis.clone();
    let key = format!("{}cart:{user}", shop.common.redis.key_prefix);
    let _: i64 = redis::cmd("HSET")
        .arg(&key)
        .arg(":v")
        .arg("1")
        .arg(&a)
        .arg("77")
        .query_async(&mut c)
        .await
        .unwrap();
    let (s, cart) = shop
        .patch(format!("/api/v1/cart/items/{a}"), t, json!({"quantity": 3}))
        .await;
    assert_eq!(s, StatusCode::OK, "{cart}");
    let hot = shop.redis_cart(user).await;
    assert_eq!(hot.get(&a).map(String::as_str), Some("3"), "{hot:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_cart_has_its_own_token_and_merges_into_the_users_cart() {
    let shop = Shop::start().await;
    let (a, b) = (sku(), sku());
    shop.product("Guest Mug", &[(&a, 300, 200), (&b, 400, 200)])
        .await;

    // No token at all: an empty cart, and the first add creates a guest cart.
    let (s, cart) = shop.get("/api/v1/cart").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(cart["items"], json!([]));
    let (s, h, cart) = shop
        .req(Method::POST, "/api/v1/cart/items")
        .json(json!({"sku": a, "quantity": 60}))
        .full()
        .await;
    assert_eq!(s, StatusCode::CREATED, "{cart}");
    let guest = h["x-cart-token"].to_str().unwrap().to_owned();
    assert_eq!(guest.len(), 43);
    let (s, h, _) = shop
        .as_guest(
            Method::POST,
            "/api/v1/cart/items",
            None,
            &guest,
            json!({"sku": b, "quantity": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert!(h.get("x-cart-token").is_none(), "the token is issued once");
    let (_, _, cart) = shop
        .as_guest(Method::GET, "/api/v1/cart", None, &guest, None)
        .await;
    let mut want = vec![(a.clone(), 60), (b.clone(), 1)];
    want.sort();
    assert_eq!(lines(&cart), want);
    // Only the token's hash is stored.
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM carts WHERE guest_token_hash = $1")
        .bind(&guest)
        .fetch_one(&shop.cart_pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
    let (s, _, p) = shop
        .as_guest(Method::GET, "/api/v1/cart", None, "forged", None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{p}");

    // The user already holds 50 of `a`: merged lines add up, capped at 99.
    let (user, token) = shop.customer();
    let (s, _) = shop
        .post(
            "/api/v1/cart/items",
            &token,
            json!({"sku": a, "quantity": 50}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, p) = shop.post("/api/v1/cart/merge", &token, None).await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "merge needs the guest token: {p}"
    );
    let (s, _, p) = shop
        .as_guest(Method::POST, "/api/v1/cart/merge", None, &guest, None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "merge needs a user: {p}");
    let (s, _, cart) = shop
        .as_guest(Method::POST, "/api/v1/cart/merge", &token, &guest, None)
        .await;
    assert_eq!(s, StatusCode::OK, "{cart}");
    let mut want = vec![(a.clone(), 99), (b.clone(), 1)];
    want.sort();
    assert_eq!(lines(&cart), want);
    // The guest cart is gone; merging again changes nothing.
    let (_, _, gcart) = shop
        .as_guest(Method::GET, "/api/v1/cart", None, &guest, None)
        .await;
    assert_eq!(gcart["items"], json!([]));
    let (s, _, again) = shop
        .as_guest(Method::POST, "/api/v1/cart/merge", &token, &guest, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(lines(&again), want);
    let carts: i64 = sqlx::query_scalar("SELECT count(*) FROM carts")
        .fetch_one(&shop.cart_pool)
        .await
        .unwrap();
    assert_eq!(carts, 1, "only the user's cart is left");
    let hot = shop.redis_cart(user).await;
    assert_eq!(hot.get(&a).map(String::as_str), Some("99"), "{hot:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_paid_removes_the_purchased_quantities_once_even_when_redelivered() {
    let shop = Shop::start().await;
    let (a, b, c) = (sku(), sku(), sku());
    shop.product("Paid Mug", &[(&a, 100, 50), (&b, 100, 50), (&c, 100, 50)])
        .await;
    let (user, token) = shop.customer();
    let t = Some(token.as_str());
    for (s, q) in [(&a, 2), (&b, 5), (&c, 1)] {
        let (st, body) = shop
            .post("/api/v1/cart/items", t, json!({"sku": s, "quantity": q}))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{body}");
    }
    let order_id = Uuid::now_v7();
    let item = |sku: &str, q: i64| {
        json!({"sku": sku, "product_id": Uuid::now_v7(), "name": "Paid Mug", "quantity": q,
               "unit_price": {"amount": 100, "currency": "EUR"}})
    };
    // The customer bought 2 of a and 3 of b (b was raised after checkout), not c.
    let paid = CloudEvent::new(
        "/storefront/order",
        "order.paid",
        Some(order_id.to_string()),
        json!({"order_id": order_id, "user_id": user, "total": {"amount": 500, "currency": "EUR"},
               "items": [item(&a, 2), item(&b, 3)], "transaction_id": Uuid::now_v7(),
               "paid_at": "2026-11-26T10:00:00Z"}),
    );
    let other = CloudEvent::new(
        "/storefront/order",
        "order.created",
        Some(order_id.to_string()),
        json!({"order_id": order_id, "user_id": user}),
    );
    let topic = shop.topic(topics::ORDER_EVENTS);
    for ev in [&paid, &other, &paid] {
        produce(&shop.common.kafka, &topic, ev).await;
    }
    let applied = format!(
        "SELECT count(*) FROM processed_events WHERE consumer = 'cart' AND event_id = '{}'",
        paid.id
    );
    wait_count(&shop.cart_pool, &applied, 1, Duration::from_secs(60)).await;
    // The redelivery is consumed too (after the first): wait for the duplicate to be seen.
    let addr = shop.cart_addr;
    eventually(
        Duration::from_secs(60),
        "the redelivery recognised",
        || async move { (consumed(addr, "duplicate").await == 1).then_some(()) },
    )
    .await;
    let (s, cart) = shop.get_as("/api/v1/cart", t).await;
    assert_eq!(s, StatusCode::OK);
    let mut want = vec![(b.clone(), 2), (c.clone(), 1)];
    want.sort();
    assert_eq!(lines(&cart), want);
    // Straight from cart_db too (the Redis copy was refreshed, not only dropped).
    let rows: Vec<(String, i32)> = sqlx::query_as(
        "SELECT i.sku, i.quantity FROM cart_items i JOIN carts c ON c.id = i.cart_id
          WHERE c.user_id = $1 ORDER BY i.sku",
    )
    .bind(user)
    .fetch_all(&shop.cart_pool)
    .await
    .unwrap();
    let rows: Vec<(String, i64)> = rows.into_iter().map(|(s, q)| (s, i64::from(q))).collect();
    assert_eq!(rows, want);
    let purchased: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE event_type = 'cart.item_removed' AND data->>'reason' = 'purchased'",
    )
    .fetch_one(&shop.cart_pool)
    .await
    .unwrap();
    assert_eq!(purchased, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_in_with_a_guest_cart_token_merges_the_guest_cart() {
    let shop = Shop::start_with_auth().await;
    let a = sku();
    shop.product("Login Mug", &[(&a, 900, 20)]).await;
    let (s, h, _) = shop
        .req(Method::POST, "/api/v1/cart/items")
        .json(json!({"sku": a, "quantity": 4}))
        .full()
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let guest = h["x-cart-token"].to_str().unwrap().to_owned();
    let email = format!("{}@example.com", unique("login").to_lowercase());
    let creds =
        json!({"email": email, "password": "correct horse battery staple", "display_name": "Lin"});
    let (s, body) = shop
        .post("/api/v1/auth/register", None, creds.clone())
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let login = json!({"email": email, "password": "correct horse battery staple"});
    let (s, _, tokens) = shop
        .as_guest(
            Method::POST,
            "/api/v1/auth/login",
            None,
            &guest,
            login.clone(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let (s, cart) = shop.get_as("/api/v1/cart", &access).await;
    assert_eq!(s, StatusCode::OK, "{cart}");
    assert_eq!(lines(&cart), vec![(a.clone(), 4)]);
    let (_, _, gcart) = shop
        .as_guest(Method::GET, "/api/v1/cart", None, &guest, None)
        .await;
    assert_eq!(gcart["items"], json!([]), "the guest cart was merged away");
    // A token that names no cart, or a cart service error, never fails the login.
    let stale = "A".repeat(43);
    let (s, _, tokens) = shop
        .as_guest(
            Method::POST,
            "/api/v1/auth/login",
            None,
            &stale,
            login.clone(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{tokens}");
    let (s, _, tokens) = shop
        .as_guest(Method::POST, "/api/v1/auth/login", None, "garbage", login)
        .await;
    assert_eq!(s, StatusCode::OK, "{tokens}");
    // After logout the access token no longer opens the cart (cart checks the deny list).
    let (s, _) = shop.post("/api/v1/auth/logout", &access, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, p) = shop.get_as("/api/v1/cart", &access).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_idempotency_key_adds_once() {
    let shop = Shop::start().await;
    let a = sku();
    shop.product("Idem Mug", &[(&a, 100, 50)]).await;
    let (_, token) = shop.customer();
    let add = |key: &'static str, q: i64| {
        let req = shop.req(Method::POST, "/api/v1/cart/items").token(&token);
        req.header("idempotency-key", key)
            .json(json!({"sku": a, "quantity": q}))
            .full()
    };
    let (status, headers, _) = add("add-1", 3).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(headers.get("idempotent-replayed").is_none());
    let (status, headers, cart) = add("add-1", 3).await;
    assert_eq!(status, StatusCode::CREATED, "the first answer's status");
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(lines(&cart), vec![(a.clone(), 3)], "not added twice");
    let (status, _, _) = add("add-1", 4).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _, cart) = add("add-2", 4).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(lines(&cart), vec![(a.clone(), 7)]);
}
