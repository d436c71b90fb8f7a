//! Honest answers when an upstream is slow or busy: a gRPC call that runs out of time is 504
//! (never 499), and a busy service's 503 keeps its `Retry-After`.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;

use crate::config::Config;
use crate::{AppState, app};

/// A TCP listener that accepts connections and never answers (a hung service).
async fn silent_upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn an_upstream_that_does_not_answer_in_time_is_504_not_499() {
    let mut cfg = Config::default();
    cfg.gateway.listen = "127.0.0.1:0".parse().unwrap();
    cfg.common.redis.key_prefix = format!("test-{}:", uuid::Uuid::now_v7());
    cfg.gateway.upstreams.product = silent_upstream().await;
    cfg.gateway.upstreams.auth = silent_upstream().await;
    cfg.gateway.upstreams.timeout_ms = 300;
    let state = AppState::new(cfg).await.unwrap();
    for (method, uri, body) in [
        ("GET", "/api/v1/products/some-product", None),
        (
            "POST",
            "/api/v1/auth/login",
            Some(r#"{"email":"a@example.com","password":"whatever1"}"#),
        ),
    ] {
        let started = Instant::now();
        let mut req = Request::builder().method(method).uri(uri);
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(body.map(Body::from).unwrap_or_else(Body::empty))
            .unwrap();
        let resp = app(state.clone()).oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::GATEWAY_TIMEOUT, "{method} {uri}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the upstream deadline applies"
        );
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["status"], 504, "{v}");
        assert_eq!(v["title"], "Gateway Timeout");
    }
}

/// One slow service fills its in-flight budget: the next request to it is shed at once with
/// 503 and `Retry-After`, while other services and the health routes keep answering.
#[tokio::test]
async fn a_full_upstream_sheds_with_503_and_health_keeps_answering() {
    let mut cfg = Config::default();
    cfg.gateway.listen = "127.0.0.1:0".parse().unwrap();
    cfg.common.redis.key_prefix = format!("test-{}:", uuid::Uuid::now_v7());
    cfg.gateway.upstreams.product = silent_upstream().await;
    cfg.gateway.upstreams.timeout_ms = 3_000;
    cfg.gateway.max_in_flight_per_upstream = 2;
    let state = AppState::new(cfg).await.unwrap();
    let app = app(state);
    let get = move |uri: &'static str| {
        let app = app.clone();
        async move {
            app.oneshot(Request::get(uri).body(Body::empty()).unwrap())
                .await
                .unwrap()
        }
    };
    // Six requests at once for a budget of two: two wait on the silent service (504 after the
    // upstream deadline), the others are shed at once.
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let get = get.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let r = get("/api/v1/products/some-product").await;
                (r, started.elapsed())
            })
        })
        .collect();
    let health = get("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK, "health is never shed");
    let (mut shed, mut timed_out) = (0, 0);
    for c in calls {
        let (r, took) = c.await.unwrap();
        match r.status() {
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(r.headers().contains_key(header::RETRY_AFTER));
                assert!(
                    took < Duration::from_secs(2),
                    "shed at once, not after a wait"
                );
                shed += 1;
            }
            StatusCode::GATEWAY_TIMEOUT => timed_out += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(timed_out, 2, "the budget of two was used");
    assert_eq!(shed, 4);
}
