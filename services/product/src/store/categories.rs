//! The category tree. Depth and depth-first order come from recursive CTEs; moves take a table
//! lock and refuse a new parent inside the moved subtree, so concurrent moves cannot build a cycle.

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::domain::CategoryRecord;

pub const SLUG_KEY: &str = "categories_slug_key";

/// Every category with its depth and a sort path, depth-first (parents first, siblings by
/// position then name).
const TREE: &str = "WITH RECURSIVE tree AS (
        SELECT c.*, 0 AS depth,
               ARRAY[lpad(c.position::text, 10, '0') || '|' || c.name || '|' || c.id::text] AS path
          FROM categories c WHERE c.parent_id IS NULL
        UNION ALL
        SELECT c.*, t.depth + 1,
               t.path || (lpad(c.position::text, 10, '0') || '|' || c.name || '|' || c.id::text)
          FROM categories c JOIN tree t ON c.parent_id = t.id
    )";

fn decode(r: PgRow) -> Result<CategoryRecord, sqlx::Error> {
    Ok(CategoryRecord {
        id: r.try_get("id")?,
        parent_id: r.try_get("parent_id")?,
        slug: r.try_get("slug")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        position: r.try_get("position")?,
        depth: r.try_get("depth")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// One category by id or slug, with its depth.
pub async fn get(
    c: &mut PgConnection,
    id: Option<Uuid>,
    slug: Option<&str>,
) -> Result<Option<CategoryRecord>, sqlx::Error> {
    let sql = format!(
        "{TREE} SELECT id, parent_id, slug, name, description, position, depth, created_at, updated_at
             FROM tree WHERE ($1::uuid IS NULL OR id = $1) AND ($2::text IS NULL OR slug = $2)"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(slug)
        .fetch_optional(&mut *c)
        .await?
        .map(decode)
        .transpose()
}

/// Categories in depth-first order, optionally only `root` and its descendants, paged by offset.
pub async fn list(
    c: &mut PgConnection,
    root: Option<Uuid>,
    offset: i64,
    limit: i64,
) -> Result<Vec<CategoryRecord>, sqlx::Error> {
    let sql = format!(
        "{TREE}, sub AS (
            SELECT t.* FROM tree t
             WHERE $1::uuid IS NULL
                OR EXISTS (SELECT 1 FROM tree r WHERE r.id = $1 AND t.path[1:cardinality(r.path)] = r.path)
        )
        SELECT id, parent_id, slug, name, description, position, depth, created_at, updated_at
          FROM sub ORDER BY path OFFSET $2 LIMIT $3"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(root)
        .bind(offset)
        .bind(limit)
        .fetch_all(&mut *c)
        .await?
        .into_iter()
        .map(decode)
        .collect()
}

/// `root` and all its descendants.
pub async fn subtree_ids(c: &mut PgConnection, root: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "WITH RECURSIVE sub AS (
             SELECT id FROM categories WHERE id = $1
             UNION SELECT c.id FROM categories c JOIN sub s ON c.parent_id = s.id
         ) SELECT id FROM sub",
    )
    .bind(root)
    .fetch_all(&mut *c)
    .await
}

pub async fn exists(c: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM categories WHERE id = $1)")
        .bind(id)
        .fetch_one(&mut *c)
        .await
}

/// Position after the last sibling under `parent`.
pub async fn next_position(c: &mut PgConnection, parent: Option<Uuid>) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COALESCE(max(position) + 1, 0)::int FROM categories WHERE parent_id IS NOT DISTINCT FROM $1",
    )
    .bind(parent)
    .fetch_one(&mut *c)
    .await
}

/// Inserts a category; `false` when the slug is taken.
pub async fn insert(
    c: &mut PgConnection,
    id: Uuid,
    parent: Option<Uuid>,
    slug: &str,
    name: &str,
    description: &str,
    position: i32,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "INSERT INTO categories (id, parent_id, slug, name, description, position)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (slug) DO NOTHING",
    )
    .bind(id)
    .bind(parent)
    .bind(slug)
    .bind(name)
    .bind(description)
    .bind(position)
    .execute(&mut *c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Changes the given fields; `Ok(false)` when the new slug is taken.
pub async fn update(
    c: &mut PgConnection,
    id: Uuid,
    slug: Option<&str>,
    name: Option<&str>,
    description: Option<&str>,
    position: Option<i32>,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE categories SET slug = COALESCE($2, slug), name = COALESCE($3, name),
                description = COALESCE($4, description), position = COALESCE($5, position),
                updated_at = now()
          WHERE id = $1",
    )
    .bind(id)
    .bind(slug)
    .bind(name)
    .bind(description)
    .bind(position)
    .execute(&mut *c)
    .await;
    match r {
        Ok(_) => Ok(true),
        Err(e) if crate::error::on_constraint(&e, SLUG_KEY) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Why a move was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum MoveOutcome {
    Moved,
    NotFound,
    UnknownParent,
    Cycle,
}

/// Re-parents `id` under `parent` (root when `None`) at `position` (last when `None`). Takes a
/// lock that serialises moves, then checks in SQL that `parent` is not `id` or a descendant.
pub async fn move_to(
    c: &mut PgConnection,
    id: Uuid,
    parent: Option<Uuid>,
    position: Option<i32>,
) -> Result<MoveOutcome, sqlx::Error> {
    // SHARE ROW EXCLUSIVE conflicts with itself: two moves never check against a stale tree.
    sqlx::query("LOCK TABLE categories IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *c)
        .await?;
    if !exists(c, id).await? {
        return Ok(MoveOutcome::NotFound);
    }
    if let Some(p) = parent {
        if !exists(c, p).await? {
            return Ok(MoveOutcome::UnknownParent);
        }
        let cycle: bool = sqlx::query_scalar(
            "WITH RECURSIVE sub AS (
                 SELECT id FROM categories WHERE id = $1
                 UNION SELECT c.id FROM categories c JOIN sub s ON c.parent_id = s.id
             ) SELECT EXISTS (SELECT 1 FROM sub WHERE id = $2)",
        )
        .bind(id)
        .bind(p)
        .fetch_one(&mut *c)
        .await?;
        if cycle {
            return Ok(MoveOutcome::Cycle);
        }
    }
    let pos = match position {
        Some(p) => p,
        None => next_position(c, parent).await?,
    };
    sqlx::query(
        "UPDATE categories SET parent_id = $2, position = $3, updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(parent)
    .bind(pos)
    .execute(&mut *c)
    .await?;
    Ok(MoveOutcome::Moved)
}

pub async fn has_children(c: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM categories WHERE parent_id = $1)")
        .bind(id)
        .fetch_one(&mut *c)
        .await
}

/// Deletes a category; returns the products that lose it.
pub async fn delete(c: &mut PgConnection, id: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    let products: Vec<Uuid> =
        sqlx::query_scalar("SELECT product_id FROM product_categories WHERE category_id = $1")
            .bind(id)
            .fetch_all(&mut *c)
            .await?;
    sqlx::query("DELETE FROM categories WHERE id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(products)
}
