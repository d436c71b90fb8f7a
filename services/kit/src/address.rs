//! The rules of a postal address, one set for the address book and checkout (issue #12): field
//! checks that name the field they refuse, ISO 3166-1 countries, postal code shapes and E.164
//! phones, and [`normalize`], which checks a whole [`Address`].

pub mod countries;

pub use contracts::address::Address;

use crate::problem::FieldError as Invalid;

/// Length limits, in Unicode scalar values.
pub const NAME_MAX: usize = 200;
pub const LINE_MAX: usize = 200;
pub const LINES_MAX: usize = 3;
pub const LOCALITY_MAX: usize = 100;
pub const AREA_MAX: usize = 100;
pub const POSTAL_CODE_MAX: usize = 12;

/// `a` trimmed, uppercased where codes are, and checked; every broken rule is named
/// `{prefix}.{field}` (`shipping_address.postal_code`).
pub fn normalize(a: &Address, prefix: &str) -> Result<Address, Vec<Invalid>> {
    let mut errors = Vec::new();
    let f = |name: &str| format!("{prefix}.{name}");
    let mut keep = |r: Result<String, Invalid>| {
        r.unwrap_or_else(|e| {
            errors.push(e);
            String::new()
        })
    };
    let recipient_name = keep(text(
        &f("recipient_name"),
        &a.recipient_name,
        true,
        NAME_MAX,
    ));
    let organization = keep(text(&f("organization"), &a.organization, false, NAME_MAX));
    let lines = address_lines(&f("address_lines"), &a.address_lines);
    let locality = keep(text(&f("locality"), &a.locality, true, LOCALITY_MAX));
    let administrative_area = keep(text(
        &f("administrative_area"),
        &a.administrative_area,
        false,
        AREA_MAX,
    ));
    let country_code = keep(country(&f("country_code"), &a.country_code));
    let postal_code = keep(postal_code(
        &f("postal_code"),
        &a.postal_code,
        &country_code,
    ));
    let phone = keep(phone(&f("phone"), &a.phone));
    let address_lines = match lines {
        Ok(l) => l,
        Err(e) => {
            // The lines come right after the organization, as the address reads.
            let at = errors
                .iter()
                .position(|x| x.field != f("recipient_name") && x.field != f("organization"))
                .unwrap_or(errors.len());
            errors.splice(at..at, e);
            Vec::new()
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Address {
        recipient_name,
        organization,
        address_lines,
        locality,
        administrative_area,
        postal_code,
        country_code,
        phone,
    })
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Free text: at most `max` characters and no control characters as sent, kept trimmed; empty
/// (or blank) allowed unless `required`.
pub fn text(field: &str, raw: &str, required: bool, max: usize) -> Result<String, Invalid> {
    // Length and characters as sent, so that the document's `maxLength` and pattern say
    // exactly what is accepted; the value kept is trimmed.
    if raw.chars().count() > max {
        return Err(Invalid::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if has_control(raw) {
        return Err(Invalid::new(field, "must not contain control characters"));
    }
    let v = raw.trim();
    if v.is_empty() && required {
        return Err(Invalid::new(field, "is required"));
    }
    Ok(v.to_owned())
}

/// An E.164 phone number (`+` and 8 to 15 digits); empty clears it.
pub fn phone(field: &str, raw: &str) -> Result<String, Invalid> {
    let v = raw.trim();
    if v.is_empty() {
        return Ok(String::new());
    }
    let digits = v.strip_prefix('+').unwrap_or("");
    if !(8..=15).contains(&digits.len())
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || digits.starts_with('0')
    {
        return Err(Invalid::new(
            field,
            "must be in E.164 form: `+` and 8 to 15 digits, e.g. +4930123456",
        ));
    }
    Ok(v.to_owned())
}

/// An ISO 3166-1 alpha-2 country code, uppercased.
pub fn country(field: &str, raw: &str) -> Result<String, Invalid> {
    let v = raw.trim().to_ascii_uppercase();
    if v.is_empty() {
        return Err(Invalid::new(field, "is required"));
    }
    if !countries::is_country(&v) {
        return Err(Invalid::new(
            field,
            "is not an ISO 3166-1 alpha-2 country code (e.g. DE, GB, US)",
        ));
    }
    Ok(v)
}

/// A postal code for `country` (already valid): trimmed, uppercased, shaped as the country
/// writes it where the shape is simple, else 1..=12 letters, digits, spaces and hyphens.
pub fn postal_code(field: &str, raw: &str, country: &str) -> Result<String, Invalid> {
    let v = raw.trim().to_ascii_uppercase();
    if v.is_empty() {
        return if countries::has_no_postal_codes(country) || country.is_empty() {
            Ok(String::new())
        } else {
            Err(Invalid::new(field, "is required for this country"))
        };
    }
    let generic = v.chars().count() <= POSTAL_CODE_MAX
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-');
    if !generic {
        return Err(Invalid::new(
            field,
            format!("must be at most {POSTAL_CODE_MAX} letters, digits, spaces or hyphens"),
        ));
    }
    match countries::postal_shape(country) {
        Some((check, example)) if !check(&v) => Err(Invalid::new(
            field,
            format!("is not a postal code of {country} (e.g. {example})"),
        )),
        _ => Ok(v),
    }
}

/// Address lines: 1 to 3, each 1..=200 characters after trimming.
pub fn address_lines(field: &str, raw: &[String]) -> Result<Vec<String>, Vec<Invalid>> {
    if raw.is_empty() {
        return Err(vec![Invalid::new(field, "is required (1 to 3 lines)")]);
    }
    if raw.len() > LINES_MAX {
        return Err(vec![Invalid::new(
            field,
            format!("must have at most {LINES_MAX} lines"),
        )]);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut errs = Vec::new();
    for (i, l) in raw.iter().enumerate() {
        match text(&format!("{field}[{i}]"), l, true, LINE_MAX) {
            Ok(v) => out.push(v),
            Err(e) => errs.push(e),
        }
    }
    if errs.is_empty() { Ok(out) } else { Err(errs) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn berlin() -> Address {
        Address {
            recipient_name: " Ada Lovelace ".into(),
            address_lines: vec!["Unter den Linden 1".into()],
            locality: "Berlin".into(),
            postal_code: "10117".into(),
            country_code: "de".into(),
            ..Address::default()
        }
    }

    #[test]
    fn a_valid_address_is_trimmed_and_uppercased() {
        let a = normalize(&berlin(), "shipping_address").unwrap();
        assert_eq!(a.recipient_name, "Ada Lovelace");
        assert_eq!(a.country_code, "DE");
        assert_eq!(a.organization, "");
    }

    #[test]
    fn every_broken_rule_is_named_with_the_prefix() {
        let a = Address {
            recipient_name: " ".into(),
            address_lines: vec![],
            locality: "x".repeat(101),
            postal_code: "1011".into(),
            phone: "030 123".into(),
            ..berlin()
        };
        let fields: Vec<String> = normalize(&a, "address")
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "address.recipient_name",
                "address.address_lines",
                "address.locality",
                "address.postal_code",
                "address.phone"
            ]
        );
        let unknown = Address {
            country_code: "XX".into(),
            ..berlin()
        };
        let e = normalize(&unknown, "a").unwrap_err();
        assert_eq!(e[0].field, "a.country_code");
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
    }
}
