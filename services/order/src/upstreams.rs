//! The services checkout calls: product (gRPC, prices), inventory (gRPC, reservations) and cart
//! (HTTP, the customer's lines). Every call has a timeout and carries the customer's token.

use std::time::Duration;

use anyhow::Context;
use axum::http::{HeaderMap, Method, StatusCode};
use kit::problem::Problem;
use kit::upstream::HttpUpstream;
use serde::Deserialize;
use storefront_proto::inventory::v1::inventory_service_client::InventoryServiceClient;
use storefront_proto::product::v1::product_service_client::ProductServiceClient;
use tonic::transport::Channel;

use crate::config::OrderSettings;

/// Clients of the upstream services. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Upstreams {
    pub product: ProductServiceClient<Channel>,
    pub inventory: InventoryServiceClient<Channel>,
    pub cart: HttpUpstream,
}

impl Upstreams {
    /// Connects lazily: the order role starts while its upstreams are still starting.
    pub async fn new(s: &OrderSettings) -> anyhow::Result<Self> {
        let timeout = Duration::from_millis(s.upstream_timeout_ms);
        let product = kit::upstream::grpc_channel(&s.product_url, timeout)
            .context("STOREFRONT_ORDER__PRODUCT_URL")?;
        let inventory = kit::upstream::grpc_channel(&s.inventory_url, timeout)
            .context("STOREFRONT_ORDER__INVENTORY_URL")?;
        let cart = HttpUpstream::new(&s.cart_url, timeout)
            .await
            .context("STOREFRONT_ORDER__CART_URL")?;
        Ok(Self {
            product: ProductServiceClient::new(product),
            inventory: InventoryServiceClient::new(inventory),
            cart,
        })
    }
}

/// A cart line as cart answers it; order reads only these two fields.
#[derive(Clone, Debug, Deserialize)]
pub struct CartLine {
    pub sku: String,
    pub quantity: i64,
}

#[derive(Debug, Deserialize)]
struct CartBody {
    #[serde(default)]
    items: Vec<CartLine>,
}

/// The customer's cart lines (`GET /api/v1/cart` on cart with the customer's token). A cart
/// that does not exist is empty.
pub async fn read_cart(
    cart: &HttpUpstream,
    incoming: &HeaderMap,
) -> Result<Vec<CartLine>, Problem> {
    let resp = cart
        .request_forwarding(Method::GET, "/api/v1/cart", incoming)
        .send()
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "cart call failed");
            if e.is_timeout() {
                Problem::new(StatusCode::GATEWAY_TIMEOUT)
                    .with_detail("The cart service did not answer in time. Try again shortly.")
            } else {
                Problem::service_unavailable("The cart service is unavailable. Try again shortly.")
            }
        })?;
    match resp.status().as_u16() {
        200 => {}
        404 => return Ok(Vec::new()),
        401 => return Err(Problem::unauthorized("The cart refused the access token.")),
        s => {
            tracing::warn!(status = s, "cart answered an error");
            return Err(Problem::service_unavailable(
                "The cart service could not be read. Try again shortly.",
            ));
        }
    }
    let body: CartBody = resp.json().await.map_err(|e| {
        tracing::error!(error = %e, "cart answered a body order cannot read");
        Problem::service_unavailable("The cart service answered unexpectedly. Try again shortly.")
    })?;
    Ok(body.items)
}
