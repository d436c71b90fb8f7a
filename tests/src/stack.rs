//! One way for component tests to start what they need: [`Stack`] gives a test its own names
//! (database, Redis key, topic and bucket prefixes, consumer groups), a signing key served as a
//! JWKS, tokens, its topics, an optional gateway in front of the roles it starts, and HTTP and
//! Kafka helpers. Everything it started stops when it is dropped.

use std::time::Duration;

use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::FutureRecord;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use storefront_kit::Shutdown;
use storefront_kit::config::{Common, KafkaSettings};
use storefront_kit::events::CloudEvent;
use storefront_kit::jwt::Role;
use storefront_kit::jwt::testing::{TestKey, claims};
use uuid::Uuid;

use crate::{common, jwks_server, unique};

/// What one test runs against.
pub struct Stack {
    /// The shared settings, with this test's prefixes and JWKS URL.
    pub common: Common,
    /// The key test tokens are signed with (its JWKS is at `common.auth.jwks_url`).
    pub key: TestKey,
    /// The unique stem of every name this test uses.
    pub name: String,
    /// The gateway's base URL once [`Stack::gateway`] started one (else empty).
    pub base: String,
    /// The HTTP client of every call (a test may replace it, e.g. to bound each request).
    pub http: reqwest::Client,
    pub shutdown: Shutdown,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

impl Stack {
    /// Unique prefixes under `stem`: databases `<name>_`, Redis keys `<name>:`, topics
    /// `<name>.`, buckets `it-<random>-`; a fresh signing key served as a JWKS.
    pub async fn new(stem: &str) -> Self {
        let key = TestKey::generate(&format!("{stem}-key"));
        let mut c = common();
        let name = unique(stem);
        c.auth.jwks_url = jwks_server(&key).await;
        c.postgres.database_prefix = format!("{name}_");
        c.redis.key_prefix = format!("{name}:");
        c.kafka.topic_prefix = format!("{name}.");
        let tail = Uuid::now_v7().simple().to_string();
        c.s3.bucket_prefix = format!("it-{}-", &tail[20..]);
        Self {
            common: c,
            key,
            name,
            base: String::new(),
            http: reqwest::Client::new(),
            shutdown: Shutdown::new(),
        }
    }

    /// A consumer group (or database) name of its own.
    pub fn unique(&self, what: &str) -> String {
        unique(&format!("{}_{what}", self.name))
    }

    /// The configured name of `topic` for this test.
    pub fn topic(&self, topic: &str) -> String {
        storefront_kit::events::topic(&self.common.kafka, topic)
    }

    /// Creates this test's copies of `topics` (unprefixed names), one partition each.
    pub async fn topics(&self, topics: &[&str]) {
        self.topics_in(topics, 1).await
    }

    /// Creates this test's copies of `topics` with `partitions` partitions each.
    pub async fn topics_in(&self, topics: &[&str], partitions: i32) {
        let names: Vec<String> = topics.iter().map(|t| self.topic(t)).collect();
        storefront_kit::kafka::ensure_topics(&self.common.kafka, &names, partitions)
            .await
            .expect("creating topics (is the broker up? run scripts/dev-stack.sh up)");
    }

    /// A token of `user` with `roles`.
    pub fn token(&self, user: Uuid, roles: Vec<Role>) -> String {
        self.key.sign(&claims(user, roles, "storefront"))
    }

    /// A new customer and their token.
    pub fn customer(&self) -> (Uuid, String) {
        let id = Uuid::now_v7();
        (id, self.token(id, vec![Role::Customer]))
    }

    /// A connection to the Redis of the stack.
    pub async fn redis(&self) -> redis::aio::ConnectionManager {
        storefront_kit::cache::connect(&self.common.redis)
            .await
            .unwrap()
    }

    /// A token of a new admin.
    pub fn admin(&self) -> String {
        self.token(Uuid::now_v7(), vec![Role::Customer, Role::Admin])
    }

    /// Starts a gateway with this test's settings and rate limits no test reaches; `wire` points
    /// it at the roles the test started. Sets [`Stack::base`].
    pub async fn gateway(&mut self, wire: impl FnOnce(&mut storefront_gateway::Config)) -> String {
        let mut gw = storefront_gateway::Config {
            common: self.common.clone(),
            ..Default::default()
        };
        gw.gateway.listen = "127.0.0.1:0".parse().unwrap();
        gw.gateway.rate_limit.burst = 100_000;
        gw.gateway.rate_limit.per_ip_per_minute = 60_000;
        gw.gateway.rate_limit.per_user_per_minute = 60_000;
        gw.gateway.rate_limit.redis_timeout_ms = 1000;
        wire(&mut gw);
        let gateway = storefront_gateway::build(gw, self.shutdown.clone())
            .await
            .expect("gateway starts");
        self.base = format!("http://{}", gateway.local_addr());
        tokio::spawn(gateway.run());
        self.base.clone()
    }

    /// A request to the gateway (`path` after its base), to add to and send.
    pub fn req(&self, method: Method, path: impl AsRef<str>) -> Call {
        self.req_url(method, format!("{}{}", self.base, path.as_ref()))
    }

    /// A request to any `url` (a role called directly), to add to and send.
    pub fn req_url(&self, method: Method, url: impl AsRef<str>) -> Call {
        Call(self.http.request(method, url.as_ref()))
    }

    /// A client of the gateway acting with `token` (`None`: anonymously).
    pub fn client(&self, token: impl Bearer) -> Client {
        self.client_at(&self.base, token)
    }

    /// A client of `base` (a role called directly) acting with `token`.
    pub fn client_at(&self, base: impl AsRef<str>, token: impl Bearer) -> Client {
        Client {
            http: self.http.clone(),
            base: base.as_ref().to_owned(),
            token: token.bearer().map(str::to_owned),
        }
    }

    /// `method path` on the gateway with a bearer token (or `None`) and a JSON body (or `None`).
    pub async fn call(
        &self,
        method: Method,
        path: impl AsRef<str>,
        token: impl Bearer,
        body: impl Into<Option<Value>>,
    ) -> (StatusCode, Value) {
        self.req(method, path).token(token).json(body).send().await
    }

    /// An anonymous GET.
    pub async fn get(&self, path: impl AsRef<str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, None, None).await
    }

    /// A GET with `token`.
    pub async fn get_as(&self, path: impl AsRef<str>, token: impl Bearer) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    /// A POST of `body` (or none) with `token` (or none).
    pub async fn post(
        &self,
        path: impl AsRef<str>,
        token: impl Bearer,
        body: impl Into<Option<Value>>,
    ) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, body).await
    }

    /// A PUT of `body` (or none) with `token` (or none).
    pub async fn put(
        &self,
        path: impl AsRef<str>,
        token: impl Bearer,
        body: impl Into<Option<Value>>,
    ) -> (StatusCode, Value) {
        self.call(Method::PUT, path, token, body).await
    }

    /// A PATCH of `body` with `token` (or none).
    pub async fn patch(
        &self,
        path: impl AsRef<str>,
        token: impl Bearer,
        body: impl Into<Option<Value>>,
    ) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, token, body).await
    }

    /// A POST of `raw` as `application/json`, as it is (malformed JSON, wrong types).
    pub async fn post_raw(
        &self,
        path: impl AsRef<str>,
        token: impl Bearer,
        raw: &'static str,
    ) -> (StatusCode, Value) {
        let req = self.req(Method::POST, path).token(token);
        req.header("content-type", "application/json")
            .body(raw)
            .send()
            .await
    }

    /// A DELETE with `token` (or none).
    pub async fn delete(&self, path: impl AsRef<str>, token: impl Bearer) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, token, None).await
    }

    /// Publishes `event` on this test's `topic` (unprefixed) keyed by `key`.
    pub async fn publish(&self, topic: &str, key: &str, event: &CloudEvent) {
        publish(&self.common.kafka, topic, key, event).await
    }
}

/// A bearer token for a call: `&str`, `&String`, or an `Option<&str>` (`None`: anonymous).
pub trait Bearer {
    fn bearer(&self) -> Option<&str>;
}

impl Bearer for &str {
    fn bearer(&self) -> Option<&str> {
        Some(*self)
    }
}

impl Bearer for &String {
    fn bearer(&self) -> Option<&str> {
        Some(self.as_str())
    }
}

impl Bearer for Option<&str> {
    fn bearer(&self) -> Option<&str> {
        *self
    }
}

/// An HTTP client of one base URL (the gateway, or a role called directly) acting with one
/// token (or anonymously): the calls of [`Stack`] without the token argument.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
}

impl Client {
    /// A request to `path` (after the base) with this client's token, to add to and send.
    pub fn req(&self, method: Method, path: impl AsRef<str>) -> Call {
        let url = format!("{}{}", self.base, path.as_ref());
        Call(self.http.request(method, url)).token(self.token.as_deref())
    }

    /// `method path` with a JSON body (or `None`).
    pub async fn call(
        &self,
        method: Method,
        path: impl AsRef<str>,
        body: impl Into<Option<Value>>,
    ) -> (StatusCode, Value) {
        self.req(method, path).json(body).send().await
    }

    /// A GET.
    pub async fn get(&self, path: impl AsRef<str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    /// A POST of `body` (or none).
    pub async fn post(
        &self,
        path: impl AsRef<str>,
        body: impl Into<Option<Value>>,
    ) -> (StatusCode, Value) {
        self.call(Method::POST, path, body).await
    }

    /// A PUT of `body` (or none).
    pub async fn put(
        &self,
        path: impl AsRef<str>,
        body: impl Into<Option<Value>>,
    ) -> (StatusCode, Value) {
        self.call(Method::PUT, path, body).await
    }

    /// A PATCH of `body`.
    pub async fn patch(
        &self,
        path: impl AsRef<str>,
        body: impl Into<Option<Value>>,
    ) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, body).await
    }

    /// A DELETE.
    pub async fn delete(&self, path: impl AsRef<str>) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None).await
    }
}

/// A request being built by [`Stack::req`]: add a token, headers and a body, then send it.
pub struct Call(reqwest::RequestBuilder);

impl Call {
    /// With `token` as the bearer (nothing for `None`).
    pub fn token(self, token: impl Bearer) -> Self {
        match token.bearer() {
            Some(t) => Self(self.0.bearer_auth(t)),
            None => self,
        }
    }

    /// With a header.
    pub fn header(self, name: &str, value: impl AsRef<str>) -> Self {
        Self(self.0.header(name, value.as_ref()))
    }

    /// With `raw` as the body, as it is (set the content type with [`Call::header`]).
    pub fn body(self, raw: &'static str) -> Self {
        Self(self.0.body(raw))
    }

    /// With `body` as JSON (nothing for `None`).
    pub fn json(self, body: impl Into<Option<Value>>) -> Self {
        match body.into() {
            Some(b) => Self(self.0.json(&b)),
            None => self,
        }
    }

    /// Sends it: the status and body (see [`read`]).
    pub async fn send(self) -> (StatusCode, Value) {
        read(self.0.send().await.unwrap()).await
    }

    /// Sends it: the status, headers and body (see [`read`]).
    pub async fn full(self) -> (StatusCode, HeaderMap, Value) {
        read_full(self.0.send().await.unwrap()).await
    }
}

/// The status and JSON body of a response (`null` when it has none, the text when it is not
/// JSON). Every error answer must be problem+json.
pub async fn read(resp: reqwest::Response) -> (StatusCode, Value) {
    let (status, _, body) = read_full(resp).await;
    (status, body)
}

/// [`read`], with the headers.
pub async fn read_full(resp: reqwest::Response) -> (StatusCode, HeaderMap, Value) {
    let status = resp.status();
    let headers = resp.headers().clone();
    let is_problem = headers
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    if status.is_client_error() || status.is_server_error() {
        assert!(is_problem, "{status} without problem+json: {body}");
    }
    (status, headers, body)
}

/// Publishes `event` on `topic` (unprefixed) keyed by `key`.
pub async fn publish(kafka: &KafkaSettings, topic: &str, key: &str, event: &CloudEvent) {
    let producer = storefront_kit::kafka::producer(kafka).unwrap();
    let topic = storefront_kit::events::topic(kafka, topic);
    let payload = serde_json::to_vec(event).unwrap();
    producer
        .send(
            FutureRecord::to(&topic).key(key).payload(&payload),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();
}

/// Publishes `event` on `topic` (the configured name), keyed by its subject (else its id).
pub async fn produce(kafka: &KafkaSettings, topic: &str, event: &CloudEvent) {
    let producer = storefront_kit::kafka::producer(kafka).unwrap();
    let payload = serde_json::to_vec(event).unwrap();
    let key = event
        .subject
        .clone()
        .unwrap_or_else(|| event.id.to_string());
    producer
        .send(
            FutureRecord::to(topic).key(&key).payload(&payload),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();
}

/// An `order.paid` as order publishes it: `lines` of (product, quantity) at 19.99 EUR each.
pub fn order_paid(user: Uuid, lines: &[(Uuid, i64)]) -> CloudEvent {
    use storefront_kit::contracts::Money;
    use storefront_kit::contracts::events::order::{OrderLine, OrderPaid};
    let order = Uuid::now_v7();
    let items = lines
        .iter()
        .map(|(p, q)| OrderLine {
            sku: format!("SKU-{}", &p.simple().to_string()[20..]),
            product_id: *p,
            name: "Thing".into(),
            quantity: *q,
            unit_price: Money::new(1999, "EUR"),
        })
        .collect();
    CloudEvent::of(
        Some(order.to_string()),
        &OrderPaid {
            order_id: order,
            user_id: user,
            total: Money::new(1999, "EUR"),
            items,
            breakdown: None,
            shipping_method: None,
            promotion_code: None,
            transaction_id: Some(Uuid::now_v7().to_string()),
            paid_at: time::macros::datetime!(2026-01-31 10:15:00 UTC),
        },
    )
}

/// Reads `topic` (the configured name) from the beginning until `want` messages satisfy `pick`;
/// the key and JSON of each. Panics after `timeout`.
pub async fn collect(
    kafka: &KafkaSettings,
    topic: &str,
    want: usize,
    timeout: Duration,
    pick: impl Fn(&Value) -> bool,
) -> Vec<(Option<String>, Value)> {
    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &kafka.brokers)
        .set("group.id", unique("it-reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < want {
        let msg = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "only {} of {want} matching messages on {topic} within {timeout:?}",
                    out.len()
                )
            });
        let Ok(msg) = msg else { continue };
        let Some(v) = msg
            .payload()
            .and_then(|p| serde_json::from_slice::<Value>(p).ok())
        else {
            continue;
        };
        if pick(&v) {
            let key = msg
                .key()
                .and_then(|k| std::str::from_utf8(k).ok())
                .map(str::to_owned);
            out.push((key, v));
        }
    }
    out
}

/// The first `want` CloudEvents on `topic` that `pick` accepts (see [`collect`]).
pub async fn find_events(
    kafka: &KafkaSettings,
    topic: &str,
    want: usize,
    timeout: Duration,
    pick: impl Fn(&CloudEvent) -> bool,
) -> Vec<CloudEvent> {
    let decode = |v: &Value| serde_json::from_value::<CloudEvent>(v.clone()).ok();
    collect(kafka, topic, want, timeout, |v| {
        decode(v).is_some_and(|e| pick(&e))
    })
    .await
    .into_iter()
    .filter_map(|(_, v)| decode(&v))
    .collect()
}

/// The first CloudEvent on `topic` that `pick` accepts (see [`collect`]).
pub async fn find_event(
    kafka: &KafkaSettings,
    topic: &str,
    timeout: Duration,
    pick: impl Fn(&CloudEvent) -> bool,
) -> CloudEvent {
    find_events(kafka, topic, 1, timeout, pick)
        .await
        .pop()
        .expect("collect returns what it was asked for")
}
