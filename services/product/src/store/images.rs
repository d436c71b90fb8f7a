//! product_images and the presigned uploads not yet attached (image_uploads).

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::ImageRecord;

const COLUMNS: &str = "id, product_id, variant_id, object_key, alt_text, position, content_type, size_bytes, created_at";

fn decode(r: PgRow) -> Result<ImageRecord, sqlx::Error> {
    Ok(ImageRecord {
        id: r.try_get("id")?,
        product_id: r.try_get("product_id")?,
        variant_id: r.try_get("variant_id")?,
        object_key: r.try_get("object_key")?,
        alt_text: r.try_get("alt_text")?,
        position: r.try_get("position")?,
        content_type: r.try_get("content_type")?,
        size_bytes: r.try_get("size_bytes")?,
        created_at: r.try_get("created_at")?,
    })
}

pub async fn by_products(
    c: &mut PgConnection,
    products: &[Uuid],
) -> Result<Vec<ImageRecord>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM product_images WHERE product_id = ANY($1) ORDER BY product_id, position"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(products)
        .fetch_all(&mut *c)
        .await?
        .into_iter()
        .map(decode)
        .collect()
}

pub async fn get(c: &mut PgConnection, id: Uuid) -> Result<Option<ImageRecord>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM product_images WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .map(decode)
        .transpose()
}

pub async fn record_upload(
    c: &mut PgConnection,
    key: &str,
    product_id: Uuid,
    content_type: &str,
    size: i64,
    expires_at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO image_uploads (object_key, product_id, content_type, size_bytes, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(key)
    .bind(product_id)
    .bind(content_type)
    .bind(size)
    .bind(expires_at)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// The announced (content type, size) of an upload issued for `product_id`, removed.
pub async fn take_upload(
    c: &mut PgConnection,
    key: &str,
    product_id: Uuid,
) -> Result<Option<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "DELETE FROM image_uploads WHERE object_key = $1 AND product_id = $2
         RETURNING content_type, size_bytes",
    )
    .bind(key)
    .bind(product_id)
    .fetch_optional(&mut *c)
    .await
}

/// Inserts an image at `position` (clamped to the end), shifting the ones after it.
pub async fn insert_at(
    c: &mut PgConnection,
    img: &ImageRecord,
    position: Option<i32>,
) -> Result<(), sqlx::Error> {
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM product_images WHERE product_id = $1")
            .bind(img.product_id)
            .fetch_one(&mut *c)
            .await?;
    let pos = position
        .map(|p| i64::from(p.max(0)).min(count))
        .unwrap_or(count) as i32;
    sqlx::query("UPDATE product_images SET position = position + 1 WHERE product_id = $1 AND position >= $2")
        .bind(img.product_id)
        .bind(pos)
        .execute(&mut *c)
        .await?;
    sqlx::query(
        "INSERT INTO product_images (id, product_id, variant_id, object_key, alt_text, position,
                                     content_type, size_bytes)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(img.id)
    .bind(img.product_id)
    .bind(img.variant_id)
    .bind(&img.object_key)
    .bind(&img.alt_text)
    .bind(pos)
    .bind(&img.content_type)
    .bind(img.size_bytes)
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn update(
    c: &mut PgConnection,
    id: Uuid,
    alt_text: &str,
    variant_id: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE product_images SET alt_text = $2, variant_id = $3 WHERE id = $1")
        .bind(id)
        .bind(alt_text)
        .bind(variant_id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Deletes an image and closes the gap in positions.
pub async fn delete(c: &mut PgConnection, img: &ImageRecord) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM product_images WHERE id = $1")
        .bind(img.id)
        .execute(&mut *c)
        .await?;
    sqlx::query(
        "UPDATE product_images SET position = position - 1 WHERE product_id = $1 AND position > $2",
    )
    .bind(img.product_id)
    .bind(img.position)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Sets positions to the order of `ids` (which the caller checked are exactly the product's).
pub async fn reorder(
    c: &mut PgConnection,
    product_id: Uuid,
    ids: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE product_images i SET position = (o.ord - 1)::int
           FROM unnest($2::uuid[]) WITH ORDINALITY AS o(id, ord)
          WHERE i.id = o.id AND i.product_id = $1",
    )
    .bind(product_id)
    .bind(ids)
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn ids_of(c: &mut PgConnection, product_id: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM product_images WHERE product_id = $1 ORDER BY position")
        .bind(product_id)
        .fetch_all(&mut *c)
        .await
}
