//! The pricing rules in order_db: price modes, tax rates, shipping zones and methods,
//! promotions and their redemptions.

use kit::pricing::{PriceMode, TaxCategory, TaxTable};
use kit::totals::{
    BenefitInput, Conditions, DeliveryDays, Method, MethodInput, PriceModeSetting, Promotion,
    PromotionInput, Rate, TaxRate, TaxRateInput, Zone, ZoneInput, normalize_code,
};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};
use time::OffsetDateTime;
use uuid::Uuid;

fn decode<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, sqlx::Error> {
    serde_json::from_value(v).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

fn category(s: &str) -> Result<TaxCategory, sqlx::Error> {
    TaxCategory::parse(s).ok_or_else(|| sqlx::Error::Decode(format!("tax category {s}").into()))
}

// ---------- price modes ----------

pub async fn price_modes(pool: &PgPool) -> Result<Vec<PriceModeSetting>, sqlx::Error> {
    let rows = sqlx::query("SELECT currency, mode FROM price_modes ORDER BY currency")
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| {
            let mode: String = r.try_get("mode")?;
            Ok(PriceModeSetting {
                currency: r.try_get("currency")?,
                mode: PriceMode::parse(&mode)
                    .ok_or_else(|| sqlx::Error::Decode(format!("price mode {mode}").into()))?,
            })
        })
        .collect()
}

pub async fn set_price_mode(
    pool: &PgPool,
    currency: &str,
    mode: PriceMode,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO price_modes (currency, mode) VALUES ($1, $2)
         ON CONFLICT (currency) DO UPDATE SET mode = EXCLUDED.mode, updated_at = now()",
    )
    .bind(currency)
    .bind(mode.as_str())
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn delete_price_mode(pool: &PgPool, currency: &str) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("DELETE FROM price_modes WHERE currency = $1")
        .bind(currency)
        .execute(pool)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// The mode of `currency` (tax-exclusive without a setting).
pub async fn price_mode(pool: &PgPool, currency: &str) -> Result<PriceMode, sqlx::Error> {
    let mode: Option<String> =
        sqlx::query_scalar("SELECT mode FROM price_modes WHERE currency = $1")
            .bind(currency)
            .fetch_optional(pool)
            .await?;
    Ok(mode
        .as_deref()
        .and_then(PriceMode::parse)
        .unwrap_or(PriceMode::TaxExclusive))
}

// ---------- tax rates ----------

fn tax_rate(r: &PgRow) -> Result<TaxRate, sqlx::Error> {
    let region: String = r.try_get("region")?;
    let cat: String = r.try_get("category")?;
    Ok(TaxRate {
        id: r.try_get("id")?,
        country: r.try_get("country")?,
        region: (!region.is_empty()).then_some(region),
        category: category(&cat)?,
        rate_ppm: r.try_get("rate_ppm")?,
    })
}

pub async fn tax_rates(pool: &PgPool) -> Result<Vec<TaxRate>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, country, region, category, rate_ppm FROM tax_rates
          ORDER BY country, region, category",
    )
    .fetch_all(pool)
    .await?;
    rows.iter().map(tax_rate).collect()
}

/// Sets the rate of a category at a destination (insert or replace).
pub async fn set_tax_rate(pool: &PgPool, t: &TaxRateInput) -> Result<TaxRate, sqlx::Error> {
    let row = sqlx::query(
        "INSERT INTO tax_rates (id, country, region, category, rate_ppm) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (country, region, category)
         DO UPDATE SET rate_ppm = EXCLUDED.rate_ppm, updated_at = now()
         RETURNING id, country, region, category, rate_ppm",
    )
    .bind(Uuid::now_v7())
    .bind(&t.country)
    .bind(t.region.as_deref().unwrap_or(""))
    .bind(t.category.as_str())
    .bind(t.rate_ppm)
    .fetch_one(pool)
    .await?;
    tax_rate(&row)
}

pub async fn delete_tax_rate(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("DELETE FROM tax_rates WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// The rates of a destination country (every region of it) as a table.
pub async fn tax_table(pool: &PgPool, country: &str) -> Result<TaxTable, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, country, region, category, rate_ppm FROM tax_rates WHERE country = $1",
    )
    .bind(country)
    .fetch_all(pool)
    .await?;
    let mut table = TaxTable::default();
    for r in &rows {
        let t = tax_rate(r)?;
        table
            .rates
            .insert((t.country, t.region, t.category), t.rate_ppm);
    }
    Ok(table)
}

// ---------- zones ----------

fn zone(r: &PgRow) -> Result<Zone, sqlx::Error> {
    Ok(Zone {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        countries: r.try_get("countries")?,
        regions: r.try_get("regions")?,
    })
}

pub async fn zones(pool: &PgPool) -> Result<Vec<Zone>, sqlx::Error> {
    let rows = sqlx::query("SELECT id, name, countries, regions FROM shipping_zones ORDER BY name")
        .fetch_all(pool)
        .await?;
    rows.iter().map(zone).collect()
}

pub async fn get_zone(pool: &PgPool, id: Uuid) -> Result<Option<Zone>, sqlx::Error> {
    sqlx::query("SELECT id, name, countries, regions FROM shipping_zones WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(zone)
        .transpose()
}

/// Inserts (`id` new) or replaces a zone; `None` when replacing one that does not exist.
pub async fn put_zone(
    pool: &PgPool,
    id: Uuid,
    z: &ZoneInput,
    create: bool,
) -> Result<Option<Zone>, sqlx::Error> {
    let sql = if create {
        "INSERT INTO shipping_zones (id, name, countries, regions) VALUES ($1, $2, $3, $4)
         RETURNING id, name, countries, regions"
    } else {
        "UPDATE shipping_zones SET name = $2, countries = $3, regions = $4, updated_at = now()
          WHERE id = $1 RETURNING id, name, countries, regions"
    };
    let mut countries = z.countries.clone();
    countries.sort();
    countries.dedup();
    let mut regions = z.regions.clone();
    regions.sort();
    regions.dedup();
    sqlx::query(sql)
        .bind(id)
        .bind(z.name.trim())
        .bind(&countries)
        .bind(&regions)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(zone)
        .transpose()
}

pub async fn delete_zone(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("DELETE FROM shipping_zones WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(r.rows_affected() == 1)
}

// ---------- methods ----------

const METHOD_COLUMNS: &str =
    "id, zone_id, name, currency, rate, free_over, min_days, max_days, tax_category, active";

fn method(r: &PgRow) -> Result<Method, sqlx::Error> {
    let cat: String = r.try_get("tax_category")?;
    let min: Option<i32> = r.try_get("min_days")?;
    let max: Option<i32> = r.try_get("max_days")?;
    Ok(Method {
        id: r.try_get("id")?,
        zone_id: r.try_get("zone_id")?,
        name: r.try_get("name")?,
        currency: r.try_get("currency")?,
        rate: decode::<Rate>(r.try_get("rate")?)?,
        free_over: r.try_get("free_over")?,
        delivery_days: min.zip(max).map(|(min, max)| DeliveryDays { min, max }),
        tax_category: category(&cat)?,
        active: r.try_get("active")?,
    })
}

pub async fn methods(pool: &PgPool) -> Result<Vec<Method>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {METHOD_COLUMNS} FROM shipping_methods ORDER BY zone_id, name, id"
    )))
    .fetch_all(pool)
    .await?;
    rows.iter().map(method).collect()
}

pub async fn get_method(pool: &PgPool, id: Uuid) -> Result<Option<Method>, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {METHOD_COLUMNS} FROM shipping_methods WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?
    .as_ref()
    .map(method)
    .transpose()
}

pub async fn put_method(
    pool: &PgPool,
    id: Uuid,
    m: &MethodInput,
    create: bool,
) -> Result<Option<Method>, sqlx::Error> {
    let sql = if create {
        format!(
            "INSERT INTO shipping_methods (id, zone_id, name, currency, rate, free_over, min_days,
                                           max_days, tax_category, active)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {METHOD_COLUMNS}"
        )
    } else {
        format!(
            "UPDATE shipping_methods SET zone_id = $2, name = $3, currency = $4, rate = $5,
                    free_over = $6, min_days = $7, max_days = $8, tax_category = $9, active = $10,
                    updated_at = now()
              WHERE id = $1 RETURNING {METHOD_COLUMNS}"
        )
    };
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(m.zone_id)
        .bind(m.name.trim())
        .bind(&m.currency)
        .bind(serde_json::to_value(&m.rate).expect("a rate serialises"))
        .bind(m.free_over)
        .bind(m.delivery_days.as_ref().map(|d| d.min))
        .bind(m.delivery_days.as_ref().map(|d| d.max))
        .bind(m.tax_category.unwrap_or(TaxCategory::Standard).as_str())
        .bind(m.active.unwrap_or(true))
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(method)
        .transpose()
}

pub async fn delete_method(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("DELETE FROM shipping_methods WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Whether the shop has any active shipping method (without one, orders ship for free and
/// need no method: digital goods, or a shop that has not set shipping up).
pub async fn ships_at_all(pool: &PgPool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM shipping_methods WHERE active)")
        .fetch_one(pool)
        .await
}

/// Active methods (in `currency`, or in any) with their zones, for matching a destination.
pub async fn active_methods(
    pool: &PgPool,
    currency: Option<&str>,
) -> Result<Vec<(Zone, Method)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT m.id, m.zone_id, m.name, m.currency, m.rate, m.free_over, m.min_days, m.max_days,
                m.tax_category, m.active, z.name AS zone_name, z.countries, z.regions
           FROM shipping_methods m JOIN shipping_zones z ON z.id = m.zone_id
          WHERE m.active AND ($1::text IS NULL OR m.currency = $1)
          ORDER BY z.name, m.name, m.id",
    )
    .bind(currency)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                Zone {
                    id: r.try_get("zone_id")?,
                    name: r.try_get("zone_name")?,
                    countries: r.try_get("countries")?,
                    regions: r.try_get("regions")?,
                },
                method(r)?,
            ))
        })
        .collect()
}

// ---------- promotions ----------

const PROMOTION_COLUMNS: &str = "id, name, code, currency, conditions, benefit, starts_at, ends_at, \
     usage_limit, per_customer_limit, active, uses";

fn promotion(r: &PgRow) -> Result<Promotion, sqlx::Error> {
    Ok(Promotion {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        code: r.try_get("code")?,
        currency: r.try_get("currency")?,
        conditions: decode::<Conditions>(r.try_get("conditions")?)?,
        benefit: decode::<BenefitInput>(r.try_get("benefit")?)?,
        starts_at: r.try_get("starts_at")?,
        ends_at: r.try_get("ends_at")?,
        usage_limit: r.try_get("usage_limit")?,
        per_customer_limit: r.try_get("per_customer_limit")?,
        active: r.try_get("active")?,
        uses: r.try_get("uses")?,
    })
}

/// Promotions, newest first, after `after` (keyset on the UUIDv7 id).
pub async fn promotions(
    pool: &PgPool,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Promotion>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {PROMOTION_COLUMNS} FROM promotions WHERE ($1::uuid IS NULL OR id < $1)
          ORDER BY id DESC LIMIT $2"
    )))
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(promotion).collect()
}

pub async fn get_promotion(pool: &PgPool, id: Uuid) -> Result<Option<Promotion>, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {PROMOTION_COLUMNS} FROM promotions WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?
    .as_ref()
    .map(promotion)
    .transpose()
}

/// Inserts or replaces a promotion (its `uses` stay). A `usage_limit` below the uses already
/// made violates the table's check (the caller answers 409).
pub async fn put_promotion(
    pool: &PgPool,
    id: Uuid,
    p: &PromotionInput,
    create: bool,
) -> Result<Option<Promotion>, sqlx::Error> {
    let sql = if create {
        format!(
            "INSERT INTO promotions (id, name, code, currency, conditions, benefit, starts_at,
                                     ends_at, usage_limit, per_customer_limit, active)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {PROMOTION_COLUMNS}"
        )
    } else {
        format!(
            "UPDATE promotions SET name = $2, code = $3, currency = $4, conditions = $5,
                    benefit = $6, starts_at = $7, ends_at = $8, usage_limit = $9,
                    per_customer_limit = $10, active = $11, updated_at = now()
              WHERE id = $1 RETURNING {PROMOTION_COLUMNS}"
        )
    };
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(p.name.trim())
        .bind(p.code.as_deref().map(normalize_code))
        .bind(&p.currency)
        .bind(serde_json::to_value(&p.conditions).expect("conditions serialise"))
        .bind(serde_json::to_value(&p.benefit).expect("a benefit serialises"))
        .bind(p.starts_at)
        .bind(p.ends_at)
        .bind(p.usage_limit)
        .bind(p.per_customer_limit)
        .bind(p.active.unwrap_or(true))
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(promotion)
        .transpose()
}

pub async fn delete_promotion(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("DELETE FROM promotions WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Automatic promotions that may apply now in `currency` (active, in their window, not used
/// up).
pub async fn automatic_promotions(
    pool: &PgPool,
    currency: &str,
    now: OffsetDateTime,
) -> Result<Vec<Promotion>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {PROMOTION_COLUMNS} FROM promotions
          WHERE code IS NULL AND active
            AND (starts_at IS NULL OR starts_at <= $2) AND (ends_at IS NULL OR ends_at > $2)
            AND (usage_limit IS NULL OR uses < usage_limit)
            AND (currency IS NULL OR currency = $1)
          ORDER BY id"
    )))
    .bind(currency)
    .bind(now)
    .fetch_all(pool)
    .await?;
    rows.iter().map(promotion).collect()
}

pub async fn promotion_by_code(
    pool: &PgPool,
    code: &str,
) -> Result<Option<Promotion>, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {PROMOTION_COLUMNS} FROM promotions WHERE code = $1"
    )))
    .bind(normalize_code(code))
    .fetch_optional(pool)
    .await?
    .as_ref()
    .map(promotion)
    .transpose()
}

/// The customer's redemptions of `promotion` that were not given back.
pub async fn customer_uses(
    conn: &mut PgConnection,
    promotion: Uuid,
    user_id: Uuid,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM promotion_redemptions
          WHERE promotion_id = $1 AND user_id = $2 AND released_at IS NULL",
    )
    .bind(promotion)
    .bind(user_id)
    .fetch_one(conn)
    .await
}

/// Whether the customer has no order that was not cancelled.
pub async fn first_order(pool: &PgPool, user_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT NOT EXISTS (SELECT 1 FROM orders WHERE user_id = $1 AND status <> 'cancelled')",
    )
    .bind(user_id)
    .fetch_one(pool)
    .await
}

/// Why a redemption was refused.
#[derive(Debug)]
pub enum Refused {
    /// The promotion is gone, inactive, outside its window or used up.
    Unavailable(Uuid),
    /// The customer used it as often as allowed.
    CustomerLimit(Uuid),
}

/// Records the order's use of each promotion in the checkout's transaction. Each promotion row
/// is locked and its `uses` raised only while under `usage_limit`, so concurrent checkouts
/// never redeem more than the limit.
pub async fn redeem(
    tx: &mut PgConnection,
    order_id: Uuid,
    user_id: Uuid,
    now: OffsetDateTime,
    used: &[(Uuid, i64)],
) -> Result<Result<(), Refused>, sqlx::Error> {
    let mut ids: Vec<&(Uuid, i64)> = used.iter().collect();
    // One lock order for every checkout, so two of them never wait on each other in a cycle.
    ids.sort_by_key(|(id, _)| *id);
    for (id, amount) in ids {
        let per_customer: Option<Option<i32>> = sqlx::query_scalar(
            "UPDATE promotions SET uses = uses + 1, updated_at = now()
              WHERE id = $1 AND active
                AND (starts_at IS NULL OR starts_at <= $2) AND (ends_at IS NULL OR ends_at > $2)
                AND (usage_limit IS NULL OR uses < usage_limit)
              RETURNING per_customer_limit",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(per_customer) = per_customer else {
            return Ok(Err(Refused::Unavailable(*id)));
        };
        if let Some(limit) = per_customer
            && customer_uses(tx, *id, user_id).await? >= i64::from(limit)
        {
            return Ok(Err(Refused::CustomerLimit(*id)));
        }
        sqlx::query(
            "INSERT INTO promotion_redemptions (promotion_id, order_id, user_id, amount)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(order_id)
        .bind(user_id)
        .bind(amount)
        .execute(&mut *tx)
        .await?;
    }
    Ok(Ok(()))
}

/// Gives back the uses of an order cancelled before payment (in the cancelling transaction).
pub async fn release(tx: &mut PgConnection, order_id: Uuid) -> Result<u64, sqlx::Error> {
    let r = sqlx::query(
        "WITH freed AS (
             UPDATE promotion_redemptions SET released_at = now()
              WHERE order_id = $1 AND released_at IS NULL
          RETURNING promotion_id)
         UPDATE promotions p SET uses = uses - 1, updated_at = now()
           FROM freed WHERE p.id = freed.promotion_id",
    )
    .bind(order_id)
    .execute(&mut *tx)
    .await?;
    Ok(r.rows_affected())
}
