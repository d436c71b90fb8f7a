//! Tracking events the event service records for the ML pipeline.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::money::Money;

/// One purchased line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PurchasedItem {
    pub product_id: Uuid,
    pub sku: String,
    pub name: Option<String>,
    pub quantity: i64,
    pub unit_price: Money,
}

/// `purchase.completed` on `user-events` (key: user id), made from `order.paid` once per
/// order. `anonymous_id` and `session_id` are always null: the platform, not a client, saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PurchaseCompleted {
    pub user_id: Uuid,
    pub anonymous_id: Option<String>,
    pub session_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    pub order_id: Uuid,
    pub transaction_id: Option<String>,
    pub total: Money,
    pub items: Vec<PurchasedItem>,
}
