//! What the cart asks other services: names, prices and status of SKUs from product
//! (`BatchGetVariantsBySku`) and units available from inventory (`BatchGetAvailability`), both
//! over gRPC, and the estimate of a cart from order (`POST /internal/v1/quote`, HTTP), each with
//! the caller's request id, token and trace context forwarded.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::{HeaderMap, Method};
use kit::problem::Problem;
use kit::upstream::{HttpUpstream, grpc_channel, grpc_request};
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
    /// The price in every currency the variant is sold in.
    pub prices: Vec<Price>,
    /// The product is active (only active products can be bought).
    pub purchasable: bool,
}

#[derive(Clone)]
pub struct Catalog {
    product: Channel,
    inventory: Channel,
    order: Option<HttpUpstream>,
}

/// Order's answer to a quote: the estimate, or the problem it found with the cart (a line not
/// sold in the currency, ...), which the cart shows next to its lines.
pub enum Quote {
    Estimate(Box<kit::totals::Estimate>),
    Problem(serde_json::Value),
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
            order: None,
        })
    }

    /// Adds the order client the estimate needs.
    pub async fn with_order(mut self, order_url: &str, timeout: Duration) -> anyhow::Result<Self> {
        self.order = Some(HttpUpstream::new(order_url, timeout).await?);
        Ok(self)
    }

    /// The estimate of `req` from order. Order's 4xx answers are the cart's problem (shown in
    /// the view); an unreachable order service is 503.
    pub async fn quote(
        &self,
        req: &kit::totals::QuoteRequest,
        headers: &HeaderMap,
    ) -> Result<Quote, Problem> {
        let Some(order) = &self.order else {
            return Err(Problem::service_unavailable(
                "Estimates are not configured (STOREFRONT_CART__UPSTREAMS__ORDER).",
            ));
        };
        let unavailable =
            || Problem::service_unavailable("The order service is unavailable; try again shortly.");
        let resp = order
            .request_forwarding(Method::POST, "/internal/v1/quote", headers)
            .json(req)
            .send()
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "quote call failed");
                unavailable()
            })?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.map_err(|e| {
            tracing::warn!(error = %e, "order answered a quote the cart cannot read");
            unavailable()
        })?;
        if status.is_success() {
            serde_json::from_value(body)
                .map(|e| Quote::Estimate(Box::new(e)))
                .map_err(|e| Problem::internal(format!("order's estimate: {e}")))
        } else if status.is_client_error() {
            Ok(Quote::Problem(body))
        } else {
            tracing::warn!(status = status.as_u16(), "order could not quote");
            Err(unavailable())
        }
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
                        prices: variant
                            .prices
                            .iter()
                            .map(|p| Price {
                                amount: p.amount_minor,
                                currency: p.currency.clone(),
                            })
                            .collect(),
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
