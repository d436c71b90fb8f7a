//! Money as every contract carries it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An amount in minor units of an ISO 4217 currency.
//
// `{"amount": 1999, "currency": "EUR"}` is 19.99 EUR: never a float, never converted between
// currencies.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"amount": 1999, "currency": "EUR"}))]
pub struct Money {
    /// Minor units (cents for EUR); 0 or more.
    #[schema(example = 1999)]
    pub amount: i64,
    /// Uppercase ISO 4217 code.
    #[schema(example = "EUR")]
    pub currency: String,
}

impl Money {
    pub fn new(amount: i64, currency: impl Into<String>) -> Self {
        Self {
            amount,
            currency: currency.into(),
        }
    }
}

/// ISO 4217 codes a shopper may choose to see prices in (their preferences).
pub const DISPLAY_CURRENCIES: &[&str] = &[
    "AED", "ARS", "AUD", "BGN", "BRL", "CAD", "CHF", "CLP", "CNY", "COP", "CZK", "DKK", "EGP",
    "EUR", "GBP", "HKD", "HUF", "IDR", "ILS", "INR", "ISK", "JPY", "KES", "KRW", "MAD", "MXN",
    "MYR", "NGN", "NOK", "NZD", "PEN", "PHP", "PLN", "RON", "SAR", "SEK", "SGD", "THB", "TRY",
    "TWD", "UAH", "USD", "VND", "ZAR",
];

/// The OpenAPI schema of a display currency: one of [`DISPLAY_CURRENCIES`] (letter case is
/// ignored).
pub fn display_currency_schema() -> utoipa::openapi::Object {
    currency_schema(false)
}

/// [`display_currency_schema`] or null (a change that leaves the currency as it is).
pub fn optional_display_currency_schema() -> utoipa::openapi::Object {
    currency_schema(true)
}

fn currency_schema(nullable: bool) -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{SchemaType, Type};
    let mut values: Vec<serde_json::Value> = DISPLAY_CURRENCIES
        .iter()
        .map(|c| serde_json::json!(c))
        .collect();
    let (types, description) = if nullable {
        values.push(serde_json::Value::Null);
        (
            SchemaType::from_iter([Type::String, Type::Null]),
            "ISO 4217 code the prices are shown in (letter case is ignored); null keeps it.",
        )
    } else {
        (
            SchemaType::Type(Type::String),
            "ISO 4217 code the prices are shown in (letter case is ignored).",
        )
    };
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(types)
        .enum_values(Some(values))
        .description(Some(description))
        .examples([serde_json::json!("GBP")])
        .build()
}
