//! product_db's migrations against real PostgreSQL (the dev stack's, or `STOREFRONT_POSTGRES__URL`):
//! the prices/tax/weight migration (issue #13) keeps every existing variant's price.

use sqlx::migrate::{Migration, Migrator};
use sqlx::{ConnectOptions, PgConnection};
use storefront_kit::db::KIT_MIGRATIONS;
use storefront_product::MIGRATIONS;
use uuid::Uuid;

/// The migration under test.
const PRICES_TAX_WEIGHT: i64 = 20261205000001;

/// A fresh database named after the test.
async fn fresh_database(test: &str) -> PgConnection {
    let common = storefront_kit::config::load_common().expect("configuration");
    let tail = Uuid::now_v7().simple().to_string();
    let name = format!("{test}_{}", &tail[20..]);
    storefront_kit::db::ensure_database(&common.postgres, &name)
        .await
        .expect("creating the database (is PostgreSQL up? scripts/dev-stack.sh up)");
    storefront_kit::db::connect_options(&common.postgres, &name)
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// Every migration product_db runs, kit's first, as the service applies them.
fn all_migrations() -> Vec<Migration> {
    KIT_MIGRATIONS
        .iter()
        .chain(MIGRATIONS.iter())
        .cloned()
        .collect()
}

#[tokio::test]
async fn prices_migration_copies_every_existing_variant_price() {
    let mut c = fresh_database("it_prices_migration").await;
    let before: Vec<Migration> = all_migrations()
        .into_iter()
        .filter(|m| m.version < PRICES_TAX_WEIGHT)
        .collect();
    assert!(
        MIGRATIONS.iter().any(|m| m.version == PRICES_TAX_WEIGHT),
        "the migration is missing"
    );
    Migrator::with_migrations(before)
        .run(&mut c)
        .await
        .expect("migrating up to the prices migration");

    // A catalog as it was before: two products in different currencies, three variants.
    let (p_eur, p_usd) = (Uuid::now_v7(), Uuid::now_v7());
    sqlx::query(
        "INSERT INTO products (id, slug, name, status) VALUES
             ($1, 'beans', 'Beans', 'active'), ($2, 'mug', 'Mug', 'draft')",
    )
    .bind(p_eur)
    .bind(p_usd)
    .execute(&mut c)
    .await
    .unwrap();
    let variants = [
        (Uuid::now_v7(), p_eur, "BEANS-250", 799_i64, "EUR"),
        (Uuid::now_v7(), p_eur, "BEANS-1000", 2399, "EUR"),
        (Uuid::now_v7(), p_usd, "MUG-1", 0, "USD"),
    ];
    for (i, (id, product, sku, price, currency)) in variants.iter().enumerate() {
        sqlx::query(
            "INSERT INTO product_variants (id, product_id, sku, attributes, price, currency)
             VALUES ($1, $2, $3, jsonb_build_object('n', $4::int), $5, $6)",
        )
        .bind(id)
        .bind(product)
        .bind(sku)
        .bind(i as i32)
        .bind(price)
        .bind(currency)
        .execute(&mut c)
        .await
        .unwrap();
    }
    let versions_before: Vec<i64> = sqlx::query_scalar("SELECT version FROM products ORDER BY id")
        .fetch_all(&mut c)
        .await
        .unwrap();

    Migrator::with_migrations(all_migrations())
        .run(&mut c)
        .await
        .expect("running the remaining migrations");

    let mut copied: Vec<(Uuid, String, i64)> = sqlx::query_as(
        "SELECT variant_id, currency, amount FROM variant_prices ORDER BY variant_id, currency",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    copied.sort();
    let mut expected: Vec<(Uuid, String, i64)> = variants
        .iter()
        .map(|(id, _, _, price, currency)| (*id, (*currency).to_owned(), *price))
        .collect();
    expected.sort();
    assert_eq!(copied, expected);

    // The new columns have their defaults; the primary price columns are untouched.
    let categories: Vec<String> = sqlx::query_scalar("SELECT DISTINCT tax_category FROM products")
        .fetch_all(&mut c)
        .await
        .unwrap();
    assert_eq!(categories, ["standard"]);
    let weights: Vec<i32> =
        sqlx::query_scalar("SELECT DISTINCT weight_grams FROM product_variants")
            .fetch_all(&mut c)
            .await
            .unwrap();
    assert_eq!(weights, [0]);
    let primary: i64 =
        sqlx::query_scalar("SELECT price FROM product_variants WHERE sku = 'BEANS-1000'")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert_eq!(primary, 2399);
    // Every product's version moved, so cached copies without the new fields are replaced.
    let versions_after: Vec<i64> = sqlx::query_scalar("SELECT version FROM products ORDER BY id")
        .fetch_all(&mut c)
        .await
        .unwrap();
    let bumped: Vec<i64> = versions_before.iter().map(|v| v + 1).collect();
    assert_eq!(versions_after, bumped);

    // The table's rules hold: one row per currency, uppercase codes, no negative amounts, and a
    // variant's prices go with it.
    let (id, ..) = variants[0];
    for (currency, amount) in [("EUR", 1_i64), ("usd", 1), ("GBP", -1)] {
        let r = sqlx::query(
            "INSERT INTO variant_prices (variant_id, currency, amount) VALUES ($1, $2, $3)",
        )
        .bind(id)
        .bind(currency)
        .bind(amount)
        .execute(&mut c)
        .await;
        assert!(r.is_err(), "{currency} {amount} was accepted");
    }
    sqlx::query("DELETE FROM product_variants WHERE id = $1")
        .bind(id)
        .execute(&mut c)
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM variant_prices WHERE variant_id = $1")
        .bind(id)
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(left, 0);
}
