//! `storefront seed`: the demo catalog in a fresh product_db/inventory_db pair (unique database
//! prefix, unique bucket prefix), seeded once, deterministic, and searchable by the real product
//! service.

use std::collections::HashMap;

use storefront_cli::seed::{self, Options, Outcome};
use storefront_kit::Shutdown;
use storefront_kit::events::topics;
use storefront_proto::product::v1 as pb;
use storefront_proto::product::v1::product_service_client::ProductServiceClient;
use storefront_tests::{common, count, ok, unique};
use uuid::Uuid;

/// A product config whose databases (`<prefix>product_db`, `<prefix>inventory_db`), bucket,
/// topics and key prefix are all fresh.
fn fresh_config() -> storefront_product::Config {
    let mut c = common();
    let name = unique("it_seed");
    c.postgres.database_prefix = format!("{name}_");
    c.redis.key_prefix = format!("{name}:");
    c.kafka.topic_prefix = format!("{name}.");
    let tail = Uuid::now_v7().simple().to_string();
    c.s3.bucket_prefix = format!("it-seed-{}-", &tail[20..]);
    let mut cfg = storefront_product::Config {
        common: c,
        product: Default::default(),
    };
    cfg.product.listen = "127.0.0.1:0".parse().unwrap();
    cfg.product.consumer_group = name;
    cfg
}

fn opts(products: u32, seed: u64) -> Options {
    Options {
        products,
        seed,
        progress: false,
        images: true,
    }
}

async fn pools(cfg: &storefront_product::Config) -> (sqlx::PgPool, sqlx::PgPool) {
    let pg = &cfg.common.postgres;
    let product = storefront_kit::db::connect(pg, "product", &storefront_product::MIGRATIONS)
        .await
        .unwrap();
    let inventory =
        storefront_kit::db::connect(pg, "inventory", &storefront_inventory::store::MIGRATIONS)
            .await
            .unwrap();
    (product, inventory)
}

/// (name, sku) of every variant, in SKU order.
async fn catalog_rows(pool: &sqlx::PgPool) -> Vec<(Uuid, String, String)> {
    sqlx::query_as(
        "SELECT p.id, p.name, v.sku FROM products p JOIN product_variants v ON v.product_id = p.id
          ORDER BY v.sku",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn seed_fills_an_empty_catalog_once_deterministically_and_search_finds_it() {
    let cfg = fresh_config();
    let outcome = seed::seed(&cfg, &opts(200, 7)).await.expect("seed");
    let Outcome::Seeded {
        products,
        variants,
        categories,
        images,
        ..
    } = outcome
    else {
        panic!("expected a seeded catalog, got {outcome:?}");
    };
    assert_eq!(products, 200);
    assert!((200..=800).contains(&variants), "{variants}");
    assert!((25..=40).contains(&categories), "{categories}");
    assert!(images >= 200, "{images}");

    let (pdb, idb) = pools(&cfg).await;
    for (sql, pool, want) in [
        (
            "SELECT count(*) FROM products WHERE status = 'active'",
            &pdb,
            200,
        ),
        (
            "SELECT count(*) FROM product_variants",
            &pdb,
            variants as i64,
        ),
        ("SELECT count(*) FROM categories", &pdb, categories as i64),
        // Checkout data: a EUR (primary, mirrored) and a USD price per variant, a weight, and
        // food and books taxed at the reduced rate (below).
        (
            "SELECT count(*) FROM variant_prices vp JOIN product_variants v ON v.id = vp.variant_id
              WHERE (vp.currency = 'EUR' AND vp.amount = v.price)
                 OR (vp.currency = 'USD' AND vp.amount >= v.price)",
            &pdb,
            2 * variants as i64,
        ),
        (
            "SELECT count(*) FROM product_variants WHERE weight_grams = 0",
            &pdb,
            0,
        ),
        ("SELECT count(*) FROM product_images", &pdb, images as i64),
        ("SELECT count(*) FROM stock", &idb, variants as i64),
        // The derived price range was computed for every product.
        (
            "SELECT count(*) FROM products WHERE min_price IS NULL OR currency IS NULL",
            &pdb,
            0,
        ),
    ] {
        assert_eq!(count(pool, sql).await, want, "{sql}");
    }
    for (sql, pool) in [
        (
            "SELECT count(*) FROM products WHERE tax_category = 'reduced'",
            &pdb,
        ),
        // Categories form a tree with depth 3.
        (
            "SELECT count(*) FROM categories c JOIN categories m ON c.parent_id = m.id
              WHERE m.parent_id IS NOT NULL",
            &pdb,
        ),
        ("SELECT count(*) FROM stock WHERE on_hand = 0", &idb),
        (
            "SELECT count(*) FROM product_variants WHERE compare_at_price IS NOT NULL",
            &pdb,
        ),
    ] {
        assert!(count(pool, sql).await > 0, "{sql}");
    }
    // The image objects are in the bucket.
    let key: String = sqlx::query_scalar("SELECT object_key FROM product_images LIMIT 1")
        .fetch_one(&pdb)
        .await
        .unwrap();
    let s3 = storefront_kit::s3::client(&cfg.common.s3);
    let bucket = storefront_kit::s3::bucket_name(&cfg.common.s3, "product-images");
    let obj = s3
        .get_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .expect("image object");
    let body = obj.body.collect().await.unwrap().into_bytes();
    assert!(body.starts_with(b"\x89PNG\r\n\x1a\n"));

    // A second run does nothing.
    let again = seed::seed(&cfg, &opts(200, 7)).await.unwrap();
    assert_eq!(again, Outcome::NotEmpty { products: 200 });
    assert_eq!(count(&pdb, "SELECT count(*) FROM products").await, 200);

    // The same seed into another fresh pair gives the same catalog; without images (the scale
    // check's `--no-images`), the same products and no image rows.
    let other = fresh_config();
    let outcome = seed::seed(
        &other,
        &Options {
            images: false,
            ..opts(200, 7)
        },
    )
    .await
    .unwrap();
    assert!(
        matches!(
            outcome,
            Outcome::Seeded {
                products: 200,
                images: 0,
                ..
            }
        ),
        "{outcome:?}"
    );
    let (pdb2, _idb2) = pools(&other).await;
    let first = catalog_rows(&pdb).await;
    assert_eq!(first, catalog_rows(&pdb2).await);
    assert_eq!(count(&pdb2, "SELECT count(*) FROM product_images").await, 0);
    pdb2.close().await;

    // The product service on the seeded database finds a product by a misspelt word of its name
    // and reports its stock.
    let names: Vec<String> = [topics::PRODUCT_EVENTS, topics::INVENTORY_EVENTS]
        .iter()
        .map(|t| storefront_kit::events::topic(&cfg.common.kafka, t))
        .collect();
    storefront_kit::kafka::ensure_topics(&cfg.common.kafka, &names, 1)
        .await
        .expect("creating topics");
    let shutdown = Shutdown::new();
    let server = storefront_product::build(cfg.clone(), shutdown.clone())
        .await
        .expect("product starts on the seeded database");
    let addr = server.local_addr();
    tokio::spawn(server.run());
    let mut client = ProductServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();

    let (target_id, brand, word): (Uuid, String, String) = {
        let (id, name, _) = first[0].clone();
        let brand: String = sqlx::query_scalar("SELECT brand FROM products WHERE id = $1")
            .bind(id)
            .fetch_one(&pdb)
            .await
            .unwrap();
        let word = name
            .split_whitespace()
            .max_by_key(|w| w.len())
            .unwrap()
            .to_owned();
        (id, brand, word)
    };
    assert!(word.len() >= 4, "{word}");
    // Drop one inner letter: "Backpack" -> "Backpck".
    let mut typo = word.to_lowercase();
    typo.remove(typo.len() - 2);
    let resp = client
        .search_products(pb::SearchProductsRequest {
            query: typo.clone(),
            brands: vec![brand.clone()],
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("search")
        .into_inner();
    let hit = resp
        .hits
        .iter()
        .find(|h| {
            h.product
                .as_ref()
                .is_some_and(|p| p.id == target_id.to_string())
        })
        .unwrap_or_else(|| {
            panic!("{typo:?} (for {word:?}, brand {brand}) did not find the product")
        });
    let product = hit.product.as_ref().unwrap();
    assert!(!product.variants.is_empty());
    let stock: HashMap<String, i64> =
        sqlx::query_as::<_, (String, i64)>("SELECT sku, on_hand FROM stock")
            .fetch_all(&idb)
            .await
            .unwrap()
            .into_iter()
            .collect();
    for v in &product.variants {
        assert_eq!(v.in_stock, stock[&v.sku] > 0, "{}", v.sku);
    }

    // The in-stock filter leaves out products whose every SKU has no stock.
    let out_of_stock: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM products p WHERE NOT EXISTS (
             SELECT 1 FROM product_variants v WHERE v.product_id = p.id AND v.in_stock)",
    )
    .fetch_one(&pdb)
    .await
    .unwrap();
    let all = ok(client.search_products(pb::SearchProductsRequest {
        page_size: 1,
        ..Default::default()
    }))
    .await;
    let in_stock = ok(client.search_products(pb::SearchProductsRequest {
        in_stock: true,
        page_size: 1,
        ..Default::default()
    }))
    .await;
    assert_eq!(all.total_size, 200);
    assert_eq!(in_stock.total_size, 200 - out_of_stock);

    shutdown.trigger();
    pdb.close().await;
    idb.close().await;
}
