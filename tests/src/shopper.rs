//! A REST client of the gateway for black-box tests: accounts, admin catalog and stock, cart,
//! payment methods, checkout and orders, using only the public API.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::platform::Platform;

/// Sandbox cards (README, "Purchase journey contracts").
pub const CARD_OK: &str = "4242424242424242";
pub const CARD_DECLINED: &str = "4000000000000002";
pub const CARD_TRANSIENT: &str = "4000000000000119";

/// A signed-in user of the gateway.
#[derive(Clone)]
pub struct Shopper {
    pub http: reqwest::Client,
    pub base: String,
    pub email: String,
    pub user_id: String,
    pub token: String,
}

/// One answer: status and JSON body (`Null` when empty or not JSON).
pub type Answer = (StatusCode, Value);

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(64)
        .build()
        .expect("http client")
}

pub async fn read(resp: reqwest::Response) -> Answer {
    let status = resp.status();
    let bytes = resp.bytes().await.unwrap_or_default();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

impl Shopper {
    /// Registers a new customer with a unique address under `example.test`.
    pub async fn register(p: &Platform, name: &str) -> Self {
        let http = http_client();
        let email = format!("{}@example.test", crate::unique(name).replace('_', "-"));
        let resp = http
            .post(p.url("/api/v1/auth/register"))
            .json(&json!({"email": email, "password": "correct horse battery staple", "display_name": name}))
            .send()
            .await
            .expect("register");
        let (status, body) = read(resp).await;
        assert_eq!(status, StatusCode::CREATED, "register: {body}");
        Shopper {
            http,
            base: p.gateway.clone(),
            email,
            user_id: body["user"]["id"].as_str().expect("user id").to_owned(),
            token: body["access_token"]
                .as_str()
                .expect("access token")
                .to_owned(),
        }
    }

    /// An admin: created with `storefront admin create` (as the README says), then signed in.
    pub async fn admin(p: &Platform) -> Self {
        let email = format!("{}@example.test", crate::unique("admin").replace('_', "-"));
        let password = "admin password for tests";
        p.create_admin(&email, password).await;
        let http = http_client();
        let (status, body) = read(
            http.post(p.url("/api/v1/auth/login"))
                .json(&json!({"email": email, "password": password}))
                .send()
                .await
                .expect("login"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "admin login: {body}");
        let token = body["access_token"].as_str().unwrap().to_owned();
        Shopper {
            http,
            base: p.gateway.clone(),
            email,
            user_id: String::new(),
            token,
        }
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.call_with(method, path, body, &[]).await
    }

    /// A GET.
    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    /// A POST of `body` (or none).
    pub async fn post(&self, path: &str, body: impl Into<Option<Value>>) -> Answer {
        self.call(Method::POST, path, body.into()).await
    }

    /// A PUT of `body`.
    pub async fn put(&self, path: &str, body: Value) -> Answer {
        self.call(Method::PUT, path, Some(body)).await
    }

    /// A DELETE.
    pub async fn delete(&self, path: &str) -> Answer {
        self.call(Method::DELETE, path, None).await
    }

    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        match req.send().await {
            Ok(resp) => read(resp).await,
            Err(e) => (
                StatusCode::BAD_GATEWAY,
                json!({"transport_error": e.to_string()}),
            ),
        }
    }

    /// Creates an active product with one variant `sku` at `amount` EUR cents and sets its stock.
    pub async fn product_with_stock(&self, sku: &str, amount: i64, on_hand: i64) -> Value {
        let (status, product) = self
            .call(
                Method::POST,
                "/api/v1/admin/products",
                Some(json!({
                    "name": format!("Journey item {sku}"),
                    "brand": "Testco",
                    "status": "active",
                    "variants": [{"sku": sku, "price": {"amount": amount, "currency": "EUR"}, "attributes": {}}],
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "create product: {product}");
        self.set_stock(sku, on_hand).await;
        product
    }

    pub async fn set_stock(&self, sku: &str, on_hand: i64) {
        let (status, body) = self
            .call(
                Method::PUT,
                &format!("/api/v1/admin/inventory/{sku}"),
                Some(json!({"on_hand": on_hand, "reason": "restock"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "set stock: {body}");
    }

    /// Units on hand, reserved and available of `sku` (admin view).
    pub async fn stock(&self, sku: &str) -> (i64, i64, i64) {
        let (status, body) = self
            .call(Method::GET, &format!("/api/v1/admin/inventory/{sku}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "get stock: {body}");
        (
            body["on_hand"].as_i64().unwrap(),
            body["reserved"].as_i64().unwrap(),
            body["available"].as_i64().unwrap(),
        )
    }

    pub async fn add_to_cart(&self, sku: &str, quantity: i64) -> Answer {
        self.call(
            Method::POST,
            "/api/v1/cart/items",
            Some(json!({"sku": sku, "quantity": quantity})),
        )
        .await
    }

    pub async fn cart(&self) -> Value {
        let (status, body) = self.call(Method::GET, "/api/v1/cart", None).await;
        assert_eq!(status, StatusCode::OK, "cart: {body}");
        body
    }

    /// Saves `card` and returns the payment method id.
    pub async fn payment_method(&self, card: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/payment-methods",
                Some(json!({"card_number": card, "exp_month": 12, "exp_year": 2035, "cvc": "123", "holder_name": "Test Shopper"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "payment method: {body}");
        body["id"].as_str().expect("payment method id").to_owned()
    }

    pub fn checkout_body(payment_method_id: &str) -> Value {
        json!({
            "payment_method_id": payment_method_id,
            "shipping_address": {
                "recipient_name": "Test Shopper", "address_lines": ["1 Test Street"],
                "locality": "Berlin", "postal_code": "10115", "country_code": "DE"
            }
        })
    }

    /// `POST /checkout` with `key` as the Idempotency-Key.
    pub async fn checkout(&self, payment_method_id: &str, key: &str) -> Answer {
        self.checkout_with(Self::checkout_body(payment_method_id), key)
            .await
    }

    /// `POST /checkout` of `body` with `key` as the Idempotency-Key.
    pub async fn checkout_with(&self, body: Value, key: &str) -> Answer {
        self.call_with(
            Method::POST,
            "/api/v1/checkout",
            Some(body),
            &[("idempotency-key", key)],
        )
        .await
    }

    /// Checkout retried with the same key while the answer is not definite (gateway 502/503/504
    /// while a role restarts): what a careful client does.
    pub async fn checkout_until_answered(&self, payment_method_id: &str, key: &str) -> Answer {
        self.checkout_until_answered_with(Self::checkout_body(payment_method_id), key)
            .await
    }

    /// [`Self::checkout_until_answered`] of `body`.
    pub async fn checkout_until_answered_with(&self, body: Value, key: &str) -> Answer {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
        let mut attempt = 0u32;
        loop {
            let (status, body) = self.checkout_with(body.clone(), key).await;
            // A 409 that names no short lines is a duplicate still in flight.
            let in_flight = status == StatusCode::CONFLICT
                && body.get("lines").is_none()
                && body["errors"].as_array().is_none_or(|e| e.is_empty());
            let retry = in_flight
                || matches!(
                    status,
                    StatusCode::BAD_GATEWAY
                        | StatusCode::SERVICE_UNAVAILABLE
                        | StatusCode::GATEWAY_TIMEOUT
                );
            if !retry || tokio::time::Instant::now() >= deadline {
                return (status, body);
            }
            // Exponential backoff with jitter, as a client should under load.
            attempt += 1;
            let base = 200u64 << attempt.min(5);
            let jitter = u64::from(Uuid::now_v7().as_bytes()[15]) * base / 255;
            tokio::time::sleep(Duration::from_millis(base / 2 + jitter / 2)).await;
        }
    }

    pub async fn order(&self, id: &str) -> Value {
        let (status, body) = self
            .call(Method::GET, &format!("/api/v1/orders/{id}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "order {id}: {body}");
        body
    }

    /// Polls the order until its status is one of `states` (`timeout` at most).
    pub async fn order_reaches(&self, id: &str, states: &[&str], timeout: Duration) -> Value {
        crate::eventually(
            timeout,
            &format!("order {id} to reach {states:?}"),
            || async {
                let (status, body) = self
                    .call(Method::GET, &format!("/api/v1/orders/{id}"), None)
                    .await;
                (status == StatusCode::OK
                    && states.iter().any(|s| body["status"].as_str() == Some(s)))
                .then_some(body)
            },
        )
        .await
    }
}

/// A fresh SKU.
pub fn sku() -> String {
    format!("JRN-{}", &Uuid::now_v7().simple().to_string()[20..]).to_uppercase()
}

/// E-mails the SMTP sink received for `address`: (subject, Message-ID, whole text with
/// quoted-printable soft line breaks undone, so long lines can be searched) of each.
pub fn mails_to(address: &str) -> Vec<(String, String, String)> {
    let dir = std::env::var("STOREFRONT_SMTP_MAILDIR")
        .unwrap_or_else(|_| format!("{}/../.storefront/mail", env!("CARGO_MANIFEST_DIR")));
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let address = address.to_ascii_lowercase();
    let mut out = Vec::new();
    for e in entries.flatten() {
        let Ok(raw) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        let text = raw
            .replace("=\r\n", "")
            .replace("=\n", "")
            .replace("=3D", "=");
        let head = text.split("\r\n\r\n").next().unwrap_or(&text);
        let head = head.split("\n\n").next().unwrap_or(head);
        let header = |name: &str| {
            head.lines()
                .find(|l| l.to_ascii_lowercase().starts_with(&format!("{name}:")))
                .map(|l| l[name.len() + 1..].trim().to_owned())
                .unwrap_or_default()
        };
        if header("to").to_ascii_lowercase().contains(&address) {
            out.push((header("subject"), header("message-id"), text));
        }
    }
    out
}
