//! What the cart service publishes on `cart-events` (key: cart id), through its outbox.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// `cart.item_added`: `quantity` units of `sku` were added; the line now holds `line_quantity`.
/// `user_id` is null for a guest cart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CartItemAdded {
    pub cart_id: Uuid,
    pub user_id: Option<Uuid>,
    pub sku: String,
    pub quantity: i32,
    pub line_quantity: i32,
}

/// Why units left a cart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RemovedReason {
    /// The customer removed the line.
    Removed,
    /// The customer lowered the quantity.
    Updated,
    /// The customer emptied the cart.
    Cleared,
    /// The units were bought (`order.paid`).
    Purchased,
}

/// `cart.item_removed`: `quantity` units of `sku` left the cart; the line now holds
/// `line_quantity` (0: the line is gone).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CartItemRemoved {
    pub cart_id: Uuid,
    pub user_id: Option<Uuid>,
    pub sku: String,
    pub quantity: i32,
    pub line_quantity: i32,
    pub reason: RemovedReason,
}
