//! The shipping address snapshot an order keeps (the customer may change their address book
//! later; the order keeps what it was shipped to).

use kit::problem::FieldError;
use serde::{Deserialize, Serialize};

/// A shipping address as sent by the client, before validation.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAddress {
    pub name: String,
    pub line1: String,
    #[serde(default)]
    pub line2: Option<String>,
    pub city: String,
    #[serde(default)]
    pub region: Option<String>,
    pub postal_code: String,
    pub country: String,
    #[serde(default)]
    pub phone: Option<String>,
}

/// A valid, trimmed shipping address; `country` is an uppercase ISO 3166-1 alpha-2 code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingAddress {
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    pub country: String,
    pub phone: Option<String>,
}

/// ISO 3166-1 alpha-2 codes officially assigned.
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ \
BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ \
DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT \
GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY \
KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX \
MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS \
RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN \
TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

pub fn is_country(code: &str) -> bool {
    code.len() == 2 && COUNTRIES.split(' ').any(|c| c == code)
}

fn required(
    errors: &mut Vec<FieldError>,
    prefix: &str,
    field: &str,
    value: &str,
    max: usize,
) -> String {
    let v = value.trim();
    if v.is_empty() {
        errors.push(FieldError::new(
            format!("{prefix}.{field}"),
            "must not be empty",
        ));
    } else if v.chars().count() > max || v.chars().any(char::is_control) {
        errors.push(FieldError::new(
            format!("{prefix}.{field}"),
            format!("must be at most {max} characters without control characters"),
        ));
    }
    v.to_owned()
}

fn optional(
    errors: &mut Vec<FieldError>,
    prefix: &str,
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Option<String> {
    let v = value.map(str::trim).filter(|v| !v.is_empty())?;
    Some(required(errors, prefix, field, v, max))
}

impl ShippingAddress {
    /// Trims and checks every field; errors name `{prefix}.{field}`.
    pub fn parse(raw: &RawAddress, prefix: &str) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = required(&mut errors, prefix, "name", &raw.name, 200);
        let line1 = required(&mut errors, prefix, "line1", &raw.line1, 200);
        let line2 = optional(&mut errors, prefix, "line2", raw.line2.as_deref(), 200);
        let city = required(&mut errors, prefix, "city", &raw.city, 100);
        let region = optional(&mut errors, prefix, "region", raw.region.as_deref(), 100);
        let postal_code = required(&mut errors, prefix, "postal_code", &raw.postal_code, 20);
        let country = raw.country.trim().to_ascii_uppercase();
        if !is_country(&country) {
            errors.push(FieldError::new(
                format!("{prefix}.country"),
                "must be an ISO 3166-1 alpha-2 country code such as `DE`",
            ));
        }
        let phone = optional(&mut errors, prefix, "phone", raw.phone.as_deref(), 32);
        if let Some(p) = &phone
            && !p
                .chars()
                .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        {
            errors.push(FieldError::new(
                format!("{prefix}.phone"),
                "may hold only digits, spaces and `+-().`",
            ));
        }
        if errors.is_empty() {
            Ok(Self {
                name,
                line1,
                line2,
                city,
                region,
                postal_code,
                country,
                phone,
            })
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawAddress {
        RawAddress {
            name: " Ada Lovelace ".into(),
            line1: "1 Main St".into(),
            line2: Some("  ".into()),
            city: "Berlin".into(),
            region: None,
            postal_code: "10115".into(),
            country: "de".into(),
            phone: Some("+49 30 1234".into()),
        }
    }

    #[test]
    fn a_good_address_is_trimmed_and_normalised() {
        let a = ShippingAddress::parse(&raw(), "shipping_address").unwrap();
        assert_eq!(a.name, "Ada Lovelace");
        assert_eq!(a.line2, None);
        assert_eq!(a.country, "DE");
    }

    #[test]
    fn every_bad_field_is_named() {
        let r = RawAddress {
            name: "".into(),
            country: "XX".into(),
            phone: Some("call me".into()),
            ..raw()
        };
        let e = ShippingAddress::parse(&r, "shipping_address").unwrap_err();
        let fields: Vec<&str> = e.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "shipping_address.name",
                "shipping_address.country",
                "shipping_address.phone"
            ]
        );
    }
}
