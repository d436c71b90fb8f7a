//! The JSON an order is answered as (and stored as the answer of a checkout's key).

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{OrderStatus, ShippingAddress};
use crate::events::Money;
use crate::store::orders::Order;

#[derive(Debug, Serialize)]
pub struct OrderItemView {
    pub sku: String,
    pub product_id: Uuid,
    pub name: String,
    pub quantity: i64,
    pub unit_price: Money,
    pub line_total: Money,
}

#[derive(Debug, Serialize)]
pub struct HistoryView {
    pub status: OrderStatus,
    pub reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

#[derive(Debug, Serialize)]
pub struct ShipmentView {
    pub carrier: String,
    pub tracking_number: String,
}

#[derive(Debug, Serialize)]
pub struct OrderView {
    pub id: Uuid,
    pub user_id: Uuid,
    pub status: OrderStatus,
    pub items: Vec<OrderItemView>,
    pub subtotal: Money,
    pub total: Money,
    pub currency: String,
    pub shipping_address: ShippingAddress,
    /// The priced order: per line discount and tax, shipping, tax per rate, promotions, total.
    pub breakdown: kit::pricing::Breakdown,
    pub shipping_method: Option<kit::totals::ShippingChoice>,
    pub promotion_code: Option<String>,
    pub payment_method_id: Uuid,
    pub transaction_id: Option<String>,
    pub shipment: Option<ShipmentView>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub status_history: Vec<HistoryView>,
}

#[derive(Debug, Serialize)]
pub struct OrderList {
    pub items: Vec<OrderView>,
    pub next_cursor: Option<String>,
}

impl From<&Order> for OrderView {
    fn from(o: &Order) -> Self {
        let money = |amount| Money {
            amount,
            currency: o.currency.clone(),
        };
        Self {
            id: o.id,
            user_id: o.user_id,
            status: o.status,
            items: o
                .items
                .iter()
                .map(|i| OrderItemView {
                    sku: i.sku.clone(),
                    product_id: i.product_id,
                    name: i.name.clone(),
                    quantity: i.quantity,
                    unit_price: money(i.unit_price),
                    line_total: money(i.line_total),
                })
                .collect(),
            subtotal: money(o.subtotal),
            total: money(o.total),
            currency: o.currency.clone(),
            shipping_address: o.shipping_address.clone(),
            breakdown: o.breakdown(),
            shipping_method: o.shipping_method.clone(),
            promotion_code: o.promotion_code.clone(),
            payment_method_id: o.payment_method_id,
            transaction_id: o.transaction_id.clone(),
            shipment: match (&o.carrier, &o.tracking_number) {
                (Some(c), Some(t)) => Some(ShipmentView {
                    carrier: c.clone(),
                    tracking_number: t.clone(),
                }),
                _ => None,
            },
            created_at: o.created_at,
            updated_at: o.updated_at,
            status_history: o
                .history
                .iter()
                .map(|h| HistoryView {
                    status: h.status,
                    reason: h.reason.clone(),
                    at: h.at,
                })
                .collect(),
        }
    }
}
