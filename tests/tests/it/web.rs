//! The web shop in a real browser, black box: a platform started as the other black-box tests
//! start it, with the gateway serving the built shop (`web/dist`) on a second listener, a small
//! catalog and checkout rules (shipping to Germany, VAT, a promotion code) made through the admin
//! API, then `node web/e2e/shop.mjs` (playwright-core driving Debian's chromium) buys through the
//! pages. Screenshots go to `<target dir>/web-e2e/`.
//!
//! Needs what `scripts/test.sh` prepares in its `web` step: `web/node_modules`, `web/dist`
//! and `/usr/bin/chromium` (or `CHROMIUM`). Missing pieces fail the test, naming the step.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use storefront_tests::platform::{Options, Platform, free_ports};
use storefront_tests::shopper::Shopper;

/// (name, brand, variants as (sku, attributes, price in cents)). e2e/shop.mjs relies on these.
#[allow(clippy::type_complexity)]
const PRODUCTS: &[(&str, &str, &[(&str, &[(&str, &str)], i64)])] = &[
    (
        "Wireless Headphones",
        "Acoustica",
        &[
            ("WH-BLACK", &[("color", "black")], 7999),
            ("WH-WHITE", &[("color", "white")], 7999),
        ],
    ),
    (
        "Studio Headphones Pro",
        "Sonora",
        &[("SH-PRO", &[("color", "black")], 12999)],
    ),
    (
        "Travel Mug",
        "Brewline",
        &[("MUG-TRAVEL", &[("color", "red")], 1999)],
    ),
    ("Espresso Cups", "Brewline", &[("CUPS-ESPRESSO", &[], 2499)]),
];

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn require(ok: bool, what: &str) {
    assert!(
        ok,
        "{what}: scripts/test.sh prepares it in its `web` step (npm ci and npm run build in web/, \
         and Debian's chromium through sf_apt_install)"
    );
}

async fn make_catalog(admin: &Shopper) {
    for (name, brand, variants) in PRODUCTS {
        let variants: Vec<Value> = variants
            .iter()
            .map(|(sku, attrs, cents)| {
                let attributes: serde_json::Map<String, Value> = attrs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), json!(v)))
                    .collect();
                json!({"sku": sku, "attributes": attributes, "price": {"amount": cents, "currency": "EUR"}})
            })
            .collect();
        let (status, body) = admin
            .call(
                Method::POST,
                "/api/v1/admin/products",
                Some(json!({
                    "name": name,
                    "brand": brand,
                    "description": format!("{name} by {brand}, made for the browser test."),
                    "status": "active",
                    "variants": variants,
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "create {name}: {body}");
    }
    for (_, _, variants) in PRODUCTS {
        for (sku, _, _) in *variants {
            admin.set_stock(sku, 25).await;
        }
    }
}

/// What the checkout prices with; e2e/shop.mjs relies on these amounts: an EU zone for DE with
/// Standard (4.90 EUR, free from 50 EUR) and Express (9.90 EUR), 19% VAT included in EUR prices,
/// and the code WELCOME10 (10% off the order).
async fn make_checkout_rules(admin: &Shopper) {
    let send = |method: Method, path: &'static str, body: Value, want: StatusCode| async move {
        let (status, answer) = admin.call(method.clone(), path, Some(body)).await;
        assert_eq!(status, want, "{method} {path}: {answer}");
        answer
    };
    let zone = send(
        Method::POST,
        "/api/v1/admin/shipping-zones",
        json!({"name": "EU", "countries": ["DE"]}),
        StatusCode::CREATED,
    )
    .await;
    for (name, rate, free_over, days) in [
        ("Standard", 490, json!(5000), json!({"min": 2, "max": 4})),
        ("Express", 990, Value::Null, json!({"min": 1, "max": 2})),
    ] {
        send(
            Method::POST,
            "/api/v1/admin/shipping-methods",
            json!({"zone_id": zone["id"], "name": name, "currency": "EUR",
                   "rate": {"type": "flat", "amount": rate}, "free_over": free_over,
                   "delivery_days": days}),
            StatusCode::CREATED,
        )
        .await;
    }
    send(
        Method::PUT,
        "/api/v1/admin/tax-rates",
        json!({"country": "DE", "category": "standard", "rate_ppm": 190000}),
        StatusCode::OK,
    )
    .await;
    send(
        Method::PUT,
        "/api/v1/admin/price-modes/EUR",
        json!({"mode": "tax_inclusive"}),
        StatusCode::OK,
    )
    .await;
    send(
        Method::POST,
        "/api/v1/admin/promotions",
        json!({"name": "Welcome", "code": "WELCOME10",
               "benefit": {"type": "percent_off_order", "percent_bp": 1000}}),
        StatusCode::CREATED,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_guest_finds_fills_a_cart_signs_up_and_pays_in_the_browser() {
    let root = repo_root();
    let web = root.join("web");
    let dist = web.join("dist");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    require(
        dist.join("index.html").is_file(),
        &format!("{} is missing", dist.join("index.html").display()),
    );
    require(
        web.join("node_modules/playwright-core").is_dir(),
        "web/node_modules (playwright-core) is missing",
    );
    require(
        PathBuf::from(&chromium).is_file(),
        &format!("chromium is missing at {chromium}"),
    );

    let web_port = free_ports(1)[0];
    let p = Platform::start(Options {
        env: vec![
            (
                "STOREFRONT_GATEWAY__WEB_DIR".into(),
                dist.display().to_string(),
            ),
            (
                "STOREFRONT_GATEWAY__WEB_LISTEN".into(),
                format!("127.0.0.1:{web_port}"),
            ),
        ],
        ..Options::default()
    })
    .await;
    let shop = format!("http://127.0.0.1:{web_port}");
    let admin = Shopper::admin(&p).await;
    make_catalog(&admin).await;
    make_checkout_rules(&admin).await;

    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let output = target.join("web-e2e");
    let _ = std::fs::remove_dir_all(&output);
    std::fs::create_dir_all(&output).expect("screenshot folder");
    eprintln!("browser test screenshots: {}", output.display());

    let run = tokio::process::Command::new("node")
        .arg("e2e/shop.mjs")
        .current_dir(&web)
        .env("SHOP_URL", &shop)
        .env("E2E_OUTPUT", &output)
        .env("CHROMIUM", &chromium)
        .env("E2E_TIMEOUT_MS", "150000")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(170), run)
        .await
        .expect("the browser test finishes within 170 s")
        .expect("running node (Node.js 20 or newer must be installed)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}\n{stderr}");
    if !out.status.success() {
        let log = p.log("all");
        let tail: String = log
            .lines()
            .rev()
            .take(60)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        panic!(
            "the browser test failed ({}); screenshots in {}\nplatform log (tail):\n{tail}",
            out.status,
            output.display()
        );
    }
    let shots = std::fs::read_dir(&output)
        .expect("screenshot folder")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "png"))
        })
        .count();
    assert!(shots >= 10, "a screenshot per step, found {shots}");
}
