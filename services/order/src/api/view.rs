//! The JSON an order is answered as (and stored as the answer of a checkout's key): the
//! contract's [`Order`](kit::contracts::orders::Order), built from the stored order.

pub use kit::contracts::orders::{
    Order as OrderView, OrderItem, OrderList, Shipment, StatusChange,
};

use crate::events::Money;
use crate::store::orders::Order;

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
                .map(|i| OrderItem {
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
                (Some(c), Some(t)) => Some(Shipment {
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
                .map(|h| StatusChange {
                    status: h.status,
                    reason: h.reason.clone(),
                    at: h.at,
                })
                .collect(),
        }
    }
}
