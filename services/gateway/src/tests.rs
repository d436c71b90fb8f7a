//! Router tests: the whole middleware stack through `tower::ServiceExt::oneshot`, with real
//! Redis at 127.0.0.1:6379 for rate limiting and a JWKS served from 127.0.0.1:0.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderName, Request, StatusCode, header};
use axum::routing::{get, post};
use kit::jwt::testing::{TestKey, claims, jwks, raw_token};
use kit::jwt::{AuthUser, Role};
use kit::problem::extract::Json;
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

use super::*;

const LOCAL_ORIGIN: &str = "http://localhost:5173";

/// A JWKS endpoint on 127.0.0.1:0 publishing `keys`.
async fn jwks_server(keys: &[&TestKey]) -> String {
    let set = jwks(keys);
    let app = Router::new().route(
        "/.well-known/jwks.json",
        get(move || {
            let set = set.clone();
            async move { axum::Json(set) }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/.well-known/jwks.json")
}

struct Harness {
    app: Router,
    state: AppState,
    key: TestKey,
    prefix: String,
}

struct Options {
    redis_url: String,
    burst: u32,
    body_limit: usize,
    timeout_ms: u64,
    trusted_proxies: Vec<String>,
    web_dir: Option<std::path::PathBuf>,
    answer_cache_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            redis_url: "redis://127.0.0.1:6379".into(),
            burst: 1000,
            body_limit: 1024,
            timeout_ms: 10_000,
            trusted_proxies: Vec::new(),
            web_dir: None,
            answer_cache_bytes: 1 << 20,
        }
    }
}

impl Harness {
    async fn new(opts: Options) -> Self {
        Self::with_routes(opts, test_routes).await
    }

    async fn with_routes(
        opts: Options,
        routes: impl FnOnce(&AppState) -> Router<AppState>,
    ) -> Self {
        let key = TestKey::generate("gw-key-1");
        let jwks_url = jwks_server(&[&key]).await;
        let prefix = format!("test-{}:", Uuid::now_v7());
        let mut cfg = Config::default();
        cfg.gateway.listen = "127.0.0.1:0".parse().unwrap();
        cfg.common.auth.jwks_url = jwks_url;
        cfg.common.redis.url = opts.redis_url.into();
        cfg.common.redis.key_prefix = prefix.clone();
        cfg.gateway.rate_limit.burst = opts.burst;
        cfg.gateway.rate_limit.per_ip_per_minute = 60;
        cfg.gateway.rate_limit.per_user_per_minute = 60;
        // Generous for the real Redis on a busy 2-core CI machine; the "stopped" case fails
        // fast anyway (connection refused).
        cfg.gateway.rate_limit.redis_timeout_ms = 1000;
        cfg.gateway.body_limit_bytes = opts.body_limit;
        cfg.gateway.request_timeout_ms = opts.timeout_ms;
        cfg.gateway.trusted_proxies = opts.trusted_proxies;
        cfg.gateway.web_dir = opts.web_dir;
        cfg.gateway.answer_cache.max_bytes = opts.answer_cache_bytes;
        cfg.gateway.answer_cache.redis_timeout_ms = 1000;
        cfg.validate().unwrap();
        let state = AppState::new(cfg).await.unwrap();
        let app = with_middleware(routes(&state), state.clone());
        Self {
            app,
            state,
            key,
            prefix,
        }
    }

    async fn send(&self, req: Request<Body>) -> (StatusCode, HeaderMap, Value) {
        send(self.app.clone(), req).await
    }

    fn token_for(&self, user: Uuid) -> String {
        self.key
            .sign(&claims(user, vec![Role::Customer], "storefront"))
    }
}

/// The real routes plus test-only ones: a protected route, a JSON echo, a panic and a hang.
fn test_routes(state: &AppState) -> Router<AppState> {
    #[derive(serde::Deserialize, serde::Serialize)]
    struct Item {
        sku: String,
        quantity: u32,
    }
    let private = Router::new().route(
        "/api/v1/test/private",
        get(|AuthUser(c): AuthUser| async move { c.sub.to_string() }),
    );
    routes(state)
        .merge(protect(private, state))
        .route(
            "/api/v1/test/echo",
            post(|Json(item): Json<Item>| async move { Json(item) }),
        )
        .route("/api/v1/test/panic", get(boom))
        .route("/api/v1/test/hang", get(std::future::pending::<String>))
}

async fn boom() -> &'static str {
    panic!("boom with secrets")
}

async fn send(app: Router, req: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), 4 << 20)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, headers, body)
}

fn from_ip(ip: &str) -> axum::http::request::Builder {
    let addr = SocketAddr::new(ip.parse::<IpAddr>().unwrap(), 40000);
    Request::builder().extension(ConnectInfo(addr))
}

fn get_req(path: &str) -> Request<Body> {
    from_ip("192.0.2.1").uri(path).body(Body::empty()).unwrap()
}

fn assert_problem(status: StatusCode, headers: &HeaderMap, body: &Value, want: u16) {
    assert_eq!(status.as_u16(), want, "{body}");
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "application/problem+json",
        "{body}"
    );
    assert_eq!(body["status"], want, "{body}");
    assert!(body["title"].is_string(), "{body}");
    assert_eq!(
        body["request_id"].as_str(),
        headers[REQUEST_ID_HEADER].to_str().ok(),
        "the problem names the request id of the response"
    );
}

// ---------- CORS ----------

#[tokio::test]
async fn cors_preflight_allows_the_configured_origin_only() {
    let h = Harness::new(Options::default()).await;
    let preflight = |origin: &str| {
        from_ip("192.0.2.1")
            .method("OPTIONS")
            .uri("/api/v1/openapi.json")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(
                header::ACCESS_CONTROL_REQUEST_HEADERS,
                "authorization, content-type, idempotency-key, x-cart-token",
            )
            .body(Body::empty())
            .unwrap()
    };
    let (status, headers, _) = h.send(preflight(LOCAL_ORIGIN)).await;
    assert!(status.is_success(), "{status}");
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], LOCAL_ORIGIN);
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    let methods = headers[header::ACCESS_CONTROL_ALLOW_METHODS]
        .to_str()
        .unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let allowed = headers[header::ACCESS_CONTROL_ALLOW_HEADERS]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("idempotency-key"), "{allowed}");
    assert!(
        allowed.contains("x-cart-token"),
        "guest carts from a browser: {allowed}"
    );

    let (_, headers, _) = h.send(preflight("https://evil.example")).await;
    assert!(headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());

    // A real cross-origin request exposes the headers scripts need.
    let (status, headers, _) = h
        .send(
            from_ip("192.0.2.1")
                .uri("/api/v1/openapi.json")
                .header(header::ORIGIN, LOCAL_ORIGIN)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], LOCAL_ORIGIN);
    let exposed = headers[header::ACCESS_CONTROL_EXPOSE_HEADERS]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for h in ["ratelimit-remaining", "retry-after", "x-request-id"] {
        assert!(exposed.contains(h), "{h} not exposed: {exposed}");
    }
}

// ---------- problem+json ----------

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let h = Harness::new(Options::default()).await;
    let (status, headers, body) = h.send(get_req("/api/v1/nothing-here")).await;
    assert_problem(status, &headers, &body, 404);
    assert_eq!(body["instance"], "/api/v1/nothing-here");

    let (status, headers, body) = h
        .send(
            from_ip("192.0.2.1")
                .method("DELETE")
                .uri("/api/v1/openapi.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_problem(status, &headers, &body, 405);
    let allow = headers[header::ALLOW].to_str().unwrap();
    assert!(allow.contains("GET"), "{allow}");
}

fn echo(body: impl Into<Body>, content_length: Option<usize>) -> Request<Body> {
    let mut b = from_ip("192.0.2.1")
        .method("POST")
        .uri("/api/v1/test/echo")
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(n) = content_length {
        b = b.header(header::CONTENT_LENGTH, n);
    }
    b.body(body.into()).unwrap()
}

#[tokio::test]
async fn oversized_bodies_are_413_problems() {
    let h = Harness::new(Options::default()).await;
    let big = format!(r#"{{"sku": "{}", "quantity": 1}}"#, "x".repeat(4096));
    // Declared too large: refused before reading.
    let (status, headers, body) = h.send(echo(big.clone(), Some(big.len()))).await;
    assert_problem(status, &headers, &body, 413);
    // Not declared (chunked): refused while reading.
    let (status, headers, body) = h.send(echo(big, None)).await;
    assert_problem(status, &headers, &body, 413);
    // Under the limit: fine.
    let (status, _, body) = h.send(echo(r#"{"sku": "A-1", "quantity": 2}"#, None)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["quantity"], 2);
}

#[tokio::test]
async fn json_errors_are_400_with_position_and_422_naming_the_field() {
    let h = Harness::new(Options::default()).await;
    let (status, headers, body) = h.send(echo(r#"{"sku": "A-1", "quantity": }"#, None)).await;
    assert_problem(status, &headers, &body, 400);
    assert_eq!(body["line"], 1, "{body}");
    assert!(body["column"].as_u64().unwrap() > 20, "{body}");

    let (status, headers, body) = h
        .send(echo(r#"{"sku": "A-1", "quantity": "two"}"#, None))
        .await;
    assert_problem(status, &headers, &body, 422);
    assert_eq!(body["errors"][0]["field"], "quantity", "{body}");
}

#[tokio::test]
async fn panics_are_500_problems_without_details() {
    let h = Harness::new(Options::default()).await;
    let (status, headers, body) = h.send(get_req("/api/v1/test/panic")).await;
    assert_problem(status, &headers, &body, 500);
    assert!(!body.to_string().contains("secrets"), "{body}");
}

#[tokio::test]
async fn slow_requests_are_504_problems() {
    let h = Harness::new(Options {
        timeout_ms: 100,
        ..Options::default()
    })
    .await;
    let (status, headers, body) = h.send(get_req("/api/v1/test/hang")).await;
    assert_problem(status, &headers, &body, 504);
}

// ---------- request id ----------

#[tokio::test]
async fn request_ids_are_generated_echoed_and_sanitised() {
    let h = Harness::new(Options::default()).await;
    let (_, headers, _) = h.send(get_req("/api/v1/openapi.json")).await;
    let generated = headers[REQUEST_ID_HEADER].to_str().unwrap();
    assert_eq!(Uuid::parse_str(generated).unwrap().get_version_num(), 7);

    let (_, headers, body) = h
        .send(
            from_ip("192.0.2.1")
                .uri("/api/v1/missing")
                .header(REQUEST_ID_HEADER, "client-req-42")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(headers[REQUEST_ID_HEADER], "client-req-42");
    assert_eq!(body["request_id"], "client-req-42");

    let (_, headers, _) = h
        .send(
            from_ip("192.0.2.1")
                .uri("/api/v1/openapi.json")
                .header(REQUEST_ID_HEADER, "<script>alert(1)</script>")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert!(Uuid::parse_str(headers[REQUEST_ID_HEADER].to_str().unwrap()).is_ok());
}

// ---------- OpenAPI, docs, compression, health ----------

#[tokio::test]
async fn openapi_and_docs_are_served_compressed() {
    let h = Harness::new(Options::default()).await;
    let (status, headers, body) = h.send(get_req("/api/v1/openapi.json")).await;
    assert_eq!(status, 200);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(body["openapi"], "3.1.0");

    for enc in ["gzip", "br"] {
        let resp = h
            .app
            .clone()
            .oneshot(
                from_ip("192.0.2.1")
                    .uri("/docs")
                    .header(header::ACCEPT_ENCODING, enc)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()[header::CONTENT_ENCODING], enc);
        assert!(
            resp.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(resp.headers().contains_key(header::CONTENT_SECURITY_POLICY));
    }
}

#[tokio::test]
async fn health_routes_answer_and_are_not_rate_limited() {
    let h = Harness::new(Options {
        burst: 1,
        ..Options::default()
    })
    .await;
    for _ in 0..5 {
        let (status, headers, _) = h.send(get_req("/healthz")).await;
        assert_eq!(status, 200);
        assert!(headers.get("ratelimit-limit").is_none());
    }
    let (status, _, body) = h.send(get_req("/readyz")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["redis"]["status"], "up", "{body}");
    let (status, _, body) = h.send(get_req("/metrics")).await;
    assert_eq!(status, 200);
    assert!(
        body.as_str().unwrap().contains("storefront_http_requests"),
        "{body}"
    );
}

// ---------- rate limiting (real Redis) ----------

async fn spend(
    h: &Harness,
    req: impl Fn() -> Request<Body>,
    n: usize,
) -> Vec<(StatusCode, HeaderMap, Value)> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(h.send(req()).await);
    }
    out
}

#[tokio::test]
async fn the_ip_budget_runs_out_with_429_retry_after_and_ratelimit_headers() {
    let h = Harness::new(Options {
        burst: 3,
        ..Options::default()
    })
    .await;
    let req = || get_req("/api/v1/openapi.json");
    let got = spend(&h, req, 4).await;
    for (i, (status, headers, _)) in got[..3].iter().enumerate() {
        assert_eq!(*status, 200);
        assert_eq!(headers["ratelimit-limit"], "3");
        assert_eq!(headers["ratelimit-remaining"], (2 - i).to_string().as_str());
        assert!(
            headers["ratelimit-reset"]
                .to_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
                >= 1
        );
    }
    let (status, headers, body) = &got[3];
    assert_problem(*status, headers, body, 429);
    let retry: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=1).contains(&retry),
        "one request per second refills: {retry}"
    );
    assert_eq!(headers["ratelimit-remaining"], "0");
    assert_eq!(body["retry_after"], retry);
    assert!(
        h.state.limiter.redis_ok(),
        "the budget must have been kept in Redis"
    );

    // The state is in Redis under the contract key.
    let mut conn =
        ratelimit::lazy_redis(&h.state.config.common.redis, Duration::from_secs(1)).unwrap();
    let exists: i64 = redis::cmd("EXISTS")
        .arg(format!("{}ratelimit:ip:192.0.2.1", h.prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(exists, 1);

    // Another address has its own budget.
    let (status, _, _) = h
        .send(
            from_ip("198.51.100.5")
                .uri("/api/v1/openapi.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn user_and_ip_budgets_are_independent() {
    let h = Harness::new(Options {
        burst: 2,
        ..Options::default()
    })
    .await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let (ta, tb) = (h.token_for(alice), h.token_for(bob));
    let as_user = |token: &str| {
        from_ip("203.0.113.10")
            .uri("/api/v1/openapi.json")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    // Alice spends her budget.
    let got = spend(&h, || as_user(&ta), 3).await;
    assert_eq!(got[0].0, 200);
    assert_eq!(got[1].0, 200);
    assert_eq!(got[2].0, 429);
    // Bob, on the same address, still has his.
    assert_eq!(h.send(as_user(&tb)).await.0, 200);
    // Anonymous requests from that address are counted per IP, untouched by the users.
    let anon = || {
        from_ip("203.0.113.10")
            .uri("/api/v1/openapi.json")
            .body(Body::empty())
            .unwrap()
    };
    let got = spend(&h, anon, 3).await;
    assert_eq!(got[0].0, 200);
    assert_eq!(got[1].0, 200);
    assert_eq!(got[2].0, 429);
    // ...and exhausting the IP budget does not stop Bob.
    assert_eq!(h.send(as_user(&tb)).await.0, 200);
    // An invalid token is no way around the IP budget.
    let (status, _, _) = h.send(as_user("not-a-token")).await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn trusted_proxies_make_forwarded_for_the_client() {
    let h = Harness::new(Options {
        burst: 1,
        trusted_proxies: vec!["10.0.0.0/8".into()],
        ..Options::default()
    })
    .await;
    let via_proxy = |client: &str| {
        from_ip("10.1.2.3")
            .uri("/api/v1/openapi.json")
            .header("x-forwarded-for", format!("6.6.6.6, {client}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(h.send(via_proxy("198.51.100.1")).await.0, 200);
    assert_eq!(h.send(via_proxy("198.51.100.1")).await.0, 429);
    // Another client behind the same proxy is someone else.
    assert_eq!(h.send(via_proxy("198.51.100.2")).await.0, 200);
}

#[tokio::test]
async fn with_redis_stopped_the_local_limiter_still_limits_and_readiness_says_degraded() {
    // Nothing listens on port 1: every Redis call fails at once.
    let h = Harness::new(Options {
        redis_url: "redis://127.0.0.1:1".into(),
        burst: 3,
        ..Options::default()
    })
    .await;
    let got = spend(&h, || get_req("/api/v1/openapi.json"), 4).await;
    for (status, headers, _) in &got[..3] {
        assert_eq!(*status, 200);
        assert!(headers.contains_key("ratelimit-remaining"));
    }
    let (status, headers, body) = &got[3];
    assert_problem(*status, headers, body, 429);
    assert!(headers.contains_key(header::RETRY_AFTER));
    assert!(!h.state.limiter.redis_ok());

    let (status, _, body) = h.send(get_req("/readyz")).await;
    assert_eq!(status, 200, "degraded is still ready: {body}");
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(body["checks"]["redis"]["status"], "degraded", "{body}");
    let msg = body["checks"]["redis"]["message"].as_str().unwrap();
    assert!(msg.contains("local rate limiter in use"), "{msg}");
}

// ---------- JWT at the gateway ----------

fn private(token: Option<&str>) -> Request<Body> {
    let mut b = from_ip("192.0.2.77").uri("/api/v1/test/private");
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    b.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn protected_routes_reject_bad_tokens_with_401_problems() {
    let h = Harness::new(Options::default()).await;
    let user = Uuid::now_v7();

    let (status, _, body) = h.send(private(Some(&h.token_for(user)))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, Value::String(user.to_string()));

    let (status, headers, body) = h.send(private(None)).await;
    assert_problem(status, &headers, &body, 401);
    assert_eq!(
        headers[header::WWW_AUTHENTICATE],
        r#"Bearer realm="storefront""#
    );
    assert_eq!(body["reason"], "missing_token");

    let mut expired = claims(user, vec![Role::Customer], "storefront");
    expired.exp -= 3600;
    expired.iat -= 3600;

    let good = h.token_for(user);
    let (head_payload, _) = good.rsplit_once('.').unwrap();
    let bad_signature = format!("{head_payload}.{}", kit::jwt::testing::b64url(&[7u8; 64]));

    let alg_none = raw_token(
        &json!({"alg": "none", "typ": "JWT", "kid": "gw-key-1"}),
        &claims(user, vec![Role::Admin], "storefront"),
        b"",
    );
    let stranger = TestKey::generate("not-published");

    let cases = [
        (h.key.sign(&expired), "expired"),
        (bad_signature, "bad_signature"),
        (alg_none, "alg_none"),
        (
            stranger.sign(&claims(user, vec![], "storefront")),
            "unknown_key",
        ),
    ];
    for (token, reason) in cases {
        let (status, headers, body) = h.send(private(Some(&token))).await;
        assert_problem(status, &headers, &body, 401);
        assert_eq!(body["reason"], reason, "{body}");
        let challenge = headers[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.starts_with("Bearer "), "{challenge}");
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
    }

    // Public routes stay public, and unknown paths stay 404 rather than 401.
    assert_eq!(h.send(get_req("/api/v1/openapi.json")).await.0, 200);
    assert_eq!(h.send(get_req("/api/v1/test/private/nope")).await.0, 404);
}

#[tokio::test]
async fn logged_out_tokens_are_refused() {
    let h = Harness::new(Options::default()).await;
    let c = claims(Uuid::now_v7(), vec![Role::Customer], "storefront");
    let token = h.key.sign(&c);
    assert_eq!(h.send(private(Some(&token))).await.0, 200);
    // Auth's logout writes the deny-list key.
    let mut conn =
        ratelimit::lazy_redis(&h.state.config.common.redis, Duration::from_secs(1)).unwrap();
    redis::cmd("SET")
        .arg(format!("{}session:deny:{}", h.prefix, c.jti))
        .arg(1)
        .arg("EX")
        .arg(60)
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    let (status, headers, body) = h.send(private(Some(&token))).await;
    assert_problem(status, &headers, &body, 401);
    assert_eq!(body["reason"], "revoked");
}

// ---------- the server itself ----------

#[tokio::test]
async fn build_binds_port_zero_serves_and_stops_on_shutdown() {
    let mut cfg = Config::default();
    cfg.gateway.listen = "127.0.0.1:0".parse().unwrap();
    cfg.common.redis.key_prefix = format!("test-{}:", Uuid::now_v7());
    let shutdown = Shutdown::new();
    let gw = build(cfg, shutdown.clone()).await.unwrap();
    let addr = gw.local_addr();
    assert_ne!(addr.port(), 0);
    let server = tokio::spawn(gw.run());
    let client = reqwest::Client::new();
    let resp = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key(REQUEST_ID_HEADER));
    let resp = client
        .get(format!("http://{addr}/docs"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops on shutdown")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn bad_configuration_fails_before_binding() {
    let mut cfg = Config::default();
    cfg.gateway.listen = "127.0.0.1:0".parse().unwrap();
    cfg.gateway.cors_origins = vec!["*".into()];
    let err = build(cfg, Shutdown::new()).await.err().unwrap().to_string();
    assert!(err.contains("STOREFRONT_GATEWAY__CORS_ORIGINS"), "{err}");
}

// ---------- the web shop's files ----------

/// A built shop in a fresh temporary directory: `index.html` and one hashed asset.
fn built_shop() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("gw-web-{}", Uuid::now_v7()));
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><title>shop</title>").unwrap();
    std::fs::write(dir.join("assets/app-3f2a.js"), "console.log('shop')").unwrap();
    std::fs::write(dir.join("favicon.svg"), "<svg/>").unwrap();
    dir
}

#[tokio::test]
async fn the_shop_is_served_with_a_fallback_to_index_and_the_api_keeps_its_problems() {
    let dir = built_shop();
    let h = Harness::new(Options {
        web_dir: Some(dir.clone()),
        // Static files are not rate limited: many more than the burst all succeed.
        burst: 3,
        ..Options::default()
    })
    .await;

    let (status, headers, body) = h.send(get_req("/")).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    assert!(
        body.as_str().unwrap().contains("<title>shop</title>"),
        "{body}"
    );

    // Client-side routes load the app (a reload of /product/x or /checkout works).
    for path in ["/product/red-shoe", "/checkout", "/account/orders/123"] {
        let (status, headers, body) = h.send(get_req(path)).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(
            body.as_str().unwrap().contains("<title>shop</title>"),
            "{path}"
        );
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache", "{path}");
    }

    // Hashed assets are cached for good, with their type.
    let (status, headers, body) = h.send(get_req("/assets/app-3f2a.js")).await;
    assert_eq!(status, 200);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(
        headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(body, "console.log('shop')");
    let (status, headers, _) = h.send(get_req("/favicon.svg")).await;
    assert_eq!(status, 200);
    assert_eq!(headers[header::CONTENT_TYPE], "image/svg+xml");

    // A missing asset is a 404, not the page; nothing outside the directory is reachable.
    let (status, headers, body) = h.send(get_req("/assets/gone-1234.js")).await;
    assert_problem(status, &headers, &body, 404);
    let (status, _, body) = h.send(get_req("/../Cargo.toml")).await;
    assert!(
        !body.as_str().unwrap_or_default().contains("[package]"),
        "{status} {body}"
    );

    // The API's unknown paths stay problem+json 404s.
    let (status, headers, body) = h.send(get_req("/api/v1/nothing-here")).await;
    assert_problem(status, &headers, &body, 404);
    let (status, _, _) = h.send(get_req("/api/v1/openapi.json")).await;
    assert_eq!(status, 200);

    // Writes to shop paths are refused as problems.
    let (status, headers, body) = h
        .send(
            from_ip("192.0.2.1")
                .method("POST")
                .uri("/checkout")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_problem(status, &headers, &body, 405);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn without_a_web_dir_unknown_paths_are_problems() {
    let h = Harness::new(Options::default()).await;
    let (status, headers, body) = h.send(get_req("/product/red-shoe")).await;
    assert_problem(status, &headers, &body, 404);
}

// ---------- the answer cache (real Redis) ----------

/// Routes behind the answer cache that count their calls: `/api/v1/test/shared/{n}` (shared by
/// non-admin callers, no `Cache-Control`), `/api/v1/test/anon` (per user, `public,
/// max-age=30`), `/api/v1/test/private` (per user, `private`), `/api/v1/test/mine` (per user,
/// `private, no-store` with `Surrogate-Control: max-age=30`) and `/api/v1/test/missing` (404).
fn cached_routes(
    calls: Arc<std::sync::atomic::AtomicUsize>,
) -> impl FnOnce(&AppState) -> Router<AppState> {
    use axum::response::IntoResponse;
    use std::sync::atomic::Ordering;
    move |state: &AppState| {
        let (c1, c2, c3, c4) = (calls.clone(), calls.clone(), calls.clone(), calls.clone());
        let shared = Router::new()
            .route(
                "/api/v1/test/shared/{n}",
                get(move |axum::extract::Path(n): axum::extract::Path<String>| {
                    let c = c1.clone();
                    async move {
                        let call = c.fetch_add(1, Ordering::SeqCst) + 1;
                        axum::Json(json!({"n": n, "call": call, "pad": "x".repeat(400)}))
                    }
                }),
            )
            .route(
                "/api/v1/test/missing",
                get(move || {
                    let c = c4.clone();
                    async move {
                        c.fetch_add(1, Ordering::SeqCst);
                        StatusCode::NOT_FOUND
                    }
                }),
            )
            .route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                answers::non_admin,
            ));
        // A handler answering `{"call": n}` with `Cache-Control: cc`.
        let with_cache_control = |c: Arc<std::sync::atomic::AtomicUsize>, cc: &'static str| {
            get(move || {
                let c = c.clone();
                async move {
                    let call = c.fetch_add(1, Ordering::SeqCst) + 1;
                    (
                        [(header::CACHE_CONTROL, cc)],
                        axum::Json(json!({"call": call})),
                    )
                        .into_response()
                }
            })
        };
        let anonymous = Router::new()
            .route(
                "/api/v1/test/anon",
                with_cache_control(c2, "public, max-age=30"),
            )
            .route(
                "/api/v1/test/private",
                with_cache_control(c3, "private, no-store"),
            )
            .route(
                "/api/v1/test/mine",
                get(move |headers: axum::http::HeaderMap| {
                    let c = calls.clone();
                    async move {
                        let call = c.fetch_add(1, Ordering::SeqCst) + 1;
                        let auth = headers
                            .get(header::AUTHORIZATION)
                            .map(|v| v.to_str().unwrap().to_owned());
                        (
                            [
                                (header::CACHE_CONTROL, "private, no-store"),
                                (
                                    HeaderName::from_static(kit::cache::SURROGATE_CONTROL),
                                    "max-age=30",
                                ),
                            ],
                            axum::Json(json!({"call": call, "auth": auth})),
                        )
                            .into_response()
                    }
                }),
            )
            .route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                answers::per_user,
            ));
        shared.merge(anonymous)
    }
}

fn get_with(path: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut b = from_ip("192.0.2.7").uri(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Body::empty()).unwrap()
}

async fn bump(h: &Harness) {
    let mut conn =
        ratelimit::lazy_redis(&h.state.config.common.redis, Duration::from_secs(1)).unwrap();
    let key = kit::cache::Keys::new(&h.state.config.common.redis).catalog_generation();
    kit::cache::bump_generation(&mut conn, &key).await.unwrap();
}

/// `Bearer <token>` of `user` (a customer) whose token id is on the deny list (logged out).
async fn logged_out_token(h: &Harness, user: Uuid) -> String {
    let c = claims(user, vec![Role::Customer], "storefront");
    let mut conn =
        ratelimit::lazy_redis(&h.state.config.common.redis, Duration::from_secs(1)).unwrap();
    redis::cmd("SET")
        .arg(kit::cache::Keys::new(&h.state.config.common.redis).session_deny(&c.jti))
        .arg("1")
        .arg("EX")
        .arg(60)
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    format!("Bearer {}", h.key.sign(&c))
}

#[tokio::test]
async fn cached_answers_are_served_until_the_catalog_generation_moves() {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = Harness::with_routes(Options::default(), cached_routes(calls.clone())).await;
    let (st, hd, first) = h.send(get_req("/api/v1/test/shared/a")).await;
    assert_eq!(st, StatusCode::OK, "{first}");
    assert_eq!(hd[&answers::X_CACHE], "miss");
    assert_eq!(first["call"], 1);
    let etag = hd[header::ETAG].to_str().unwrap().to_owned();
    assert!(etag.starts_with("W/\""), "{etag}");
    for _ in 0..5 {
        let (st, hd, again) = h.send(get_req("/api/v1/test/shared/a")).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(hd[&answers::X_CACHE], "hit");
        assert_eq!(again, first, "a hit is the stored answer");
        assert_eq!(hd[header::CONTENT_TYPE], "application/json");
        assert!(
            hd.contains_key(REQUEST_ID_HEADER),
            "per-request headers still set"
        );
    }
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    // Another path is another answer.
    let (_, _, b) = h.send(get_req("/api/v1/test/shared/b")).await;
    assert_eq!(b["call"], 2);

    // A catalog write (the generation moves): the next read asks the service again.
    bump(&h).await;
    let (_, hd, fresh) = h.send(get_req("/api/v1/test/shared/a")).await;
    assert_eq!(hd[&answers::X_CACHE], "miss");
    assert_eq!(fresh["call"], 3);
    let (_, hd, _) = h.send(get_req("/api/v1/test/shared/a")).await;
    assert_eq!(hd[&answers::X_CACHE], "hit");

    // Errors are not stored.
    for _ in 0..2 {
        let (st, hd, _) = h.send(get_req("/api/v1/test/missing")).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        assert!(!hd.contains_key(&answers::X_CACHE));
    }
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 5);
}

#[tokio::test]
async fn cached_answers_are_compressed_once_and_revalidate_with_etags() {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = Harness::with_routes(Options::default(), cached_routes(calls.clone())).await;
    let (_, _, plain) = h.send(get_req("/api/v1/test/shared/z")).await;
    let resp = h
        .app
        .clone()
        .oneshot(get_with(
            "/api/v1/test/shared/z",
            &[("accept-encoding", "br;q=1, gzip;q=0.5")],
        ))
        .await
        .unwrap();
    assert_eq!(resp.headers()[&answers::X_CACHE], "hit");
    assert_eq!(resp.headers()[header::CONTENT_ENCODING], "gzip");
    assert_eq!(resp.headers()[header::VARY], "accept-encoding");
    let etag = resp.headers()[header::ETAG].clone();
    let gz = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let mut json = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut json).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), plain);
    // gzip refused: the plain bytes.
    let (_, hd, body) = h
        .send(get_with(
            "/api/v1/test/shared/z",
            &[("accept-encoding", "gzip;q=0, identity")],
        ))
        .await;
    assert!(!hd.contains_key(header::CONTENT_ENCODING));
    assert_eq!(body, plain);
    // A client holding the answer gets 304 with the same tag, without a body.
    let (st, hd, body) = h
        .send(get_with(
            "/api/v1/test/shared/z",
            &[("if-none-match", etag.to_str().unwrap())],
        ))
        .await;
    assert_eq!(st, StatusCode::NOT_MODIFIED);
    assert_eq!(hd[header::ETAG], etag);
    assert_eq!(body, Value::String(String::new()));
    let (st, _, _) = h
        .send(get_with(
            "/api/v1/test/shared/z",
            &[("if-none-match", "W/\"0000\"")],
        ))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn who_shares_an_answer() {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = Harness::with_routes(Options::default(), cached_routes(calls.clone())).await;
    let count = || calls.load(std::sync::atomic::Ordering::SeqCst);
    let customer = format!("Bearer {}", h.token_for(Uuid::now_v7()));
    let admin = format!(
        "Bearer {}",
        h.key.sign(&claims(
            Uuid::now_v7(),
            vec![Role::Customer, Role::Admin],
            "storefront"
        ))
    );
    h.send(get_req("/api/v1/test/shared/s")).await;
    // A customer's token shares the anonymous answer.
    let (_, hd, _) = h
        .send(get_with(
            "/api/v1/test/shared/s",
            &[("authorization", &customer)],
        ))
        .await;
    assert_eq!(hd[&answers::X_CACHE], "hit");
    assert_eq!(count(), 1);
    // An admin (who sees drafts) and a bad token always reach the service.
    for auth in [admin.as_str(), "Bearer not-a-token"] {
        let (_, hd, _) = h
            .send(get_with(
                "/api/v1/test/shared/s",
                &[("authorization", auth)],
            ))
            .await;
        assert!(!hd.contains_key(&answers::X_CACHE), "{auth}");
    }
    assert_eq!(count(), 3);
    // A logged-out customer token is not taken as valid either.
    let revoked = logged_out_token(&h, Uuid::now_v7()).await;
    let (_, hd, _) = h
        .send(get_with(
            "/api/v1/test/shared/s",
            &[("authorization", &revoked)],
        ))
        .await;
    assert!(!hd.contains_key(&answers::X_CACHE));
    assert_eq!(count(), 4);

    // Per-user routes: anonymous answers stored when the service says `public, max-age`; a
    // token's caller is not served them.
    let (_, hd, a) = h.send(get_req("/api/v1/test/anon")).await;
    assert_eq!(hd[&answers::X_CACHE], "miss");
    assert_eq!(hd[header::CACHE_CONTROL], "public, max-age=30");
    let (_, hd, b) = h.send(get_req("/api/v1/test/anon")).await;
    assert_eq!(hd[&answers::X_CACHE], "hit");
    assert_eq!(a, b);
    let (_, hd, _) = h
        .send(get_with(
            "/api/v1/test/anon",
            &[("authorization", &customer)],
        ))
        .await;
    assert!(!hd.contains_key(&answers::X_CACHE));
    for _ in 0..2 {
        let (_, hd, _) = h.send(get_req("/api/v1/test/private")).await;
        assert!(!hd.contains_key(&answers::X_CACHE));
    }
    assert_eq!(count(), 8);
}

#[tokio::test]
async fn a_users_own_answers_are_theirs_until_their_generation_moves() {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = Harness::with_routes(Options::default(), cached_routes(calls.clone())).await;
    let count = || calls.load(std::sync::atomic::Ordering::SeqCst);
    let (ua, ub) = (Uuid::now_v7(), Uuid::now_v7());
    let a = format!("Bearer {}", h.token_for(ua));
    let b = format!("Bearer {}", h.token_for(ub));
    let mine = |auth: &str| get_with("/api/v1/test/mine", &[("authorization", auth)]);
    let (st, hd, first) = h.send(mine(&a)).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(hd[&answers::X_CACHE], "miss");
    assert_eq!(hd[header::CACHE_CONTROL], "private, no-store");
    assert!(
        !hd.contains_key(kit::cache::SURROGATE_CONTROL),
        "the gateway's directions never reach the client"
    );
    let (_, hd, again) = h.send(mine(&a)).await;
    assert_eq!(hd[&answers::X_CACHE], "hit");
    assert!(!hd.contains_key(kit::cache::SURROGATE_CONTROL));
    assert_eq!(again, first);
    assert_eq!(first["auth"], a.as_str());
    // Another user gets their own answer, never A's.
    let (_, hd, theirs) = h.send(mine(&b)).await;
    assert_eq!(hd[&answers::X_CACHE], "miss");
    assert_eq!(theirs["auth"], b.as_str());
    // Anonymous callers: `private` is not shared.
    let (_, hd, anon) = h.send(get_req("/api/v1/test/mine")).await;
    assert!(!hd.contains_key(&answers::X_CACHE));
    assert!(!hd.contains_key(kit::cache::SURROGATE_CONTROL));
    assert_eq!(anon["auth"], Value::Null);
    assert_eq!(count(), 3);

    // The recommender rewrote A's keys: A's next answer is computed, B's still stored.
    let mut conn =
        ratelimit::lazy_redis(&h.state.config.common.redis, Duration::from_secs(1)).unwrap();
    let keys = kit::cache::Keys::new(&h.state.config.common.redis);
    redis::cmd("INCR")
        .arg(keys.rec_user_generation(ua))
        .query_async::<i64>(&mut conn)
        .await
        .unwrap();
    let (_, hd, _) = h.send(mine(&a)).await;
    assert_eq!(hd[&answers::X_CACHE], "miss");
    let (_, hd, _) = h.send(mine(&b)).await;
    assert_eq!(hd[&answers::X_CACHE], "hit");
    assert_eq!(count(), 4);
    // A catalog write: both are computed again.
    bump(&h).await;
    for auth in [&a, &b] {
        let (_, hd, _) = h.send(mine(auth)).await;
        assert_eq!(hd[&answers::X_CACHE], "miss");
    }
    assert_eq!(count(), 6);
    // A logged-out token and a bad one reach the service.
    let revoked = logged_out_token(&h, ua).await;
    let (st, hd, _) = h.send(mine(&revoked)).await;
    assert!(!hd.contains_key(&answers::X_CACHE), "{st}");
    let (_, hd, _) = h.send(mine("Bearer not-a-token")).await;
    assert!(!hd.contains_key(&answers::X_CACHE));
    assert_eq!(count(), 8);
}

/// A gateway with [`cached_routes`] and an answer cache of `bound` bytes.
async fn bounded_cache(bound: usize) -> Harness {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    Harness::with_routes(
        Options {
            answer_cache_bytes: bound,
            ..Options::default()
        },
        cached_routes(calls),
    )
    .await
}

#[tokio::test]
async fn the_answer_cache_keeps_to_its_memory_bound() {
    let bound = 64 * 1024;
    let h = bounded_cache(bound).await;
    for i in 0..300 {
        let (st, hd, _) = h.send(get_req(&format!("/api/v1/test/shared/{i}"))).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(hd[&answers::X_CACHE], "miss");
        let (all, _) = h.state.answers.bytes();
        assert!(all <= bound, "{all}");
    }
    assert!(
        h.state.answers.bytes().0 > bound / 2,
        "the bound is used, not wasted"
    );
    // The newest answers stayed, the oldest went first.
    let (_, hd, _) = h.send(get_req("/api/v1/test/shared/299")).await;
    assert_eq!(hd[&answers::X_CACHE], "hit");
    let (_, hd, _) = h.send(get_req("/api/v1/test/shared/0")).await;
    assert_eq!(hd[&answers::X_CACHE], "miss");
}

#[tokio::test]
async fn users_own_answers_take_at_most_a_quarter_and_leave_the_shared_ones_alone() {
    let bound = 64 * 1024;
    let h = bounded_cache(bound).await;
    for i in 0..20 {
        h.send(get_req(&format!("/api/v1/test/shared/{i}"))).await;
    }
    let (shared, own) = h.state.answers.bytes();
    assert_eq!(own, 0);
    assert!(shared > bound / 4, "{shared}");
    let mut tokens = Vec::new();
    for _ in 0..200 {
        let auth = format!("Bearer {}", h.token_for(Uuid::now_v7()));
        let (_, hd, _) = h
            .send(get_with("/api/v1/test/mine", &[("authorization", &auth)]))
            .await;
        assert_eq!(hd[&answers::X_CACHE], "miss");
        let (all, own) = h.state.answers.bytes();
        assert!(own <= bound / 4, "{own}");
        assert!(all <= bound, "{all}");
        tokens.push(auth);
    }
    assert!(h.state.answers.bytes().1 > bound / 8, "the share is used");
    // Every shared answer is still there; of the users' own, the newest.
    for i in 0..20 {
        let (_, hd, _) = h.send(get_req(&format!("/api/v1/test/shared/{i}"))).await;
        assert_eq!(hd[&answers::X_CACHE], "hit", "shared/{i}");
    }
    let mine = |auth: &str| get_with("/api/v1/test/mine", &[("authorization", auth)]);
    let (_, hd, _) = h.send(mine(&tokens[199])).await;
    assert_eq!(hd[&answers::X_CACHE], "hit");
    let (_, hd, _) = h.send(mine(&tokens[0])).await;
    assert_eq!(hd[&answers::X_CACHE], "miss");
}

#[tokio::test]
async fn with_redis_stopped_answers_come_from_the_service() {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = Harness::with_routes(
        Options {
            redis_url: "redis://127.0.0.1:1".into(),
            ..Options::default()
        },
        cached_routes(calls.clone()),
    )
    .await;
    for i in 1..=3 {
        let (st, hd, body) = h.send(get_req("/api/v1/test/shared/r")).await;
        assert_eq!(st, StatusCode::OK);
        assert!(!hd.contains_key(&answers::X_CACHE));
        assert_eq!(body["call"], i);
    }
}

#[tokio::test]
async fn an_empty_redis_starts_the_generation_at_a_random_value() {
    let key = format!("test-{}:cache:search:gen", Uuid::now_v7());
    let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut conn = redis::aio::ConnectionManager::new(client).await.unwrap();
    let first = kit::cache::read_generation(&mut conn, &key).await.unwrap();
    assert_eq!(
        kit::cache::read_generation(&mut conn, &key).await.unwrap(),
        first
    );
    assert!(
        first > 1_000,
        "{first}: counting from 1 again would meet old values"
    );
    assert_eq!(
        kit::cache::bump_generation(&mut conn, &key).await.unwrap(),
        first + 1
    );
    let other = format!("test-{}:cache:search:gen", Uuid::now_v7());
    let bumped = kit::cache::bump_generation(&mut conn, &other)
        .await
        .unwrap();
    assert!(bumped > 1_000, "{bumped}");
    redis::cmd("DEL")
        .arg(&key)
        .arg(&other)
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
}
