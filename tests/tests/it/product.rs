//! The product service end to end: the real product role (gRPC) on 127.0.0.1:0 with a fresh
//! database, its own Redis key prefix and S3 bucket prefix, and the real gateway in front of it,
//! driven over REST (and gRPC where checkout uses it) with tokens signed by a test JWKS.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use storefront_kit::events::{CloudEvent, topics};
use storefront_kit::jwt::Role;
use storefront_product::config::ProductSettings;
use storefront_proto::product::v1 as pb;
use storefront_proto::product::v1::product_service_client::ProductServiceClient;
use storefront_tests::roles::Started;
use storefront_tests::stack::{Client, Stack, find_event};
use storefront_tests::{channel, column, eur, eventually, money, ok, refused, sku};
use tonic::transport::Channel;
use uuid::Uuid;

/// A product role (and optionally an inventory role) and a gateway in front, stopped on drop.
struct Catalog {
    stack: Stack,
    addr: SocketAddr,
    admin: Client,
    customer: String,
    redis: redis::aio::ConnectionManager,
    catalog: storefront_product::Catalog,
    /// The inventory role's pool, when one runs.
    inventory: Option<PgPool>,
}

storefront_tests::deref_stack!(Catalog);

impl Catalog {
    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A stack whose product settings `tune` changed first.
    async fn start_with(tune: impl FnOnce(&mut ProductSettings)) -> Self {
        Self::start_full(tune, false).await
    }

    /// With `inventory`, an inventory role too (its own database), behind the same gateway.
    async fn start_full(tune: impl FnOnce(&mut ProductSettings), inventory: bool) -> Self {
        let mut stack = Stack::new("it_product").await;
        stack.common.postgres.max_connections = 20;
        stack
            .topics(&[
                topics::PRODUCT_EVENTS,
                topics::INVENTORY_EVENTS,
                topics::ORDER_EVENTS,
            ])
            .await;
        let product = stack.product(|c| tune(&mut c.product)).await;
        let inventory = match inventory {
            true => Some(stack.inventory(|_| {}).await),
            false => None,
        };
        let inventory_url = inventory.as_ref().map(Started::url);
        stack
            .gateway(|gw| {
                gw.gateway.upstreams.product = product.url();
                if let Some(url) = inventory_url {
                    gw.gateway.upstreams.inventory = url;
                }
            })
            .await;
        let redis = stack.redis().await;
        Self {
            admin: stack.client(&stack.admin()),
            customer: stack.token(Uuid::now_v7(), vec![Role::Customer]),
            stack,
            addr: product.addr,
            redis,
            catalog: product.state,
            inventory: inventory.map(|i| i.state),
        }
    }

    /// Creates an active product with one variant per (sku, price, attributes).
    async fn product(&self, body: Value) -> Value {
        let (s, b) = self.admin.post("/api/v1/admin/products", body).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b
    }

    fn grpc(&self) -> ProductServiceClient<Channel> {
        ProductServiceClient::new(channel(self.addr, Duration::from_secs(30)))
    }
}

fn variant(sku: &str, amount: i64, attrs: Value) -> Value {
    json!({"sku": sku, "price": eur(amount), "attributes": attrs})
}

fn names(list: &Value) -> Vec<String> {
    column(&list["items"], "name")
}

fn facet(body: &Value, facet: &str, value: &str) -> i64 {
    body["facets"][facet]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["value"] == value)
        .map(|v| v["count"].as_i64().unwrap())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_crud_keeps_slugs_unique_and_stable() {
    let s = Catalog::start().await;
    let admin = &s.admin;
    let p = s
        .product(json!({"name": "Trail Running Shoe", "brand": "Acme", "tags": ["Running", "running", "Trail"],
                        "specifications": [{"name": "Weight", "value": "280 g"}],
                        "variants": [variant(&sku(), 8999, json!({"size": "42"}))]}))
        .await;
    assert_eq!(p["slug"], "trail-running-shoe");
    assert_eq!(p["status"], "draft");
    assert_eq!(p["tags"], json!(["running", "trail"]));
    assert_eq!(p["min_price"], eur(8999));
    let id = p["id"].as_str().unwrap().to_owned();

    // Drafts are invisible to customers, visible to admins.
    let (st, _) = s.get(&format!("/api/v1/products/{id}")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = admin.get(format!("/api/v1/products/{id}")).await;
    assert_eq!(st, StatusCode::OK);

    // Same name: a distinct slug; an explicit slug that is taken: 409.
    let p2 = s.product(json!({"name": "Trail Running Shoe"})).await;
    assert_eq!(p2["slug"], "trail-running-shoe-2");
    let (st, body) = admin
        .post(
            "/api/v1/admin/products",
            json!({"name": "Other", "slug": "trail-running-shoe"}),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{body}");
    let (st, body) = admin
        .post(
            "/api/v1/admin/products",
            json!({"name": "Bad", "slug": "Not A Slug"}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "slug");

    // Renaming keeps the slug; activating makes it public under the old slug.
    let (st, body) = admin
        .patch(
            format!("/api/v1/admin/products/{id}"),
            json!({"name": "Trail Running Shoe Pro", "status": "active"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["slug"], "trail-running-shoe");
    let (st, body) = s.get("/api/v1/products/trail-running-shoe").await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "Trail Running Shoe Pro");
    // An explicit slug change moves it; the old slug no longer resolves.
    let (st, body) = admin
        .patch(
            format!("/api/v1/admin/products/{id}"),
            json!({"slug": "trail-pro"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(s.get("/api/v1/products/trail-pro").await.0, StatusCode::OK);
    assert_eq!(
        s.get("/api/v1/products/trail-running-shoe").await.0,
        StatusCode::NOT_FOUND
    );
    let other = p2["id"].as_str().unwrap();
    let (st, _) = admin
        .patch(
            format!("/api/v1/admin/products/{other}"),
            json!({"slug": "trail-pro"}),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);

    // The admin list pages through every status, newest first; customers may not use it.
    let mut listed = Vec::new();
    let mut cursor = String::new();
    loop {
        let (st, page) = admin
            .get(format!("/api/v1/admin/products?limit=1{cursor}"))
            .await;
        assert_eq!(st, StatusCode::OK, "{page}");
        listed.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].clone()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(listed, [p2["id"].clone(), p["id"].clone()]);
    let (st, _) = s.get_as("/api/v1/admin/products", &s.customer).await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // Variants: duplicate SKU 409, bad compare-at 422, update and delete.
    let taken = p["variants"][0]["sku"].as_str().unwrap();
    let (st, _) = admin
        .post(
            format!("/api/v1/admin/products/{other}/variants"),
            variant(taken, 100, json!({})),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (st, body) = admin.post(format!("/api/v1/admin/products/{id}/variants"), json!({"sku": sku(), "price": eur(5000), "compare_at_price": eur(4000), "attributes": {"size": "43"}}))
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (st, v) = admin.post(format!("/api/v1/admin/products/{id}/variants"), json!({"sku": sku(), "price": eur(9500), "compare_at_price": eur(12000), "attributes": {"size": "43"}}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let vid = v["id"].as_str().unwrap();
    // A variant is addressed under its own product only.
    let (st, _) = admin
        .patch(
            format!("/api/v1/admin/products/{other}/variants/{vid}"),
            json!({"price": eur(1)}),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, v) = admin
        .patch(
            format!("/api/v1/admin/products/{id}/variants/{vid}"),
            json!({"price": eur(7999), "compare_at_price": null}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["price"], eur(7999));
    assert_eq!(v["compare_at_price"], Value::Null);
    let (_, body) = s.get(&format!("/api/v1/products/{id}")).await;
    assert_eq!(body["min_price"], eur(7999));
    assert_eq!(body["max_price"], eur(8999));
    let (st, _) = admin
        .delete(format!("/api/v1/admin/products/{id}/variants/{vid}"))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);

    // Active products must be archived before deletion; archived ones stay readable.
    let (st, _) = admin.delete(format!("/api/v1/admin/products/{id}")).await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (st, body) = admin
        .post(format!("/api/v1/admin/products/{id}/archive"), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "archived");
    assert_eq!(
        s.get(&format!("/api/v1/products/{id}")).await.0,
        StatusCode::OK
    );
    let (st, _) = admin.delete(format!("/api/v1/admin/products/{id}")).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(
        admin.get(format!("/api/v1/products/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_refuse_customers_and_anonymous_callers() {
    let s = Catalog::start().await;
    let body = json!({"name": "Forbidden Fruit"});
    for (path, method) in [
        ("/api/v1/admin/products", Method::POST),
        ("/api/v1/admin/categories", Method::POST),
    ] {
        let (st, p) = s
            .call(method.clone(), path, &s.customer, body.clone())
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{path}: {p}");
        assert_eq!(p["status"], 403);
        let (st, _) = s.call(method, path, None, body.clone()).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{path}");
    }
    // The service enforces the role itself too (callers inside the cluster skip the gateway).
    let mut req = tonic::Request::new(pb::CreateProductRequest {
        product: Some(pb::Product {
            name: "Sneaky".into(),
            ..Default::default()
        }),
    });
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", s.customer).parse().unwrap(),
    );
    let err = refused(s.grpc().create_product(req)).await;
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    let err = refused(s.grpc().create_product(pb::CreateProductRequest::default())).await;
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
}

/// Computed searches take turns: one at a time and none waiting here, so of a burst of distinct
/// searches some are answered 503 with `Retry-After` (nothing else fails), and product pages
/// keep answering meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_computed_searches_is_bounded_and_answered_503_with_retry_after() {
    let s = Catalog::start_with(|p| {
        p.search_cache_secs = 0;
        p.search_concurrency = 1;
        p.search_queue = 0;
        p.search_queue_timeout_ms = 50;
    })
    .await;
    let created = s
        .product(json!({"name": "Flood Lantern", "status": "active",
                        "variants": [variant(&sku(), 900, json!({}))]}))
        .await;
    let slug = created["slug"].as_str().unwrap().to_owned();
    let searches: Vec<_> = (0..40)
        .map(|i| {
            let (http, url) = (
                s.http.clone(),
                format!("{}/api/v1/products?q=lantern{i}", s.base),
            );
            tokio::spawn(async move {
                let r = http.get(url).send().await.unwrap();
                let retry_after = r.headers().get("retry-after").cloned();
                (r.status(), retry_after)
            })
        })
        .collect();
    let (st, page) = s.get(&format!("/api/v1/products/{slug}")).await;
    assert_eq!(
        st,
        StatusCode::OK,
        "a product page during the flood: {page}"
    );
    let (mut ok, mut busy) = (0, 0);
    for t in searches {
        match t.await.unwrap() {
            (StatusCode::OK, _) => ok += 1,
            (StatusCode::SERVICE_UNAVAILABLE, Some(ra)) => {
                assert!(ra.to_str().unwrap().parse::<u64>().unwrap() >= 1);
                busy += 1
            }
            other => panic!("a search answered {other:?}"),
        }
    }
    assert!(ok >= 1 && busy >= 1, "{ok} answered, {busy} refused");
    // Once the flood is over, searches answer again.
    let (st, body) = s.get("/api/v1/products?q=lantern").await;
    assert_eq!(st, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn search_ranks_by_weight_and_tolerates_typos() {
    let s = Catalog::start().await;
    let active = |name: &str, brand: &str, description: &str, tags: Value| {
        json!({"name": name, "brand": brand, "description": description, "tags": tags, "status": "active",
               "variants": [variant(&sku(), 2500, json!({}))]})
    };
    s.product(active(
        "Classic Leather Sneakers",
        "Zeta",
        "Everyday shoes.",
        json!(["shoes"]),
    ))
    .await;
    s.product(active(
        "Camping Lantern",
        "Glow",
        "Bright light for tents.",
        json!(["outdoor"]),
    ))
    .await;
    s.product(active(
        "Tent Peg Set",
        "Glow",
        "Works well next to any lantern.",
        json!(["outdoor"]),
    ))
    .await;
    s.product(active("Wool Socks", "Zeta", "Warm.", json!(["lantern"])))
        .await;
    let draft =
        json!({"name": "Secret Lantern Prototype", "variants": [variant(&sku(), 1, json!({}))]});
    s.product(draft).await;

    // Name (A) > tags (C) > description (D); drafts are not searchable for customers.
    let (st, body) = s.get("/api/v1/products?q=lantern").await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(
        names(&body),
        ["Camping Lantern", "Wool Socks", "Tent Peg Set"],
        "{body}"
    );
    assert_eq!(body["total"], 3);

    // A misspelt query still finds the product.
    for typo in ["sneekers", "lether sneakers", "lanter"] {
        let (_, body) = s.get(&format!("/api/v1/products?q={typo}")).await;
        let found = names(&body);
        assert!(
            found
                .iter()
                .any(|n| n.contains("Sneakers") || n.contains("Lantern")),
            "{typo}: {found:?}"
        );
    }
    let (_, body) = s.get("/api/v1/products?q=sneekers").await;
    assert_eq!(names(&body)[0], "Classic Leather Sneakers");
    let (_, body) = s.get("/api/v1/products?q=zzzqqqxx").await;
    assert!(names(&body).is_empty(), "{body}");
    // Admins also find drafts.
    let (_, body) = s.admin.get("/api/v1/products?q=lantern").await;
    assert!(
        names(&body).contains(&"Secret Lantern Prototype".to_owned()),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn facets_count_the_filtered_set() {
    let s = Catalog::start().await;
    let mk = |name: &str, brand: &str, tags: Value, variants: Vec<Value>| json!({"name": name, "brand": brand, "tags": tags, "status": "active", "variants": variants});
    s.product(mk(
        "Red Shirt",
        "Acme",
        json!(["tops"]),
        vec![
            variant(&sku(), 1500, json!({"color": "red", "size": "M"})),
            variant(&sku(), 1500, json!({"color": "red", "size": "L"})),
        ],
    ))
    .await;
    s.product(mk(
        "Blue Shirt",
        "Acme",
        json!(["tops"]),
        vec![variant(&sku(), 2500, json!({"color": "blue", "size": "M"}))],
    ))
    .await;
    let jeans = s
        .product(mk(
            "Blue Jeans",
            "Denimco",
            json!(["bottoms"]),
            vec![variant(
                &sku(),
                6000,
                json!({"color": "blue", "size": "32"}),
            )],
        ))
        .await;

    let (st, all) = s.get("/api/v1/products").await;
    assert_eq!(st, StatusCode::OK, "{all}");
    assert_eq!(all["total"], 3);
    assert_eq!(facet(&all, "brands", "Acme"), 2);
    assert_eq!(facet(&all, "brands", "Denimco"), 1);
    assert_eq!(facet(&all, "tags", "tops"), 2);
    assert_eq!(all["facets"]["price_range"]["min"], eur(1500));
    assert_eq!(all["facets"]["price_range"]["max"], eur(6000));
    let color = all["facets"]["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "color")
        .unwrap();
    let counts: HashMap<&str, i64> = color["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["value"].as_str().unwrap(), v["count"].as_i64().unwrap()))
        .collect();
    assert_eq!(counts, HashMap::from([("blue", 2), ("red", 1)]));

    // Filtered by brand: the results and the other facets shrink; the brand facet still offers
    // the alternatives.
    let (_, acme) = s.get("/api/v1/products?brand=acme").await;
    assert_eq!(names(&acme).len(), 2);
    assert_eq!(acme["total"], 2);
    assert_eq!(facet(&acme, "brands", "Denimco"), 1);
    assert_eq!(facet(&acme, "tags", "bottoms"), 0);
    assert_eq!(acme["facets"]["price_range"]["max"], eur(2500));

    // Attribute and price filters; the same variant must match all attribute filters.
    let (_, blue_m) = s.get("/api/v1/products?attr.color=blue&attr.size=M").await;
    assert_eq!(names(&blue_m), ["Blue Shirt"]);
    let (_, red_32) = s.get("/api/v1/products?attr.color=red&attr.size=32").await;
    assert!(names(&red_32).is_empty());
    let (_, cheap) = s.get("/api/v1/products?max_price=2000&currency=EUR").await;
    assert_eq!(names(&cheap), ["Red Shirt"]);
    assert_eq!(
        cheap["facets"]["price_range"]["max"],
        eur(6000),
        "the price facet ignores the price filter"
    );
    let (_, sorted) = s.get("/api/v1/products?sort=price_desc").await;
    assert_eq!(names(&sorted), ["Blue Jeans", "Blue Shirt", "Red Shirt"]);
    let (st, bad) = s.get("/api/v1/products?limit=500").await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");

    // Search answers are cached; a write that returned is visible in the next search, total
    // and facets included.
    let (_, again) = s.get("/api/v1/products").await;
    assert_eq!(again["total"], 3);
    let (st, archived) = s
        .admin
        .post(
            format!(
                "/api/v1/admin/products/{}/archive",
                jeans["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{archived}");
    let (_, after) = s.get("/api/v1/products").await;
    assert_eq!(after["total"], 2, "{after}");
    assert_eq!(facet(&after, "brands", "Denimco"), 0);
    assert_eq!(after["facets"]["price_range"]["max"], eur(2500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pages_have_no_gaps_or_repeats_while_products_are_added() {
    let s = Arc::new(Catalog::start().await);
    let mut original = HashSet::new();
    for i in 0..30 {
        let p = s
            .product(json!({"name": format!("Original {i}"), "status": "active",
                            "variants": [variant(&sku(), 1000 + (i % 7) * 100, json!({}))]}))
            .await;
        original.insert(p["id"].as_str().unwrap().to_owned());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (s, stop) = (s.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) && n < 60 {
                s.product(json!({"name": format!("Newcomer {n}"), "status": "active",
                                 "variants": [variant(&sku(), 500 + (n % 11) * 150, json!({}))]}))
                    .await;
                n += 1;
            }
        })
    };
    for sort in ["newest", "price_asc", "price_desc"] {
        let mut seen: Vec<String> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/products?sort={sort}&limit=7");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let (st, body) = s.get(&path).await;
            assert_eq!(st, StatusCode::OK, "{body}");
            seen.extend(
                body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["id"].as_str().unwrap().to_owned()),
            );
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        let distinct: HashSet<&String> = seen.iter().collect();
        assert_eq!(
            distinct.len(),
            seen.len(),
            "{sort}: a product was listed twice"
        );
        for id in &original {
            assert!(distinct.contains(id), "{sort}: {id} was skipped");
        }
    }
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    // A cursor belongs to its query.
    let (_, body) = s.get("/api/v1/products?sort=newest&limit=5").await;
    let c = body["next_cursor"].as_str().unwrap();
    let (st, _) = s
        .get(&format!(
            "/api/v1/products?sort=price_asc&limit=5&cursor={c}"
        ))
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_never_see_stale_data_after_an_update_returns() {
    let s = Arc::new(Catalog::start().await);
    let p = s
        .product(json!({"name": "Cached 0", "status": "active", "variants": [variant(&sku(), 100, json!({}))]}))
        .await;
    let id = p["id"].as_str().unwrap().to_owned();
    let slug = p["slug"].as_str().unwrap().to_owned();
    // A read fills the cache.
    assert_eq!(
        s.get(&format!("/api/v1/products/{id}")).await.1["name"],
        "Cached 0"
    );
    let mut conn = s.redis.clone();
    let key = format!("{}cache:product:{id}", s.common.redis.key_prefix);
    let cached: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(cached.unwrap().contains("Cached 0"));

    // Readers hammer the product (by id and slug) while it is renamed again and again; after
    // each rename returns, a read shows the new name.
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for r in 0..6 {
        let (s, stop, id, slug) = (s.clone(), stop.clone(), id.clone(), slug.clone());
        readers.push(tokio::spawn(async move {
            let path = if r % 2 == 0 {
                format!("/api/v1/products/{id}")
            } else {
                format!("/api/v1/products/{slug}")
            };
            while !stop.load(Ordering::Relaxed) {
                let (st, _) = s.get(&path).await;
                assert_eq!(st, StatusCode::OK);
            }
        }));
    }
    for i in 1..=15 {
        let name = format!("Cached {i}");
        let (st, body) = s
            .admin
            .patch(
                format!("/api/v1/admin/products/{id}"),
                json!({"name": name}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{body}");
        let (_, by_id) = s.get(&format!("/api/v1/products/{id}")).await;
        assert_eq!(by_id["name"], name, "stale read by id after update {i}");
        let (_, by_slug) = s.get(&format!("/api/v1/products/{slug}")).await;
        assert_eq!(by_slug["name"], name, "stale read by slug after update {i}");
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    // Once quiet, the cache settles on the last version.
    let (_, body) = s.get(&format!("/api/v1/products/{id}")).await;
    assert_eq!(body["name"], "Cached 15");
    let cached: String = eventually(
        Duration::from_secs(5),
        "the cache to hold the last version",
        || {
            let mut conn = conn.clone();
            let key = key.clone();
            async move {
                let v: Option<String> = redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .ok()?;
                v.filter(|v| v.contains("Cached 15"))
            }
        },
    )
    .await;
    assert!(!cached.starts_with("T:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn category_moves_refuse_cycles_and_filter_subtrees() {
    let s = Catalog::start().await;
    let admin = &s.admin;
    let mk = |name: &str, parent: Option<&str>| json!({"name": name, "parent_id": parent});
    let (st, a) = admin
        .post("/api/v1/admin/categories", mk("Apparel", None))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{a}");
    let a_id = a["id"].as_str().unwrap().to_owned();
    let (_, b) = admin
        .post("/api/v1/admin/categories", mk("Shoes", Some(&a_id)))
        .await;
    let b_id = b["id"].as_str().unwrap().to_owned();
    let (_, c) = admin
        .post("/api/v1/admin/categories", mk("Trail Shoes", Some(&b_id)))
        .await;
    let c_id = c["id"].as_str().unwrap().to_owned();
    assert_eq!(c["depth"], 2);
    assert_eq!(c["slug"], "trail-shoes");

    // Under itself or a descendant: refused.
    for target in [&a_id, &c_id] {
        let (st, body) = admin
            .post(
                format!("/api/v1/admin/categories/{a_id}/move"),
                json!({"parent_id": target}),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["errors"][0]["field"], "new_parent_id");
    }
    // Depth-first listing.
    let (_, list) = s.get("/api/v1/categories").await;
    assert_eq!(names(&list), ["Apparel", "Shoes", "Trail Shoes"]);

    // Products in a descendant are found through the ancestor.
    s.product(
        json!({"name": "Mountain Runner", "status": "active", "category_ids": [c_id],
                     "variants": [variant(&sku(), 100, json!({}))]}),
    )
    .await;
    let (_, body) = s.get(&format!("/api/v1/products?category={a_id}")).await;
    assert_eq!(names(&body), ["Mountain Runner"]);
    assert_eq!(facet(&body, "categories", &c_id), 1);

    // Moving the leaf to the root is fine; the old ancestor no longer contains it.
    let (st, moved) = admin
        .post(
            format!("/api/v1/admin/categories/{c_id}/move"),
            json!({"parent_id": null}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{moved}");
    assert_eq!(moved["depth"], 0);
    let (_, body) = s.get(&format!("/api/v1/products?category={a_id}")).await;
    assert!(names(&body).is_empty());
    // A category with children cannot be deleted.
    let (st, _) = admin
        .delete(format!("/api/v1/admin/categories/{a_id}"))
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (st, _) = admin
        .delete(format!("/api/v1/admin/categories/{b_id}"))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_upload_urls_accept_the_bytes_in_the_real_store() {
    let cdn = "https://cdn.example/media";
    let s = Catalog::start_with(|p| p.image_url_base = format!("{cdn}/")).await;
    let admin = &s.admin;
    let p = s.product(json!({"name": "Pictured"})).await;
    let id = p["id"].as_str().unwrap();
    let images = format!("/api/v1/admin/products/{id}/images");
    let upload_url = |content_type: &str, size: usize| {
        let body = json!({"content_type": content_type, "size_bytes": size});
        admin.post(format!("{images}/upload-url"), body)
    };
    let mut image_ids = Vec::new();
    for (i, bytes) in [
        b"\x89PNG first image".to_vec(),
        b"\x89PNG second image!".to_vec(),
    ]
    .into_iter()
    .enumerate()
    {
        let (st, up) = upload_url("image/png", bytes.len()).await;
        assert_eq!(st, StatusCode::CREATED, "{up}");
        // Registering before the upload: nothing is there yet.
        if i == 0 {
            let key = json!({"object_key": up["object_key"]});
            let (st, body) = admin.post(&images, key).await;
            assert_eq!(st, StatusCode::CONFLICT, "{body}");
            let (st, up2) = upload_url("image/png", bytes.len()).await;
            assert_eq!(st, StatusCode::CREATED);
            assert_ne!(up2["object_key"], up["object_key"]);
        }
        let (st, up) = if i == 0 {
            upload_url("image/png", bytes.len()).await
        } else {
            (st, up)
        };
        assert_eq!(st, StatusCode::CREATED);
        let mut put = s
            .http
            .put(up["upload_url"].as_str().unwrap())
            .body(bytes.clone());
        for (k, v) in up["upload_headers"].as_object().unwrap() {
            put = put.header(k.as_str(), v.as_str().unwrap());
        }
        let resp = put.send().await.unwrap();
        assert!(
            resp.status().is_success(),
            "PUT: {} {}",
            resp.status(),
            resp.text().await.unwrap()
        );
        let image = json!({"object_key": up["object_key"], "alt_text": format!("view {i}")});
        let (st, img) = admin.post(&images, image).await;
        assert_eq!(st, StatusCode::CREATED, "{img}");
        assert_eq!(img["position"], i);
        // A stable public URL: the configured base and the key, nothing signed.
        let key = up["object_key"].as_str().unwrap();
        assert_eq!(img["url"], format!("{cdn}/{key}"));
        // The gateway's media route (what the base names by default) serves the bytes, to be
        // cached for a year; the tag it gives answers 304.
        let media = format!("{}/api/v1/media/{key}", s.base);
        let got = s.http.get(&media).send().await.unwrap();
        assert_eq!(got.status(), StatusCode::OK, "GET image");
        let h = got.headers().clone();
        assert_eq!(h["content-type"], "image/png");
        assert_eq!(h["cache-control"], "public, max-age=31536000, immutable");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(got.bytes().await.unwrap().as_ref(), bytes.as_slice());
        let etag = h["etag"].to_str().unwrap();
        let again = s
            .http
            .get(&media)
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert!(again.bytes().await.unwrap().is_empty());
        image_ids.push(img["id"].as_str().unwrap().to_owned());
    }
    // Only image keys are URLs: another file name, another product's path or a missing
    // object is 404 (problem+json), not a read of whatever the bucket holds.
    for path in [
        format!("/api/v1/media/products/{id}/{}.png", Uuid::now_v7()),
        format!("/api/v1/media/products/{id}/notes.txt"),
        format!(
            "/api/v1/media/products/{}/{}.png",
            Uuid::now_v7(),
            Uuid::now_v7()
        ),
        "/api/v1/media/products/x/..%2F..%2Fsecret.png".to_owned(),
    ] {
        let (st, body) = s.get(&path).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    // Content type and size are limited.
    let (st, _) = upload_url("text/html", 10).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    let (st, _) = upload_url("image/png", 20 * 1024 * 1024).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    // Reordering puts the second image first.
    image_ids.reverse();
    let (st, body) = admin
        .put(
            format!("/api/v1/admin/products/{id}/images/order"),
            json!({"image_ids": image_ids}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let (_, p) = admin.get(format!("/api/v1/products/{id}")).await;
    assert_eq!(p["images"][0]["id"], image_ids[0].as_str());
    assert_eq!(p["images"][0]["alt_text"], "view 1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_prices_come_from_batch_get_variants_by_sku() {
    let s = Catalog::start().await;
    let (a, b) = (sku(), sku());
    s.product(json!({"name": "Priced", "status": "active",
                     "variants": [variant(&a, 1999, json!({"size": "S"})), variant(&b, 2999, json!({"size": "L"}))]}))
        .await;
    let r = ok(s
        .grpc()
        .batch_get_variants_by_sku(pb::BatchGetVariantsBySkuRequest {
            skus: vec![b.clone(), "NOPE-1".into(), a.clone(), b.clone()],
        }))
    .await;
    let got: Vec<(String, i64)> = r
        .variants
        .iter()
        .map(|v| {
            let v = v.variant.as_ref().unwrap();
            (v.sku.clone(), v.price.as_ref().unwrap().amount_minor)
        })
        .collect();
    assert_eq!(got, [(b, 2999), (a, 1999)]);
    assert_eq!(r.missing_skus, ["NOPE-1"]);
    assert_eq!(
        r.variants[0].product.as_ref().unwrap().status(),
        pb::ProductStatus::Active
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_publish_created_updated_and_archived_events() {
    let s = Catalog::start().await;
    let admin = &s.admin;
    let p = s
        .product(json!({"name": "Eventful", "status": "active", "variants": [variant(&sku(), 100, json!({}))]}))
        .await;
    let id = p["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/admin/products/{id}");
    assert_eq!(
        admin.patch(&path, json!({"name": "Eventful 2"})).await.0,
        StatusCode::OK
    );
    assert_eq!(
        admin.post(format!("{path}/archive"), None).await.0,
        StatusCode::OK
    );
    let topic = s.topic(topics::PRODUCT_EVENTS);
    for ty in ["product.created", "product.updated", "product.archived"] {
        let ev = find_event(&s.common.kafka, &topic, Duration::from_secs(30), |e| {
            e.event_type == ty && e.subject.as_deref() == Some(id.as_str())
        })
        .await;
        assert_eq!(ev.source, "/storefront/product");
        assert_eq!(ev.data["id"], id.as_str(), "{ty}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_fetched_before_an_update_cannot_cache_the_old_version() {
    let s = Catalog::start().await;
    let p = s
        .product(json!({"name": "Racy 1", "status": "active", "variants": [variant(&sku(), 100, json!({}))]}))
        .await;
    let id: Uuid = p["id"].as_str().unwrap().parse().unwrap();
    // A reader fetches the row...
    let stale = s.catalog.read(id).await.unwrap().unwrap();
    assert_eq!(stale.name, "Racy 1");
    // ...an update commits and returns...
    let (st, _) = s
        .admin
        .patch(
            format!("/api/v1/admin/products/{id}"),
            json!({"name": "Racy 2"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    // ...and only then does the slow reader try to fill the cache with what it read.
    s.catalog.cache.put(&stale).await;
    let (_, body) = s.get(&format!("/api/v1/products/{id}")).await;
    assert_eq!(body["name"], "Racy 2");
    let fresh = s.catalog.read(id).await.unwrap().unwrap();
    assert!(fresh.version > stale.version);
    s.catalog.cache.put(&stale).await;
    assert_eq!(s.catalog.cache.get(id).await.unwrap().name, "Racy 2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn opposite_concurrent_moves_never_make_a_cycle() {
    let s = Arc::new(Catalog::start().await);
    for round in 0..5 {
        let mut ids = Vec::new();
        for name in ["X", "Y"] {
            let (st, c) = s
                .admin
                .post(
                    "/api/v1/admin/categories",
                    json!({"name": format!("{name} {round}")}),
                )
                .await;
            assert_eq!(st, StatusCode::CREATED, "{c}");
            ids.push(c["id"].as_str().unwrap().to_owned());
        }
        let moves = [
            (ids[0].clone(), ids[1].clone()),
            (ids[1].clone(), ids[0].clone()),
        ]
        .map(|(a, b)| {
            let s = s.clone();
            tokio::spawn(async move {
                s.admin
                    .post(
                        format!("/api/v1/admin/categories/{a}/move"),
                        json!({"parent_id": b}),
                    )
                    .await
                    .0
            })
        });
        let mut codes = Vec::new();
        for m in moves {
            codes.push(m.await.unwrap());
        }
        codes.sort();
        assert_eq!(
            codes,
            [StatusCode::OK, StatusCode::UNPROCESSABLE_ENTITY],
            "round {round}"
        );
    }
    let (_, list) = s.get("/api/v1/categories").await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        10,
        "every category is still reachable from a root"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_events_from_inventory_drive_the_in_stock_filter() {
    let s = Catalog::start().await;
    let (gone, kept) = (sku(), sku());
    let a = s
        .product(json!({"name": "Sold Out Soon", "status": "active", "variants": [variant(&gone, 100, json!({}))]}))
        .await;
    s.product(json!({"name": "Always There", "status": "active", "variants": [variant(&kept, 100, json!({}))]}))
        .await;
    let id = a["id"].as_str().unwrap().to_owned();
    // Read once so the cache holds the in-stock version.
    assert_eq!(
        s.get(&format!("/api/v1/products/{id}")).await.1["variants"][0]["in_stock"],
        true
    );

    let stock_changed = |available: i64| {
        CloudEvent::new(
            "/storefront/inventory",
            "inventory.stock_changed",
            Some(gone.clone()),
            json!({"sku": gone, "on_hand": available, "reserved": 0, "available": available, "reason": "correction"}),
        )
    };
    s.publish(topics::INVENTORY_EVENTS, &gone, &stock_changed(0))
        .await;
    eventually(
        Duration::from_secs(30),
        "the variant to be out of stock",
        || async {
            let (_, p) = s.get(&format!("/api/v1/products/{id}")).await;
            (p["variants"][0]["in_stock"] == false).then_some(())
        },
    )
    .await;
    let (_, body) = s.get("/api/v1/products?in_stock=true").await;
    assert_eq!(names(&body), ["Always There"]);
    s.publish(topics::INVENTORY_EVENTS, &gone, &stock_changed(3))
        .await;
    eventually(
        Duration::from_secs(30),
        "the variant to be back in stock",
        || async {
            let (_, body) = s.get("/api/v1/products?in_stock=true").await;
            (body["total"] == 2).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn product_availability_joins_its_variants_with_inventory() {
    // An inventory role on its own database, and the gateway in front of both services.
    let s = Catalog::start_full(|_| {}, true).await;
    let (a, b) = (sku(), sku());
    let p = s
        .product(json!({"name": "Availability Mug", "status": "active",
                        "variants": [variant(&a, 1200, json!({"colour": "red"})),
                                     variant(&b, 1200, json!({"colour": "blue"}))]}))
        .await;
    let slug = p["slug"].as_str().unwrap().to_owned();
    sqlx::query("INSERT INTO stock (sku, on_hand, reserved) VALUES ($1, 7, 2)")
        .bind(&a)
        .execute(s.inventory.as_ref().unwrap())
        .await
        .unwrap();

    let (st, body) = s.get(format!("/api/v1/products/{slug}/availability")).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let got: HashMap<String, i64> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["sku"].as_str().unwrap().to_owned(),
                i["available"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got.get(&a), Some(&5), "{body}");
    assert_eq!(
        got.get(&b),
        Some(&0),
        "a never-stocked SKU has none: {body}"
    );

    let (st, body) = s.get("/api/v1/products/no-such-product/availability").await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{body}");
}

/// Found by the API fuzzer: a variant naming an image that does not exist was a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_variant_cannot_name_an_image_that_does_not_exist() {
    let s = Catalog::start().await;
    let mut v = variant(&sku(), 8999, json!({"size": "42"}));
    v["image_id"] = json!(uuid::Uuid::now_v7());
    let (st, body) = s
        .admin
        .post(
            "/api/v1/admin/products",
            json!({"name": "Trail Running Shoe", "status": "active", "variants": [v]}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let field = body["errors"][0]["field"].as_str().unwrap_or_default();
    assert!(field.contains("image_id"), "{body}");
}

/// The one field a 422 names, after asserting there is exactly one.
fn only_field(status: StatusCode, body: &Value) -> String {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{body}");
    errors[0]["field"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prices_per_currency_tax_category_and_weight_round_trip() {
    let s = Catalog::start().await;
    let admin = &s.admin;
    let sku_a = sku();
    let p = s
        .product(json!({"name": "Espresso Beans", "status": "active",
                        "variants": [{"sku": sku_a, "attributes": {"size": "1 kg"},
                                      "price": eur(2399), "prices": [money(2599, "USD")],
                                      "weight_grams": 1040}]}))
        .await;
    let id = p["id"].as_str().unwrap().to_owned();
    let vid = p["variants"][0]["id"].as_str().unwrap().to_owned();
    // No category given: standard. Prices list every currency, the primary one included,
    // ordered by code; listings keep the primary price.
    assert_eq!(p["tax_category"], "standard", "{p}");
    assert_eq!(
        p["variants"][0]["prices"],
        json!([eur(2399), money(2599, "USD")])
    );
    assert_eq!(p["variants"][0]["weight_grams"], 1040);
    assert_eq!(p["min_price"], eur(2399));

    // Read back by id (twice: the second read comes from the cache), by slug and in search.
    for _ in 0..2 {
        let (st, got) = s.get(&format!("/api/v1/products/{id}")).await;
        assert_eq!(st, StatusCode::OK, "{got}");
        assert_eq!(got["variants"][0]["prices"], p["variants"][0]["prices"]);
        assert_eq!(got["variants"][0]["weight_grams"], 1040);
        assert_eq!(got["tax_category"], "standard");
    }
    let (_, by_slug) = s.get("/api/v1/products/espresso-beans").await;
    assert_eq!(by_slug["variants"][0]["prices"], p["variants"][0]["prices"]);
    let (st, found) = s.get("/api/v1/products?q=espresso").await;
    assert_eq!(st, StatusCode::OK, "{found}");
    let hit = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id.as_str())
        .unwrap_or_else(|| panic!("search did not find it: {found}"));
    assert_eq!(hit["variants"][0]["prices"], p["variants"][0]["prices"]);
    assert_eq!(hit["tax_category"], "standard");

    // A second variant through its own route: the primary currency may be repeated at the
    // primary price, so a variant read back can be sent back unchanged.
    let sku_b = sku();
    let (st, vb) = admin
        .post(
            format!("/api/v1/admin/products/{id}/variants"),
            json!({"sku": sku_b, "attributes": {"size": "250 g"}, "price": eur(799),
                        "prices": [money(899, "USD"), eur(799)], "weight_grams": 270}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{vb}");
    assert_eq!(vb["prices"], json!([eur(799), money(899, "USD")]));
    assert_eq!(vb["weight_grams"], 270);

    // Checkout's source (gRPC): every price, the weight and the product's tax category.
    let r = ok(s
        .grpc()
        .batch_get_variants_by_sku(pb::BatchGetVariantsBySkuRequest {
            skus: vec![sku_a.clone()],
        }))
    .await;
    let line = &r.variants[0];
    let v = line.variant.as_ref().unwrap();
    let prices: Vec<(String, i64)> = v
        .prices
        .iter()
        .map(|m| (m.currency.clone(), m.amount_minor))
        .collect();
    assert_eq!(prices, [("EUR".into(), 2399), ("USD".into(), 2599)]);
    assert_eq!(v.weight_grams, 1040);
    assert_eq!(
        line.product.as_ref().unwrap().tax_category(),
        pb::TaxCategory::Standard
    );

    // Bad input is a 422 naming the field, and changes nothing.
    let variant_path = format!("/api/v1/admin/products/{id}/variants/{vid}");
    let product_path = format!("/api/v1/admin/products/{id}");
    for (body, field) in [
        (
            json!({"prices": [money(2599, "USD"), money(2699, "USD")]}),
            "prices[1].currency",
        ),
        (
            json!({"prices": [money(2599, "usd")]}),
            "prices[0].currency",
        ),
        (json!({"prices": [money(-1, "USD")]}), "prices[0].amount"),
        (
            json!({"prices": [money(2599, "USD"), eur(1)]}),
            "prices[1].amount",
        ),
        (
            json!({"price": eur(2499), "prices": [eur(2399)]}),
            "prices[0].amount",
        ),
        (json!({"weight_grams": 1_000_001}), "weight_grams"),
        (json!({"weight_grams": -5}), "weight_grams"),
    ] {
        let (st, b) = admin.patch(&variant_path, body.clone()).await;
        assert_eq!(only_field(st, &b), field, "{body}: {b}");
    }
    let (st, b) = admin.patch(&variant_path, json!({"prices": (0..21).map(|i| money(100, &format!("X{}X", (b'A' + i) as char))).collect::<Vec<_>>()}))
        .await;
    assert_eq!(only_field(st, &b), "prices", "{b}");
    let (st, b) = admin
        .patch(&product_path, json!({"tax_category": "luxury"}))
        .await;
    assert_eq!(only_field(st, &b), "tax_category", "{b}");
    let (st, b) = admin
        .post(
            "/api/v1/admin/products",
            json!({"name": "Bad prices", "variants": [{"sku": sku(), "price": eur(100),
                        "prices": [money(100, "Usd")], "weight_grams": 2_000_000}]}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let fields: HashSet<&str> = b["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        HashSet::from(["variants[0].prices[0].currency", "variants[0].weight_grams"]),
        "{b}"
    );
    let (_, unchanged) = s.get(&format!("/api/v1/products/{id}")).await;
    assert_eq!(
        unchanged["variants"][0]["prices"],
        p["variants"][0]["prices"]
    );
    assert_eq!(unchanged["variants"][0]["weight_grams"], 1040);

    // Updates: `prices` replaces the other currencies, `weight_grams` and `tax_category` change,
    // and the very next read shows them (the cached copy was invalidated).
    let (st, upd) = admin
        .patch(
            &variant_path,
            json!({"prices": [money(2699, "USD"), money(2099, "GBP")], "weight_grams": 1100}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{upd}");
    let expected = json!([eur(2399), money(2099, "GBP"), money(2699, "USD")]);
    assert_eq!(upd["prices"], expected);
    let (st, upd) = admin
        .patch(&product_path, json!({"tax_category": "reduced"}))
        .await;
    assert_eq!(st, StatusCode::OK, "{upd}");
    assert_eq!(upd["tax_category"], "reduced");
    let (_, got) = s.get(&format!("/api/v1/products/{id}")).await;
    assert_eq!(got["tax_category"], "reduced", "{got}");
    assert_eq!(got["variants"][0]["prices"], expected, "{got}");
    assert_eq!(got["variants"][0]["weight_grams"], 1100);

    // `price` alone moves the primary price and keeps the others.
    let (st, upd) = admin
        .patch(&variant_path, json!({"price": eur(2499)}))
        .await;
    assert_eq!(st, StatusCode::OK, "{upd}");
    let expected = json!([eur(2499), money(2099, "GBP"), money(2699, "USD")]);
    assert_eq!(upd["prices"], expected);
    let (_, got) = s.get(&format!("/api/v1/products/{id}")).await;
    assert_eq!(got["variants"][0]["prices"], expected, "{got}");
    assert_eq!(got["variants"][0]["price"], eur(2499));
    assert_eq!(got["min_price"], eur(799));

    // The primary row in variant_prices moved with the price (the order side reads that table).
    let primary: i64 = sqlx::query_scalar(
        "SELECT amount FROM variant_prices WHERE variant_id = $1 AND currency = 'EUR'",
    )
    .bind(Uuid::parse_str(&vid).unwrap())
    .fetch_one(&s.catalog.pool)
    .await
    .unwrap();
    assert_eq!(primary, 2499);

    // An empty list leaves only the primary price; the zero category round-trips too.
    let (_, upd) = admin.patch(&variant_path, json!({"prices": []})).await;
    assert_eq!(upd["prices"], json!([eur(2499)]));
    let (_, upd) = admin
        .patch(&product_path, json!({"tax_category": "zero"}))
        .await;
    assert_eq!(upd["tax_category"], "zero");
    let (_, got) = s.get(&format!("/api/v1/products/{id}")).await;
    assert_eq!(got["tax_category"], "zero");
    assert_eq!(got["variants"][0]["prices"], json!([eur(2499)]));
}

/// The search index of every replica follows the catalog: while writers create products through
/// one product role, searches on a second role over the same database (its own index, answers
/// never cached) always include every write that returned before the search began, and the
/// index's own change log is what carries them (no Redis, no events).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_that_returned_is_in_the_next_search_of_every_replica() {
    let s = Arc::new(Catalog::start_with(|p| p.search_cache_secs = 0).await);
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&s.catalog.pool)
        .await
        .unwrap();
    let replica_role = s
        .stack
        .product(|c| {
            c.product.database = Some(database);
            c.product.search_cache_secs = 0;
        })
        .await;
    let replica = ProductServiceClient::new(channel(replica_role.addr, Duration::from_secs(30)));
    let returned = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (s, returned) = (s.clone(), returned.clone());
            tokio::spawn(async move {
                for i in 0..15 {
                    s.product(
                        json!({"name": format!("Replicated Kettle {w}-{i}"), "status": "active",
                                     "variants": [variant(&sku(), 1000 + i, json!({}))]}),
                    )
                    .await;
                    returned.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    let search = |mut client: ProductServiceClient<Channel>| async move {
        ok(client.search_products(pb::SearchProductsRequest {
            query: "replicated kettle".into(),
            page_size: 1,
            ..Default::default()
        }))
        .await
        .total_size
    };
    let mut checks = 0;
    while returned.load(Ordering::SeqCst) < 60 {
        let before = returned.load(Ordering::SeqCst) as i64;
        let total = search(replica.clone()).await;
        assert!(
            total >= before,
            "{before} writes had returned, the replica found {total}"
        );
        checks += 1;
    }
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(search(replica.clone()).await, 60);
    assert!(checks > 1, "searches ran while writes were landing");
    // Archiving and deleting leave the replica's index too.
    let (_, page) = s.get("/api/v1/products?q=replicated&limit=2").await;
    let ids: Vec<String> = column(&page["items"], "id");
    for id in &ids {
        let (st, _) = s
            .admin
            .post(format!("/api/v1/admin/products/{id}/archive"), None)
            .await;
        assert_eq!(st, StatusCode::OK);
    }
    assert_eq!(search(replica.clone()).await, 58);
    let (st, body) = s
        .admin
        .delete(format!("/api/v1/admin/products/{}", ids[1]))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{body}");
    let mut req = tonic::Request::new(pb::SearchProductsRequest {
        query: "replicated kettle".into(),
        page_size: 1,
        ..Default::default()
    });
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", s.stack.admin()).parse().unwrap(),
    );
    let total = ok(replica.clone().search_products(req)).await.total_size;
    assert_eq!(
        total, 59,
        "the admin sees the archived one, not the deleted one"
    );
}
