//! Events of the product catalog on `product-events` (key: product id). Created, updated and
//! archived carry the whole product as the catalog stores it after the change, so a consumer
//! (a search index, a data warehouse) can replace its copy; deleted carries the id.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::money::Money;
use crate::totals::TaxCategory;

/// Lifecycle of a product.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProductStatus {
    Draft,
    Active,
    Archived,
}

impl ProductStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Active => "active",
            Self::Archived => "archived",
        }
    }

    /// The status named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Draft, Self::Active, Self::Archived]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

/// One specification line (`{"name": "Material", "value": "Cotton"}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Spec {
    pub name: String,
    pub value: String,
}

/// A sellable variant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Variant {
    pub id: Uuid,
    pub product_id: Uuid,
    pub sku: String,
    pub attributes: BTreeMap<String, String>,
    /// The primary price (listings, search and facets use it).
    pub price: Money,
    /// Every price the variant is sold at, `price` included, ordered by currency.
    pub prices: Vec<Money>,
    /// In the primary currency's minor units.
    pub compare_at_price: Option<i64>,
    pub image_id: Option<Uuid>,
    pub in_stock: bool,
    pub weight_grams: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A product image (its bytes are in the object store under `object_key`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Image {
    pub id: Uuid,
    pub product_id: Uuid,
    pub variant_id: Option<Uuid>,
    pub object_key: String,
    pub alt_text: String,
    pub position: i32,
    pub content_type: String,
    pub size_bytes: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A product with everything that belongs to it, as the catalog stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Product {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub brand: String,
    pub description: String,
    pub status: ProductStatus,
    pub tax_category: TaxCategory,
    /// Grows with every change; a consumer keeps the copy with the highest.
    pub version: i64,
    pub category_ids: Vec<Uuid>,
    pub tags: Vec<String>,
    pub specifications: Vec<Spec>,
    pub variants: Vec<Variant>,
    pub images: Vec<Image>,
    /// Lowest and highest primary variant price, minor units of `currency`.
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub currency: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// `product.created`: the new product.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct ProductCreated(pub Product);

/// `product.updated`: the product after a change to it, its variants, prices or images.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct ProductUpdated(pub Product);

/// `product.archived`: the product, now archived (no longer listed or sold).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct ProductArchived(pub Product);

/// `product.deleted`: the product is gone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProductDeleted {
    pub id: Uuid,
}
