//! Catalog rules as types and checks: slugs, SKUs, money, prices per currency, weights, tax
//! categories, attributes, tags, and the records the store returns (also the JSON kept in the
//! Redis cache).

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

pub const NAME_MAX: usize = 200;
pub const BRAND_MAX: usize = 100;
pub const DESCRIPTION_MAX: usize = 20_000;
pub const CATEGORY_NAME_MAX: usize = 100;
pub const CATEGORY_DESCRIPTION_MAX: usize = 2_000;
pub const SLUG_MAX: usize = 100;
pub const CATEGORIES_MAX: usize = 10;
pub const TAGS_MAX: usize = 30;
pub const TAG_MAX: usize = 50;
pub const SPECS_MAX: usize = 100;
pub const VARIANTS_MAX: usize = 100;
pub const ATTRIBUTES_MAX: usize = 20;
pub const ALT_TEXT_MAX: usize = 300;
pub const QUERY_MAX: usize = 256;
/// Most prices a variant may be given besides its primary one.
pub const PRICES_MAX: usize = 20;
/// Heaviest variant, in grams (1 t).
pub const WEIGHT_MAX_GRAMS: i32 = 1_000_000;

/// A rule a field broke; `field` is the request field path (snake_case).
pub use kit::problem::FieldError as Invalid;

/// Collects violations so a request names every invalid field at once.
#[derive(Debug, Default)]
pub struct Violations(pub Vec<Invalid>);

impl Violations {
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(Invalid::new(field, message));
    }
    pub fn check(&mut self, ok: bool, field: &str, message: &str) {
        if !ok {
            self.push(field, message);
        }
    }
    pub fn finish(self) -> Result<(), crate::error::Error> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(crate::error::Error::Invalid(self.0))
        }
    }
}

/// Whether `s` is a valid slug: 1..=100 of `[a-z0-9]` and single inner hyphens, not a UUID.
pub fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= SLUG_MAX
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
        && Uuid::parse_str(s).is_err()
}

/// A slug derived from a display name: ASCII-folded lowercase words joined by hyphens.
/// Falls back to `item` when nothing usable remains.
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    let mut pending_dash = false;
    for c in name.chars() {
        let folded = fold(c);
        for f in folded.chars() {
            if f.is_ascii_alphanumeric() {
                if pending_dash && !out.is_empty() {
                    out.push('-');
                }
                pending_dash = false;
                out.push(f.to_ascii_lowercase());
            } else {
                pending_dash = true;
            }
        }
        if out.len() >= 80 {
            break;
        }
    }
    let mut out: String = out.chars().take(80).collect();
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() || Uuid::parse_str(&out).is_ok() {
        "item".into()
    } else {
        out
    }
}

/// A rough ASCII fold of common Latin letters with diacritics.
fn fold(c: char) -> String {
    let s = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => "a",
        'æ' | 'Æ' => "ae",
        'ç' | 'Ç' => "c",
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => "i",
        'ñ' | 'Ñ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' => "o",
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => "u",
        'ý' | 'ÿ' | 'Ý' => "y",
        'ß' => "ss",
        _ => return c.to_string(),
    };
    s.to_owned()
}

pub fn is_sku(s: &str) -> bool {
    kit::contracts::sku::check("sku", s).is_ok()
}

pub fn is_currency(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase())
}

/// Checks a text field: trimmed length within bounds, no control characters (newlines and tabs
/// allowed when `multiline`).
pub fn check_text(
    v: &mut Violations,
    field: &str,
    value: &str,
    min: usize,
    max: usize,
    multiline: bool,
) {
    let n = value.chars().count();
    if n < min {
        v.push(
            field,
            if min == 1 {
                "is required".to_owned()
            } else {
                format!("must be at least {min} characters")
            },
        );
    } else if n > max {
        v.push(field, format!("must be at most {max} characters"));
    } else if value
        .chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')))
    {
        v.push(field, "must not contain control characters");
    }
}

/// Lowercased, trimmed, deduplicated tags in first-seen order.
pub fn normalise_tags(v: &mut Violations, raw: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, t) in raw.iter().enumerate() {
        let t = t.trim().to_lowercase();
        check_text(v, &format!("tags[{i}]"), &t, 1, TAG_MAX, false);
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.len() > TAGS_MAX {
        v.push("tags", format!("may hold at most {TAGS_MAX} tags"));
    }
    out
}

/// Checks a variant attribute map.
pub fn check_attributes(v: &mut Violations, field: &str, attrs: &BTreeMap<String, String>) {
    if attrs.len() > ATTRIBUTES_MAX {
        v.push(field, format!("may hold at most {ATTRIBUTES_MAX} entries"));
    }
    for (k, val) in attrs {
        let key_ok = !k.is_empty()
            && k.chars().count() <= 50
            && k.chars()
                .all(|c| c.is_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !key_ok {
            v.push(
                format!("{field}.{k}"),
                "keys must be 1 to 50 lowercase characters",
            );
        }
        let n = val.chars().count();
        if n == 0 || n > 100 {
            v.push(format!("{field}.{k}"), "values must be 1 to 100 characters");
        }
    }
}

/// Checks a variant's weight in grams.
pub fn check_weight(v: &mut Violations, field: &str, grams: i32) {
    if !(0..=WEIGHT_MAX_GRAMS).contains(&grams) {
        v.push(
            field,
            format!("must be between 0 and {WEIGHT_MAX_GRAMS} grams"),
        );
    }
}

/// Checks the `prices` of a variant as sent (`field` is e.g. `variant.prices`): at most
/// [`PRICES_MAX`], each amount 0 or more, each currency an uppercase ISO 4217 code, no currency
/// twice. Which entries may carry the primary currency is [`other_prices`]' business.
pub fn check_prices(v: &mut Violations, field: &str, prices: &[Money]) {
    if prices.len() > PRICES_MAX {
        v.push(field, format!("may hold at most {PRICES_MAX} prices"));
    }
    let mut seen = HashSet::new();
    for (i, p) in prices.iter().enumerate() {
        if p.amount < 0 {
            v.push(format!("{field}[{i}].amount_minor"), "must not be negative");
        }
        if !is_currency(&p.currency) {
            v.push(
                format!("{field}[{i}].currency"),
                "must be an uppercase ISO 4217 code such as USD",
            );
        } else if !seen.insert(p.currency.as_str()) {
            v.push(
                format!("{field}[{i}].currency"),
                format!(
                    "lists {} a second time; give each currency once",
                    p.currency
                ),
            );
        }
    }
}

/// The prices of `prices` in currencies other than `primary`'s, ordered by currency. An entry in
/// the primary currency is allowed (so a variant read back can be sent back unchanged) only
/// when it equals the primary price; otherwise it is a violation of `{field}[i].amount_minor`.
pub fn other_prices(
    v: &mut Violations,
    field: &str,
    primary: &Money,
    prices: &[Money],
) -> Vec<Money> {
    let mut out = Vec::with_capacity(prices.len());
    for (i, p) in prices.iter().enumerate() {
        if p.currency != primary.currency {
            out.push(p.clone());
        } else if p.amount != primary.amount {
            v.push(
                format!("{field}[{i}].amount_minor"),
                format!(
                    "must equal the price ({} {}) because it is in the price's currency; change `price` instead",
                    primary.amount, primary.currency
                ),
            );
        }
    }
    out.sort_by(|a, b| a.currency.cmp(&b.currency));
    out
}

pub use kit::contracts::Money;
/// The catalog's records are the payload of its events (`contracts::events::product`).
pub use kit::contracts::events::product::{
    Image as ImageRecord, Product as ProductRecord, ProductStatus as Status, Spec,
    Variant as VariantRecord,
};
pub use kit::contracts::totals::TaxCategory;

/// Whether a caller sees `p` when reading it by id or slug: admins see all, others
/// everything but drafts.
pub fn readable_by(p: &ProductRecord, admin: bool) -> bool {
    admin || p.status != Status::Draft
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryRecord {
    pub id: Uuid,
    pub parent_id: Option<Uuid>,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub position: i32,
    pub depth: i32,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_derived_from_names() {
        assert_eq!(slugify("Trail Running Shoe"), "trail-running-shoe");
        assert_eq!(
            slugify("  Crème brûlée -- 2 x 200g! "),
            "creme-brulee-2-x-200g"
        );
        assert_eq!(slugify("!!!"), "item");
        assert!(is_slug(&slugify(&"Long name ".repeat(30))));
        assert!(is_slug("trail-shoe-2"));
        for bad in [
            "",
            "-a",
            "a-",
            "a--b",
            "A",
            "a b",
            "0192e4a0-7b1c-7def-8abc-0123456789ab",
        ] {
            assert!(!is_slug(bad), "{bad}");
        }
    }

    #[test]
    fn tags_are_normalised() {
        let mut v = Violations::default();
        let t = normalise_tags(
            &mut v,
            &["Running".into(), " running ".into(), "Trail".into()],
        );
        assert_eq!(t, ["running", "trail"]);
        assert!(v.0.is_empty());
        let mut v = Violations::default();
        normalise_tags(&mut v, &["".into()]);
        assert_eq!(v.0[0].field, "tags[0]");
    }

    #[test]
    fn attributes_and_skus() {
        let mut v = Violations::default();
        check_attributes(
            &mut v,
            "attributes",
            &BTreeMap::from([("color".into(), "red".into()), ("Size".into(), "M".into())]),
        );
        assert_eq!(v.0.len(), 1);
        assert_eq!(v.0[0].field, "attributes.Size");
        assert!(is_sku("TS-RED_42.1"));
        assert!(!is_sku("a b"));
        assert!(is_currency("EUR") && !is_currency("eur"));
    }

    fn m(amount: i64, currency: &str) -> Money {
        Money {
            amount,
            currency: currency.into(),
        }
    }

    fn fields(v: &Violations) -> Vec<&str> {
        v.0.iter().map(|i| i.field.as_str()).collect()
    }

    #[test]
    fn prices_name_the_entry_that_breaks_a_rule() {
        let mut v = Violations::default();
        check_prices(
            &mut v,
            "variant.prices",
            &[m(2599, "USD"), m(2199, "GBP"), m(1, "USD"), m(-5, "usd")],
        );
        assert_eq!(
            fields(&v),
            [
                "variant.prices[2].currency",
                "variant.prices[3].amount_minor",
                "variant.prices[3].currency",
            ]
        );
        assert!(v.0[0].message.contains("second time"), "{:?}", v.0[0]);

        let mut v = Violations::default();
        check_prices(
            &mut v,
            "product.variants[1].prices",
            &[m(0, "USD"), m(1, "CHF")],
        );
        assert!(v.0.is_empty(), "{:?}", v.0);

        // 21 distinct valid currencies: AAA, ABA, ACA, ...
        let many: Vec<Money> = (0..=PRICES_MAX as u8)
            .map(|i| m(100, &format!("A{}A", (b'A' + i) as char)))
            .collect();
        let mut v = Violations::default();
        check_prices(&mut v, "variant.prices", &many);
        assert_eq!(fields(&v), ["variant.prices"]);
    }

    #[test]
    fn the_primary_currency_may_be_repeated_only_at_the_primary_price() {
        let eur = m(2399, "EUR");
        let mut v = Violations::default();
        let others = other_prices(
            &mut v,
            "variant.prices",
            &eur,
            &[m(2599, "USD"), m(2399, "EUR"), m(2099, "GBP")],
        );
        assert!(v.0.is_empty(), "{:?}", v.0);
        // Sorted by currency, without the primary one.
        assert_eq!(others, [m(2099, "GBP"), m(2599, "USD")]);

        let mut v = Violations::default();
        let others = other_prices(
            &mut v,
            "variant.prices",
            &eur,
            &[m(2599, "USD"), m(1, "EUR")],
        );
        assert_eq!(fields(&v), ["variant.prices[1].amount_minor"]);
        assert!(v.0[0].message.contains("2399 EUR"), "{:?}", v.0);
        assert_eq!(others, [m(2599, "USD")]);
    }

    #[test]
    fn weights_are_bounded() {
        for ok in [0, 1, 250, WEIGHT_MAX_GRAMS] {
            let mut v = Violations::default();
            check_weight(&mut v, "variant.weight_grams", ok);
            assert!(v.0.is_empty(), "{ok}");
        }
        for bad in [-1, WEIGHT_MAX_GRAMS + 1, i32::MAX, i32::MIN] {
            let mut v = Violations::default();
            check_weight(&mut v, "variant.weight_grams", bad);
            assert_eq!(fields(&v), ["variant.weight_grams"], "{bad}");
        }
    }

    #[test]
    fn tax_categories_round_trip_through_the_database_names() {
        for t in [
            TaxCategory::Standard,
            TaxCategory::Reduced,
            TaxCategory::Zero,
        ] {
            assert_eq!(TaxCategory::parse(t.as_str()), Some(t));
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                serde_json::json!(t.as_str())
            );
        }
        assert_eq!(TaxCategory::default(), TaxCategory::Standard);
    }
}
