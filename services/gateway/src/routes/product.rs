//! The catalog over REST: public `GET /api/v1/products` (search with facets),
//! `GET /api/v1/products/{id_or_slug}` and `GET /api/v1/categories`, and the admin routes under
//! `/api/v1/admin/products` and `/api/v1/admin/categories` (role admin, checked here and again
//! by the product service), in front of the product service's gRPC API.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use kit::jwt::AdminUser;
use kit::problem::extract::{Json, Path, Query};
use kit::problem::{FieldError, Problem};
use kit::upstream::grpc_request;
use serde::{Deserialize, Deserializer, Serialize};
use storefront_proto::product::v1 as pb;
use storefront_proto::product::v1::product_service_client::ProductServiceClient;
use tonic::transport::Channel;
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::rfc3339;
use crate::AppState;
use crate::openapi::Problem as ProblemDoc;

/// The catalog routes: public reads, and the admin routes behind [`crate::protect`].
pub fn router(state: &AppState) -> Router<AppState> {
    let public = Router::new()
        .route("/api/v1/products", get(search_products))
        .route("/api/v1/products/{id_or_slug}", get(get_product))
        .route("/api/v1/categories", get(list_categories));
    let admin = Router::new()
        .route(
            "/api/v1/admin/products",
            get(admin_list_products).post(create_product),
        )
        .route(
            "/api/v1/admin/products/{id}",
            patch(update_product).delete(delete_product),
        )
        .route("/api/v1/admin/products/{id}/archive", post(archive_product))
        .route("/api/v1/admin/products/{id}/variants", post(create_variant))
        .route(
            "/api/v1/admin/products/{id}/variants/{variant_id}",
            patch(update_variant).delete(delete_variant),
        )
        .route(
            "/api/v1/admin/products/{id}/images/upload-url",
            post(create_upload),
        )
        .route("/api/v1/admin/products/{id}/images", post(create_image))
        .route(
            "/api/v1/admin/products/{id}/images/order",
            put(reorder_images),
        )
        .route(
            "/api/v1/admin/products/{id}/images/{image_id}",
            patch(update_image).delete(delete_image),
        )
        .route("/api/v1/admin/categories", post(create_category))
        .route(
            "/api/v1/admin/categories/{id}",
            patch(update_category).delete(delete_category),
        )
        .route("/api/v1/admin/categories/{id}/move", post(move_category));
    public.merge(crate::protect(admin, state))
}

/// The catalog part of the OpenAPI document (merged in `crate::openapi`).
#[derive(OpenApi)]
#[openapi(
    paths(
        search_products, get_product, list_categories, admin_list_products, create_product,
        update_product, archive_product, delete_product, create_variant, update_variant,
        delete_variant, create_upload, create_image, update_image, delete_image, reorder_images,
        create_category, update_category, delete_category, move_category
    ),
    components(schemas(
        Money, ProductView, VariantView, ImageView, SpecView, CategoryView, ProductSearchResult,
        ProductList, FacetsView, FacetValueView, AttributeFacetView, PriceRangeView, CategoryList,
        CreateProductBody, UpdateProductBody, VariantBody, UpdateVariantBody, UploadUrlBody,
        UploadUrlView, CreateImageBody, UpdateImageBody, ReorderImagesBody, ImageList,
        CreateCategoryBody, UpdateCategoryBody, MoveCategoryBody, ProductStatus, TaxCategory
    )),
    tags(
        (name = "catalog", description = "Products, search with facets, categories"),
        (name = "admin", description = "Back-office routes (role `admin`)"),
    )
)]
pub struct ProductApiDoc;

// ---------- bodies ----------

pub use kit::contracts::Money;

/// Lifecycle of a product: only `active` ones are listed for customers.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ProductStatus {
    Draft,
    Active,
    Archived,
}

impl ProductStatus {
    fn to_pb(self) -> pb::ProductStatus {
        match self {
            Self::Draft => pb::ProductStatus::Draft,
            Self::Active => pb::ProductStatus::Active,
            Self::Archived => pb::ProductStatus::Archived,
        }
    }
    fn from_pb(raw: i32) -> Self {
        match pb::ProductStatus::try_from(raw) {
            Ok(pb::ProductStatus::Active) => Self::Active,
            Ok(pb::ProductStatus::Archived) => Self::Archived,
            _ => Self::Draft,
        }
    }
}

/// How a product is taxed: the checkout applies the destination's rate for the category
/// (`standard` for most goods, `reduced` typically for food and books, `zero` for exempt goods).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
#[schema(example = "reduced")]
pub enum TaxCategory {
    Standard,
    Reduced,
    Zero,
}

impl TaxCategory {
    fn to_pb(self) -> pb::TaxCategory {
        match self {
            Self::Standard => pb::TaxCategory::Standard,
            Self::Reduced => pb::TaxCategory::Reduced,
            Self::Zero => pb::TaxCategory::Zero,
        }
    }
    fn from_pb(raw: i32) -> Self {
        match pb::TaxCategory::try_from(raw) {
            Ok(pb::TaxCategory::Reduced) => Self::Reduced,
            Ok(pb::TaxCategory::Zero) => Self::Zero,
            _ => Self::Standard,
        }
    }
}

/// One line of a specification sheet.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"name": "Weight", "value": "1.2 kg"}))]
pub struct SpecView {
    pub name: String,
    pub value: String,
}

/// A purchasable variant, identified by its SKU.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0192e4a0-7b1c-7def-8abc-0123456789ab", "product_id": "0192e4a0-7b1c-7def-8abc-0123456789aa", "sku": "TS-RED-42", "attributes": {"color": "red", "size": "42"}, "price": {"amount": 8999, "currency": "EUR"}, "prices": [{"amount": 8999, "currency": "EUR"}, {"amount": 9799, "currency": "USD"}], "compare_at_price": {"amount": 11999, "currency": "EUR"}, "image_id": null, "in_stock": true, "weight_grams": 280, "created_at": "2026-01-31T10:15:00Z", "updated_at": "2026-01-31T10:15:00Z"}))]
pub struct VariantView {
    pub id: String,
    pub product_id: String,
    pub sku: String,
    pub attributes: BTreeMap<String, String>,
    /// The primary price: listings, search, price filters and facets use it.
    pub price: Option<Money>,
    /// The price in every currency the variant is sold in, `price` included, ordered by
    /// currency. Checkout charges the entry in the shopper's currency; a variant without one
    /// cannot be bought in that currency (no conversion).
    #[schema(example = json!([{"amount": 8999, "currency": "EUR"}, {"amount": 9799, "currency": "USD"}]))]
    pub prices: Vec<Money>,
    /// The struck-through "was" price, greater than `price` (primary currency only).
    pub compare_at_price: Option<Money>,
    pub image_id: Option<String>,
    /// Whether inventory had stock when the catalog last heard (may lag).
    pub in_stock: bool,
    /// Shipping weight of one unit in grams; 0 when unknown or weightless.
    #[schema(example = 280)]
    pub weight_grams: i32,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// A product image.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0192e4a0-7b1c-7def-8abc-0123456789ac", "product_id": "0192e4a0-7b1c-7def-8abc-0123456789aa", "variant_id": null, "object_key": "products/0192e4a0-7b1c-7def-8abc-0123456789aa/0192e4a0-7b1c-7def-8abc-0123456789ad.jpg", "url": "https://images.example.com/products/...", "alt_text": "Red trail shoe, side view", "position": 0, "content_type": "image/jpeg", "size_bytes": 183422, "created_at": "2026-01-31T10:15:00Z"}))]
pub struct ImageView {
    pub id: String,
    pub product_id: String,
    pub variant_id: Option<String>,
    pub object_key: String,
    /// Where to display it from.
    pub url: String,
    pub alt_text: String,
    /// 0 is the primary image.
    pub position: i32,
    pub content_type: String,
    pub size_bytes: i64,
    pub created_at: Option<String>,
}

/// A catalog product with its variants and images.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0192e4a0-7b1c-7def-8abc-0123456789aa", "slug": "trail-running-shoe", "name": "Trail Running Shoe", "brand": "Acme", "description": "Grippy and light.", "status": "active", "tax_category": "standard", "category_ids": ["0192e4a0-7b1c-7def-8abc-0123456789a0"], "tags": ["running", "trail"], "specifications": [{"name": "Weight", "value": "280 g"}], "variants": [], "images": [], "min_price": {"amount": 8999, "currency": "EUR"}, "max_price": {"amount": 9999, "currency": "EUR"}, "created_at": "2026-01-31T10:15:00Z", "updated_at": "2026-01-31T10:15:00Z"}))]
pub struct ProductView {
    pub id: String,
    /// URL name; stable across renames.
    pub slug: String,
    pub name: String,
    pub brand: String,
    pub description: String,
    pub status: ProductStatus,
    /// How the product is taxed.
    pub tax_category: TaxCategory,
    pub category_ids: Vec<String>,
    pub tags: Vec<String>,
    pub specifications: Vec<SpecView>,
    pub variants: Vec<VariantView>,
    pub images: Vec<ImageView>,
    /// Lowest variant price; null without variants.
    pub min_price: Option<Money>,
    pub max_price: Option<Money>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// How many matching products have a value.
#[derive(Debug, Serialize, ToSchema)]
pub struct FacetValueView {
    #[schema(example = "acme")]
    pub value: String,
    #[schema(example = 12)]
    pub count: i64,
}

/// The values of one variant attribute among the matching products.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttributeFacetView {
    #[schema(example = "color")]
    pub name: String,
    pub values: Vec<FacetValueView>,
}

/// Lowest and highest variant price of the matching products (ignoring the price filter).
#[derive(Debug, Serialize, ToSchema)]
pub struct PriceRangeView {
    pub min: Option<Money>,
    pub max: Option<Money>,
}

/// Counts over every matching product; each facet ignores its own filter.
#[derive(Debug, Serialize, ToSchema)]
pub struct FacetsView {
    pub brands: Vec<FacetValueView>,
    /// Keyed by category id.
    pub categories: Vec<FacetValueView>,
    pub tags: Vec<FacetValueView>,
    pub attributes: Vec<AttributeFacetView>,
    pub price_range: Option<PriceRangeView>,
}

/// A page of search hits with facets.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"items": [], "next_cursor": null, "total": 0, "facets": {"brands": [{"value": "Acme", "count": 3}], "categories": [], "tags": [{"value": "running", "count": 3}], "attributes": [{"name": "color", "values": [{"value": "red", "count": 2}]}], "price_range": {"min": {"amount": 1999, "currency": "EUR"}, "max": {"amount": 8999, "currency": "EUR"}}}}))]
pub struct ProductSearchResult {
    pub items: Vec<ProductView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
    /// Number of matching products.
    pub total: i64,
    pub facets: FacetsView,
}

/// A page of products.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductList {
    pub items: Vec<ProductView>,
    pub next_cursor: Option<String>,
}

/// A category (flat; build the tree from `parent_id`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0192e4a0-7b1c-7def-8abc-0123456789a0", "parent_id": null, "slug": "shoes", "name": "Shoes", "description": "", "position": 0, "depth": 0, "created_at": "2026-01-31T10:15:00Z", "updated_at": "2026-01-31T10:15:00Z"}))]
pub struct CategoryView {
    pub id: String,
    pub parent_id: Option<String>,
    pub slug: String,
    pub name: String,
    pub description: String,
    /// Order among siblings.
    pub position: i32,
    /// 0 for a root category.
    pub depth: i32,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// Categories in depth-first order (parents before children).
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryList {
    pub items: Vec<CategoryView>,
    pub next_cursor: Option<String>,
}

/// A variant to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"sku": "TS-RED-42", "attributes": {"color": "red", "size": "42"}, "price": {"amount": 8999, "currency": "EUR"}, "prices": [{"amount": 9799, "currency": "USD"}], "compare_at_price": {"amount": 11999, "currency": "EUR"}, "weight_grams": 280}))]
pub struct VariantBody {
    /// 1 to 64 ASCII letters, digits, `-`, `_`, `.`; unique across the catalog; immutable.
    pub sku: String,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// The primary price; all variants of a product share its currency.
    pub price: Money,
    /// Prices in other currencies: at most 20, each currency once, amounts 0 or more. An entry
    /// in `price`'s currency is accepted only when it equals `price`.
    #[serde(default)]
    #[schema(example = json!([{"amount": 2599, "currency": "USD"}]))]
    pub prices: Vec<Money>,
    /// In `price`'s currency, greater than `price`.
    #[serde(default)]
    pub compare_at_price: Option<Money>,
    #[serde(default)]
    pub image_id: Option<String>,
    /// Grams per unit, 0 to 1000000; 0 (the default) means unknown or weightless.
    #[serde(default)]
    #[schema(example = 280, minimum = 0, maximum = 1000000)]
    pub weight_grams: i32,
}

/// A product to create. The slug is derived from the name when absent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Trail Running Shoe", "brand": "Acme", "description": "Grippy and light.", "status": "active", "tax_category": "standard", "tags": ["running"], "specifications": [{"name": "Weight", "value": "280 g"}], "variants": [{"sku": "TS-RED-42", "attributes": {"color": "red", "size": "42"}, "price": {"amount": 8999, "currency": "EUR"}, "prices": [{"amount": 9799, "currency": "USD"}], "weight_grams": 280}]}))]
pub struct CreateProductBody {
    #[serde(default)]
    pub slug: Option<String>,
    pub name: String,
    #[serde(default)]
    pub brand: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// `draft` when absent; `active` needs a variant.
    #[serde(default)]
    pub status: Option<ProductStatus>,
    /// `standard` when absent.
    #[serde(default)]
    pub tax_category: Option<TaxCategory>,
    #[serde(default)]
    pub category_ids: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub specifications: Vec<SpecView>,
    #[serde(default)]
    pub variants: Vec<VariantBody>,
}

/// The fields to change; absent fields stay. Renaming keeps the slug unless `slug` is given.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Trail Running Shoe 2", "status": "active", "tax_category": "reduced"}))]
pub struct UpdateProductBody {
    pub slug: Option<String>,
    pub name: Option<String>,
    pub brand: Option<String>,
    pub description: Option<String>,
    pub status: Option<ProductStatus>,
    pub tax_category: Option<TaxCategory>,
    pub category_ids: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    pub specifications: Option<Vec<SpecView>>,
}

/// Deserialises a present field (even `null`) as `Some(..)`, so `null` can mean "clear".
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The variant fields to change; `null` clears `compare_at_price` or `image_id`. `prices`
/// replaces the prices in other currencies (`[]` leaves only `price`); `price` alone changes the
/// primary price and keeps the others.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"price": {"amount": 7999, "currency": "EUR"}, "prices": [{"amount": 8699, "currency": "USD"}], "compare_at_price": null, "weight_grams": 300}))]
pub struct UpdateVariantBody {
    pub attributes: Option<BTreeMap<String, String>>,
    pub price: Option<Money>,
    #[schema(example = json!([{"amount": 2599, "currency": "USD"}]))]
    pub prices: Option<Vec<Money>>,
    #[schema(example = 300, minimum = 0, maximum = 1000000)]
    pub weight_grams: Option<i32>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Money>)]
    pub compare_at_price: Option<Option<Money>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub image_id: Option<Option<String>>,
}

/// An image upload to prepare.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"content_type": "image/jpeg", "size_bytes": 183422}))]
pub struct UploadUrlBody {
    /// image/jpeg, image/png, image/webp or image/avif.
    pub content_type: String,
    /// Exact size, 1 byte to 10 MiB.
    pub size_bytes: i64,
}

/// Where to PUT the image bytes, and the key to register afterwards.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"upload_url": "https://s3.example.com/product-images/products/...?X-Amz-Signature=...", "upload_headers": {"Content-Type": "image/jpeg", "Content-Length": "183422"}, "object_key": "products/0192e4a0-.../0192e4a0-....jpg", "expires_at": "2026-01-31T10:30:00Z"}))]
pub struct UploadUrlView {
    pub upload_url: String,
    /// Send exactly these headers with the PUT.
    pub upload_headers: BTreeMap<String, String>,
    pub object_key: String,
    pub expires_at: Option<String>,
}

/// Registers an uploaded object as an image of the product.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"object_key": "products/0192e4a0-.../0192e4a0-....jpg", "alt_text": "Red trail shoe, side view"}))]
pub struct CreateImageBody {
    pub object_key: String,
    #[serde(default)]
    pub alt_text: Option<String>,
    #[serde(default)]
    pub variant_id: Option<String>,
    /// 0-based; absent appends.
    #[serde(default)]
    pub position: Option<i32>,
}

/// Image fields to change; `variant_id: null` detaches it from its variant.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"alt_text": "Red trail shoe, sole"}))]
pub struct UpdateImageBody {
    pub alt_text: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub variant_id: Option<Option<String>>,
}

/// Every image id of the product once, in the new order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"image_ids": ["0192e4a0-7b1c-7def-8abc-0123456789ad", "0192e4a0-7b1c-7def-8abc-0123456789ac"]}))]
pub struct ReorderImagesBody {
    pub image_ids: Vec<String>,
}

/// A product's images.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImageList {
    pub items: Vec<ImageView>,
    pub next_cursor: Option<String>,
}

/// A category to create; the slug is derived from the name when absent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Trail shoes", "parent_id": "0192e4a0-7b1c-7def-8abc-0123456789a0"}))]
pub struct CreateCategoryBody {
    #[serde(default)]
    pub parent_id: Option<String>,
    #[serde(default)]
    pub slug: Option<String>,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub position: Option<i32>,
}

/// Category fields to change (the parent changes through `move`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Trail running shoes"}))]
pub struct UpdateCategoryBody {
    pub slug: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub position: Option<i32>,
}

/// The new parent (null: root) and place among the new siblings (absent: last).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"parent_id": "0192e4a0-7b1c-7def-8abc-0123456789a0", "position": 0}))]
pub struct MoveCategoryBody {
    #[serde(default)]
    pub parent_id: Option<String>,
    #[serde(default)]
    pub position: Option<i32>,
}

/// Query of `GET /api/v1/products` (documentation; parsed from the raw pairs so that
/// `attr.<name>` filters and repeated `brand`/`tag` work).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct SearchQuery {
    /// Free text (typos tolerated); at most 256 characters.
    #[param(example = "trail shoe")]
    q: Option<String>,
    /// Category id: products in it or any descendant.
    category: Option<String>,
    /// Brand (repeat or comma-separate for several).
    brand: Option<String>,
    /// Tag (repeat or comma-separate for several).
    tag: Option<String>,
    /// Lowest variant price in minor units (inclusive).
    min_price: Option<i64>,
    /// Highest variant price in minor units (inclusive).
    max_price: Option<i64>,
    /// Currency of the price bounds; default EUR.
    currency: Option<String>,
    /// Variant attribute filters: `attr.color=red,blue&attr.size=M` (one variant must match all).
    #[param(rename = "attr.{name}")]
    attr: Option<String>,
    /// Only products with a variant in stock.
    in_stock: Option<bool>,
    /// relevance (default with `q`), newest (default without), price_asc, price_desc.
    sort: Option<String>,
    cursor: Option<String>,
    /// 1 to 100; default 20.
    limit: Option<i64>,
}

/// `cursor` and `limit` of list routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    pub cursor: Option<String>,
    /// 1 to 100 (categories: 1 to 1000).
    pub limit: Option<i64>,
    /// Admin list only: draft, active or archived.
    pub status: Option<ProductStatus>,
}

// ---------- conversions ----------

/// A path segment naming a product by id or slug (slugs are at most 100 characters).
pub(super) fn lookup(key: String) -> Result<pb::get_product_request::Lookup, Problem> {
    use pb::get_product_request::Lookup;
    if uuid::Uuid::parse_str(&key).is_ok() {
        Ok(Lookup::Id(key))
    } else if key.is_empty() || key.len() > 100 {
        Err(Problem::not_found("No product has this slug."))
    } else {
        Ok(Lookup::Slug(key))
    }
}

fn client(state: &AppState) -> ProductServiceClient<Channel> {
    ProductServiceClient::new(state.upstreams.product.clone())
}

fn money(m: Option<pb::Money>) -> Option<Money> {
    m.map(|m| Money {
        amount: m.amount_minor,
        currency: m.currency,
    })
}

fn to_pb_money(m: &Money) -> pb::Money {
    pb::Money {
        amount_minor: m.amount,
        currency: m.currency.clone(),
    }
}

fn variant_view(v: pb::Variant) -> VariantView {
    VariantView {
        id: v.id,
        product_id: v.product_id,
        sku: v.sku,
        attributes: v.attributes.into_iter().collect(),
        price: money(v.price),
        prices: v
            .prices
            .into_iter()
            .map(|m| Money {
                amount: m.amount_minor,
                currency: m.currency,
            })
            .collect(),
        compare_at_price: money(v.compare_at_price),
        image_id: v.image_id,
        in_stock: v.in_stock,
        weight_grams: v.weight_grams,
        created_at: rfc3339(v.create_time),
        updated_at: rfc3339(v.update_time),
    }
}

fn image_view(i: pb::Image) -> ImageView {
    ImageView {
        id: i.id,
        product_id: i.product_id,
        variant_id: i.variant_id,
        object_key: i.object_key,
        url: i.url,
        alt_text: i.alt_text,
        position: i.position,
        content_type: i.content_type,
        size_bytes: i.size_bytes,
        created_at: rfc3339(i.create_time),
    }
}

fn product_view(p: pb::Product) -> ProductView {
    ProductView {
        id: p.id,
        slug: p.slug,
        name: p.name,
        brand: p.brand,
        description: p.description,
        status: ProductStatus::from_pb(p.status),
        tax_category: TaxCategory::from_pb(p.tax_category),
        category_ids: p.category_ids,
        tags: p.tags,
        specifications: p
            .specifications
            .into_iter()
            .map(|s| SpecView {
                name: s.name,
                value: s.value,
            })
            .collect(),
        variants: p.variants.into_iter().map(variant_view).collect(),
        images: p.images.into_iter().map(image_view).collect(),
        min_price: money(p.min_price),
        max_price: money(p.max_price),
        created_at: rfc3339(p.create_time),
        updated_at: rfc3339(p.update_time),
    }
}

fn category_view(c: pb::Category) -> CategoryView {
    CategoryView {
        id: c.id,
        parent_id: c.parent_id,
        slug: c.slug,
        name: c.name,
        description: c.description,
        position: c.position,
        depth: c.depth,
        created_at: rfc3339(c.create_time),
        updated_at: rfc3339(c.update_time),
    }
}

fn variant_pb(v: VariantBody) -> pb::Variant {
    pb::Variant {
        sku: v.sku,
        attributes: v.attributes.into_iter().collect(),
        price: Some(to_pb_money(&v.price)),
        prices: v.prices.iter().map(to_pb_money).collect(),
        compare_at_price: v.compare_at_price.as_ref().map(to_pb_money),
        image_id: v.image_id,
        weight_grams: v.weight_grams,
        ..Default::default()
    }
}

fn specs_pb(s: Vec<SpecView>) -> Vec<pb::Specification> {
    s.into_iter()
        .map(|s| pb::Specification {
            name: s.name,
            value: s.value,
        })
        .collect()
}

/// Field names of the service (`product.name`, `variant.price.amount_minor`) as REST fields.
fn rest_field(f: &str) -> String {
    let f = f
        .strip_prefix("product.")
        .or_else(|| f.strip_prefix("variant."))
        .or_else(|| f.strip_prefix("category."))
        .or_else(|| f.strip_prefix("image."))
        .unwrap_or(f);
    f.replace("amount_minor", "amount")
}

/// A gRPC status from the product service as a problem ([`Problem::from`]), its fields named
/// as the REST bodies name them.
fn status_problem(s: tonic::Status) -> Problem {
    Problem::from(s).map_fields(rest_field)
}

fn mask(paths: Vec<&str>) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.into_iter().map(str::to_owned).collect(),
    })
}

fn created<T: Serialize>(body: T) -> Response {
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

fn limit(raw: Option<i64>, max: i64) -> Result<i32, Problem> {
    match raw {
        None => Ok(0),
        Some(n) if (1..=max).contains(&n) => Ok(n as i32),
        Some(_) => Err(Problem::validation(vec![FieldError::new(
            "limit",
            format!("must be between 1 and {max}"),
        )])),
    }
}

/// Which part of a product a nested admin path names.
#[derive(Clone, Copy)]
enum Child {
    Variant,
    Image,
}

/// 404 unless `child` is a variant or image of `product_id` (the service's variant and image
/// RPCs take the child's id alone, so the path's product is checked here).
async fn ensure_child(
    state: &AppState,
    headers: &HeaderMap,
    product_id: &str,
    child: &str,
    kind: Child,
) -> Result<(), Problem> {
    let p = client(state)
        .get_product(grpc_request(
            pb::GetProductRequest {
                lookup: Some(pb::get_product_request::Lookup::Id(product_id.to_owned())),
            },
            headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    let found = match kind {
        Child::Variant => p.variants.iter().any(|v| v.id == child),
        Child::Image => p.images.iter().any(|i| i.id == child),
    };
    if found {
        Ok(())
    } else {
        let what = match kind {
            Child::Variant => "variant",
            Child::Image => "image",
        };
        Err(Problem::not_found(format!(
            "The product has no {what} with the id {child}."
        )))
    }
}

// ---------- public handlers ----------

/// Parses the raw query of `GET /api/v1/products` into a search request.
fn search_request(pairs: Vec<(String, String)>) -> Result<pb::SearchProductsRequest, Problem> {
    let mut r = pb::SearchProductsRequest::default();
    let mut errors = Vec::new();
    let mut min = None;
    let mut max = None;
    let mut currency = "EUR".to_owned();
    let mut attrs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let split = |v: &str| -> Vec<String> {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    for (k, v) in pairs {
        match k.as_str() {
            "q" => r.query = v,
            "category" => r.category_id = v,
            "brand" => r.brands.extend(split(&v)),
            "tag" => r.tags.extend(split(&v)),
            "min_price" | "max_price" => match v.parse::<i64>() {
                Ok(n) if n >= 0 => {
                    if k == "min_price" {
                        min = Some(n)
                    } else {
                        max = Some(n)
                    }
                }
                _ => errors.push(FieldError::new(
                    k.clone(),
                    "must be a whole number of minor units, 0 or more",
                )),
            },
            "currency" => currency = v,
            "in_stock" => match v.as_str() {
                "true" | "1" => r.in_stock = true,
                "false" | "0" => r.in_stock = false,
                _ => errors.push(FieldError::new("in_stock", "must be true or false")),
            },
            "sort" => {
                r.sort = match v.as_str() {
                    "relevance" => pb::SearchSort::Relevance,
                    "price_asc" => pb::SearchSort::PriceAsc,
                    "price_desc" => pb::SearchSort::PriceDesc,
                    "newest" => pb::SearchSort::Newest,
                    _ => {
                        errors.push(FieldError::new(
                            "sort",
                            "must be relevance, newest, price_asc or price_desc",
                        ));
                        pb::SearchSort::Unspecified
                    }
                } as i32
            }
            "cursor" => r.page_token = v,
            "limit" => match v.parse::<i64>() {
                Ok(n) if (1..=100).contains(&n) => r.page_size = n as i32,
                _ => errors.push(FieldError::new("limit", "must be between 1 and 100")),
            },
            other => match other.strip_prefix("attr.") {
                Some(name) if !name.is_empty() => {
                    attrs.entry(name.to_owned()).or_default().extend(split(&v))
                }
                _ => errors.push(FieldError::new(other, "is not a known parameter")),
            },
        }
    }
    r.min_price = min.map(|amount_minor| pb::Money {
        amount_minor,
        currency: currency.clone(),
    });
    r.max_price = max.map(|amount_minor| pb::Money {
        amount_minor,
        currency: currency.clone(),
    });
    r.attribute_filters = attrs
        .into_iter()
        .map(|(name, values)| pb::AttributeFilter { name, values })
        .collect();
    if errors.is_empty() {
        Ok(r)
    } else {
        Err(Problem::validation(errors))
    }
}

/// Searches the catalog: full-text with typo tolerance, filters, sort, and facet counts.
#[utoipa::path(
    get,
    path = "/api/v1/products",
    tag = "catalog",
    operation_id = "searchProducts",
    params(SearchQuery),
    responses(
        (status = 200, description = "A page of products with facets over all matches", body = ProductSearchResult),
        (status = 422, description = "A bad parameter (named in `errors`), or a cursor of another query", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "The catalog is busy (computed searches take turns: `product.search_concurrency` at once, a bounded queue). Retry after `Retry-After` seconds", body = ProblemDoc, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
pub async fn search_products(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<ProductSearchResult>, Problem> {
    let req = search_request(pairs)?;
    let r = client(&state)
        .search_products(grpc_request(req, &headers))
        .await
        .map_err(status_problem)?
        .into_inner();
    let values = |l: Vec<pb::FacetValue>| {
        l.into_iter()
            .map(|v| FacetValueView {
                value: v.value,
                count: v.count,
            })
            .collect::<Vec<_>>()
    };
    let f = r.facets.unwrap_or_default();
    Ok(Json(ProductSearchResult {
        items: r
            .hits
            .into_iter()
            .filter_map(|h| h.product.map(product_view))
            .collect(),
        next_cursor: (!r.next_page_token.is_empty()).then_some(r.next_page_token),
        total: r.total_size,
        facets: FacetsView {
            brands: values(f.brands),
            categories: values(f.categories),
            tags: values(f.tags),
            attributes: f
                .attributes
                .into_iter()
                .map(|a| AttributeFacetView {
                    name: a.name,
                    values: values(a.values),
                })
                .collect(),
            price_range: f.price_range.map(|p| PriceRangeView {
                min: money(p.min),
                max: money(p.max),
            }),
        },
    }))
}

/// One product by id (a UUID) or slug. Drafts are visible to admins only.
#[utoipa::path(
    get,
    path = "/api/v1/products/{id_or_slug}",
    tag = "catalog",
    operation_id = "getProduct",
    params(("id_or_slug" = String, Path, description = "A product id or slug", example = "trail-running-shoe")),
    responses(
        (status = 200, description = "The product", body = ProductView),
        (status = 404, description = "No such product", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn get_product(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Result<Json<ProductView>, Problem> {
    let lookup = lookup(key)?;
    let p = client(&state)
        .get_product(grpc_request(
            pb::GetProductRequest {
                lookup: Some(lookup),
            },
            &headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(Json(product_view(p)))
}

/// Every category, flat in depth-first order.
#[utoipa::path(
    get,
    path = "/api/v1/categories",
    tag = "catalog",
    operation_id = "listCategories",
    params(PageQuery),
    responses(
        (status = 200, description = "Categories, parents before children", body = CategoryList),
        (status = 422, description = "Bad cursor or limit", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn list_categories(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Result<Json<CategoryList>, Problem> {
    let r = client(&state)
        .list_categories(grpc_request(
            pb::ListCategoriesRequest {
                page_size: limit(q.limit, 1000)?,
                page_token: q.cursor.unwrap_or_default(),
                root_id: None,
            },
            &headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(Json(CategoryList {
        items: r.categories.into_iter().map(category_view).collect(),
        next_cursor: (!r.next_page_token.is_empty()).then_some(r.next_page_token),
    }))
}

// ---------- admin handlers ----------

/// All products, newest first, any status. Admin only.
#[utoipa::path(
    get,
    path = "/api/v1/admin/products",
    tag = "admin",
    operation_id = "adminListProducts",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of products", body = ProductList),
        (status = 401, description = "No valid access token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn admin_list_products(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Result<Json<ProductList>, Problem> {
    let r = client(&state)
        .list_products(grpc_request(
            pb::ListProductsRequest {
                page_size: limit(q.limit, 100)?,
                page_token: q.cursor.unwrap_or_default(),
                category_id: String::new(),
                status: q.status.map(|s| s.to_pb() as i32).unwrap_or(0),
            },
            &headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(Json(ProductList {
        items: r.products.into_iter().map(product_view).collect(),
        next_cursor: (!r.next_page_token.is_empty()).then_some(r.next_page_token),
    }))
}

/// Creates a product, optionally with variants. Admin only.
#[utoipa::path(
    post,
    path = "/api/v1/admin/products",
    tag = "admin",
    operation_id = "createProduct",
    request_body = CreateProductBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The product", body = ProductView),
        (status = 401, description = "No valid access token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "Slug or SKU taken, or `active` without variants", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn create_product(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Json(b): Json<CreateProductBody>,
) -> Result<Response, Problem> {
    let product = pb::Product {
        slug: b.slug.unwrap_or_default(),
        name: b.name,
        brand: b.brand.unwrap_or_default(),
        description: b.description.unwrap_or_default(),
        status: b.status.map(|s| s.to_pb() as i32).unwrap_or(0),
        tax_category: b.tax_category.map(|t| t.to_pb() as i32).unwrap_or(0),
        category_ids: b.category_ids,
        tags: b.tags,
        specifications: specs_pb(b.specifications),
        variants: b.variants.into_iter().map(variant_pb).collect(),
        ..Default::default()
    };
    let p = client(&state)
        .create_product(grpc_request(
            pb::CreateProductRequest {
                product: Some(product),
            },
            &headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(created(product_view(p)))
}

/// Changes product fields. Admin only.
#[utoipa::path(
    patch,
    path = "/api/v1/admin/products/{id}",
    tag = "admin",
    operation_id = "updateProduct",
    params(("id" = String, Path, description = "The product id")),
    request_body = UpdateProductBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The product", body = ProductView),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "Slug taken, or `active` without variants", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn update_product(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<UpdateProductBody>,
) -> Result<Json<ProductView>, Problem> {
    let mut paths = Vec::new();
    let mut p = pb::Product {
        id,
        ..Default::default()
    };
    if let Some(v) = b.slug {
        paths.push("slug");
        p.slug = v;
    }
    if let Some(v) = b.name {
        paths.push("name");
        p.name = v;
    }
    if let Some(v) = b.brand {
        paths.push("brand");
        p.brand = v;
    }
    if let Some(v) = b.description {
        paths.push("description");
        p.description = v;
    }
    if let Some(v) = b.status {
        paths.push("status");
        p.status = v.to_pb() as i32;
    }
    if let Some(v) = b.category_ids {
        paths.push("category_ids");
        p.category_ids = v;
    }
    if let Some(v) = b.tags {
        paths.push("tags");
        p.tags = v;
    }
    if let Some(v) = b.specifications {
        paths.push("specifications");
        p.specifications = specs_pb(v);
    }
    if let Some(v) = b.tax_category {
        paths.push("tax_category");
        p.tax_category = v.to_pb() as i32;
    }
    if paths.is_empty() {
        return Err(Problem::unprocessable("Send at least one field to change."));
    }
    let p = client(&state)
        .update_product(grpc_request(
            pb::UpdateProductRequest {
                product: Some(p),
                update_mask: mask(paths),
            },
            &headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(Json(product_view(p)))
}

/// Archives a product: no longer listed or sold, still readable by id or slug. Admin only.
#[utoipa::path(
    post,
    path = "/api/v1/admin/products/{id}/archive",
    tag = "admin",
    operation_id = "archiveProduct",
    params(("id" = String, Path, description = "The product id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The archived product", body = ProductView),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn archive_product(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<ProductView>, Problem> {
    let p = client(&state)
        .archive_product(grpc_request(pb::ArchiveProductRequest { id }, &headers))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(Json(product_view(p)))
}

/// Deletes a product that is not active, with its variants and images. Admin only.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/products/{id}",
    tag = "admin",
    operation_id = "deleteProduct",
    params(("id" = String, Path, description = "The product id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "The product is active: archive it first", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn delete_product(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    client(&state)
        .delete_product(grpc_request(pb::DeleteProductRequest { id }, &headers))
        .await
        .map_err(status_problem)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds a variant. Admin only.
#[utoipa::path(
    post,
    path = "/api/v1/admin/products/{id}/variants",
    tag = "admin",
    operation_id = "createVariant",
    params(("id" = String, Path, description = "The product id")),
    request_body = VariantBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The variant", body = VariantView),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "SKU taken, or the same attributes as another variant", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn create_variant(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<VariantBody>,
) -> Result<Response, Problem> {
    let v = client(&state)
        .create_variant(grpc_request(
            pb::CreateVariantRequest {
                product_id: id,
                variant: Some(variant_pb(b)),
            },
            &headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(created(variant_view(v)))
}

/// Changes a variant (the SKU is immutable). Admin only.
#[utoipa::path(
    patch,
    path = "/api/v1/admin/products/{id}/variants/{variant_id}",
    tag = "admin",
    operation_id = "updateVariant",
    params(
        ("id" = String, Path, description = "The product id"),
        ("variant_id" = String, Path, description = "The variant id"),
    ),
    request_body = UpdateVariantBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The variant", body = VariantView),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such variant", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn update_variant(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path((product_id, variant_id)): Path<(String, String)>,
    Json(b): Json<UpdateVariantBody>,
) -> Result<Json<VariantView>, Problem> {
    ensure_child(&state, &headers, &product_id, &variant_id, Child::Variant).await?;
    let mut paths = Vec::new();
    let mut v = pb::Variant {
        id: variant_id,
        ..Default::default()
    };
    if let Some(a) = b.attributes {
        paths.push("attributes");
        v.attributes = a.into_iter().collect();
    }
    if let Some(p) = &b.price {
        paths.push("price");
        v.price = Some(to_pb_money(p));
    }
    if let Some(p) = &b.prices {
        paths.push("prices");
        v.prices = p.iter().map(to_pb_money).collect();
    }
    if let Some(w) = b.weight_grams {
        paths.push("weight_grams");
        v.weight_grams = w;
    }
    if let Some(c) = &b.compare_at_price {
        paths.push("compare_at_price");
        v.compare_at_price = c.as_ref().map(to_pb_money);
    }
    if let Some(i) = b.image_id {
        paths.push("image_id");
        v.image_id = i;
    }
    if paths.is_empty() {
        return Err(Problem::unprocessable("Send at least one field to change."));
    }
    let v = client(&state)
        .update_variant(grpc_request(
            pb::UpdateVariantRequest {
                variant: Some(v),
                update_mask: mask(paths),
            },
            &headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(Json(variant_view(v)))
}

/// Deletes a variant. Admin only.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/products/{id}/variants/{variant_id}",
    tag = "admin",
    operation_id = "deleteVariant",
    params(
        ("id" = String, Path, description = "The product id"),
        ("variant_id" = String, Path, description = "The variant id"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such variant", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "The last variant of an active product", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn delete_variant(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path((product_id, variant_id)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    ensure_child(&state, &headers, &product_id, &variant_id, Child::Variant).await?;
    client(&state)
        .delete_variant(grpc_request(
            pb::DeleteVariantRequest { id: variant_id },
            &headers,
        ))
        .await
        .map_err(status_problem)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Prepares an image upload: a presigned PUT URL into `product-images`. Admin only.
#[utoipa::path(
    post,
    path = "/api/v1/admin/products/{id}/images/upload-url",
    tag = "admin",
    operation_id = "createImageUpload",
    params(("id" = String, Path, description = "The product id")),
    request_body = UploadUrlBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Where to PUT the bytes", body = UploadUrlView),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Type or size not accepted", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn create_upload(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<UploadUrlBody>,
) -> Result<Response, Problem> {
    let u = client(&state)
        .create_image_upload(grpc_request(
            pb::CreateImageUploadRequest {
                product_id: id,
                content_type: b.content_type,
                size_bytes: b.size_bytes,
            },
            &headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(created(UploadUrlView {
        upload_url: u.upload_url,
        upload_headers: u.upload_headers.into_iter().collect(),
        object_key: u.object_key,
        expires_at: rfc3339(u.expire_time),
    }))
}

/// Registers an uploaded object as an image. Admin only.
#[utoipa::path(
    post,
    path = "/api/v1/admin/products/{id}/images",
    tag = "admin",
    operation_id = "createImage",
    params(("id" = String, Path, description = "The product id")),
    request_body = CreateImageBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The image", body = ImageView),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "Nothing (or something else) was uploaded under the key", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Key not issued for this product, or a bad variant id", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn create_image(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<CreateImageBody>,
) -> Result<Response, Problem> {
    let i = client(&state)
        .create_image(grpc_request(
            pb::CreateImageRequest {
                product_id: id,
                image: Some(pb::Image {
                    object_key: b.object_key,
                    alt_text: b.alt_text.unwrap_or_default(),
                    variant_id: b.variant_id,
                    ..Default::default()
                }),
                position: b.position,
            },
            &headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(created(image_view(i)))
}

/// Changes an image's alt text or variant. Admin only.
#[utoipa::path(
    patch,
    path = "/api/v1/admin/products/{id}/images/{image_id}",
    tag = "admin",
    operation_id = "updateImage",
    params(
        ("id" = String, Path, description = "The product id"),
        ("image_id" = String, Path, description = "The image id"),
    ),
    request_body = UpdateImageBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The image", body = ImageView),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such image", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn update_image(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path((product_id, image_id)): Path<(String, String)>,
    Json(b): Json<UpdateImageBody>,
) -> Result<Json<ImageView>, Problem> {
    ensure_child(&state, &headers, &product_id, &image_id, Child::Image).await?;
    let mut paths = Vec::new();
    let mut img = pb::Image {
        id: image_id,
        ..Default::default()
    };
    if let Some(a) = b.alt_text {
        paths.push("alt_text");
        img.alt_text = a;
    }
    if let Some(v) = b.variant_id {
        paths.push("variant_id");
        img.variant_id = v;
    }
    if paths.is_empty() {
        return Err(Problem::unprocessable("Send at least one field to change."));
    }
    let i = client(&state)
        .update_image(grpc_request(
            pb::UpdateImageRequest {
                image: Some(img),
                update_mask: mask(paths),
            },
            &headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(Json(image_view(i)))
}

/// Removes an image (and its object). Admin only.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/products/{id}/images/{image_id}",
    tag = "admin",
    operation_id = "deleteImage",
    params(
        ("id" = String, Path, description = "The product id"),
        ("image_id" = String, Path, description = "The image id"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such image", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn delete_image(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path((product_id, image_id)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    ensure_child(&state, &headers, &product_id, &image_id, Child::Image).await?;
    client(&state)
        .delete_image(grpc_request(
            pb::DeleteImageRequest { id: image_id },
            &headers,
        ))
        .await
        .map_err(status_problem)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets the order of a product's images (the first is primary). Admin only.
#[utoipa::path(
    put,
    path = "/api/v1/admin/products/{id}/images/order",
    tag = "admin",
    operation_id = "reorderImages",
    params(("id" = String, Path, description = "The product id")),
    request_body = ReorderImagesBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The images in their new order", body = ImageList),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Not exactly the product's images, each once", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn reorder_images(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<ReorderImagesBody>,
) -> Result<Json<ImageList>, Problem> {
    let r = client(&state)
        .reorder_images(grpc_request(
            pb::ReorderImagesRequest {
                product_id: id,
                image_ids: b.image_ids,
            },
            &headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(Json(ImageList {
        items: r.images.into_iter().map(image_view).collect(),
        next_cursor: None,
    }))
}

/// Creates a category. Admin only.
#[utoipa::path(
    post,
    path = "/api/v1/admin/categories",
    tag = "admin",
    operation_id = "createCategory",
    request_body = CreateCategoryBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The category", body = CategoryView),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "Slug taken", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields or unknown parent", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn create_category(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Json(b): Json<CreateCategoryBody>,
) -> Result<Response, Problem> {
    let c = client(&state)
        .create_category(grpc_request(
            pb::CreateCategoryRequest {
                category: Some(pb::Category {
                    parent_id: b.parent_id,
                    slug: b.slug.unwrap_or_default(),
                    name: b.name,
                    description: b.description.unwrap_or_default(),
                    position: b.position.unwrap_or(0),
                    ..Default::default()
                }),
            },
            &headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(created(category_view(c)))
}

/// Changes category fields. Admin only.
#[utoipa::path(
    patch,
    path = "/api/v1/admin/categories/{id}",
    tag = "admin",
    operation_id = "updateCategory",
    params(("id" = String, Path, description = "The category id")),
    request_body = UpdateCategoryBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The category", body = CategoryView),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such category", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "Slug taken", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn update_category(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<UpdateCategoryBody>,
) -> Result<Json<CategoryView>, Problem> {
    let mut paths = Vec::new();
    let mut c = pb::Category {
        id,
        ..Default::default()
    };
    if let Some(v) = b.slug {
        paths.push("slug");
        c.slug = v;
    }
    if let Some(v) = b.name {
        paths.push("name");
        c.name = v;
    }
    if let Some(v) = b.description {
        paths.push("description");
        c.description = v;
    }
    if let Some(v) = b.position {
        paths.push("position");
        c.position = v;
    }
    if paths.is_empty() {
        return Err(Problem::unprocessable("Send at least one field to change."));
    }
    let c = client(&state)
        .update_category(grpc_request(
            pb::UpdateCategoryRequest {
                category: Some(c),
                update_mask: mask(paths),
            },
            &headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(Json(category_view(c)))
}

/// Deletes a category without children; products lose it. Admin only.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/categories/{id}",
    tag = "admin",
    operation_id = "deleteCategory",
    params(("id" = String, Path, description = "The category id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such category", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "The category has children", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn delete_category(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    client(&state)
        .delete_category(grpc_request(pb::DeleteCategoryRequest { id }, &headers))
        .await
        .map_err(status_problem)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Moves a category (with its subtree) under another parent; refuses cycles. Admin only.
#[utoipa::path(
    post,
    path = "/api/v1/admin/categories/{id}/move",
    tag = "admin",
    operation_id = "moveCategory",
    params(("id" = String, Path, description = "The category id")),
    request_body = MoveCategoryBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The moved category", body = CategoryView),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such category", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Unknown parent, or a move under itself or a descendant (a cycle)", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn move_category(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<MoveCategoryBody>,
) -> Result<Json<CategoryView>, Problem> {
    let c = client(&state)
        .move_category(grpc_request(
            pb::MoveCategoryRequest {
                id,
                new_parent_id: b.parent_id,
                position: b.position,
            },
            &headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(Json(category_view(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_routes_are_documented_with_schemas_and_examples() {
        let v: serde_json::Value = serde_json::from_str(crate::openapi::document()).unwrap();
        for (path, method) in [
            ("/api/v1/products", "get"),
            ("/api/v1/products/{id_or_slug}", "get"),
            ("/api/v1/categories", "get"),
            ("/api/v1/admin/products", "post"),
            ("/api/v1/admin/products/{id}", "patch"),
            ("/api/v1/admin/products/{id}", "delete"),
            ("/api/v1/admin/products/{id}/variants", "post"),
            ("/api/v1/admin/products/{id}/variants/{variant_id}", "patch"),
            ("/api/v1/admin/products/{id}/images/upload-url", "post"),
            ("/api/v1/admin/products/{id}/images/order", "put"),
            ("/api/v1/admin/categories", "post"),
            ("/api/v1/admin/categories/{id}/move", "post"),
        ] {
            assert!(
                v["paths"][path][method].is_object(),
                "{method} {path} missing"
            );
        }
        assert_eq!(
            v["paths"]["/api/v1/admin/products"]["post"]["security"][0]["bearer"],
            serde_json::json!([])
        );
        for name in [
            "ProductView",
            "CreateProductBody",
            "Money",
            "ProductSearchResult",
            "CategoryView",
        ] {
            assert!(
                v["components"]["schemas"][name]["example"].is_object(),
                "{name}: {}",
                v["components"]["schemas"][name]
            );
        }
    }

    #[test]
    fn prices_weights_and_tax_categories_are_documented() {
        let v: serde_json::Value = serde_json::from_str(crate::openapi::document()).unwrap();
        let schemas = &v["components"]["schemas"];
        for (schema, field) in [
            ("VariantView", "prices"),
            ("VariantView", "weight_grams"),
            ("ProductView", "tax_category"),
            ("VariantBody", "prices"),
            ("VariantBody", "weight_grams"),
            ("UpdateVariantBody", "prices"),
            ("UpdateVariantBody", "weight_grams"),
            ("CreateProductBody", "tax_category"),
            ("UpdateProductBody", "tax_category"),
        ] {
            assert!(
                schemas[schema]["properties"][field].is_object(),
                "{schema}.{field}: {}",
                schemas[schema]
            );
        }
        assert_eq!(
            schemas["VariantBody"]["properties"]["prices"]["example"],
            serde_json::json!([{"amount": 2599, "currency": "USD"}])
        );
        assert_eq!(
            schemas["TaxCategory"]["enum"],
            serde_json::json!(["standard", "reduced", "zero"])
        );
    }

    #[test]
    fn rest_bodies_carry_prices_weights_and_tax_categories_to_the_service() {
        let b: CreateProductBody = serde_json::from_value(serde_json::json!({
            "name": "Espresso beans", "tax_category": "reduced",
            "variants": [{"sku": "BEANS-1KG", "price": {"amount": 2399, "currency": "EUR"},
                          "prices": [{"amount": 2599, "currency": "USD"}], "weight_grams": 1000}]
        }))
        .unwrap();
        assert_eq!(b.tax_category, Some(TaxCategory::Reduced));
        let v = variant_pb(b.variants.into_iter().next().unwrap());
        assert_eq!(v.weight_grams, 1000);
        assert_eq!(v.prices[0].currency, "USD");
        assert_eq!(v.prices[0].amount_minor, 2599);
        let view = variant_view(pb::Variant {
            prices: v.prices.clone(),
            weight_grams: 1000,
            ..Default::default()
        });
        assert_eq!(
            serde_json::to_value(&view).unwrap()["prices"],
            serde_json::json!([{"amount": 2599, "currency": "USD"}])
        );
        assert!(
            serde_json::from_value::<UpdateProductBody>(
                serde_json::json!({"tax_category": "luxury"})
            )
            .is_err()
        );
        assert_eq!(
            rest_field("variant.prices[1].currency"),
            "prices[1].currency"
        );
        assert_eq!(
            rest_field("product.variants[0].prices[0].amount_minor"),
            "variants[0].prices[0].amount"
        );
    }

    #[test]
    fn search_query_parses_filters() {
        let pairs = |l: &[(&str, &str)]| {
            l.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()
        };
        let r = search_request(pairs(&[
            ("q", "shoe"),
            ("brand", "acme,zeta"),
            ("attr.color", "red"),
            ("attr.color", "blue"),
            ("min_price", "100"),
            ("sort", "price_asc"),
            ("limit", "5"),
        ]))
        .unwrap();
        assert_eq!(r.brands, ["acme", "zeta"]);
        assert_eq!(r.attribute_filters[0].values, ["red", "blue"]);
        assert_eq!(r.min_price.unwrap().currency, "EUR");
        assert_eq!(r.page_size, 5);
        let p = search_request(pairs(&[("limit", "0"), ("bogus", "1")])).unwrap_err();
        assert_eq!(p.status, 422);
        assert_eq!(p.errors.len(), 2);
    }
}
