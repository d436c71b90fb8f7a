//! Keeping the index in step with product_db.
//!
//! Every product write leaves a row in `product_changes` with its transaction id (a trigger,
//! see the migration `20261206000001_search_index.sql`). [`SearchIndex::catch_up`] reads, in
//! one statement, the snapshot's xmin and the changes whose transaction id is at or above the
//! previous xmin, then loads and applies those products; the new xmin becomes the watermark.
//! A transaction that was still running at the previous read has an id at or above that xmin,
//! so it is read once it commits, whatever the commit order; one that commits between the
//! statements is read now or (its id is at or above the new xmin) next time. No write is
//! missed, and re-reading one is harmless (a product is replaced by its current row). In the
//! common case, nothing changed, a catch-up is that one statement.
//!
//! A search calls `catch_up` first, so a write that returned before the search began is in its
//! answer, on every replica (searches arriving together share one catch-up). A background task
//! catches up every second and prunes changes older than [`RETENTION`]; an index that has not
//! caught up for half of it reloads everything instead.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Index, Product, Variant};

/// How long changes are kept for replicas to catch up.
pub const RETENTION: Duration = Duration::from_secs(600);
const TICK: Duration = Duration::from_secs(1);
const PRUNE_EVERY: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Position {
    /// The xmin of the last snapshot read (`None`: nothing loaded yet).
    watermark: Option<u64>,
    /// When the last successful catch-up began.
    began: Option<Instant>,
}

/// The shared index and where it stands.
#[derive(Default)]
pub struct SearchIndex {
    index: RwLock<Index>,
    position: tokio::sync::Mutex<Position>,
    loaded: AtomicBool,
}

impl SearchIndex {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Whether the index was loaded once.
    pub fn loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// Runs `f` on the index (readers share it; a catch-up waits for them).
    pub fn read<T>(&self, f: impl FnOnce(&Index) -> T) -> T {
        f(&self.index.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Makes every write committed before this call visible in the index.
    pub async fn catch_up(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let arrived = Instant::now();
        let mut pos = self.position.lock().await;
        if pos.began.is_some_and(|b| b >= arrived) {
            return Ok(()); // a catch-up that began after we arrived has finished
        }
        let began = Instant::now();
        let stale = pos
            .began
            .is_none_or(|b| began.duration_since(b) > RETENTION / 2);
        let watermark = pos.watermark.filter(|_| !stale);
        let mut c = pool.acquire().await?;
        // One statement, one snapshot: its xmin and the changes at or above the last one.
        let (xmin, ids): (String, Vec<Uuid>) = sqlx::query_as(
            "SELECT pg_snapshot_xmin(pg_current_snapshot())::text,
                    ARRAY(SELECT DISTINCT product_id FROM product_changes
                           WHERE xid >= $1::text::xid8)",
        )
        .bind(watermark.map(|w| w.to_string()))
        .fetch_one(&mut *c)
        .await?;
        let xmin: u64 = xmin
            .parse()
            .map_err(|e| sqlx::Error::Decode(format!("xmin `{xmin}`: {e}").into()))?;
        if watermark.is_none() {
            let t = Instant::now();
            let products = load(&mut c, None).await?;
            drop(c);
            let mut fresh = Index::default();
            for p in &products {
                fresh.upsert(p);
            }
            drop(products);
            *self.index.write().unwrap_or_else(|e| e.into_inner()) = fresh;
            self.loaded.store(true, Ordering::Release);
            tracing::info!(
                products = self.read(Index::len),
                took_ms = t.elapsed().as_millis() as u64,
                "search index loaded"
            );
        } else if !ids.is_empty() {
            let products = load(&mut c, Some(&ids)).await?;
            drop(c);
            let mut ix = self.index.write().unwrap_or_else(|e| e.into_inner());
            for id in &ids {
                ix.remove(*id); // deleted ones stay out; the others come back below
            }
            for p in &products {
                ix.upsert(p);
            }
        }
        pos.watermark = Some(xmin);
        pos.began = Some(began);
        Ok(())
    }

    /// Catches up every second (loading everything at once on start) and prunes old changes,
    /// until shutdown.
    pub async fn keep_in_step(
        self: Arc<Self>,
        pool: PgPool,
        shutdown: kit::shutdown::Shutdown,
    ) -> anyhow::Result<()> {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pruned = Instant::now();
        let mut failing = false;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => return Ok(()),
            }
            match self.catch_up(&pool).await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("search index caught up again");
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "search index cannot catch up; searches retry it");
                }
                Err(_) => {}
            }
            if pruned.elapsed() >= PRUNE_EVERY {
                pruned = Instant::now();
                if let Err(e) = sqlx::query(
                    "DELETE FROM product_changes WHERE at < now() - make_interval(secs => $1)",
                )
                .bind(RETENTION.as_secs_f64())
                .execute(&pool)
                .await
                {
                    tracing::warn!(error = %e, "cannot prune product_changes");
                }
            }
        }
    }
}

fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

/// The products named by `ids` (all when `None`) as the index holds them; missing ones are
/// absent. Four statements, streamed.
pub async fn load(c: &mut PgConnection, ids: Option<&[Uuid]>) -> Result<Vec<Product>, sqlx::Error> {
    // Fixed text only: the ids are a bound parameter.
    let filter = |sql: &str, column: &str| match ids {
        Some(_) => format!("{sql} WHERE {column} = ANY($1)"),
        None => sql.to_owned(),
    };
    // The id list is bound only when the statement has the parameter.
    macro_rules! bound {
        ($q:expr) => {
            match ids {
                Some(ids) => $q.bind(ids.to_vec()),
                None => $q,
            }
        };
    }
    let mut by_id: HashMap<Uuid, Product> = HashMap::new();
    {
        let sql = filter(
            "SELECT id, name, brand, description, status, created_at, min_price, max_price, currency FROM products",
            "id",
        );
        let mut rows = bound!(sqlx::query(sqlx::AssertSqlSafe(sql.clone()))).fetch(&mut *c);
        while let Some(r) = rows.try_next().await? {
            let id: Uuid = r.try_get("id")?;
            by_id.insert(
                id,
                Product {
                    id,
                    name: r.try_get("name")?,
                    brand: r.try_get("brand")?,
                    description: r.try_get("description")?,
                    status: r.try_get("status")?,
                    created: micros(r.try_get("created_at")?),
                    min_price: r.try_get("min_price")?,
                    max_price: r.try_get("max_price")?,
                    currency: r.try_get("currency")?,
                    tags: Vec::new(),
                    categories: Vec::new(),
                    variants: Vec::new(),
                },
            );
        }
    }
    {
        let sql = filter("SELECT product_id, tag FROM product_tags", "product_id");
        let mut rows = bound!(sqlx::query_as::<_, (Uuid, String)>(sqlx::AssertSqlSafe(
            sql.clone()
        )))
        .fetch(&mut *c);
        while let Some((id, tag)) = rows.try_next().await? {
            if let Some(p) = by_id.get_mut(&id) {
                p.tags.push(tag);
            }
        }
    }
    {
        let sql = filter(
            "SELECT product_id, category_id FROM product_categories",
            "product_id",
        );
        let mut rows = bound!(sqlx::query_as::<_, (Uuid, Uuid)>(sqlx::AssertSqlSafe(
            sql.clone()
        )))
        .fetch(&mut *c);
        while let Some((id, cat)) = rows.try_next().await? {
            if let Some(p) = by_id.get_mut(&id) {
                p.categories.push(cat);
            }
        }
    }
    {
        let sql = filter(
            "SELECT product_id, sku, price, currency, in_stock, attributes FROM product_variants",
            "product_id",
        );
        type Row = (
            Uuid,
            String,
            i64,
            String,
            bool,
            Json<std::collections::BTreeMap<String, String>>,
        );
        let mut rows =
            bound!(sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.clone()))).fetch(&mut *c);
        while let Some((id, sku, price, currency, in_stock, attributes)) = rows.try_next().await? {
            if let Some(p) = by_id.get_mut(&id) {
                p.variants.push(Variant {
                    sku,
                    price,
                    currency,
                    in_stock,
                    attributes: attributes.0,
                });
            }
        }
    }
    Ok(by_id.into_values().collect())
}
