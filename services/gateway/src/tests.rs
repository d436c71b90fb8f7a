//! Router tests: the whole middleware stack through `tower::ServiceExt::oneshot`, with real
//! Redis at 127.0.0.1:6379 for rate limiting and a JWKS served from 127.0.0.1:0.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
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
        }
    }
}

impl Harness {
    async fn new(opts: Options) -> Self {
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
        cfg.validate().unwrap();
        let state = AppState::new(cfg).await.unwrap();
        let app = with_middleware(test_routes(&state), state.clone());
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
