//! The cart service's HTTP contract (issue #12): the cart as every route answers it and the
//! bodies and query it takes. The cart service serialises and parses these types; the gateway
//! documents them.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::money::Money;
use crate::totals::Estimate;

/// One cart line: what the cart stores (`sku`, `quantity`) and what product and inventory say
/// about it now. Prices are never stored in the cart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"sku": "TSHIRT-M-RED", "quantity": 2, "product_id": "0190f3c4-8f0e-7a4b-9d2e-3f1a2b3c4d5e",
    "name": "Classic T-shirt", "unit_price": {"amount": 1999, "currency": "EUR"}, "line_total": {"amount": 3998, "currency": "EUR"},
    "available": 12, "in_stock": true, "purchasable": true}))]
pub struct CartLine {
    #[schema(example = "TSHIRT-M-RED")]
    pub sku: String,
    /// 1 to 99.
    #[schema(minimum = 1, maximum = 99)]
    pub quantity: i32,
    /// The product; null when the SKU no longer names a variant.
    pub product_id: Option<String>,
    /// The product's name; null when the SKU no longer names a variant.
    pub name: Option<String>,
    /// The current price of one unit (from product), in the requested currency when the query
    /// names one.
    pub unit_price: Option<Money>,
    /// `unit_price` times `quantity`.
    pub line_total: Option<Money>,
    /// Units inventory can sell now.
    pub available: i64,
    /// `available >= quantity`.
    pub in_stock: bool,
    /// The SKU still names a variant of an active product, priced in the requested currency
    /// when the query names one (else checkout refuses the line).
    pub purchasable: bool,
}

/// A cart. An absent cart reads as an empty one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"items": [{"sku": "TSHIRT-M-RED", "quantity": 2, "product_id": "0190f3c4-8f0e-7a4b-9d2e-3f1a2b3c4d5e",
    "name": "Classic T-shirt", "unit_price": {"amount": 1999, "currency": "EUR"}, "line_total": {"amount": 3998, "currency": "EUR"},
    "available": 12, "in_stock": true, "purchasable": true}], "item_count": 2, "subtotal": {"amount": 3998, "currency": "EUR"}}))]
pub struct Cart {
    /// The lines, sorted by SKU; at most 100.
    pub items: Vec<CartLine>,
    /// Units in the cart (sum of the quantities).
    pub item_count: i64,
    /// Sum of the purchasable lines; null when there is none or their currencies differ.
    pub subtotal: Option<Money>,
    /// Only when the query asks for it (`currency`, `country`, `shipping_method_id` or
    /// `promotion_code`): what the purchasable lines would cost, with discounts, shipping (once
    /// a country is given) and tax, exactly as checkout would price them now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<Estimate>,
    /// Why there is no estimate although one was asked for (e.g. a line not sold in the
    /// currency; `errors` names it): a problem+json object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::problem::Problem>)]
    pub estimate_problem: Option<serde_json::Value>,
}

/// What `GET /api/v1/cart` estimates the cart for.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EstimateQuery {
    /// ISO 4217 code: line prices and the estimate in this currency.
    #[param(pattern = r"^[A-Za-z]{3}$", example = "EUR")]
    pub currency: Option<String>,
    /// ISO 3166-1 alpha-2 code of the destination: shipping methods and tax.
    #[param(pattern = r"^[A-Za-z]{2}$", example = "DE")]
    pub country: Option<String>,
    /// The destination's state or province, where zones or rates depend on it; at most 100
    /// characters.
    #[param(max_length = 100)]
    pub region: Option<String>,
    /// The method to price (default: the cheapest offered).
    #[param(value_type = Option<uuid::Uuid>)]
    pub shipping_method_id: Option<String>,
    /// A promotion code (3 to 32 letters, digits, `-` or `_`; empty: none); `estimate.code` says
    /// whether it applies and why not.
    #[param(pattern = r"^([A-Za-z0-9_-]{3,32})?$", example = "TENOFF")]
    pub promotion_code: Option<String>,
}

/// Units of a SKU to put in the cart (added to the line if it is there already).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"sku": "TSHIRT-M-RED", "quantity": 1}))]
pub struct AddCartItemRequest {
    /// A SKU of an active product: 1 to 64 ASCII letters, digits, `-`, `_`, `.`.
    #[schema(example = "TSHIRT-M-RED", min_length = 1, max_length = 64)]
    pub sku: String,
    /// 1 to 99; the line may hold at most 99 units and no more than inventory has available.
    #[schema(minimum = 1, maximum = 99)]
    pub quantity: i64,
}

/// The new quantity of a line.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"quantity": 3}))]
pub struct UpdateCartItemRequest {
    /// 1 to 99 (remove the line with DELETE).
    #[schema(minimum = 1, maximum = 99)]
    pub quantity: i64,
}
