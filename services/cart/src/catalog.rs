//! What the cart asks other services: names, prices and status of SKUs from product
//! (`BatchGetVariantsBySku`) and units available from inventory (`BatchGetAvailability`), both
//! over gRPC with the caller's request id, token and trace context forwarded.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::HeaderMap;
use kit::problem::Problem;
use kit::upstream::{grpc_channel, grpc_request};
use storefront_proto::inventory::v1 as inv;
use storefront_proto::inventory::v1::inventory_service_client::InventoryServiceClient;
use storefront_proto::product::v1 as prod;
use storefront_proto::product::v1::product_service_client::ProductServiceClient;
use tonic::transport::Channel;

/// Price in minor units and currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Price {
    pub amount: i64,
    pub currency: String,
}

/// What product says about one SKU.
#[derive(Clone, Debug)]
pub struct SkuInfo {
    pub product_id: String,
    pub name: String,
    pub price: Option<Price>,
    /// The product is active (only active products can be bought).
    pub purchasable: bool,
}

#[derive(Clone)]
pub struct Catalog {
    product: Channel,
    inventory: Channel,
}

fn upstream_problem(service: &str, s: tonic::Status) -> Problem {
    match s.code() {
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => {
            tracing::warn!(service, grpc.code = ?s.code(), grpc.message = %s.message(), "upstream unavailable");
            Problem::service_unavailable(format!(
                "The {service} service is unavailable; try again shortly."
            ))
        }
        _ => Problem::internal(format!("{service}: {s}")),
    }
}

impl Catalog {
    pub fn new(product_url: &str, inventory_url: &str, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            product: grpc_channel(product_url, timeout)?,
            inventory: grpc_channel(inventory_url, timeout)?,
        })
    }

    /// Product facts of `skus` (at most 100); unknown SKUs are absent from the map.
    pub async fn lookup(
        &self,
        skus: &[String],
        headers: &HeaderMap,
    ) -> Result<HashMap<String, SkuInfo>, Problem> {
        if skus.is_empty() {
            return Ok(HashMap::new());
        }
        let r = ProductServiceClient::new(self.product.clone())
            .batch_get_variants_by_sku(grpc_request(
                prod::BatchGetVariantsBySkuRequest {
                    skus: skus.to_vec(),
                },
                headers,
            ))
            .await
            .map_err(|s| upstream_problem("product", s))?
            .into_inner();
        Ok(r.variants
            .into_iter()
            .filter_map(|v| {
                let variant = v.variant?;
                let product = v.product.unwrap_or_default();
                let purchasable = product.status() == prod::ProductStatus::Active;
                Some((
                    variant.sku.clone(),
                    SkuInfo {
                        product_id: if product.id.is_empty() {
                            variant.product_id.clone()
                        } else {
                            product.id.clone()
                        },
                        name: product.name,
                        price: variant.price.map(|p| Price {
                            amount: p.amount_minor,
                            currency: p.currency,
                        }),
                        purchasable,
                    },
                ))
            })
            .collect())
    }

    /// Units available now per SKU (0 for a SKU never stocked).
    pub async fn availability(
        &self,
        skus: &[String],
        headers: &HeaderMap,
    ) -> Result<HashMap<String, i64>, Problem> {
        if skus.is_empty() {
            return Ok(HashMap::new());
        }
        let r = InventoryServiceClient::new(self.inventory.clone())
            .batch_get_availability(grpc_request(
                inv::BatchGetAvailabilityRequest {
                    skus: skus.to_vec(),
                },
                headers,
            ))
            .await
            .map_err(|s| upstream_problem("inventory", s))?
            .into_inner();
        Ok(r.availabilities
            .into_iter()
            .map(|a| (a.sku, a.available))
            .collect())
    }
}
