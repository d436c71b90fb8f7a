//! Checkout totals black box (issue #13): prices per currency, shipping zones and methods, tax
//! per destination and promotions, through the gateway of a running platform. The amount shown
//! in the cart is the amount on the order, in the events and charged; refunds come from the
//! stored breakdown; usage limits hold under concurrent checkouts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use storefront_tests::platform::{Options, Platform, ROLES, many_shoppers};
use storefront_tests::shopper::{CARD_OK, Shopper, sku};
use uuid::Uuid;

fn settle() -> Duration {
    Duration::from_secs(90)
}

async fn post(admin: &Shopper, path: &str, body: Value) -> Value {
    let (st, b) = admin.post(path, body).await;
    assert_eq!(st, StatusCode::CREATED, "POST {path}: {b}");
    b
}

async fn put(admin: &Shopper, path: &str, body: Value) -> Value {
    let (st, b) = admin.put(path, body).await;
    assert_eq!(st, StatusCode::OK, "PUT {path}: {b}");
    b
}

/// An active product with one variant priced in EUR and USD, of `grams` and `category`, with
/// stock.
async fn product(admin: &Shopper, sku: &str, eur: i64, usd: i64, grams: i64, category: &str) {
    let (st, b) = admin
        .post("/api/v1/admin/products", json!({
                "name": format!("Totals item {sku}"), "status": "active", "tax_category": category,
                "variants": [{"sku": sku, "price": {"amount": eur, "currency": "EUR"},
                    "prices": [{"amount": usd, "currency": "USD"}], "weight_grams": grams, "attributes": {}}],
            }))
        .await;
    assert_eq!(st, StatusCode::CREATED, "create product: {b}");
    admin.set_stock(sku, 1_000).await;
}

struct Shop {
    express_eu: String,
    standard_eu: String,
    standard_us: String,
}

/// EUR prices include VAT, USD prices do not; VAT for Germany, sales tax for California;
/// an EU and a US zone with standard and express shipping.
async fn set_up_shop(admin: &Shopper) -> Shop {
    for (currency, mode) in [("EUR", "tax_inclusive"), ("USD", "tax_exclusive")] {
        let path = format!("/api/v1/admin/price-modes/{currency}");
        put(admin, &path, json!({"mode": mode})).await;
    }
    for rate in [
        json!({"country": "DE", "category": "standard", "rate_ppm": 190000}),
        json!({"country": "DE", "category": "reduced", "rate_ppm": 70000}),
        json!({"country": "US", "region": "US-CA", "category": "standard", "rate_ppm": 72500}),
    ] {
        put(admin, "/api/v1/admin/tax-rates", rate).await;
    }
    let zone = |name: &str, countries: Value| {
        let body = json!({"name": name, "countries": countries});
        post(admin, "/api/v1/admin/shipping-zones", body)
    };
    let eu = zone("EU", json!(["DE", "FR"])).await;
    let us = zone("US", json!(["US"])).await;
    let method = |zone: &Value, name: &str, currency: &str, rate: Value, free_over: Value| {
        let body = json!({"zone_id": zone["id"], "name": name, "currency": currency, "rate": rate,
               "free_over": free_over, "delivery_days": {"min": 1, "max": 5}});
        post(admin, "/api/v1/admin/shipping-methods", body)
    };
    let flat = |amount: i64| json!({"type": "flat", "amount": amount});
    let standard_eu = method(&eu, "Standard", "EUR",
        json!({"type": "weight_tiers", "tiers": [{"from_grams": 0, "amount": 490}, {"from_grams": 2000, "amount": 690}]}),
        json!(5000)).await;
    let express_eu = method(&eu, "Express", "EUR", flat(990), Value::Null).await;
    let standard_us = method(&us, "Standard", "USD", flat(599), json!(10000)).await;
    method(&us, "Express", "USD", flat(1499), Value::Null).await;
    Shop {
        express_eu: express_eu["id"].as_str().unwrap().to_owned(),
        standard_eu: standard_eu["id"].as_str().unwrap().to_owned(),
        standard_us: standard_us["id"].as_str().unwrap().to_owned(),
    }
}

fn tax_of(breakdown: &Value, rate_ppm: i64) -> i64 {
    breakdown["taxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["rate_ppm"] == rate_ppm)
        .map_or(0, |t| t["amount"].as_i64().unwrap())
}

fn address(country: &str, region: Option<&str>) -> Value {
    json!({"recipient_name": "Test Shopper", "address_lines": ["1 Test Street"], "locality": "Town",
           "administrative_area": region.unwrap_or_default(), "postal_code": "10115",
           "country_code": country})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cart_the_order_the_events_and_the_charge_show_the_same_breakdown() {
    let p = Platform::start(Options::default()).await;
    let admin = Shopper::admin(&p).await;
    let shop = set_up_shop(&admin).await;
    let (shirt, book) = (sku(), sku());
    product(&admin, &shirt, 2000, 2200, 500, "standard").await;
    product(&admin, &book, 1500, 1600, 300, "reduced").await;
    let code = format!("TEN{}", &Uuid::now_v7().simple().to_string()[24..]).to_uppercase();
    post(
        &admin,
        "/api/v1/admin/promotions",
        json!({"name": "Ten off", "code": code,
        "benefit": {"type": "percent_off_order", "percent_bp": 1000}, "usage_limit": 100,
        "ends_at": "2099-01-01T00:00:00Z"}),
    )
    .await;
    post(
        &admin,
        "/api/v1/admin/promotions",
        json!({"name": "Old", "code": "OLDCODE1",
        "benefit": {"type": "free_shipping"}, "starts_at": "2020-01-01T00:00:00Z",
        "ends_at": "2021-01-01T00:00:00Z"}),
    )
    .await;

    // The public list of methods for Germany.
    let (st, list) = admin
        .get("/api/v1/shipping-methods?country=DE&currency=EUR")
        .await;
    assert_eq!(st, StatusCode::OK, "{list}");
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{list}");
    let (st, bad) = admin.get("/api/v1/shipping-methods?country=Germany").await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    assert_eq!(bad["errors"][0]["field"], "country", "{bad}");

    // EUR to Germany, VAT-inclusive prices, express shipping, a 10% code.
    let ada = Shopper::register(&p, "ada").await;
    assert!(ada.add_to_cart(&shirt, 2).await.0.is_success());
    assert!(ada.add_to_cart(&book, 1).await.0.is_success());
    let query = format!(
        "/api/v1/cart?currency=EUR&country=DE&shipping_method_id={}&promotion_code={}",
        shop.express_eu,
        code.to_lowercase()
    );
    let (st, cart) = ada.get(&query).await;
    assert_eq!(st, StatusCode::OK, "{cart}");
    let estimate = &cart["estimate"];
    let b = &estimate["breakdown"];
    // 2 x 20.00 at 19% + 15.00 at 7%; 10% off each line; express 9.90 at 19%.
    assert_eq!(b["subtotal"], 5500, "{b}");
    assert_eq!(b["discount_total"], 550, "{b}");
    assert_eq!(b["shipping"], 990, "{b}");
    assert_eq!(tax_of(b, 190_000), 575 + 158, "{b}");
    assert_eq!(tax_of(b, 70_000), 88, "{b}");
    assert_eq!(b["tax_total"], 821, "{b}");
    assert_eq!(b["total"], 5940, "prices include tax: {b}");
    assert_eq!(estimate["code"]["applied"], true, "{estimate}");
    // The standard method is free above 50.00; both are offered with their price for this cart.
    let offered: HashMap<&str, i64> = estimate["shipping_methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap(), m["amount"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        offered,
        HashMap::from([("Standard", 0), ("Express", 990)]),
        "{estimate}"
    );

    // A code past its end time: the estimate says why, checkout refuses it with 409.
    let pm = ada.payment_method(CARD_OK).await;
    let (_, cart_old) = ada
        .get("/api/v1/cart?country=DE&promotion_code=OLDCODE1")
        .await;
    assert_eq!(cart_old["estimate"]["code"]["applied"], false, "{cart_old}");
    assert!(
        cart_old["estimate"]["code"]["reason"]
            .as_str()
            .unwrap()
            .contains("ended"),
        "{cart_old}"
    );
    let mut body = json!({"payment_method_id": pm, "shipping_address": address("DE", None),
        "currency": "EUR", "shipping_method_id": shop.express_eu, "promotion_code": "OLDCODE1"});
    let (st, refused) = ada
        .checkout_with(body.clone(), &Uuid::now_v7().to_string())
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["errors"][0]["field"], "promotion_code", "{refused}");
    assert!(
        refused["detail"].as_str().unwrap().contains("OLDCODE1"),
        "{refused}"
    );
    // Without a method where methods exist: 422 naming it; a US method for Germany: 422.
    body["promotion_code"] = code.clone().into();
    let mut no_method = body.clone();
    no_method["shipping_method_id"] = Value::Null;
    let (st, e) = ada
        .checkout_with(no_method, &Uuid::now_v7().to_string())
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["errors"][0]["field"], "shipping_method_id", "{e}");
    let mut wrong = body.clone();
    wrong["shipping_method_id"] = shop.standard_us.clone().into();
    let (st, e) = ada.checkout_with(wrong, &Uuid::now_v7().to_string()).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{e}");

    let (st, order) = ada.checkout_with(body, &Uuid::now_v7().to_string()).await;
    assert_eq!(st, StatusCode::CREATED, "{order}");
    assert_eq!(
        order["breakdown"], *b,
        "the order keeps the estimate's breakdown"
    );
    assert_eq!(order["total"]["amount"], 5940, "{order}");
    assert_eq!(order["promotion_code"], code.as_str(), "{order}");
    assert_eq!(order["shipping_method"]["name"], "Express", "{order}");
    let id = order["id"].as_str().unwrap().to_owned();
    let paid = ada.order_reaches(&id, &["paid"], settle()).await;
    assert_eq!(paid["breakdown"], *b);

    // The events carry it; payment charged exactly the grand total.
    let events =
        storefront_tests::read_topic(&p.kafka, &format!("{}.order-events", p.prefix)).await;
    for ty in ["order.created", "order.paid"] {
        let e = events
            .iter()
            .find(|e| e["type"] == ty && e["data"]["order_id"] == id.as_str())
            .unwrap_or_else(|| panic!("{ty} for {id}"));
        assert_eq!(e["data"]["breakdown"], *b, "{ty}");
        assert_eq!(e["data"]["total"]["amount"], 5940, "{ty}");
    }
    let payment_db = p.database("payment").await;
    let charged: i64 = sqlx::query_scalar(
        "SELECT amount FROM transactions WHERE order_id = $1 AND kind = 'charge' AND status = 'succeeded'",
    )
    .bind(Uuid::parse_str(&id).unwrap())
    .fetch_one(&payment_db)
    .await
    .unwrap();
    assert_eq!(charged, 5940);

    // A refund of the book's unit gives back its line total (after discount, with its tax).
    let book_total = b["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["sku"] == book.as_str())
        .unwrap()["total"]
        .as_i64()
        .unwrap();
    assert_eq!(book_total, 1350);
    let (st, e) = admin
        .post(
            &format!("/api/v1/admin/orders/{id}/refund"),
            json!({"lines": [{"sku": book, "quantity": 2}]}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["errors"][0]["field"], "lines[0].quantity", "{e}");
    let (st, e) = admin
        .post(
            &format!("/api/v1/admin/orders/{id}/refund"),
            json!({"lines": [{"sku": book, "quantity": 1}]}),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{e}");
    ada.order_reaches(&id, &["refunded"], settle()).await;
    let refunded: i64 = sqlx::query_scalar(
        "SELECT amount FROM transactions WHERE order_id = $1 AND kind = 'refund' AND status = 'succeeded'",
    )
    .bind(Uuid::parse_str(&id).unwrap())
    .fetch_one(&payment_db)
    .await
    .unwrap();
    assert_eq!(refunded, 1350);

    // The same cart in USD to California: tax-exclusive prices, sales tax added on top.
    let bob = Shopper::register(&p, "bob").await;
    assert!(bob.add_to_cart(&shirt, 2).await.0.is_success());
    assert!(bob.add_to_cart(&book, 1).await.0.is_success());
    let (_, cart) = bob
        .get(&format!("/api/v1/cart?currency=usd&country=US&region=CA&promotion_code={code}&shipping_method_id={}", shop.standard_us))
        .await;
    let b = &cart["estimate"]["breakdown"];
    assert_eq!(cart["items"][0]["unit_price"]["currency"], "USD", "{cart}");
    assert_eq!(b["subtotal"], 6000, "{b}");
    assert_eq!(b["discount_total"], 600, "{b}");
    assert_eq!(b["shipping"], 599, "{b}");
    // 7.25% of the shirts' 39.60 and of the shipping; books are exempt in California.
    assert_eq!(b["tax_total"], 287 + 43, "{b}");
    assert_eq!(b["total"], 6000 - 600 + 599 + 330, "{b}");
    let pm = bob.payment_method(CARD_OK).await;
    let (st, order) = bob
        .checkout_with(
            json!({"payment_method_id": pm, "shipping_address": address("US", Some("CA")),
            "currency": "USD", "shipping_method_id": shop.standard_us, "promotion_code": code}),
            &Uuid::now_v7().to_string(),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{order}");
    assert_eq!(order["breakdown"], *b);
    assert_eq!(order["currency"], "USD");

    // Free shipping over the threshold: the EU standard method costs nothing on a 55.00 cart,
    // 4.90 on a 20.00 one.
    let cy = Shopper::register(&p, "cy").await;
    assert!(cy.add_to_cart(&shirt, 1).await.0.is_success());
    let standard_de = format!(
        "/api/v1/cart?country=DE&shipping_method_id={}",
        shop.standard_eu
    );
    let (_, cart) = cy.get(&standard_de).await;
    assert_eq!(cart["estimate"]["breakdown"]["shipping"], 490, "{cart}");
    assert!(cy.add_to_cart(&shirt, 2).await.0.is_success());
    let (_, cart) = cy.get(&standard_de).await;
    assert_eq!(cart["estimate"]["breakdown"]["shipping"], 0, "{cart}");
    assert_eq!(cart["estimate"]["breakdown"]["total"], 6000, "{cart}");

    // A currency an item is not sold in: no estimate but the problem naming the line, and a
    // 422 at checkout.
    let (_, cart) = cy.get("/api/v1/cart?currency=GBP").await;
    assert!(cart["estimate"].is_null(), "{cart}");
    assert_eq!(cart["estimate_problem"]["status"], 422, "{cart}");
    let pm = cy.payment_method(CARD_OK).await;
    let (st, e) = cy
        .checkout_with(
            json!({"payment_method_id": pm, "shipping_address": address("DE", None),
            "currency": "GBP", "shipping_method_id": shop.standard_eu}),
            &Uuid::now_v7().to_string(),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["errors"][0]["field"], "items[0].sku", "{e}");
    assert!(
        e["errors"][0]["message"].as_str().unwrap().contains("GBP"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn three_hundred_checkouts_redeem_a_fifty_use_code_fifty_times_and_cancelling_gives_uses_back()
 {
    // Payment runs apart and is stopped before the checkouts, so the orders wait for payment
    // and can be cancelled.
    let core: Vec<&'static str> = ROLES.iter().copied().filter(|r| *r != "payment").collect();
    let mut p = Platform::start(Options {
        groups: vec![("core".into(), core), ("payment".into(), vec!["payment"])],
        env: many_shoppers(),
        ..Options::default()
    })
    .await;
    let admin = Shopper::admin(&p).await;
    let item = sku();
    admin.product_with_stock(&item, 1000, 1_000).await;
    let promo = post(&admin, "/api/v1/admin/promotions", json!({"name": "Fifty", "code": "FIFTY50",
        "benefit": {"type": "amount_off_order", "amount": 100}, "currency": "EUR", "usage_limit": 50})).await;
    let promo_id = promo["id"].as_str().unwrap().to_owned();

    let mut shoppers = Vec::new();
    for i in 0..310 {
        let u = Shopper::register(&p, &format!("r{i}")).await;
        assert!(u.add_to_cart(&item, 1).await.0.is_success());
        let pm = u.payment_method(CARD_OK).await;
        shoppers.push((u, pm));
    }
    // Cards are saved; now payment stops.
    p.kill("payment").await;
    let shoppers = Arc::new(shoppers);
    let checkout = |i: usize| {
        let shoppers = shoppers.clone();
        tokio::spawn(async move {
            let (u, pm) = &shoppers[i];
            let mut body = Shopper::checkout_body(pm);
            body["promotion_code"] = "FIFTY50".into();
            let (st, b) = u
                .checkout_until_answered_with(body, &Uuid::now_v7().to_string())
                .await;
            (i, st, b)
        })
    };
    let tasks: Vec<_> = (0..300).map(checkout).collect();
    let mut placed = Vec::new();
    let mut refused = 0;
    for t in tasks {
        let (i, st, b) = t.await.unwrap();
        match st {
            StatusCode::CREATED => {
                assert_eq!(b["promotion_code"], "FIFTY50", "{b}");
                assert_eq!(b["total"]["amount"], 900, "{b}");
                placed.push((i, b["id"].as_str().unwrap().to_owned()));
            }
            StatusCode::CONFLICT => {
                assert_eq!(b["errors"][0]["field"], "promotion_code", "{b}");
                assert!(b["detail"].as_str().unwrap().contains("FIFTY50"), "{b}");
                refused += 1;
            }
            other => panic!("checkout answered {other}: {b}"),
        }
    }
    assert_eq!(placed.len(), 50, "{refused} refused");
    assert_eq!(refused, 250);
    assert_eq!(uses(&admin, &promo_id).await, 50);
    let order_db = p.database("order").await;
    let redeemed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM promotion_redemptions WHERE released_at IS NULL")
            .fetch_one(&order_db)
            .await
            .unwrap();
    assert_eq!(redeemed, 50);

    // Ten customers cancel before paying: ten uses come back, and exactly ten more checkouts
    // get the code.
    for (i, id) in placed.iter().take(10) {
        let (u, _) = &shoppers[*i];
        let (st, b) = u.post(&format!("/api/v1/orders/{id}/cancel"), None).await;
        assert_eq!(st, StatusCode::OK, "{b}");
    }
    assert_eq!(uses(&admin, &promo_id).await, 40);
    let tasks: Vec<_> = (300..310).map(checkout).collect();
    for t in tasks {
        let (_, st, b) = t.await.unwrap();
        assert_eq!(st, StatusCode::CREATED, "{b}");
    }
    assert_eq!(uses(&admin, &promo_id).await, 50);
    let (u, pm) = &shoppers[placed[10].0];
    assert!(u.add_to_cart(&item, 1).await.0.is_success());
    let mut body = Shopper::checkout_body(pm);
    body["promotion_code"] = "FIFTY50".into();
    let (st, b) = u.checkout_with(body, &Uuid::now_v7().to_string()).await;
    assert_eq!(st, StatusCode::CONFLICT, "the 51st use: {b}");

    // Payment comes back: the 50 orders are paid with the discount, the uses stay.
    p.restart("payment").await;
    for (i, id) in placed.iter().skip(10) {
        let o = shoppers[*i].0.order_reaches(id, &["paid"], settle()).await;
        assert_eq!(o["total"]["amount"], 900);
    }
    assert_eq!(uses(&admin, &promo_id).await, 50);
}

async fn uses(admin: &Shopper, promotion: &str) -> i64 {
    let (st, p) = admin
        .get(&format!("/api/v1/admin/promotions/{promotion}"))
        .await;
    assert_eq!(st, StatusCode::OK, "{p}");
    p["uses"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_admin_api_validates_and_names_fields() {
    let p = Platform::start(Options::default()).await;
    let admin = Shopper::admin(&p).await;
    let ada = Shopper::register(&p, "ada").await;
    let (st, _) = ada.get("/api/v1/admin/promotions").await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    for (path, body, field) in [
        (
            "/api/v1/admin/shipping-zones",
            json!({"name": "X", "countries": ["Germany"]}),
            "countries[0]",
        ),
        (
            "/api/v1/admin/shipping-methods",
            json!({"zone_id": Uuid::now_v7(), "name": "S", "currency": "EUR",
            "rate": {"type": "flat", "amount": 100}}),
            "zone_id",
        ),
        (
            "/api/v1/admin/promotions",
            json!({"name": "P", "benefit": {"type": "percent_off_order", "percent_bp": 20000}}),
            "benefit.percent_bp",
        ),
        (
            "/api/v1/admin/promotions",
            json!({"name": "P", "code": "x", "benefit": {"type": "free_shipping"}}),
            "code",
        ),
    ] {
        let (st, b) = admin.post(path, body).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {b}");
        assert_eq!(b["errors"][0]["field"], field, "{path}: {b}");
    }
    let (st, b) = admin
        .put(
            "/api/v1/admin/tax-rates",
            json!({"country": "DE", "category": "standard", "rate_ppm": -1}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(b["errors"][0]["field"], "rate_ppm", "{b}");
    // A taken code is 409; a limit below the uses made is refused.
    let body = json!({"name": "A", "code": "TAKEN1", "benefit": {"type": "free_shipping"}});
    post(&admin, "/api/v1/admin/promotions", body.clone()).await;
    let (st, b) = admin.post("/api/v1/admin/promotions", body).await;
    assert_eq!(st, StatusCode::CONFLICT, "{b}");
    assert_eq!(b["errors"][0]["field"], "code", "{b}");
    // Zones, methods, rates and promotions can be listed, replaced and deleted.
    let zone = post(
        &admin,
        "/api/v1/admin/shipping-zones",
        json!({"name": "Z", "countries": ["FR"]}),
    )
    .await;
    let id = zone["id"].as_str().unwrap();
    let z = put(
        &admin,
        &format!("/api/v1/admin/shipping-zones/{id}"),
        json!({"name": "Z2", "countries": ["FR", "BE"]}),
    )
    .await;
    assert_eq!(z["countries"], json!(["BE", "FR"]));
    let (st, _) = admin
        .delete(&format!("/api/v1/admin/shipping-zones/{id}"))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = admin
        .delete(&format!("/api/v1/admin/shipping-zones/{id}"))
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}
