//! The one postal address shape: a saved address of the address book, the address a checkout
//! ships to and the snapshot an order keeps are all [`Address`]. Its rules are stated here once,
//! as limits and patterns: the OpenAPI schemas below are built from them and
//! `kit::address::normalize` checks a request with the same ones (issue #12, "the document is
//! the contract"). Values are checked as sent: lengths count every character, codes carry no
//! surrounding spaces, and the country code is uppercase.

pub mod countries;

use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AdditionalProperties, AllOfBuilder, AnyOfBuilder, ArrayBuilder, ObjectBuilder, Schema, Type,
};

use crate::text::{LINE_PATTERN, OPTIONAL_LINE_PATTERN};

/// Length limits, in Unicode scalar values, counted as sent.
pub const NAME_MAX: usize = 200;
pub const LINE_MAX: usize = 200;
pub const LINES_MAX: usize = 3;
pub const LOCALITY_MAX: usize = 100;
pub const AREA_MAX: usize = 100;
pub const POSTAL_CODE_MAX: usize = 12;
/// A saved address's label.
pub const LABEL_MAX: usize = 64;

/// A postal code of a country without a shape of its own: 1 to 12 letters, digits, spaces and
/// hyphens, starting and ending with a letter or digit. Every shape below is a special case.
pub const POSTAL_CODE_PATTERN: &str = "^[A-Za-z0-9]([A-Za-z0-9 -]{0,10}[A-Za-z0-9])?$";
/// The same or empty: the postal code of a country without postal codes, and of a patch.
pub const POSTAL_CODE_OR_NONE_PATTERN: &str = "^([A-Za-z0-9]([A-Za-z0-9 -]{0,10}[A-Za-z0-9])?)?$";
/// E.164: `+` and 8 to 15 digits, the first not 0; empty for none.
pub const PHONE_PATTERN: &str = "^(\\+[1-9][0-9]{7,14})?$";

/// The postal code shape of a group of countries. Letters may be sent in either case (they are
/// kept uppercase). The patterns use only what ECMA-262, Python's `re` and Rust's `regex` read
/// alike (ASCII classes, groups, `?`, `{m,n}`).
#[derive(Clone, Copy, Debug)]
pub struct PostalShape {
    pub countries: &'static [&'static str],
    pub pattern: &'static str,
    pub example: &'static str,
}

/// The countries whose postal code shape is simple to state.
pub static POSTAL_SHAPES: [PostalShape; 11] = [
    PostalShape {
        countries: &["AS", "GU", "MP", "PR", "US", "VI"],
        pattern: "^[0-9]{5}(-[0-9]{4})?$",
        example: "12345 or 12345-6789",
    },
    PostalShape {
        // Outward code A9, A99, A9A, AA9, AA99 or AA9A; an optional space; inward code 9AA.
        countries: &["GB", "GG", "IM", "JE"],
        pattern: "^[A-Za-z]([0-9][A-Za-z0-9]?|[A-Za-z][0-9][A-Za-z0-9]?) ?[0-9][A-Za-z]{2}$",
        example: "SW1A 1AA",
    },
    PostalShape {
        countries: &[
            "DE", "EE", "ES", "FI", "FR", "HR", "IT", "MC", "MX", "MY", "TH", "TR", "UA",
        ],
        pattern: "^[0-9]{5}$",
        example: "10115",
    },
    PostalShape {
        countries: &[
            "AT", "AU", "BE", "BG", "CH", "DK", "HU", "LU", "NO", "NZ", "PH", "SI", "ZA",
        ],
        pattern: "^[0-9]{4}$",
        example: "1010",
    },
    PostalShape {
        countries: &["BY", "CN", "IN", "KZ", "RO", "RU", "SG"],
        pattern: "^[0-9]{6}$",
        example: "110001",
    },
    PostalShape {
        countries: &["NL"],
        pattern: "^[1-9][0-9]{3} ?[A-Za-z]{2}$",
        example: "1012 AB",
    },
    PostalShape {
        countries: &["CA"],
        pattern: "^[A-Za-z][0-9][A-Za-z] ?[0-9][A-Za-z][0-9]$",
        example: "K1A 0B1",
    },
    PostalShape {
        countries: &["JP"],
        pattern: "^[0-9]{3}-?[0-9]{4}$",
        example: "100-0001",
    },
    PostalShape {
        countries: &["BR"],
        pattern: "^[0-9]{5}-?[0-9]{3}$",
        example: "01310-100",
    },
    PostalShape {
        countries: &["SE"],
        pattern: "^[0-9]{3} ?[0-9]{2}$",
        example: "114 55",
    },
    PostalShape {
        countries: &["PL"],
        pattern: "^[0-9]{2}-[0-9]{3}$",
        example: "00-950",
    },
];

/// What a country asks of a postal code.
#[derive(Clone, Copy, Debug)]
pub enum PostalRule {
    /// Required, in this shape.
    Shape(&'static PostalShape),
    /// Required, matching [`POSTAL_CODE_PATTERN`].
    Any,
    /// The country has no postal codes: empty, or matching [`POSTAL_CODE_PATTERN`].
    Optional,
}

impl PostalRule {
    /// The rule of `country` (an ISO 3166-1 alpha-2 code).
    pub fn of(country: &str) -> Self {
        if let Some(s) = POSTAL_SHAPES
            .iter()
            .find(|s| s.countries.contains(&country))
        {
            PostalRule::Shape(s)
        } else if countries::has_no_postal_codes(country) {
            PostalRule::Optional
        } else {
            PostalRule::Any
        }
    }

    pub fn pattern(&self) -> &'static str {
        match self {
            PostalRule::Shape(s) => s.pattern,
            PostalRule::Any => POSTAL_CODE_PATTERN,
            PostalRule::Optional => POSTAL_CODE_OR_NONE_PATTERN,
        }
    }
}

/// A postal address. Empty strings stand for absent optional parts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub recipient_name: String,
    #[serde(default)]
    pub organization: String,
    pub address_lines: Vec<String>,
    pub locality: String,
    #[serde(default)]
    pub administrative_area: String,
    #[serde(default)]
    pub postal_code: String,
    pub country_code: String,
    #[serde(default)]
    pub phone: String,
}

/// The fields of a saved address (create and patch) besides the [`Address`]; none is required.
/// `POST /users/me/addresses` documents [`NewAddress`], `PATCH` this.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    pub label: Option<String>,
    pub recipient_name: Option<String>,
    pub organization: Option<String>,
    pub address_lines: Option<Vec<String>>,
    pub locality: Option<String>,
    pub administrative_area: Option<String>,
    pub postal_code: Option<String>,
    pub country_code: Option<String>,
    pub phone: Option<String>,
    /// Makes this the default shipping address (the previous default loses it).
    pub is_default_shipping: Option<bool>,
    /// Makes this the default billing address (the previous default loses it).
    pub is_default_billing: Option<bool>,
}

/// The body of `POST /users/me/addresses`: an [`Address`] (required as it is) with a label and
/// default flags. Its fields are listed out because serde cannot flatten a struct that refuses
/// unknown fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAddress {
    #[serde(default)]
    pub label: String,
    pub recipient_name: String,
    #[serde(default)]
    pub organization: String,
    pub address_lines: Vec<String>,
    pub locality: String,
    #[serde(default)]
    pub administrative_area: String,
    #[serde(default)]
    pub postal_code: String,
    pub country_code: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub is_default_shipping: bool,
    #[serde(default)]
    pub is_default_billing: bool,
}

/// A new address as a patch that sets every field: create and update take one path.
impl From<NewAddress> for AddressInput {
    fn from(n: NewAddress) -> Self {
        AddressInput {
            label: Some(n.label),
            recipient_name: Some(n.recipient_name),
            organization: Some(n.organization),
            address_lines: Some(n.address_lines),
            locality: Some(n.locality),
            administrative_area: Some(n.administrative_area),
            postal_code: Some(n.postal_code),
            country_code: Some(n.country_code),
            phone: Some(n.phone),
            is_default_shipping: Some(n.is_default_shipping),
            is_default_billing: Some(n.is_default_billing),
        }
    }
}

fn text(max: usize, pattern: &str, description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(max))
        .pattern(Some(pattern))
        .description(Some(description))
}

fn countries_enum(codes: impl IntoIterator<Item = &'static str>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(codes))
}

/// The properties of an [`Address`] on `o`; `patch` leaves every rule that depends on the
/// country to the merged address (a patch may change the country alone).
fn address_properties(o: ObjectBuilder, patch: bool) -> ObjectBuilder {
    let lines = ArrayBuilder::new()
        .items(text(LINE_MAX, LINE_PATTERN, "A street line, not blank."))
        .min_items(Some(1))
        .max_items(Some(LINES_MAX))
        .description(Some("Street lines, most specific last: 1 to 3 lines."));
    let postal = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(POSTAL_CODE_MAX))
        .description(Some(
            "Postal code as the country writes it, letters in either case (kept uppercase). \
             Its shape depends on `country_code` (US `12345[-6789]`, GB `SW1A 1AA`, DE `10115`, \
             ...; otherwise 1 to 12 letters, digits, spaces and hyphens); required unless the \
             country has no postal codes.",
        ));
    let postal = if patch {
        postal.pattern(Some(POSTAL_CODE_OR_NONE_PATTERN))
    } else {
        postal
    };
    let country = ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("ISO 3166-1 alpha-2 code, uppercase."))
        .examples([serde_json::json!("DE")]);
    let country = if patch {
        country.enum_values(Some(countries::COUNTRIES))
    } else {
        country.min_length(Some(2)).max_length(Some(2))
    };
    o.property(
        "recipient_name",
        text(
            NAME_MAX,
            LINE_PATTERN,
            "Full name of the recipient, not blank.",
        ),
    )
    .property(
        "organization",
        text(
            NAME_MAX,
            OPTIONAL_LINE_PATTERN,
            "Company or organisation; empty for none.",
        ),
    )
    .property("address_lines", lines)
    .property(
        "locality",
        text(LOCALITY_MAX, LINE_PATTERN, "City or locality, not blank."),
    )
    .property(
        "administrative_area",
        text(
            AREA_MAX,
            OPTIONAL_LINE_PATTERN,
            "State, province or region where the country uses one (tax rates per region match \
             its ISO 3166-2 subdivision code, e.g. `CA` in `US`); empty for none.",
        ),
    )
    .property("postal_code", postal)
    .property("country_code", country)
    .property(
        "phone",
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(PHONE_PATTERN))
            .description(Some("E.164: `+` and 8 to 15 digits; empty for none."))
            .examples([serde_json::json!("+4930123456")]),
    )
}

/// The saved-address fields on `o`: label and default flags.
fn saved_properties(o: ObjectBuilder) -> ObjectBuilder {
    o.property(
        "label",
        text(
            LABEL_MAX,
            OPTIONAL_LINE_PATTERN,
            "A name for the address (`Home`); empty for none.",
        ),
    )
    .property(
        "is_default_shipping",
        ObjectBuilder::new()
            .schema_type(Type::Boolean)
            .description(Some(
                "Makes this the default shipping address (the previous default loses it).",
            )),
    )
    .property(
        "is_default_billing",
        ObjectBuilder::new()
            .schema_type(Type::Boolean)
            .description(Some(
                "Makes this the default billing address (the previous default loses it).",
            )),
    )
}

/// One alternative per postal rule: the countries it covers and the shape their postal code
/// takes. Exactly one matches any valid country code.
fn postal_alternatives() -> Vec<Schema> {
    let alternative = |codes: Vec<&'static str>, rule: PostalRule| {
        let o = ObjectBuilder::new()
            .property("country_code", countries_enum(codes))
            .property(
                "postal_code",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(rule.pattern())),
            );
        let o = match rule {
            PostalRule::Optional => o,
            _ => o.required("postal_code"),
        };
        Schema::Object(o.build())
    };
    let mut out: Vec<Schema> = POSTAL_SHAPES
        .iter()
        .map(|s| alternative(s.countries.to_vec(), PostalRule::Shape(s)))
        .collect();
    let of = |want: fn(&PostalRule) -> bool| {
        countries::COUNTRIES
            .iter()
            .copied()
            .filter(|c| want(&PostalRule::of(c)))
            .collect::<Vec<_>>()
    };
    out.push(alternative(
        of(|r| matches!(r, PostalRule::Any)),
        PostalRule::Any,
    ));
    out.push(alternative(
        of(|r| matches!(r, PostalRule::Optional)),
        PostalRule::Optional,
    ));
    out
}

/// An object of the address properties plus `more`, required as an [`Address`] is, and the
/// postal code rule of each country (`allOf` the object and `anyOf` the alternatives).
fn address_schema(
    more: impl FnOnce(ObjectBuilder) -> ObjectBuilder,
    description: &str,
    example: serde_json::Value,
) -> Schema {
    let object =
        more(address_object()).additional_properties(Some(AdditionalProperties::FreeForm(false)));
    let mut alternatives = AnyOfBuilder::new();
    for a in postal_alternatives() {
        alternatives = alternatives.item(a);
    }
    let mut all = AllOfBuilder::new()
        .item(object)
        .item(alternatives)
        .description(Some(description))
        .build();
    // `example`, as the rest of the document states its examples.
    all.example = Some(example);
    Schema::AllOf(all)
}

fn berlin() -> serde_json::Value {
    serde_json::json!({"recipient_name": "Ada Lovelace", "organization": "",
        "address_lines": ["Unter den Linden 1"], "locality": "Berlin", "administrative_area": "",
        "postal_code": "10117", "country_code": "DE", "phone": "+4930123456"})
}

impl utoipa::PartialSchema for Address {
    fn schema() -> RefOr<Schema> {
        RefOr::T(address_schema(
            |o| o,
            "A postal address. Empty strings stand for absent optional parts.",
            berlin(),
        ))
    }
}

impl utoipa::ToSchema for Address {}

impl utoipa::PartialSchema for NewAddress {
    fn schema() -> RefOr<Schema> {
        let mut example = berlin();
        example["label"] = "Home".into();
        example["is_default_shipping"] = true.into();
        RefOr::T(address_schema(
            saved_properties,
            "A new saved address: an address with an optional label and default flags.",
            example,
        ))
    }
}

impl utoipa::ToSchema for NewAddress {}

impl utoipa::PartialSchema for AddressInput {
    fn schema() -> RefOr<Schema> {
        let o = saved_properties(address_properties(ObjectBuilder::new(), true))
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .description(Some(
                "The fields of a saved address to change; absent fields stay. The address that \
                 results must still be whole: a new `country_code` needs a `postal_code` of its \
                 shape, sent along or already saved.",
            ))
            .build();
        let mut o = o;
        o.example = Some(serde_json::json!({"postal_code": "10117", "is_default_shipping": true}));
        RefOr::T(Schema::Object(o))
    }
}

impl utoipa::ToSchema for AddressInput {}

/// The object schema of an [`Address`] alone (its properties and required list, without the
/// postal alternatives), for views that add fields of their own to it.
pub fn object_schema() -> utoipa::openapi::schema::Object {
    address_object().build()
}

/// The address properties, required as an [`Address`] requires them.
fn address_object() -> ObjectBuilder {
    address_properties(ObjectBuilder::new(), false)
        .required("recipient_name")
        .required("address_lines")
        .required("locality")
        .required("country_code")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_country_has_exactly_one_postal_rule() {
        let alternatives = serde_json::to_value(postal_alternatives()).unwrap();
        for c in countries::COUNTRIES {
            let n = alternatives
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| {
                    a["properties"]["country_code"]["enum"]
                        .as_array()
                        .unwrap()
                        .contains(&c.into())
                })
                .count();
            assert_eq!(n, 1, "{c}");
        }
        for s in &POSTAL_SHAPES {
            for c in s.countries {
                assert!(countries::is_country(c), "{c}");
                assert!(!countries::has_no_postal_codes(c), "{c}");
            }
        }
    }

    #[test]
    fn the_json_shape_refuses_unknown_fields_and_defaults_optional_ones() {
        let a: Address = serde_json::from_value(serde_json::json!({
            "recipient_name": "Ada", "address_lines": ["1 Main St"], "locality": "Berlin",
            "country_code": "DE"
        }))
        .unwrap();
        assert_eq!(a.postal_code, "");
        let old = serde_json::json!({"name": "Ada", "line1": "1 Main St", "city": "Berlin",
            "postal_code": "10115", "country": "DE"});
        assert!(serde_json::from_value::<Address>(old).is_err());
        let saved: NewAddress = serde_json::from_value(serde_json::json!({
            "label": "Home", "recipient_name": "Ada", "address_lines": ["1 Main St"],
            "locality": "Berlin", "postal_code": "10115", "country_code": "DE"
        }))
        .unwrap();
        let input = AddressInput::from(saved);
        assert_eq!(input.postal_code.as_deref(), Some("10115"));
        assert_eq!(input.is_default_shipping, Some(false));
        // A null is not an absent field: the schema does not allow it.
        let null = serde_json::json!({"recipient_name": "Ada", "address_lines": ["1 Main St"],
            "locality": "Berlin", "country_code": "HK", "phone": null});
        assert!(serde_json::from_value::<NewAddress>(null).is_err());
    }

    #[test]
    fn the_schema_states_the_rules() {
        let s = serde_json::to_value(<Address as utoipa::PartialSchema>::schema()).unwrap();
        let object = &s["allOf"][0];
        assert_eq!(object["additionalProperties"], false);
        assert_eq!(
            object["properties"]["recipient_name"]["pattern"],
            LINE_PATTERN
        );
        assert_eq!(object["properties"]["phone"]["pattern"], PHONE_PATTERN);
        let alternatives = s["allOf"][1]["anyOf"].as_array().unwrap();
        assert_eq!(alternatives.len(), POSTAL_SHAPES.len() + 2);
        let patch =
            serde_json::to_value(<AddressInput as utoipa::PartialSchema>::schema()).unwrap();
        assert!(patch.get("required").is_none());
        assert_eq!(
            patch["properties"]["country_code"]["enum"]
                .as_array()
                .unwrap()
                .len(),
            249
        );
    }
}
