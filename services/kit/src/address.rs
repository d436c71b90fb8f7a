//! The rules of a postal address, one set for the address book and checkout (issue #12): field
//! checks that name the field they refuse and [`normalize`], which checks a whole [`Address`].
//! The limits, countries and patterns are `contracts::address`'s, the same that its OpenAPI
//! schemas state; values are checked as sent and kept trimmed, codes uppercase.

use std::sync::LazyLock;

pub use contracts::address::{
    AREA_MAX, Address, LABEL_MAX, LINE_MAX, LINES_MAX, LOCALITY_MAX, NAME_MAX, POSTAL_CODE_MAX,
    PostalRule, countries,
};
use contracts::address::{PHONE_PATTERN, POSTAL_CODE_PATTERN, POSTAL_SHAPES};
use regex::Regex;

use crate::problem::FieldError as Invalid;

/// `pattern` compiled; the patterns are constants, tested to compile.
fn compiled(pattern: &str) -> Regex {
    Regex::new(pattern).expect("contracts::address patterns compile")
}

static PHONE: LazyLock<Regex> = LazyLock::new(|| compiled(PHONE_PATTERN));
static POSTAL_CODE: LazyLock<Regex> = LazyLock::new(|| compiled(POSTAL_CODE_PATTERN));
/// Each postal shape's pattern and its compiled form.
static SHAPES: LazyLock<Vec<(&str, Regex)>> = LazyLock::new(|| {
    POSTAL_SHAPES
        .iter()
        .map(|s| (s.pattern, compiled(s.pattern)))
        .collect()
});

/// `a` checked as sent, kept trimmed and with codes uppercase; every broken rule is named
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

/// An E.164 phone number (`+` and 8 to 15 digits) as sent; empty clears it.
pub fn phone(field: &str, raw: &str) -> Result<String, Invalid> {
    if !PHONE.is_match(raw) {
        return Err(Invalid::new(
            field,
            "must be in E.164 form: `+` and 8 to 15 digits, e.g. +4930123456",
        ));
    }
    Ok(raw.to_owned())
}

/// An ISO 3166-1 alpha-2 country code, uppercase as sent.
pub fn country(field: &str, raw: &str) -> Result<String, Invalid> {
    if raw.is_empty() {
        return Err(Invalid::new(field, "is required"));
    }
    if !countries::is_country(raw) {
        return Err(Invalid::new(
            field,
            "is not an ISO 3166-1 alpha-2 country code in uppercase (e.g. DE, GB, US)",
        ));
    }
    Ok(raw.to_owned())
}

/// A postal code for `country` (already checked; empty when it was refused), uppercased: in the
/// country's shape where it has one ([`contracts::address::POSTAL_SHAPES`]), else 1 to 12
/// letters, digits, spaces and hyphens; empty only where the country has no postal codes.
pub fn postal_code(field: &str, raw: &str, country: &str) -> Result<String, Invalid> {
    let rule = PostalRule::of(country);
    if raw.is_empty() {
        return match rule {
            PostalRule::Optional => Ok(String::new()),
            _ if country.is_empty() => Ok(String::new()),
            _ => Err(Invalid::new(field, "is required for this country")),
        };
    }
    if !POSTAL_CODE.is_match(raw) {
        return Err(Invalid::new(
            field,
            format!(
                "must be 1 to {POSTAL_CODE_MAX} letters, digits, spaces or hyphens, starting and ending with a letter or digit"
            ),
        ));
    }
    if let PostalRule::Shape(shape) = rule {
        let fits = SHAPES
            .iter()
            .any(|(pattern, re)| *pattern == shape.pattern && re.is_match(raw));
        if !fits {
            return Err(Invalid::new(
                field,
                format!("is not a postal code of {country} (e.g. {})", shape.example),
            ));
        }
    }
    Ok(raw.to_ascii_uppercase())
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
            country_code: "DE".into(),
            ..Address::default()
        }
    }

    #[test]
    fn a_valid_address_is_trimmed_and_uppercased() {
        let a = normalize(
            &Address {
                postal_code: "sw1a 1aa".into(),
                country_code: "GB".into(),
                ..berlin()
            },
            "shipping_address",
        )
        .unwrap();
        assert_eq!(a.recipient_name, "Ada Lovelace");
        assert_eq!(a.postal_code, "SW1A 1AA");
        assert_eq!(a.organization, "");
    }

    #[test]
    fn codes_are_checked_as_sent() {
        for (field, a) in [
            (
                "a.country_code",
                Address {
                    country_code: "de".into(),
                    ..berlin()
                },
            ),
            (
                "a.postal_code",
                Address {
                    postal_code: " 10117".into(),
                    ..berlin()
                },
            ),
            (
                "a.phone",
                Address {
                    phone: "+4930123456 ".into(),
                    ..berlin()
                },
            ),
        ] {
            let e = normalize(&a, "a").unwrap_err();
            assert_eq!(e.len(), 1, "{e:?}");
            assert_eq!(e[0].field, field);
        }
    }

    #[test]
    fn every_pattern_compiles_and_every_example_fits_its_shape() {
        assert!(PHONE.is_match("+4930123456") && PHONE.is_match(""));
        assert!(POSTAL_CODE.is_match("A1") && !POSTAL_CODE.is_match("-1"));
        for (s, (_, re)) in POSTAL_SHAPES.iter().zip(SHAPES.iter()) {
            for example in s.example.split(" or ") {
                assert!(re.is_match(example), "{example}");
                assert!(POSTAL_CODE.is_match(example), "{example}");
                for c in s.countries {
                    assert_eq!(postal_code("p", example, c).unwrap(), example);
                }
            }
        }
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
}
