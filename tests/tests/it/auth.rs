//! The auth service end to end: the real auth role (gRPC + JWKS) on 127.0.0.1:0 with a fresh
//! database, and the real gateway in front of it, driven over REST with PostgreSQL, Redis and
//! the broker of the dev stack.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use storefront_auth::config::InlineKey;
use storefront_auth::keys::generate_pem;
use storefront_kit::Shutdown;
use storefront_kit::jwt::{JwksVerifier, Role};
use storefront_kit::kafka::{ConsumerOptions, Delivery, Outcome};
use storefront_proto::auth::v1 as pb;
use storefront_proto::auth::v1::auth_service_client::AuthServiceClient;
use storefront_tests::stack::Stack;
use storefront_tests::{bearer, channel, common, eventually, fields, ok, refused, unique};
use uuid::Uuid;

/// One auth role and one gateway in front of it, stopped on drop.
struct Auth {
    stack: Stack,
    auth_cfg: storefront_auth::Config,
    auth_addr: SocketAddr,
    pool: PgPool,
}

storefront_tests::deref_stack!(Auth);

fn key(kid: &str) -> InlineKey {
    InlineKey {
        kid: kid.to_owned(),
        pem: generate_pem().into(),
    }
}

/// Settings of a test auth role: its own database, Redis prefix and signing key.
fn auth_config() -> storefront_auth::Config {
    let mut c = common();
    c.redis.key_prefix = format!("{}:", unique("it_auth"));
    let mut cfg = storefront_auth::Config {
        common: c,
        auth: storefront_auth::AuthSettings::default(),
    };
    cfg.auth.listen = "127.0.0.1:0".parse().unwrap();
    cfg.auth.database = Some(unique("it_auth"));
    cfg.auth.keys.inline = vec![key("k1")];
    cfg.auth.keys.generate = false;
    cfg
}

impl Auth {
    async fn start() -> Self {
        Self::start_with(auth_config()).await
    }

    /// The auth role of `cfg` (its settings, its database), and a gateway trusting its keys.
    async fn start_with(cfg: storefront_auth::Config) -> Self {
        let mut stack = Stack::new("it_auth").await;
        let auth = stack.auth(|c| *c = cfg.clone()).await;
        stack.common = cfg.common.clone();
        stack.common.auth.jwks_url = format!("{}/.well-known/jwks.json", auth.url());
        stack
            .gateway(|gw| gw.gateway.upstreams.auth = auth.url())
            .await;
        Self {
            stack,
            auth_cfg: cfg,
            auth_addr: auth.addr,
            pool: auth.state,
        }
    }

    /// `POST /auth/register` of `body`.
    async fn sign_up(&self, body: Value) -> (StatusCode, Value) {
        self.post("/api/v1/auth/register", None, body).await
    }

    async fn register(&self, email: &str, password: &str) -> Value {
        let (status, body) = self
            .sign_up(json!({"email": email, "password": password}))
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    async fn login(&self, email: &str, password: &str) -> (StatusCode, Value) {
        let body = json!({"email": email, "password": password});
        self.post("/api/v1/auth/login", None, body).await
    }

    async fn refresh(&self, token: &str) -> (StatusCode, Value) {
        let body = json!({"refresh_token": token});
        self.post("/api/v1/auth/refresh", None, body).await
    }

    /// A verifier reading this auth role's JWKS directly.
    fn verifier(&self) -> JwksVerifier {
        JwksVerifier::new(&storefront_kit::config::AuthSettings {
            jwks_url: format!("http://{}/.well-known/jwks.json", self.auth_addr),
            ..Default::default()
        })
        .unwrap()
        .with_refetch_interval(Duration::ZERO)
    }
}

fn email() -> String {
    format!("{}@example.com", unique("user"))
}

const PASSWORD: &str = "correct horse battery";

fn assert_token_response(body: &Value) {
    assert_eq!(body["token_type"], "Bearer", "{body}");
    assert_eq!(body["expires_in"], 900, "{body}");
    assert!(body["access_token"].as_str().unwrap().len() > 50, "{body}");
    assert_eq!(body["refresh_token"].as_str().unwrap().len(), 43, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_login_refresh_logout_over_rest() {
    let s = Auth::start().await;
    let email = email();
    let reg = s
        .register(&format!("  {}  ", email.to_uppercase()), PASSWORD)
        .await;
    assert_token_response(&reg);
    assert_eq!(reg["user"]["email"], email, "stored trimmed and lowercased");
    assert_eq!(reg["user"]["roles"], json!(["customer"]));
    let user_id: Uuid = reg["user"]["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(user_id.get_version_num(), 7);

    // The access token verifies against the published keys and carries the kit claims.
    let claims = s
        .verifier()
        .verify(reg["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(claims.sub, user_id);
    assert_eq!(claims.roles, vec![Role::Customer]);
    assert_eq!(claims.iss, "storefront");
    assert_eq!(claims.exp - claims.iat, 900);

    // Login (any case), refresh, then logout.
    let (status, login) = s.login(&email.to_uppercase(), PASSWORD).await;
    assert_eq!(status, 200, "{login}");
    assert_token_response(&login);
    let (status, refreshed) = s.refresh(login["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{refreshed}");
    assert_token_response(&refreshed);
    assert_ne!(refreshed["refresh_token"], login["refresh_token"]);
    let access = refreshed["access_token"].as_str().unwrap();

    // A protected route (behind `protect()`) lets the token through: the handler runs and
    // refuses the empty body.
    let (status, body) = s
        .post("/api/v1/auth/change-password", access, json!({}))
        .await;
    assert_eq!(status, 422, "{body}");

    // Someone else's refresh token cannot be ended with this access token.
    let stranger = s.register(&self::email(), PASSWORD).await;
    let (status, body) = s
        .post(
            "/api/v1/auth/logout",
            access,
            json!({"refresh_token": stranger["refresh_token"]}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = s.refresh(stranger["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "the stranger's session is untouched");

    let (status, body) = s
        .post(
            "/api/v1/auth/logout",
            access,
            json!({"refresh_token": refreshed["refresh_token"]}),
        )
        .await;
    assert_eq!(status, 204, "{body}");

    // The logged-out access token is refused by the gateway on a protected route...
    let (status, body) = s
        .post("/api/v1/auth/change-password", access, json!({}))
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["reason"], "revoked", "{body}");
    // ...and the session's refresh token no longer works.
    let (status, body) = s
        .refresh(refreshed["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 401, "{body}");
    // Other sessions (the registration's) are untouched.
    let (status, body) = s.refresh(reg["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{body}");

    // Logout without anything to sign out is 401.
    let (status, _) = s.post("/api/v1/auth/logout", None, json!({})).await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_token_reuse_revokes_the_family() {
    let s = Auth::start().await;
    let email = email();
    s.register(&email, PASSWORD).await;
    let (_, login) = s.login(&email, PASSWORD).await;
    let r1 = login["refresh_token"].as_str().unwrap().to_owned();
    let (status, second) = s.refresh(&r1).await;
    assert_eq!(status, 200);
    let r2 = second["refresh_token"].as_str().unwrap().to_owned();
    let (status, third) = s.refresh(&r2).await;
    assert_eq!(status, 200);
    let r3 = third["refresh_token"].as_str().unwrap().to_owned();

    // A thief replays the spent r1: refused, and the whole family dies with it.
    let (status, body) = s.refresh(&r1).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = s.refresh(&r3).await;
    assert_eq!(
        status, 401,
        "the live token of the family is revoked too: {body}"
    );
    // The messages do not tell a spent token from an unknown one.
    let (_, unknown) = s.refresh("x".repeat(43).as_str()).await;
    assert_eq!(body["detail"], unknown["detail"]);

    let revoked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NOT NULL")
            .fetch_one(&s.pool)
            .await
            .unwrap();
    assert_eq!(
        revoked, 3,
        "r1, r2 and r3; the registration session is another family"
    );
    // Stored as its SHA-256 only; spent and revoked.
    let (used, revoked): (bool, bool) = sqlx::query_as(
        "SELECT used_at IS NOT NULL, revoked_at IS NOT NULL FROM refresh_tokens
          WHERE token_hash = sha256(convert_to($1, 'UTF8'))",
    )
    .bind(&r1)
    .fetch_one(&s.pool)
    .await
    .unwrap();
    assert!(used && revoked);
    let plain: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM refresh_tokens WHERE token_hash = convert_to($1, 'UTF8')",
    )
    .bind(&r1)
    .fetch_one(&s.pool)
    .await
    .unwrap();
    assert_eq!(plain, 0);

    // An expired token is refused like any other bad one.
    let (_, fresh) = s.login(&email, PASSWORD).await;
    let r = fresh["refresh_token"].as_str().unwrap();
    sqlx::query(
        "UPDATE refresh_tokens SET expires_at = now() - interval '1 second'
          WHERE token_hash = sha256(convert_to($1, 'UTF8'))",
    )
    .bind(r)
    .execute(&s.pool)
    .await
    .unwrap();
    let (status, expired) = s.refresh(r).await;
    assert_eq!(status, 401);
    assert_eq!(expired["detail"], unknown["detail"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_email_in_any_case_is_409() {
    let s = Auth::start().await;
    let email = email();
    s.register(&email, PASSWORD).await;
    for variant in [email.clone(), email.to_uppercase(), format!(" {email}\t")] {
        let (status, body) = s
            .sign_up(json!({"email": variant, "password": "another passphrase"}))
            .await;
        assert_eq!(status, 409, "{variant}: {body}");
        assert_eq!(body["status"], 409);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversize_bodies_are_problems_naming_the_field() {
    let s = Auth::start().await;
    let (status, body) = s
        .post_raw(
            "/api/v1/auth/register",
            None,
            r#"{"email": "a@example.com", "password": }"#,
        )
        .await;
    assert_eq!(status, 400, "{body}");

    let (status, body) = s
        .post_raw(
            "/api/v1/auth/register",
            None,
            r#"{"email": 5, "password": "long enough"}"#,
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(fields(&body), ["email"], "{body}");

    let (status, body) = s
        .post_raw("/api/v1/auth/login", None, r#"{"email": "a@example.com"}"#)
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(fields(&body), ["password"], "{body}");

    let cases = [
        (
            json!({"email": format!("{}@example.com", "a".repeat(300)), "password": PASSWORD}),
            "email",
        ),
        (
            json!({"email": email(), "password": "x".repeat(129)}),
            "password",
        ),
        (json!({"email": email(), "password": "short"}), "password"),
        (
            json!({"email": email(), "password": "Password123"}),
            "password",
        ),
        (
            json!({"email": "not-an-email", "password": PASSWORD}),
            "email",
        ),
        (
            json!({"email": email(), "password": PASSWORD, "display_name": "d".repeat(101)}),
            "display_name",
        ),
    ];
    for (body, field) in cases {
        let (status, problem) = s.sign_up(body.clone()).await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert_eq!(fields(&problem), [field], "{problem}");
    }
    // Both fields wrong: both named.
    let (status, problem) = s
        .sign_up(json!({"email": "nope", "password": "short"}))
        .await;
    assert_eq!(status, 422);
    let mut named = fields(&problem);
    named.sort();
    assert_eq!(named, ["email", "password"], "{problem}");

    let (status, body) = s
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": "r".repeat(600)}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(fields(&body), ["refresh_token"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_metacharacters_are_stored_verbatim_and_usable() {
    let s = Auth::start().await;
    let email = format!("o'brien+x\"--;{}@example.com", unique("sql"));
    let password = "Robert'); DROP TABLE users;--\\ %_";
    let reg = s.register(&email, password).await;
    assert_eq!(reg["user"]["email"], email);
    let stored: String = sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(reg["user"]["id"].as_str().unwrap().parse::<Uuid>().unwrap())
        .fetch_one(&s.pool)
        .await
        .unwrap();
    assert_eq!(stored, email);
    let (status, body) = s.login(&email, password).await;
    assert_eq!(status, 200, "{body}");
    // A LIKE pattern is not a wildcard.
    let (status, _) = s.login("%@example.com", password).await;
    assert_eq!(status, 401);
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&s.pool)
        .await
        .unwrap();
    assert_eq!(users, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_unknown_email_look_the_same() {
    let s = Auth::start().await;
    let email = email();
    s.register(&email, PASSWORD).await;
    let (s1, wrong) = s.login(&email, "not the password").await;
    let (s2, unknown) = s.login(&self::email(), PASSWORD).await;
    let (s3, huge) = s.login(&email, &"x".repeat(500)).await;
    assert_eq!(s1, 401);
    assert_eq!(s2, 401);
    assert_eq!(s3, 401);
    assert_eq!(wrong["detail"], unknown["detail"]);
    assert_eq!(wrong["detail"], huge["detail"]);
    assert_eq!(wrong["title"], unknown["title"]);

    // And they cost the same: an unknown e-mail is checked against a dummy hash. Without it the
    // answer would come hundreds of times sooner; the bound leaves room for a busy machine.
    let mut wrong_times = Vec::new();
    let mut unknown_times = Vec::new();
    for _ in 0..5 {
        let t = std::time::Instant::now();
        assert_eq!(s.login(&email, "not the password").await.0, 401);
        wrong_times.push(t.elapsed());
        let t = std::time::Instant::now();
        assert_eq!(s.login(&self::email(), "not the password").await.0, 401);
        unknown_times.push(t.elapsed());
    }
    wrong_times.sort();
    unknown_times.sort();
    let (w, u) = (wrong_times[2], unknown_times[2]);
    assert!(
        u * 3 >= w && w * 3 >= u,
        "median wrong password {w:?}, unknown e-mail {u:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_throttled_per_account_and_per_ip() {
    let mut cfg = auth_config();
    cfg.auth.throttle.login_failures_per_account = 3;
    cfg.auth.throttle.login_failures_per_ip = 6;
    cfg.auth.throttle.registrations_per_ip = 3;
    let s = Auth::start_with(cfg).await;
    let victim = email();
    s.register(&victim, PASSWORD).await;
    for _ in 0..3 {
        let (status, _) = s.login(&victim, "guess guess guess").await;
        assert_eq!(status, 401);
    }
    let login = json!({"email": victim, "password": PASSWORD});
    let (status, headers, body) = s
        .req(Method::POST, "/api/v1/auth/login")
        .json(login)
        .full()
        .await;
    assert_eq!(status, 429, "even the right password waits");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    assert_eq!(body["retry_after"], retry, "{body}");

    // Another account from the same address still works, until the ip's budget is spent.
    let other = email();
    s.register(&other, PASSWORD).await;
    let (status, _) = s.login(&other, PASSWORD).await;
    assert_eq!(status, 200, "a success does not spend the ip budget");
    let mut limited = false;
    for i in 0..10 {
        let (status, _) = s.login(&self::email(), &format!("guess {i} guess")).await;
        if status == 429 {
            limited = true;
            break;
        }
        assert_eq!(status, 401);
    }
    assert!(limited, "the per-ip limit never applied");

    // Sign-ups are limited per ip too (two were spent above).
    s.register(&self::email(), PASSWORD).await;
    let (status, body) = s
        .sign_up(json!({"email": self::email(), "password": PASSWORD}))
        .await;
    assert_eq!(status, 429, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_keys_are_served_together_and_both_verify() {
    let first = auth_config();
    let old_key = first.auth.keys.inline[0].clone();
    let s1 = Auth::start_with(first.clone()).await;
    let email = email();
    let reg = s1.register(&email, PASSWORD).await;
    let old_token = reg["access_token"].as_str().unwrap().to_owned();

    // Rotation: the same database, the old key kept for verification, a new key signing.
    let mut second = first.clone();
    second.auth.keys.inline = vec![old_key, key("k2")];
    let s2 = Auth::start_with(second).await;
    let (status, headers, jwks) = s2.req(Method::GET, "/.well-known/jwks.json").full().await;
    let cache = headers["cache-control"].to_str().unwrap();
    assert!(cache.contains("max-age=300"), "{cache}");
    assert_eq!(status, 200, "{jwks}");
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, ["k2", "k1"], "the signing key first");
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    assert_eq!(jwks["keys"][0]["alg"], "EdDSA");

    let (status, login) = s2.login(&email, PASSWORD).await;
    assert_eq!(status, 200, "{login}");
    let new_token = login["access_token"].as_str().unwrap();
    let v = s2.verifier();
    let old = v.verify(&old_token).await.unwrap();
    let new = v.verify(new_token).await.unwrap();
    assert_eq!(old.sub, new.sub);
    // The old key's session still refreshes through the new deployment.
    let (status, _) = s2.refresh(reg["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    // And the gateway in front of the new deployment accepts the old token.
    let (status, body) = s2
        .post("/api/v1/auth/change-password", &old_token, json!({}))
        .await;
    assert_eq!(status, 422, "{body}");
    drop(s1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_registered_reaches_user_events() {
    let mut cfg = auth_config();
    cfg.common.kafka.topic_prefix = format!("{}-", unique("it"));
    let topic = storefront_kit::events::topic(&cfg.common.kafka, "user-events");
    storefront_kit::kafka::ensure_topics(&cfg.common.kafka, std::slice::from_ref(&topic), 1)
        .await
        .expect("creating topic (is the broker up?)");
    let s = Auth::start_with(cfg).await;
    let email = email();
    let reg = s
        .sign_up(json!({"email": email, "password": PASSWORD, "display_name": "Ada O'Neil"}))
        .await
        .1;
    let user_id = reg["user"]["id"].as_str().unwrap().to_owned();

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Delivery>();
    let stop = Shutdown::new();
    let kafka = s.common.kafka.clone();
    let consumer = tokio::spawn({
        let stop = stop.clone();
        let topic = topic.clone();
        async move {
            storefront_kit::kafka::run_consumer(
                &kafka,
                ConsumerOptions::new(unique("it-auth"), vec![topic]),
                None,
                stop,
                move |d: Delivery| {
                    let tx = tx.clone();
                    async move {
                        let _ = tx.send(d);
                        Ok(Outcome::Applied)
                    }
                },
            )
            .await
        }
    });
    let found = eventually(
        Duration::from_secs(60),
        "user.registered on user-events",
        || {
            let mut got = None;
            while let Ok(d) = rx.try_recv() {
                if d.event.data["user_id"] == user_id.as_str() {
                    got = Some(d);
                }
            }
            async move { got }
        },
    )
    .await;
    assert_eq!(found.event.event_type, "user.registered");
    assert_eq!(found.event.source, "/storefront/auth");
    assert_eq!(found.key.as_deref(), Some(user_id.as_str()));
    assert_eq!(found.event.data["email"], email);
    assert_eq!(found.event.data["display_name"], "Ada O'Neil");
    assert!(found.event.data.get("password_hash").is_none());
    stop.trigger();
    consumer.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_admin_creates_or_promotes() {
    let cfg = auth_config();
    let admin_email = email();
    let id = storefront_auth::create_admin(&cfg, &admin_email, PASSWORD)
        .await
        .unwrap();
    let s = Auth::start_with(cfg.clone()).await;
    let (status, login) = s.login(&admin_email, PASSWORD).await;
    assert_eq!(status, 200, "{login}");
    let c = s
        .verifier()
        .verify(login["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(c.sub, id);
    assert_eq!(c.roles, vec![Role::Customer, Role::Admin]);

    // An existing customer is promoted, keeping its password.
    let customer = email();
    let reg = s.register(&customer, "customer passphrase").await;
    let promoted =
        storefront_auth::create_admin(&s.auth_cfg, &customer.to_uppercase(), "ignored!!")
            .await
            .unwrap();
    assert_eq!(promoted.to_string(), reg["user"]["id"].as_str().unwrap());
    let (status, login) = s.login(&customer, "customer passphrase").await;
    assert_eq!(status, 200);
    let c = s
        .verifier()
        .verify(login["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert!(c.roles.contains(&Role::Admin));
    // Bad input names the problem.
    let err = storefront_auth::create_admin(&cfg, "not-an-email", PASSWORD)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("email"), "{err:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_password_and_logout_all_end_other_sessions() {
    let s = Auth::start().await;
    let email = email();
    let reg = s.register(&email, PASSWORD).await;
    let (_, other) = s.login(&email, PASSWORD).await;
    let access = reg["access_token"].as_str().unwrap();

    let (status, body) = s
        .post(
            "/api/v1/auth/change-password",
            access,
            json!({"current_password": "wrong wrong wrong", "new_password": "a new passphrase"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(fields(&body), ["current_password"]);

    let (status, fresh) = s
        .post(
            "/api/v1/auth/change-password",
            access,
            json!({"current_password": PASSWORD, "new_password": "a new passphrase"}),
        )
        .await;
    assert_eq!(status, 200, "{fresh}");
    assert_token_response(&fresh);
    let (status, _) = s.refresh(other["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 401, "other sessions end");
    let (status, _) = s.login(&email, PASSWORD).await;
    assert_eq!(status, 401, "the old password is gone");
    let (status, _) = s.login(&email, "a new passphrase").await;
    assert_eq!(status, 200);

    let (status, body) = s
        .post(
            "/api/v1/auth/logout-all",
            fresh["access_token"].as_str().unwrap(),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["revoked_sessions"].as_i64().unwrap() >= 2, "{body}");
    let (status, _) = s.refresh(fresh["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_serves_health_and_jwks_on_its_grpc_port() {
    let s = Auth::start().await;
    let direct = s.client_at(format!("http://{}", s.auth_addr), None);
    for path in ["/healthz", "/readyz", "/metrics", "/.well-known/jwks.json"] {
        assert_eq!(direct.get(path).await.0, 200, "{path}");
    }
    let (_, body) = direct.get("/readyz").await;
    assert_eq!(body["checks"]["postgres"]["status"], "up", "{body}");
    assert_eq!(body["checks"]["redis"]["status"], "up", "{body}");
}

/// A gRPC client of the stack's auth role.
fn grpc(s: &Auth) -> AuthServiceClient<tonic::transport::Channel> {
    AuthServiceClient::new(channel(s.auth_addr, Duration::from_secs(60)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_and_accounts_over_grpc_are_admin_only_and_owner_scoped() {
    let s = Auth::start().await;
    let admin_email = email();
    storefront_auth::create_admin(&s.auth_cfg, &admin_email, PASSWORD)
        .await
        .unwrap();
    let admin = s.login(&admin_email, PASSWORD).await.1["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let alice = s.register(&email(), PASSWORD).await;
    let bob = s.register(&email(), PASSWORD).await;
    let alice_token = alice["access_token"].as_str().unwrap();
    let bob_id = bob["user"]["id"].as_str().unwrap().to_owned();
    let mut c = grpc(&s);

    // A customer reads itself, not someone else; an admin reads anyone.
    let me = ok(c.get_user(bearer(pb::GetUserRequest::default(), alice_token))).await;
    assert_eq!(me.id, alice["user"]["id"].as_str().unwrap());
    let err = refused(c.get_user(bearer(
        pb::GetUserRequest {
            user_id: bob_id.clone(),
        },
        alice_token,
    )))
    .await;
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    let read = ok(c.get_user(bearer(
        pb::GetUserRequest {
            user_id: bob_id.clone(),
        },
        &admin,
    )))
    .await;
    assert_eq!(read.id, bob_id);
    let err = refused(c.get_user(tonic::Request::new(pb::GetUserRequest::default()))).await;
    assert_eq!(err.code(), tonic::Code::Unauthenticated);

    // Role changes need the admin role.
    let grant = |token: &str, role: pb::Role| {
        bearer(
            pb::GrantRoleRequest {
                role: role as i32,
                target: Some(pb::grant_role_request::Target::UserId(bob_id.clone())),
            },
            token,
        )
    };
    let err = refused(c.grant_role(grant(alice_token, pb::Role::Admin))).await;
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    let err = refused(c.grant_role(grant(&admin, pb::Role::Unspecified))).await;
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    for _ in 0..2 {
        let u = ok(c.grant_role(grant(&admin, pb::Role::Admin))).await;
        assert_eq!(
            u.roles,
            vec![pb::Role::Customer as i32, pb::Role::Admin as i32]
        );
    }
    // Bob's next token carries the role.
    let (_, bob_login) = s
        .login(bob["user"]["email"].as_str().unwrap(), PASSWORD)
        .await;
    let claims = s
        .verifier()
        .verify(bob_login["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert!(claims.roles.contains(&Role::Admin));

    let revoke = |role: pb::Role, target: pb::revoke_role_request::Target| {
        bearer(
            pb::RevokeRoleRequest {
                role: role as i32,
                target: Some(target),
            },
            &admin,
        )
    };
    let err = refused(c.revoke_role(revoke(
        pb::Role::Customer,
        pb::revoke_role_request::Target::UserId(bob_id.clone()),
    )))
    .await;
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let u = ok(c.revoke_role(revoke(
        pb::Role::Admin,
        pb::revoke_role_request::Target::Email(
            bob["user"]["email"].as_str().unwrap().to_uppercase(),
        ),
    )))
    .await;
    assert_eq!(u.roles, vec![pb::Role::Customer as i32]);
    // The last admin keeps the role.
    let err = refused(c.revoke_role(revoke(
        pb::Role::Admin,
        pb::revoke_role_request::Target::Email(admin_email.clone()),
    )))
    .await;
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);

    // CreateAdmin: admins only, taken e-mails are ALREADY_EXISTS.
    let new_admin = pb::CreateAdminRequest {
        email: email(),
        password: PASSWORD.into(),
    };
    let err = refused(c.create_admin(bearer(new_admin.clone(), alice_token))).await;
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    let u = ok(c.create_admin(bearer(new_admin.clone(), &admin))).await;
    assert!(u.roles.contains(&(pb::Role::Admin as i32)));
    let err = refused(c.create_admin(bearer(new_admin, &admin))).await;
    assert_eq!(err.code(), tonic::Code::AlreadyExists);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raising_the_argon2_cost_rehashes_at_the_next_login() {
    let first = auth_config();
    let s1 = Auth::start_with(first.clone()).await;
    let email = email();
    let reg = s1.register(&email, PASSWORD).await;
    let id: Uuid = reg["user"]["id"].as_str().unwrap().parse().unwrap();
    let hash = |pool: PgPool| async move {
        sqlx::query_scalar::<_, String>("SELECT password_hash FROM users WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert!(hash(s1.pool.clone()).await.contains("m=19456,t=2,p=1$"));
    drop(s1);

    let mut stronger = first;
    stronger.auth.argon2.iterations = 3;
    let s2 = Auth::start_with(stronger).await;
    let (status, _) = s2.login(&email, PASSWORD).await;
    assert_eq!(status, 200);
    assert!(hash(s2.pool.clone()).await.contains("m=19456,t=3,p=1$"));
    let (status, _) = s2.refresh(reg["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        status, 200,
        "a re-hash is not a password change: sessions stay"
    );
    let (status, _) = s2.login(&email, PASSWORD).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tampered_wrong_key_and_unsigned_tokens_are_refused_by_the_gateway() {
    use storefront_kit::jwt::testing::{TestKey, b64url, raw_token};
    let mut cfg = auth_config();
    let pem = generate_pem();
    cfg.auth.keys.inline = vec![InlineKey {
        kid: "k1".into(),
        pem: pem.clone().into(),
    }];
    let real_key = storefront_auth::keys::keys_from_pem(&pem, Some("k1"))
        .unwrap()
        .remove(0);
    let s = Auth::start_with(cfg).await;
    let reg = s.register(&email(), PASSWORD).await;
    let good = reg["access_token"].as_str().unwrap().to_owned();
    let user: Uuid = reg["user"]["id"].as_str().unwrap().parse().unwrap();
    let claims = |lifetime: u64| {
        storefront_kit::jwt::Claims::issue(
            user,
            vec![Role::Customer],
            "storefront",
            Duration::from_secs(lifetime),
        )
    };

    let mut expired = claims(900);
    expired.iat -= 3600;
    expired.exp -= 3600;
    let expired = real_key.sign(&expired).unwrap();
    let wrong_key = TestKey::generate("k1").sign(&claims(900));
    let unsigned = raw_token(
        &json!({"alg": "none", "typ": "JWT", "kid": "k1"}),
        &claims(900),
        b"",
    );
    let tampered = {
        let mut admin = claims(900);
        admin.roles = vec![Role::Admin];
        let parts: Vec<&str> = good.split('.').collect();
        format!(
            "{}.{}.{}",
            parts[0],
            b64url(&serde_json::to_vec(&admin).unwrap()),
            parts[2]
        )
    };
    let mut c = grpc(&s);
    for (name, token, reason) in [
        ("expired", expired, "expired"),
        ("wrong key", wrong_key, "bad_signature"),
        ("alg none", unsigned, "alg_none"),
        ("tampered", tampered, "bad_signature"),
    ] {
        let (status, body) = s
            .post("/api/v1/auth/change-password", &token, json!({}))
            .await;
        assert_eq!(status, 401, "{name}: {body}");
        assert_eq!(body["reason"], reason, "{name}: {body}");
        // The auth service checks the token again when called directly.
        let err = refused(c.get_user(bearer(pb::GetUserRequest::default(), &token))).await;
        assert_eq!(err.code(), tonic::Code::Unauthenticated, "{name}");
    }
    // The genuine token passes the same route (and fails only on the empty body).
    let (status, _) = s
        .post("/api/v1/auth/change-password", &good, json!({}))
        .await;
    assert_eq!(status, 422);
    c.get_user(bearer(pb::GetUserRequest::default(), &good))
        .await
        .unwrap();
    // Once logged out, the direct call refuses it too.
    let (status, _) = s.post("/api/v1/auth/logout", &good, json!({})).await;
    assert_eq!(status, 204);
    let err = refused(c.get_user(bearer(pb::GetUserRequest::default(), &good))).await;
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
}

/// Issue #15: a sign-up whose answer was lost can be retried with its `Idempotency-Key`: the
/// retry answers 201 with the same account, signed in; the key does not open another account's
/// door (another password, or no key, is still 409).
#[tokio::test]
async fn a_sign_up_retried_with_its_key_answers_as_the_first_did() {
    let s = Auth::start().await;
    let email = email();
    let register = |key: Option<&'static str>, password: &'static str| {
        let mut req = s.req(Method::POST, "/api/v1/auth/register");
        req = req.json(json!({"email": email, "password": password}));
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        req.send()
    };
    let (first, a) = register(Some("signup-7f3a"), PASSWORD).await;
    assert_eq!(first, 201, "{a}");
    let (again, b) = register(Some("signup-7f3a"), PASSWORD).await;
    assert_eq!(again, 201, "{b}");
    assert_eq!(a["user"]["id"], b["user"]["id"], "the same account");
    // The retry's session works.
    let (refreshed, r) = s
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": b["refresh_token"]}),
        )
        .await;
    assert_eq!(refreshed, 200, "{r}");
    let (other_pw, _) = register(Some("signup-7f3a"), "another-password-1").await;
    assert_eq!(other_pw, 409);
    let (no_key, _) = register(None, PASSWORD).await;
    assert_eq!(no_key, 409);
    let (other_key, _) = register(Some("another-key"), PASSWORD).await;
    assert_eq!(other_key, 409);
    let long: &'static str = Box::leak("k".repeat(256).into_boxed_str());
    let (bad, p) = register(Some(long), PASSWORD).await;
    assert_eq!(bad, 400, "{p}");
    assert!(
        p["detail"].as_str().unwrap().contains("Idempotency-Key"),
        "{p}"
    );
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE email = $1")
        .bind(email.to_lowercase())
        .fetch_one(&s.pool)
        .await
        .unwrap();
    assert_eq!(accounts, 1);
}

/// Issue #15: a burst of logins larger than the hashing pool and its queue is answered 200 or
/// 503 with `Retry-After` (never a 499 or another 5xx), and a refused login changed nothing:
/// exactly one session exists per 200.
#[tokio::test]
async fn a_login_burst_past_the_hashing_pool_is_answered_503_with_retry_after() {
    let mut cfg = auth_config();
    cfg.auth.argon2.workers = 1;
    cfg.auth.argon2.queue = 2;
    cfg.auth.argon2.queue_timeout_ms = 100;
    let s = Auth::start_with(cfg).await;
    let email = email();
    let user = s.register(&email, PASSWORD).await;
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let req = s
            .http
            .post(format!("{}/api/v1/auth/login", s.base))
            .json(&json!({"email": email, "password": PASSWORD}));
        tasks.push(tokio::spawn(async move { req.send().await.unwrap() }));
    }
    let (mut ok, mut busy) = (0i64, 0);
    for t in tasks {
        let resp = t.await.unwrap();
        match resp.status().as_u16() {
            200 => ok += 1,
            503 => {
                let after: u64 = resp.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(after >= 1);
                busy += 1;
            }
            other => panic!("unexpected {other}: {}", resp.text().await.unwrap()),
        }
    }
    assert!(
        busy > 0,
        "a pool of one with a queue of two refuses part of 40"
    );
    assert!(ok > 0);
    let sessions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM refresh_tokens WHERE user_id = $1::uuid")
            .bind(user["user"]["id"].as_str().unwrap())
            .fetch_one(&s.pool)
            .await
            .unwrap();
    assert_eq!(
        sessions,
        ok + 1,
        "one session per 200 and the sign-up's; none per 503"
    );
}
