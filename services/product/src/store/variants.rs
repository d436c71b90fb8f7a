//! product_variants: purchasable SKUs with attributes and prices.

use std::collections::BTreeMap;

use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::domain::{Money, VariantRecord};

pub const SKU_KEY: &str = "product_variants_sku_key";
pub const ATTRIBUTES_KEY: &str = "product_variants_attributes_key";

const COLUMNS: &str =
    "id, product_id, sku, attributes, price, currency, compare_at_price, image_id,
                       in_stock, created_at, updated_at";

fn decode(r: PgRow) -> Result<VariantRecord, sqlx::Error> {
    let attrs: Json<BTreeMap<String, String>> = r.try_get("attributes")?;
    Ok(VariantRecord {
        id: r.try_get("id")?,
        product_id: r.try_get("product_id")?,
        sku: r.try_get("sku")?,
        attributes: attrs.0,
        price: Money {
            amount: r.try_get("price")?,
            currency: r.try_get("currency")?,
        },
        compare_at_price: r.try_get("compare_at_price")?,
        image_id: r.try_get("image_id")?,
        in_stock: r.try_get("in_stock")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub async fn by_products(
    c: &mut PgConnection,
    products: &[Uuid],
) -> Result<Vec<VariantRecord>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM product_variants WHERE product_id = ANY($1)
          ORDER BY product_id, created_at, id"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(products)
        .fetch_all(&mut *c)
        .await?
        .into_iter()
        .map(decode)
        .collect()
}

pub async fn by_skus(
    c: &mut PgConnection,
    skus: &[String],
) -> Result<Vec<VariantRecord>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM product_variants WHERE sku = ANY($1)");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(skus)
        .fetch_all(&mut *c)
        .await?
        .into_iter()
        .map(decode)
        .collect()
}

pub async fn get(c: &mut PgConnection, id: Uuid) -> Result<Option<VariantRecord>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM product_variants WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .map(decode)
        .transpose()
}

#[allow(clippy::too_many_arguments)]
pub async fn insert(
    c: &mut PgConnection,
    id: Uuid,
    product_id: Uuid,
    sku: &str,
    attributes: &BTreeMap<String, String>,
    price: &Money,
    compare_at: Option<i64>,
    image_id: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO product_variants (id, product_id, sku, attributes, price, currency,
                                       compare_at_price, image_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(product_id)
    .bind(sku)
    .bind(Json(attributes))
    .bind(price.amount)
    .bind(&price.currency)
    .bind(compare_at)
    .bind(image_id)
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn update(c: &mut PgConnection, v: &VariantRecord) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE product_variants SET attributes = $2, price = $3, currency = $4,
                compare_at_price = $5, image_id = $6, updated_at = now()
          WHERE id = $1",
    )
    .bind(v.id)
    .bind(Json(&v.attributes))
    .bind(v.price.amount)
    .bind(&v.price.currency)
    .bind(v.compare_at_price)
    .bind(v.image_id)
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn delete(c: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM product_variants WHERE id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// (count, distinct currencies) of a product's variants other than `except`.
pub async fn siblings(
    c: &mut PgConnection,
    product_id: Uuid,
    except: Option<Uuid>,
) -> Result<(i64, Vec<String>), sqlx::Error> {
    let row: (i64, Option<Vec<String>>) = sqlx::query_as(
        "SELECT count(*), array_agg(DISTINCT currency) FILTER (WHERE currency IS NOT NULL)
           FROM product_variants WHERE product_id = $1 AND ($2::uuid IS NULL OR id <> $2)",
    )
    .bind(product_id)
    .bind(except)
    .fetch_one(&mut *c)
    .await?;
    Ok((row.0, row.1.unwrap_or_default()))
}
