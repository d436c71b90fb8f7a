//! The checkout breakdown as it travels (issue #13): stored with the order, shown by the cart
//! and the order, carried by `order.created` and `order.paid`, charged and refunded. The math
//! that makes it is [`crate::pricing`]; the admin bodies, shipping options and the estimate are
//! in `settings` (re-exported here), the REST API's table of operations and its list bodies in
//! [`routes`]; the README's "Checkout totals" states the rules.

pub mod routes;
mod settings;

pub use routes::{
    MethodList, PriceModeList, PromotionPage, PromotionPageQuery, ShippingMethodsQuery,
    ShippingOptionList, TaxRateList, ZoneList,
};
pub use settings::*;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// How a currency's prices are entered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PriceMode {
    /// Prices include tax (EU shops): the shopper pays the price.
    TaxInclusive,
    /// Tax is added on top (US shops).
    TaxExclusive,
}

/// A product's tax category.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TaxCategory {
    #[default]
    Standard,
    Reduced,
    Zero,
}

impl TaxCategory {
    pub const ALL: [TaxCategory; 3] = [Self::Standard, Self::Reduced, Self::Zero];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Reduced => "reduced",
            Self::Zero => "zero",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl PriceMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TaxInclusive => "tax_inclusive",
            Self::TaxExclusive => "tax_exclusive",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::TaxInclusive, Self::TaxExclusive]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// One line of the breakdown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LineBreakdown {
    pub sku: String,
    pub quantity: i64,
    pub unit_price: i64,
    /// `unit_price × quantity`.
    pub gross: i64,
    pub discount: i64,
    pub tax: i64,
    pub tax_rate_ppm: i64,
    /// What the shopper pays for the line: `gross − discount`, plus `tax` when exclusive.
    pub total: i64,
}

/// Tax of one rate, over lines and shipping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TaxLine {
    pub rate_ppm: i64,
    /// The amounts taxed at this rate (after discounts, in the price mode).
    pub base: i64,
    pub amount: i64,
}

/// A promotion that gave something.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Applied {
    pub promotion_id: Uuid,
    pub code: Option<String>,
    pub amount: i64,
}

/// The priced order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Breakdown {
    pub currency: String,
    pub mode: PriceMode,
    pub lines: Vec<LineBreakdown>,
    /// Σ gross.
    pub subtotal: i64,
    /// Σ line discounts + shipping discount.
    pub discount_total: i64,
    /// The shipping price before promotions (0 without a method).
    pub shipping: i64,
    pub shipping_discount: i64,
    pub shipping_tax: i64,
    /// Σ line taxes + shipping tax.
    pub tax_total: i64,
    pub taxes: Vec<TaxLine>,
    pub applied: Vec<Applied>,
    /// `subtotal − discount_total + shipping`, plus `tax_total` when exclusive.
    pub total: i64,
}

/// Business days from order to delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryDays {
    pub min: i32,
    pub max: i32,
}

/// The shipping method an order was placed with, as it was then.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShippingChoice {
    pub id: Uuid,
    pub name: String,
    pub delivery_days: Option<DeliveryDays>,
}
