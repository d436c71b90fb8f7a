//! The user service end to end: the real auth role, user role and gateway on 127.0.0.1:0 with
//! fresh databases, driven over REST and over the user service's own gRPC port, against the
//! PostgreSQL, Redis, broker and S3 store of the dev stack.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use storefront_auth::config::InlineKey;
use storefront_auth::keys::generate_pem;
use storefront_kit::events::topics;
use storefront_kit::jwt::Role;
use storefront_proto::user::v1 as pb;
use storefront_proto::user::v1::user_service_client::UserServiceClient;
use storefront_tests::stack::Stack;
use storefront_tests::{bearer, channel, eventually, fields, ok, refused, unique};
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery";
const NASTY: [&str; 3] = [
    "'; DROP TABLE users; --",
    "%_\\",
    "Robert'); DELETE FROM addresses;--",
];

/// auth + user + gateway, stopped on drop.
struct Users {
    stack: Stack,
    user_addr: SocketAddr,
    user_pool: PgPool,
    /// The auth role's signing key (to forge expired tokens with the real key).
    pem: String,
}

storefront_tests::deref_stack!(Users);

impl Users {
    /// Both roles get a private `user-events` topic and the consumer runs against it; tokens
    /// are the real auth role's.
    async fn start() -> Self {
        let mut stack = Stack::new("it_user").await;
        stack.topics(&[topics::USER_EVENTS]).await;
        let pem = generate_pem();
        let key = InlineKey {
            kid: "k1".into(),
            pem: pem.clone().into(),
        };
        let auth = stack.auth(|c| c.auth.keys.inline = vec![key]).await.url();
        stack.common.auth.jwks_url = format!("{auth}/.well-known/jwks.json");
        let user = stack.user(|_| {}).await;
        stack
            .gateway(|gw| {
                gw.gateway.upstreams.auth = auth;
                gw.gateway.upstreams.user = user.url();
            })
            .await;
        Self {
            stack,
            user_addr: user.addr,
            user_pool: user.state,
            pem,
        }
    }

    /// Registers a fresh account; its id and access token.
    async fn register(&self, display_name: &str) -> (Uuid, String) {
        let (status, body) = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({
                    "email": format!("{}@example.com", unique("u")),
                    "password": PASSWORD,
                    "display_name": display_name,
                }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        (
            body["user"]["id"].as_str().unwrap().parse().unwrap(),
            body["access_token"].as_str().unwrap().to_owned(),
        )
    }

    fn grpc(&self) -> UserServiceClient<tonic::transport::Channel> {
        UserServiceClient::new(channel(self.user_addr, Duration::from_secs(60)))
    }
}

/// How many of `items` are the default shipping and the default billing address.
fn defaults(items: &[Value]) -> (usize, usize) {
    let count = |flag: &str| items.iter().filter(|a| a[flag] == true).count();
    (count("is_default_shipping"), count("is_default_billing"))
}

fn berlin() -> Value {
    json!({
        "label": "Home",
        "recipient_name": "Ada Lovelace",
        "address_lines": ["Unter den Linden 1"],
        "locality": "Berlin",
        "postal_code": "10117",
        "country_code": "DE",
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_is_created_from_user_registered_once() {
    let s = Users::start().await;
    let (id, token) = s.register("Ada O'Neil").await;
    eventually(
        Duration::from_secs(60),
        "the profile seeded by user.registered",
        || {
            let pool = s.user_pool.clone();
            async move {
                storefront_user::store::profiles::exists(&pool, id)
                    .await
                    .unwrap()
                    .then_some(())
            }
        },
    )
    .await;
    let (status, me) = s.get_as("/api/v1/users/me", &token).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["user_id"], id.to_string());
    assert_eq!(me["display_name"], "Ada O'Neil");
    assert!(me["avatar_url"].is_null());

    // A redelivered event is recognised by the inbox and changes nothing.
    let event = storefront_kit::events::CloudEvent::new(
        "/storefront/auth",
        "user.registered",
        Some(id.to_string()),
        json!({"user_id": id, "email": "x@example.com", "display_name": "Someone Else"}),
    );
    use storefront_kit::kafka::Outcome;
    let first = storefront_user::events::handle(&s.user_pool, &event)
        .await
        .unwrap();
    assert_eq!(first, Outcome::Applied);
    let again = storefront_user::events::handle(&s.user_pool, &event)
        .await
        .unwrap();
    assert_eq!(again, Outcome::Duplicate);
    // The name the user already has wins over a late event.
    assert_eq!(
        s.get_as("/api/v1/users/me", &token).await.1["display_name"],
        "Ada O'Neil"
    );

    // Profile update: PATCH changes only what is sent.
    let (status, me) = s
        .patch("/api/v1/users/me", &token, json!({"phone": "+4930123456"}))
        .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["phone"], "+4930123456");
    assert_eq!(me["display_name"], "Ada O'Neil");
    // A user the event has not reached yet still gets a profile on first access.
    let (status, me) = s.get_as("/api/v1/users/me", &s.register("").await.1).await;
    assert_eq!(status, 200, "{me}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_crud_with_default_switching() {
    let s = Users::start().await;
    let (_, t) = s.register("Ada").await;
    let (status, first) = s.post("/api/v1/users/me/addresses", &t, berlin()).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["country_code"], "DE");
    // The first address is both defaults.
    assert_eq!(first["is_default_shipping"], true);
    assert_eq!(first["is_default_billing"], true);
    let first_id = first["id"].as_str().unwrap().to_owned();

    let mut second = berlin();
    second["label"] = json!("Office");
    second["postal_code"] = json!("SW1A 1AA");
    second["country_code"] = json!("GB");
    second["locality"] = json!("London");
    second["is_default_shipping"] = json!(true);
    let (status, second) = s
        .post("/api/v1/users/me/addresses", &t, second.clone())
        .await;
    assert_eq!(status, 201, "{second}");
    let second_id = second["id"].as_str().unwrap().to_owned();
    assert_eq!(second["is_default_shipping"], true);
    assert_eq!(second["is_default_billing"], false);

    let path = |id: &str| format!("/api/v1/users/me/addresses/{id}");
    let (_, a) = s.get_as(&path(&first_id), &t).await;
    assert_eq!(a["is_default_shipping"], false, "the default moved: {a}");
    assert_eq!(a["is_default_billing"], true);

    // Billing moves too, in one request.
    let (status, b) = s
        .patch(
            &path(&second_id),
            &t,
            json!({"is_default_billing": true, "postal_code": "EC1A 1BB"}),
        )
        .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["postal_code"], "EC1A 1BB");
    assert_eq!(b["label"], "Office");
    let (status, list) = s.get_as("/api/v1/users/me/addresses", &t).await;
    assert_eq!(status, 200);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], second_id, "defaults first: {list}");
    let (shipping, billing) = defaults(items);
    assert_eq!((shipping, billing), (1, 1));
    assert!(list["next_cursor"].is_null());

    // Pagination walks the same list.
    let (_, p1) = s.get_as("/api/v1/users/me/addresses?limit=1", &t).await;
    let cursor = p1["next_cursor"].as_str().unwrap().to_owned();
    let (_, p2) = s
        .get_as(
            format!("/api/v1/users/me/addresses?limit=1&cursor={cursor}"),
            &t,
        )
        .await;
    assert_eq!(p2["items"][0]["id"], first_id);
    assert!(p2["next_cursor"].is_null());

    // Delete; a second delete is 404.
    assert_eq!(s.delete(&path(&second_id), &t).await.0, 204);
    assert_eq!(s.delete(&path(&second_id), &t).await.0, 404);
    assert_eq!(s.get_as(&path(&second_id), &t).await.0, 404);
    let (_, list) = s.get_as("/api/v1/users/me/addresses", &t).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        list["items"][0]["is_default_shipping"], false,
        "deleting a default leaves none"
    );

    // Concurrent requests each claiming the default leave exactly one (the lock and the
    // partial unique index), and the database refuses a second default outright.
    let claims = (0..6).map(|i| {
        let mut body = berlin();
        body["label"] = json!(format!("race {i}"));
        body["is_default_shipping"] = json!(true);
        body["is_default_billing"] = json!(true);
        let s = &s;
        let t = t.clone();
        async move {
            s.post("/api/v1/users/me/addresses", &t, body.clone())
                .await
                .0
        }
    });
    for status in futures::future::join_all(claims).await {
        assert_eq!(status, 201);
    }
    let (_, list) = s.get_as("/api/v1/users/me/addresses?limit=100", &t).await;
    let items = list["items"].as_array().unwrap();
    let (shipping, billing) = defaults(items);
    assert_eq!((items.len(), shipping, billing), (7, 1, 1), "{list}");
    let err = sqlx::query("UPDATE addresses SET is_default_shipping = true")
        .execute(&s.user_pool)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("addresses_one_default_shipping"),
        "{err}"
    );

    // The cap: 20 addresses.
    for _ in 7..20 {
        assert_eq!(
            s.post("/api/v1/users/me/addresses", &t, berlin()).await.0,
            201
        );
    }
    let (status, body) = s.post("/api/v1/users/me/addresses", &t, berlin()).await;
    assert_eq!(status, 429, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_errors_name_the_field() {
    let s = Users::start().await;
    let (_, t) = s.register("Ada").await;
    let cases = [
        ("country_code", json!("XX")),
        ("country_code", json!("DEU")),
        ("country_code", json!("de")),
        ("postal_code", json!(" 10117")),
        ("postal_code", json!("1234")),
        ("postal_code", json!("ABCDE")),
        ("recipient_name", json!("x".repeat(201))),
        ("recipient_name", json!("")),
        ("locality", json!("y".repeat(101))),
        ("label", json!("z".repeat(65))),
        ("phone", json!("0301234")),
        ("address_lines", json!([])),
        ("address_lines[1]", json!(["ok", "w".repeat(201)])),
    ];
    for (field, value) in cases {
        let mut body = berlin();
        let key = field.split('[').next().unwrap();
        body[key] = value.clone();
        let (status, resp) = s.post("/api/v1/users/me/addresses", &t, body.clone()).await;
        assert_eq!(status, 422, "{field}={value}: {resp}");
        assert!(
            fields(&resp).contains(&field.to_owned()),
            "{field}={value}: {resp}"
        );
    }
    // US, NL and the generic rule.
    for (country, code, ok) in [
        ("US", "12345-6789", true),
        ("US", "1234", false),
        ("NL", "1012 AB", true),
        ("NL", "1012", false),
        ("BR", "01310-100", true),
        ("KE", "00100", true),
        ("KE", "001_00", false),
    ] {
        let mut body = berlin();
        body["country_code"] = json!(country);
        body["postal_code"] = json!(code);
        let (status, resp) = s.post("/api/v1/users/me/addresses", &t, body.clone()).await;
        assert_eq!(status == 201, ok, "{country} {code}: {resp}");
    }
    // Malformed JSON is 400; wrong types 422.
    let raw = "{\"recipient_name\": ";
    let (status, _) = s.post_raw("/api/v1/users/me/addresses", &t, raw).await;
    assert_eq!(status, 400);
    let (status, _) = s
        .post(
            "/api/v1/users/me/addresses",
            &t,
            json!({"address_lines": "one"}),
        )
        .await;
    assert_eq!(status, 422);
    // Profile, preferences, wishlist.
    let (status, resp) = s
        .patch(
            "/api/v1/users/me",
            &t,
            json!({"display_name": "n".repeat(101)}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(fields(&resp), ["display_name"]);
    let (status, resp) = s
        .put(
            "/api/v1/users/me/preferences",
            &t,
            json!({"locale": "en_GB", "currency": "XYZ", "marketing_opt_in": true}),
        )
        .await;
    assert_eq!(status, 422, "{resp}");
    let f = fields(&resp);
    assert!(
        f.contains(&"locale".to_owned()) && f.contains(&"currency".to_owned()),
        "{resp}"
    );
    let (status, _) = s
        .put("/api/v1/users/me/wishlist/not-a-uuid", &t, None)
        .await;
    assert_eq!(status, 400);
    let (status, _) = s.get_as("/api/v1/users/me/addresses/not-a-uuid", &t).await;
    assert_eq!(status, 400);
    let (status, _) = s.get_as("/api/v1/users/me/wishlist?limit=0", &t).await;
    assert_eq!(status, 422);
    let (status, _) = s.get_as("/api/v1/users/me/wishlist?cursor=bogus", &t).await;
    assert_eq!(status, 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preferences_default_put_and_patch() {
    let s = Users::start().await;
    let (_, t) = s.register("Ada").await;
    let (status, p) = s.get_as("/api/v1/users/me/preferences", &t).await;
    assert_eq!(status, 200);
    assert_eq!(p["locale"], "en-US");
    assert_eq!(p["currency"], "EUR");
    assert!(p["updated_at"].is_null());
    let (status, p) = s
        .put(
            "/api/v1/users/me/preferences",
            &t,
            json!({"locale": "en-GB", "currency": "gbp", "marketing_opt_in": true}),
        )
        .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["currency"], "GBP");
    let (_, p) = s
        .patch(
            "/api/v1/users/me/preferences",
            &t,
            json!({"marketing_opt_in": false}),
        )
        .await;
    assert_eq!(
        (p["locale"].as_str(), p["marketing_opt_in"].as_bool()),
        (Some("en-GB"), Some(false))
    );
    let (status, resp) = s
        .put("/api/v1/users/me/preferences", &t, json!({"locale": "de"}))
        .await;
    assert_eq!(status, 422, "PUT needs every field: {resp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_metacharacters_are_stored_and_returned_verbatim() {
    let s = Users::start().await;
    let (_, t) = s.register("Ada").await;
    for nasty in NASTY {
        let (status, me) = s
            .patch("/api/v1/users/me", &t, json!({"display_name": nasty}))
            .await;
        assert_eq!(status, 200, "{me}");
        assert_eq!(me["display_name"], nasty);
        let body = json!({
            "label": nasty,
            "recipient_name": nasty,
            "organization": nasty,
            "address_lines": [nasty, nasty],
            "locality": nasty,
            "administrative_area": nasty,
            "postal_code": "10117",
            "country_code": "DE",
        });
        let (status, a) = s.post("/api/v1/users/me/addresses", &t, body.clone()).await;
        assert_eq!(status, 201, "{a}");
        let (_, a) = s
            .get_as(
                format!("/api/v1/users/me/addresses/{}", a["id"].as_str().unwrap()),
                &t,
            )
            .await;
        for f in [
            "label",
            "recipient_name",
            "organization",
            "locality",
            "administrative_area",
        ] {
            assert_eq!(a[f], nasty, "{f}: {a}");
        }
        assert_eq!(a["address_lines"], json!([nasty, nasty]));
    }
    assert_eq!(
        s.get_as("/api/v1/users/me", &t).await.1["display_name"],
        NASTY[2]
    );
    // The tables are all still there.
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM addresses")
        .fetch_one(&s.user_pool)
        .await
        .unwrap();
    assert_eq!(n, NASTY.len() as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_address_is_not_found_via_gateway_and_grpc() {
    let s = Users::start().await;
    let (_, alice) = s.register("Alice").await;
    let (_, bob) = s.register("Bob").await;
    let (_, a) = s.post("/api/v1/users/me/addresses", &alice, berlin()).await;
    let id = a["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/users/me/addresses/{id}");

    assert_eq!(s.get_as(&path, &bob).await.0, 404);
    assert_eq!(
        s.patch(&path, &bob, json!({"locality": "Hacked"})).await.0,
        404
    );
    assert_eq!(s.delete(&path, &bob).await.0, 404);
    let (_, list) = s.get_as("/api/v1/users/me/addresses", &bob).await;
    assert_eq!(list["items"], json!([]));

    let mut c = s.grpc();
    let address_id = id.clone();
    let get = c.get_address(bearer(pb::GetAddressRequest { address_id }, &bob));
    assert_eq!(get.await.unwrap_err().code(), tonic::Code::NotFound);
    let address_id = id.clone();
    let delete = c.delete_address(bearer(pb::DeleteAddressRequest { address_id }, &bob));
    assert_eq!(delete.await.unwrap_err().code(), tonic::Code::NotFound);
    // Alice's address is untouched.
    let (status, a) = s.get_as(&path, &alice).await;
    assert_eq!(status, 200);
    assert_eq!(a["locality"], "Berlin");
    let got = ok(c.get_address(bearer(pb::GetAddressRequest { address_id: id }, &alice))).await;
    assert_eq!(got.locality, "Berlin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_refused_by_the_user_service_directly() {
    use storefront_kit::jwt::testing::{TestKey, b64url, raw_token};
    let s = Users::start().await;
    let (user, good) = s.register("Ada").await;
    let real_key = storefront_auth::keys::keys_from_pem(&s.pem, Some("k1"))
        .unwrap()
        .remove(0);
    let claims = || {
        storefront_kit::jwt::Claims::issue(
            user,
            vec![Role::Customer],
            "storefront",
            Duration::from_secs(900),
        )
    };
    let mut expired = claims();
    expired.iat -= 3600;
    expired.exp -= 3600;
    let expired = real_key.sign(&expired).unwrap();
    let wrong_key = TestKey::generate("k1").sign(&claims());
    let unsigned = raw_token(
        &json!({"alg": "none", "typ": "JWT", "kid": "k1"}),
        &claims(),
        b"",
    );
    let tampered = {
        let other = storefront_kit::jwt::Claims::issue(
            Uuid::now_v7(),
            vec![Role::Customer],
            "storefront",
            Duration::from_secs(900),
        );
        let parts: Vec<&str> = good.split('.').collect();
        format!(
            "{}.{}.{}",
            parts[0],
            b64url(&serde_json::to_vec(&other).unwrap()),
            parts[2]
        )
    };
    let mut c = s.grpc();
    for (name, token) in [
        ("expired", expired),
        ("wrong key", wrong_key),
        ("alg none", unsigned),
        ("tampered", tampered),
        ("garbage", "not-a-token".to_owned()),
    ] {
        let err = refused(c.get_profile(bearer(pb::GetProfileRequest {}, &token))).await;
        assert_eq!(err.code(), tonic::Code::Unauthenticated, "{name}");
        let err =
            refused(c.list_addresses(bearer(pb::ListAddressesRequest::default(), &token))).await;
        assert_eq!(err.code(), tonic::Code::Unauthenticated, "{name}");
        assert_eq!(s.get_as("/api/v1/users/me", &token).await.0, 401, "{name}");
    }
    let err = refused(c.get_profile(tonic::Request::new(pb::GetProfileRequest {}))).await;
    assert_eq!(err.code(), tonic::Code::Unauthenticated, "no token");
    // Health, readiness and metrics share the gRPC port.
    let direct = s.client_at(format!("http://{}", s.user_addr), None);
    let (status, ready) = direct.get("/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(ready["checks"]["postgres"]["status"], "up", "{ready}");
    assert_eq!(ready["checks"]["s3"]["status"], "up", "{ready}");
    assert_eq!(direct.get("/metrics").await.0, 200);
    let me = ok(c.get_profile(bearer(pb::GetProfileRequest {}, &good))).await;
    assert_eq!(me.user_id, user.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wishlist_is_idempotent_and_paginates() {
    let s = Users::start().await;
    let (_, t) = s.register("Ada").await;
    let (_, other) = s.register("Bob").await;
    let products: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
    let path = |p: &Uuid| format!("/api/v1/users/me/wishlist/{p}");
    let (status, first) = s.put(&path(&products[0]), &t, None).await;
    assert_eq!(status, 200, "{first}");
    let (status, again) = s.put(&path(&products[0]), &t, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        again["added_at"], first["added_at"],
        "re-adding keeps the original time"
    );
    for p in &products[1..] {
        assert_eq!(s.put(&path(p), &t, None).await.0, 200);
    }
    // Newest first, two at a time.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/api/v1/users/me/wishlist?limit=2&cursor={c}"),
            None => "/api/v1/users/me/wishlist?limit=2".to_owned(),
        };
        let (status, page) = s.get_as(&q, &t).await;
        assert_eq!(status, 200, "{page}");
        for i in page["items"].as_array().unwrap() {
            seen.push(i["product_id"].as_str().unwrap().parse::<Uuid>().unwrap());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut newest_first = products.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);
    // Removing is idempotent and per user.
    assert_eq!(s.delete(&path(&products[0]), &other).await.0, 204);
    assert_eq!(
        s.get_as("/api/v1/users/me/wishlist", &t).await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert_eq!(s.delete(&path(&products[0]), &t).await.0, 204);
    assert_eq!(s.delete(&path(&products[0]), &t).await.0, 204);
    assert_eq!(
        s.get_as("/api/v1/users/me/wishlist", &t).await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        s.get_as("/api/v1/users/me/wishlist", &other).await.1["items"],
        json!([])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avatar_round_trip_against_the_s3_store() {
    let s = Users::start().await;
    let (user, t) = s.register("Ada").await;
    assert_eq!(s.get_as("/api/v1/users/me/avatar", &t).await.0, 404);

    // Refused up front: wrong type, too large, empty.
    for (ct, size, field) in [
        ("image/gif", 10, "content_type"),
        ("image/png", 2 * 1024 * 1024 + 1, "size_bytes"),
        ("image/png", 0, "size_bytes"),
    ] {
        let (status, body) = s
            .post(
                "/api/v1/users/me/avatar",
                &t,
                json!({"content_type": ct, "size_bytes": size}),
            )
            .await;
        assert_eq!(status, 422, "{ct} {size}: {body}");
        assert_eq!(fields(&body), [field]);
    }

    let image: Vec<u8> = (0..4096u32).map(|i| (i * 31 % 251) as u8).collect();
    let (status, up) = s
        .post(
            "/api/v1/users/me/avatar",
            &t,
            json!({"content_type": "image/png", "size_bytes": image.len()}),
        )
        .await;
    assert_eq!(status, 201, "{up}");
    let key = up["object_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with(&format!("avatars/{user}/")), "{key}");
    assert_eq!(up["method"], "PUT");

    // Completing before the upload fails.
    let (status, body) = s
        .post(
            "/api/v1/users/me/avatar/complete",
            &t,
            json!({"object_key": key}),
        )
        .await;
    assert_eq!(status, 409, "{body}");

    // Another user cannot claim the upload.
    let (_, bob) = s.register("Bob").await;
    let (status, _) = s
        .post(
            "/api/v1/users/me/avatar/complete",
            &bob,
            json!({"object_key": key}),
        )
        .await;
    assert_eq!(status, 403);

    let url = up["upload_url"].as_str().unwrap();
    let signed = url
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("X-Amz-SignedHeaders="))
        .unwrap_or_default();
    assert!(
        signed.contains("content-type") && signed.contains("content-length"),
        "type and length are bound into the signature: {signed}"
    );
    // The store refuses a body of another type or length than was signed.
    for (ct, body) in [
        ("image/jpeg", image.clone()),
        ("image/png", vec![0u8; image.len() + 1]),
    ] {
        let resp = s
            .http
            .put(url)
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{ct}");
    }
    let mut put = s.http.put(url);
    for (k, v) in up["headers"].as_object().unwrap() {
        put = put.header(k.as_str(), v.as_str().unwrap());
    }
    let resp = put.body(image.clone()).send().await.unwrap();
    assert!(
        resp.status().is_success(),
        "PUT {}: {}",
        resp.status(),
        resp.text().await.unwrap()
    );

    let (status, me) = s
        .post(
            "/api/v1/users/me/avatar/complete",
            &t,
            json!({"object_key": key}),
        )
        .await;
    assert_eq!(status, 200, "{me}");
    assert!(me["avatar_url"].as_str().is_some(), "{me}");

    let (status, got) = s.get_as("/api/v1/users/me/avatar", &t).await;
    assert_eq!(status, 200, "{got}");
    let bytes = s
        .http
        .get(got["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), image.as_slice());

    // An upload whose object differs from the announcement is refused at completion.
    let (_, up2) = s
        .post(
            "/api/v1/users/me/avatar",
            &t,
            json!({"content_type": "image/webp", "size_bytes": 100}),
        )
        .await;
    let key2 = up2["object_key"].as_str().unwrap().to_owned();
    let s3 = storefront_kit::s3::client(&s.common.s3);
    s3.put_object()
        .bucket(storefront_kit::s3::bucket_name(
            &s.common.s3,
            "user-avatars",
        ))
        .key(&key2)
        .content_type("image/webp")
        .body(vec![0u8; 200].into())
        .send()
        .await
        .unwrap();
    let (status, body) = s
        .post(
            "/api/v1/users/me/avatar/complete",
            &t,
            json!({"object_key": key2}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    // The avatar is still the first one.
    let (_, me) = s.get_as("/api/v1/users/me", &t).await;
    assert!(
        me["avatar_url"]
            .as_str()
            .unwrap()
            .contains(&key.replace('/', "%2F"))
            || me["avatar_url"].as_str().unwrap().contains(&key),
        "{me}"
    );

    // Delete is idempotent.
    assert_eq!(s.delete("/api/v1/users/me/avatar", &t).await.0, 200);
    assert_eq!(s.delete("/api/v1/users/me/avatar", &t).await.0, 200);
    assert_eq!(s.get_as("/api/v1/users/me/avatar", &t).await.0, 404);
}
