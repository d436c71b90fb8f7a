//! The notification service end to end: the real notification role on 127.0.0.1:0 with its own
//! database and topics, events produced straight to the broker, and e-mails read back from the
//! dev stack's SMTP sink (`.storefront/mail/*.eml`): one e-mail per event however often it is
//! delivered, a Message-ID from the event id, events that arrive before `user.registered`
//! waiting for it, and an unreachable SMTP server retried with backoff, then given up and recorded.

use std::time::Duration;

use serde_json::json;
use sqlx::PgPool;
use storefront_kit::events::{CloudEvent, topics};
use storefront_tests::shopper::mails_to;
use storefront_tests::{consumed, eventually, unique, wait_count};
use uuid::Uuid;

use storefront_tests::stack::{Stack, produce};

/// A notification role on its own database and topics, stopped on drop.
struct Notifier {
    stack: Stack,
    pool: PgPool,
    addr: std::net::SocketAddr,
}

storefront_tests::deref_stack!(Notifier);

impl Notifier {
    async fn start(tweak: impl FnOnce(&mut storefront_notification::Config)) -> Self {
        let stack = Stack::new("it_mail").await;
        stack
            .topics(&[
                topics::USER_EVENTS,
                topics::ORDER_EVENTS,
                topics::PAYMENT_EVENTS,
            ])
            .await;
        let role = stack
            .notification(|c| {
                c.notification.poll_interval_ms = 100;
                c.notification.recipient_retry_ms = 200;
                c.notification.retry_initial_backoff_ms = 100;
                c.notification.retry_max_backoff_ms = 500;
                if let Ok(port) = std::env::var("STOREFRONT_SMTP_PORT") {
                    c.notification.smtp.port = port.parse().unwrap();
                }
                tweak(c);
            })
            .await;
        Self {
            pool: role.state,
            addr: role.addr,
            stack,
        }
    }

    async fn registered(&self, user: Uuid, email: &str) {
        let ev = CloudEvent::new(
            "/storefront/auth",
            "user.registered",
            Some(user.to_string()),
            json!({"user_id": user, "email": email, "display_name": "Ada",
                   "roles": ["customer"], "registered_at": "2026-11-26T10:00:00Z"}),
        );
        produce(&self.common.kafka, &self.topic(topics::USER_EVENTS), &ev).await;
    }

    async fn status(&self, event_id: Uuid) -> Option<(String, i32)> {
        sqlx::query_as("SELECT status, attempts FROM notifications WHERE event_id = $1")
            .bind(event_id)
            .fetch_optional(&self.pool)
            .await
            .unwrap()
    }
}

fn address() -> String {
    format!("{}@example.com", unique("shopper").to_lowercase())
}

async fn mails_eventually(to: &str, n: usize) -> Vec<(String, String, String)> {
    eventually(
        Duration::from_secs(60),
        &format!("{n} e-mail(s) to {to} in the SMTP sink"),
        || async move {
            let m = mails_to(to);
            (m.len() >= n).then_some(m)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_sends_one_email_with_a_message_id_from_the_event() {
    let n = Notifier::start(|_| {}).await;
    let user = Uuid::now_v7();
    let to = address();
    n.registered(user, &to).await;
    let order = Uuid::now_v7();
    let paid = CloudEvent::new(
        "/storefront/order",
        "order.paid",
        Some(order.to_string()),
        json!({"order_id": order, "user_id": user, "total": {"amount": 4598, "currency": "EUR"},
               "items": [{"sku": "MUG-1", "product_id": Uuid::now_v7(), "name": "Blue <Mug>", "quantity": 2,
                          "unit_price": {"amount": 2299, "currency": "EUR"}}],
               "transaction_id": Uuid::now_v7(), "paid_at": "2026-11-26T10:00:00Z"}),
    );
    let shipped = CloudEvent::new(
        "/storefront/order",
        "order.shipped",
        Some(order.to_string()),
        json!({"order_id": order, "user_id": user, "carrier": "DHL", "tracking_number": "JD0001",
               "shipped_at": "2026-11-27T10:00:00Z"}),
    );
    let refunded = CloudEvent::new(
        "/storefront/order",
        "order.refunded",
        Some(order.to_string()),
        json!({"order_id": order, "user_id": user, "amount": {"amount": 4598, "currency": "EUR"},
               "refunded_at": "2026-11-28T10:00:00Z"}),
    );
    let ignored = CloudEvent::new(
        "/storefront/order",
        "order.created",
        Some(order.to_string()),
        json!({"order_id": order, "user_id": user}),
    );
    let topic = n.topic(topics::ORDER_EVENTS);
    // Every event delivered twice.
    for ev in [
        &paid, &paid, &ignored, &shipped, &refunded, &shipped, &refunded,
    ] {
        produce(&n.common.kafka, &topic, ev).await;
    }
    let failed = CloudEvent::new(
        "/storefront/payment",
        "payment.failed",
        Some(order.to_string()),
        json!({"order_id": order, "user_id": user, "code": "card_declined",
               "message": "The card was declined by its issuer."}),
    );
    let ptopic = n.topic(topics::PAYMENT_EVENTS);
    produce(&n.common.kafka, &ptopic, &failed).await;
    produce(&n.common.kafka, &ptopic, &failed).await;

    let got = mails_eventually(&to, 4).await;
    // Every delivery handled (the duplicates too) before counting.
    let sent = "SELECT count(*) FROM notifications WHERE status = 'sent'";
    wait_count(&n.pool, sent, 4, Duration::from_secs(60)).await;
    let addr = n.addr;
    eventually(
        Duration::from_secs(60),
        "the redeliveries recognised",
        || async move { (consumed(addr, "duplicate").await == 4).then_some(()) },
    )
    .await;
    let got = if got.len() == 4 { got } else { mails_to(&to) };
    assert_eq!(
        got.len(),
        4,
        "one e-mail per event: {:?}",
        got.iter().map(|m| &m.0).collect::<Vec<_>>()
    );
    let short = &order.to_string()[..8];
    let find = |needle: &str| {
        got.iter()
            .find(|m| m.0.contains(needle))
            .unwrap_or_else(|| {
                panic!(
                    "no mail with `{needle}` in {:?}",
                    got.iter().map(|m| &m.0).collect::<Vec<_>>()
                )
            })
    };
    let confirmation = find("confirmed");
    assert!(confirmation.0.contains(short), "{}", confirmation.0);
    assert_eq!(confirmation.1, format!("<{}@storefront.local>", paid.id));
    assert!(confirmation.2.contains("text/plain") && confirmation.2.contains("text/html"));
    assert!(confirmation.2.contains("EUR 45.98"), "{}", confirmation.2);
    assert!(
        confirmation.2.contains("Blue &lt;Mug&gt;"),
        "HTML is escaped"
    );
    assert_eq!(
        find("shipped").1,
        format!("<{}@storefront.local>", shipped.id)
    );
    assert!(find("shipped").2.contains("JD0001"));
    assert_eq!(
        find("refund").1,
        format!("<{}@storefront.local>", refunded.id)
    );
    assert_eq!(
        find("failed").1,
        format!("<{}@storefront.local>", failed.id)
    );
    let (status, attempts) = n.status(paid.id).await.unwrap();
    assert_eq!((status.as_str(), attempts), ("sent", 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_waits_for_its_recipient_instead_of_being_dropped() {
    let n = Notifier::start(|_| {}).await;
    let user = Uuid::now_v7();
    let to = address();
    let order = Uuid::now_v7();
    let failed = CloudEvent::new(
        "/storefront/payment",
        "payment.failed",
        Some(order.to_string()),
        json!({"order_id": order, "user_id": user, "code": "provider_unavailable",
               "message": "The payment provider did not answer."}),
    );
    produce(&n.common.kafka, &n.topic(topics::PAYMENT_EVENTS), &failed).await;
    let pool = n.pool.clone();
    let id = failed.id;
    eventually(
        Duration::from_secs(60),
        "the e-mail recorded and waiting",
        || {
            let pool = pool.clone();
            async move {
                let row: Option<(String, Option<String>)> = sqlx::query_as(
                    "SELECT status, last_error FROM notifications WHERE event_id = $1",
                )
                .bind(id)
                .fetch_optional(&pool)
                .await
                .unwrap();
                row.filter(|(s, e)| {
                    s == "pending" && e.as_deref() == Some("recipient not known yet")
                })
            }
        },
    )
    .await;
    assert!(mails_to(&to).is_empty());
    n.registered(user, &to).await;
    let got = mails_eventually(&to, 1).await;
    assert!(got[0].0.contains("payment for order"), "{}", got[0].0);
    assert!(got[0].2.contains("Hello Ada,"), "{}", got[0].2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_smtp_server_is_retried_with_backoff_then_given_up_and_recorded() {
    // A port nothing listens on: every attempt fails before anything is handed over.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let n = Notifier::start(|c| {
        c.notification.smtp.port = port;
        c.notification.max_attempts = 3;
    })
    .await;
    let user = Uuid::now_v7();
    n.registered(user, &address()).await;
    let order = Uuid::now_v7();
    let shipped = CloudEvent::new(
        "/storefront/order",
        "order.shipped",
        Some(order.to_string()),
        json!({"order_id": order, "user_id": user, "carrier": "UPS", "tracking_number": "1Z",
               "shipped_at": "2026-11-27T10:00:00Z"}),
    );
    produce(&n.common.kafka, &n.topic(topics::ORDER_EVENTS), &shipped).await;
    let id = shipped.id;
    let n_ref = &n;
    let (status, attempts) = eventually(
        Duration::from_secs(60),
        "the e-mail given up after 3 attempts",
        || async move { n_ref.status(id).await.filter(|(s, _)| s == "failed") },
    )
    .await;
    assert_eq!((status.as_str(), attempts), ("failed", 3));
    let err: Option<String> =
        sqlx::query_scalar("SELECT last_error FROM notifications WHERE event_id = $1")
            .bind(id)
            .fetch_one(&n.pool)
            .await
            .unwrap();
    assert!(
        err.unwrap_or_default().contains("connecting"),
        "a definite failure"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_interrupted_mid_send_is_marked_unknown_and_not_sent_again() {
    let n = Notifier::start(|_| {}).await;
    let user = Uuid::now_v7();
    let to = address();
    n.registered(user, &to).await;
    // What a crash during the SMTP session leaves behind: a claimed row, long ago.
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO notifications (event_id, event_type, kind, user_id, payload, status, attempts, claimed_at)
         VALUES ($1, 'order.shipped', 'order_shipped', $2, $3, 'sending', 1, now() - interval '1 hour')",
    )
    .bind(id)
    .bind(user)
    .bind(json!({"order_id": Uuid::now_v7(), "user_id": user, "carrier": "DHL", "tracking_number": "X"}))
    .execute(&n.pool)
    .await
    .unwrap();
    let n_ref = &n;
    let (status, attempts) = eventually(
        Duration::from_secs(30),
        "the row marked unknown",
        || async move { n_ref.status(id).await.filter(|(s, _)| s == "unknown") },
    )
    .await;
    assert_eq!((status.as_str(), attempts), ("unknown", 1));
    // The same event delivered again does not send it either.
    let again = CloudEvent {
        id,
        ..CloudEvent::new(
            "/storefront/order",
            "order.shipped",
            None,
            json!({"order_id": Uuid::now_v7(), "user_id": user, "carrier": "DHL", "tracking_number": "X"}),
        )
    };
    produce(&n.common.kafka, &n.topic(topics::ORDER_EVENTS), &again).await;
    // A later e-mail to the same person goes out, so the sender is alive and past that event.
    let later = CloudEvent::new(
        "/storefront/order",
        "order.refunded",
        None,
        json!({"order_id": Uuid::now_v7(), "user_id": user, "amount": {"amount": 100, "currency": "EUR"}}),
    );
    produce(&n.common.kafka, &n.topic(topics::ORDER_EVENTS), &later).await;
    let got = mails_eventually(&to, 1).await;
    assert!(got[0].0.contains("refund"), "{}", got[0].0);
    assert_eq!(
        mails_to(&to).len(),
        1,
        "the interrupted e-mail was not sent again"
    );
    assert_eq!(n.status(id).await.unwrap().0, "unknown");
}
