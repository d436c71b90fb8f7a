//! The one postal address shape: a saved address of the address book, the address a checkout
//! ships to and the snapshot an order keeps are all [`Address`]. Its rules (lengths, ISO country
//! codes, postal code shapes, E.164 phones) are checked by `kit::address::normalize`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A postal address. Empty strings stand for absent optional parts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"recipient_name": "Ada Lovelace", "organization": "", "address_lines": ["Unter den Linden 1"],
    "locality": "Berlin", "administrative_area": "", "postal_code": "10117", "country_code": "DE", "phone": "+4930123456"}))]
pub struct Address {
    /// Full name of the recipient; 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub recipient_name: String,
    /// Company or organisation; at most 200 characters.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub organization: String,
    /// Street lines, most specific last: 1 to 3 lines of 1 to 200 characters each.
    #[schema(min_items = 1, max_items = 3)]
    pub address_lines: Vec<String>,
    /// City or locality; 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub locality: String,
    /// State, province or region where the country uses one (tax rates per region match its
    /// ISO 3166-2 subdivision code, e.g. `CA` in `US`); at most 100 characters.
    #[serde(default)]
    #[schema(max_length = 100)]
    pub administrative_area: String,
    /// Postal code as the country writes it (checked for the countries with a simple shape);
    /// at most 12 letters, digits, spaces and hyphens. Required unless the country has none.
    #[serde(default)]
    #[schema(max_length = 12, pattern = r"^[A-Za-z0-9 -]*$")]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 code (answered uppercase).
    #[schema(
        example = "DE",
        min_length = 2,
        max_length = 2,
        pattern = "^[A-Za-z]{2}$"
    )]
    pub country_code: String,
    /// E.164: `+` and 8 to 15 digits; empty for none.
    #[serde(default)]
    #[schema(example = "+4930123456", pattern = r"^(\+[1-9][0-9]{7,14})?$")]
    pub phone: String,
}
