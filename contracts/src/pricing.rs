//! Checkout math in one place (issue #13): a pure function from the lines, the shopper, the
//! destination's tax rates, the currency's price mode, a shipping quote and the promotions to a
//! breakdown. No I/O; the cart's estimate, the order, the charge and refunds all come from it, so
//! the amount shown is the amount charged is the amount refunded.
//!
//! Rules (the README's "Checkout totals" repeats them):
//! - Integer minor units of one currency throughout; rates in parts per million (19% = 190_000),
//!   percentage discounts in basis points (10% = 1_000).
//! - Prices are entered tax-inclusive or tax-exclusive per currency (`PriceMode`); discounts and
//!   shipping are in the same mode as the prices.
//! - Discounts apply in this order: line promotions (percentage or fixed off matching lines),
//!   then order promotions (percentage or fixed off what is left of every line), then free
//!   shipping. An amount off several lines is split in proportion to what is left of each, the
//!   cents that proportion leaves over going to the largest remainders (so the parts add up to the
//!   whole exactly). A discount never takes a line or the shipping below zero.
//! - Conditions see the lines before any discount (`min_subtotal` compares the subtotal).
//! - Stacking: every automatic promotion that applies, plus at most one coded promotion.
//! - Tax is computed per line, on the line after its discount, and rounded per line half up:
//!   exclusive `tax = round(net × rate)`, inclusive `tax = gross − round(gross / (1 + rate))`.
//!   Shipping is taxed the same way at its own category's rate.

use std::collections::BTreeMap;

use uuid::Uuid;

pub use crate::totals::{Applied, Breakdown, LineBreakdown, PriceMode, TaxCategory, TaxLine};

/// Parts per million: 100% = `PPM`.
pub const PPM: i64 = 1_000_000;
/// Basis points: 100% = `BP`.
pub const BP: i64 = 10_000;

/// One line of a cart or order, priced in the checkout's currency.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub sku: String,
    pub product_id: Uuid,
    pub category_ids: Vec<Uuid>,
    pub quantity: i64,
    /// Per unit, in the currency's price mode.
    pub unit_price: i64,
    pub tax_category: TaxCategory,
    /// The destination's rate for this line's category, in ppm.
    pub tax_rate_ppm: i64,
}

/// The chosen shipping method's price for this cart and destination (before promotions).
#[derive(Clone, Debug, PartialEq)]
pub struct Shipping {
    pub method_id: Uuid,
    pub amount: i64,
    pub tax_rate_ppm: i64,
}

/// Which lines a line promotion applies to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Target {
    /// Lines of these products (empty: no product restriction).
    pub product_ids: Vec<Uuid>,
    /// Lines in any of these categories (empty: no category restriction).
    pub category_ids: Vec<Uuid>,
}

impl Target {
    fn matches(&self, l: &Line) -> bool {
        (self.product_ids.is_empty() || self.product_ids.contains(&l.product_id))
            && (self.category_ids.is_empty()
                || l.category_ids.iter().any(|c| self.category_ids.contains(c)))
    }
}

/// When a promotion applies (all must hold).
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// The subtotal before discounts is at least this.
    MinSubtotal(i64),
    /// At least one line matches.
    Lines(Target),
    /// The shopper has no earlier order.
    FirstOrder,
    /// Only these customers.
    Customers(Vec<Uuid>),
}

/// What a promotion gives.
#[derive(Clone, Debug, PartialEq)]
pub enum Benefit {
    /// Basis points off the matching lines.
    PercentOffLines { bp: i64, target: Target },
    /// An amount off the matching lines together.
    AmountOffLines { amount: i64, target: Target },
    /// Basis points off the order (what is left of every line).
    PercentOffOrder { bp: i64 },
    /// An amount off the order.
    AmountOffOrder { amount: i64 },
    /// The shipping costs nothing.
    FreeShipping,
}

/// A promotion already known to be live (its window, usage limits and code were checked by the
/// caller); the conditions here are about the cart.
#[derive(Clone, Debug, PartialEq)]
pub struct Promotion {
    pub id: Uuid,
    /// The code the shopper entered, for a coded promotion; `None` for an automatic one.
    pub code: Option<String>,
    pub conditions: Vec<Condition>,
    pub benefit: Benefit,
}

/// The shopper, as far as conditions care.
#[derive(Clone, Debug, PartialEq)]
pub struct Shopper {
    pub id: Option<Uuid>,
    pub first_order: bool,
}

/// Everything the price depends on.
#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    pub currency: String,
    pub mode: PriceMode,
    pub lines: Vec<Line>,
    pub shopper: Shopper,
    pub shipping: Option<Shipping>,
    pub promotions: Vec<Promotion>,
}

/// Why a price cannot be computed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("`{field}` {message}")]
    Invalid { field: String, message: String },
    #[error("the amounts are too large to add up")]
    Overflow,
}

fn invalid(field: impl Into<String>, message: &str) -> PricingError {
    PricingError::Invalid {
        field: field.into(),
        message: message.to_owned(),
    }
}

/// `round(n × num / den)`, half up, for non-negative `n`, `num` and positive `den`, without
/// overflow for any i64 amounts and ppm rates.
fn mul_div_round(n: i64, num: i64, den: i64) -> i64 {
    let v = (i128::from(n) * i128::from(num) * 2 + i128::from(den)) / (i128::from(den) * 2);
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Splits `amount` over `weights` in proportion (largest remainder); parts never exceed their
/// weight when `amount <= Σ weights`.
fn allocate(amount: i64, weights: &[i64]) -> Vec<i64> {
    let total: i128 = weights.iter().map(|w| i128::from(*w)).sum();
    if total == 0 || amount == 0 {
        return vec![0; weights.len()];
    }
    let mut parts: Vec<i64> = Vec::with_capacity(weights.len());
    let mut rems: Vec<(i128, usize)> = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let exact = i128::from(amount) * i128::from(*w);
        parts.push(i64::try_from(exact / total).unwrap_or(0));
        rems.push((exact % total, i));
    }
    let mut left = amount - parts.iter().sum::<i64>();
    // Largest remainder first; ties to the earlier line, so the result is deterministic.
    rems.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in rems {
        if left == 0 {
            break;
        }
        if parts[i] < weights[i] {
            parts[i] += 1;
            left -= 1;
        }
    }
    parts
}

/// Tax of an amount in the given mode, rounded half up.
fn tax_of(amount: i64, rate_ppm: i64, mode: PriceMode) -> i64 {
    match mode {
        PriceMode::TaxExclusive => mul_div_round(amount, rate_ppm, PPM),
        PriceMode::TaxInclusive => amount - mul_div_round(amount, PPM, PPM + rate_ppm),
    }
}

fn check(input: &Input) -> Result<(), PricingError> {
    let rate_ok = |r: i64| (0..=PPM).contains(&r);
    for (i, l) in input.lines.iter().enumerate() {
        if l.quantity < 1 {
            return Err(invalid(
                format!("lines[{i}].quantity"),
                "must be at least 1",
            ));
        }
        if l.unit_price < 0 {
            return Err(invalid(
                format!("lines[{i}].unit_price"),
                "must not be negative",
            ));
        }
        if !rate_ok(l.tax_rate_ppm) {
            return Err(invalid(
                format!("lines[{i}].tax_rate_ppm"),
                "must be between 0 and 1000000",
            ));
        }
    }
    if let Some(s) = &input.shipping {
        if s.amount < 0 {
            return Err(invalid("shipping.amount", "must not be negative"));
        }
        if !rate_ok(s.tax_rate_ppm) {
            return Err(invalid(
                "shipping.tax_rate_ppm",
                "must be between 0 and 1000000",
            ));
        }
    }
    if input.promotions.iter().filter(|p| p.code.is_some()).count() > 1 {
        return Err(invalid(
            "promotions",
            "may hold at most one coded promotion",
        ));
    }
    for (i, p) in input.promotions.iter().enumerate() {
        let bad = match &p.benefit {
            Benefit::PercentOffLines { bp, .. } | Benefit::PercentOffOrder { bp } => {
                !(0..=BP).contains(bp)
            }
            Benefit::AmountOffLines { amount, .. } | Benefit::AmountOffOrder { amount } => {
                *amount < 0
            }
            Benefit::FreeShipping => false,
        };
        if bad {
            return Err(invalid(
                format!("promotions[{i}].benefit"),
                "must be 0 to 10000 basis points or a non-negative amount",
            ));
        }
    }
    Ok(())
}

/// Whether every condition of `p` holds for this cart (before discounts).
pub fn applies(p: &Promotion, input: &Input, subtotal: i64) -> bool {
    p.conditions.iter().all(|c| match c {
        Condition::MinSubtotal(min) => subtotal >= *min,
        Condition::Lines(t) => input.lines.iter().any(|l| t.matches(l)),
        Condition::FirstOrder => input.shopper.first_order,
        Condition::Customers(ids) => input.shopper.id.is_some_and(|id| ids.contains(&id)),
    })
}

/// Prices `input`. Promotions whose conditions do not hold are skipped (they are not in
/// `applied`); the caller decides whether a code that gave nothing is an error.
pub fn price(input: &Input) -> Result<Breakdown, PricingError> {
    check(input)?;
    let gross: Vec<i64> = input
        .lines
        .iter()
        .map(|l| {
            l.unit_price
                .checked_mul(l.quantity)
                .ok_or(PricingError::Overflow)
        })
        .collect::<Result<_, _>>()?;
    let subtotal = gross
        .iter()
        .try_fold(0i64, |a, g| a.checked_add(*g))
        .ok_or(PricingError::Overflow)?;
    let mut left = gross.clone();
    let mut discount = vec![0i64; gross.len()];
    let mut applied: Vec<Applied> = Vec::new();
    let live: Vec<&Promotion> = input
        .promotions
        .iter()
        .filter(|p| applies(p, input, subtotal))
        .collect();
    // Takes `parts` off the lines (each capped at what is left of it); returns the sum taken.
    let mut take = |parts: Vec<i64>, left: &mut Vec<i64>| -> i64 {
        let mut sum = 0;
        for (i, part) in parts.into_iter().enumerate() {
            let d = part.min(left[i]).max(0);
            left[i] -= d;
            discount[i] += d;
            sum += d;
        }
        sum
    };
    let mut note = |p: &Promotion, amount: i64| {
        if amount > 0 {
            applied.push(Applied {
                promotion_id: p.id,
                code: p.code.clone(),
                amount,
            });
        }
    };
    // Line promotions, then order promotions, each group in the given order.
    for p in &live {
        let amount = match &p.benefit {
            Benefit::PercentOffLines { bp, target } => {
                let parts = input
                    .lines
                    .iter()
                    .enumerate()
                    .map(|(i, l)| {
                        if target.matches(l) {
                            mul_div_round(left[i], *bp, BP)
                        } else {
                            0
                        }
                    })
                    .collect();
                take(parts, &mut left)
            }
            Benefit::AmountOffLines { amount, target } => {
                let weights: Vec<i64> = input
                    .lines
                    .iter()
                    .enumerate()
                    .map(|(i, l)| if target.matches(l) { left[i] } else { 0 })
                    .collect();
                let base: i64 = weights.iter().sum();
                take(allocate((*amount).min(base), &weights), &mut left)
            }
            _ => continue,
        };
        note(p, amount);
    }
    for p in &live {
        let amount = match &p.benefit {
            Benefit::PercentOffOrder { bp } => {
                let base: i64 = left.iter().sum();
                let off = mul_div_round(base, *bp, BP);
                let weights = left.clone();
                take(allocate(off, &weights), &mut left)
            }
            Benefit::AmountOffOrder { amount } => {
                let base: i64 = left.iter().sum();
                let weights = left.clone();
                take(allocate((*amount).min(base), &weights), &mut left)
            }
            _ => continue,
        };
        note(p, amount);
    }
    let shipping = input.shipping.as_ref().map_or(0, |s| s.amount);
    let mut shipping_discount = 0;
    if shipping > 0
        && let Some(p) = live.iter().find(|p| p.benefit == Benefit::FreeShipping)
    {
        shipping_discount = shipping;
        note(p, shipping);
    }

    // Tax, per line and for shipping.
    let mut taxes: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    let mut lines = Vec::with_capacity(input.lines.len());
    let exclusive = input.mode == PriceMode::TaxExclusive;
    for (i, l) in input.lines.iter().enumerate() {
        let net = left[i];
        let tax = tax_of(net, l.tax_rate_ppm, input.mode);
        let e = taxes.entry(l.tax_rate_ppm).or_default();
        e.0 += net;
        e.1 += tax;
        lines.push(LineBreakdown {
            sku: l.sku.clone(),
            quantity: l.quantity,
            unit_price: l.unit_price,
            gross: gross[i],
            discount: discount[i],
            tax,
            tax_rate_ppm: l.tax_rate_ppm,
            total: if exclusive { net + tax } else { net },
        });
    }
    let shipping_net = shipping - shipping_discount;
    let shipping_tax = match &input.shipping {
        Some(s) if shipping_net > 0 => {
            let t = tax_of(shipping_net, s.tax_rate_ppm, input.mode);
            let e = taxes.entry(s.tax_rate_ppm).or_default();
            e.0 += shipping_net;
            e.1 += t;
            t
        }
        _ => 0,
    };
    let tax_total = lines.iter().map(|l| l.tax).sum::<i64>() + shipping_tax;
    let discount_total = discount.iter().sum::<i64>() + shipping_discount;
    let mut total = subtotal
        .checked_sub(discount_total)
        .and_then(|t| t.checked_add(shipping))
        .ok_or(PricingError::Overflow)?;
    if exclusive {
        total = total.checked_add(tax_total).ok_or(PricingError::Overflow)?;
    }
    Ok(Breakdown {
        currency: input.currency.clone(),
        mode: input.mode,
        lines,
        subtotal,
        discount_total,
        shipping,
        shipping_discount,
        shipping_tax,
        tax_total,
        taxes: taxes
            .into_iter()
            .filter(|(_, (base, _))| *base > 0)
            .map(|(rate_ppm, (base, amount))| TaxLine {
                rate_ppm,
                base,
                amount,
            })
            .collect(),
        applied,
        total,
    })
}

/// What refunding `units` (SKU, quantity) of a priced order gives back: per line, its share of
/// the line's total (after its discount, with its tax), `round(total × units / quantity)` half
/// up, so refunding every unit of a line gives back exactly its total. Shipping is refunded
/// only with the whole order (`total`).
pub fn refund(b: &Breakdown, units: &[(String, i64)]) -> Result<i64, PricingError> {
    let mut seen: Vec<&str> = Vec::new();
    let mut sum = 0i64;
    for (i, (sku, qty)) in units.iter().enumerate() {
        let Some(line) = b.lines.iter().find(|l| &l.sku == sku) else {
            return Err(invalid(
                format!("lines[{i}].sku"),
                "is not a line of this order",
            ));
        };
        if seen.contains(&sku.as_str()) {
            return Err(invalid(format!("lines[{i}].sku"), "appears twice"));
        }
        seen.push(sku);
        if !(1..=line.quantity).contains(qty) {
            return Err(invalid(
                format!("lines[{i}].quantity"),
                &format!(
                    "must be between 1 and {} (the units ordered)",
                    line.quantity
                ),
            ));
        }
        sum = sum
            .checked_add(mul_div_round(line.total, *qty, line.quantity))
            .ok_or(PricingError::Overflow)?;
    }
    Ok(sum.min(b.total))
}

/// Where tax rates come from: the built-in table, or an external tax service later.
pub trait TaxProvider {
    /// The rate for `category` at the destination, in ppm; `None` when the destination is not
    /// one the shop sells to.
    fn rate(&self, category: TaxCategory, country: &str, region: Option<&str>) -> Option<i64>;
}

/// Rates per country, optionally per region (a region's rate wins over its country's).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaxTable {
    /// (country, region, category) → ppm; region `None` is the country-wide rate.
    pub rates: BTreeMap<(String, Option<String>, TaxCategory), i64>,
}

impl TaxProvider for TaxTable {
    fn rate(&self, category: TaxCategory, country: &str, region: Option<&str>) -> Option<i64> {
        if category == TaxCategory::Zero {
            return Some(0);
        }
        let country = country.to_uppercase();
        region
            .and_then(|r| {
                self.rates
                    .get(&(country.clone(), Some(r.to_uppercase()), category))
                    .copied()
            })
            .or_else(|| self.rates.get(&(country, None, category)).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(sku: &str, price: i64, qty: i64, rate: i64) -> Line {
        Line {
            sku: sku.into(),
            product_id: Uuid::from_u128(sku.len() as u128),
            category_ids: Vec::new(),
            quantity: qty,
            unit_price: price,
            tax_category: TaxCategory::Standard,
            tax_rate_ppm: rate,
        }
    }

    fn input(mode: PriceMode, lines: Vec<Line>) -> Input {
        Input {
            currency: "EUR".into(),
            mode,
            lines,
            shopper: Shopper {
                id: Some(Uuid::from_u128(7)),
                first_order: false,
            },
            shipping: None,
            promotions: Vec::new(),
        }
    }

    #[test]
    fn refunds_per_line_are_shares_of_the_line_total() {
        let mut i = input(
            PriceMode::TaxInclusive,
            vec![line("A", 1000, 3, 190_000), line("BB", 500, 1, 70_000)],
        );
        i.promotions = vec![promo(None, vec![], Benefit::PercentOffOrder { bp: 1_000 })];
        let b = price(&i).unwrap();
        assert_eq!(refund(&b, &[("A".into(), 3)]).unwrap(), b.lines[0].total);
        let one = refund(&b, &[("A".into(), 1)]).unwrap();
        assert_eq!(one, 900);
        assert_eq!(
            refund(&b, &[("A".into(), 3), ("BB".into(), 1)]).unwrap(),
            b.lines[0].total + b.lines[1].total
        );
        let e = refund(&b, &[("A".into(), 4)]).unwrap_err();
        assert!(
            matches!(e, PricingError::Invalid { ref field, .. } if field == "lines[0].quantity")
        );
        let e = refund(&b, &[("C".into(), 1)]).unwrap_err();
        assert!(matches!(e, PricingError::Invalid { ref field, .. } if field == "lines[0].sku"));
        let e = refund(&b, &[("A".into(), 1), ("A".into(), 1)]).unwrap_err();
        assert!(matches!(e, PricingError::Invalid { ref field, .. } if field == "lines[1].sku"));
    }

    fn promo(code: Option<&str>, conditions: Vec<Condition>, benefit: Benefit) -> Promotion {
        Promotion {
            id: Uuid::now_v7(),
            code: code.map(str::to_owned),
            conditions,
            benefit,
        }
    }

    #[test]
    fn a_german_order_with_vat_included_express_shipping_and_ten_percent_off() {
        // 2 × 49.99 € and 1 × 19.90 € book at 7%; express 9.90 €; code 10% off the order.
        let mut book = line("BOOK", 1990, 1, 70_000);
        book.tax_category = TaxCategory::Reduced;
        let mut i = input(
            PriceMode::TaxInclusive,
            vec![line("SHOE", 4999, 2, 190_000), book],
        );
        i.shipping = Some(Shipping {
            method_id: Uuid::from_u128(1),
            amount: 990,
            tax_rate_ppm: 190_000,
        });
        i.promotions = vec![promo(
            Some("TEN"),
            vec![],
            Benefit::PercentOffOrder { bp: 1000 },
        )];
        let b = price(&i).unwrap();
        assert_eq!(b.subtotal, 11_988);
        // 10% of 119.88 € = 11.99 €, split 9.998 : 1.990 -> 10.00 € and 1.99 €.
        assert_eq!(b.lines[0].discount + b.lines[1].discount, 1199);
        assert_eq!((b.lines[0].discount, b.lines[1].discount), (1000, 199));
        // Inclusive: the shopper pays the prices; tax is inside them.
        assert_eq!(b.total, 11_988 - 1199 + 990);
        // 89.98 € at 19% holds 14.37 €; 17.91 € at 7% holds 1.17 €; 9.90 € shipping 1.58 €.
        assert_eq!(
            (b.lines[0].tax, b.lines[1].tax, b.shipping_tax),
            (1437, 117, 158)
        );
        assert_eq!(b.tax_total, 1437 + 117 + 158);
        assert_eq!(
            b.taxes,
            vec![
                TaxLine {
                    rate_ppm: 70_000,
                    base: 1791,
                    amount: 117
                },
                TaxLine {
                    rate_ppm: 190_000,
                    base: 8998 + 990,
                    amount: 1437 + 158
                },
            ]
        );
        assert_eq!(b.applied.len(), 1);
        assert_eq!(b.applied[0].code.as_deref(), Some("TEN"));
    }

    #[test]
    fn a_us_order_adds_tax_on_top_and_free_shipping_over_a_threshold() {
        let mut i = input(PriceMode::TaxExclusive, vec![line("SHOE", 4999, 2, 88_750)]);
        i.currency = "USD".into();
        i.shipping = Some(Shipping {
            method_id: Uuid::from_u128(1),
            amount: 700,
            tax_rate_ppm: 0,
        });
        i.promotions = vec![promo(
            None,
            vec![Condition::MinSubtotal(7500)],
            Benefit::FreeShipping,
        )];
        let b = price(&i).unwrap();
        assert_eq!(b.shipping_discount, 700);
        // 99.98 $ × 8.875% = 8.873 -> 8.87 $.
        assert_eq!(b.tax_total, 887);
        assert_eq!(b.total, 9998 + 887);
        // Below the threshold the shipping is paid.
        i.lines[0].quantity = 1;
        let b = price(&i).unwrap();
        assert_eq!(b.shipping_discount, 0);
        assert!(b.applied.is_empty());
        assert_eq!(b.total, 4999 + 444 + 700);
    }

    #[test]
    fn conditions_targets_and_bad_input() {
        let cat = Uuid::from_u128(99);
        let mut shoe = line("SHOE", 1000, 1, 0);
        shoe.category_ids = vec![cat];
        let mut i = input(PriceMode::TaxExclusive, vec![shoe, line("HAT", 1000, 1, 0)]);
        let target = Target {
            product_ids: vec![],
            category_ids: vec![cat],
        };
        i.promotions = vec![
            promo(
                None,
                vec![Condition::FirstOrder],
                Benefit::AmountOffOrder { amount: 500 },
            ),
            promo(
                None,
                vec![],
                Benefit::AmountOffLines {
                    amount: 5000,
                    target,
                },
            ),
        ];
        let b = price(&i).unwrap();
        // Not a first order; the line amount is capped at the shoe's price.
        assert_eq!((b.lines[0].discount, b.lines[1].discount), (1000, 0));
        i.shopper.first_order = true;
        let b = price(&i).unwrap();
        assert_eq!(b.discount_total, 1500);
        assert_eq!(b.total, 500);
        i.promotions
            .push(promo(Some("A"), vec![], Benefit::FreeShipping));
        i.promotions
            .push(promo(Some("B"), vec![], Benefit::FreeShipping));
        assert!(
            matches!(price(&i), Err(PricingError::Invalid { field, .. }) if field == "promotions")
        );
        let mut i = input(PriceMode::TaxExclusive, vec![line("X", 100, 0, 0)]);
        assert!(
            matches!(price(&i), Err(PricingError::Invalid { field, .. }) if field == "lines[0].quantity")
        );
        i.lines[0].quantity = i64::MAX;
        assert_eq!(price(&i), Err(PricingError::Overflow));
    }

    #[test]
    fn the_table_prefers_the_region_and_zero_is_zero() {
        let mut t = TaxTable::default();
        t.rates
            .insert(("US".into(), None, TaxCategory::Standard), 0);
        t.rates.insert(
            ("US".into(), Some("NY".into()), TaxCategory::Standard),
            88_750,
        );
        t.rates
            .insert(("DE".into(), None, TaxCategory::Reduced), 70_000);
        assert_eq!(
            t.rate(TaxCategory::Standard, "us", Some("ny")),
            Some(88_750)
        );
        assert_eq!(t.rate(TaxCategory::Standard, "US", Some("OR")), Some(0));
        assert_eq!(t.rate(TaxCategory::Reduced, "DE", None), Some(70_000));
        assert_eq!(t.rate(TaxCategory::Standard, "FR", None), None);
        assert_eq!(t.rate(TaxCategory::Zero, "FR", None), Some(0));
    }

    fn arb_line() -> impl Strategy<Value = Line> {
        (
            0i64..1_000_000,
            1i64..50,
            prop_oneof![Just(0i64), Just(70_000), Just(190_000), 0i64..=PPM],
            any::<bool>(),
        )
            .prop_map(|(price, qty, rate, in_cat)| {
                let mut l = line("L", price, qty, rate);
                if in_cat {
                    l.category_ids = vec![Uuid::from_u128(5)];
                }
                l
            })
    }

    fn arb_benefit() -> impl Strategy<Value = Benefit> {
        let target = Target {
            product_ids: vec![],
            category_ids: vec![Uuid::from_u128(5)],
        };
        let t2 = target.clone();
        prop_oneof![
            (0i64..=BP).prop_map(|bp| Benefit::PercentOffOrder { bp }),
            (0i64..200_000).prop_map(|amount| Benefit::AmountOffOrder { amount }),
            (0i64..=BP).prop_map(move |bp| Benefit::PercentOffLines {
                bp,
                target: target.clone()
            }),
            (0i64..200_000).prop_map(move |amount| Benefit::AmountOffLines {
                amount,
                target: t2.clone()
            }),
            Just(Benefit::FreeShipping),
        ]
    }

    fn arb_input() -> impl Strategy<Value = Input> {
        (
            prop::collection::vec(arb_line(), 0..8),
            any::<bool>(),
            prop::option::of((0i64..5000, 0i64..=PPM)),
            prop::collection::vec(arb_benefit(), 0..4),
        )
            .prop_map(|(lines, inclusive, ship, benefits)| {
                let mode = if inclusive {
                    PriceMode::TaxInclusive
                } else {
                    PriceMode::TaxExclusive
                };
                let mut i = input(mode, lines);
                i.shipping = ship.map(|(amount, tax_rate_ppm)| Shipping {
                    method_id: Uuid::from_u128(1),
                    amount,
                    tax_rate_ppm,
                });
                i.promotions = benefits
                    .into_iter()
                    .map(|b| promo(None, vec![], b))
                    .collect();
                i
            })
    }

    proptest! {
        #[test]
        fn totals_add_up_and_nothing_is_negative(i in arb_input()) {
            let b = price(&i).unwrap();
            let exclusive = i.mode == PriceMode::TaxExclusive;
            prop_assert_eq!(b.subtotal, b.lines.iter().map(|l| l.gross).sum::<i64>());
            prop_assert_eq!(b.discount_total, b.lines.iter().map(|l| l.discount).sum::<i64>() + b.shipping_discount);
            prop_assert_eq!(b.tax_total, b.taxes.iter().map(|t| t.amount).sum::<i64>());
            let expected = b.subtotal - b.discount_total + b.shipping + if exclusive { b.tax_total } else { 0 };
            prop_assert_eq!(b.total, expected);
            let shipping_paid = b.shipping - b.shipping_discount + if exclusive { b.shipping_tax } else { 0 };
            prop_assert_eq!(b.total, b.lines.iter().map(|l| l.total).sum::<i64>() + shipping_paid);
            prop_assert!(b.total >= 0 && b.tax_total >= 0);
            for l in &b.lines {
                prop_assert!(l.discount >= 0 && l.discount <= l.gross, "{:?}", l);
                prop_assert!(l.tax >= 0 && l.total >= 0);
                // Inclusive tax never exceeds the amount it is inside of.
                prop_assert!(exclusive || l.tax <= l.gross - l.discount);
            }
            prop_assert!(b.shipping_discount <= b.shipping);
            // Every promotion's amount is at most what it applied to.
            let given: i64 = b.applied.iter().map(|a| a.amount).sum();
            prop_assert_eq!(given, b.discount_total);
            prop_assert!(given <= b.subtotal + b.shipping);
        }

        #[test]
        fn inclusive_and_exclusive_prices_agree(net in 0i64..10_000_000, rate in 0i64..=PPM, qty in 1i64..20) {
            // The same goods priced net (exclusive) and at the gross price the exclusive
            // breakdown charges per unit (inclusive) carry the same tax, to a cent per unit.
            let ex = price(&input(PriceMode::TaxExclusive, vec![line("A", net, qty, rate)])).unwrap();
            let gross_unit = net + mul_div_round(net, rate, PPM);
            let inc = price(&input(PriceMode::TaxInclusive, vec![line("A", gross_unit, qty, rate)])).unwrap();
            prop_assert_eq!(inc.total, gross_unit * qty);
            prop_assert!((inc.tax_total - ex.tax_total).abs() <= qty, "{} vs {}", inc.tax_total, ex.tax_total);
            prop_assert!((inc.total - ex.total).abs() <= qty);
        }

        #[test]
        fn allocation_is_exact_and_bounded(weights in prop::collection::vec(0i64..1_000_000, 1..10), frac in 0.0f64..=1.0) {
            let sum: i64 = weights.iter().sum();
            let amount = (sum as f64 * frac) as i64;
            let parts = allocate(amount, &weights);
            prop_assert_eq!(parts.iter().sum::<i64>(), if sum == 0 { 0 } else { amount });
            for (p, w) in parts.iter().zip(&weights) {
                prop_assert!(*p >= 0 && p <= w);
            }
        }
    }
}
