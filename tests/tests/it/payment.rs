//! The payment service end to end: the real payment role on 127.0.0.1:0 with its own database
//! and topics, the real gateway in front for the payment-method routes, and `order-events`
//! produced straight to the broker: saved cards kept only as an encrypted token, charges exactly
//! once per order (redelivery, a crash between the provider call and the commit), the sandbox
//! test cards, retries with a bounded budget, and refunds.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use storefront_kit::events::{CloudEvent, topics};
use storefront_tests::stack::{Stack, produce};
use storefront_tests::{eur, eventually, wait_count};
use uuid::Uuid;

/// A payment role and a gateway in front of it, stopped on drop.
struct Payments {
    stack: Stack,
    pool: PgPool,
}

storefront_tests::deref_stack!(Payments);

impl Payments {
    async fn start() -> Self {
        let mut stack = Stack::new("it_pay").await;
        stack
            .topics(&[topics::ORDER_EVENTS, topics::PAYMENT_EVENTS])
            .await;
        let payment = stack
            .payment(|c| c.payment.retry_initial_backoff_ms = 50)
            .await;
        let url = payment.url();
        stack.gateway(|gw| gw.gateway.upstreams.payment = url).await;
        Self {
            stack,
            pool: payment.state,
        }
    }

    async fn save_card(&self, token: &str, number: &str) -> Uuid {
        let (s, body) = self
            .post(
                "/api/v1/payment-methods",
                token,
                json!({"card_number": number, "exp_month": 12, "exp_year": 2035, "cvc": "123"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().parse().unwrap()
    }

    async fn order_created(
        &self,
        order_id: Uuid,
        user: Uuid,
        method: Option<Uuid>,
        amount: i64,
    ) -> CloudEvent {
        let ev = CloudEvent::new(
            "/storefront/order",
            "order.created",
            Some(order_id.to_string()),
            json!({"order_id": order_id, "user_id": user, "payment_method_id": method,
                   "total": {"amount": amount, "currency": "EUR"}, "items": [],
                   "created_at": "2026-11-26T10:00:00Z"}),
        );
        produce(&self.common.kafka, &self.topic(topics::ORDER_EVENTS), &ev).await;
        ev
    }

    /// The outbox rows of `order_id` (what payment announced), oldest first.
    async fn announced(&self, order_id: Uuid) -> Vec<(String, Value)> {
        sqlx::query_as("SELECT event_type, data FROM outbox WHERE event_key = $1 ORDER BY seq")
            .bind(order_id.to_string())
            .fetch_all(&self.pool)
            .await
            .unwrap()
    }

    async fn settled(&self, order_id: Uuid, want: usize) -> Vec<(String, Value)> {
        eventually(
            Duration::from_secs(60),
            "payment to settle",
            || async move {
                let a = self.announced(order_id).await;
                (a.len() >= want).then_some(a)
            },
        )
        .await
    }

    async fn count(&self, sql: &str, order_id: Uuid) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .bind(order_id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// Provider calls the sandbox saw for an idempotency key, and its outcome.
    async fn sandbox(&self, key: &str) -> Option<(i32, Option<String>)> {
        sqlx::query_as("SELECT calls, outcome FROM sandbox_operations WHERE idempotency_key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cards_are_kept_only_as_an_encrypted_token_and_each_user_sees_their_own() {
    let p = Payments::start().await;
    let (user, token) = p.customer();
    let (s, body) = p
        .post(
            "/api/v1/payment-methods",
            &token,
            json!({"card_number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2035,
                        "cvc": "123", "holder_name": "Ada Lovelace"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["brand"], "visa");
    assert_eq!(body["last4"], "4242");
    assert_eq!(body["exp_month"], 12);
    assert_eq!(body["exp_year"], 2035);
    assert_eq!(body["holder_name"], "Ada Lovelace");
    assert!(
        body.get("card_number").is_none() && body.get("cvc").is_none(),
        "{body}"
    );
    let id: Uuid = body["id"].as_str().unwrap().parse().unwrap();

    // Nothing in the row reveals the number, the CVC or the provider token.
    let row: (Vec<u8>, Vec<u8>, String) = sqlx::query_as(
        "SELECT token_nonce, token_ciphertext, row_to_json(m)::text FROM payment_methods m WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&p.pool)
    .await
    .unwrap();
    assert_eq!(row.0.len(), 12);
    assert!(
        !row.1.windows(4).any(|w| w == b"sbx_"),
        "the token is encrypted"
    );
    assert!(
        !row.2.contains("4242424242424242") && !row.2.contains("\"123\""),
        "{}",
        row.2
    );

    // Bad cards: 422 naming each field.
    for (body, field) in [
        (
            json!({"card_number": "4242424242424241", "exp_month": 12, "exp_year": 2035, "cvc": "123"}),
            "card_number",
        ),
        (
            json!({"card_number": "4242424242424242", "exp_month": 13, "exp_year": 2035, "cvc": "123"}),
            "exp_month",
        ),
        (
            json!({"card_number": "4242424242424242", "exp_month": 1, "exp_year": 2020, "cvc": "123"}),
            "exp_year",
        ),
        (
            json!({"card_number": "4242424242424242", "exp_month": 1, "exp_year": 2035, "cvc": "12"}),
            "cvc",
        ),
        (
            json!({"exp_month": 1, "exp_year": 2035, "cvc": "123"}),
            "card_number",
        ),
    ] {
        let (s, problem) = p
            .post("/api/v1/payment-methods", &token, body.clone())
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body} -> {problem}");
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&field), "{body} -> {problem}");
        assert!(
            !problem.to_string().contains("4242424242424241"),
            "{problem}"
        );
    }

    // Listing: own cards only; others get 404 on delete.
    p.save_card(&token, "5555555555554444").await;
    let (s, list) = p.get_as("/api/v1/payment-methods?limit=1", &token).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["brand"], "mastercard");
    let cursor = list["next_cursor"].as_str().unwrap().to_owned();
    let (_, page2) = p
        .get_as(
            format!("/api/v1/payment-methods?limit=1&cursor={cursor}"),
            &token,
        )
        .await;
    assert_eq!(page2["items"][0]["id"], id.to_string());
    assert_eq!(page2["next_cursor"], Value::Null);
    let (_, stranger) = p.customer();
    let (_, theirs) = p.get_as("/api/v1/payment-methods", &stranger).await;
    assert_eq!(theirs["items"], json!([]));
    let path = format!("/api/v1/payment-methods/{id}");
    let (s, _) = p.delete(&path, &stranger).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = p.get("/api/v1/payment-methods").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = p.delete(&path, &token).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = p.delete(&path, &token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM payment_methods WHERE user_id = $1")
        .bind(user)
        .fetch_one(&p.pool)
        .await
        .unwrap();
    assert_eq!(left, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_is_charged_once_even_when_redelivered_or_after_a_crash_mid_charge() {
    let p = Payments::start().await;
    let (user, token) = p.customer();
    let card = p.save_card(&token, "4242424242424242").await;

    // Delivered twice (same event) and announced again with a new event id: one charge.
    let order = Uuid::now_v7();
    let first = p.order_created(order, user, Some(card), 4599).await;
    produce(&p.common.kafka, &p.topic(topics::ORDER_EVENTS), &first).await;
    p.order_created(order, user, Some(card), 4599).await;
    let a = p.settled(order, 1).await;
    assert_eq!(a[0].0, "payment.completed");
    let d = &a[0].1;
    assert_eq!(d["order_id"], order.to_string());
    assert_eq!(d["user_id"], user.to_string());
    assert_eq!(d["amount"], eur(4599));
    assert_eq!(d["payment_method_id"], card.to_string());
    assert_eq!(d["brand"], "visa");
    assert_eq!(d["last4"], "4242");
    // Wait until all three deliveries were handled, then count.
    let recorded = "SELECT count(*) FROM processed_events WHERE consumer = 'payment'";
    wait_count(&p.pool, recorded, 2, Duration::from_secs(60)).await;
    assert_eq!(p.announced(order).await.len(), 1);
    assert_eq!(
        p.count("SELECT count(*) FROM transactions WHERE order_id = $1 AND kind = 'charge' AND status = 'succeeded'", order).await,
        1
    );
    assert_eq!(
        p.sandbox(&order.to_string()).await,
        Some((1, Some("succeeded".into())))
    );
    let txid: Uuid =
        sqlx::query_scalar("SELECT id FROM transactions WHERE order_id = $1 AND kind = 'charge'")
            .bind(order)
            .fetch_one(&p.pool)
            .await
            .unwrap();
    assert_eq!(d["transaction_id"], txid.to_string());

    // A crash after the provider charged but before payment committed: the charge row is still
    // pending and the provider has the charge. The redelivered event replays it at the provider
    // (same idempotency key, same reference) instead of charging again.
    let crashed = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO transactions (id, order_id, user_id, kind, status, amount, currency, payment_method_id)
         VALUES ($1, $2, $3, 'charge', 'pending', 1000, 'EUR', $4)",
    )
    .bind(Uuid::now_v7())
    .bind(crashed)
    .bind(user)
    .bind(card)
    .execute(&p.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO sandbox_operations (idempotency_key, kind, reference, amount, currency, outcome)
         VALUES ($1, 'charge', 'sbx_charge_before_crash', 1000, 'EUR', 'succeeded')",
    )
    .bind(crashed.to_string())
    .execute(&p.pool)
    .await
    .unwrap();
    p.order_created(crashed, user, Some(card), 1000).await;
    let a = p.settled(crashed, 1).await;
    assert_eq!(a[0].0, "payment.completed");
    let reference: String = sqlx::query_scalar(
        "SELECT provider_ref FROM transactions WHERE order_id = $1 AND kind = 'charge'",
    )
    .bind(crashed)
    .fetch_one(&p.pool)
    .await
    .unwrap();
    assert_eq!(reference, "sbx_charge_before_crash");
    assert_eq!(
        p.sandbox(&crashed.to_string()).await,
        Some((2, Some("succeeded".into())))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_cards_decline_retry_and_time_out_as_documented() {
    let p = Payments::start().await;
    let (user, token) = p.customer();
    let declined = p.save_card(&token, "4000000000000002").await;
    let flaky = p.save_card(&token, "4000000000000119").await;
    let hangs = p.save_card(&token, "4000000000009995").await;
    let (o1, o2, o3, o4) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    p.order_created(o1, user, Some(declined), 100).await;
    p.order_created(o2, user, Some(flaky), 200).await;
    p.order_created(o3, user, Some(hangs), 300).await;
    // Someone else's card is not found for this user.
    let (stranger, _) = p.customer();
    p.order_created(o4, stranger, Some(flaky), 400).await;

    let a = p.settled(o1, 1).await;
    assert_eq!(a[0].0, "payment.failed");
    assert_eq!(a[0].1["code"], "card_declined");
    assert_eq!(a[0].1["user_id"], user.to_string());

    let a = p.settled(o2, 1).await;
    assert_eq!(a[0].0, "payment.completed", "{:?}", a);
    assert_eq!(
        p.sandbox(&o2.to_string()).await,
        Some((3, Some("succeeded".into())))
    );
    assert_eq!(
        p.count(
            "SELECT count(*) FROM transactions WHERE order_id = $1 AND kind = 'attempt'",
            o2
        )
        .await,
        3,
        "every attempt is recorded"
    );

    let a = p.settled(o3, 1).await;
    assert_eq!(a[0].0, "payment.failed");
    assert_eq!(a[0].1["code"], "provider_unavailable");
    let attempts = p
        .count(
            "SELECT count(*) FROM transactions WHERE order_id = $1 AND kind = 'attempt'",
            o3,
        )
        .await;
    assert!((2..=8).contains(&attempts), "bounded retries: {attempts}");

    let a = p.settled(o4, 1).await;
    assert_eq!(a[0].0, "payment.failed");
    assert_eq!(a[0].1["code"], "payment_method_not_found");
    assert!(
        p.sandbox(&o4.to_string()).await.is_none(),
        "the provider was never called"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_request_refunds_the_charge_once() {
    let p = Payments::start().await;
    let (user, token) = p.customer();
    let card = p.save_card(&token, "4242424242424242").await;
    let order = Uuid::now_v7();
    p.order_created(order, user, Some(card), 2500).await;
    let a = p.settled(order, 1).await;
    assert_eq!(a[0].0, "payment.completed");
    let charge = a[0].1["transaction_id"].clone();

    let refund = CloudEvent::new(
        "/storefront/order",
        "order.refund_requested",
        Some(order.to_string()),
        json!({"order_id": order, "user_id": user, "amount": {"amount": 2500, "currency": "EUR"}, "reason": "damaged"}),
    );
    let topic = p.topic(topics::ORDER_EVENTS);
    produce(&p.common.kafka, &topic, &refund).await;
    produce(&p.common.kafka, &topic, &refund).await;
    // A refund for an order never charged is recorded and ignored.
    let never = CloudEvent::new(
        "/storefront/order",
        "order.refund_requested",
        None,
        json!({"order_id": Uuid::now_v7(), "user_id": user, "amount": {"amount": 1, "currency": "EUR"}, "reason": "x"}),
    );
    produce(&p.common.kafka, &topic, &never).await;

    let a = p.settled(order, 2).await;
    assert_eq!(a[1].0, "payment.refunded");
    assert_eq!(a[1].1["transaction_id"], charge);
    assert_eq!(a[1].1["amount"], eur(2500));
    let refund_id: Uuid = a[1].1["refund_id"].as_str().unwrap().parse().unwrap();
    let handled = format!(
        "SELECT count(*) FROM processed_events WHERE consumer = 'payment' AND event_id = '{}'",
        never.id
    );
    wait_count(&p.pool, &handled, 1, Duration::from_secs(60)).await;
    assert_eq!(
        p.announced(order).await.len(),
        2,
        "one refund, announced once"
    );
    assert_eq!(
        p.count("SELECT count(*) FROM transactions WHERE order_id = $1 AND kind = 'refund' AND status = 'succeeded'", order).await,
        1
    );
    let status: String = sqlx::query_scalar("SELECT status FROM transactions WHERE id = $1")
        .bind(refund_id)
        .fetch_one(&p.pool)
        .await
        .unwrap();
    assert_eq!(status, "succeeded");
    assert_eq!(
        p.sandbox(&format!("refund:{order}")).await,
        Some((1, Some("succeeded".into())))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_idempotency_key_saves_the_card_once() {
    let p = Payments::start().await;
    let (user, token) = p.customer();
    let save = |key: &'static str, exp_year: i64| {
        let card = json!({"card_number": "4242424242424242", "exp_month": 12, "exp_year": exp_year, "cvc": "123"});
        let req = p.req(Method::POST, "/api/v1/payment-methods").token(&token);
        req.header("idempotency-key", key).json(card).full()
    };
    let (status, _, first) = save("card-1", 2035).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, headers, again) = save("card-1", 2035).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(again["id"], first["id"]);
    let (status, _, _) = save("card-1", 2036).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM payment_methods WHERE user_id = $1")
        .bind(user)
        .fetch_one(&p.pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
}
