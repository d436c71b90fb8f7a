//! Request parsing of the product API: every field of a request checked into a domain value,
//! each broken rule collected with its field path ([`Violations`]), so an RPC names every
//! invalid field at once.

#[allow(unused_imports)]
use super::*;

pub(super) fn parse_uuid(field: &str, raw: &str) -> Result<Uuid, Error> {
    if raw.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    Uuid::parse_str(raw).map_err(|_| Error::invalid(field, "must be a UUID"))
}

pub(super) fn opt_uuid(v: &mut Violations, field: &str, raw: Option<&str>) -> Option<Uuid> {
    match raw {
        None | Some("") => None,
        Some(r) => match Uuid::parse_str(r) {
            Ok(u) => Some(u),
            Err(_) => {
                v.push(field, "must be a UUID");
                None
            }
        },
    }
}

/// 0 means `default`, above `max` means `max`, negative is invalid.
pub(super) fn page_size(raw: i32, default: i64, max: i64) -> Result<i64, Error> {
    match raw {
        0 => Ok(default),
        n if n < 0 => Err(Error::invalid("page_size", "must not be negative")),
        n => Ok(i64::from(n).min(max)),
    }
}

pub(super) fn parse_money(
    v: &mut Violations,
    field: &str,
    m: Option<&pb::Money>,
    required: bool,
) -> Option<Money> {
    let Some(m) = m else {
        if required {
            v.push(field, "is required");
        }
        return None;
    };
    let mut ok = true;
    if m.amount_minor < 0 {
        v.push(format!("{field}.amount_minor"), "must not be negative");
        ok = false;
    }
    if !domain::is_currency(&m.currency) {
        v.push(
            format!("{field}.currency"),
            "must be an uppercase ISO 4217 code such as EUR",
        );
        ok = false;
    }
    ok.then(|| Money {
        amount: m.amount_minor,
        currency: m.currency.clone(),
    })
}

pub(super) fn parse_status(v: &mut Violations, field: &str, raw: i32) -> Option<domain::Status> {
    match pb::ProductStatus::try_from(raw) {
        Ok(pb::ProductStatus::Unspecified) => None,
        Ok(pb::ProductStatus::Draft) => Some(domain::Status::Draft),
        Ok(pb::ProductStatus::Active) => Some(domain::Status::Active),
        Ok(pb::ProductStatus::Archived) => Some(domain::Status::Archived),
        Err(_) => {
            v.push(field, "is not a known status");
            None
        }
    }
}

/// A tax category; UNSPECIFIED is `None` (the caller decides what it means).
pub(super) fn parse_tax_category(
    v: &mut Violations,
    field: &str,
    raw: i32,
) -> Option<domain::TaxCategory> {
    match pb::TaxCategory::try_from(raw) {
        Ok(pb::TaxCategory::Unspecified) => None,
        Ok(pb::TaxCategory::Standard) => Some(domain::TaxCategory::Standard),
        Ok(pb::TaxCategory::Reduced) => Some(domain::TaxCategory::Reduced),
        Ok(pb::TaxCategory::Zero) => Some(domain::TaxCategory::Zero),
        Err(_) => {
            v.push(field, "is not a known tax category");
            None
        }
    }
}

/// The `prices` of a variant as sent, checked for form (see [`domain::check_prices`]).
pub(super) fn parse_prices(v: &mut Violations, field: &str, raw: &[pb::Money]) -> Vec<Money> {
    let prices: Vec<Money> = raw
        .iter()
        .map(|m| Money {
            amount: m.amount_minor,
            currency: m.currency.clone(),
        })
        .collect();
    domain::check_prices(v, field, &prices);
    prices
}

pub(super) fn parse_slug(v: &mut Violations, field: &str, raw: &str) -> Option<String> {
    if raw.is_empty() {
        return None;
    }
    if !domain::is_slug(raw) {
        v.push(
            field,
            "must be 1 to 100 lowercase letters, digits and single hyphens, not a UUID",
        );
    }
    Some(raw.to_owned())
}

pub(super) fn parse_categories(v: &mut Violations, raw: &[String]) -> Vec<Uuid> {
    let mut out = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        if let Some(u) = opt_uuid(v, &format!("product.category_ids[{i}]"), Some(r))
            && !out.contains(&u)
        {
            out.push(u);
        }
    }
    if out.len() > CATEGORIES_MAX {
        v.push(
            "product.category_ids",
            format!("may hold at most {CATEGORIES_MAX} ids"),
        );
    }
    out
}

pub(super) fn parse_specs(v: &mut Violations, raw: &[pb::Specification]) -> Vec<Spec> {
    if raw.len() > SPECS_MAX {
        v.push(
            "product.specifications",
            format!("may hold at most {SPECS_MAX} entries"),
        );
    }
    raw.iter()
        .enumerate()
        .map(|(i, s)| {
            let name = s.name.trim().to_owned();
            let value = s.value.trim().to_owned();
            check_text(
                v,
                &format!("product.specifications[{i}].name"),
                &name,
                1,
                100,
                false,
            );
            check_text(
                v,
                &format!("product.specifications[{i}].value"),
                &value,
                1,
                500,
                false,
            );
            Spec { name, value }
        })
        .collect()
}

pub(super) fn parse_new_variant(
    v: &mut Violations,
    field: &str,
    raw: &pb::Variant,
) -> Option<NewVariant> {
    if !domain::is_sku(&raw.sku) {
        v.push(
            format!("{field}.sku"),
            "must be 1 to 64 ASCII letters, digits, `-`, `_` or `.`",
        );
    }
    let attributes: BTreeMap<String, String> = raw.attributes.clone().into_iter().collect();
    domain::check_attributes(v, &format!("{field}.attributes"), &attributes);
    let price = parse_money(v, &format!("{field}.price"), raw.price.as_ref(), true);
    let compare = parse_money(
        v,
        &format!("{field}.compare_at_price"),
        raw.compare_at_price.as_ref(),
        false,
    );
    let image_id = opt_uuid(v, &format!("{field}.image_id"), raw.image_id.as_deref());
    let prices = parse_prices(v, &format!("{field}.prices"), &raw.prices);
    domain::check_weight(v, &format!("{field}.weight_grams"), raw.weight_grams);
    let price = price?;
    let other_prices = domain::other_prices(v, &format!("{field}.prices"), &price, &prices);
    if let Some(c) = &compare {
        if c.currency != price.currency {
            v.push(
                format!("{field}.compare_at_price.currency"),
                "must be the price's currency",
            );
        }
        if c.amount <= price.amount {
            v.push(
                format!("{field}.compare_at_price"),
                "must be greater than the price",
            );
        }
    }
    Some(NewVariant {
        sku: raw.sku.clone(),
        attributes,
        price,
        other_prices,
        compare_at_price: compare.map(|c| c.amount),
        image_id,
        weight_grams: raw.weight_grams,
    })
}

/// The mask paths, `*` expanded to `all`; unknown paths are violations.
pub(super) fn mask(
    v: &mut Violations,
    m: Option<&prost_types::FieldMask>,
    all: &[&str],
) -> HashSet<String> {
    let Some(m) = m.filter(|m| !m.paths.is_empty()) else {
        v.push(
            "update_mask",
            "is required (use `*` for every mutable field)",
        );
        return HashSet::new();
    };
    let mut out = HashSet::new();
    for p in &m.paths {
        if p == "*" {
            out.extend(all.iter().map(|s| s.to_string()));
        } else if all.contains(&p.as_str()) {
            out.insert(p.clone());
        } else {
            v.push(
                "update_mask",
                format!("`{p}` is not a mutable field; use one of {all:?}"),
            );
        }
    }
    out
}
