//! Products with their categories, tags and specifications; loading whole products (variants
//! and images included) in a fixed number of queries however many are asked for.

use std::collections::HashMap;

use sqlx::{PgConnection, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{ProductRecord, Spec, Status, TaxCategory};

/// The status stored as `s`; the column's CHECK allows only the three, and anything else
/// reads as a draft, which nobody but an admin sees.
fn stored_status(s: &str) -> Status {
    Status::parse(s).unwrap_or(Status::Draft)
}

/// Loads the products named by `ids` (missing ones are skipped), in the order of `ids`.
pub async fn load_many(
    c: &mut PgConnection,
    ids: &[Uuid],
) -> Result<Vec<ProductRecord>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT id, slug, name, brand, description, status, tax_category, version, min_price,
                max_price, currency, created_at, updated_at
           FROM products WHERE id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(&mut *c)
    .await?;
    let mut by_id: HashMap<Uuid, ProductRecord> = HashMap::with_capacity(rows.len());
    for r in rows {
        let id: Uuid = r.try_get("id")?;
        let status: String = r.try_get("status")?;
        let tax_category: String = r.try_get("tax_category")?;
        by_id.insert(
            id,
            ProductRecord {
                id,
                slug: r.try_get("slug")?,
                name: r.try_get("name")?,
                brand: r.try_get("brand")?,
                description: r.try_get("description")?,
                status: stored_status(&status),
                tax_category: TaxCategory::parse(&tax_category).unwrap_or_default(),
                version: r.try_get("version")?,
                category_ids: Vec::new(),
                tags: Vec::new(),
                specifications: Vec::new(),
                variants: Vec::new(),
                images: Vec::new(),
                min_price: r.try_get("min_price")?,
                max_price: r.try_get("max_price")?,
                currency: r.try_get("currency")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            },
        );
    }
    let found: Vec<Uuid> = by_id.keys().copied().collect();
    let cats: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT product_id, category_id FROM product_categories
          WHERE product_id = ANY($1) ORDER BY product_id, category_id",
    )
    .bind(&found)
    .fetch_all(&mut *c)
    .await?;
    for (p, cat) in cats {
        if let Some(rec) = by_id.get_mut(&p) {
            rec.category_ids.push(cat);
        }
    }
    let tags: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT product_id, tag FROM product_tags WHERE product_id = ANY($1) ORDER BY product_id, tag",
    )
    .bind(&found)
    .fetch_all(&mut *c)
    .await?;
    for (p, t) in tags {
        if let Some(rec) = by_id.get_mut(&p) {
            rec.tags.push(t);
        }
    }
    let specs: Vec<(Uuid, String, String)> = sqlx::query_as(
        "SELECT product_id, name, value FROM product_specifications
          WHERE product_id = ANY($1) ORDER BY product_id, position",
    )
    .bind(&found)
    .fetch_all(&mut *c)
    .await?;
    for (p, name, value) in specs {
        if let Some(rec) = by_id.get_mut(&p) {
            rec.specifications.push(Spec { name, value });
        }
    }
    for v in crate::store::variants::by_products(c, &found).await? {
        if let Some(rec) = by_id.get_mut(&v.product_id) {
            rec.variants.push(v);
        }
    }
    for i in crate::store::images::by_products(c, &found).await? {
        if let Some(rec) = by_id.get_mut(&i.product_id) {
            rec.images.push(i);
        }
    }
    let mut out = Vec::with_capacity(by_id.len());
    for id in ids {
        if let Some(rec) = by_id.remove(id) {
            out.push(rec);
        }
    }
    Ok(out)
}

pub async fn load(c: &mut PgConnection, id: Uuid) -> Result<Option<ProductRecord>, sqlx::Error> {
    Ok(load_many(c, &[id]).await?.pop())
}

pub async fn id_by_slug(c: &mut PgConnection, slug: &str) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM products WHERE slug = $1")
        .bind(slug)
        .fetch_optional(&mut *c)
        .await
}

/// Locks a product row for the rest of the transaction; its status when it exists.
pub async fn lock(c: &mut PgConnection, id: Uuid) -> Result<Option<Status>, sqlx::Error> {
    let s: Option<String> =
        sqlx::query_scalar("SELECT status FROM products WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *c)
            .await?;
    Ok(s.as_deref().map(stored_status))
}

/// Inserts the product row; `false` when the slug is taken.
#[allow(clippy::too_many_arguments)]
pub async fn insert(
    c: &mut PgConnection,
    id: Uuid,
    slug: &str,
    name: &str,
    brand: &str,
    description: &str,
    status: Status,
    tax_category: TaxCategory,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "INSERT INTO products (id, slug, name, brand, description, status, tax_category)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (slug) DO NOTHING",
    )
    .bind(id)
    .bind(slug)
    .bind(name)
    .bind(brand)
    .bind(description)
    .bind(status.as_str())
    .bind(tax_category.as_str())
    .execute(&mut *c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Changes the scalar fields given; `false` when the new slug is taken.
#[allow(clippy::too_many_arguments)]
pub async fn update_fields(
    c: &mut PgConnection,
    id: Uuid,
    slug: Option<&str>,
    name: Option<&str>,
    brand: Option<&str>,
    description: Option<&str>,
    status: Option<Status>,
    tax_category: Option<TaxCategory>,
) -> Result<bool, sqlx::Error> {
    if let Some(s) = slug {
        let taken: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM products WHERE slug = $1 AND id <> $2)",
        )
        .bind(s)
        .bind(id)
        .fetch_one(&mut *c)
        .await?;
        if taken {
            return Ok(false);
        }
    }
    sqlx::query(
        "UPDATE products SET slug = COALESCE($2, slug), name = COALESCE($3, name),
                brand = COALESCE($4, brand), description = COALESCE($5, description),
                status = COALESCE($6, status), tax_category = COALESCE($7, tax_category)
          WHERE id = $1",
    )
    .bind(id)
    .bind(slug)
    .bind(name)
    .bind(brand)
    .bind(description)
    .bind(status.map(Status::as_str))
    .bind(tax_category.map(TaxCategory::as_str))
    .execute(&mut *c)
    .await?;
    Ok(true)
}

pub async fn set_categories(
    c: &mut PgConnection,
    id: Uuid,
    categories: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM product_categories WHERE product_id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    sqlx::query(
        "INSERT INTO product_categories (product_id, category_id)
         SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(categories)
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn set_tags(c: &mut PgConnection, id: Uuid, tags: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM product_tags WHERE product_id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    sqlx::query(
        "INSERT INTO product_tags (product_id, tag) SELECT $1, unnest($2::text[])
         ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(tags)
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn set_specifications(
    c: &mut PgConnection,
    id: Uuid,
    specs: &[Spec],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM product_specifications WHERE product_id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let values: Vec<&str> = specs.iter().map(|s| s.value.as_str()).collect();
    sqlx::query(
        "INSERT INTO product_specifications (product_id, position, name, value)
         SELECT $1, (n.ord - 1)::int, n.name, n.value
           FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS n(name, value, ord)",
    )
    .bind(id)
    .bind(&names)
    .bind(&values)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Recomputes the search document and price columns and bumps the version.
/// Returns the new version.
pub async fn refresh(c: &mut PgConnection, id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT product_refresh($1)")
        .bind(id)
        .fetch_one(&mut *c)
        .await
}

pub async fn delete(c: &mut PgConnection, id: Uuid) -> Result<Vec<String>, sqlx::Error> {
    let keys: Vec<String> =
        sqlx::query_scalar("SELECT object_key FROM product_images WHERE product_id = $1")
            .bind(id)
            .fetch_all(&mut *c)
            .await?;
    sqlx::query("DELETE FROM products WHERE id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(keys)
}

/// How many of `ids` name existing categories.
pub async fn count_categories(c: &mut PgConnection, ids: &[Uuid]) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM categories WHERE id = ANY($1)")
        .bind(ids)
        .fetch_one(&mut *c)
        .await
}

/// A page of ListProducts: newest first, after the keyset `(created_at, id)`. `status: None`
/// lists every status.
pub async fn list_page(
    c: &mut PgConnection,
    status: Option<&str>,
    categories: Option<&[Uuid]>,
    after: Option<(OffsetDateTime, Uuid)>,
    limit: i64,
) -> Result<Vec<(Uuid, OffsetDateTime)>, sqlx::Error> {
    let (after_t, after_id) = match after {
        Some((t, id)) => (Some(t), Some(id)),
        None => (None, None),
    };
    // A literal status condition (not `$1 IS NULL OR ...`) keeps the ordered index scan.
    let status_cond = if status.is_some() {
        "p.status = $1"
    } else {
        "$1::text IS NULL"
    };
    let sql = format!(
        "SELECT p.id, p.created_at FROM products p
          WHERE {status_cond}
            AND ($2::uuid[] IS NULL OR EXISTS (SELECT 1 FROM product_categories pc
                  WHERE pc.product_id = p.id AND pc.category_id = ANY($2)))
            AND ($3::timestamptz IS NULL OR (p.created_at, p.id) < ($3, $4))
          ORDER BY p.created_at DESC, p.id DESC
          LIMIT $5"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(status)
        .bind(categories)
        .bind(after_t)
        .bind(after_id)
        .bind(limit)
        .fetch_all(&mut *c)
        .await
}
