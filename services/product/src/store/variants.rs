//! product_variants: purchasable SKUs with attributes, prices and weights; and variant_prices,
//! a variant's price per currency (the primary one mirrored from product_variants).

use std::collections::{BTreeMap, HashMap};

use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::domain::{Money, VariantRecord};

pub const SKU_KEY: &str = "product_variants_sku_key";
pub const ATTRIBUTES_KEY: &str = "product_variants_attributes_key";

const COLUMNS: &str =
    "id, product_id, sku, attributes, price, currency, compare_at_price, image_id,
                       in_stock, weight_grams, created_at, updated_at";

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
        prices: Vec::new(),
        compare_at_price: r.try_get("compare_at_price")?,
        image_id: r.try_get("image_id")?,
        in_stock: r.try_get("in_stock")?,
        weight_grams: r.try_get("weight_grams")?,
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
    let mut list = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(products)
        .fetch_all(&mut *c)
        .await?
        .into_iter()
        .map(decode)
        .collect::<Result<Vec<_>, _>>()?;
    attach_prices(c, &mut list).await?;
    Ok(list)
}

/// The products holding `skus`, with each product's current version: (sku, product id, version).
pub async fn owners(
    c: &mut PgConnection,
    skus: &[String],
) -> Result<Vec<(String, Uuid, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT v.sku, p.id, p.version FROM product_variants v JOIN products p ON p.id = v.product_id
          WHERE v.sku = ANY($1)",
    )
    .bind(skus)
    .fetch_all(&mut *c)
    .await
}

pub async fn get(c: &mut PgConnection, id: Uuid) -> Result<Option<VariantRecord>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM product_variants WHERE id = $1");
    let Some(v) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .map(decode)
        .transpose()?
    else {
        return Ok(None);
    };
    let mut list = vec![v];
    attach_prices(c, &mut list).await?;
    Ok(list.pop())
}

/// Fills `prices` of every variant in one query: the stored prices in other currencies plus the
/// primary price from product_variants (the authority for its currency), ordered by currency.
async fn attach_prices(
    c: &mut PgConnection,
    variants: &mut [VariantRecord],
) -> Result<(), sqlx::Error> {
    if variants.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = variants.iter().map(|v| v.id).collect();
    let rows: Vec<(Uuid, String, i64)> = sqlx::query_as(
        "SELECT variant_id, currency, amount FROM variant_prices
          WHERE variant_id = ANY($1) ORDER BY variant_id, currency",
    )
    .bind(&ids)
    .fetch_all(&mut *c)
    .await?;
    let mut by_variant: HashMap<Uuid, Vec<Money>> = HashMap::with_capacity(variants.len());
    for (id, currency, amount) in rows {
        by_variant
            .entry(id)
            .or_default()
            .push(Money { amount, currency });
    }
    for v in variants {
        let mut prices: Vec<Money> = by_variant
            .remove(&v.id)
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.currency != v.price.currency)
            .collect();
        prices.push(v.price.clone());
        prices.sort_by(|a, b| a.currency.cmp(&b.currency));
        v.prices = prices;
    }
    Ok(())
}

/// Replaces a variant's prices: the primary one (mirroring product_variants) and `others`, which
/// must not repeat a currency nor hold the primary's.
pub async fn set_prices(
    c: &mut PgConnection,
    id: Uuid,
    primary: &Money,
    others: &[Money],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM variant_prices WHERE variant_id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    let mut currencies = vec![primary.currency.as_str()];
    let mut amounts = vec![primary.amount];
    for p in others {
        currencies.push(p.currency.as_str());
        amounts.push(p.amount);
    }
    sqlx::query(
        "INSERT INTO variant_prices (variant_id, currency, amount)
         SELECT $1, t.currency, t.amount FROM unnest($2::text[], $3::bigint[]) AS t(currency, amount)",
    )
    .bind(id)
    .bind(&currencies)
    .bind(&amounts)
    .execute(&mut *c)
    .await?;
    Ok(())
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
    weight_grams: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO product_variants (id, product_id, sku, attributes, price, currency,
                                       compare_at_price, image_id, weight_grams)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(product_id)
    .bind(sku)
    .bind(Json(attributes))
    .bind(price.amount)
    .bind(&price.currency)
    .bind(compare_at)
    .bind(image_id)
    .bind(weight_grams)
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn update(c: &mut PgConnection, v: &VariantRecord) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE product_variants SET attributes = $2, price = $3, currency = $4,
                compare_at_price = $5, image_id = $6, weight_grams = $7, updated_at = now()
          WHERE id = $1",
    )
    .bind(v.id)
    .bind(Json(&v.attributes))
    .bind(v.price.amount)
    .bind(&v.price.currency)
    .bind(v.compare_at_price)
    .bind(v.image_id)
    .bind(v.weight_grams)
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
