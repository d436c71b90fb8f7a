//! The order service's HTTP contract (issue #12): the checkout request, the order as every
//! route answers it, and the admin bodies; the status machine the statuses follow. The order
//! service serialises and parses these types; the gateway documents them.
//!
//! ```text
//! pending_payment -> paid -> shipped -> delivered
//! pending_payment -> cancelled
//! paid | shipped | delivered -> refund_requested -> refunded
//! paid | shipped | delivered -> refunded            (a refund payment reports on its own)
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::address::Address;
use crate::money::Money;
use crate::totals::{Breakdown, ShippingChoice};

/// Where an order is in its life. `pending_payment -> paid -> shipped -> delivered`;
/// `pending_payment -> cancelled`; `paid|shipped|delivered -> refund_requested -> refunded`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    PendingPayment,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
    RefundRequested,
    Refunded,
}

/// A status change the machine does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IllegalTransition {
    pub from: OrderStatus,
    pub to: OrderStatus,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 7] = [
        OrderStatus::PendingPayment,
        OrderStatus::Paid,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::RefundRequested,
        OrderStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::Paid => "paid",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::RefundRequested => "refund_requested",
            OrderStatus::Refunded => "refunded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether the machine allows `self -> to`.
    pub fn can_become(self, to: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, to),
            (PendingPayment, Paid)
                | (PendingPayment, Cancelled)
                | (Paid, Shipped)
                | (Shipped, Delivered)
                | (Paid | Shipped | Delivered, RefundRequested)
                | (Paid | Shipped | Delivered | RefundRequested, Refunded)
        )
    }

    /// The next status, or the refusal naming both.
    pub fn transition(self, to: OrderStatus) -> Result<OrderStatus, IllegalTransition> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }

    /// No further change is possible.
    pub fn is_terminal(self) -> bool {
        Self::ALL.into_iter().all(|to| !self.can_become(to))
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for IllegalTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an order that is {} cannot become {}",
            self.from, self.to
        )
    }
}

impl std::error::Error for IllegalTransition {}

/// A checkout: the cart's lines are read from the cart service and priced by the product
/// service; prices and lines are never taken from the client. Send `shipping_address` or
/// `shipping_address_id`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"payment_method_id": "0190f3c4-8f0e-7a4b-9d2e-3f1a2b3c4d5e",
    "shipping_address": {"recipient_name": "Ada Lovelace", "address_lines": ["12 Market Street"], "locality": "Berlin", "postal_code": "10115", "country_code": "DE"},
    "currency": "EUR", "shipping_method_id": "0190f3c4-4444-7a4b-9d2e-3f1a2b3c4d5e", "promotion_code": "TENOFF"}))]
pub struct CheckoutRequest {
    /// One of the caller's saved payment methods (`GET /api/v1/payment-methods`).
    pub payment_method_id: Uuid,
    /// Where to ship (the shape of a saved address). With `shipping_address_id` the gateway
    /// fills it from the saved address; a client sends one of the two.
    #[serde(default)]
    pub shipping_address: Option<Address>,
    /// One of the caller's saved addresses (`GET /api/v1/users/me/addresses`). A retry with
    /// the same id is the same request even if the saved address changed meanwhile.
    #[serde(default)]
    pub shipping_address_id: Option<Uuid>,
    /// ISO 4217 code to pay in; every item needs a price in it (else 422 naming the line).
    /// Default: the currency the items are primarily priced in.
    #[serde(default)]
    #[schema(example = "EUR")]
    pub currency: Option<String>,
    /// One of the methods `GET /api/v1/shipping-methods` lists for the address; required when
    /// any covers it.
    #[serde(default)]
    pub shipping_method_id: Option<Uuid>,
    /// A promotion code (case-insensitive). One that does not apply is 409 naming it.
    #[serde(default)]
    #[schema(example = "TENOFF")]
    pub promotion_code: Option<String>,
}

/// One line of an order: a price and name snapshot taken from the catalog at checkout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrderItem {
    #[schema(example = "TSHIRT-M-RED")]
    pub sku: String,
    pub product_id: Uuid,
    /// The product's name at checkout.
    pub name: String,
    #[schema(minimum = 1)]
    pub quantity: i64,
    pub unit_price: Money,
    /// `unit_price * quantity`.
    pub line_total: Money,
}

/// A status the order entered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatusChange {
    pub status: OrderStatus,
    /// Why (`checkout_completed`, `payment_completed`, `payment_failed`, `reservation_expired`,
    /// `customer_cancelled`, `shipped`, `delivered`, `refund_requested`, `payment_refunded`).
    pub reason: Option<String>,
    /// When (RFC 3339, UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// How a shipped order travels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Shipment {
    pub carrier: String,
    pub tracking_number: String,
}

/// An order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "0190f3c4-8f0e-7a4b-9d2e-3f1a2b3c4d5e", "user_id": "0190f3c4-1111-7a4b-9d2e-3f1a2b3c4d5e",
    "status": "pending_payment",
    "items": [{"sku": "TSHIRT-M-RED", "product_id": "0190f3c4-2222-7a4b-9d2e-3f1a2b3c4d5e", "name": "T-shirt",
               "quantity": 2, "unit_price": {"amount": 1999, "currency": "EUR"}, "line_total": {"amount": 3998, "currency": "EUR"}}],
    "subtotal": {"amount": 3998, "currency": "EUR"}, "total": {"amount": 4588, "currency": "EUR"}, "currency": "EUR",
    "shipping_address": {"recipient_name": "Ada Lovelace", "organization": "", "address_lines": ["12 Market Street"], "locality": "Berlin",
                         "administrative_area": "", "postal_code": "10115", "country_code": "DE", "phone": ""},
    "breakdown": {"currency": "EUR", "mode": "tax_inclusive",
        "lines": [{"sku": "TSHIRT-M-RED", "quantity": 2, "unit_price": 1999, "gross": 3998, "discount": 400, "tax": 574, "tax_rate_ppm": 190000, "total": 3598}],
        "subtotal": 3998, "discount_total": 400, "shipping": 990, "shipping_discount": 0, "shipping_tax": 158, "tax_total": 732,
        "taxes": [{"rate_ppm": 190000, "base": 4588, "amount": 732}],
        "applied": [{"promotion_id": "0190f3c4-5555-7a4b-9d2e-3f1a2b3c4d5e", "code": "TENOFF", "amount": 400}], "total": 4588},
    "shipping_method": {"id": "0190f3c4-4444-7a4b-9d2e-3f1a2b3c4d5e", "name": "Express", "delivery_days": {"min": 1, "max": 2}},
    "promotion_code": "TENOFF",
    "payment_method_id": "0190f3c4-3333-7a4b-9d2e-3f1a2b3c4d5e", "transaction_id": null, "shipment": null,
    "created_at": "2026-01-31T10:15:00Z", "updated_at": "2026-01-31T10:15:00Z",
    "status_history": [{"status": "pending_payment", "reason": "checkout_completed", "at": "2026-01-31T10:15:00Z"}]
}))]
pub struct Order {
    pub id: Uuid,
    /// The customer.
    pub user_id: Uuid,
    pub status: OrderStatus,
    pub items: Vec<OrderItem>,
    /// Sum of the line totals before discounts, shipping and (exclusive) tax.
    pub subtotal: Money,
    /// What the customer pays: the breakdown's grand total.
    pub total: Money,
    /// ISO 4217 code of every amount of the order.
    #[schema(example = "EUR")]
    pub currency: String,
    /// Where it ships, as it was at checkout.
    pub shipping_address: Address,
    /// The priced order: per line discount and tax, shipping, tax per rate, the promotions
    /// that applied and the grand total, in minor units of `currency`.
    pub breakdown: Breakdown,
    /// The shipping method chosen at checkout; null when the shop ships nothing.
    pub shipping_method: Option<ShippingChoice>,
    /// The promotion code that applied (uppercase).
    pub promotion_code: Option<String>,
    pub payment_method_id: Uuid,
    /// The payment's transaction, once paid.
    pub transaction_id: Option<String>,
    /// Set once shipped.
    pub shipment: Option<Shipment>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Every status the order entered, oldest first.
    pub status_history: Vec<StatusChange>,
}

/// A page of the caller's orders, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrderList {
    pub items: Vec<Order>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// How the order is shipped.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"carrier": "DHL", "tracking_number": "00340434161094042557"}))]
pub struct ShipRequest {
    /// 1 to 100 characters, not blank, no control characters.
    #[schema(
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub carrier: String,
    /// 1 to 100 characters, not blank, no control characters.
    #[schema(
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub tracking_number: String,
}

/// Units to refund: each line's share of its total in the order's breakdown (after its
/// discount, with its tax). Without a body the whole order is refunded, shipping included.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"lines": [{"sku": "TSHIRT-M-RED", "quantity": 1}]}))]
pub struct RefundRequest {
    /// 1 or more lines of the order, each once.
    #[schema(min_items = 1)]
    pub lines: Vec<RefundLine>,
}

/// Units of one line to refund.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundLine {
    pub sku: String,
    /// 1 to the units ordered.
    #[schema(minimum = 1)]
    pub quantity: i64,
}

/// A line that cannot be reserved in full (the `lines` of a checkout's 409).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ShortLine {
    pub sku: String,
    /// Units in the cart.
    pub requested: i64,
    /// Units available at the time of the attempt.
    pub available: i64,
}
