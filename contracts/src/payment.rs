//! The payment service's HTTP contract (issue #12): saved cards. The payment service serialises
//! and parses these types; the gateway documents them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A saved card. The number and CVC are never stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": "0190f3c4-8f0e-7a4b-9d2e-3f1a2b3c4d5e", "brand": "visa", "last4": "4242",
    "exp_month": 12, "exp_year": 2030, "holder_name": "Ada Lovelace", "created_at": "2026-01-31T10:15:00Z"}))]
pub struct PaymentMethod {
    pub id: Uuid,
    /// `visa`, `mastercard`, `amex`, `discover` or `unknown`.
    #[schema(example = "visa")]
    pub brand: String,
    /// The last four digits of the number.
    #[schema(example = "4242")]
    pub last4: String,
    #[schema(minimum = 1, maximum = 12)]
    pub exp_month: i16,
    #[schema(example = 2030)]
    pub exp_year: i16,
    pub holder_name: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// A page of saved cards, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PaymentMethodList {
    pub items: Vec<PaymentMethod>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A card to save. Sandbox test cards: `4242424242424242` pays, `4000000000000002` is declined,
/// `4000000000000119` fails transiently twice then pays, `4000000000009995` times out.
// Deliberately not `Debug`: nothing may print it.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123", "holder_name": "Ada Lovelace"}))]
pub struct CreatePaymentMethodRequest {
    /// 12 to 19 digits passing the Luhn check; spaces and dashes are ignored.
    #[schema(example = "4242424242424242")]
    pub card_number: String,
    /// 1 to 12.
    #[schema(minimum = 1, maximum = 12)]
    pub exp_month: i64,
    /// Four digits; the card must not have expired.
    #[schema(example = 2030)]
    pub exp_year: i64,
    /// 3 or 4 digits; used for tokenization only, never stored.
    #[schema(example = "123")]
    pub cvc: String,
    /// At most 100 characters.
    #[serde(default)]
    #[schema(max_length = 100)]
    pub holder_name: Option<String>,
}
