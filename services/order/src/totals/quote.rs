//! Prices a set of lines for a currency and destination with the shop's rules: the catalog's
//! prices in that currency, the destination's tax rates, its shipping methods and the live
//! promotions, through [`kit::pricing::price`]. The cart's estimate and checkout both come
//! from here; checkout is strict (a code or method that does not apply is refused), the
//! estimate says why instead.

// A `Problem` is the error of a whole request, built at most once per request.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;

use axum::http::HeaderMap;
use kit::pricing::{self, Breakdown, Input, Line, PriceMode, Shipping, Shopper, TaxCategory};
use kit::problem::{FieldError, Problem};
use kit::totals::{
    CodeStatus, Estimate, Method, Promotion, ShippingOption, is_code, normalize_code, region_code,
    unavailable,
};
use kit::upstream::grpc_request;
use storefront_proto::product::v1 as prod;
use time::OffsetDateTime;
use uuid::Uuid;

use super::store;
use crate::api::{ApiError, AppState};

/// One line as the catalog prices it in the checkout's currency.
#[derive(Clone, Debug)]
pub struct Item {
    pub sku: String,
    pub product_id: Uuid,
    pub name: String,
    pub quantity: i64,
    pub unit_price: i64,
    pub tax_category: TaxCategory,
    pub category_ids: Vec<Uuid>,
    pub grams: i64,
}

fn tax_category(c: i32) -> TaxCategory {
    match prod::TaxCategory::try_from(c) {
        Ok(prod::TaxCategory::Reduced) => TaxCategory::Reduced,
        Ok(prod::TaxCategory::Zero) => TaxCategory::Zero,
        _ => TaxCategory::Standard,
    }
}

/// Prices `lines` (SKU, quantity) from product in `currency`, or in the one currency all of
/// them are primarily priced in. Unknown SKUs, products not for sale and SKUs without a price in
/// the currency are 422 naming `items[i]`.
pub async fn catalog(
    st: &AppState,
    headers: &HeaderMap,
    lines: &[(String, i64)],
    currency: Option<&str>,
) -> Result<(String, Vec<Item>), Problem> {
    let skus: Vec<String> = lines.iter().map(|(s, _)| s.clone()).collect();
    let resp = st
        .upstreams
        .product
        .clone()
        .batch_get_variants_by_sku(grpc_request(
            prod::BatchGetVariantsBySkuRequest { skus },
            headers,
        ))
        .await
        .map_err(|s| crate::checkout::describe("product", s))?
        .into_inner();
    let by_sku: HashMap<&str, &prod::SkuVariant> = resp
        .variants
        .iter()
        .filter_map(|v| v.variant.as_ref().map(|x| (x.sku.as_str(), v)))
        .collect();
    let mut errors = Vec::new();
    let mut found: Vec<(usize, &prod::Variant, &prod::ProductSummary)> = Vec::new();
    for (i, (sku, _)) in lines.iter().enumerate() {
        let field = format!("items[{i}].sku");
        match by_sku.get(sku.as_str()) {
            None => errors.push(FieldError::new(
                field,
                format!("no product has the SKU `{sku}`"),
            )),
            Some(sv) => match (&sv.variant, &sv.product) {
                (Some(v), Some(p)) if p.status == prod::ProductStatus::Active as i32 => {
                    found.push((i, v, p))
                }
                (Some(_), Some(p)) => errors.push(FieldError::new(
                    field,
                    format!("`{sku}` ({}) is not for sale", p.name),
                )),
                _ => errors.push(FieldError::new(field, format!("`{sku}` cannot be priced"))),
            },
        }
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors).with_detail("Some cart lines cannot be ordered."));
    }
    let currency = match currency {
        Some(c) => c.to_owned(),
        None => {
            let mut primary: Vec<&str> = found
                .iter()
                .filter_map(|(_, v, _)| v.price.as_ref().map(|p| p.currency.as_str()))
                .collect();
            primary.sort_unstable();
            primary.dedup();
            match primary.as_slice() {
                [one] => (*one).to_owned(),
                _ => {
                    return Err(Problem::unprocessable(format!(
                        "The cart holds items priced in {}; say which currency to pay in with `currency`.",
                        primary.join(" and ")
                    ))
                    .with_errors(vec![FieldError::new(
                        "currency",
                        "is required when the items' prices are in different currencies",
                    )]));
                }
            }
        }
    };
    let mut items = Vec::with_capacity(found.len());
    for (i, v, p) in found {
        let (sku, quantity) = &lines[i];
        let price = v
            .prices
            .iter()
            .chain(v.price.iter())
            .find(|m| m.currency == currency)
            .map(|m| m.amount_minor);
        let (Some(unit_price), Ok(product_id)) = (price, Uuid::parse_str(&p.id)) else {
            errors.push(FieldError::new(
                format!("items[{i}].sku"),
                format!("`{sku}` ({}) is not sold in {currency}", p.name),
            ));
            continue;
        };
        if unit_price < 0 || unit_price.checked_mul(*quantity).is_none() {
            errors.push(FieldError::new(
                format!("items[{i}].quantity"),
                "the line total is too large",
            ));
            continue;
        }
        items.push(Item {
            sku: sku.clone(),
            product_id,
            name: p.name.clone(),
            quantity: *quantity,
            unit_price,
            tax_category: tax_category(p.tax_category),
            category_ids: p
                .category_ids
                .iter()
                .filter_map(|c| Uuid::parse_str(c).ok())
                .collect(),
            grams: i64::from(v.weight_grams.max(0)),
        });
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors)
            .with_detail(format!("Some items cannot be bought in {currency}.")));
    }
    Ok((currency, items))
}

/// What to price besides the lines.
#[derive(Clone, Debug, Default)]
pub struct Ask {
    pub country: Option<String>,
    pub region: Option<String>,
    pub shipping_method_id: Option<Uuid>,
    pub code: Option<String>,
    pub user_id: Option<Uuid>,
    /// Checkout: refuse what does not apply instead of explaining it.
    pub strict: bool,
}

/// A priced cart.
#[derive(Clone, Debug)]
pub struct Quoted {
    pub estimate: Estimate,
    pub mode: PriceMode,
    pub method: Option<Method>,
    /// The promotions that gave something, with what they gave (redeemed at checkout).
    pub used: Vec<(Uuid, i64)>,
    /// The entered code as stored (normalised), when it applied.
    pub code: Option<String>,
}

fn code_conflict(code: &str, reason: &str) -> Problem {
    Problem::conflict(format!(
        "The promotion code {code} cannot be used: {reason}. Remove it or try another."
    ))
    .with_errors(vec![FieldError::new("promotion_code", reason.to_owned())])
    .with_extension("promotion_code", code)
}

/// Prices `items` in `currency` for `ask`.
pub async fn quote(
    st: &AppState,
    currency: &str,
    items: &[Item],
    ask: &Ask,
) -> Result<Quoted, ApiError> {
    let pool = &st.pool;
    let now = OffsetDateTime::now_utc();
    let mode = store::price_mode(pool, currency).await?;
    let country = ask.country.as_deref();
    let region = match (country, ask.region.as_deref()) {
        (Some(c), Some(r)) => region_code(c, r),
        _ => None,
    };
    let table = match country {
        Some(c) => store::tax_table(pool, c).await?,
        None => pricing::TaxTable::default(),
    };
    let rate = |cat: TaxCategory| -> i64 {
        country
            .and_then(|c| pricing::TaxProvider::rate(&table, cat, c, region.as_deref()))
            .unwrap_or(0)
    };
    let subtotal: i64 = items
        .iter()
        .map(|i| i.unit_price.saturating_mul(i.quantity))
        .fold(0i64, i64::saturating_add);
    let grams: i64 = items
        .iter()
        .map(|i| i.grams.saturating_mul(i.quantity))
        .fold(0i64, i64::saturating_add);

    // Shipping: the methods of the zones that cover the destination, in this currency.
    let mut options: Vec<(ShippingOption, Method)> = Vec::new();
    if let Some(c) = country {
        for (zone, m) in store::active_methods(pool, Some(currency)).await? {
            if zone.covers(c, ask.region.as_deref()) {
                let amount = m.price(subtotal, grams);
                options.push((ShippingOption::offer(&zone, &m, Some(amount)), m));
            }
        }
        options.sort_by_key(|(o, _)| (o.amount, o.name.clone()));
    }
    let method: Option<Method> = match ask.shipping_method_id {
        Some(id) => match options.iter().find(|(o, _)| o.id == id) {
            Some((_, m)) => Some(m.clone()),
            None if ask.strict => {
                let (field, detail) = if country.is_none() {
                    (
                        "shipping_address.country_code",
                        "A shipping method needs a destination country.".to_owned(),
                    )
                } else {
                    (
                        "shipping_method_id",
                        format!(
                            "The shipping method {id} is not offered to {} in {currency}; choose one of those GET /api/v1/shipping-methods lists.",
                            country.unwrap_or_default()
                        ),
                    )
                };
                return Err(Problem::unprocessable(detail)
                    .with_errors(vec![FieldError::new(
                        field,
                        "does not apply to this destination and currency",
                    )])
                    .into());
            }
            None => options.first().map(|(_, m)| m.clone()),
        },
        None if ask.strict => {
            if !options.is_empty() {
                let names: Vec<String> = options
                    .iter()
                    .map(|(o, _)| format!("{} ({})", o.name, o.id))
                    .collect();
                return Err(Problem::unprocessable(format!(
                    "Choose a shipping method: {}.",
                    names.join(", ")
                ))
                .with_errors(vec![FieldError::new("shipping_method_id", "is required")])
                .into());
            }
            if store::ships_at_all(pool).await? {
                return Err(Problem::unprocessable(format!(
                    "We do not ship to {} in {currency}.",
                    country.unwrap_or_default()
                ))
                .with_errors(vec![FieldError::new(
                    "shipping_address.country_code",
                    "no shipping method covers this destination in this currency",
                )])
                .into());
            }
            None
        }
        None => options.first().map(|(_, m)| m.clone()),
    };

    // Promotions: every live automatic one, plus the entered code.
    let shopper = Shopper {
        id: ask.user_id,
        first_order: match ask.user_id {
            Some(u) => store::first_order(pool, u).await?,
            None => true,
        },
    };
    // One connection at a time: a request never holds one while waiting for another.
    let used_by = |promotion: Uuid, user: Uuid| async move {
        let mut conn = pool.acquire().await?;
        store::customer_uses(&mut conn, promotion, user).await
    };
    let mut live: Vec<Promotion> = Vec::new();
    for p in store::automatic_promotions(pool, currency, now).await? {
        if let (Some(limit), Some(u)) = (p.per_customer_limit, ask.user_id)
            && used_by(p.id, u).await? >= i64::from(limit)
        {
            continue;
        }
        live.push(p);
    }
    let mut code_status = None;
    let mut coded: Option<Promotion> = None;
    if let Some(raw) = ask.code.as_deref() {
        let code = normalize_code(raw);
        let reason = if !is_code(&code) {
            Some("it is not a valid code".to_owned())
        } else {
            match store::promotion_by_code(pool, &code).await? {
                None => Some("there is no such code".to_owned()),
                Some(p) => match unavailable(&p, now, currency) {
                    Some(why) => Some(why.replacen(&format!("`{code}` "), "it ", 1)),
                    None => match (p.per_customer_limit, ask.user_id) {
                        (Some(limit), Some(u)) if used_by(p.id, u).await? >= i64::from(limit) => {
                            Some("you have used it as often as it allows".to_owned())
                        }
                        _ => {
                            coded = Some(p);
                            None
                        }
                    },
                },
            }
        };
        if let Some(reason) = &reason
            && ask.strict
        {
            return Err(code_conflict(&code, reason).into());
        }
        code_status = Some(CodeStatus {
            code,
            applied: false,
            reason,
        });
    }
    let entered = code_status.as_ref().map(|c| c.code.clone());
    let mut promotions: Vec<pricing::Promotion> = live.iter().map(|p| p.to_pricing(None)).collect();
    if let Some(p) = &coded {
        promotions.push(p.to_pricing(entered.as_deref()));
    }

    let input = Input {
        currency: currency.to_owned(),
        mode,
        lines: items
            .iter()
            .map(|i| Line {
                sku: i.sku.clone(),
                product_id: i.product_id,
                category_ids: i.category_ids.clone(),
                quantity: i.quantity,
                unit_price: i.unit_price,
                tax_category: i.tax_category,
                tax_rate_ppm: rate(i.tax_category),
            })
            .collect(),
        shopper,
        shipping: method.as_ref().map(|m| Shipping {
            method_id: m.id,
            amount: m.price(subtotal, grams),
            tax_rate_ppm: rate(m.tax_category),
        }),
        promotions,
    };
    let breakdown: Breakdown = pricing::price(&input).map_err(|e| match e {
        pricing::PricingError::Invalid { field, message } => {
            Problem::unprocessable(format!("The cart cannot be priced: `{field}` {message}."))
        }
        pricing::PricingError::Overflow => Problem::unprocessable("The order total is too large."),
    })?;
    if let (Some(status), Some(p)) = (code_status.as_mut(), &coded) {
        status.applied = breakdown.applied.iter().any(|a| a.promotion_id == p.id);
        if !status.applied {
            let reason = "this cart does not meet its conditions".to_owned();
            if ask.strict {
                return Err(code_conflict(&status.code, &reason).into());
            }
            status.reason = Some(reason);
        }
    }
    let used = breakdown
        .applied
        .iter()
        .map(|a| (a.promotion_id, a.amount))
        .collect();
    let code = code_status
        .as_ref()
        .filter(|c| c.applied)
        .map(|c| c.code.clone());
    Ok(Quoted {
        estimate: Estimate {
            currency: currency.to_owned(),
            country: ask.country.clone(),
            region,
            breakdown,
            shipping_methods: options.into_iter().map(|(o, _)| o).collect(),
            shipping_method_id: method.as_ref().map(|m| m.id),
            code: code_status,
        },
        mode,
        method,
        used,
        code,
    })
}
