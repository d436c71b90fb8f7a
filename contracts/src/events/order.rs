//! What order publishes on `order-events` (key: order id), through its outbox.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::money::Money;
use crate::totals::{Breakdown, ShippingChoice};

/// One line of an order as its events carry it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderLine {
    pub sku: String,
    pub product_id: Uuid,
    pub name: String,
    pub quantity: i64,
    pub unit_price: Money,
}

/// `order.created`: the order is placed and waits for payment. `total` is the breakdown's grand
/// total, the amount payment charges.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderCreated {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub payment_method_id: Option<Uuid>,
    pub total: Money,
    pub items: Vec<OrderLine>,
    /// Absent only on events written before checkout totals.
    #[serde(default)]
    pub breakdown: Option<Breakdown>,
    #[serde(default)]
    pub shipping_method: Option<ShippingChoice>,
    #[serde(default)]
    pub promotion_code: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// `order.paid`: the payment completed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderPaid {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub total: Money,
    pub items: Vec<OrderLine>,
    #[serde(default)]
    pub breakdown: Option<Breakdown>,
    #[serde(default)]
    pub shipping_method: Option<ShippingChoice>,
    #[serde(default)]
    pub promotion_code: Option<String>,
    #[serde(default)]
    pub transaction_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub paid_at: OffsetDateTime,
}

/// `order.cancelled`: the order will not be fulfilled; `reason` is `payment_failed`,
/// `reservation_expired` or `customer_cancelled`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderCancelled {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub reason: String,
    pub items: Vec<OrderLine>,
    #[serde(with = "time::serde::rfc3339")]
    pub cancelled_at: OffsetDateTime,
}

/// `order.shipped`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderShipped {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub shipped_at: OffsetDateTime,
}

/// `order.delivered` (an addition to the seed contract).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderDelivered {
    pub order_id: Uuid,
    pub user_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub delivered_at: OffsetDateTime,
}

/// Units of one line being refunded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RefundLine {
    pub sku: String,
    pub quantity: i64,
}

/// Why a refund is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundReason {
    /// An admin refunded the order.
    AdminRequested,
    /// The money came after the order was cancelled.
    OrderCancelled,
    /// A reason this version does not know (a newer producer's); the refund still happens.
    #[serde(other)]
    Other,
}

/// `order.refund_requested`: payment is to give back `amount`, the whole total or (with `lines`)
/// those units' share of the stored breakdown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderRefundRequested {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub amount: Money,
    pub reason: RefundReason,
    #[serde(default)]
    pub lines: Vec<RefundLine>,
}

/// `order.refunded`: the money is back with the customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderRefunded {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub amount: Money,
    #[serde(with = "time::serde::rfc3339")]
    pub refunded_at: OffsetDateTime,
}
