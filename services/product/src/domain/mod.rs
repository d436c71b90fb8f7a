//! Catalog rules as types and checks: slugs, SKUs, money, attributes, tags, and the records the
//! store returns (also the JSON kept in the Redis cache).

use std::collections::BTreeMap;

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

/// A rule a field broke; `field` is the request field path (snake_case).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` {message}")]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

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

/// Lifecycle of a product.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Draft,
    Active,
    Archived,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Active => "active",
            Status::Archived => "archived",
        }
    }
    pub fn from_db(s: &str) -> Self {
        match s {
            "active" => Status::Active,
            "archived" => Status::Archived,
            _ => Status::Draft,
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
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
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

/// A price in minor units.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub amount: i64,
    pub currency: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spec {
    pub name: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariantRecord {
    pub id: Uuid,
    pub product_id: Uuid,
    pub sku: String,
    pub attributes: BTreeMap<String, String>,
    pub price: Money,
    pub compare_at_price: Option<i64>,
    pub image_id: Option<Uuid>,
    pub in_stock: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    pub id: Uuid,
    pub product_id: Uuid,
    pub variant_id: Option<Uuid>,
    pub object_key: String,
    pub alt_text: String,
    pub position: i32,
    pub content_type: String,
    pub size_bytes: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A product with everything that belongs to it, as read from product_db (and cached).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductRecord {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub brand: String,
    pub description: String,
    pub status: Status,
    pub version: i64,
    pub category_ids: Vec<Uuid>,
    pub tags: Vec<String>,
    pub specifications: Vec<Spec>,
    pub variants: Vec<VariantRecord>,
    pub images: Vec<ImageRecord>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub currency: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl ProductRecord {
    /// Whether a caller sees this product when reading it by id or slug: admins see all,
    /// others everything but drafts.
    pub fn readable_by(&self, admin: bool) -> bool {
        admin || self.status != Status::Draft
    }
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
}
