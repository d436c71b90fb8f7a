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
