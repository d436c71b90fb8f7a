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

/// Coarse facts about the client of a tracking event, derived by the event service from its
/// user agent and address. The address itself is never kept: only its network prefix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClientContext {
    /// The user agent, at most 512 characters.
    pub user_agent: Option<String>,
    /// `desktop`, `mobile`, `tablet`, `bot` or `unknown`.
    pub device: String,
    /// `chrome`, `firefox`, `safari`, `edge`, `opera` or `other`.
    pub browser: String,
    /// `windows`, `macos`, `linux`, `ios`, `android`, `chromeos` or `other`.
    pub os: String,
    /// IPv4 /24 or IPv6 /48, such as `203.0.113.0/24`.
    pub ip_prefix: Option<String>,
}

/// Who sent a client tracking event, and when: the part of `data` every client type shares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Visit {
    /// The user of the access token it came with.
    pub user_id: Option<Uuid>,
    /// The visitor id when not signed in.
    pub anonymous_id: Option<String>,
    pub session_id: Option<String>,
    /// Client time (the time it was received when the client sent none).
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// The client's free-form data, at most 2 KiB of JSON; left out when it sent none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub properties: Option<serde_json::Map<String, serde_json::Value>>,
    pub context: ClientContext,
}

/// `product.viewed` on `product-views` (and `user-events`; key: user id, else anonymous id).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProductViewed {
    #[serde(flatten)]
    pub visit: Visit,
    pub product_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
}

/// `product.clicked` on `product-views` (and `user-events`): a product picked from a list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProductClicked {
    #[serde(flatten)]
    pub visit: Visit,
    pub product_id: Uuid,
    /// The list it was clicked in (`search`, `recommendations`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,
    /// 0-based position in that list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<i64>,
}

/// `search.performed` on `search-events` (and `user-events`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SearchPerformed {
    #[serde(flatten)]
    pub visit: Visit,
    pub query: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results_count: Option<i64>,
}

/// A cart line as a client reported it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TrackedCartItem {
    #[serde(flatten)]
    pub visit: Visit,
    pub product_id: Uuid,
    pub sku: String,
    pub quantity: i64,
}

/// `tracking.cart_item_added` on `cart-events` (and `user-events`): a client reported putting a
/// product in its cart. The cart service's own `cart.item_added` states what the cart holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct CartItemAddTracked(pub TrackedCartItem);

/// `tracking.cart_item_removed` on `cart-events` (and `user-events`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct CartItemRemoveTracked(pub TrackedCartItem);

/// `wishlist.item_added` on `user-events` (it has no topic of its own).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WishlistItemAdded {
    #[serde(flatten)]
    pub visit: Visit,
    pub product_id: Uuid,
}
