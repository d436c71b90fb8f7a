//! The purchase journey end to end, black box: the `storefront` binary runs every role as child
//! processes on free ports (tests/src/platform.rs) and the tests use only the gateway's REST API,
//! plus read-only looks at the SMTP sink, the payment database and the topics to count what
//! happened. Faults: roles killed with SIGKILL mid-run, the broker stopped for 30 s.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use storefront_tests::platform::{Options, Platform, PrivateBroker, ROLES, many_shoppers};
use storefront_tests::shopper::{CARD_DECLINED, CARD_OK, Shopper, mails_to, sku};
use uuid::Uuid;

const TERMINAL: [&str; 2] = ["paid", "cancelled"];

fn settle() -> Duration {
    Duration::from_secs(90)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_good_card_pays_commits_stock_empties_the_cart_and_mails_a_confirmation() {
    let p = Platform::start(Options::default()).await;
    let admin = Shopper::admin(&p).await;
    let item = sku();
    admin.product_with_stock(&item, 1999, 10).await;

    let ada = Shopper::register(&p, "ada").await;
    let (st, body) = ada.add_to_cart(&item, 2).await;
    assert!(st.is_success(), "add to cart: {body}");
    let cart = ada.cart().await;
    assert_eq!(cart["items"][0]["quantity"], 2, "{cart}");
    assert_eq!(cart["items"][0]["unit_price"]["amount"], 1999, "{cart}");

    let pm = ada.payment_method(CARD_OK).await;
    let (st, order) = ada.checkout(&pm, &Uuid::now_v7().to_string()).await;
    assert_eq!(st, StatusCode::CREATED, "checkout: {order}");
    assert_eq!(order["status"], "pending_payment");
    assert_eq!(order["total"]["amount"], 3998, "{order}");
    let id = order["id"].as_str().unwrap().to_owned();

    let paid = ada.order_reaches(&id, &["paid"], settle()).await;
    let history: Vec<&str> = paid["status_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["pending_payment", "paid"], "{paid}");

    // Stock committed: 2 units gone from on hand, nothing left reserved.
    storefront_tests::eventually(settle(), "stock committed", || async {
        (admin.stock(&item).await == (8, 0, 8)).then_some(())
    })
    .await;
    // The purchased lines left the cart.
    storefront_tests::eventually(settle(), "cart emptied", || async {
        let cart = ada.cart().await;
        cart["items"].as_array().unwrap().is_empty().then_some(())
    })
    .await;
    // One confirmation e-mail.
    let mails = storefront_tests::eventually(settle(), "confirmation e-mail", || async {
        let m = mails_to(&ada.email);
        (!m.is_empty()).then_some(m)
    })
    .await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(
        mails[0].0.to_lowercase().contains("order"),
        "subject: {}",
        mails[0].0
    );
    // Someone else cannot see the order.
    let eve = Shopper::register(&p, "eve").await;
    let (st, _) = eve
        .call(Method::GET, &format!("/api/v1/orders/{id}"), None)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_declined_card_cancels_the_order_returns_the_stock_and_mails_the_failure() {
    let p = Platform::start(Options::default()).await;
    let admin = Shopper::admin(&p).await;
    let item = sku();
    admin.product_with_stock(&item, 500, 3).await;
    let bob = Shopper::register(&p, "bob").await;
    bob.add_to_cart(&item, 3).await;
    let pm = bob.payment_method(CARD_DECLINED).await;
    let (st, order) = bob.checkout(&pm, &Uuid::now_v7().to_string()).await;
    assert_eq!(st, StatusCode::CREATED, "{order}");
    let id = order["id"].as_str().unwrap().to_owned();
    let cancelled = bob.order_reaches(&id, &["cancelled"], settle()).await;
    assert_eq!(
        cancelled["status_history"].as_array().unwrap().len(),
        2,
        "{cancelled}"
    );
    storefront_tests::eventually(settle(), "stock released", || async {
        (admin.stock(&item).await == (3, 0, 3)).then_some(())
    })
    .await;
    storefront_tests::eventually(settle(), "payment failed e-mail", || async {
        let m = mails_to(&bob.email);
        (m.len() == 1 && m[0].0.to_lowercase().contains("payment")).then_some(())
    })
    .await;
    // The cart keeps its lines (nothing was bought).
    assert_eq!(bob.cart().await["items"][0]["quantity"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_abandoned_reservation_expires_cancels_the_order_and_returns_the_stock() {
    // No payment role: the order waits in pending_payment until its reservation expires.
    let roles: Vec<&'static str> = ROLES.iter().copied().filter(|r| *r != "payment").collect();
    let p = Platform::start(Options {
        groups: vec![("all".into(), roles)],
        env: vec![
            ("STOREFRONT_ORDER__RESERVATION_TTL_SECS".into(), "5".into()),
            ("STOREFRONT_INVENTORY__MIN_TTL_SECS".into(), "1".into()),
            (
                "STOREFRONT_INVENTORY__SWEEPER_INTERVAL_MS".into(),
                "200".into(),
            ),
        ],
        ..Options::default()
    })
    .await;
    let admin = Shopper::admin(&p).await;
    let item = sku();
    admin.product_with_stock(&item, 700, 5).await;
    let cid = Shopper::register(&p, "cid").await;
    cid.add_to_cart(&item, 4).await;
    // Payment methods live in the payment role, which is not running: any id will do.
    let (st, order) = cid
        .checkout(&Uuid::now_v7().to_string(), &Uuid::now_v7().to_string())
        .await;
    assert_eq!(st, StatusCode::CREATED, "{order}");
    assert_eq!(admin.stock(&item).await, (5, 4, 1));
    let id = order["id"].as_str().unwrap().to_owned();
    let cancelled = cid.order_reaches(&id, &["cancelled"], settle()).await;
    let last = cancelled["status_history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["reason"], "reservation_expired", "{cancelled}");
    assert_eq!(admin.stock(&item).await, (5, 0, 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replayed_idempotency_key_returns_the_same_order_and_a_changed_body_is_refused() {
    let p = Platform::start(Options::default()).await;
    let admin = Shopper::admin(&p).await;
    let item = sku();
    admin.product_with_stock(&item, 1000, 10).await;
    let dan = Shopper::register(&p, "dan").await;
    dan.add_to_cart(&item, 1).await;
    let pm = dan.payment_method(CARD_OK).await;
    let key = Uuid::now_v7().to_string();
    let (st, first) = dan.checkout(&pm, &key).await;
    assert_eq!(st, StatusCode::CREATED, "{first}");
    let (st, again) = dan.checkout(&pm, &key).await;
    assert_eq!(st, StatusCode::CREATED, "{again}");
    assert_eq!(again["id"], first["id"]);
    // Same key, different body.
    let other_pm = dan.payment_method(CARD_OK).await;
    let (st, body) = dan.checkout(&other_pm, &key).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // Without a key: refused, and no order is made.
    let (st, body) = dan
        .call(
            Method::POST,
            "/api/v1/checkout",
            Some(Shopper::checkout_body(&pm)),
        )
        .await;
    assert!(st.is_client_error(), "{st} {body}");
    let (_, list) = dan.call(Method::GET, "/api/v1/orders", None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    // One reservation of one unit, whatever the replays.
    assert_eq!(admin.stock(&item).await.1, 1);
}

/// Waits until every order of `orders` is terminal; returns id -> status.
async fn settle_all(orders: &[(Shopper, String)]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (shopper, id) in orders {
        let o = shopper
            .order_reaches(id, &TERMINAL, Duration::from_secs(240))
            .await;
        out.insert(id.clone(), o["status"].as_str().unwrap().to_owned());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn five_hundred_concurrent_checkouts_for_a_hundred_units_never_oversell() {
    let p = Platform::start(Options {
        env: many_shoppers(),
        ..Options::default()
    })
    .await;
    let admin = Shopper::admin(&p).await;
    let item = sku();
    admin.product_with_stock(&item, 1500, 100).await;
    let mut users = Vec::new();
    for i in 0..100 {
        let u = Shopper::register(&p, &format!("c{i}")).await;
        let (st, b) = u.add_to_cart(&item, 1).await;
        assert!(st.is_success(), "{b}");
        let pm = u.payment_method(CARD_OK).await;
        users.push((u, pm));
    }
    let users = Arc::new(users);
    // Five checkouts per user, all at once, each with its own key.
    let mut tasks = Vec::new();
    for round in 0..5 {
        for i in 0..100 {
            let users = users.clone();
            tasks.push(tokio::spawn(async move {
                let (u, pm) = &users[i];
                let key = format!("{round}-{}", Uuid::now_v7());
                // Under this load some answers time out at the gateway; the client retries
                // with the same key, as a real one would.
                let (st, body) = u.checkout_until_answered(pm, &key).await;
                (i, st, body)
            }));
        }
    }
    let mut created = Vec::new();
    let (mut short, mut emptied) = (0, 0);
    for t in tasks {
        let (i, st, body) = t.await.unwrap();
        match st {
            StatusCode::CREATED => {
                created.push((users[i].0.clone(), body["id"].as_str().unwrap().to_owned()))
            }
            // Not enough stock left: the answer names the short line.
            StatusCode::CONFLICT => {
                assert_eq!(body["lines"][0]["sku"], item.as_str(), "{body}");
                short += 1
            }
            // The shopper's earlier order was paid meanwhile, which emptied the cart.
            StatusCode::UNPROCESSABLE_ENTITY
                if body["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("cart is empty")) =>
            {
                emptied += 1
            }
            other => panic!("checkout answered {other}: {body}"),
        }
    }
    assert!(short > 0, "the checkouts competed for the stock");
    assert_eq!(
        created.len(),
        100,
        "exactly the stock is sold ({short} refused as short, {emptied} after their cart was bought)"
    );
    assert_eq!(created.len() + short + emptied, 500);
    let statuses = settle_all(&created).await;
    let paid = statuses.values().filter(|s| *s == "paid").count();
    assert_eq!(paid, 100, "{statuses:?}");
    storefront_tests::eventually(settle(), "stock committed", || async {
        (admin.stock(&item).await == (0, 0, 0)).then_some(())
    })
    .await;
}

/// Counts charges per order in the platform's payment database.
async fn charges_per_order(p: &Platform) -> HashMap<Uuid, i64> {
    let pool = p.database("payment").await;
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT order_id, count(*) FROM transactions WHERE kind = 'charge' AND status = 'succeeded' GROUP BY order_id",
    )
    .fetch_all(&pool)
    .await
    .expect("counting charges");
    rows.into_iter().collect()
}

/// The amount of each order's succeeded charge.
async fn charged_amounts(p: &Platform) -> HashMap<Uuid, i64> {
    let pool = p.database("payment").await;
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT order_id, amount FROM transactions WHERE kind = 'charge' AND status = 'succeeded'",
    )
    .fetch_all(&pool)
    .await
    .expect("reading charges");
    rows.into_iter().collect()
}

/// What goes wrong between the thirds of a fault run.
enum Fault {
    /// SIGKILL a process group and start it again.
    Restart(&'static str),
    /// Kill the broker, keep it down this long, start it again.
    BrokerOutage(Duration),
}

/// Runs `n` checkouts by `users` shoppers (one unit each, plenty of stock) in three waves with
/// `faults[0]` and `faults[1]` between them; then checks that every order reaches a terminal
/// state, every paid order is charged once and mailed once, and stock settles exactly.
async fn checkouts_through_faults(
    p: &mut Platform,
    mut broker: Option<&mut PrivateBroker>,
    n: usize,
    users: usize,
    faults: [Fault; 2],
) {
    let admin = Shopper::admin(p).await;
    let item = sku();
    admin.product_with_stock(&item, 1200, (n as i64) * 2).await;
    // Promotions in the journey: an automatic one and a code every checkout enters, each
    // redeemed exactly once per order whatever dies meanwhile.
    let code = format!("F{}", &Uuid::now_v7().simple().to_string()[20..]).to_uppercase();
    let mut promotions = Vec::new();
    for body in [
        serde_json::json!({"name": "Fault sale", "benefit": {"type": "percent_off_order", "percent_bp": 500}}),
        serde_json::json!({"name": "Fault code", "code": code, "currency": "EUR", "usage_limit": n * 2,
            "per_customer_limit": 1, "benefit": {"type": "amount_off_order", "amount": 100}}),
    ] {
        let (st, promo) = admin
            .call(Method::POST, "/api/v1/admin/promotions", Some(body))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{promo}");
        promotions.push(promo["id"].as_str().unwrap().to_owned());
    }
    let mut shoppers = Vec::new();
    for i in 0..users {
        let u = Shopper::register(p, &format!("f{i}")).await;
        let pm = u.payment_method(CARD_OK).await;
        shoppers.push((u, pm));
    }
    let mut orders: Vec<(Shopper, String)> = Vec::new();
    let batch = n / 3;
    let wave = |count, offset| wave(&shoppers, &item, &code, count, offset);
    for stage in 0..3 {
        orders.extend(wave(batch, stage * batch).await);
        match faults.get(stage) {
            Some(Fault::Restart(group)) => p.restart(group).await,
            Some(Fault::BrokerOutage(d)) => {
                let b = broker.as_deref_mut().expect("a private broker");
                b.stop().await;
                // Orders keep coming in while it is down: the outbox holds their events.
                let extra = wave(10, n).await;
                tokio::time::sleep(*d).await;
                b.resume().await;
                orders.extend(extra);
            }
            None => {}
        }
    }
    let statuses = settle_all(&orders).await;
    let paid: HashSet<String> = statuses
        .iter()
        .filter(|(_, s)| *s == "paid")
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(
        paid.len(),
        orders.len(),
        "every order with a good card is paid: {statuses:?}"
    );
    let charges = charges_per_order(p).await;
    for id in &paid {
        let id = Uuid::parse_str(id).unwrap();
        assert_eq!(
            charges.get(&id).copied(),
            Some(1),
            "order {id} charged once"
        );
    }
    // Each order got both promotions, was charged exactly its discounted total, and each
    // promotion counts one use per order.
    let amounts = charged_amounts(p).await;
    for (u, id) in &orders {
        let o = u.order(id).await;
        assert_eq!(o["promotion_code"], code.as_str(), "{o}");
        assert_eq!(
            o["breakdown"]["applied"].as_array().unwrap().len(),
            2,
            "{o}"
        );
        let total = o["total"]["amount"].as_i64().unwrap();
        assert!(total < 1200 - 100, "{o}");
        assert_eq!(
            amounts.get(&Uuid::parse_str(id).unwrap()),
            Some(&total),
            "{o}"
        );
    }
    for id in &promotions {
        let (_, promo) = admin
            .call(Method::GET, &format!("/api/v1/admin/promotions/{id}"), None)
            .await;
        assert_eq!(promo["uses"].as_u64(), Some(orders.len() as u64), "{promo}");
    }
    // Count the events: every order has exactly one `order.created`, one `payment.completed`
    // and one `order.paid` on its topic (a redelivered copy repeats the same event id; none
    // is missing, none was made twice), and no other order got any.
    let ids: HashSet<String> = orders.iter().map(|(_, id)| id.clone()).collect();
    for (topic, types) in [
        ("order-events", &["order.created", "order.paid"][..]),
        ("payment-events", &["payment.completed"][..]),
    ] {
        let messages =
            storefront_tests::read_topic(&p.kafka, &format!("{}.{topic}", p.prefix)).await;
        for ty in types {
            let mut per_order: HashMap<String, HashSet<String>> = HashMap::new();
            for m in messages.iter().filter(|m| m["type"] == *ty) {
                let order = m["data"]["order_id"].as_str().expect("order_id").to_owned();
                let id = m["id"].as_str().expect("event id").to_owned();
                per_order.entry(order).or_default().insert(id);
            }
            let seen: HashSet<String> = per_order.keys().cloned().collect();
            assert_eq!(seen, ids, "{ty}: one order each on {topic}");
            for (order, events) in &per_order {
                assert_eq!(events.len(), 1, "{ty} for {order}: {events:?}");
            }
        }
    }
    // One confirmation per paid order, per shopper.
    let mut per_user: HashMap<String, usize> = HashMap::new();
    for (u, _) in &orders {
        *per_user.entry(u.email.clone()).or_default() += 1;
    }
    for (email, count) in per_user {
        let mails = storefront_tests::eventually(settle(), "confirmations", || async {
            let m = mails_to(&email);
            (m.len() >= count).then_some(m)
        })
        .await;
        assert_eq!(mails.len(), count, "{email}: one e-mail per paid order");
        let ids: HashSet<_> = mails.iter().map(|m| m.1.clone()).collect();
        assert_eq!(ids.len(), count, "distinct Message-IDs");
    }
    // Stock: exactly the sold units left on hand, none stuck reserved.
    storefront_tests::eventually(settle(), "stock settles", || async {
        let (on_hand, reserved, _) = admin.stock(&item).await;
        (reserved == 0 && on_hand == (n as i64) * 2 - orders.len() as i64).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn killing_order_and_payment_mid_run_loses_and_duplicates_nothing() {
    let core: Vec<&'static str> = ROLES
        .iter()
        .copied()
        .filter(|r| !matches!(*r, "order" | "payment"))
        .collect();
    let mut p = Platform::start(Options {
        groups: vec![
            ("core".into(), core),
            ("order".into(), vec!["order"]),
            ("payment".into(), vec!["payment"]),
        ],
        env: many_shoppers(),
        ..Options::default()
    })
    .await;
    checkouts_through_faults(
        &mut p,
        None,
        300,
        310,
        [Fault::Restart("order"), Fault::Restart("payment")],
    )
    .await;
}

/// `count` checkouts at once (shoppers `offset..offset + count`), each retried with its
/// key until it gets a definite answer; every one must create an order.
async fn wave(
    shoppers: &[(Shopper, String)],
    item: &str,
    code: &str,
    count: usize,
    offset: usize,
) -> Vec<(Shopper, String)> {
    let mut tasks = Vec::new();
    for i in 0..count {
        // One checkout per shopper: each order is exactly the one unit in that cart.
        let (u, pm) = shoppers[offset + i].clone();
        let item = item.to_owned();
        let mut body = Shopper::checkout_body(&pm);
        body["promotion_code"] = code.into();
        tasks.push(tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
            loop {
                let (st, b) = u.add_to_cart(&item, 1).await;
                if st.is_success() || tokio::time::Instant::now() >= deadline {
                    assert!(st.is_success(), "add to cart: {st} {b}");
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let key = Uuid::now_v7().to_string();
            let (st, body) = u.checkout_until_answered_with(body, &key).await;
            (u, st, body)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        let (u, st, body) = t.await.unwrap();
        assert_eq!(st, StatusCode::CREATED, "checkout: {body}");
        out.push((u, body["id"].as_str().unwrap().to_owned()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn a_thirty_second_broker_outage_loses_and_duplicates_nothing() {
    let mut broker = PrivateBroker::start().await;
    let mut p = Platform::start(Options {
        kafka: Some(broker.address()),
        env: many_shoppers(),
        ..Options::default()
    })
    .await;
    checkouts_through_faults(
        &mut p,
        Some(&mut broker),
        90,
        100,
        [
            Fault::BrokerOutage(Duration::from_secs(30)),
            Fault::Restart("all"),
        ],
    )
    .await;
}
