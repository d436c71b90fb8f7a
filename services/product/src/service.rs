//! The catalog's operations on parsed input: transactions, the outbox, cache invalidation after
//! commit, and the image store. The gRPC layer (`api`) authorizes and parses; this does the work.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use kit::contracts::events::product::{
    ProductArchived, ProductCreated, ProductDeleted, ProductUpdated,
};
use kit::outbox::OutboxEvent;

use crate::cache::ProductCache;
use crate::config::ProductSettings;
use crate::domain;
use crate::domain::{
    CategoryRecord, ImageRecord, Money, ProductRecord, Spec, Status, TaxCategory, VariantRecord,
    Violations, other_prices, slugify,
};
use crate::error::{Error, Result, on_constraint};
use crate::index::sync::SearchIndex;
use crate::store::categories::{self, MoveOutcome};
use crate::store::{images, products, variants};

/// Which product event a write publishes.
#[derive(Clone, Copy, Debug)]
enum Change {
    Created,
    Updated,
    Archived,
}
pub const BUCKET: &str = "product-images";

/// Everything the operations need. Cheap to clone.
#[derive(Clone)]
pub struct Catalog {
    pub pool: PgPool,
    /// Turns for computed searches (`product.search_concurrency` at once, a bounded queue).
    pub search_gate: kit::work::BlockingPool,
    /// The search engine: every product in memory, kept in step with product_db.
    pub index: Arc<SearchIndex>,
    pub cache: ProductCache,
    pub s3: aws_sdk_s3::Client,
    pub presign: aws_sdk_s3::Client,
    pub bucket: String,
    pub settings: Arc<ProductSettings>,
}

/// Fields of a new product.
#[derive(Clone, Debug, Default)]
pub struct NewProduct {
    pub slug: Option<String>,
    pub name: String,
    pub brand: String,
    pub description: String,
    pub status: Option<Status>,
    pub tax_category: TaxCategory,
    pub category_ids: Vec<Uuid>,
    pub tags: Vec<String>,
    pub specifications: Vec<Spec>,
    pub variants: Vec<NewVariant>,
}

/// Changed fields of a product (`None`: unchanged).
#[derive(Clone, Debug, Default)]
pub struct ProductPatch {
    pub slug: Option<String>,
    pub name: Option<String>,
    pub brand: Option<String>,
    pub description: Option<String>,
    pub status: Option<Status>,
    pub tax_category: Option<TaxCategory>,
    pub category_ids: Option<Vec<Uuid>>,
    pub tags: Option<Vec<String>>,
    pub specifications: Option<Vec<Spec>>,
}

#[derive(Clone, Debug)]
pub struct NewVariant {
    pub sku: String,
    pub attributes: BTreeMap<String, String>,
    pub price: Money,
    /// Prices in currencies other than `price`'s (checked: see [`crate::domain::other_prices`]).
    pub other_prices: Vec<Money>,
    pub compare_at_price: Option<i64>,
    pub image_id: Option<Uuid>,
    pub weight_grams: i32,
}

#[derive(Clone, Debug, Default)]
pub struct VariantPatch {
    pub attributes: Option<BTreeMap<String, String>>,
    pub price: Option<Money>,
    /// The new set of prices as sent (checked with [`crate::domain::check_prices`]); entries in
    /// the primary currency are reconciled with the (new or current) price here.
    pub prices: Option<Vec<Money>>,
    pub weight_grams: Option<i32>,
    /// `Some(None)` clears it.
    pub compare_at_price: Option<Option<i64>>,
    pub image_id: Option<Option<Uuid>>,
}

pub struct Upload {
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub object_key: String,
    pub expires_at: OffsetDateTime,
}

fn not_found(id: Uuid) -> Error {
    Error::NotFound(format!("No product has the id {id}."))
}

impl Catalog {
    // ---------- reads ----------

    /// Brings the search index up to every write committed so far. When product_db cannot be
    /// reached, searches answer from the index as it stands (it was loaded before), and say so
    /// in the log; before the first load they fail.
    pub async fn catch_up_index(&self) -> Result<()> {
        match self.index.catch_up(&self.pool).await {
            Ok(()) => Ok(()),
            Err(e) if self.index.loaded() => {
                tracing::warn!(error = %e, "search index cannot catch up; answering from the index as it stands");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A product through the cache (all statuses; callers filter by visibility).
    pub async fn read(&self, id: Uuid) -> Result<Option<ProductRecord>> {
        if let Some(p) = self.cache.get(id).await {
            return Ok(Some(p));
        }
        let mut c = self.pool.acquire().await?;
        let p = products::load(&mut c, id).await?;
        drop(c);
        if let Some(p) = &p {
            self.cache.put(p).await;
        }
        Ok(p)
    }

    pub async fn get(&self, id: Uuid, admin: bool) -> Result<ProductRecord> {
        match self.read(id).await? {
            Some(p) if domain::readable_by(&p, admin) => Ok(p),
            _ => Err(not_found(id)),
        }
    }

    pub async fn get_by_slug(&self, slug: &str, admin: bool) -> Result<ProductRecord> {
        let missing = || Error::NotFound(format!("No product has the slug `{slug}`."));
        if let Some(id) = self.cache.id_for_slug(slug).await
            && let Some(p) = self.read(id).await?
            && p.slug == slug
        {
            return if domain::readable_by(&p, admin) {
                Ok(p)
            } else {
                Err(missing())
            };
        }
        let mut c = self.pool.acquire().await?;
        let id = products::id_by_slug(&mut c, slug)
            .await?
            .ok_or_else(missing)?;
        drop(c);
        match self.read(id).await? {
            Some(p) if domain::readable_by(&p, admin) && p.slug == slug => Ok(p),
            _ => Err(missing()),
        }
    }

    /// Products by id in request order (first occurrence), and the ids not visible.
    pub async fn batch_get(
        &self,
        ids: &[Uuid],
        admin: bool,
    ) -> Result<(Vec<ProductRecord>, Vec<Uuid>)> {
        let mut seen = HashSet::new();
        let ids: Vec<Uuid> = ids.iter().copied().filter(|i| seen.insert(*i)).collect();
        let mut found: BTreeMap<Uuid, ProductRecord> = BTreeMap::new();
        let mut misses = Vec::new();
        for (id, cached) in ids.iter().zip(self.cache.get_many(&ids).await) {
            match cached {
                Some(p) => {
                    found.insert(*id, p);
                }
                None => misses.push(*id),
            }
        }
        if !misses.is_empty() {
            let mut c = self.pool.acquire().await?;
            let loaded = products::load_many(&mut c, &misses).await?;
            drop(c);
            for p in loaded {
                self.cache.put(&p).await;
                found.insert(p.id, p);
            }
        }
        let mut out = Vec::new();
        let mut missing = Vec::new();
        for id in ids {
            match found.remove(&id) {
                Some(p) if domain::readable_by(&p, admin) => out.push(p),
                _ => missing.push(id),
            }
        }
        Ok((out, missing))
    }

    /// Variants by SKU with their products, as the database holds them now (authoritative
    /// prices): one query reads which product holds each SKU and that product's current version;
    /// a cached copy is used only at that version (the version grows in every transaction that
    /// changes the product, its variants or prices), the others are loaded and cached.
    pub async fn variants_by_sku(
        &self,
        skus: &[String],
    ) -> Result<(Vec<(VariantRecord, ProductRecord)>, Vec<String>)> {
        let mut seen = HashSet::new();
        let skus: Vec<String> = skus
            .iter()
            .filter(|s| seen.insert(s.as_str()))
            .cloned()
            .collect();
        let mut c = self.pool.acquire().await?;
        let owners = variants::owners(&mut c, &skus).await?;
        let mut versions: HashMap<Uuid, i64> = HashMap::new();
        for (_, id, version) in &owners {
            versions.insert(*id, *version);
        }
        let ids: Vec<Uuid> = versions.keys().copied().collect();
        let mut prods: HashMap<Uuid, ProductRecord> = HashMap::new();
        let mut misses = Vec::new();
        for (id, cached) in ids.iter().zip(self.cache.get_many(&ids).await) {
            match cached {
                Some(p) if p.version == versions[id] => {
                    prods.insert(*id, p);
                }
                _ => misses.push(*id),
            }
        }
        if !misses.is_empty() {
            for p in products::load_many(&mut c, &misses).await? {
                self.cache.put(&p).await;
                prods.insert(p.id, p);
            }
        }
        drop(c);
        let mut out = Vec::new();
        let mut missing = Vec::new();
        for sku in skus {
            let found = owners
                .iter()
                .find(|(s, _, _)| *s == sku)
                .and_then(|(_, id, _)| prods.get(id))
                .and_then(|p| {
                    p.variants
                        .iter()
                        .find(|v| v.sku == sku)
                        .map(|v| (v.clone(), p.clone()))
                });
            match found {
                Some(pair) => out.push(pair),
                None => missing.push(sku),
            }
        }
        Ok((out, missing))
    }

    // ---------- product writes ----------

    /// Commits `tx` after writing the outbox event of `change` for `id`, then invalidates its
    /// cache entry.
    async fn finish(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
        id: Uuid,
        change: Change,
    ) -> Result<ProductRecord> {
        let version = products::refresh(&mut tx, id).await?;
        let rec = products::load(&mut tx, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        let key = id.to_string();
        let ev = match change {
            Change::Created => OutboxEvent::of(key, &ProductCreated(rec.clone())),
            Change::Updated => OutboxEvent::of(key, &ProductUpdated(rec.clone())),
            Change::Archived => OutboxEvent::of(key, &ProductArchived(rec.clone())),
        };
        kit::outbox::enqueue(&mut tx, &ev).await?;
        tx.commit().await?;
        self.invalidate(id, version).await;
        Ok(rec)
    }

    async fn invalidate(&self, id: Uuid, version: i64) {
        if !self.cache.invalidate(id, version).await {
            tracing::warn!(product_id = %id, "could not invalidate the cached product");
        }
    }

    async fn check_categories(c: &mut PgConnection, ids: &[Uuid]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let n = products::count_categories(c, ids).await?;
        if n != ids.len() as i64 {
            return Err(Error::invalid(
                "category_ids",
                "names a category that does not exist",
            ));
        }
        Ok(())
    }

    pub async fn create_product(&self, p: NewProduct) -> Result<ProductRecord> {
        let status = p.status.unwrap_or(Status::Draft);
        if status == Status::Active && p.variants.is_empty() {
            return Err(Error::FailedPrecondition(
                "An ACTIVE product needs at least one variant; add variants or create it as DRAFT."
                    .into(),
            ));
        }
        check_one_currency(
            p.variants.iter().map(|v| &v.price.currency),
            "product.variants",
        )?;
        // A new product has no images yet, so no variant can point at one of them.
        if let Some(i) = p.variants.iter().position(|v| v.image_id.is_some()) {
            return Err(Error::invalid(
                format!("product.variants[{i}].image_id"),
                "names no image of this product; add images after creating the product, then set the variant's image",
            ));
        }
        let id = Uuid::now_v7();
        let mut tx = self.pool.begin().await?;
        Self::check_categories(&mut tx, &p.category_ids).await?;
        match &p.slug {
            Some(slug) => {
                if !products::insert(
                    &mut tx,
                    id,
                    slug,
                    &p.name,
                    &p.brand,
                    &p.description,
                    status,
                    p.tax_category,
                )
                .await?
                {
                    return Err(Error::AlreadyExists(format!(
                        "The slug `{slug}` is taken by another product."
                    )));
                }
            }
            None => {
                let base = slugify(&p.name);
                let mut inserted = false;
                for n in 1..=20u32 {
                    let slug = match n {
                        1 => base.clone(),
                        2..=10 => format!("{base}-{n}"),
                        _ => format!("{base}-{}", &id.simple().to_string()[24..]),
                    };
                    if products::insert(
                        &mut tx,
                        id,
                        &slug,
                        &p.name,
                        &p.brand,
                        &p.description,
                        status,
                        p.tax_category,
                    )
                    .await?
                    {
                        inserted = true;
                        break;
                    }
                }
                if !inserted {
                    return Err(Error::AlreadyExists(
                        "No free slug could be derived from the name; set one.".into(),
                    ));
                }
            }
        }
        products::set_categories(&mut tx, id, &p.category_ids).await?;
        products::set_tags(&mut tx, id, &p.tags).await?;
        products::set_specifications(&mut tx, id, &p.specifications).await?;
        for (i, v) in p.variants.iter().enumerate() {
            insert_variant(&mut tx, id, v, &format!("product.variants[{i}]")).await?;
        }
        self.finish(tx, id, Change::Created).await
    }

    pub async fn update_product(&self, id: Uuid, patch: ProductPatch) -> Result<ProductRecord> {
        let mut tx = self.pool.begin().await?;
        let current = products::lock(&mut tx, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        if patch.status == Some(Status::Active) {
            let (n, _) = variants::siblings(&mut tx, id, None).await?;
            if n == 0 {
                return Err(Error::FailedPrecondition(
                    "An ACTIVE product needs at least one variant; add one first.".into(),
                ));
            }
        }
        if let Some(cats) = &patch.category_ids {
            Self::check_categories(&mut tx, cats).await?;
            products::set_categories(&mut tx, id, cats).await?;
        }
        if let Some(tags) = &patch.tags {
            products::set_tags(&mut tx, id, tags).await?;
        }
        if let Some(specs) = &patch.specifications {
            products::set_specifications(&mut tx, id, specs).await?;
        }
        let ok = products::update_fields(
            &mut tx,
            id,
            patch.slug.as_deref(),
            patch.name.as_deref(),
            patch.brand.as_deref(),
            patch.description.as_deref(),
            patch.status,
            patch.tax_category,
        )
        .await
        .or_else(|e| {
            if on_constraint(&e, "products_slug_key") {
                Ok(false)
            } else {
                Err(e)
            }
        })?;
        if !ok {
            return Err(Error::AlreadyExists(format!(
                "The slug `{}` is taken by another product.",
                patch.slug.unwrap_or_default()
            )));
        }
        let event = if patch.status == Some(Status::Archived) && current != Status::Archived {
            Change::Archived
        } else {
            Change::Updated
        };
        self.finish(tx, id, event).await
    }

    pub async fn archive_product(&self, id: Uuid) -> Result<ProductRecord> {
        let mut tx = self.pool.begin().await?;
        let current = products::lock(&mut tx, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        if current == Status::Archived {
            drop(tx);
            let mut c = self.pool.acquire().await?;
            return products::load(&mut c, id)
                .await?
                .ok_or_else(|| not_found(id));
        }
        products::update_fields(
            &mut tx,
            id,
            None,
            None,
            None,
            None,
            Some(Status::Archived),
            None,
        )
        .await?;
        self.finish(tx, id, Change::Archived).await
    }

    pub async fn delete_product(&self, id: Uuid) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let current = products::lock(&mut tx, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        if current == Status::Active {
            return Err(Error::FailedPrecondition(
                "The product is ACTIVE; archive it before deleting it.".into(),
            ));
        }
        let version: i64 = sqlx::query_scalar("SELECT version + 1 FROM products WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let keys = products::delete(&mut tx, id).await?;
        let ev = OutboxEvent::of(id.to_string(), &ProductDeleted { id });
        kit::outbox::enqueue(&mut tx, &ev).await?;
        tx.commit().await?;
        self.invalidate(id, version).await;
        for key in keys {
            self.delete_object(&key).await;
        }
        Ok(())
    }

    // ---------- variants ----------

    pub async fn create_variant(&self, product_id: Uuid, v: NewVariant) -> Result<VariantRecord> {
        let mut tx = self.pool.begin().await?;
        products::lock(&mut tx, product_id)
            .await?
            .ok_or_else(|| not_found(product_id))?;
        let (_, currencies) = variants::siblings(&mut tx, product_id, None).await?;
        if currencies.iter().any(|c| *c != v.price.currency) {
            return Err(Error::invalid(
                "variant.price.currency",
                format!(
                    "must be {} like the product's other variants",
                    currencies.join(", ")
                ),
            ));
        }
        if let Some(img) = v.image_id {
            check_image_of(&mut tx, img, product_id, "variant.image_id").await?;
        }
        let id = insert_variant(&mut tx, product_id, &v, "variant").await?;
        self.finish(tx, product_id, Change::Updated).await?;
        let mut c = self.pool.acquire().await?;
        variants::get(&mut c, id)
            .await?
            .ok_or_else(|| Error::NotFound("The variant vanished.".into()))
    }

    pub async fn update_variant(&self, id: Uuid, patch: VariantPatch) -> Result<VariantRecord> {
        let mut tx = self.pool.begin().await?;
        let missing = || Error::NotFound(format!("No variant has the id {id}."));
        let v = variants::get(&mut tx, id).await?.ok_or_else(missing)?;
        products::lock(&mut tx, v.product_id).await?;
        let mut v = variants::get(&mut tx, id).await?.ok_or_else(missing)?;
        if let Some(a) = patch.attributes {
            v.attributes = a;
        }
        if let Some(p) = patch.price {
            let (n, currencies) = variants::siblings(&mut tx, v.product_id, Some(id)).await?;
            if n > 0 && currencies.iter().any(|c| *c != p.currency) {
                return Err(Error::invalid(
                    "variant.price.currency",
                    format!(
                        "must be {} like the product's other variants",
                        currencies.join(", ")
                    ),
                ));
            }
            v.price = p;
        }
        if let Some(c) = patch.compare_at_price {
            v.compare_at_price = c;
        }
        if let Some(w) = patch.weight_grams {
            v.weight_grams = w;
        }
        // The other-currency prices: the new set when given, else the current ones; a price in
        // what is now the primary currency gives way to `price`.
        let others = match &patch.prices {
            Some(given) => {
                let mut violations = Violations::default();
                let others = other_prices(&mut violations, "variant.prices", &v.price, given);
                violations.finish()?;
                others
            }
            None => v
                .prices
                .iter()
                .filter(|p| p.currency != v.price.currency)
                .cloned()
                .collect(),
        };

        if let Some(img) = patch.image_id {
            if let Some(i) = img {
                check_image_of(&mut tx, i, v.product_id, "variant.image_id").await?;
            }
            v.image_id = img;
        }
        if v.compare_at_price.is_some_and(|c| c <= v.price.amount) {
            return Err(Error::invalid(
                "variant.compare_at_price",
                "must be greater than the price",
            ));
        }
        variants::update(&mut tx, &v).await.map_err(|e| {
            if on_constraint(&e, variants::ATTRIBUTES_KEY) {
                Error::AlreadyExists(
                    "Another variant of this product has the same attributes.".into(),
                )
            } else {
                e.into()
            }
        })?;
        variants::set_prices(&mut tx, id, &v.price, &others).await?;
        let product_id = v.product_id;
        self.finish(tx, product_id, Change::Updated).await?;
        let mut c = self.pool.acquire().await?;
        variants::get(&mut c, id).await?.ok_or_else(missing)
    }

    pub async fn delete_variant(&self, id: Uuid) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let missing = || Error::NotFound(format!("No variant has the id {id}."));
        let v = variants::get(&mut tx, id).await?.ok_or_else(missing)?;
        let status = products::lock(&mut tx, v.product_id)
            .await?
            .ok_or_else(missing)?;
        let (n, _) = variants::siblings(&mut tx, v.product_id, Some(id)).await?;
        if status == Status::Active && n == 0 {
            return Err(Error::FailedPrecondition(
                "This is the last variant of an ACTIVE product; archive the product first.".into(),
            ));
        }
        variants::delete(&mut tx, id).await?;
        self.finish(tx, v.product_id, Change::Updated).await?;
        Ok(())
    }

    // ---------- categories ----------

    pub async fn get_category(
        &self,
        id: Option<Uuid>,
        slug: Option<&str>,
    ) -> Result<CategoryRecord> {
        let mut c = self.pool.acquire().await?;
        categories::get(&mut c, id, slug)
            .await?
            .ok_or_else(|| Error::NotFound("No such category.".into()))
    }

    pub async fn list_categories(
        &self,
        root: Option<Uuid>,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<CategoryRecord>> {
        let mut c = self.pool.acquire().await?;
        if let Some(r) = root
            && !categories::exists(&mut c, r).await?
        {
            return Err(Error::NotFound(format!("No category has the id {r}.")));
        }
        Ok(categories::list(&mut c, root, offset, limit).await?)
    }

    pub async fn create_category(
        &self,
        parent: Option<Uuid>,
        slug: Option<String>,
        name: &str,
        description: &str,
        position: Option<i32>,
    ) -> Result<CategoryRecord> {
        let id = Uuid::now_v7();
        let mut tx = self.pool.begin().await?;
        if let Some(p) = parent
            && !categories::exists(&mut tx, p).await?
        {
            return Err(Error::invalid("category.parent_id", "names no category"));
        }
        let position = match position {
            Some(p) => p,
            None => categories::next_position(&mut tx, parent).await?,
        };
        let explicit = slug.is_some();
        let base = slug.unwrap_or_else(|| slugify(name));
        let mut inserted = false;
        for n in 1..=if explicit { 1 } else { 10 } {
            let s = if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
            if categories::insert(&mut tx, id, parent, &s, name, description, position).await? {
                inserted = true;
                break;
            }
        }
        if !inserted {
            return Err(Error::AlreadyExists(format!(
                "The slug `{base}` is taken by another category."
            )));
        }
        tx.commit().await?;
        self.get_category(Some(id), None).await
    }

    pub async fn update_category(
        &self,
        id: Uuid,
        slug: Option<&str>,
        name: Option<&str>,
        description: Option<&str>,
        position: Option<i32>,
    ) -> Result<CategoryRecord> {
        let mut c = self.pool.acquire().await?;
        if !categories::exists(&mut c, id).await? {
            return Err(Error::NotFound(format!("No category has the id {id}.")));
        }
        if !categories::update(&mut c, id, slug, name, description, position).await? {
            return Err(Error::AlreadyExists(format!(
                "The slug `{}` is taken by another category.",
                slug.unwrap_or_default()
            )));
        }
        drop(c);
        self.get_category(Some(id), None).await
    }

    pub async fn move_category(
        &self,
        id: Uuid,
        parent: Option<Uuid>,
        position: Option<i32>,
    ) -> Result<CategoryRecord> {
        let mut tx = self.pool.begin().await?;
        match categories::move_to(&mut tx, id, parent, position).await? {
            MoveOutcome::Moved => {}
            MoveOutcome::NotFound => {
                return Err(Error::NotFound(format!("No category has the id {id}.")));
            }
            MoveOutcome::UnknownParent => {
                return Err(Error::invalid("new_parent_id", "names no category"));
            }
            MoveOutcome::Cycle => {
                return Err(Error::invalid(
                    "new_parent_id",
                    "is the category itself or one of its descendants; the move would make a cycle",
                ));
            }
        }
        tx.commit().await?;
        // A move changes which products a category filter's subtree holds.
        self.bump_search().await;
        self.get_category(Some(id), None).await
    }

    async fn bump_search(&self) {
        if !self.cache.bump_search().await {
            tracing::warn!("could not retire cached search answers");
        }
    }

    pub async fn delete_category(&self, id: Uuid) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("LOCK TABLE categories IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        if !categories::exists(&mut tx, id).await? {
            return Err(Error::NotFound(format!("No category has the id {id}.")));
        }
        if categories::has_children(&mut tx, id).await? {
            return Err(Error::FailedPrecondition(
                "The category has children; move or delete them first.".into(),
            ));
        }
        let affected = categories::delete(&mut tx, id).await?;
        let mut versions = Vec::new();
        for p in &affected {
            versions.push((*p, products::refresh(&mut tx, *p).await?));
        }
        tx.commit().await?;
        for (p, v) in versions {
            self.invalidate(p, v).await;
        }
        self.bump_search().await;
        Ok(())
    }

    // ---------- images ----------

    /// The public URL of an image object: `product.image_url_base` and the key, no signature.
    pub fn image_url(&self, key: &str) -> String {
        format!(
            "{}/{}",
            self.settings.image_url_base.trim_end_matches('/'),
            key
        )
    }

    pub async fn create_upload(
        &self,
        product_id: Uuid,
        content_type: &str,
        size: i64,
    ) -> Result<Upload> {
        let ext = match content_type {
            "image/jpeg" => "jpg",
            "image/png" => "png",
            "image/webp" => "webp",
            "image/avif" => "avif",
            _ => {
                return Err(Error::invalid(
                    "content_type",
                    "must be image/jpeg, image/png, image/webp or image/avif",
                ));
            }
        };
        if !(1..=self.settings.max_image_bytes).contains(&size) {
            return Err(Error::invalid(
                "size_bytes",
                format!("must be between 1 and {}", self.settings.max_image_bytes),
            ));
        }
        let key = format!("products/{product_id}/{}.{ext}", Uuid::now_v7());
        let ttl = Duration::from_secs(self.settings.upload_url_ttl_secs);
        let expires_at = OffsetDateTime::now_utc() + ttl;
        let mut tx = self.pool.begin().await?;
        products::lock(&mut tx, product_id)
            .await?
            .ok_or_else(|| not_found(product_id))?;
        images::record_upload(&mut tx, &key, product_id, content_type, size, expires_at).await?;
        let url = kit::s3::presign_put(&self.presign, &self.bucket, &key, content_type, size, ttl)
            .await?;
        tx.commit().await?;
        Ok(Upload {
            url,
            headers: BTreeMap::from([
                ("Content-Type".to_owned(), content_type.to_owned()),
                ("Content-Length".to_owned(), size.to_string()),
            ]),
            object_key: key,
            expires_at,
        })
    }

    pub async fn create_image(
        &self,
        product_id: Uuid,
        object_key: &str,
        alt_text: &str,
        variant_id: Option<Uuid>,
        position: Option<i32>,
    ) -> Result<ImageRecord> {
        let mut tx = self.pool.begin().await?;
        products::lock(&mut tx, product_id)
            .await?
            .ok_or_else(|| not_found(product_id))?;
        if let Some(v) = variant_id {
            check_variant_of(&mut tx, v, product_id).await?;
        }
        let (content_type, size) = images::take_upload(&mut tx, object_key, product_id)
            .await?
            .ok_or_else(|| {
                Error::invalid(
                    "image.object_key",
                    "was not issued for this product (or is already used)",
                )
            })?;
        let head = self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(object_key)
            .send()
            .await;
        match head {
            Ok(h)
                if h.content_length() == Some(size)
                    && h.content_type().is_none_or(|t| {
                        t.split(';').next().unwrap_or("").trim() == content_type
                    }) => {}
            Ok(h) if h.content_length() == Some(size) => {
                return Err(Error::FailedPrecondition(format!(
                    "The uploaded object is {}; {content_type} was announced.",
                    h.content_type().unwrap_or("untyped")
                )));
            }
            Ok(h) => {
                return Err(Error::FailedPrecondition(format!(
                    "The uploaded object has {} bytes; {size} were announced.",
                    h.content_length().unwrap_or(0)
                )));
            }
            Err(e) => {
                let not_there = e.as_service_error().is_some_and(|s| s.is_not_found());
                if not_there {
                    return Err(Error::FailedPrecondition(
                        "Nothing was uploaded under this key yet; PUT the image to the upload URL first.".into(),
                    ));
                }
                return Err(Error::Internal(anyhow::anyhow!(
                    "checking the upload: {}",
                    kit::s3::describe_error(&e)
                )));
            }
        }
        let img = ImageRecord {
            id: Uuid::now_v7(),
            product_id,
            variant_id,
            object_key: object_key.to_owned(),
            alt_text: alt_text.to_owned(),
            position: 0,
            content_type,
            size_bytes: size,
            created_at: OffsetDateTime::now_utc(),
        };
        images::insert_at(&mut tx, &img, position).await?;
        self.finish(tx, product_id, Change::Updated).await?;
        let mut c = self.pool.acquire().await?;
        images::get(&mut c, img.id)
            .await?
            .ok_or_else(|| Error::NotFound("The image vanished.".into()))
    }

    pub async fn update_image(
        &self,
        id: Uuid,
        alt_text: Option<String>,
        variant_id: Option<Option<Uuid>>,
    ) -> Result<ImageRecord> {
        let missing = || Error::NotFound(format!("No image has the id {id}."));
        let mut tx = self.pool.begin().await?;
        let img = images::get(&mut tx, id).await?.ok_or_else(missing)?;
        products::lock(&mut tx, img.product_id).await?;
        if let Some(Some(v)) = variant_id {
            check_variant_of(&mut tx, v, img.product_id).await?;
        }
        images::update(
            &mut tx,
            id,
            alt_text.as_deref().unwrap_or(&img.alt_text),
            variant_id.unwrap_or(img.variant_id),
        )
        .await?;
        self.finish(tx, img.product_id, Change::Updated).await?;
        let mut c = self.pool.acquire().await?;
        images::get(&mut c, id).await?.ok_or_else(missing)
    }

    pub async fn delete_image(&self, id: Uuid) -> Result<()> {
        let missing = || Error::NotFound(format!("No image has the id {id}."));
        let mut tx = self.pool.begin().await?;
        let img = images::get(&mut tx, id).await?.ok_or_else(missing)?;
        products::lock(&mut tx, img.product_id).await?;
        let img = images::get(&mut tx, id).await?.ok_or_else(missing)?;
        images::delete(&mut tx, &img).await?;
        self.finish(tx, img.product_id, Change::Updated).await?;
        self.delete_object(&img.object_key).await;
        Ok(())
    }

    pub async fn reorder_images(&self, product_id: Uuid, ids: &[Uuid]) -> Result<Vec<ImageRecord>> {
        let mut tx = self.pool.begin().await?;
        products::lock(&mut tx, product_id)
            .await?
            .ok_or_else(|| not_found(product_id))?;
        let mut current = images::ids_of(&mut tx, product_id).await?;
        let mut given = ids.to_vec();
        current.sort();
        given.sort();
        if current != given {
            return Err(Error::invalid(
                "image_ids",
                "must list every image of the product exactly once",
            ));
        }
        images::reorder(&mut tx, product_id, ids).await?;
        let rec = self.finish(tx, product_id, Change::Updated).await?;
        Ok(rec.images)
    }

    async fn delete_object(&self, key: &str) {
        if let Err(e) = self
            .s3
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            tracing::warn!(object_key = key, error = %kit::s3::describe_error(&e), "could not delete an image object");
        }
    }
}

fn check_one_currency<'a>(
    mut currencies: impl Iterator<Item = &'a String>,
    field: &str,
) -> Result<()> {
    if let Some(first) = currencies.next()
        && currencies.any(|c| c != first)
    {
        return Err(Error::invalid(
            field,
            "all variants of a product must share one currency",
        ));
    }
    Ok(())
}

async fn insert_variant(
    c: &mut PgConnection,
    product_id: Uuid,
    v: &NewVariant,
    field: &str,
) -> Result<Uuid> {
    let id = Uuid::now_v7();
    variants::insert(
        c,
        id,
        product_id,
        &v.sku,
        &v.attributes,
        &v.price,
        v.compare_at_price,
        v.image_id,
        v.weight_grams,
    )
    .await
    .map_err(|e| {
        if on_constraint(&e, variants::SKU_KEY) {
            Error::AlreadyExists(format!("The SKU `{}` is taken ({field}.sku).", v.sku))
        } else if on_constraint(&e, variants::ATTRIBUTES_KEY) {
            Error::AlreadyExists(format!(
                "Another variant of this product has the same attributes ({field}.attributes)."
            ))
        } else {
            e.into()
        }
    })?;
    variants::set_prices(c, id, &v.price, &v.other_prices).await?;
    Ok(id)
}

async fn check_image_of(
    c: &mut PgConnection,
    image: Uuid,
    product: Uuid,
    field: &str,
) -> Result<()> {
    match images::get(c, image).await? {
        Some(i) if i.product_id == product => Ok(()),
        _ => Err(Error::invalid(field, "names no image of this product")),
    }
}

async fn check_variant_of(c: &mut PgConnection, variant: Uuid, product: Uuid) -> Result<()> {
    match variants::get(c, variant).await? {
        Some(v) if v.product_id == product => Ok(()),
        _ => Err(Error::invalid(
            "image.variant_id",
            "names no variant of this product",
        )),
    }
}
