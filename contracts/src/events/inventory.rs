//! What inventory publishes on `inventory-events`, through its outbox.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// `inventory.stock_changed` (key: SKU): a SKU's stock after a movement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StockChanged {
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    /// The ledger reason (`restock`, `sale`, `reserve`, `release`, `expire`, ...).
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<Uuid>,
}

/// Units of one SKU.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SkuQuantity {
    pub sku: String,
    pub quantity: i64,
}

/// `inventory.reservation_expired` (key: order id): the order's reservation lapsed unpaid and
/// its units are on sale again; the order is to be cancelled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReservationExpired {
    pub order_id: Uuid,
    pub reservation_id: Uuid,
    pub user_id: Uuid,
    pub lines: Vec<SkuQuantity>,
}
