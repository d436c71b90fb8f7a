//! Records to protobuf messages.

use storefront_proto::product::v1 as pb;
use time::OffsetDateTime;

use crate::domain::{
    CategoryRecord, ImageRecord, Money, ProductRecord, Status, TaxCategory, VariantRecord,
};
use crate::service::Catalog;

pub fn ts(t: OffsetDateTime) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: t.nanosecond() as i32,
    })
}

pub fn money(m: &Money) -> pb::Money {
    pb::Money {
        amount_minor: m.amount,
        currency: m.currency.clone(),
    }
}

pub fn status(s: Status) -> pb::ProductStatus {
    match s {
        Status::Draft => pb::ProductStatus::Draft,
        Status::Active => pb::ProductStatus::Active,
        Status::Archived => pb::ProductStatus::Archived,
    }
}

pub fn tax_category(t: TaxCategory) -> pb::TaxCategory {
    match t {
        TaxCategory::Standard => pb::TaxCategory::Standard,
        TaxCategory::Reduced => pb::TaxCategory::Reduced,
        TaxCategory::Zero => pb::TaxCategory::Zero,
    }
}

pub fn variant(v: &VariantRecord) -> pb::Variant {
    pb::Variant {
        id: v.id.to_string(),
        product_id: v.product_id.to_string(),
        sku: v.sku.clone(),
        attributes: v.attributes.clone().into_iter().collect(),
        price: Some(money(&v.price)),
        compare_at_price: v.compare_at_price.map(|a| pb::Money {
            amount_minor: a,
            currency: v.price.currency.clone(),
        }),
        image_id: v.image_id.map(|i| i.to_string()),
        in_stock: v.in_stock,
        create_time: ts(v.created_at),
        update_time: ts(v.updated_at),
        prices: v.prices.iter().map(money).collect(),
        weight_grams: v.weight_grams,
    }
}

pub fn image(catalog: &Catalog, i: &ImageRecord) -> pb::Image {
    pb::Image {
        id: i.id.to_string(),
        product_id: i.product_id.to_string(),
        variant_id: i.variant_id.map(|v| v.to_string()),
        object_key: i.object_key.clone(),
        url: catalog.image_url(&i.object_key),
        alt_text: i.alt_text.clone(),
        position: i.position,
        content_type: i.content_type.clone(),
        size_bytes: i.size_bytes,
        create_time: ts(i.created_at),
    }
}

pub fn product(catalog: &Catalog, p: &ProductRecord) -> pb::Product {
    let images = p.images.iter().map(|i| image(catalog, i)).collect();
    let price = |amount: Option<i64>| {
        amount.zip(p.currency.clone()).map(|(a, c)| pb::Money {
            amount_minor: a,
            currency: c,
        })
    };
    pb::Product {
        id: p.id.to_string(),
        slug: p.slug.clone(),
        name: p.name.clone(),
        brand: p.brand.clone(),
        description: p.description.clone(),
        status: status(p.status) as i32,
        category_ids: p.category_ids.iter().map(ToString::to_string).collect(),
        tags: p.tags.clone(),
        specifications: p
            .specifications
            .iter()
            .map(|s| pb::Specification {
                name: s.name.clone(),
                value: s.value.clone(),
            })
            .collect(),
        variants: p.variants.iter().map(variant).collect(),
        images,
        min_price: price(p.min_price),
        max_price: price(p.max_price),
        create_time: ts(p.created_at),
        update_time: ts(p.updated_at),
        tax_category: tax_category(p.tax_category) as i32,
    }
}

pub fn summary(catalog: &Catalog, p: &ProductRecord, v: &VariantRecord) -> pb::ProductSummary {
    let img = v
        .image_id
        .and_then(|id| p.images.iter().find(|i| i.id == id))
        .or_else(|| p.images.first());
    let image = img.map(|i| image(catalog, i));
    pb::ProductSummary {
        id: p.id.to_string(),
        slug: p.slug.clone(),
        name: p.name.clone(),
        brand: p.brand.clone(),
        status: status(p.status) as i32,
        image,
        tax_category: tax_category(p.tax_category) as i32,
        category_ids: p.category_ids.iter().map(ToString::to_string).collect(),
    }
}

pub fn category(c: &CategoryRecord) -> pb::Category {
    pb::Category {
        id: c.id.to_string(),
        parent_id: c.parent_id.map(|p| p.to_string()),
        slug: c.slug.clone(),
        name: c.name.clone(),
        description: c.description.clone(),
        position: c.position,
        depth: c.depth,
        create_time: ts(c.created_at),
        update_time: ts(c.updated_at),
    }
}
