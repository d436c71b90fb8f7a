//! Clients of the services behind the gateway: gRPC channels (auth, user, product, inventory)
//! and HTTP upstreams (cart, order, payment, recommendation, event), each balanced over every
//! address its name resolves to. Nothing connects until the first call.

use std::time::Duration;

use anyhow::Context;
use kit::upstream::{HttpUpstream, grpc_channel};
use tonic::transport::Channel;

use crate::config::UpstreamSettings;

#[derive(Clone, Debug)]
pub struct Upstreams {
    pub auth: Channel,
    pub user: Channel,
    pub product: Channel,
    /// The product role's HTTP routes (its media route), on the same address as its gRPC API.
    pub product_http: HttpUpstream,
    pub inventory: Channel,
    pub cart: HttpUpstream,
    pub order: HttpUpstream,
    pub payment: HttpUpstream,
    pub recommendation: HttpUpstream,
    pub event: HttpUpstream,
}

impl Upstreams {
    pub async fn new(s: &UpstreamSettings) -> anyhow::Result<Self> {
        let timeout = Duration::from_millis(s.timeout_ms);
        let grpc = |name: &str, uri: &str| {
            grpc_channel(uri, timeout)
                .with_context(|| format!("STOREFRONT_GATEWAY__UPSTREAMS__{}", name.to_uppercase()))
        };
        let http = |name: &'static str, uri: String| async move {
            HttpUpstream::new(&uri, timeout)
                .await
                .with_context(|| format!("STOREFRONT_GATEWAY__UPSTREAMS__{}", name.to_uppercase()))
        };
        Ok(Self {
            auth: grpc("auth", &s.auth)?,
            user: grpc("user", &s.user)?,
            product: grpc("product", &s.product)?,
            product_http: http("product", s.product.clone()).await?,
            inventory: grpc("inventory", &s.inventory)?,
            cart: http("cart", s.cart.clone()).await?,
            order: http("order", s.order.clone()).await?,
            payment: http("payment", s.payment.clone()).await?,
            recommendation: http("recommendation", s.recommendation.clone()).await?,
            event: http("event", s.event.clone()).await?,
        })
    }
}
