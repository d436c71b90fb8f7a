//! Recommendations end to end: the real product, recommendation, event and recommender roles on
//! 127.0.0.1:0 with their own database, Redis key prefix and topic prefix, and the gateway in
//! front, driven over REST; the recommender's Redis state is inspected directly.

use std::collections::BTreeMap;
use std::time::Duration;

use redis::AsyncCommands;
use reqwest::StatusCode;
use serde_json::{Value, json};
use storefront_kit::cache::Keys;
use storefront_kit::config::KafkaSettings;
use storefront_kit::events::{CloudEvent, topics};
use storefront_kit::jwt::Role;
use storefront_tests::stack::{Client, Stack, order_paid, publish};
use storefront_tests::{column, eur, eventually, sku};
use uuid::Uuid;

/// Product, recommendation and gateway (with `pipeline`, also event and recommender), stopped
/// on drop.
struct Recs {
    stack: Stack,
    admin: Client,
    keys: Keys,
    redis: redis::aio::ConnectionManager,
}

storefront_tests::deref_stack!(Recs);

/// A stack with every topic of the platform.
async fn test_stack() -> Stack {
    let stack = Stack::new("it_rec").await;
    stack.topics(&topics::ALL).await;
    stack
}

impl Recs {
    /// Product, recommendation and gateway; with `pipeline`, also event and recommender.
    async fn start(pipeline: bool) -> Self {
        let mut stack = test_stack().await;
        let product = stack.product(|_| {}).await.url();
        let rec = stack
            .recommendation(|c| c.recommendation.product_url = product.clone())
            .await;
        let mut event_url = None;
        if pipeline {
            event_url = Some(stack.event(|_| {}).await.url());
            stack.recommender(|_| {}).await;
        }
        stack
            .gateway(|gw| {
                gw.gateway.upstreams.product = product;
                gw.gateway.upstreams.recommendation = rec.url();
                if let Some(url) = event_url {
                    gw.gateway.upstreams.event = url;
                }
                gw.gateway.rate_limit.enabled = false;
            })
            .await;
        let redis = stack.redis().await;
        Self {
            admin: stack.client(&stack.admin()),
            keys: Keys::new(&stack.common.redis),
            redis,
            stack,
        }
    }

    fn token(&self, user: Uuid) -> String {
        self.stack.token(user, vec![Role::Customer])
    }

    /// Creates an active product with one variant; returns (id, sku).
    async fn product(&self, name: &str) -> (String, String) {
        let sku = sku();
        let (code, body) = self
            .admin
            .post(
                "/api/v1/admin/products",
                json!({"name": name, "status": "active", "variants": [
                    {"sku": sku, "price": eur(1999), "attributes": {}}
                ]}),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
        (body["id"].as_str().unwrap().to_owned(), sku)
    }

    async fn recs(&self, query: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.get_as(format!("/api/v1/recommendations?{query}"), token)
            .await
    }

    async fn track(&self, user: Uuid, events: Value) {
        let (code, body) = self
            .post(
                "/api/v1/events",
                &self.token(user),
                json!({"events": events}),
            )
            .await;
        assert_eq!(code, StatusCode::ACCEPTED, "{body}");
        assert!(body["rejected"].as_array().unwrap().is_empty(), "{body}");
    }
}

fn ids(body: &Value) -> Vec<String> {
    column(&body["items"], "id")
}

fn sources(body: &Value) -> Vec<String> {
    column(&body["items"], "source")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallbacks_work_with_an_empty_redis_and_skip_archived_sold_out_and_viewed_products() {
    let s = Recs::start(false).await;
    let (p1, _) = s.product("First").await;
    let (p2, _) = s.product("Second").await;
    let (p3, _) = s.product("Archived").await;
    let (p4, sold_out) = s.product("Sold Out").await;
    let archive = format!("/api/v1/admin/products/{p3}/archive");
    assert_eq!(s.admin.post(archive, None).await.0, StatusCode::OK);
    let stock = CloudEvent::new(
        "/storefront/inventory",
        "inventory.stock_changed",
        Some(sold_out.clone()),
        json!({"sku": sold_out, "on_hand": 0, "reserved": 0, "available": 0, "reason": "correction"}),
    );
    publish(&s.common.kafka, topics::INVENTORY_EVENTS, &sold_out, &stock).await;
    eventually(Duration::from_secs(30), "p4 to be sold out", || async {
        let (_, p) = s.get(format!("/api/v1/products/{p4}")).await;
        (p["variants"][0]["in_stock"] == false).then_some(())
    })
    .await;

    // Empty Redis: every kind ends at the newest active products with stock.
    for (query, token) in [
        ("kind=popular", None),
        ("kind=trending&limit=5", None),
        ("", None),
        ("kind=personalized", Some(s.token(Uuid::now_v7()))),
    ] {
        let (code, body) = s.recs(query, token.as_deref()).await;
        assert_eq!(code, StatusCode::OK, "{query}: {body}");
        assert_eq!(ids(&body), [p2.clone(), p1.clone()], "{query}: {body}");
        assert_eq!(sources(&body), ["newest", "newest"], "{query}");
        assert_eq!(body["items"][0]["score"], Value::Null);
        assert_eq!(body["items"][0]["price"]["amount"], 1999);
        assert_eq!(body["next_cursor"], Value::Null);
    }
    let (_, body) = s.recs(&format!("kind=similar&product_id={p1}"), None).await;
    assert_eq!(ids(&body), [p2.as_str()], "never the product being viewed");
    assert_eq!(body["kind"], "similar");

    // Keys an ML pipeline wrote: archived, sold-out and unknown products are dropped.
    let mut r = s.redis.clone();
    let ghost = Uuid::now_v7().to_string();
    let _: () = r
        .zadd_multiple(
            s.keys.rec_popular(),
            &[
                (100.0, p3.as_str()),
                (90.0, p4.as_str()),
                (80.0, ghost.as_str()),
                (50.0, p1.as_str()),
            ],
        )
        .await
        .unwrap();
    let (_, body) = s.recs("kind=trending", None).await;
    assert_eq!(ids(&body), [p1.clone(), p2.clone()]);
    assert_eq!(sources(&body), ["popular", "newest"]);
    assert_eq!(body["items"][0]["score"], 50.0);
    let (_, body) = s.recs("kind=popular&limit=1", None).await;
    assert_eq!(ids(&body), [p1.as_str()]);
    let _: () = r.zadd(s.keys.rec_similar(&p2), &p1, 3.0).await.unwrap();
    let (_, body) = s.recs(&format!("kind=similar&product_id={p2}"), None).await;
    assert_eq!(ids(&body), [p1.as_str()]);
    assert_eq!(sources(&body), ["similar"]);

    for (query, field) in [
        ("kind=best", "kind"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("kind=similar", "product_id"),
        ("product_id=nope", "product_id"),
    ] {
        let (code, body) = s.recs(query, None).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(body["errors"][0]["field"], field, "{query}");
    }
    let (code, _) = s.recs("kind=popular", Some("not-a-token")).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_who_viewed_a_and_b_and_bought_c_shape_what_the_next_viewer_of_a_and_b_gets() {
    let s = Recs::start(true).await;
    let (a, _) = s.product("Alpha").await;
    let (b, _) = s.product("Bravo").await;
    let (c, _) = s.product("Charlie").await;
    let (d, _) = s.product("Delta").await;
    let views = |ids: &[&str]| -> Value {
        ids.iter()
            .map(|p| json!({"type": "product_viewed", "product_id": p}))
            .collect()
    };
    let buyers: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    for u in &buyers {
        s.track(*u, views(&[&a, &b])).await;
        let paid = order_paid(*u, &[(Uuid::parse_str(&c).unwrap(), 1)]);
        publish(
            &s.common.kafka,
            topics::ORDER_EVENTS,
            paid.subject.as_deref().unwrap(),
            &paid,
        )
        .await;
    }
    // Someone else looks at D alone.
    s.track(Uuid::now_v7(), views(&[&d])).await;
    let mut r = s.redis.clone();
    eventually(
        Duration::from_secs(60),
        "C to become similar to A and B",
        || {
            let mut r = r.clone();
            let keys = s.keys.clone();
            let (a, b, c) = (a.clone(), b.clone(), c.clone());
            async move {
                let sa: Option<f64> = r.zscore(keys.rec_similar(&a), &c).await.unwrap();
                let sb: Option<f64> = r.zscore(keys.rec_similar(&b), &c).await.unwrap();
                let pop: Option<f64> = r.zscore(keys.rec_popular(), &c).await.unwrap();
                (sa.is_some() && sb.is_some() && pop == Some(30.0)).then_some(())
            }
        },
    )
    .await;

    let viewer = Uuid::now_v7();
    s.track(viewer, views(&[&a, &b])).await;
    let token = s.token(viewer);
    let body = eventually(
        Duration::from_secs(30),
        "personalized recommendations for the viewer",
        || async {
            let (_, body) = s.recs("kind=personalized&limit=3", Some(&token)).await;
            // Once both views are applied, A and B are the viewer's own and C leads.
            (body["items"][0]["source"] == "personalized" && body["items"][0]["id"] == c.as_str())
                .then_some(body)
        },
    )
    .await;
    assert_eq!(body["items"][0]["id"], c.as_str(), "{body}");
    // The viewer's own recent items are not recommended back as personalized.
    for item in body["items"].as_array().unwrap() {
        if item["source"] == "personalized" {
            assert_ne!(item["id"], a.as_str());
            assert_ne!(item["id"], b.as_str());
        }
    }
    let personalized: Vec<(String, f64)> = r
        .zrevrange_withscores(s.keys.rec_personalized(viewer), 0, -1)
        .await
        .unwrap();
    assert_eq!(personalized[0].0, c);
    // The gateway keeps the viewer's answer for them (30 s at most; below, until their next
    // event is applied).
    let mine = || {
        s.req(
            reqwest::Method::GET,
            "/api/v1/recommendations?kind=personalized&limit=3",
        )
        .token(token.as_str())
        .full()
    };
    let (_, hd, cached) = mine().await;
    assert_eq!(hd["x-cache"], "hit");
    assert_eq!(hd["cache-control"], "private, no-store");
    assert!(!hd.contains_key("surrogate-control"));
    assert_eq!(cached, body);
    // Buyers are not offered what they bought.
    let offered: Vec<String> = r
        .zrange(s.keys.rec_personalized(buyers[0]), 0, -1)
        .await
        .unwrap();
    assert!(!offered.contains(&c), "{offered:?}");
    // Similar to A: C (bought after viewing A) ranks, A itself never.
    let (_, body) = s.recs(&format!("kind=similar&product_id={a}"), None).await;
    let similar = ids(&body);
    assert!(similar.contains(&c), "{body}");
    assert!(!similar.contains(&a));
    // Popularity weighs purchases above views.
    let pop: Vec<(String, f64)> = r
        .zrevrange_withscores(s.keys.rec_popular(), 0, -1)
        .await
        .unwrap();
    assert_eq!(pop[0], (c.clone(), 30.0), "{pop:?}");
    // The viewer's own next event: looking at C makes it theirs, so it leaves their
    // personalized list as soon as the event is applied, long before the answer cached above
    // would expire.
    let looked = std::time::Instant::now();
    s.track(viewer, views(&[&c])).await;
    eventually(
        Duration::from_secs(20),
        "C to leave the viewer's cached recommendations",
        || async {
            let (_, _, body) = mine().await;
            let personal = body["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["source"] == "personalized" && i["id"] == c.as_str());
            (!personal).then_some(())
        },
    )
    .await;
    assert!(looked.elapsed() < Duration::from_secs(25));
}

/// Every rec:* sorted set the recommender wrote for these products and users, with exact scores.
async fn snapshot(
    r: &mut redis::aio::ConnectionManager,
    keys: &Keys,
    products: &[Uuid],
    users: &[Uuid],
) -> BTreeMap<String, Vec<(String, String)>> {
    let mut names = vec![keys.rec_popular(), keys.rec_trending()];
    names.extend(products.iter().map(|p| keys.rec_similar(p)));
    names.extend(users.iter().map(|u| keys.rec_personalized(u)));
    let mut out = BTreeMap::new();
    for n in names {
        let v: Vec<(String, String)> = redis::cmd("ZRANGE")
            .arg(&n)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(r)
            .await
            .unwrap();
        out.insert(n, v);
    }
    out
}

fn tracking(kind: &str, user: Uuid, data: Value) -> CloudEvent {
    let mut d = data;
    d["user_id"] = json!(user);
    CloudEvent::new("/storefront/event", kind, Some(user.to_string()), d)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_the_recommender_does_not_count_twice() {
    let stack = test_stack().await;
    let c = stack.common.clone();
    let kafka: &KafkaSettings = &c.kafka;
    let keys = Keys::new(&c.redis);
    let products: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
    let users: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    for (i, u) in users.iter().enumerate() {
        let seen = if i == 2 {
            &products[..1]
        } else {
            &products[..3]
        };
        for p in seen {
            let ev = tracking("product.viewed", *u, json!({"product_id": p}));
            publish(kafka, topics::USER_EVENTS, &u.to_string(), &ev).await;
        }
        let ev = tracking(
            "purchase.completed",
            *u,
            json!({"items": [{"product_id": products[3], "quantity": 2}]}),
        );
        publish(kafka, topics::USER_EVENTS, &u.to_string(), &ev).await;
        // A view's copy on its own topic (the recommender reads `user-events`) must not count.
        let ev = tracking("product.viewed", *u, json!({"product_id": products[0]}));
        publish(kafka, topics::PRODUCT_VIEWS, &u.to_string(), &ev).await;
    }
    // p0: 3 views, p1: 2 views, p2: 2 views, p3: 3 purchases of 2 units (10 per unit).
    let expected = [3.0, 2.0, 2.0, 60.0];
    let mut r = storefront_kit::cache::connect(&c.redis).await.unwrap();
    let settled = || {
        let mut r = r.clone();
        let keys = keys.clone();
        let products = products.clone();
        async move {
            for (p, want) in products.iter().zip(expected) {
                let got: Option<f64> = r.zscore(keys.rec_popular(), p.to_string()).await.ok()?;
                if got != Some(want) {
                    return None;
                }
            }
            Some(())
        }
    };

    let first = stack.recommender(|_| {}).await;
    eventually(
        Duration::from_secs(60),
        "the first run to apply everything",
        settled,
    )
    .await;
    let before = snapshot(&mut r, &keys, &products, &users).await;
    assert!(!before[&keys.rec_similar(products[3])].is_empty());
    // The last user saw only p0: the others' p1 and p2 are offered, not what they bought.
    let offered: Vec<&str> = before[&keys.rec_personalized(users[2])]
        .iter()
        .map(|(m, _)| m.as_str())
        .collect();
    assert_eq!(offered.len(), 2, "{offered:?}");
    assert!(!offered.contains(&products[3].to_string().as_str()));
    first.stop().await.unwrap();

    // A new consumer group starts from the beginning of every topic: a full replay.
    let second = stack.recommender(|_| {}).await;
    // A marker after the replayed messages on the same partition: once it is applied, the
    // replay has been processed.
    let (marker_user, marker_product) = (Uuid::now_v7(), Uuid::now_v7());
    let ev = tracking(
        "product.viewed",
        marker_user,
        json!({"product_id": marker_product}),
    );
    publish(kafka, topics::USER_EVENTS, &marker_user.to_string(), &ev).await;
    let ev = tracking(
        "wishlist.item_added",
        marker_user,
        json!({"product_id": marker_product}),
    );
    publish(kafka, topics::USER_EVENTS, &marker_user.to_string(), &ev).await;
    eventually(Duration::from_secs(60), "the marker to be applied", || {
        let mut r = r.clone();
        let keys = keys.clone();
        async move {
            let got: Option<f64> = r
                .zscore(keys.rec_popular(), marker_product.to_string())
                .await
                .ok()?;
            (got == Some(4.0)).then_some(())
        }
    })
    .await;
    let mut after = snapshot(&mut r, &keys, &products, &users).await;
    let strip = |v: &mut Vec<(String, String)>| v.retain(|(m, _)| *m != marker_product.to_string());
    strip(after.get_mut(&keys.rec_popular()).unwrap());
    strip(after.get_mut(&keys.rec_trending()).unwrap());
    assert_eq!(after, before, "a replay changed the scores");
    second.stop().await.unwrap();
}
