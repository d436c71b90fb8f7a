//! `storefront seed`: a deterministic demo catalog written straight into product_db and
//! inventory_db (through the services' own migrations) with bulk `UNNEST` inserts, plus generated
//! PNG images in the `product-images` bucket.
//!
//! Same `seed` and size give the same catalog: every random choice comes from a `StdRng` seeded
//! from (seed, product index), ids are built from (seed, kind, index) and `created_at` times are
//! fixed. Seeding only happens on an empty catalog (products table empty); otherwise it reports
//! the size and does nothing.
//!
//! Seeded products emit NO `product.*` events and their stock NO `inventory.stock_changed`
//! events: this is bulk demo data written under the services, not through their APIs. The derived
//! price columns are computed with the product service's own `product_refresh(id)` (whose write
//! also tells the search index of every running product role, through `product_changes`), and
//! `product_variants.in_stock` is set from the seeded stock, so search and the in-stock filter
//! work at once.
//!
//! Checkout data (issue #13): every variant is priced in EUR (primary) and USD (about EUR × 1.08,
//! ending in .99), mirrored into `variant_prices` as the product service does; every variant has
//! a shipping weight in grams (also shown as the "Weight" specification); food and books are in
//! the `reduced` tax category, everything else `standard`.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use storefront_kit as kit;
use uuid::Uuid;

/// Products seeded when no size is given (also what `up` seeds).
pub const DEFAULT_PRODUCTS: u32 = 1_000;
/// Largest catalog `seed` makes.
pub const MAX_PRODUCTS: u32 = 1_000_000;
/// The seed used when none is given.
pub const DEFAULT_SEED: u64 = 42;
/// Distinct generated images (each product's image objects copy one of them).
const DISTINCT_IMAGES: usize = 12;
const BATCH: usize = 1_000;
const UPLOAD_CONCURRENCY: usize = 32;
/// Logical bucket of the product service.
const BUCKET: &str = "product-images";

/// What to seed.
#[derive(Clone, Debug)]
pub struct Options {
    pub products: u32,
    pub seed: u64,
    /// Draw progress bars on stderr (hidden anyway when stderr is not a terminal).
    pub progress: bool,
    /// Upload the products' images (`false`: products without images, for scale checks where
    /// more than a million image objects are more than the development store takes).
    pub images: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            products: DEFAULT_PRODUCTS,
            seed: DEFAULT_SEED,
            progress: true,
            images: true,
        }
    }
}

/// What a seed run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Seeded {
        categories: u64,
        products: u64,
        variants: u64,
        images: u64,
        elapsed: Duration,
    },
    /// The catalog already had this many products; nothing was written.
    NotEmpty { products: i64 },
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Seeded {
                categories,
                products,
                variants,
                images,
                elapsed,
            } => write!(
                f,
                "seeded the demo catalog: {products} products, {variants} variants (with stock), \
                 {categories} categories, {images} images in {:.1}s",
                elapsed.as_secs_f64()
            ),
            Outcome::NotEmpty { products } => write!(
                f,
                "the catalog already has {products} products; not seeding (seed only fills an empty catalog)"
            ),
        }
    }
}

/// Checks `--products`.
pub fn validate_products(n: u32) -> Result<u32, String> {
    if (1..=MAX_PRODUCTS).contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "--products must be between 1 and {MAX_PRODUCTS} (got {n})"
        ))
    }
}

/// Clap parser for `--products`.
pub fn parse_products(s: &str) -> Result<u32, String> {
    let n: u32 = s
        .parse()
        .map_err(|_| format!("--products must be a whole number between 1 and {MAX_PRODUCTS}"))?;
    validate_products(n)
}

/// Seeds the catalog of the product role configured by `cfg` (its database, bucket) and the
/// inventory database of the same PostgreSQL server, if the catalog is empty.
pub async fn seed(cfg: &storefront_product::Config, opts: &Options) -> anyhow::Result<Outcome> {
    validate_products(opts.products).map_err(|e| anyhow::anyhow!(e))?;
    let started = Instant::now();
    let common = &cfg.common;
    let products_db = kit::db::connect_database(
        &common.postgres,
        &cfg.database_name(),
        &storefront_product::MIGRATIONS,
    )
    .await
    .context("product database")?;
    let inventory_db = kit::db::connect(
        &common.postgres,
        "inventory",
        &storefront_inventory::store::MIGRATIONS,
    )
    .await
    .context("inventory database")?;

    // One seeder at a time (`up` in two terminals): a session lock held until we return.
    let mut lock = products_db.acquire().await?;
    let locked: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext('storefront-seed'))")
            .fetch_one(&mut *lock)
            .await?;
    if !locked {
        bail!("another `storefront seed` is running against this catalog");
    }
    let result = seed_locked(&products_db, &inventory_db, cfg, opts, started).await;
    let _ = sqlx::query("SELECT pg_advisory_unlock(hashtext('storefront-seed'))")
        .execute(&mut *lock)
        .await;
    drop(lock);
    products_db.close().await;
    inventory_db.close().await;
    result
}

async fn seed_locked(
    products_db: &PgPool,
    inventory_db: &PgPool,
    cfg: &storefront_product::Config,
    opts: &Options,
    started: Instant,
) -> anyhow::Result<Outcome> {
    let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM products")
        .fetch_one(products_db)
        .await?;
    if existing > 0 {
        return Ok(Outcome::NotEmpty { products: existing });
    }
    let n = opts.products as u64;
    let seed = opts.seed;

    // Categories (one small transaction).
    let cats = categories(seed);
    {
        let mut tx = products_db.begin().await?;
        sqlx::query(
            "INSERT INTO categories (id, parent_id, slug, name, description, position)
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::int4[])",
        )
        .bind(cats.iter().map(|c| c.id).collect::<Vec<_>>())
        .bind(cats.iter().map(|c| c.parent).collect::<Vec<_>>())
        .bind(cats.iter().map(|c| c.slug.clone()).collect::<Vec<_>>())
        .bind(cats.iter().map(|c| c.name.to_owned()).collect::<Vec<_>>())
        .bind(cats.iter().map(|c| format!("{} from the demo catalog.", c.name)).collect::<Vec<_>>())
        .bind(cats.iter().map(|c| c.position).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await
        .context("inserting categories")?;
        tx.commit().await?;
    }
    let leaves: Vec<&Category> = cats.iter().filter(|c| c.leaf.is_some()).collect();

    // Phase 1: image objects. Keys are unique per image row (the schema wants that), the bytes
    // are one of a few generated PNGs.
    let s3 = kit::s3::client(&cfg.common.s3);
    let bucket = kit::s3::bucket_name(&cfg.common.s3, BUCKET);
    kit::s3::ensure_bucket(&s3, &bucket)
        .await
        .context("creating the product-images bucket (STOREFRONT_S3__*)")?;
    let pngs: Vec<bytes_png::Png> = (0..DISTINCT_IMAGES).map(bytes_png::demo).collect();
    let total_images: u64 = if opts.images {
        (0..n).map(|i| image_count(seed, i) as u64).sum()
    } else {
        0
    };
    let bar = bar(opts, total_images, "images");
    let uploads = (0..n)
        .filter(|_| opts.images)
        .flat_map(|i| (0..image_count(seed, i)).map(move |k| (i, k)));
    let mut stream = futures::stream::iter(uploads)
        .map(|(i, k)| {
            let s3 = s3.clone();
            let bucket = bucket.clone();
            let png = pngs[image_pick(seed, i, k)].bytes.clone();
            async move {
                let key = image_key(seed, i, k);
                s3.put_object()
                    .bucket(&bucket)
                    .key(&key)
                    .content_type("image/png")
                    .body(aws_sdk_s3::primitives::ByteStream::from(png))
                    .send()
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!("uploading {key}: {}", kit::s3::describe_error(&e))
                    })
            }
        })
        .buffer_unordered(UPLOAD_CONCURRENCY);
    while let Some(r) = stream.next().await {
        r?;
        bar.inc(1);
    }
    bar.finish();

    // Phase 2: stock, then products with everything they own, in batches, each product batch in
    // one transaction that also refreshes the derived search columns.
    let bar = self::bar(opts, n, "products");
    let mut variants_total = 0u64;
    let mut start = 0u64;
    while start < n {
        let end = (start + BATCH as u64).min(n);
        let batch: Vec<Product> = (start..end)
            .map(|i| {
                let mut p = product(seed, i, &leaves, &pngs);
                if !opts.images {
                    p.images.clear();
                }
                p
            })
            .collect();
        insert_stock(inventory_db, &batch).await?;
        insert_products(products_db, &batch).await?;
        // Fresh tables have no statistics until autovacuum reaches them, and the refresh of the
        // derived columns was then planned without them: at 866,000 products a batch took 16 s
        // (0.5 s after an ANALYZE). Statistics after the 1st, 2nd, 4th, ... and every 64th batch.
        let done = end / BATCH as u64;
        if done.is_power_of_two() || done.is_multiple_of(64) {
            sqlx::raw_sql("ANALYZE products, product_variants, product_images")
                .execute(products_db)
                .await
                .context("ANALYZE of the seeded products")?;
            sqlx::raw_sql("ANALYZE stock")
                .execute(inventory_db)
                .await
                .context("ANALYZE of the seeded stock")?;
        }
        variants_total += batch.iter().map(|p| p.variants.len() as u64).sum::<u64>();
        bar.inc(end - start);
        start = end;
    }
    bar.finish();
    retire_cached_answers(&cfg.common.redis).await;
    Ok(Outcome::Seeded {
        categories: cats.len() as u64,
        products: n,
        variants: variants_total,
        images: total_images,
        elapsed: started.elapsed(),
    })
}

/// The seed wrote past the product service: moves the catalog generation so that no search
/// answer cached by product, and no answer cached by a gateway, predates the new products.
/// Without Redis there is nothing cached to retire (a warning says so).
async fn retire_cached_answers(redis: &kit::config::RedisSettings) {
    let bumped = match kit::cache::connect(redis).await {
        Ok(mut conn) => {
            let key = kit::cache::Keys::new(redis).catalog_generation();
            kit::cache::bump_generation(&mut conn, &key)
                .await
                .map_err(anyhow::Error::from)
        }
        Err(e) => Err(e),
    };
    if let Err(e) = bumped {
        tracing::warn!(error = %e, "could not move the catalog generation in Redis: cached search answers may predate the seed for up to their TTL");
    }
}

fn bar(opts: &Options, len: u64, what: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if !opts.progress {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{prefix:>9} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_prefix(what);
    bar
}

async fn insert_stock(pool: &PgPool, batch: &[Product]) -> anyhow::Result<()> {
    let mut skus = Vec::new();
    let mut on_hand = Vec::new();
    for v in batch.iter().flat_map(|p| &p.variants) {
        skus.push(v.sku.clone());
        on_hand.push(v.on_hand);
    }
    // The ledger gets a `restock` movement for every unit seeded, like an admin stock set would.
    sqlx::query(
        "WITH ins AS (
             INSERT INTO stock (sku, on_hand)
             SELECT * FROM UNNEST($1::text[], $2::int8[])
             ON CONFLICT (sku) DO NOTHING
             RETURNING sku, on_hand)
         INSERT INTO stock_movements (id, sku, delta_on_hand, delta_reserved, on_hand_after,
                                      reserved_after, reason, note)
         SELECT gen_random_uuid(), sku, on_hand, 0, on_hand, 0, 'restock', 'demo catalog seed'
           FROM ins WHERE on_hand > 0",
    )
    .bind(skus)
    .bind(on_hand)
    .execute(pool)
    .await
    .context("inserting stock")?;
    Ok(())
}

async fn insert_products(pool: &PgPool, batch: &[Product]) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO products (id, slug, name, brand, description, status, tax_category,
                               created_at, updated_at)
         SELECT t.id, t.slug, t.name, t.brand, t.description, 'active', t.tax,
                timestamptz '2026-01-01 00:00:00+00' - make_interval(secs => t.off),
                timestamptz '2026-01-01 00:00:00+00' - make_interval(secs => t.off)
           FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::float8[],
                       $7::text[])
                AS t(id, slug, name, brand, description, off, tax)",
    )
    .bind(batch.iter().map(|p| p.id).collect::<Vec<_>>())
    .bind(batch.iter().map(|p| p.slug.clone()).collect::<Vec<_>>())
    .bind(batch.iter().map(|p| p.name.clone()).collect::<Vec<_>>())
    .bind(batch.iter().map(|p| p.brand.to_owned()).collect::<Vec<_>>())
    .bind(
        batch
            .iter()
            .map(|p| p.description.clone())
            .collect::<Vec<_>>(),
    )
    .bind(batch.iter().map(|p| p.offset_secs).collect::<Vec<_>>())
    .bind(batch.iter().map(|p| p.tax_category).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await
    .context("inserting products")?;

    sqlx::query(
        "INSERT INTO product_categories (product_id, category_id)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[])",
    )
    .bind(batch.iter().map(|p| p.id).collect::<Vec<_>>())
    .bind(batch.iter().map(|p| p.category).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await
    .context("inserting product categories")?;

    let (mut ids, mut tags) = (Vec::new(), Vec::new());
    for p in batch {
        for t in &p.tags {
            ids.push(p.id);
            tags.push(t.to_string());
        }
    }
    sqlx::query(
        "INSERT INTO product_tags (product_id, tag) SELECT * FROM UNNEST($1::uuid[], $2::text[])",
    )
    .bind(ids)
    .bind(tags)
    .execute(&mut *tx)
    .await
    .context("inserting tags")?;

    let (mut ids, mut pos, mut names, mut values) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for p in batch {
        for (i, (k, v)) in p.specs.iter().enumerate() {
            ids.push(p.id);
            pos.push(i as i32);
            names.push(k.to_string());
            values.push(v.clone());
        }
    }
    sqlx::query(
        "INSERT INTO product_specifications (product_id, position, name, value)
         SELECT * FROM UNNEST($1::uuid[], $2::int4[], $3::text[], $4::text[])",
    )
    .bind(ids)
    .bind(pos)
    .bind(names)
    .bind(values)
    .execute(&mut *tx)
    .await
    .context("inserting specifications")?;

    let (mut ids, mut pids, mut keys, mut alts, mut pos, mut sizes) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for p in batch {
        for img in &p.images {
            ids.push(img.id);
            pids.push(p.id);
            keys.push(img.key.clone());
            alts.push(img.alt.clone());
            pos.push(img.position);
            sizes.push(img.size);
        }
    }
    sqlx::query(
        "INSERT INTO product_images (id, product_id, object_key, alt_text, position, content_type,
                                     size_bytes, created_at)
         SELECT t.id, t.pid, t.key, t.alt, t.pos, 'image/png', t.size,
                timestamptz '2026-01-01 00:00:00+00'
           FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::int4[], $6::int8[])
                AS t(id, pid, key, alt, pos, size)",
    )
    .bind(ids)
    .bind(pids)
    .bind(keys)
    .bind(alts)
    .bind(pos)
    .bind(sizes)
    .execute(&mut *tx)
    .await
    .context("inserting images")?;

    let mut cols = VariantColumns::default();
    for p in batch {
        for (i, v) in p.variants.iter().enumerate() {
            cols.ids.push(v.id);
            cols.pids.push(p.id);
            cols.skus.push(v.sku.clone());
            cols.attrs.push(v.attributes.clone());
            cols.prices.push(v.price);
            cols.usd_prices.push(v.usd_price);
            cols.weights.push(v.weight_grams);
            cols.compare.push(v.compare_at);
            cols.in_stock.push(v.on_hand > 0);
            cols.offsets.push(p.offset_secs - i as f64 * 0.001);
        }
    }
    sqlx::query(
        "INSERT INTO product_variants (id, product_id, sku, attributes, price, currency,
                                       compare_at_price, in_stock, weight_grams, created_at,
                                       updated_at)
         SELECT t.id, t.pid, t.sku, t.attrs::jsonb, t.price, 'EUR', t.compare, t.in_stock, t.grams,
                timestamptz '2026-01-01 00:00:00+00' - make_interval(secs => t.off),
                timestamptz '2026-01-01 00:00:00+00' - make_interval(secs => t.off)
           FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::int8[], $6::int8[],
                       $7::bool[], $8::float8[], $9::int4[])
                AS t(id, pid, sku, attrs, price, compare, in_stock, off, grams)",
    )
    .bind(&cols.ids)
    .bind(cols.pids)
    .bind(cols.skus)
    .bind(cols.attrs)
    .bind(&cols.prices)
    .bind(cols.compare)
    .bind(cols.in_stock)
    .bind(cols.offsets)
    .bind(cols.weights)
    .execute(&mut *tx)
    .await
    .context("inserting variants")?;

    // Every price per currency, the primary (EUR) one mirrored as the product service does.
    sqlx::query(
        "INSERT INTO variant_prices (variant_id, currency, amount)
         SELECT t.id, 'EUR', t.eur FROM UNNEST($1::uuid[], $2::int8[]) AS t(id, eur)
         UNION ALL
         SELECT t.id, 'USD', t.usd FROM UNNEST($1::uuid[], $3::int8[]) AS t(id, usd)",
    )
    .bind(&cols.ids)
    .bind(&cols.prices)
    .bind(&cols.usd_prices)
    .execute(&mut *tx)
    .await
    .context("inserting variant prices")?;

    // The product service's own derivation of search document, price range and attribute pairs.
    sqlx::query("SELECT count(product_refresh(t.id)) FROM UNNEST($1::uuid[]) AS t(id)")
        .bind(batch.iter().map(|p| p.id).collect::<Vec<_>>())
        .fetch_one(&mut *tx)
        .await
        .context("refreshing derived product columns")?;
    tx.commit().await?;
    Ok(())
}

#[derive(Default)]
struct VariantColumns {
    ids: Vec<Uuid>,
    pids: Vec<Uuid>,
    skus: Vec<String>,
    attrs: Vec<String>,
    prices: Vec<i64>,
    usd_prices: Vec<i64>,
    weights: Vec<i32>,
    compare: Vec<Option<i64>>,
    in_stock: Vec<bool>,
    offsets: Vec<f64>,
}

// ---- deterministic generation ------------------------------------------------------------------

/// A stable 64-bit mix (splitmix64 finaliser).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A version-8 UUID from (seed, kind, index, sub): unique per tuple within one seed.
fn det_id(seed: u64, kind: u8, index: u64, sub: u8) -> Uuid {
    let hi = mix(seed ^ 0x5EED);
    let lo = ((kind as u64 & 0x3f) << 56) | ((index & 0xFFFF_FFFF_FFFF) << 8) | sub as u64;
    let mut b = ((hi as u128) << 64 | lo as u128).to_be_bytes();
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    Uuid::from_bytes(b)
}

const K_CATEGORY: u8 = 1;
const K_PRODUCT: u8 = 2;
const K_VARIANT: u8 = 3;
const K_IMAGE: u8 = 4;

fn image_count(seed: u64, i: u64) -> usize {
    if mix(seed ^ mix(i ^ 0x1A6E)).is_multiple_of(3) {
        2
    } else {
        1
    }
}

fn image_pick(seed: u64, i: u64, k: usize) -> usize {
    (mix(seed ^ mix(i.wrapping_mul(7) + k as u64)) % DISTINCT_IMAGES as u64) as usize
}

fn image_key(seed: u64, i: u64, k: usize) -> String {
    format!(
        "products/{}/{}.png",
        det_id(seed, K_PRODUCT, i, 0),
        det_id(seed, K_IMAGE, i, k as u8)
    )
}

#[derive(Clone, Copy)]
enum Sizing {
    Apparel,
    Shoes,
    Capacity,
    /// Food packs by weight; no colour.
    Pack,
    /// Book editions; no colour.
    Format,
    None,
}

struct Leaf {
    nouns: &'static [&'static str],
    sizing: Sizing,
    tags: &'static [&'static str],
}

type Tree = &'static [(
    &'static str,
    &'static [(&'static str, &'static [(&'static str, Leaf)])],
)];

const TREE: Tree = &[
    (
        "Clothing",
        &[
            (
                "Tops",
                &[
                    (
                        "T-Shirts",
                        Leaf {
                            nouns: &["T-Shirt", "Tee", "Polo"],
                            sizing: Sizing::Apparel,
                            tags: &["cotton", "casual", "summer"],
                        },
                    ),
                    (
                        "Hoodies",
                        Leaf {
                            nouns: &["Hoodie", "Sweatshirt", "Pullover"],
                            sizing: Sizing::Apparel,
                            tags: &["warm", "casual", "winter"],
                        },
                    ),
                ],
            ),
            (
                "Outerwear",
                &[
                    (
                        "Jackets",
                        Leaf {
                            nouns: &["Jacket", "Parka", "Windbreaker"],
                            sizing: Sizing::Apparel,
                            tags: &["waterproof", "winter", "outdoor"],
                        },
                    ),
                    (
                        "Vests",
                        Leaf {
                            nouns: &["Vest", "Gilet"],
                            sizing: Sizing::Apparel,
                            tags: &["layering", "outdoor"],
                        },
                    ),
                ],
            ),
        ],
    ),
    (
        "Footwear",
        &[(
            "Shoes",
            &[
                (
                    "Sneakers",
                    Leaf {
                        nouns: &["Sneaker", "Trainer", "Runner"],
                        sizing: Sizing::Shoes,
                        tags: &["running", "casual", "breathable"],
                    },
                ),
                (
                    "Boots",
                    Leaf {
                        nouns: &["Boot", "Chelsea Boot", "Hiking Boot"],
                        sizing: Sizing::Shoes,
                        tags: &["waterproof", "winter", "leather"],
                    },
                ),
            ],
        )],
    ),
    (
        "Outdoor",
        &[
            (
                "Camping",
                &[
                    (
                        "Tents",
                        Leaf {
                            nouns: &["Tent", "Shelter", "Tarp"],
                            sizing: Sizing::Capacity,
                            tags: &["camping", "lightweight", "waterproof"],
                        },
                    ),
                    (
                        "Sleeping Bags",
                        Leaf {
                            nouns: &["Sleeping Bag", "Quilt", "Liner"],
                            sizing: Sizing::None,
                            tags: &["camping", "warm", "packable"],
                        },
                    ),
                ],
            ),
            (
                "Hiking",
                &[
                    (
                        "Backpacks",
                        Leaf {
                            nouns: &["Backpack", "Daypack", "Rucksack"],
                            sizing: Sizing::Capacity,
                            tags: &["hiking", "travel", "durable"],
                        },
                    ),
                    (
                        "Trekking Poles",
                        Leaf {
                            nouns: &["Trekking Pole", "Walking Stick"],
                            sizing: Sizing::None,
                            tags: &["hiking", "lightweight"],
                        },
                    ),
                ],
            ),
        ],
    ),
    (
        "Home",
        &[
            (
                "Kitchen",
                &[
                    (
                        "Cookware",
                        Leaf {
                            nouns: &["Skillet", "Saucepan", "Wok", "Dutch Oven"],
                            sizing: Sizing::None,
                            tags: &["kitchen", "cooking", "gift"],
                        },
                    ),
                    (
                        "Knives",
                        Leaf {
                            nouns: &["Chef Knife", "Paring Knife", "Cleaver"],
                            sizing: Sizing::None,
                            tags: &["kitchen", "steel", "gift"],
                        },
                    ),
                ],
            ),
            (
                "Living",
                &[
                    (
                        "Lamps",
                        Leaf {
                            nouns: &["Lamp", "Lantern", "Floor Light"],
                            sizing: Sizing::None,
                            tags: &["lighting", "home", "design"],
                        },
                    ),
                    (
                        "Cushions",
                        Leaf {
                            nouns: &["Cushion", "Throw Pillow", "Blanket"],
                            sizing: Sizing::None,
                            tags: &["home", "cosy", "design"],
                        },
                    ),
                    (
                        "Books",
                        Leaf {
                            nouns: &["Cookbook", "Travel Guide", "Field Guide"],
                            sizing: Sizing::Format,
                            tags: &["books", "reading", "gift"],
                        },
                    ),
                ],
            ),
        ],
    ),
    (
        "Electronics",
        &[
            (
                "Audio",
                &[
                    (
                        "Headphones",
                        Leaf {
                            nouns: &["Headphones", "Earbuds", "Headset"],
                            sizing: Sizing::None,
                            tags: &["wireless", "audio", "travel"],
                        },
                    ),
                    (
                        "Speakers",
                        Leaf {
                            nouns: &["Speaker", "Soundbar", "Subwoofer"],
                            sizing: Sizing::None,
                            tags: &["wireless", "audio", "home"],
                        },
                    ),
                ],
            ),
            (
                "Accessories",
                &[(
                    "Chargers",
                    Leaf {
                        nouns: &["Charger", "Power Bank", "Dock"],
                        sizing: Sizing::None,
                        tags: &["travel", "usb-c", "fast-charge"],
                    },
                )],
            ),
        ],
    ),
    (
        "Sports",
        &[(
            "Fitness",
            &[
                (
                    "Yoga",
                    Leaf {
                        nouns: &["Yoga Mat", "Yoga Block", "Strap"],
                        sizing: Sizing::None,
                        tags: &["yoga", "fitness", "eco"],
                    },
                ),
                (
                    "Weights",
                    Leaf {
                        nouns: &["Dumbbell", "Kettlebell", "Weight Plate"],
                        sizing: Sizing::None,
                        tags: &["fitness", "strength"],
                    },
                ),
            ],
        )],
    ),
    (
        "Pantry",
        &[(
            "Food",
            &[
                (
                    "Coffee & Tea",
                    Leaf {
                        nouns: &["Coffee Beans", "Ground Coffee", "Loose Tea"],
                        sizing: Sizing::Pack,
                        tags: &["coffee", "organic", "breakfast"],
                    },
                ),
                (
                    "Snacks",
                    Leaf {
                        nouns: &["Granola", "Trail Mix", "Energy Bar"],
                        sizing: Sizing::Pack,
                        tags: &["snack", "organic", "outdoor"],
                    },
                ),
            ],
        )],
    ),
];

/// What food is made from (the general materials make no sense for it).
const INGREDIENTS: &[&str] = &[
    "Arabica",
    "Oats",
    "Almonds",
    "Cocoa",
    "Green Tea",
    "Hazelnuts",
];
/// What books are made from.
const BOOK_MATERIALS: &[&str] = &["Recycled Paper", "Linen", "Cloth"];

/// The tax category of a leaf's products: food and books are `reduced`, the rest `standard`.
fn tax_category(sizing: Sizing) -> &'static str {
    match sizing {
        Sizing::Pack | Sizing::Format => "reduced",
        _ => "standard",
    }
}

/// Plausible shipping weights (grams, per unit) of a leaf's products.
fn weight_range(category: &str) -> std::ops::Range<i32> {
    match category {
        "T-Shirts" => 150..300,
        "Hoodies" | "Vests" => 350..800,
        "Jackets" => 500..1500,
        "Sneakers" => 500..900,
        "Boots" => 900..1800,
        "Tents" => 1500..5000,
        "Sleeping Bags" => 800..2000,
        "Backpacks" => 700..2200,
        "Trekking Poles" => 400..700,
        "Cookware" => 800..3000,
        "Knives" => 150..400,
        "Lamps" => 600..3500,
        "Cushions" => 300..1200,
        "Books" => 250..1200,
        "Headphones" => 180..400,
        "Speakers" => 300..2500,
        "Chargers" => 60..250,
        "Yoga" => 200..2500,
        "Weights" => 2000..20000,
        // A 250 g pack with its packaging; bigger packs weigh two and four times as much.
        "Coffee & Tea" | "Snacks" => 260..300,
        _ => 100..2000,
    }
}

/// The USD price of a EUR price: about EUR × 1.08, rounded to whole units, ending in .99.
fn usd_from_eur(eur_cents: i64) -> i64 {
    ((eur_cents * 108 + 5_000) / 10_000 * 100 - 1).max(99)
}

const BRANDS: &[&str] = &[
    "Northwind",
    "Alpenglow",
    "Fjordline",
    "Brightwater",
    "Kestrel",
    "Lumen",
    "Oakridge",
    "Solstice",
    "Tidewater",
    "Granite",
    "Ember",
    "Harbor",
    "Meridian",
    "Cobalt",
    "Wildroot",
    "Stratus",
    "Evergreen",
    "Ironbark",
    "Bluefin",
    "Polaris",
];
const ADJECTIVES: &[&str] = &[
    "Classic",
    "Rugged",
    "Urban",
    "Lightweight",
    "Premium",
    "Essential",
    "Vintage",
    "Compact",
    "Everyday",
    "Alpine",
    "Coastal",
    "Modern",
    "Heritage",
    "Nomad",
    "Summit",
    "Trail",
    "Cozy",
    "Sleek",
    "Pro",
    "Ultralight",
];
const MATERIALS: &[&str] = &[
    "Cotton", "Merino", "Leather", "Canvas", "Bamboo", "Linen", "Nylon", "Wool", "Steel", "Oak",
    "Ceramic", "Recycled", "Cork", "Titanium", "Suede",
];
const COLOURS: &[&str] = &[
    "black", "white", "navy", "red", "green", "grey", "sand", "olive", "teal", "orange",
];
const EXTRA_TAGS: &[&str] = &["new", "bestseller", "sale", "eco", "limited", "gift"];
const COUNTRIES: &[&str] = &[
    "Portugal", "Italy", "Germany", "Vietnam", "Japan", "Sweden", "Canada",
];
const PHRASES: &[&str] = &[
    "Built to last through years of daily use.",
    "Designed in Europe and tested in the field.",
    "A favourite for weekend trips and city days alike.",
    "Easy to care for and made with responsibly sourced materials.",
    "Thoughtful details make it comfortable from morning to night.",
    "Backed by a generous warranty and free returns.",
    "Pairs well with the rest of the collection.",
    "Light enough to take anywhere, tough enough for anything.",
];

struct Category {
    id: Uuid,
    parent: Option<Uuid>,
    slug: String,
    name: &'static str,
    position: i32,
    leaf: Option<&'static Leaf>,
}

fn slugify(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

fn categories(seed: u64) -> Vec<Category> {
    let mut out = Vec::new();
    let mut n = 0u64;
    let mut next_id = || {
        n += 1;
        det_id(seed, K_CATEGORY, n, 0)
    };
    for (ti, (top, mids)) in TREE.iter().enumerate() {
        let top_id = next_id();
        out.push(Category {
            id: top_id,
            parent: None,
            slug: slugify(top),
            name: top,
            position: ti as i32,
            leaf: None,
        });
        for (mi, (mid, leaves)) in mids.iter().enumerate() {
            let mid_id = next_id();
            out.push(Category {
                id: mid_id,
                parent: Some(top_id),
                slug: format!("{}-{}", slugify(top), slugify(mid)),
                name: mid,
                position: mi as i32,
                leaf: None,
            });
            for (li, (name, leaf)) in leaves.iter().enumerate() {
                out.push(Category {
                    id: next_id(),
                    parent: Some(mid_id),
                    slug: format!("{}-{}", slugify(mid), slugify(name)),
                    name,
                    position: li as i32,
                    leaf: Some(leaf),
                });
            }
        }
    }
    out
}

struct Product {
    id: Uuid,
    slug: String,
    name: String,
    brand: &'static str,
    description: String,
    category: Uuid,
    tax_category: &'static str,
    offset_secs: f64,
    tags: Vec<&'static str>,
    specs: Vec<(&'static str, String)>,
    variants: Vec<Variant>,
    images: Vec<Image>,
}

struct Variant {
    id: Uuid,
    sku: String,
    attributes: String,
    /// EUR, the primary price.
    price: i64,
    usd_price: i64,
    compare_at: Option<i64>,
    on_hand: i64,
    weight_grams: i32,
}

struct Image {
    id: Uuid,
    key: String,
    alt: String,
    position: i32,
    size: i64,
}

fn product(seed: u64, i: u64, leaves: &[&Category], pngs: &[bytes_png::Png]) -> Product {
    let mut rng = StdRng::seed_from_u64(mix(seed) ^ mix(i.wrapping_add(1)));
    let cat = *leaves.choose(&mut rng).expect("leaves");
    let leaf = cat.leaf.expect("leaf");
    let brand = *BRANDS.choose(&mut rng).expect("brands");
    let adj = *ADJECTIVES.choose(&mut rng).expect("adjectives");
    let materials = match leaf.sizing {
        Sizing::Pack => INGREDIENTS,
        Sizing::Format => BOOK_MATERIALS,
        _ => MATERIALS,
    };
    let material = *materials.choose(&mut rng).expect("materials");
    let noun = *leaf.nouns.choose(&mut rng).expect("nouns");
    let name = format!("{adj} {material} {noun}");
    let slug = format!("{}-{}", slugify(&name), i + 1);
    let mut phrases: Vec<&str> = PHRASES.to_vec();
    phrases.shuffle(&mut rng);
    let description = format!(
        "The {brand} {name} is a {} {} {} made from {}. {} {}",
        adj.to_lowercase(),
        material.to_lowercase(),
        noun.to_lowercase(),
        material.to_lowercase(),
        phrases[0],
        phrases[1],
    );
    let mut tags: Vec<&'static str> = leaf.tags.to_vec();
    tags.shuffle(&mut rng);
    tags.truncate(rng.random_range(1..=tags.len()));
    if rng.random_bool(0.4) {
        let extra = *EXTRA_TAGS.choose(&mut rng).expect("tags");
        if !tags.contains(&extra) {
            tags.push(extra);
        }
    }
    let weight = rng.random_range(weight_range(cat.name));
    let specs = vec![
        ("Material", material.to_owned()),
        ("Weight", format!("{weight} g")),
        (
            "Country of origin",
            (*COUNTRIES.choose(&mut rng).expect("countries")).to_owned(),
        ),
        ("Warranty", format!("{} years", rng.random_range(1..=5))),
    ];

    let n_variants = match leaf.sizing {
        Sizing::Pack => rng.random_range(1..=3usize),
        Sizing::Format => rng.random_range(1..=2usize),
        _ => rng.random_range(1..=4usize),
    };
    let mut colours: Vec<&str> = COLOURS.to_vec();
    colours.shuffle(&mut rng);
    let base = rng.random_range(5..300i64) * 100 + 99;
    let variants = (0..n_variants)
        .map(|v| {
            let colour = colours[v];
            let size: Option<String> = match leaf.sizing {
                Sizing::Apparel => {
                    Some((*["XS", "S", "M", "L", "XL"].choose(&mut rng).expect("sizes")).to_owned())
                }
                Sizing::Shoes => Some(rng.random_range(38..=46).to_string()),
                Sizing::Capacity => Some(format!(
                    "{} L",
                    [20, 30, 40, 55].choose(&mut rng).expect("sizes")
                )),
                // One pack size or edition per variant, so the attributes stay distinct.
                Sizing::Pack => Some(["250 g", "500 g", "1 kg"][v].to_owned()),
                Sizing::Format => Some(["Paperback", "Hardcover"][v].to_owned()),
                Sizing::None => None,
            };
            let attributes = match (leaf.sizing, &size) {
                (Sizing::Pack, Some(s)) => format!(r#"{{"size":"{s}"}}"#),
                (Sizing::Format, Some(s)) => format!(r#"{{"format":"{s}"}}"#),
                (_, Some(s)) => format!(r#"{{"colour":"{colour}","size":"{s}"}}"#),
                (_, None) => format!(r#"{{"colour":"{colour}"}}"#),
            };
            let price = base + v as i64 * 500;
            // A pack of 1 kg weighs four times one of 250 g; other variants weigh alike.
            let weight_grams = match (leaf.sizing, v) {
                (Sizing::Pack, 1) => weight * 2,
                (Sizing::Pack, 2) => weight * 4,
                (Sizing::Format, 1) => weight + weight / 2,
                _ => weight,
            };
            let compare_at = rng.random_bool(0.2).then(|| price + price / 4 + 100);
            let on_hand = if rng.random_bool(0.15) {
                0
            } else {
                rng.random_range(1..200)
            };
            Variant {
                id: det_id(seed, K_VARIANT, i, v as u8),
                sku: format!("SF-{:06}-{}", i + 1, v + 1),
                attributes,
                price,
                usd_price: usd_from_eur(price),
                compare_at,
                on_hand,
                weight_grams,
            }
        })
        .collect();
    let images = (0..image_count(seed, i))
        .map(|k| Image {
            id: det_id(seed, K_IMAGE, i, k as u8),
            key: image_key(seed, i, k),
            alt: format!("{name}, photo {}", k + 1),
            position: k as i32,
            size: pngs[image_pick(seed, i, k)].bytes.len() as i64,
        })
        .collect();
    Product {
        id: det_id(seed, K_PRODUCT, i, 0),
        slug,
        name,
        brand,
        description,
        category: cat.id,
        tax_category: tax_category(leaf.sizing),
        offset_secs: i as f64 * 60.0,
        tags,
        specs,
        variants,
        images,
    }
}

/// A minimal PNG encoder (8-bit RGB, zlib via flate2, CRC-32 via crc32fast).
mod bytes_png {
    use std::io::Write;

    pub struct Png {
        pub bytes: Vec<u8>,
    }

    const PALETTE: &[[u8; 3]] = &[
        [231, 76, 60],
        [46, 204, 113],
        [52, 152, 219],
        [155, 89, 182],
        [241, 196, 15],
        [230, 126, 34],
        [26, 188, 156],
        [52, 73, 94],
        [236, 240, 241],
        [149, 165, 166],
        [192, 57, 43],
        [41, 128, 185],
    ];

    /// Demo image `n`: a diagonal gradient between two palette colours, 128×128.
    pub fn demo(n: usize) -> Png {
        let a = PALETTE[n % PALETTE.len()];
        let b = PALETTE[(n * 5 + 3) % PALETTE.len()];
        let (w, h) = (128u32, 128u32);
        encode(w, h, |x, y| {
            let t = (x + y) as f32 / (w + h - 2) as f32;
            let c = |i: usize| (a[i] as f32 * (1.0 - t) + b[i] as f32 * t) as u8;
            [c(0), c(1), c(2)]
        })
    }

    pub fn encode(w: u32, h: u32, pixel: impl Fn(u32, u32) -> [u8; 3]) -> Png {
        let mut raw = Vec::with_capacity((h * (w * 3 + 1)) as usize);
        for y in 0..h {
            raw.push(0); // filter: none
            for x in 0..w {
                raw.extend_from_slice(&pixel(x, y));
            }
        }
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&raw).expect("in-memory write");
        let idat = z.finish().expect("in-memory write");
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&w.to_be_bytes());
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        chunk(&mut out, b"IHDR", &ihdr);
        chunk(&mut out, b"IDAT", &idat);
        chunk(&mut out, b"IEND", &[]);
        Png { bytes: out }
    }

    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let mut crc = crc32fast::Hasher::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(&crc.finalize().to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_valid() {
        let cats = categories(7);
        assert!((25..=40).contains(&cats.len()), "{}", cats.len());
        let leaves: Vec<&Category> = cats.iter().filter(|c| c.leaf.is_some()).collect();
        let pngs: Vec<bytes_png::Png> = (0..DISTINCT_IMAGES).map(bytes_png::demo).collect();
        assert!(pngs[0].bytes.starts_with(b"\x89PNG"));
        let a = product(7, 3, &leaves, &pngs);
        let b = product(7, 3, &leaves, &pngs);
        assert_eq!(a.name, b.name);
        assert_eq!(a.id, b.id);
        assert!((1..=4).contains(&a.variants.len()));
        assert_ne!(det_id(7, K_PRODUCT, 1, 0), det_id(7, K_PRODUCT, 2, 0));
        assert_eq!(det_id(7, K_PRODUCT, 1, 0).get_version_num(), 8);
        assert!(parse_products("0").is_err());
        assert!(parse_products("1000001").is_err());
        assert_eq!(parse_products("1000000"), Ok(1_000_000));
        assert_eq!(parse_products("200"), Ok(200));
    }

    #[test]
    fn demo_products_carry_usd_prices_weights_and_tax_categories() {
        assert_eq!(usd_from_eur(4599), 4999);
        assert_eq!(usd_from_eur(599), 599);
        assert_eq!(usd_from_eur(29999), 32399);
        let cats = categories(42);
        assert!(cats.len() <= 40, "{}", cats.len());
        let leaves: Vec<&Category> = cats.iter().filter(|c| c.leaf.is_some()).collect();
        let pngs: Vec<bytes_png::Png> = (0..DISTINCT_IMAGES).map(bytes_png::demo).collect();
        let products: Vec<Product> = (0..300).map(|i| product(42, i, &leaves, &pngs)).collect();
        let reduced = products
            .iter()
            .filter(|p| p.tax_category == "reduced")
            .count();
        assert!((1..150).contains(&reduced), "{reduced} reduced");
        for p in &products {
            assert!(matches!(p.tax_category, "standard" | "reduced"));
            let mut attrs = std::collections::HashSet::new();
            for v in &p.variants {
                assert!(
                    attrs.insert(&v.attributes),
                    "{} repeats {}",
                    p.name,
                    v.attributes
                );
                assert!(
                    (1..=1_000_000).contains(&v.weight_grams),
                    "{}",
                    v.weight_grams
                );
                assert!(
                    v.usd_price >= v.price && v.usd_price % 100 == 99,
                    "{}",
                    v.usd_price
                );
            }
        }
    }
}
