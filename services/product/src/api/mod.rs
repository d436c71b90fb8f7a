//! The gRPC API (`storefront.product.v1.ProductService`): who is calling, request parsing into
//! checked values, and the call into [`Catalog`]. Handlers stay thin.

mod convert;
mod parse;

use parse::*;

use std::collections::{BTreeMap, HashSet};

use kit::jwt::{Claims, JwksVerifier, Role};
use storefront_proto::product::v1 as pb;
use storefront_proto::product::v1::product_service_server::ProductService;
use time::OffsetDateTime;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::domain::{
    self, CATEGORIES_MAX, Money, QUERY_MAX, SPECS_MAX, Spec, VARIANTS_MAX, Violations, check_text,
};
use crate::error::Error;
use crate::service::{Catalog, NewProduct, NewVariant, ProductPatch, VariantPatch};
use crate::store::search::{self, Cursor, Filters, Sort};
use crate::store::{categories, products};

pub use storefront_proto::product::v1::product_service_server::ProductServiceServer;

type Rpc<T> = Result<Response<T>, Status>;

/// The service behind the generated server. Cheap to clone.
#[derive(Clone)]
pub struct ProductApi {
    pub catalog: Catalog,
    pub verifier: JwksVerifier,
}

impl ProductApi {
    /// The caller of a read: anonymous without a token; a token that is sent must be valid.
    async fn reader<T>(&self, req: &Request<T>) -> Result<bool, Status> {
        if req.metadata().get("authorization").is_none() {
            return Ok(false);
        }
        let c = self.verifier.verify_grpc_request(req).await?;
        Ok(c.is_admin())
    }

    async fn admin<T>(&self, req: &Request<T>) -> Result<Claims, Status> {
        let claims = self.verifier.verify_grpc_request(req).await?;
        claims.require_role(Role::Admin)?;
        Ok(claims)
    }
}

fn ok<T>(t: T) -> Rpc<T> {
    Ok(Response::new(t))
}

const PRODUCT_PATHS: [&str; 9] = [
    "slug",
    "name",
    "brand",
    "description",
    "status",
    "category_ids",
    "tags",
    "specifications",
    "tax_category",
];

const VARIANT_PATHS: [&str; 6] = [
    "attributes",
    "price",
    "prices",
    "compare_at_price",
    "image_id",
    "weight_grams",
];

#[tonic::async_trait]
impl ProductService for ProductApi {
    async fn get_product(&self, req: Request<pb::GetProductRequest>) -> Rpc<pb::Product> {
        let admin = self.reader(&req).await?;
        let p = match req.into_inner().lookup {
            Some(pb::get_product_request::Lookup::Id(id)) => {
                self.catalog.get(parse_uuid("id", &id)?, admin).await?
            }
            Some(pb::get_product_request::Lookup::Slug(slug)) if !slug.is_empty() => {
                self.catalog.get_by_slug(&slug, admin).await?
            }
            _ => return Err(Error::invalid("lookup", "give an id or a slug").into()),
        };
        ok(convert::product(&self.catalog, &p))
    }

    async fn batch_get_products(
        &self,
        req: Request<pb::BatchGetProductsRequest>,
    ) -> Rpc<pb::BatchGetProductsResponse> {
        let admin = self.reader(&req).await?;
        let r = req.into_inner();
        if r.ids.is_empty() || r.ids.len() > 100 {
            return Err(Error::invalid("ids", "must hold 1 to 100 ids").into());
        }
        let ids = r
            .ids
            .iter()
            .enumerate()
            .map(|(i, s)| parse_uuid(&format!("ids[{i}]"), s))
            .collect::<Result<Vec<_>, _>>()?;
        let (found, missing) = self.catalog.batch_get(&ids, admin).await?;
        let mut products = Vec::with_capacity(found.len());
        for p in &found {
            products.push(convert::product(&self.catalog, p));
        }
        ok(pb::BatchGetProductsResponse {
            products,
            missing_ids: missing.iter().map(ToString::to_string).collect(),
        })
    }

    async fn batch_get_variants_by_sku(
        &self,
        req: Request<pb::BatchGetVariantsBySkuRequest>,
    ) -> Rpc<pb::BatchGetVariantsBySkuResponse> {
        let r = req.into_inner();
        if r.skus.is_empty() || r.skus.len() > 100 {
            return Err(Error::invalid("skus", "must hold 1 to 100 SKUs").into());
        }
        let (found, missing) = self.catalog.variants_by_sku(&r.skus).await?;
        let mut variants = Vec::with_capacity(found.len());
        for (v, p) in &found {
            variants.push(pb::SkuVariant {
                variant: Some(convert::variant(v)),
                product: Some(convert::summary(&self.catalog, p, v)),
            });
        }
        ok(pb::BatchGetVariantsBySkuResponse {
            variants,
            missing_skus: missing,
        })
    }

    async fn list_products(
        &self,
        req: Request<pb::ListProductsRequest>,
    ) -> Rpc<pb::ListProductsResponse> {
        let admin = self.reader(&req).await?;
        let r = req.into_inner();
        let limit = page_size(r.page_size, 20, 100)?;
        let mut v = Violations::default();
        let status = parse_status(&mut v, "status", r.status);
        let category = opt_uuid(&mut v, "category_id", Some(&r.category_id));
        v.finish()?;
        let statuses: Option<&str> = match (status, admin) {
            (Some(s), true) => Some(s.as_str()),
            (None, true) => None,
            (Some(domain::Status::Active) | None, false) => Some("active"),
            (Some(_), false) => {
                return Err(Error::Forbidden(
                    "Only admins may list products that are not ACTIVE.".into(),
                )
                .into());
            }
        };
        let fingerprint = format!("list|{statuses:?}|{category:?}");
        let after = if r.page_token.is_empty() {
            None
        } else {
            let c = Cursor::decode(&r.page_token)
                .filter(|c| c.f == fingerprint)
                .and_then(|c| c.k.zip(c.i))
                .ok_or_else(|| Error::invalid("page_token", "is not a token of this listing"))?;
            let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(c.0) * 1000)
                .map_err(|_| Error::invalid("page_token", "is not a token of this listing"))?;
            Some((t, c.1))
        };
        let mut conn = self.catalog.pool.acquire().await.map_err(Error::from)?;
        let subtree = match category {
            Some(c) => Some(
                categories::subtree_ids(&mut conn, c)
                    .await
                    .map_err(Error::from)?,
            ),
            None => None,
        };
        let rows = products::list_page(&mut conn, statuses, subtree.as_deref(), after, limit + 1)
            .await
            .map_err(Error::from)?;
        drop(conn);
        let more = rows.len() as i64 > limit;
        let rows: Vec<_> = rows.into_iter().take(limit as usize).collect();
        let next_page_token = match (more, rows.last()) {
            (true, Some((id, t))) => Cursor {
                f: fingerprint,
                k: Some((t.unix_timestamp_nanos() / 1000) as i64),
                i: Some(*id),
                o: None,
            }
            .encode(),
            _ => String::new(),
        };
        let ids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
        let (found, _) = self.catalog.batch_get(&ids, true).await?;
        let mut products = Vec::with_capacity(found.len());
        for p in &found {
            products.push(convert::product(&self.catalog, p));
        }
        ok(pb::ListProductsResponse {
            products,
            next_page_token,
        })
    }

    async fn search_products(
        &self,
        req: Request<pb::SearchProductsRequest>,
    ) -> Rpc<pb::SearchProductsResponse> {
        let admin = self.reader(&req).await?;
        let r = req.into_inner();
        let limit = page_size(r.page_size, 20, 100)?;
        let mut v = Violations::default();
        let query = r.query.trim().to_owned();
        if query.chars().count() > QUERY_MAX {
            v.push("query", format!("must be at most {QUERY_MAX} characters"));
        }
        let category = opt_uuid(&mut v, "category_id", Some(&r.category_id));
        if r.brands.len() > 20 {
            v.push("brands", "may hold at most 20 brands");
        }
        if r.tags.len() > 20 {
            v.push("tags", "may hold at most 20 tags");
        }
        let min = parse_money(&mut v, "min_price", r.min_price.as_ref(), false);
        let max = parse_money(&mut v, "max_price", r.max_price.as_ref(), false);
        let price = match (&min, &max) {
            (Some(a), Some(b)) if a.currency != b.currency => {
                v.push("max_price.currency", "must be the currency of min_price");
                None
            }
            // `min_price` above `max_price` is an empty range: it matches nothing.
            (None, None) => None,
            _ => {
                let cur = min
                    .as_ref()
                    .or(max.as_ref())
                    .map(|m| m.currency.clone())
                    .unwrap_or_default();
                Some((
                    min.as_ref().map(|m| m.amount),
                    max.as_ref().map(|m| m.amount),
                    cur,
                ))
            }
        };
        if r.attribute_filters.len() > 10 {
            v.push("attribute_filters", "may hold at most 10 filters");
        }
        let mut names = HashSet::new();
        let mut attributes = Vec::new();
        for (i, a) in r.attribute_filters.iter().enumerate() {
            if a.name.is_empty() || !names.insert(a.name.clone()) {
                v.push(
                    format!("attribute_filters[{i}].name"),
                    "must be given once per attribute",
                );
            }
            if a.values.is_empty() || a.values.len() > 20 {
                v.push(
                    format!("attribute_filters[{i}].values"),
                    "must hold 1 to 20 values",
                );
            }
            attributes.push((a.name.clone(), a.values.clone()));
        }
        attributes.sort();
        let sort = match pb::SearchSort::try_from(r.sort) {
            Ok(pb::SearchSort::PriceAsc) => Sort::PriceAsc,
            Ok(pb::SearchSort::PriceDesc) => Sort::PriceDesc,
            Ok(pb::SearchSort::Newest) => Sort::Newest,
            Ok(pb::SearchSort::Relevance | pb::SearchSort::Unspecified) if !query.is_empty() => {
                Sort::Relevance
            }
            Ok(_) => Sort::Newest,
            Err(_) => {
                v.push("sort", "is not a known sort order");
                Sort::Newest
            }
        };
        v.finish()?;
        let mut brands: Vec<String> = r.brands.iter().map(|b| b.trim().to_lowercase()).collect();
        brands.sort();
        brands.dedup();
        let mut tags: Vec<String> = r.tags.iter().map(|t| t.trim().to_lowercase()).collect();
        tags.sort();
        tags.dedup();
        let categories = match category {
            Some(c) => {
                let mut conn = self.catalog.pool.acquire().await.map_err(Error::from)?;
                Some(
                    categories::subtree_ids(&mut conn, c)
                        .await
                        .map_err(Error::from)?,
                )
            }
            None => None,
        };
        let filters = Filters {
            statuses: if admin {
                vec!["draft".into(), "active".into(), "archived".into()]
            } else {
                vec!["active".into()]
            },
            query: (!query.is_empty()).then_some(query),
            categories,
            brands,
            tags,
            price,
            attributes,
            in_stock: r.in_stock,
        };
        let cursor = if r.page_token.is_empty() {
            None
        } else {
            let fp = filters.fingerprint(sort);
            Some(
                Cursor::decode(&r.page_token)
                    .filter(|c| c.f == fp)
                    .ok_or_else(|| Error::invalid("page_token", "is not a token of this search"))?,
            )
        };
        let cache_key = self
            .catalog
            .cache
            .search_key(&filters.cache_key(sort, &r.page_token, limit))
            .await;
        let cached = match &cache_key {
            Some(k) => self.catalog.cache.search_get::<search::SearchPage>(k).await,
            None => None,
        };
        let page = match cached {
            Some(page) => page,
            None => {
                // A computed search runs on the search pool: a bounded number at once, so a
                // flood of distinct searches cannot take every core from the product pages;
                // past the queue the answer is 503 with `Retry-After`. It first takes in every
                // write committed before it began (see `index::sync`).
                let turn = self.catalog.search_gate.reserve().await?;
                self.catalog.catch_up_index().await?;
                let index = self.catalog.index.clone();
                let (filters, cursor) = (filters.clone(), cursor.clone());
                let page = turn
                    .run(move || index.read(|ix| ix.search(&filters, sort, cursor.as_ref(), limit)))
                    .await;
                if let Some(k) = &cache_key {
                    self.catalog.cache.search_put(k, &page).await;
                }
                page
            }
        };
        let ids: Vec<Uuid> = page.hits.iter().map(|h| h.0).collect();
        let (found, _) = self.catalog.batch_get(&ids, true).await?;
        let scores = search::order_index(&page.hits);
        let mut hits = Vec::with_capacity(found.len());
        for p in &found {
            hits.push(pb::SearchHit {
                product: Some(convert::product(&self.catalog, p)),
                score: scores.get(&p.id).copied().unwrap_or(0.0),
            });
        }
        let values = |list: Vec<(String, i64)>| {
            list.into_iter()
                .map(|(value, count)| pb::FacetValue { value, count })
                .collect()
        };
        let f = page.facets;
        ok(pb::SearchProductsResponse {
            hits,
            next_page_token: page.next.map(|c| c.encode()).unwrap_or_default(),
            total_size: page.total,
            facets: Some(pb::Facets {
                brands: values(f.brands),
                categories: values(f.categories),
                tags: values(f.tags),
                attributes: f
                    .attributes
                    .into_iter()
                    .map(|(name, vals)| pb::AttributeFacet {
                        name,
                        values: values(vals),
                    })
                    .collect(),
                price_range: f.price.map(|(currency, min, max)| pb::PriceRange {
                    min: Some(pb::Money {
                        amount_minor: min,
                        currency: currency.clone(),
                    }),
                    max: Some(pb::Money {
                        amount_minor: max,
                        currency,
                    }),
                }),
            }),
        })
    }

    async fn create_product(&self, req: Request<pb::CreateProductRequest>) -> Rpc<pb::Product> {
        self.admin(&req).await?;
        let Some(p) = req.into_inner().product else {
            return Err(Error::invalid("product", "is required").into());
        };
        let mut v = Violations::default();
        let name = p.name.trim().to_owned();
        check_text(&mut v, "product.name", &name, 1, domain::NAME_MAX, false);
        check_text(
            &mut v,
            "product.brand",
            p.brand.trim(),
            0,
            domain::BRAND_MAX,
            false,
        );
        check_text(
            &mut v,
            "product.description",
            &p.description,
            0,
            domain::DESCRIPTION_MAX,
            true,
        );
        let slug = parse_slug(&mut v, "product.slug", &p.slug);
        let status = parse_status(&mut v, "product.status", p.status);
        let tax_category = parse_tax_category(&mut v, "product.tax_category", p.tax_category);
        let category_ids = parse_categories(&mut v, &p.category_ids);
        let tags = domain::normalise_tags(&mut v, &p.tags);
        let specifications = parse_specs(&mut v, &p.specifications);
        if p.variants.len() > VARIANTS_MAX {
            v.push(
                "product.variants",
                format!("may hold at most {VARIANTS_MAX} variants"),
            );
        }
        let variants: Vec<NewVariant> = p
            .variants
            .iter()
            .enumerate()
            .filter_map(|(i, raw)| {
                parse_new_variant(&mut v, &format!("product.variants[{i}]"), raw)
            })
            .collect();
        v.finish()?;
        let rec = self
            .catalog
            .create_product(NewProduct {
                slug,
                name,
                brand: p.brand.trim().to_owned(),
                description: p.description,
                status,
                tax_category: tax_category.unwrap_or_default(),
                category_ids,
                tags,
                specifications,
                variants,
            })
            .await?;
        ok(convert::product(&self.catalog, &rec))
    }

    async fn update_product(&self, req: Request<pb::UpdateProductRequest>) -> Rpc<pb::Product> {
        self.admin(&req).await?;
        let r = req.into_inner();
        let Some(p) = r.product else {
            return Err(Error::invalid("product", "is required").into());
        };
        let id = parse_uuid("product.id", &p.id)?;
        let mut v = Violations::default();
        let paths = mask(&mut v, r.update_mask.as_ref(), &PRODUCT_PATHS);
        let has = |p: &str| paths.contains(p);
        let mut patch = ProductPatch::default();
        if has("slug") {
            // `*` with an empty slug keeps the current one: slugs change only when given.
            patch.slug = parse_slug(&mut v, "product.slug", &p.slug);
        }
        if has("name") {
            let name = p.name.trim().to_owned();
            check_text(&mut v, "product.name", &name, 1, domain::NAME_MAX, false);
            patch.name = Some(name);
        }
        if has("brand") {
            check_text(
                &mut v,
                "product.brand",
                p.brand.trim(),
                0,
                domain::BRAND_MAX,
                false,
            );
            patch.brand = Some(p.brand.trim().to_owned());
        }
        if has("description") {
            check_text(
                &mut v,
                "product.description",
                &p.description,
                0,
                domain::DESCRIPTION_MAX,
                true,
            );
            patch.description = Some(p.description.clone());
        }
        if has("status") {
            patch.status = parse_status(&mut v, "product.status", p.status);
            if patch.status.is_none() {
                v.push("product.status", "must be DRAFT, ACTIVE or ARCHIVED");
            }
        }
        if has("category_ids") {
            patch.category_ids = Some(parse_categories(&mut v, &p.category_ids));
        }
        if has("tags") {
            patch.tags = Some(domain::normalise_tags(&mut v, &p.tags));
        }
        if has("specifications") {
            patch.specifications = Some(parse_specs(&mut v, &p.specifications));
        }
        if has("tax_category") {
            patch.tax_category = parse_tax_category(&mut v, "product.tax_category", p.tax_category);
            if patch.tax_category.is_none() {
                v.push("product.tax_category", "must be STANDARD, REDUCED or ZERO");
            }
        }
        v.finish()?;
        let rec = self.catalog.update_product(id, patch).await?;
        ok(convert::product(&self.catalog, &rec))
    }

    async fn archive_product(&self, req: Request<pb::ArchiveProductRequest>) -> Rpc<pb::Product> {
        self.admin(&req).await?;
        let id = parse_uuid("id", &req.get_ref().id)?;
        let rec = self.catalog.archive_product(id).await?;
        ok(convert::product(&self.catalog, &rec))
    }

    async fn delete_product(&self, req: Request<pb::DeleteProductRequest>) -> Rpc<()> {
        self.admin(&req).await?;
        let id = parse_uuid("id", &req.get_ref().id)?;
        self.catalog.delete_product(id).await?;
        ok(())
    }

    async fn create_variant(&self, req: Request<pb::CreateVariantRequest>) -> Rpc<pb::Variant> {
        self.admin(&req).await?;
        let r = req.into_inner();
        let product_id = parse_uuid("product_id", &r.product_id)?;
        let raw = r.variant.unwrap_or_default();
        let mut v = Violations::default();
        let nv = parse_new_variant(&mut v, "variant", &raw);
        v.finish()?;
        let Some(nv) = nv else {
            return Err(Error::invalid("variant", "is invalid").into());
        };
        let rec = self.catalog.create_variant(product_id, nv).await?;
        ok(convert::variant(&rec))
    }

    async fn update_variant(&self, req: Request<pb::UpdateVariantRequest>) -> Rpc<pb::Variant> {
        self.admin(&req).await?;
        let r = req.into_inner();
        let raw = r.variant.unwrap_or_default();
        let id = parse_uuid("variant.id", &raw.id)?;
        let mut v = Violations::default();
        let paths = mask(&mut v, r.update_mask.as_ref(), &VARIANT_PATHS);
        let mut patch = VariantPatch::default();
        if paths.contains("attributes") {
            let a: BTreeMap<String, String> = raw.attributes.clone().into_iter().collect();
            domain::check_attributes(&mut v, "variant.attributes", &a);
            patch.attributes = Some(a);
        }
        let price = if paths.contains("price") {
            let p = parse_money(&mut v, "variant.price", raw.price.as_ref(), true);
            patch.price = p.clone();
            p
        } else {
            None
        };
        if paths.contains("compare_at_price") {
            let c = parse_money(
                &mut v,
                "variant.compare_at_price",
                raw.compare_at_price.as_ref(),
                false,
            );
            if let (Some(c), Some(p)) = (&c, &price)
                && c.currency != p.currency
            {
                v.push(
                    "variant.compare_at_price.currency",
                    "must be the price's currency",
                );
            }
            patch.compare_at_price = Some(c.map(|c| c.amount));
        }
        if paths.contains("image_id") {
            patch.image_id = Some(opt_uuid(
                &mut v,
                "variant.image_id",
                raw.image_id.as_deref(),
            ));
        }
        if paths.contains("prices") {
            let prices = parse_prices(&mut v, "variant.prices", &raw.prices);
            // With a new price the primary-currency entries can be checked now; otherwise the
            // catalog checks them against the stored price.
            if let Some(p) = &price {
                domain::other_prices(&mut v, "variant.prices", p, &prices);
            }
            patch.prices = Some(prices);
        }
        if paths.contains("weight_grams") {
            domain::check_weight(&mut v, "variant.weight_grams", raw.weight_grams);
            patch.weight_grams = Some(raw.weight_grams);
        }
        v.finish()?;
        let rec = self.catalog.update_variant(id, patch).await?;
        ok(convert::variant(&rec))
    }

    async fn delete_variant(&self, req: Request<pb::DeleteVariantRequest>) -> Rpc<()> {
        self.admin(&req).await?;
        let id = parse_uuid("id", &req.get_ref().id)?;
        self.catalog.delete_variant(id).await?;
        ok(())
    }

    async fn get_category(&self, req: Request<pb::GetCategoryRequest>) -> Rpc<pb::Category> {
        let c = match req.into_inner().lookup {
            Some(pb::get_category_request::Lookup::Id(id)) => {
                self.catalog
                    .get_category(Some(parse_uuid("id", &id)?), None)
                    .await?
            }
            Some(pb::get_category_request::Lookup::Slug(s)) if !s.is_empty() => {
                self.catalog.get_category(None, Some(&s)).await?
            }
            _ => return Err(Error::invalid("lookup", "give an id or a slug").into()),
        };
        ok(convert::category(&c))
    }

    async fn list_categories(
        &self,
        req: Request<pb::ListCategoriesRequest>,
    ) -> Rpc<pb::ListCategoriesResponse> {
        let r = req.into_inner();
        let limit = page_size(r.page_size, 1000, 1000)?;
        let mut v = Violations::default();
        let root = opt_uuid(&mut v, "root_id", r.root_id.as_deref());
        v.finish()?;
        let fingerprint = format!("categories|{root:?}");
        let offset = if r.page_token.is_empty() {
            0
        } else {
            Cursor::decode(&r.page_token)
                .filter(|c| c.f == fingerprint)
                .and_then(|c| c.o)
                .ok_or_else(|| Error::invalid("page_token", "is not a token of this listing"))?
        };
        let mut list = self
            .catalog
            .list_categories(root, offset, limit + 1)
            .await?;
        let more = list.len() as i64 > limit;
        list.truncate(limit as usize);
        ok(pb::ListCategoriesResponse {
            categories: list.iter().map(convert::category).collect(),
            next_page_token: if more {
                Cursor {
                    f: fingerprint,
                    k: None,
                    i: None,
                    o: Some(offset + limit),
                }
                .encode()
            } else {
                String::new()
            },
        })
    }

    async fn create_category(&self, req: Request<pb::CreateCategoryRequest>) -> Rpc<pb::Category> {
        self.admin(&req).await?;
        let Some(c) = req.into_inner().category else {
            return Err(Error::invalid("category", "is required").into());
        };
        let mut v = Violations::default();
        let name = c.name.trim().to_owned();
        check_text(
            &mut v,
            "category.name",
            &name,
            1,
            domain::CATEGORY_NAME_MAX,
            false,
        );
        check_text(
            &mut v,
            "category.description",
            &c.description,
            0,
            domain::CATEGORY_DESCRIPTION_MAX,
            true,
        );
        let slug = parse_slug(&mut v, "category.slug", &c.slug);
        let parent = opt_uuid(&mut v, "category.parent_id", c.parent_id.as_deref());
        v.check(c.position >= 0, "category.position", "must not be negative");
        v.finish()?;
        let rec = self
            .catalog
            .create_category(
                parent,
                slug,
                &name,
                &c.description,
                (c.position > 0).then_some(c.position),
            )
            .await?;
        ok(convert::category(&rec))
    }

    async fn update_category(&self, req: Request<pb::UpdateCategoryRequest>) -> Rpc<pb::Category> {
        self.admin(&req).await?;
        let r = req.into_inner();
        let c = r.category.unwrap_or_default();
        let id = parse_uuid("category.id", &c.id)?;
        let mut v = Violations::default();
        let paths = mask(
            &mut v,
            r.update_mask.as_ref(),
            &["slug", "name", "description", "position"],
        );
        let slug = if paths.contains("slug") {
            parse_slug(&mut v, "category.slug", &c.slug)
        } else {
            None
        };
        let name = paths.contains("name").then(|| c.name.trim().to_owned());
        if let Some(n) = &name {
            check_text(
                &mut v,
                "category.name",
                n,
                1,
                domain::CATEGORY_NAME_MAX,
                false,
            );
        }
        let description = paths.contains("description").then(|| c.description.clone());
        if let Some(d) = &description {
            check_text(
                &mut v,
                "category.description",
                d,
                0,
                domain::CATEGORY_DESCRIPTION_MAX,
                true,
            );
        }
        let position = paths.contains("position").then_some(c.position);
        v.check(
            position.is_none_or(|p| p >= 0),
            "category.position",
            "must not be negative",
        );
        v.finish()?;
        let rec = self
            .catalog
            .update_category(
                id,
                slug.as_deref(),
                name.as_deref(),
                description.as_deref(),
                position,
            )
            .await?;
        ok(convert::category(&rec))
    }

    async fn move_category(&self, req: Request<pb::MoveCategoryRequest>) -> Rpc<pb::Category> {
        self.admin(&req).await?;
        let r = req.into_inner();
        let id = parse_uuid("id", &r.id)?;
        let mut v = Violations::default();
        let parent = opt_uuid(&mut v, "new_parent_id", r.new_parent_id.as_deref());
        v.check(
            r.position.is_none_or(|p| p >= 0),
            "position",
            "must not be negative",
        );
        v.finish()?;
        let rec = self.catalog.move_category(id, parent, r.position).await?;
        ok(convert::category(&rec))
    }

    async fn delete_category(&self, req: Request<pb::DeleteCategoryRequest>) -> Rpc<()> {
        self.admin(&req).await?;
        let id = parse_uuid("id", &req.get_ref().id)?;
        self.catalog.delete_category(id).await?;
        ok(())
    }

    async fn create_image_upload(
        &self,
        req: Request<pb::CreateImageUploadRequest>,
    ) -> Rpc<pb::CreateImageUploadResponse> {
        self.admin(&req).await?;
        let r = req.into_inner();
        let product_id = parse_uuid("product_id", &r.product_id)?;
        let u = self
            .catalog
            .create_upload(product_id, &r.content_type, r.size_bytes)
            .await?;
        ok(pb::CreateImageUploadResponse {
            upload_url: u.url,
            upload_headers: u.headers.into_iter().collect(),
            object_key: u.object_key,
            expire_time: convert::ts(u.expires_at),
        })
    }

    async fn create_image(&self, req: Request<pb::CreateImageRequest>) -> Rpc<pb::Image> {
        self.admin(&req).await?;
        let r = req.into_inner();
        let product_id = parse_uuid("product_id", &r.product_id)?;
        let img = r.image.unwrap_or_default();
        let mut v = Violations::default();
        v.check(
            !img.object_key.is_empty(),
            "image.object_key",
            "is required",
        );
        check_text(
            &mut v,
            "image.alt_text",
            &img.alt_text,
            0,
            domain::ALT_TEXT_MAX,
            false,
        );
        let variant = opt_uuid(&mut v, "image.variant_id", img.variant_id.as_deref());
        v.finish()?;
        let rec = self
            .catalog
            .create_image(
                product_id,
                &img.object_key,
                &img.alt_text,
                variant,
                r.position,
            )
            .await?;
        ok(convert::image(&self.catalog, &rec))
    }

    async fn update_image(&self, req: Request<pb::UpdateImageRequest>) -> Rpc<pb::Image> {
        self.admin(&req).await?;
        let r = req.into_inner();
        let img = r.image.unwrap_or_default();
        let id = parse_uuid("image.id", &img.id)?;
        let mut v = Violations::default();
        let paths = mask(&mut v, r.update_mask.as_ref(), &["alt_text", "variant_id"]);
        let alt = paths.contains("alt_text").then(|| img.alt_text.clone());
        if let Some(a) = &alt {
            check_text(&mut v, "image.alt_text", a, 0, domain::ALT_TEXT_MAX, false);
        }
        let variant = paths
            .contains("variant_id")
            .then(|| opt_uuid(&mut v, "image.variant_id", img.variant_id.as_deref()));
        v.finish()?;
        let rec = self.catalog.update_image(id, alt, variant).await?;
        ok(convert::image(&self.catalog, &rec))
    }

    async fn delete_image(&self, req: Request<pb::DeleteImageRequest>) -> Rpc<()> {
        self.admin(&req).await?;
        let id = parse_uuid("id", &req.get_ref().id)?;
        self.catalog.delete_image(id).await?;
        ok(())
    }

    async fn reorder_images(
        &self,
        req: Request<pb::ReorderImagesRequest>,
    ) -> Rpc<pb::ReorderImagesResponse> {
        self.admin(&req).await?;
        let r = req.into_inner();
        let product_id = parse_uuid("product_id", &r.product_id)?;
        let ids = r
            .image_ids
            .iter()
            .enumerate()
            .map(|(i, s)| parse_uuid(&format!("image_ids[{i}]"), s))
            .collect::<Result<Vec<_>, _>>()?;
        let list = self.catalog.reorder_images(product_id, &ids).await?;
        let images = list
            .iter()
            .map(|i| convert::image(&self.catalog, i))
            .collect();
        ok(pb::ReorderImagesResponse { images })
    }
}
