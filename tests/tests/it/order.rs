//! The order service end to end: the real order, product and inventory roles and the real
//! gateway on 127.0.0.1:0, each with its own database, the test's own topics (so order and
//! inventory really talk over the broker) and a JWKS whose key signs the test's tokens. The
//! cart is a stub serving `GET /api/v1/cart` per token (the cart service is built separately);
//! payment outcomes are produced to the test's `payment-events` topic as payment would.
//!
//! Everything is driven over the gateway's REST API; tables are read only to check what a user
//! cannot see (stock counters, outbox rows).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use storefront_kit::events::{CloudEvent, topics};
use storefront_tests::stack::{Client, Stack};
use storefront_tests::{column, eur, eventually, sku, unique, wait_count};
use uuid::Uuid;

/// Cart lines per `Authorization` header value, served by the stub cart.
type Carts = Arc<Mutex<HashMap<String, Vec<(String, i64)>>>>;

/// Which real services replace the test's stand-ins.
#[derive(Clone, Copy, Debug, Default)]
struct Real {
    cart: bool,
    payment: bool,
    /// The user service (saved addresses) behind the gateway.
    user: bool,
}

type Answer = (StatusCode, reqwest::header::HeaderMap, Value);

/// How long events may take to travel outbox -> broker -> consumer -> outbox -> ...
const EVENTS: Duration = Duration::from_secs(60);

/// product + inventory + order (+ cart or its stub, + payment) + gateway, stopped on drop.
struct Orders {
    stack: Stack,
    /// The cart (stub or real), called directly.
    cart_base: String,
    /// The real payment service, when it runs.
    payment_base: String,
    admin: Client,
    carts: Carts,
    order_pool: PgPool,
    inventory_pool: PgPool,
}

storefront_tests::deref_stack!(Orders);

/// A stub of the cart service: `GET /api/v1/cart` answers the lines stored for the caller's
/// `Authorization` header (401 without one), in the shape cart answers.
async fn cart_stub(carts: Carts) -> SocketAddr {
    let app = axum::Router::new().route(
        "/api/v1/cart",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let carts = carts.clone();
            async move {
                let Some(auth) = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
                else {
                    return (axum::http::StatusCode::UNAUTHORIZED, axum::Json(json!({})));
                };
                let lines = carts.lock().unwrap().get(&auth).cloned().unwrap_or_default();
                let items: Vec<Value> = lines
                    .iter()
                    .map(|(sku, q)| json!({"sku": sku, "quantity": q, "unit_price": {"amount": 1, "currency": "EUR"}}))
                    .collect();
                (
                    axum::http::StatusCode::OK,
                    axum::Json(json!({"items": items, "subtotal": {"amount": 0, "currency": "EUR"}})),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

impl Orders {
    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    async fn start_with(tweak: impl FnOnce(&mut storefront_order::Config)) -> Self {
        Self::start_full(Real::default(), tweak).await
    }

    /// With `real.cart`, the cart service itself runs (and consumes `order-events`) instead of
    /// the stub; with `real.payment`, the payment service charges `order.created` (else tests
    /// produce the payment events).
    async fn start_full(real: Real, tweak: impl FnOnce(&mut storefront_order::Config)) -> Self {
        let mut stack = Stack::new("ord").await;
        // Small pools: the server allows 100 connections for every test and role running on
        // this machine, and checkouts queue on the hot stock row anyway.
        stack.common.postgres.max_connections = 5;
        stack.common.postgres.acquire_timeout_secs = 60;
        stack
            .topics_in(
                &[
                    topics::ORDER_EVENTS,
                    topics::INVENTORY_EVENTS,
                    topics::PAYMENT_EVENTS,
                    topics::PRODUCT_EVENTS,
                ],
                3,
            )
            .await;
        let product = stack.product(|_| {}).await.url();
        let inventory = stack
            .inventory(|c| {
                c.inventory.min_ttl_secs = 1;
                c.inventory.sweeper_interval_ms = 100;
                c.inventory.relay_poll_interval_ms = 100;
            })
            .await;
        let inventory_url = inventory.url();

        let carts: Carts = Arc::default();
        let cart_base = if real.cart {
            let cart = stack.cart(|c| {
                c.cart.upstreams.product = product.clone();
                c.cart.upstreams.inventory = inventory_url.clone();
                c.cart.relay_poll_interval_ms = 100;
            });
            cart.await.url()
        } else {
            format!("http://{}", cart_stub(carts.clone()).await)
        };

        let payment_base = if real.payment {
            let payment = stack.payment(|c| c.payment.relay_poll_interval_ms = 100);
            payment.await.url()
        } else {
            String::new()
        };

        let user = if real.user {
            Some(stack.user(|_| {}).await.url())
        } else {
            None
        };

        let order = stack
            .order(|c| {
                c.order.product_url = product.clone();
                c.order.inventory_url = inventory_url.clone();
                c.order.cart_url = cart_base.clone();
                c.order.relay_poll_interval_ms = 100;
                c.order.upstream_timeout_ms = 90_000;
                tweak(c);
            })
            .await;

        stack
            .gateway(|gw| {
                gw.gateway.upstreams.product = product;
                gw.gateway.upstreams.inventory = inventory_url;
                gw.gateway.upstreams.order = order.url();
                if let Some(user) = user {
                    gw.gateway.upstreams.user = user;
                }
                // Generous bounds: the concurrency tests must see every checkout's own answer
                // even on a loaded machine.
                gw.gateway.request_timeout_ms = 120_000;
                gw.gateway.upstreams.timeout_ms = 120_000;
            })
            .await;

        Self {
            cart_base,
            payment_base,
            admin: stack.client(&stack.admin()),
            carts,
            order_pool: order.state,
            inventory_pool: inventory.state,
            stack,
        }
    }

    /// A new customer's token.
    fn customer(&self) -> String {
        self.stack.customer().1
    }

    fn set_cart(&self, token: &str, lines: &[(&str, i64)]) {
        self.carts.lock().unwrap().insert(
            format!("Bearer {token}"),
            lines.iter().map(|(s, q)| ((*s).to_owned(), *q)).collect(),
        );
    }

    async fn checkout(&self, token: &str, key: &str, body: &Value) -> (StatusCode, Value) {
        let (s, _, b) = self.checkout_full(token, key, body).await;
        (s, b)
    }

    /// `POST /checkout` of `body` with `key` as the Idempotency-Key; the headers too.
    async fn checkout_full(&self, token: &str, key: &str, body: &Value) -> Answer {
        let req = self.req(Method::POST, "/api/v1/checkout").token(token);
        req.header("idempotency-key", key)
            .json(body.clone())
            .full()
            .await
    }

    async fn order(&self, token: &str, id: &str) -> Value {
        let (s, b) = self.get_as(format!("/api/v1/orders/{id}"), token).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b
    }

    async fn wait_status(&self, token: &str, id: &str, status: &str) -> Value {
        eventually(
            EVENTS,
            &format!("order {id} to become {status}"),
            || async {
                let o = self.order(token, id).await;
                (o["status"] == status).then_some(o)
            },
        )
        .await
    }

    /// An active product with one EUR (or `currency`) variant per (sku, price); returns the SKUs.
    async fn product(&self, status: &str, currency: &str, variants: &[(&str, i64)]) -> Value {
        let variants: Vec<Value> = variants
            .iter()
            .map(|(sku, amount)| json!({"sku": sku, "price": {"amount": amount, "currency": currency}, "attributes": {"n": sku}}))
            .collect();
        let (s, b) = self.admin.post("/api/v1/admin/products", json!({"name": format!("Product {}", unique("p")), "status": status, "variants": variants})).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b
    }

    async fn set_stock(&self, sku: &str, on_hand: i64) {
        let (s, b) = self
            .admin
            .put(
                format!("/api/v1/admin/inventory/{sku}"),
                json!({"on_hand": on_hand, "reason": "restock"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }

    /// Saves a sandbox card with the real payment service; returns its id.
    async fn save_card(&self, token: &str, number: &str) -> String {
        let card = json!({"card_number": number, "exp_month": 12, "exp_year": 2035, "cvc": "123"});
        let payment = self.client_at(&self.payment_base, token);
        let req = payment.req(Method::POST, "/api/v1/payment-methods");
        let (st, body) = req
            .header("idempotency-key", unique("card"))
            .json(card)
            .send()
            .await;
        assert_eq!(st, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Checks out two units of `sku` paid with `card`; returns the order id.
    async fn checkout_with_card(&self, token: &str, card: &str, sku: &str) -> String {
        self.set_cart(token, &[(sku, 2)]);
        let mut body = checkout_body();
        body["payment_method_id"] = json!(card);
        let (st, order) = self.checkout(token, &unique("k"), &body).await;
        assert_eq!(st, StatusCode::CREATED, "{order}");
        order["id"].as_str().unwrap().to_owned()
    }

    /// (on_hand, reserved) of a SKU straight from inventory_db.
    async fn stock(&self, sku: &str) -> (i64, i64) {
        sqlx::query_as("SELECT on_hand, reserved FROM stock WHERE sku = $1")
            .bind(sku)
            .fetch_optional(&self.inventory_pool)
            .await
            .unwrap()
            .unwrap_or((0, 0))
    }

    async fn wait_stock(&self, sku: &str, want: (i64, i64)) {
        eventually(
            EVENTS,
            &format!("stock of {sku} to be {want:?}"),
            || async { (self.stock(sku).await == want).then_some(()) },
        )
        .await
    }

    /// Event types of the order's outbox rows, in order.
    async fn order_events(&self, order_id: &str) -> Vec<String> {
        sqlx::query_scalar("SELECT event_type FROM outbox WHERE event_key = $1 ORDER BY seq")
            .bind(order_id)
            .fetch_all(&self.order_pool)
            .await
            .unwrap()
    }

    async fn orders_of_all(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM orders")
            .fetch_one(&self.order_pool)
            .await
            .unwrap()
    }

    /// Produces a `payment.*` event as payment would (key = order id); returns the event.
    async fn payment_event(&self, event_type: &str, order: &Value, extra: Value) -> CloudEvent {
        let id = order["id"].as_str().unwrap();
        let mut data = json!({"order_id": id, "user_id": order["user_id"]});
        if event_type == "payment.completed" {
            // What payment adds besides what a test cares about.
            data["payment_method_id"] = json!(Uuid::now_v7());
            data["brand"] = "visa".into();
            data["last4"] = "4242".into();
        }
        for (k, v) in extra.as_object().unwrap() {
            data[k] = v.clone();
        }
        let event = CloudEvent::new("/storefront/payment", event_type, Some(id.into()), data);
        self.publish(topics::PAYMENT_EVENTS, id, &event).await;
        event
    }
}

fn checkout_body() -> Value {
    json!({
        "payment_method_id": Uuid::now_v7(),
        "shipping_address": {"recipient_name": "Ada Lovelace", "address_lines": ["12 Market Street"],
                             "locality": "Berlin", "postal_code": "10115", "country_code": "DE",
                             "phone": "+49301234567"}
    })
}

fn statuses(order: &Value) -> Vec<String> {
    column(&order["status_history"], "status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkout_reaches_paid_commits_stock_and_replays_by_key() {
    let s = Orders::start().await;
    let (a, b) = (sku(), sku());
    s.product("active", "EUR", &[(&a, 1999), (&b, 500)]).await;
    s.set_stock(&a, 5).await;
    s.set_stock(&b, 5).await;
    let customer = s.customer();
    s.set_cart(&customer, &[(&a, 2), (&b, 1)]);
    let body = checkout_body();

    // The key is required.
    let (st, p) = s.post("/api/v1/checkout", &customer, body.clone()).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{p}");
    // Prices never come from the client.
    let mut priced = body.clone();
    priced["total"] = eur(1);
    let (st, p) = s.checkout(&customer, "k-priced", &priced).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{p}");

    let key = unique("key");
    let (st, headers, order) = s.checkout_full(&customer, &key, &body).await;
    assert_eq!(st, StatusCode::CREATED, "{order}");
    let id = order["id"].as_str().unwrap().to_owned();
    assert_eq!(
        headers["location"].to_str().unwrap(),
        format!("/api/v1/orders/{id}")
    );
    assert_eq!(order["status"], "pending_payment");
    assert_eq!(order["currency"], "EUR");
    assert_eq!(order["subtotal"], eur(2 * 1999 + 500));
    assert_eq!(order["total"], eur(2 * 1999 + 500));
    assert_eq!(order["items"][0]["sku"], a.as_str());
    assert_eq!(order["items"][0]["unit_price"], eur(1999));
    assert_eq!(order["items"][0]["line_total"], eur(3998));
    assert_eq!(order["items"][1]["quantity"], 1);
    assert_eq!(order["shipping_address"]["country_code"], "DE");
    assert_eq!(statuses(&order), ["pending_payment"]);
    assert_eq!(s.stock(&a).await, (5, 2));
    assert_eq!(s.stock(&b).await, (5, 1));
    // What a later read returns is what checkout answered.
    assert_eq!(s.order(&customer, &id).await, order);

    // Same key, same body: the first answer again, nothing new.
    let (st, headers, replayed) = s.checkout_full(&customer, &key, &body).await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(replayed, order);
    // Same key, another body: 422.
    let (st, p) = s.checkout(&customer, &key, &checkout_body()).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(s.orders_of_all().await, 1);
    assert_eq!(s.stock(&a).await, (5, 2));

    // Payment succeeds (delivered twice, applied once): paid, and inventory sells the units.
    let completed = s
        .payment_event(
            "payment.completed",
            &order,
            json!({"transaction_id": "txn_1", "amount": eur(4498), "payment_method_id": body["payment_method_id"], "brand": "visa", "last4": "4242"}),
        )
        .await;
    s.publish(topics::PAYMENT_EVENTS, &id, &completed).await;
    let paid = s.wait_status(&customer, &id, "paid").await;
    assert_eq!(paid["transaction_id"], "txn_1");
    s.wait_stock(&a, (3, 0)).await;
    s.wait_stock(&b, (4, 0)).await;

    // Only admins ship; then refund is choreographed through payment.
    let ship = json!({"carrier": "DHL", "tracking_number": "0034"});
    let ship_path = format!("/api/v1/admin/orders/{id}/ship");
    let refund_path = format!("/api/v1/admin/orders/{id}/refund");
    let (st, p) = s.post(&ship_path, &customer, ship.clone()).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{p}");
    let (st, shipped) = s.admin.post(&ship_path, ship.clone()).await;
    assert_eq!(st, StatusCode::OK, "{shipped}");
    assert_eq!(shipped["status"], "shipped");
    assert_eq!(shipped["shipment"], ship);
    let (st, refund) = s.admin.post(&refund_path, None).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{refund}");
    assert_eq!(refund["status"], "refund_requested");
    let (st, p) = s.admin.post(&refund_path, None).await;
    assert_eq!(st, StatusCode::CONFLICT, "{p}");
    assert_eq!(p["current_status"], "refund_requested");
    s.payment_event(
        "payment.refunded",
        &order,
        json!({"transaction_id": "txn_1", "refund_id": "re_1", "amount": eur(4498)}),
    )
    .await;
    let refunded = s.wait_status(&customer, &id, "refunded").await;
    assert_eq!(
        statuses(&refunded),
        [
            "pending_payment",
            "paid",
            "shipped",
            "refund_requested",
            "refunded"
        ]
    );
    assert_eq!(
        s.order_events(&id).await,
        [
            "order.created",
            "order.paid",
            "order.shipped",
            "order.refund_requested",
            "order.refunded"
        ]
    );
    let unpublished =
        format!("SELECT count(*) FROM outbox WHERE event_key = '{id}' AND published_at IS NULL");
    wait_count(&s.order_pool, &unpublished, 0, EVENTS).await;
    let created: Value = sqlx::query_scalar(
        "SELECT data FROM outbox WHERE event_key = $1 AND event_type = 'order.created'",
    )
    .bind(&id)
    .fetch_one(&s.order_pool)
    .await
    .unwrap();
    assert_eq!(created["total"], eur(4498));
    assert_eq!(created["payment_method_id"], body["payment_method_id"]);
    assert_eq!(created["items"][0]["unit_price"], eur(1999));
    assert_eq!(created["items"][0]["name"], order["items"][0]["name"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_declined_payment_cancels_the_order_and_returns_the_stock() {
    let s = Orders::start().await;
    let a = sku();
    s.product("active", "EUR", &[(&a, 1000)]).await;
    s.set_stock(&a, 3).await;
    let customer = s.customer();
    s.set_cart(&customer, &[(&a, 3)]);
    let (st, order) = s.checkout(&customer, "declined-1", &checkout_body()).await;
    assert_eq!(st, StatusCode::CREATED, "{order}");
    let id = order["id"].as_str().unwrap().to_owned();
    assert_eq!(s.stock(&a).await, (3, 3));
    s.payment_event(
        "payment.failed",
        &order,
        json!({"code": "card_declined", "message": "The card was declined."}),
    )
    .await;
    let cancelled = s.wait_status(&customer, &id, "cancelled").await;
    assert_eq!(cancelled["status_history"][1]["reason"], "payment_failed");
    s.wait_stock(&a, (3, 0)).await;
    assert_eq!(
        s.order_events(&id).await,
        ["order.created", "order.cancelled"]
    );
    let data: Value = sqlx::query_scalar(
        "SELECT data FROM outbox WHERE event_key = $1 AND event_type = 'order.cancelled'",
    )
    .bind(&id)
    .fetch_one(&s.order_pool)
    .await
    .unwrap();
    assert_eq!(data["reason"], "payment_failed");
    // An event about an order that does not exist is recorded once and not retried forever.
    let stray = s
        .payment_event(
            "payment.failed",
            &json!({"id": Uuid::now_v7().to_string(), "user_id": Uuid::now_v7()}),
            json!({"code": "card_declined", "message": "declined"}),
        )
        .await;
    let stray = format!(
        "SELECT count(*) FROM processed_events WHERE consumer = 'order' AND event_id = '{}'",
        stray.id
    );
    wait_count(&s.order_pool, &stray, 1, EVENTS).await;
    assert_eq!(s.orders_of_all().await, 1);

    // The customer can no longer cancel it.
    let (st, p) = s
        .post(format!("/api/v1/orders/{id}/cancel"), &customer, None)
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{p}");
    assert_eq!(p["current_status"], "cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_expired_reservation_cancels_the_order_and_a_late_payment_is_refunded() {
    let s = Orders::start_with(|c| c.order.reservation_ttl_secs = 1).await;
    let a = sku();
    s.product("active", "EUR", &[(&a, 700)]).await;
    s.set_stock(&a, 2).await;
    let customer = s.customer();
    s.set_cart(&customer, &[(&a, 2)]);
    let (st, order) = s.checkout(&customer, "expiring", &checkout_body()).await;
    assert_eq!(st, StatusCode::CREATED, "{order}");
    let id = order["id"].as_str().unwrap().to_owned();
    let cancelled = s.wait_status(&customer, &id, "cancelled").await;
    assert_eq!(
        cancelled["status_history"][1]["reason"],
        "reservation_expired"
    );
    s.wait_stock(&a, (2, 0)).await;

    // The money arrives after all: the order stays cancelled and a refund is requested.
    s.payment_event(
        "payment.completed",
        &order,
        json!({"transaction_id": "txn_late", "amount": eur(1400)}),
    )
    .await;
    eventually(EVENTS, "a refund request for the late payment", || async {
        let ev = s.order_events(&id).await;
        (ev == ["order.created", "order.cancelled", "order.refund_requested"]).then_some(())
    })
    .await;
    assert_eq!(s.order(&customer, &id).await["status"], "cancelled");
    assert_eq!(s.stock(&a).await, (2, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkout_refuses_short_unknown_inactive_and_mixed_lines_without_using_the_key() {
    let s = Orders::start().await;
    let (a, b, draft, usd) = (sku(), sku(), sku(), sku());
    s.product("active", "EUR", &[(&a, 100), (&b, 200)]).await;
    s.product("draft", "EUR", &[(&draft, 100)]).await;
    s.product("active", "USD", &[(&usd, 100)]).await;
    s.set_stock(&a, 1).await;
    s.set_stock(&b, 5).await;
    let customer = s.customer();
    let body = checkout_body();

    let (st, p) = s.checkout(&customer, "empty", &body).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("empty"), "{p}");

    s.set_cart(&customer, &[(&b, 1), ("NO-SUCH-SKU", 1)]);
    let (st, p) = s.checkout(&customer, "unknown", &body).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["errors"][0]["field"], "items[1].sku", "{p}");

    s.set_cart(&customer, &[(&draft, 1)]);
    let (st, p) = s.checkout(&customer, "draft", &body).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["errors"][0]["field"], "items[0].sku", "{p}");

    s.set_cart(&customer, &[(&b, 1), (&usd, 1)]);
    let (st, p) = s.checkout(&customer, "mixed", &body).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["errors"][0]["field"], "currency", "{p}");
    assert!(p["detail"].as_str().unwrap().contains("EUR and USD"), "{p}");
    // Naming the currency: the item priced only in USD cannot be bought in EUR.
    let mut in_eur = body.clone();
    in_eur["currency"] = json!("EUR");
    let (st, p) = s.checkout(&customer, "mixed-eur", &in_eur).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["errors"][0]["field"], "items[1].sku", "{p}");
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not sold in EUR"),
        "{p}"
    );

    let mut bad = body.clone();
    bad["shipping_address"]["country_code"] = json!("XX");
    let (st, p) = s.checkout(&customer, "bad-country", &bad).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(
        p["errors"][0]["field"], "shipping_address.country_code",
        "{p}"
    );

    // Short stock: 409 naming the short line with what is available; nothing reserved.
    s.set_cart(&customer, &[(&a, 3), (&b, 1)]);
    let (st, p) = s.checkout(&customer, "short", &body).await;
    assert_eq!(st, StatusCode::CONFLICT, "{p}");
    assert_eq!(
        p["lines"],
        json!([{"sku": a, "requested": 3, "available": 1}]),
        "{p}"
    );
    assert_eq!(p["errors"][0]["field"], "items[0].quantity", "{p}");
    assert_eq!(s.stock(&a).await, (1, 0));
    assert_eq!(s.stock(&b).await, (5, 0));
    assert_eq!(s.orders_of_all().await, 0);

    // A refused checkout does not use up its key: after a restock the same key succeeds.
    s.set_stock(&a, 3).await;
    let (st, order) = s.checkout(&customer, "short", &body).await;
    assert_eq!(st, StatusCode::CREATED, "{order}");
    assert_eq!(order["total"], eur(3 * 100 + 200));
    assert_eq!(s.stock(&a).await, (3, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_checkouts_for_ten_units_sell_exactly_ten() {
    let s = Arc::new(Orders::start().await);
    let a = sku();
    s.product("active", "EUR", &[(&a, 999)]).await;
    s.set_stock(&a, 10).await;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let s = s.clone();
            let a = a.clone();
            tokio::spawn(async move {
                let customer = s.customer();
                s.set_cart(&customer, &[(&a, 1)]);
                let (st, b) = s
                    .checkout(&customer, &format!("race-{i}"), &checkout_body())
                    .await;
                if st == StatusCode::CONFLICT {
                    assert_eq!(b["lines"][0]["sku"], a.as_str(), "{b}");
                }
                st
            })
        })
        .collect();
    let mut counts: HashMap<u16, usize> = HashMap::new();
    for t in tasks {
        *counts.entry(t.await.unwrap().as_u16()).or_default() += 1;
    }
    assert_eq!(counts.get(&201), Some(&10), "{counts:?}");
    assert_eq!(counts.get(&409), Some(&40), "{counts:?}");
    assert_eq!(s.stock(&a).await, (10, 10));
    assert_eq!(s.orders_of_all().await, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_of_one_key_make_one_order() {
    let s = Arc::new(Orders::start().await);
    let a = sku();
    s.product("active", "EUR", &[(&a, 999)]).await;
    s.set_stock(&a, 100).await;
    let customer = s.customer();
    s.set_cart(&customer, &[(&a, 1)]);
    let body = checkout_body();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (s, customer, body) = (s.clone(), customer.clone(), body.clone());
            tokio::spawn(async move { s.checkout(&customer, "same-key", &body).await })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        let (st, b) = t.await.unwrap();
        match st {
            StatusCode::CREATED => ids.push(b["id"].as_str().unwrap().to_owned()),
            StatusCode::CONFLICT => {}
            other => panic!("{other}: {b}"),
        }
    }
    assert!(!ids.is_empty());
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    assert_eq!(s.orders_of_all().await, 1);
    assert_eq!(s.stock(&a).await, (100, 1));

    // Keys are remembered for the retention period, then forgotten.
    assert_eq!(
        storefront_order::store::idempotency::purge(&s.order_pool, 24)
            .await
            .unwrap(),
        0
    );
    sqlx::query("UPDATE checkout_idempotency SET created_at = now() - interval '100 hours'")
        .execute(&s.order_pool)
        .await
        .unwrap();
    assert_eq!(
        storefront_order::store::idempotency::purge(&s.order_pool, 24)
            .await
            .unwrap(),
        1
    );
    let (st, again) = s.checkout(&customer, "same-key", &body).await;
    assert_eq!(st, StatusCode::CREATED, "{again}");
    assert_ne!(again["id"].as_str().unwrap(), ids[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn customers_see_only_their_orders_and_illegal_steps_are_refused() {
    let s = Orders::start().await;
    let a = sku();
    s.product("active", "EUR", &[(&a, 100)]).await;
    s.set_stock(&a, 100).await;
    let (alice, bob) = (s.customer(), s.customer());
    s.set_cart(&alice, &[(&a, 1)]);
    let mut ids = Vec::new();
    for i in 0..3 {
        let (st, o) = s
            .checkout(&alice, &format!("alice-{i}"), &checkout_body())
            .await;
        assert_eq!(st, StatusCode::CREATED, "{o}");
        ids.push(o["id"].as_str().unwrap().to_owned());
    }
    let id = ids[0].clone();

    // Others' orders do not exist for them; admins see them.
    for (method, path) in [
        (Method::GET, format!("/api/v1/orders/{id}")),
        (Method::POST, format!("/api/v1/orders/{id}/cancel")),
    ] {
        let (st, p) = s.call(method, &path, &bob, None).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{path}: {p}");
    }
    let (st, _) = s.admin.get(format!("/api/v1/orders/{id}")).await;
    assert_eq!(st, StatusCode::OK);
    let (st, p) = s.get("/api/v1/orders").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{p}");
    let (st, p) = s.get_as("/api/v1/orders/not-a-uuid", &alice).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{p}");

    // Lists: own orders only, newest first, in pages.
    let (st, list) = s.get_as("/api/v1/orders", &bob).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list, json!({"items": [], "next_cursor": null}));
    let (_, page1) = s.get_as("/api/v1/orders?limit=2", &alice).await;
    let cursor = page1["next_cursor"].as_str().unwrap().to_owned();
    let (_, page2) = s
        .get_as(format!("/api/v1/orders?limit=2&cursor={cursor}"), &alice)
        .await;
    let seen: Vec<&str> = page1["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(page2["items"].as_array().unwrap())
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(seen, [ids[2].as_str(), ids[1].as_str(), ids[0].as_str()]);
    assert_eq!(page2["next_cursor"], Value::Null);
    let (st, p) = s.get_as("/api/v1/orders?limit=0", &alice).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{p}");

    // Steps the status machine refuses are 409 naming the current status.
    let admin_step = |step: &str| format!("/api/v1/admin/orders/{id}/{step}");
    for step in ["deliver", "refund"] {
        let (st, p) = s.admin.post(&admin_step(step), None).await;
        assert_eq!(st, StatusCode::CONFLICT, "{step}: {p}");
        assert_eq!(p["current_status"], "pending_payment");
    }
    let ship = json!({"carrier": "UPS", "tracking_number": "1Z"});
    let (st, p) = s.admin.post(&admin_step("ship"), ship.clone()).await;
    assert_eq!(st, StatusCode::CONFLICT, "{p}");
    let (st, cancelled) = s
        .post(format!("/api/v1/orders/{id}/cancel"), &alice, None)
        .await;
    assert_eq!(st, StatusCode::OK, "{cancelled}");
    assert_eq!(statuses(&cancelled), ["pending_payment", "cancelled"]);
    assert_eq!(
        cancelled["status_history"][1]["reason"],
        "customer_cancelled"
    );
    let (st, p) = s
        .post(format!("/api/v1/orders/{id}/cancel"), &alice, None)
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{p}");
    assert_eq!(p["current_status"], "cancelled");
    let (st, p) = s.admin.post(&admin_step("ship"), ship).await;
    assert_eq!(st, StatusCode::CONFLICT, "{p}");
    // Cancelling released the units of that order only (2 other orders hold one each).
    s.wait_stock(&a, (100, 2)).await;

    // The routes are in the OpenAPI document.
    let (st, doc) = s.get("/api/v1/openapi.json").await;
    assert_eq!(st, StatusCode::OK);
    for path in [
        "/api/v1/checkout",
        "/api/v1/orders",
        "/api/v1/orders/{id}",
        "/api/v1/orders/{id}/cancel",
        "/api/v1/admin/orders/{id}/ship",
        "/api/v1/admin/orders/{id}/refund",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_completing_as_the_reservation_expires_is_refunded() {
    // A reservation of 20 s with a 30 s margin: every payment is "too late".
    let s = Orders::start_with(|c| {
        c.order.reservation_ttl_secs = 20;
        c.order.late_payment_margin_secs = 30;
    })
    .await;
    let a = sku();
    s.product("active", "EUR", &[(&a, 300)]).await;
    s.set_stock(&a, 4).await;
    let customer = s.customer();
    s.set_cart(&customer, &[(&a, 4)]);
    let (st, order) = s.checkout(&customer, "late", &checkout_body()).await;
    assert_eq!(st, StatusCode::CREATED, "{order}");
    let id = order["id"].as_str().unwrap().to_owned();
    s.payment_event(
        "payment.completed",
        &order,
        json!({"transaction_id": "txn_edge", "amount": eur(1200)}),
    )
    .await;
    let cancelled = s.wait_status(&customer, &id, "cancelled").await;
    assert_eq!(
        cancelled["status_history"][1]["reason"],
        "reservation_expired"
    );
    assert_eq!(
        s.order_events(&id).await,
        ["order.created", "order.cancelled", "order.refund_requested"]
    );
    // The units go back at once instead of being sold from an expiring reservation.
    s.wait_stock(&a, (4, 0)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expiry_is_read_by_its_own_group_and_a_replayed_expiry_changes_nothing() {
    // Order reads `inventory-events` in a group of its own (`order.expiry`), which an upgraded
    // deployment starts from the topic's beginning: every expiry it had already applied comes
    // again. Here the expiry is published as inventory's sweeper would, then published again.
    let s = Orders::start().await;
    let a = sku();
    s.product("active", "EUR", &[(&a, 500)]).await;
    s.set_stock(&a, 5).await;
    let customer = s.customer();
    s.set_cart(&customer, &[(&a, 3)]);
    let (st, order) = s.checkout(&customer, "expiry-1", &checkout_body()).await;
    assert_eq!(st, StatusCode::CREATED, "{order}");
    let id = order["id"].as_str().unwrap().to_owned();
    s.set_cart(&customer, &[(&a, 2)]);
    let (st, other) = s.checkout(&customer, "expiry-2", &checkout_body()).await;
    assert_eq!(st, StatusCode::CREATED, "{other}");
    let other_id = other["id"].as_str().unwrap().to_owned();
    s.wait_stock(&a, (5, 5)).await;
    let expiry = |order: &Value, units: i64| {
        let oid = order["id"].as_str().unwrap();
        CloudEvent::new(
            "/storefront/inventory",
            "inventory.reservation_expired",
            Some(oid.into()),
            json!({"order_id": oid, "reservation_id": Uuid::now_v7(),
                   "user_id": order["user_id"], "lines": [{"sku": a, "quantity": units}]}),
        )
    };
    let expired = expiry(&order, 3);
    s.publish(topics::INVENTORY_EVENTS, &id, &expired).await;
    let cancelled = s.wait_status(&customer, &id, "cancelled").await;
    assert_eq!(
        cancelled["status_history"][1]["reason"],
        "reservation_expired"
    );
    s.wait_stock(&a, (5, 2)).await;
    assert_eq!(
        s.order(&customer, &other_id).await["status"],
        "pending_payment"
    );

    // The replay, then the other order's expiry under the first order's key (the same
    // partition, read in order: once the other order is cancelled, the replay was consumed).
    s.publish(topics::INVENTORY_EVENTS, &id, &expired).await;
    s.publish(topics::INVENTORY_EVENTS, &id, &expiry(&other, 2))
        .await;
    s.wait_status(&customer, &other_id, "cancelled").await;
    let first = s.order(&customer, &id).await;
    assert_eq!(statuses(&first), ["pending_payment", "cancelled"]);
    assert_eq!(
        s.order_events(&id).await,
        ["order.created", "order.cancelled"]
    );
    assert_eq!(
        s.order_events(&other_id).await,
        ["order.created", "order.cancelled"]
    );
    s.wait_stock(&a, (5, 0)).await;
    // Payments still arrive through the saga's own consumer.
    s.payment_event(
        "payment.completed",
        &other,
        json!({"transaction_id": "txn_after_expiry", "amount": eur(1000)}),
    )
    .await;
    eventually(
        EVENTS,
        "a refund request for the payment after expiry",
        || async {
            let ev = s.order_events(&other_id).await;
            (ev == ["order.created", "order.cancelled", "order.refund_requested"]).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkout_reads_the_real_cart_and_payment_empties_it() {
    let s = Orders::start_full(
        Real {
            cart: true,
            ..Real::default()
        },
        |_| {},
    )
    .await;
    let (a, b) = (sku(), sku());
    s.product("active", "EUR", &[(&a, 1250), (&b, 99)]).await;
    s.set_stock(&a, 10).await;
    s.set_stock(&b, 10).await;
    let customer = s.customer();
    let cart = s.client_at(&s.cart_base, &customer);
    for (sku, quantity) in [(&a, 2), (&b, 3)] {
        let line = json!({"sku": sku, "quantity": quantity});
        let (st, body) = cart.post("/api/v1/cart/items", line).await;
        assert!(st.is_success(), "{st}: {body}");
    }
    let (st, order) = s.checkout(&customer, "real-cart", &checkout_body()).await;
    assert_eq!(st, StatusCode::CREATED, "{order}");
    assert_eq!(order["total"], eur(2 * 1250 + 3 * 99));
    let id = order["id"].as_str().unwrap().to_owned();
    s.payment_event(
        "payment.completed",
        &order,
        json!({"transaction_id": Uuid::now_v7(), "amount": eur(2797)}),
    )
    .await;
    s.wait_status(&customer, &id, "paid").await;
    s.wait_stock(&a, (8, 0)).await;
    s.wait_stock(&b, (7, 0)).await;
    eventually(EVENTS, "the cart to be emptied by order.paid", || async {
        let (st, body) = cart.get("/api/v1/cart").await;
        assert_eq!(st, StatusCode::OK, "{body}");
        (body["items"].as_array().is_some_and(Vec::is_empty)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_real_payment_service_pays_declines_and_refunds() {
    let s = Orders::start_full(
        Real {
            payment: true,
            ..Real::default()
        },
        |_| {},
    )
    .await;
    let a = sku();
    s.product("active", "EUR", &[(&a, 4500)]).await;
    s.set_stock(&a, 5).await;
    let good = s.customer();
    let card = s.save_card(&good, "4242424242424242").await;
    let paid = s.checkout_with_card(&good, &card, &a).await;
    let o = s.wait_status(&good, &paid, "paid").await;
    assert!(o["transaction_id"].is_string(), "{o}");
    s.wait_stock(&a, (3, 0)).await;

    let bad = s.customer();
    let card = s.save_card(&bad, "4000000000000002").await;
    let declined = s.checkout_with_card(&bad, &card, &a).await;
    let o = s.wait_status(&bad, &declined, "cancelled").await;
    assert_eq!(o["status_history"][1]["reason"], "payment_failed");
    s.wait_stock(&a, (3, 0)).await;

    let (st, o) = s
        .admin
        .post(format!("/api/v1/admin/orders/{paid}/refund"), None)
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{o}");
    s.wait_status(&good, &paid, "refunded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkout_ships_to_a_saved_address_named_by_its_id() {
    let s = Orders::start_full(
        Real {
            user: true,
            ..Real::default()
        },
        |_| {},
    )
    .await;
    let a = sku();
    s.product("active", "EUR", &[(&a, 1999)]).await;
    s.set_stock(&a, 5).await;
    let customer = s.customer();
    s.set_cart(&customer, &[(&a, 1)]);
    let (st, saved) = s
        .post(
            "/api/v1/users/me/addresses",
            &customer,
            json!({"label": "Home", "recipient_name": "Ada Lovelace", "organization": "Analytical Engines",
                   "address_lines": ["Unter den Linden 1", "Hinterhaus"], "locality": "Berlin",
                   "postal_code": "10117", "country_code": "DE", "phone": "+4930123456"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{saved}");
    let id = saved["id"].as_str().unwrap().to_owned();
    let by_id = json!({"payment_method_id": Uuid::now_v7(), "shipping_address_id": id});

    // Not the caller's address (another customer's, or none at all): 422 naming the field.
    let stranger = s.customer();
    s.set_cart(&stranger, &[(&a, 1)]);
    let (st, p) = s.checkout(&stranger, "theirs", &by_id).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["errors"][0]["field"], "shipping_address_id", "{p}");
    let mut both = by_id.clone();
    both["shipping_address"] = checkout_body()["shipping_address"].clone();
    let (st, p) = s.checkout(&customer, "both", &both).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["errors"][0]["field"], "shipping_address_id", "{p}");
    let (st, p) = s
        .checkout(
            &customer,
            "none",
            &json!({"payment_method_id": Uuid::now_v7()}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["errors"][0]["field"], "shipping_address", "{p}");

    // The order keeps the saved address in the one address shape.
    let key = unique("key");
    let (st, order) = s.checkout(&customer, &key, &by_id).await;
    assert_eq!(st, StatusCode::CREATED, "{order}");
    let shipped_to = &order["shipping_address"];
    for field in [
        "recipient_name",
        "organization",
        "address_lines",
        "locality",
        "administrative_area",
        "postal_code",
        "country_code",
        "phone",
    ] {
        assert_eq!(shipped_to[field], saved[field], "{field}: {order}");
    }
    assert_eq!(shipped_to["country_code"], "DE");

    // The saved address changes; a retry with the same key and id is still the same request
    // and answers the first order, which keeps the address it was placed with.
    let (st, moved) = s
        .patch(
            &format!(
                "/api/v1/users/me/addresses/{}",
                by_id["shipping_address_id"].as_str().unwrap()
            ),
            &customer,
            json!({"locality": "Hamburg", "postal_code": "20095"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{moved}");
    let (st, again) = s.checkout(&customer, &key, &by_id).await;
    assert_eq!(st, StatusCode::CREATED, "{again}");
    assert_eq!(again["id"], order["id"]);
    assert_eq!(again["shipping_address"]["locality"], "Berlin");
    let stored = s.order(&customer, order["id"].as_str().unwrap()).await;
    assert_eq!(stored["shipping_address"]["locality"], "Berlin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_placed_before_keep_their_address_in_the_one_shape() {
    use sqlx::migrate::Migrator;
    let common = storefront_tests::common();
    let all = &storefront_order::MIGRATIONS;
    let before: Vec<_> = all
        .iter()
        .filter(|m| m.version < 20261206000001)
        .cloned()
        .collect();
    let (_, pool) = storefront_tests::fresh_database(&common, &Migrator::with_migrations(before))
        .await
        .unwrap();
    let (two_lines, one_line) = (Uuid::now_v7(), Uuid::now_v7());
    for (id, address) in [
        (
            two_lines,
            json!({"name": "Ada", "line1": "1 Main St", "line2": "Flat 2", "city": "Springfield",
                   "region": "CA", "postal_code": "94103", "country": "US", "phone": "+1 415 555 0100"}),
        ),
        (
            one_line,
            json!({"name": "Bo", "line1": "Unter den Linden 1", "line2": null, "city": "Berlin",
                   "region": null, "postal_code": "10117", "country": "DE", "phone": null}),
        ),
    ] {
        sqlx::query(
            "INSERT INTO orders (id, user_id, status, currency, subtotal, total, payment_method_id, shipping_address)
             VALUES ($1, $2, 'paid', 'EUR', 100, 100, $3, $4)",
        )
        .bind(id)
        .bind(Uuid::now_v7())
        .bind(Uuid::now_v7())
        .bind(address)
        .execute(&pool)
        .await
        .unwrap();
    }
    storefront_kit::db::migrate(&pool, all).await.unwrap();
    let read = |id: Uuid| {
        let pool = pool.clone();
        async move {
            let v: Value = sqlx::query_scalar("SELECT shipping_address FROM orders WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap();
            serde_json::from_value::<storefront_kit::address::Address>(v.clone())
                .unwrap_or_else(|e| panic!("{v} is not an address: {e}"))
        }
    };
    let a = read(two_lines).await;
    assert_eq!(a.recipient_name, "Ada");
    assert_eq!(a.address_lines, ["1 Main St", "Flat 2"]);
    assert_eq!(a.locality, "Springfield");
    assert_eq!(a.administrative_area, "CA");
    assert_eq!(a.postal_code, "94103");
    assert_eq!(a.country_code, "US");
    assert_eq!(a.phone, "+1 415 555 0100");
    let b = read(one_line).await;
    assert_eq!(b.address_lines, ["Unter den Linden 1"]);
    assert_eq!((b.administrative_area.as_str(), b.phone.as_str()), ("", ""));
    assert_eq!(b.organization, "");
}
