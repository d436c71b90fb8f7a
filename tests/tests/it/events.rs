//! The event service end to end: the real event role on 127.0.0.1:0 with a fresh database and
//! its own topic prefix, the real gateway in front, driven over REST with tokens signed by a test
//! JWKS; what it publishes is read back from the broker.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use storefront_kit::config::KafkaSettings;
use storefront_kit::events::{CloudEvent, topics};
use storefront_kit::jwt::Role;
use storefront_tests::stack::{Stack, order_paid, publish};
use storefront_tests::{consumed, eventually};
use uuid::Uuid;

/// An event role and a gateway in front of it, stopped on drop.
struct Events {
    stack: Stack,
    event: SocketAddr,
    pool: sqlx::PgPool,
}

storefront_tests::deref_stack!(Events);

/// The topics an event role publishes to and consumes.
const TOPICS: [&str; 5] = [
    topics::USER_EVENTS,
    topics::PRODUCT_VIEWS,
    topics::CART_EVENTS,
    topics::SEARCH_EVENTS,
    topics::ORDER_EVENTS,
];

impl Events {
    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    async fn start_with(tweak: impl FnOnce(&mut storefront_event::Config)) -> Self {
        let mut stack = Stack::new("it_event").await;
        stack.topics(&TOPICS).await;
        let event = stack.event(tweak).await;
        let url = event.url();
        stack
            .gateway(|gw| {
                gw.gateway.upstreams.event = url;
                gw.gateway.rate_limit.enabled = false;
            })
            .await;
        Self {
            stack,
            event: event.addr,
            pool: event.state,
        }
    }

    fn token(&self, user: Uuid) -> String {
        self.stack.token(user, vec![Role::Customer])
    }

    /// POSTs a batch to `base` (the gateway, or the role itself) as a desktop Firefox.
    async fn track(&self, base: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let req = self.req_url(Method::POST, format!("{base}/api/v1/events"));
        let req = req.token(token).header("user-agent", FIREFOX);
        req.json(body).send().await
    }
}

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// Reads `topic` from the beginning until `n` messages match `pick`; returns (key, raw JSON).
async fn collect(
    kafka: &KafkaSettings,
    topic: &str,
    n: usize,
    pick: impl Fn(&Value) -> bool,
) -> Vec<(Option<String>, Value)> {
    storefront_tests::stack::collect(kafka, topic, n, Duration::from_secs(30), pick).await
}

fn assert_envelope(v: &Value, subject: &str) {
    for f in [
        "specversion",
        "id",
        "type",
        "source",
        "time",
        "subject",
        "datacontenttype",
        "data",
    ] {
        assert!(v.get(f).is_some(), "missing {f}: {v}");
    }
    assert_eq!(v["specversion"], "1.0");
    assert_eq!(v["source"], "/storefront/event");
    assert_eq!(v["datacontenttype"], "application/json");
    assert_eq!(v["subject"], subject);
    let id = Uuid::parse_str(v["id"].as_str().unwrap()).unwrap();
    assert_eq!(id.get_version_num(), 7);
    assert!(v["time"].as_str().unwrap().ends_with('Z'), "{v}");
    // Round-trips as the kit's envelope type.
    serde_json::from_value::<CloudEvent>(v.clone()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browsing_session_lands_on_the_right_topics_with_the_envelope() {
    let s = Events::start().await;
    let user = Uuid::now_v7();
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let (code, body) = s
        .track(
            &s.base,
            Some(&s.token(user)),
            json!({"session_id": "s-1", "events": [
                {"type": "search_performed", "query": "trail shoe", "results_count": 12},
                {"type": "product_clicked", "product_id": a, "list": "search", "position": 2},
                {"type": "product_viewed", "product_id": a, "occurred_at": "2020-01-01T00:00:00Z"},
                {"type": "product_viewed", "product_id": a},
                {"type": "cart_item_added", "product_id": a, "sku": "TS-RED-42", "quantity": 2},
                {"type": "wishlist_added", "product_id": b, "session_id": "s-2", "properties": {"from": "pdp"}},
            ]}),
        )
        .await;
    // The event dated 2020 is far too old; the others are recorded.
    assert_eq!(code, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["accepted"], 5, "{body}");
    assert_eq!(body["rejected"][0]["index"], 2, "{body}");
    assert_eq!(body["rejected"][0]["errors"][0]["field"], "occurred_at");
    assert_eq!(body["anonymous_id"], Value::Null);

    let subject = user.to_string();
    let mine = |v: &Value| v["subject"] == subject.as_str();
    let all = collect(&s.common.kafka, &s.topic(topics::USER_EVENTS), 5, mine).await;
    let types: Vec<&str> = all
        .iter()
        .map(|(_, v)| v["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "search.performed",
            "product.clicked",
            "product.viewed",
            "tracking.cart_item_added",
            "wishlist.item_added"
        ]
    );
    for (key, v) in &all {
        assert_eq!(key.as_deref(), Some(subject.as_str()), "keyed by user");
        assert_envelope(v, &subject);
        let d = &v["data"];
        assert_eq!(d["user_id"], subject.as_str());
        assert!(d["received_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(d["context"]["device"], "desktop");
        assert_eq!(d["context"]["browser"], "firefox");
        assert_eq!(d["context"]["os"], "linux");
        assert_eq!(d["context"]["ip_prefix"], "127.0.0.0/24");
        assert!(!v.to_string().contains("127.0.0.1"), "raw IP leaked: {v}");
    }
    assert_eq!(all[0].1["data"]["query"], "trail shoe");
    assert_eq!(all[0].1["data"]["session_id"], "s-1");
    assert_eq!(all[3].1["data"]["quantity"], 2);
    assert_eq!(all[4].1["data"]["session_id"], "s-2");
    assert_eq!(all[4].1["data"]["properties"]["from"], "pdp");

    // Each event is on its own topic too, with the same id.
    for (topic, n, index) in [
        (topics::PRODUCT_VIEWS, 2, 1),
        (topics::SEARCH_EVENTS, 1, 0),
        (topics::CART_EVENTS, 1, 3),
    ] {
        let got = collect(&s.common.kafka, &s.topic(topic), n, mine).await;
        assert_eq!(got[0].1["id"], all[index].1["id"], "{topic}");
        assert_envelope(&got[0].1, &subject);
    }

    // And a copy in event_db, with coarse client info only.
    let (events, meta): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM user_events WHERE user_id = $1),
                (SELECT count(*) FROM event_metadata m JOIN user_events e ON e.id = m.event_id
                  WHERE e.user_id = $1 AND m.ip_prefix = '127.0.0.0/24' AND m.browser = 'firefox')",
    )
    .bind(user)
    .fetch_one(&s.pool)
    .await
    .unwrap();
    assert_eq!((events, meta), (5, 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_events_get_per_item_errors_and_the_valid_ones_are_recorded() {
    let s = Events::start().await;
    let p = Uuid::now_v7();
    let (code, body) = s
        .track(
            &s.base,
            None,
            json!({"events": [
                {"type": "product_viewed", "product_id": p},
                {"type": "product_viewed"},
                {"type": "teleported"},
                {"type": "cart_item_added", "product_id": p, "sku": "bad sku", "quantity": 0},
                {"type": "purchase"},
                "not an object",
            ]}),
        )
        .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["accepted"], 1);
    let rejected: Vec<(u64, Vec<String>)> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap(),
                r["errors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["field"].as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        [
            (1, vec!["product_id".to_owned()]),
            (2, vec!["type".to_owned()]),
            (3, vec!["sku".to_owned(), "quantity".to_owned()]),
            (4, vec!["type".to_owned()]),
            (5, vec!["".to_owned()]),
        ]
    );
    // An anonymous caller gets an anonymous id to send again; the event is keyed by it.
    let anon = body["anonymous_id"].as_str().unwrap().to_owned();
    let got = collect(&s.common.kafka, &s.topic(topics::PRODUCT_VIEWS), 1, |v| {
        v["subject"] == anon.as_str()
    })
    .await;
    assert_eq!(got[0].0.as_deref(), Some(anon.as_str()));
    assert_eq!(got[0].1["data"]["anonymous_id"], anon.as_str());
    assert_eq!(got[0].1["data"]["user_id"], Value::Null);

    // Nothing valid: 422 naming each field by index.
    let (code, body) = s
        .track(
            &s.base,
            None,
            json!({"anonymous_id": anon, "events": [{"type": "search_performed"}]}),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "events[0].query");
    assert_eq!(body["rejected"][0]["index"], 0);
    // Batch limits and identities.
    let many: Vec<Value> = (0..501)
        .map(|_| json!({"type": "product_viewed", "product_id": p}))
        .collect();
    let (code, body) = s.track(&s.base, None, json!({"events": many})).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["field"], "events");
    let (code, body) = s.track(&s.base, None, json!({"events": []})).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (code, body) = s
        .track(
            &s.base,
            None,
            json!({"anonymous_id": "has spaces", "events": [{"type": "product_viewed", "product_id": p}]}),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["field"], "anonymous_id");
    let (code, _) = s
        .track(
            &s.base,
            Some("not-a-token"),
            json!({"events": [{"type": "product_viewed", "product_id": p}]}),
        )
        .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    let (code, _) = s.post_raw("/api/v1/events", None, "{not json").await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_order_becomes_one_purchase_event_even_when_delivered_twice() {
    let s = Events::start().await;
    let (user, product) = (Uuid::now_v7(), Uuid::now_v7());
    let paid = order_paid(user, &[(product, 3)]);
    let order_id = paid.subject.clone().unwrap();
    publish(&s.common.kafka, topics::ORDER_EVENTS, &order_id, &paid).await;
    publish(&s.common.kafka, topics::ORDER_EVENTS, &order_id, &paid).await;
    let subject = user.to_string();
    let got = collect(&s.common.kafka, &s.topic(topics::USER_EVENTS), 1, |v| {
        v["subject"] == subject.as_str()
    })
    .await;
    let (key, v) = &got[0];
    assert_eq!(key.as_deref(), Some(subject.as_str()));
    assert_envelope(v, &subject);
    assert_eq!(v["type"], "purchase.completed");
    assert_eq!(v["data"]["order_id"], order_id.as_str());
    assert_eq!(v["data"]["occurred_at"], "2026-01-31T10:15:00Z");
    assert_eq!(v["data"]["items"][0]["product_id"], product.to_string());
    assert_eq!(v["data"]["items"][0]["quantity"], 3);
    assert_eq!(v["data"]["total"]["amount"], 1999);
    eventually(
        Duration::from_secs(30),
        "the second delivery to be recognised",
        || async { (consumed(s.event, "duplicate").await >= 1).then_some(()) },
    )
    .await;
    let rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM user_events WHERE user_id = $1 AND event_type = 'purchase.completed'",
    )
    .bind(user)
    .fetch_one(&s.pool)
    .await
    .unwrap();
    assert_eq!(rows, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_broker_is_answered_429_with_retry_after_instead_of_queueing() {
    // Nothing listens on port 1: every message waits until it times out.
    let s = Events::start_with(|c| {
        c.common.kafka.brokers = "127.0.0.1:1".into();
        c.common.kafka.message_timeout_ms = 3_000;
        c.event.max_in_flight = 4;
    })
    .await;
    let base = format!("http://{}", s.event);
    let p = Uuid::now_v7();
    let view = json!({"type": "product_viewed", "product_id": p});
    // Two events are four messages: the whole budget. Both requests race for it; the one that
    // takes it waits for the broker, the other finds it taken. No ordering is assumed.
    let send = || async {
        let req = s.req_url(Method::POST, format!("{base}/api/v1/events"));
        let (code, headers, body) = req.json(json!({"events": [view, view]})).full().await;
        let retry = headers
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        ((code, body), retry)
    };
    let (a, b) = tokio::join!(send(), send());
    let (((c1, b1), _), ((c2, b2), retry)) = if a.0.0 == StatusCode::TOO_MANY_REQUESTS {
        (b, a)
    } else {
        (a, b)
    };
    assert_eq!(c2, StatusCode::TOO_MANY_REQUESTS, "{b2}");
    assert_eq!(retry.as_deref(), Some("1"));
    assert_eq!(b2["retry_after"], 1);
    // The one that took the budget gives up when the broker never acknowledges: retryable,
    // nothing half-kept in memory.
    assert_eq!(c1, StatusCode::SERVICE_UNAVAILABLE, "{b1}");
    // With the budget back, the next batch is tried again (and times out the same way).
    let (code, _) = s.track(&base, None, json!({"events": [view]})).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
}
