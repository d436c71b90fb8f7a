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
        .route("/api/v1/categories", get(list_categories))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::answers::non_admin,
        ));
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

mod admin;
mod public;
mod views;

pub use admin::*;
pub use public::*;
pub use views::*;

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

/// The product, or 404 unless `child` is a variant or image of `product_id` (the service's
/// variant and image RPCs take the child's id alone, so the path's product is checked here).
async fn ensure_child(
    state: &AppState,
    headers: &HeaderMap,
    product_id: &str,
    child: &str,
    kind: Child,
) -> Result<pb::Product, Problem> {
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
        Ok(p)
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

#[cfg(test)]
mod tests {
    use super::public::search_request;
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
