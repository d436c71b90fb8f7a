//! The demo shop's checkout rules, written into order_db next to the demo catalog: EUR prices
//! include VAT and USD prices do not; VAT rates of the EU countries the demo ships to and sales
//! tax of four US states; an EU and a US shipping zone with standard (by weight or subtotal,
//! free over a threshold) and express (flat) methods; a sitewide automatic promotion and the
//! code `WELCOME10`. Seeded only while the shop has no rules at all, so an admin's changes are
//! never overwritten.

use anyhow::Context;
use kit::pricing::{PriceMode, TaxCategory};
use kit::totals::{
    BenefitInput, Conditions, DeliveryDays, MethodInput, PromotionInput, Rate, SubtotalTier,
    WeightTier, ZoneInput,
};
use sqlx::PgPool;
use storefront_kit as kit;
use storefront_order::totals::store;
use uuid::Uuid;

/// What was seeded (`None`: the shop had rules already).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seeded {
    pub tax_rates: usize,
    pub zones: usize,
    pub methods: usize,
    pub promotions: usize,
}

impl std::fmt::Display for Seeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "seeded checkout rules: {} tax rates, {} shipping zones, {} methods, {} promotions (code WELCOME10)",
            self.tax_rates, self.zones, self.methods, self.promotions
        )
    }
}

/// VAT (standard, reduced) in ppm of the EU zone's countries.
const VAT: [(&str, i64, i64); 10] = [
    ("AT", 200_000, 100_000),
    ("BE", 210_000, 60_000),
    ("DE", 190_000, 70_000),
    ("ES", 210_000, 100_000),
    ("FR", 200_000, 55_000),
    ("IE", 230_000, 135_000),
    ("IT", 220_000, 100_000),
    ("LU", 170_000, 80_000),
    ("NL", 210_000, 90_000),
    ("PT", 230_000, 60_000),
];

/// State sales tax (standard) in ppm; reduced (groceries, books) are exempt in these states.
const SALES_TAX: [(&str, i64); 4] = [
    ("US-CA", 72_500),
    ("US-NY", 40_000),
    ("US-TX", 62_500),
    ("US-WA", 65_000),
];

/// Seeds the rules into `pool` (order_db) when it has none.
pub async fn seed_totals(pool: &PgPool) -> anyhow::Result<Option<Seeded>> {
    let any: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM shipping_zones) OR EXISTS (SELECT 1 FROM promotions)
             OR EXISTS (SELECT 1 FROM tax_rates) OR EXISTS (SELECT 1 FROM price_modes)",
    )
    .fetch_one(pool)
    .await?;
    if any {
        return Ok(None);
    }
    store::set_price_mode(pool, "EUR", PriceMode::TaxInclusive).await?;
    store::set_price_mode(pool, "USD", PriceMode::TaxExclusive).await?;
    let mut tax_rates = 0;
    let mut rate = |country: &str, region: Option<&str>, category, rate_ppm| {
        tax_rates += 1;
        kit::totals::TaxRateInput {
            country: country.into(),
            region: region.map(Into::into),
            category,
            rate_ppm,
        }
    };
    let mut rates = Vec::new();
    for (c, standard, reduced) in VAT {
        rates.push(rate(c, None, TaxCategory::Standard, standard));
        rates.push(rate(c, None, TaxCategory::Reduced, reduced));
    }
    for (region, standard) in SALES_TAX {
        rates.push(rate("US", Some(region), TaxCategory::Standard, standard));
    }
    for r in &rates {
        debug_assert!(r.validate().is_empty(), "{r:?}");
        store::set_tax_rate(pool, r).await.context("tax rates")?;
    }

    let eu = ZoneInput {
        name: "European Union".into(),
        countries: VAT.iter().map(|(c, _, _)| (*c).to_owned()).collect(),
        regions: Vec::new(),
    };
    let us = ZoneInput {
        name: "United States".into(),
        countries: vec!["US".into()],
        regions: Vec::new(),
    };
    let eu_id = Uuid::now_v7();
    let us_id = Uuid::now_v7();
    store::put_zone(pool, eu_id, &eu, true).await?;
    store::put_zone(pool, us_id, &us, true).await?;

    let method = |zone_id, name: &str, currency: &str, rate, free_over, min, max| MethodInput {
        zone_id,
        name: name.into(),
        currency: currency.into(),
        rate,
        free_over,
        delivery_days: Some(DeliveryDays { min, max }),
        tax_category: Some(TaxCategory::Standard),
        active: Some(true),
    };
    let weight = |tiers: &[(i64, i64)]| Rate::WeightTiers {
        tiers: tiers
            .iter()
            .map(|(from_grams, amount)| WeightTier {
                from_grams: *from_grams,
                amount: *amount,
            })
            .collect(),
    };
    let by_subtotal = |tiers: &[(i64, i64)]| Rate::SubtotalTiers {
        tiers: tiers
            .iter()
            .map(|(from, amount)| SubtotalTier {
                from: *from,
                amount: *amount,
            })
            .collect(),
    };
    let methods = [
        method(
            eu_id,
            "Standard",
            "EUR",
            weight(&[(0, 490), (2_000, 690), (10_000, 1_290)]),
            Some(5_000),
            3,
            5,
        ),
        method(
            eu_id,
            "Express",
            "EUR",
            Rate::Flat { amount: 990 },
            None,
            1,
            2,
        ),
        method(
            us_id,
            "Standard",
            "USD",
            by_subtotal(&[(0, 599), (5_000, 399)]),
            Some(7_500),
            4,
            7,
        ),
        method(
            us_id,
            "Express",
            "USD",
            Rate::Flat { amount: 1_499 },
            None,
            1,
            3,
        ),
    ];
    for m in &methods {
        debug_assert!(m.validate().is_empty(), "{m:?}");
        store::put_method(pool, Uuid::now_v7(), m, true).await?;
    }

    let promotions = [
        PromotionInput {
            name: "Winter sale: 5% off everything".into(),
            code: None,
            currency: None,
            conditions: Conditions::default(),
            benefit: BenefitInput::PercentOffOrder { percent_bp: 500 },
            starts_at: None,
            ends_at: None,
            usage_limit: None,
            per_customer_limit: None,
            active: Some(true),
        },
        PromotionInput {
            name: "Welcome: 10% off a first order".into(),
            code: Some("WELCOME10".into()),
            currency: None,
            conditions: Conditions {
                first_order: true,
                ..Conditions::default()
            },
            benefit: BenefitInput::PercentOffOrder { percent_bp: 1_000 },
            starts_at: None,
            ends_at: None,
            usage_limit: Some(10_000),
            per_customer_limit: Some(1),
            active: Some(true),
        },
    ];
    for p in &promotions {
        debug_assert!(p.validate().is_empty(), "{p:?}");
        store::put_promotion(pool, Uuid::now_v7(), p, true).await?;
    }
    Ok(Some(Seeded {
        tax_rates,
        zones: 2,
        methods: methods.len(),
        promotions: promotions.len(),
    }))
}
