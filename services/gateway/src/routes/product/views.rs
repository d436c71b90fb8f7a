//! The catalog's REST bodies and views, with their OpenAPI schemas.

#[allow(unused_imports)]
use super::*;

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
    pub(super) fn to_pb(self) -> pb::ProductStatus {
        match self {
            Self::Draft => pb::ProductStatus::Draft,
            Self::Active => pb::ProductStatus::Active,
            Self::Archived => pb::ProductStatus::Archived,
        }
    }
    pub(super) fn from_pb(raw: i32) -> Self {
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
    pub(super) fn to_pb(self) -> pb::TaxCategory {
        match self {
            Self::Standard => pb::TaxCategory::Standard,
            Self::Reduced => pb::TaxCategory::Reduced,
            Self::Zero => pb::TaxCategory::Zero,
        }
    }
    pub(super) fn from_pb(raw: i32) -> Self {
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
    /// Where to display it from: a stable public URL (by default the media route,
    /// `/api/v1/media/{object_key}`, or a CDN the platform is configured with). The bytes behind
    /// it never change, so it may be cached for good.
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
    /// 1 to 100 lowercase letters, digits and single hyphens, not shaped like a UUID; empty or
    /// absent: derived from the name.
    #[serde(default)]
    #[schema(max_length = 100, pattern = "^([a-z0-9]+(-[a-z0-9]+)*)?$")]
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
    /// As for creating.
    #[schema(max_length = 100, pattern = "^([a-z0-9]+(-[a-z0-9]+)*)?$")]
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
    #[schema(pattern = "^image/(jpeg|png|webp|avif)$", example = "image/jpeg")]
    pub content_type: String,
    /// Exact size, 1 byte to 10 MiB.
    #[schema(minimum = 1, maximum = 10485760)]
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
    #[schema(minimum = 0)]
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
    /// 1 to 100 lowercase letters, digits and single hyphens, not shaped like a UUID; empty or
    /// absent: derived from the name.
    #[serde(default)]
    #[schema(max_length = 100, pattern = "^([a-z0-9]+(-[a-z0-9]+)*)?$")]
    pub slug: Option<String>,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// 0-based place among its siblings.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub position: Option<i32>,
}

/// Category fields to change (the parent changes through `move`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Trail running shoes"}))]
pub struct UpdateCategoryBody {
    /// As for creating.
    #[schema(max_length = 100, pattern = "^([a-z0-9]+(-[a-z0-9]+)*)?$")]
    pub slug: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    #[schema(minimum = 0)]
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
    #[schema(minimum = 0)]
    pub position: Option<i32>,
}

/// Query of `GET /api/v1/products` (documentation; parsed from the raw pairs so that
/// `attr.<name>` filters and repeated `brand`/`tag` work).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct SearchQuery {
    /// Free text; at most 256 characters. Every word must match (name, brand, tags, SKUs or
    /// description; English words by their stem, one typo tolerated from 4 letters and two from
    /// 8, the last word also as a prefix); `or` between words gives alternatives and `-word`
    /// excludes a word.
    #[param(example = "trail shoe")]
    q: Option<String>,
    /// Category id: products in it or any descendant.
    category: Option<uuid::Uuid>,
    /// Brand (repeat or comma-separate for several).
    brand: Option<String>,
    /// Tag (repeat or comma-separate for several).
    tag: Option<String>,
    /// Lowest variant price in minor units (inclusive).
    #[param(minimum = 0)]
    min_price: Option<i64>,
    /// Highest variant price in minor units (inclusive); below `min_price`, nothing matches.
    #[param(minimum = 0)]
    max_price: Option<i64>,
    /// Currency of the price bounds; default EUR.
    #[param(pattern = r"^[A-Z]{3}$", example = "EUR")]
    currency: Option<String>,
    /// Only products with a variant in stock.
    in_stock: Option<bool>,
    /// relevance (default with `q`), newest (default without), price_asc, price_desc.
    #[param(inline)]
    sort: Option<SearchSort>,
    cursor: Option<String>,
    /// 1 to 100; default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

/// The order of search results.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum SearchSort {
    Relevance,
    Newest,
    PriceAsc,
    PriceDesc,
}

/// `cursor` and `limit` of the admin's product list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminProductsQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// Only products in this state: draft, active or archived.
    pub status: Option<ProductStatus>,
}

/// `cursor` and `limit` of the category list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CategoryPageQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 1000 (default 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}
