//! The contracts of checkout totals (issue #13), written once: the admin bodies of price modes,
//! tax rates, shipping zones and methods and promotions, the shipping options and the estimate
//! a cart shows, and the internal quote request. The order service serves and validates them,
//! the cart asks for quotes with them and the gateway documents them (they derive `ToSchema`).
//! The math itself is [`crate::pricing`]. (`kit::totals` is this module.)

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Breakdown, DeliveryDays, PriceMode, TaxCategory};
use crate::pricing;
use crate::problem::FieldError;

/// Largest amount in minor units an admin may enter (10^12: ten billion in a 2-decimal
/// currency), so sums over 100 lines of 10,000 units cannot overflow.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;
/// Most tiers a shipping rate may have.
pub const MAX_TIERS: usize = 50;
/// Most countries, regions, products, categories or customers a zone or promotion may list.
pub const MAX_LIST: usize = 300;

/// Whether `s` is an uppercase ISO 4217-shaped code.
pub fn is_currency(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase())
}

/// Whether `s` is an uppercase ISO 3166-1 alpha-2-shaped code.
pub fn is_country(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase())
}

/// Whether `s` is an ISO 3166-2 subdivision code such as `US-CA` (country, hyphen, 1 to 3
/// uppercase letters or digits).
pub fn is_region(s: &str) -> bool {
    match s.split_once('-') {
        Some((c, sub)) => {
            is_country(c)
                && (1..=3).contains(&sub.len())
                && sub
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        }
        None => false,
    }
}

/// The ISO 3166-2 code of an address's free-text region in `country` (`"ca"` or `"US-CA"` in
/// the US is `US-CA`); `None` when it has no such shape.
pub fn region_code(country: &str, region: &str) -> Option<String> {
    let r = region.trim().to_ascii_uppercase();
    let code = if r.starts_with(&format!("{country}-")) {
        r
    } else {
        format!("{country}-{r}")
    };
    is_region(&code).then_some(code)
}

/// An optional currency parameter as given by a client (any case, padded): uppercased, or an
/// error naming `field`.
pub fn currency_param(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: Option<&str>,
) -> Option<String> {
    let c = value.map(str::to_ascii_uppercase)?;
    if !is_currency(&c) {
        errors.push(FieldError::new(
            field,
            "must be an ISO 4217 code such as `EUR`",
        ));
    }
    Some(c)
}

/// An optional country parameter: uppercased, or an error naming `field`.
pub fn country_param(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: Option<&str>,
) -> Option<String> {
    let c = value.map(str::to_ascii_uppercase)?;
    if !is_country(&c) {
        errors.push(FieldError::new(
            field,
            "must be an ISO 3166-1 alpha-2 code such as `DE`",
        ));
    }
    Some(c)
}

/// An optional promotion code parameter: normalised (empty is none), or an error naming
/// `field`.
pub fn code_param(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: Option<&str>,
) -> Option<String> {
    let c = value
        .map(str::to_ascii_uppercase)
        .filter(|c| !c.is_empty())?;
    if !is_code(&c) {
        errors.push(FieldError::new(
            field,
            "must be 3 to 32 letters, digits, `-` or `_`",
        ));
    }
    Some(c)
}

fn check_amount(errors: &mut Vec<FieldError>, field: &str, amount: i64) {
    if !(0..=MAX_AMOUNT).contains(&amount) {
        errors.push(FieldError::new(
            field,
            format!("must be between 0 and {MAX_AMOUNT} (minor units)"),
        ));
    }
}

fn check_name(errors: &mut Vec<FieldError>, field: &str, name: &str) {
    if name.trim().is_empty() || name.chars().count() > 100 {
        errors.push(FieldError::new(field, "must be 1 to 100 characters"));
    }
}

fn check_currency(errors: &mut Vec<FieldError>, field: &str, currency: &str) {
    if !is_currency(currency) {
        errors.push(FieldError::new(
            field,
            "must be an uppercase ISO 4217 code such as `EUR`",
        ));
    }
}

fn check_len<T>(errors: &mut Vec<FieldError>, field: &str, list: &[T]) {
    if list.len() > MAX_LIST {
        errors.push(FieldError::new(
            field,
            format!("holds at most {MAX_LIST} entries"),
        ));
    }
}

// ---------- price modes ----------

/// How a currency's prices are entered. A currency without a setting is tax-exclusive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"currency": "EUR", "mode": "tax_inclusive"}))]
pub struct PriceModeSetting {
    /// Uppercase ISO 4217 code.
    pub currency: String,
    pub mode: PriceMode,
}

/// Body of `PUT /api/v1/admin/price-modes/{currency}`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"mode": "tax_inclusive"}))]
pub struct PriceModeInput {
    pub mode: PriceMode,
}

// ---------- tax rates ----------

/// Body of `PUT /api/v1/admin/tax-rates`: sets the rate of a category at a destination (a
/// region's rate wins over its country's). Categories without a rate are not taxed.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"country": "DE", "region": null, "category": "standard", "rate_ppm": 190000}))]
pub struct TaxRateInput {
    /// ISO 3166-1 alpha-2, uppercase.
    pub country: String,
    /// ISO 3166-2 code within `country` (`US-CA`); absent for the whole country.
    #[serde(default)]
    pub region: Option<String>,
    pub category: TaxCategory,
    /// The rate in parts per million: 19% is 190000, 8.875% is 88750. 0 to 1000000.
    pub rate_ppm: i64,
}

impl TaxRateInput {
    pub fn validate(&self) -> Vec<FieldError> {
        let mut e = Vec::new();
        if !is_country(&self.country) {
            e.push(FieldError::new(
                "country",
                "must be an uppercase ISO 3166-1 alpha-2 code such as `DE`",
            ));
        }
        if let Some(r) = &self.region
            && !(is_region(r) && r.starts_with(&format!("{}-", self.country)))
        {
            e.push(FieldError::new(
                "region",
                "must be an ISO 3166-2 code within `country`, such as `US-CA`",
            ));
        }
        if !(0..=pricing::PPM).contains(&self.rate_ppm) {
            e.push(FieldError::new(
                "rate_ppm",
                "must be between 0 and 1000000 (parts per million)",
            ));
        }
        if self.category == TaxCategory::Zero && self.rate_ppm != 0 {
            e.push(FieldError::new(
                "rate_ppm",
                "the `zero` category is always taxed at 0",
            ));
        }
        e
    }
}

/// A tax rate as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": "01938f0e-0000-7000-8000-000000000001", "country": "DE", "region": null,
    "category": "standard", "rate_ppm": 190000}))]
pub struct TaxRate {
    pub id: Uuid,
    pub country: String,
    pub region: Option<String>,
    pub category: TaxCategory,
    pub rate_ppm: i64,
}

// ---------- shipping ----------

/// Body of `POST /api/v1/admin/shipping-zones` and `PUT .../{id}`: where a zone's methods
/// ship to.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "European Union", "countries": ["DE", "FR", "AT"], "regions": []}))]
pub struct ZoneInput {
    /// 1 to 100 characters, unique.
    pub name: String,
    /// ISO 3166-1 alpha-2 codes, 1 to 300.
    pub countries: Vec<String>,
    /// ISO 3166-2 codes within those countries; when given, a destination in one of those
    /// countries must be in one of these regions (e.g. the contiguous US states).
    #[serde(default)]
    pub regions: Vec<String>,
}

impl ZoneInput {
    pub fn validate(&self) -> Vec<FieldError> {
        let mut e = Vec::new();
        check_name(&mut e, "name", &self.name);
        if self.countries.is_empty() {
            e.push(FieldError::new(
                "countries",
                "must name at least one country",
            ));
        }
        check_len(&mut e, "countries", &self.countries);
        check_len(&mut e, "regions", &self.regions);
        for (i, c) in self.countries.iter().enumerate() {
            if !is_country(c) {
                e.push(FieldError::new(
                    format!("countries[{i}]"),
                    "must be an uppercase ISO 3166-1 alpha-2 code such as `DE`",
                ));
            }
        }
        for (i, r) in self.regions.iter().enumerate() {
            if !is_region(r)
                || !self
                    .countries
                    .iter()
                    .any(|c| r.starts_with(&format!("{c}-")))
            {
                e.push(FieldError::new(
                    format!("regions[{i}]"),
                    "must be an ISO 3166-2 code such as `US-CA` within one of `countries`",
                ));
            }
        }
        e
    }
}

/// A shipping zone as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Zone {
    pub id: Uuid,
    pub name: String,
    pub countries: Vec<String>,
    pub regions: Vec<String>,
}

impl Zone {
    /// Whether the zone ships to `country` (and `region`, an address's free text).
    pub fn covers(&self, country: &str, region: Option<&str>) -> bool {
        if !self.countries.iter().any(|c| c == country) {
            return false;
        }
        let in_country: Vec<&String> = self
            .regions
            .iter()
            .filter(|r| r.starts_with(&format!("{country}-")))
            .collect();
        if in_country.is_empty() {
            return true;
        }
        region
            .and_then(|r| region_code(country, r))
            .is_some_and(|code| in_country.iter().any(|r| **r == code))
    }
}

/// One tier of a rate by subtotal: from this subtotal (before discounts, minor units) on, the
/// shipping costs `amount`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubtotalTier {
    pub from: i64,
    pub amount: i64,
}

/// One tier of a rate by weight: from this total weight (grams) on, the shipping costs `amount`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeightTier {
    pub from_grams: i64,
    pub amount: i64,
}

/// What a shipping method costs before promotions. Tiers are ascending and the first starts at
/// 0; the last tier whose start the cart reaches applies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rate {
    /// The same price for every cart.
    Flat { amount: i64 },
    /// By the cart's subtotal.
    SubtotalTiers { tiers: Vec<SubtotalTier> },
    /// By the cart's weight (the variants' `weight_grams` times the quantities).
    WeightTiers { tiers: Vec<WeightTier> },
}

impl Rate {
    /// The price for a cart of this subtotal and weight.
    pub fn amount(&self, subtotal: i64, grams: i64) -> i64 {
        match self {
            Rate::Flat { amount } => *amount,
            Rate::SubtotalTiers { tiers } => tiers
                .iter()
                .rev()
                .find(|t| subtotal >= t.from)
                .map_or(0, |t| t.amount),
            Rate::WeightTiers { tiers } => tiers
                .iter()
                .rev()
                .find(|t| grams >= t.from_grams)
                .map_or(0, |t| t.amount),
        }
    }

    fn validate(&self, e: &mut Vec<FieldError>) {
        let starts: Vec<(i64, i64)> = match self {
            Rate::Flat { amount } => {
                check_amount(e, "rate.amount", *amount);
                return;
            }
            Rate::SubtotalTiers { tiers } => tiers.iter().map(|t| (t.from, t.amount)).collect(),
            Rate::WeightTiers { tiers } => tiers.iter().map(|t| (t.from_grams, t.amount)).collect(),
        };
        let start_name = match self {
            Rate::WeightTiers { .. } => "from_grams",
            _ => "from",
        };
        if starts.is_empty() || starts.len() > MAX_TIERS {
            e.push(FieldError::new(
                "rate.tiers",
                format!("must hold 1 to {MAX_TIERS} tiers"),
            ));
            return;
        }
        if starts[0].0 != 0 {
            e.push(FieldError::new(
                format!("rate.tiers[0].{start_name}"),
                "the first tier must start at 0",
            ));
        }
        for (i, (from, amount)) in starts.iter().enumerate() {
            check_amount(e, &format!("rate.tiers[{i}].amount"), *amount);
            if i > 0 && *from <= starts[i - 1].0 {
                e.push(FieldError::new(
                    format!("rate.tiers[{i}].{start_name}"),
                    "tiers must start in ascending order",
                ));
            }
            if !(0..=MAX_AMOUNT).contains(from) {
                e.push(FieldError::new(
                    format!("rate.tiers[{i}].{start_name}"),
                    format!("must be between 0 and {MAX_AMOUNT}"),
                ));
            }
        }
    }
}

/// Body of `POST /api/v1/admin/shipping-methods` and `PUT .../{id}`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"zone_id": "01938f0e-0000-7000-8000-000000000002", "name": "Express",
    "currency": "EUR", "rate": {"type": "weight_tiers", "tiers": [{"from_grams": 0, "amount": 990},
    {"from_grams": 5000, "amount": 1490}]}, "free_over": null, "delivery_days": {"min": 1, "max": 2},
    "tax_category": "standard", "active": true}))]
pub struct MethodInput {
    pub zone_id: Uuid,
    /// 1 to 100 characters.
    pub name: String,
    /// The currency of the rate and of `free_over`; the method is offered for carts in it.
    pub currency: String,
    pub rate: Rate,
    /// From this subtotal (before discounts) on, shipping is free.
    #[serde(default)]
    pub free_over: Option<i64>,
    #[serde(default)]
    pub delivery_days: Option<DeliveryDays>,
    /// How shipping is taxed (default `standard`).
    #[serde(default)]
    pub tax_category: Option<TaxCategory>,
    /// Offered at checkout (default true).
    #[serde(default)]
    pub active: Option<bool>,
}

impl MethodInput {
    pub fn validate(&self) -> Vec<FieldError> {
        let mut e = Vec::new();
        check_name(&mut e, "name", &self.name);
        check_currency(&mut e, "currency", &self.currency);
        self.rate.validate(&mut e);
        if let Some(f) = self.free_over {
            check_amount(&mut e, "free_over", f);
        }
        if let Some(d) = &self.delivery_days
            && !(0 <= d.min && d.min <= d.max && d.max <= 365)
        {
            e.push(FieldError::new(
                "delivery_days",
                "needs 0 <= min <= max <= 365",
            ));
        }
        e
    }
}

/// A shipping method as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Method {
    pub id: Uuid,
    pub zone_id: Uuid,
    pub name: String,
    pub currency: String,
    pub rate: Rate,
    pub free_over: Option<i64>,
    pub delivery_days: Option<DeliveryDays>,
    pub tax_category: TaxCategory,
    pub active: bool,
}

impl Method {
    /// The price for a cart of this subtotal (before discounts) and weight.
    pub fn price(&self, subtotal: i64, grams: i64) -> i64 {
        if self.free_over.is_some_and(|f| subtotal >= f) {
            0
        } else {
            self.rate.amount(subtotal, grams)
        }
    }
}

/// A shipping method offered for a destination (`GET /api/v1/shipping-methods`, and the cart's
/// estimate, where `amount` is the price for that cart).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": "01938f0e-0000-7000-8000-000000000003", "name": "Express", "zone": "European Union",
    "currency": "EUR", "rate": {"type": "flat", "amount": 990}, "free_over": null,
    "delivery_days": {"min": 1, "max": 2}, "amount": 990}))]
pub struct ShippingOption {
    pub id: Uuid,
    pub name: String,
    /// The zone's name.
    pub zone: String,
    pub currency: String,
    pub rate: Rate,
    pub free_over: Option<i64>,
    pub delivery_days: Option<DeliveryDays>,
    /// The price for the cart in question (before promotions), when there is one.
    pub amount: Option<i64>,
}

impl ShippingOption {
    /// `method` of `zone` as offered, priced at `amount` for a cart when there is one.
    pub fn offer(zone: &Zone, method: &Method, amount: Option<i64>) -> Self {
        Self {
            id: method.id,
            name: method.name.clone(),
            zone: zone.name.clone(),
            currency: method.currency.clone(),
            rate: method.rate.clone(),
            free_over: method.free_over,
            delivery_days: method.delivery_days.clone(),
            amount,
        }
    }
}

// ---------- promotions ----------

/// When a promotion applies; every condition given must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    /// The subtotal before discounts is at least this (needs the promotion's `currency`).
    #[serde(default)]
    pub min_subtotal: Option<i64>,
    /// At least one line is one of these products.
    #[serde(default)]
    pub product_ids: Vec<Uuid>,
    /// At least one line is in one of these categories.
    #[serde(default)]
    pub category_ids: Vec<Uuid>,
    /// Only for a customer's first order.
    #[serde(default)]
    pub first_order: bool,
    /// Only for these customers.
    #[serde(default)]
    pub customer_ids: Vec<Uuid>,
}

/// What a promotion gives. `percent_bp` is in basis points (10% = 1000); amounts are minor
/// units of the promotion's `currency`. Line benefits apply to the lines of `product_ids` or
/// `category_ids` (every line when both are empty).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum BenefitInput {
    PercentOffOrder {
        percent_bp: i64,
    },
    AmountOffOrder {
        amount: i64,
    },
    PercentOffLines {
        percent_bp: i64,
        #[serde(default)]
        product_ids: Vec<Uuid>,
        #[serde(default)]
        category_ids: Vec<Uuid>,
    },
    AmountOffLines {
        amount: i64,
        #[serde(default)]
        product_ids: Vec<Uuid>,
        #[serde(default)]
        category_ids: Vec<Uuid>,
    },
    FreeShipping,
}

impl BenefitInput {
    fn has_amount(&self) -> bool {
        matches!(
            self,
            BenefitInput::AmountOffOrder { .. } | BenefitInput::AmountOffLines { .. }
        )
    }

    pub fn to_pricing(&self) -> pricing::Benefit {
        use pricing::{Benefit, Target};
        match self {
            BenefitInput::PercentOffOrder { percent_bp } => {
                Benefit::PercentOffOrder { bp: *percent_bp }
            }
            BenefitInput::AmountOffOrder { amount } => Benefit::AmountOffOrder { amount: *amount },
            BenefitInput::PercentOffLines {
                percent_bp,
                product_ids,
                category_ids,
            } => Benefit::PercentOffLines {
                bp: *percent_bp,
                target: Target {
                    product_ids: product_ids.clone(),
                    category_ids: category_ids.clone(),
                },
            },
            BenefitInput::AmountOffLines {
                amount,
                product_ids,
                category_ids,
            } => Benefit::AmountOffLines {
                amount: *amount,
                target: Target {
                    product_ids: product_ids.clone(),
                    category_ids: category_ids.clone(),
                },
            },
            BenefitInput::FreeShipping => Benefit::FreeShipping,
        }
    }
}

/// Body of `POST /api/v1/admin/promotions` and `PUT .../{id}`. Without `code` the promotion
/// is automatic: it applies to every cart that meets its conditions. With one, the shopper
/// enters the code (case-insensitive). Per order: every automatic promotion that applies plus
/// at most one code.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Ten off", "code": "TENOFF", "currency": null,
    "conditions": {"min_subtotal": null, "first_order": false},
    "benefit": {"type": "percent_off_order", "percent_bp": 1000},
    "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z",
    "usage_limit": 50, "per_customer_limit": 1, "active": true}))]
pub struct PromotionInput {
    /// 1 to 100 characters.
    pub name: String,
    /// 3 to 32 letters, digits, `-` or `_`; stored uppercase and unique.
    #[serde(default)]
    pub code: Option<String>,
    /// The currency the promotion's amounts are in; it then applies only to carts in that
    /// currency. Required when `conditions.min_subtotal` or an amount benefit is given.
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub conditions: Conditions,
    pub benefit: BenefitInput,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub starts_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub ends_at: Option<OffsetDateTime>,
    /// Redemptions in total; never exceeded, even by concurrent checkouts. Orders cancelled
    /// before payment give theirs back.
    #[serde(default)]
    pub usage_limit: Option<i32>,
    /// Redemptions per customer.
    #[serde(default)]
    pub per_customer_limit: Option<i32>,
    /// Default true.
    #[serde(default)]
    pub active: Option<bool>,
}

/// A code as stored: trimmed and uppercase.
pub fn normalize_code(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

/// Whether `code` (normalised) has the shape of a promotion code.
pub fn is_code(code: &str) -> bool {
    (3..=32).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl PromotionInput {
    pub fn validate(&self) -> Vec<FieldError> {
        let mut e = Vec::new();
        check_name(&mut e, "name", &self.name);
        if let Some(c) = &self.code
            && !is_code(&normalize_code(c))
        {
            e.push(FieldError::new(
                "code",
                "must be 3 to 32 letters, digits, `-` or `_`",
            ));
        }
        if let Some(c) = &self.currency {
            check_currency(&mut e, "currency", c);
        }
        let c = &self.conditions;
        if let Some(m) = c.min_subtotal {
            check_amount(&mut e, "conditions.min_subtotal", m);
            if self.currency.is_none() {
                e.push(FieldError::new(
                    "currency",
                    "is required with `conditions.min_subtotal`",
                ));
            }
        }
        check_len(&mut e, "conditions.product_ids", &c.product_ids);
        check_len(&mut e, "conditions.category_ids", &c.category_ids);
        check_len(&mut e, "conditions.customer_ids", &c.customer_ids);
        match &self.benefit {
            BenefitInput::PercentOffOrder { percent_bp }
            | BenefitInput::PercentOffLines { percent_bp, .. } => {
                if !(1..=pricing::BP).contains(percent_bp) {
                    e.push(FieldError::new(
                        "benefit.percent_bp",
                        "must be between 1 and 10000 (basis points: 10% is 1000)",
                    ));
                }
            }
            BenefitInput::AmountOffOrder { amount }
            | BenefitInput::AmountOffLines { amount, .. } => {
                if !(1..=MAX_AMOUNT).contains(amount) {
                    e.push(FieldError::new(
                        "benefit.amount",
                        format!("must be between 1 and {MAX_AMOUNT} (minor units)"),
                    ));
                }
            }
            BenefitInput::FreeShipping => {}
        }
        if let BenefitInput::PercentOffLines {
            product_ids,
            category_ids,
            ..
        }
        | BenefitInput::AmountOffLines {
            product_ids,
            category_ids,
            ..
        } = &self.benefit
        {
            check_len(&mut e, "benefit.product_ids", product_ids);
            check_len(&mut e, "benefit.category_ids", category_ids);
        }
        if self.benefit.has_amount() && self.currency.is_none() {
            e.push(FieldError::new(
                "currency",
                "is required with an amount benefit",
            ));
        }
        if let (Some(s), Some(t)) = (self.starts_at, self.ends_at)
            && t <= s
        {
            e.push(FieldError::new("ends_at", "must be after `starts_at`"));
        }
        if self.usage_limit.is_some_and(|l| l < 1) {
            e.push(FieldError::new("usage_limit", "must be at least 1"));
        }
        if self.per_customer_limit.is_some_and(|l| l < 1) {
            e.push(FieldError::new("per_customer_limit", "must be at least 1"));
        }
        e
    }
}

/// A promotion as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Promotion {
    pub id: Uuid,
    pub name: String,
    pub code: Option<String>,
    pub currency: Option<String>,
    pub conditions: Conditions,
    pub benefit: BenefitInput,
    #[serde(with = "time::serde::rfc3339::option")]
    pub starts_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ends_at: Option<OffsetDateTime>,
    pub usage_limit: Option<i32>,
    pub per_customer_limit: Option<i32>,
    pub active: bool,
    /// Redemptions by orders not cancelled before payment.
    pub uses: i32,
}

/// Why a promotion cannot be used now (`None`: it can, as far as time and totals go).
pub fn unavailable(p: &Promotion, now: OffsetDateTime, currency: &str) -> Option<String> {
    let label = p.code.as_deref().unwrap_or(&p.name);
    if !p.active {
        return Some(format!("`{label}` is not active"));
    }
    if p.starts_at.is_some_and(|s| now < s) {
        return Some(format!("`{label}` has not started yet"));
    }
    if p.ends_at.is_some_and(|t| now >= t) {
        return Some(format!("`{label}` has ended"));
    }
    if p.usage_limit.is_some_and(|l| p.uses >= l) {
        return Some(format!("`{label}` has been used up"));
    }
    if p.currency.as_deref().is_some_and(|c| c != currency) {
        return Some(format!(
            "`{label}` applies to prices in {}",
            p.currency.as_deref().unwrap_or_default()
        ));
    }
    None
}

impl Promotion {
    /// The promotion for [`pricing::price`].
    pub fn to_pricing(&self, entered_code: Option<&str>) -> pricing::Promotion {
        use pricing::{Condition, Target};
        let c = &self.conditions;
        let mut conditions = Vec::new();
        if let Some(m) = c.min_subtotal {
            conditions.push(Condition::MinSubtotal(m));
        }
        if !c.product_ids.is_empty() || !c.category_ids.is_empty() {
            conditions.push(Condition::Lines(Target {
                product_ids: c.product_ids.clone(),
                category_ids: c.category_ids.clone(),
            }));
        }
        if c.first_order {
            conditions.push(Condition::FirstOrder);
        }
        if !c.customer_ids.is_empty() {
            conditions.push(Condition::Customers(c.customer_ids.clone()));
        }
        pricing::Promotion {
            id: self.id,
            code: entered_code.map(normalize_code),
            conditions,
            benefit: self.benefit.to_pricing(),
        }
    }
}

// ---------- quotes and estimates ----------

/// One line to quote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QuoteLine {
    pub sku: String,
    pub quantity: i64,
}

/// What the cart sends order's internal `POST /internal/v1/quote`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequest {
    pub lines: Vec<QuoteLine>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub shipping_method_id: Option<Uuid>,
    #[serde(default)]
    pub code: Option<String>,
    /// The signed-in shopper (first-order, customer and per-customer conditions).
    #[serde(default)]
    pub user_id: Option<Uuid>,
}

/// The entered code as the estimate sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CodeStatus {
    pub code: String,
    pub applied: bool,
    /// Why it does not apply, when it does not.
    pub reason: Option<String>,
}

/// What the cart would cost: the full breakdown for its currency and destination, the shipping
/// methods offered there (priced for this cart) and the entered code's status. Without a
/// country there is no shipping, and tax is that of no destination (0).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Estimate {
    pub currency: String,
    pub country: Option<String>,
    pub region: Option<String>,
    pub breakdown: Breakdown,
    pub shipping_methods: Vec<ShippingOption>,
    /// The method priced in `breakdown` (the one asked for, else the cheapest).
    pub shipping_method_id: Option<Uuid>,
    pub code: Option<CodeStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(countries: &[&str], regions: &[&str]) -> Zone {
        Zone {
            id: Uuid::nil(),
            name: "z".into(),
            countries: countries.iter().map(|s| s.to_string()).collect(),
            regions: regions.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn zones_cover_countries_and_listed_regions() {
        let eu = zone(&["DE", "FR"], &[]);
        assert!(eu.covers("DE", None));
        assert!(eu.covers("FR", Some("anything")));
        assert!(!eu.covers("US", None));
        let us = zone(&["US", "CA"], &["US-CA", "US-NY"]);
        assert!(us.covers("US", Some("ca")));
        assert!(us.covers("US", Some("US-NY")));
        assert!(!us.covers("US", Some("HI")));
        assert!(!us.covers("US", None));
        assert!(
            us.covers("CA", None),
            "regions of another country do not restrict"
        );
    }

    #[test]
    fn rates_pick_the_last_reached_tier_and_free_shipping_wins() {
        let by_weight = Rate::WeightTiers {
            tiers: vec![
                WeightTier {
                    from_grams: 0,
                    amount: 500,
                },
                WeightTier {
                    from_grams: 2000,
                    amount: 900,
                },
            ],
        };
        assert_eq!(by_weight.amount(0, 1999), 500);
        assert_eq!(by_weight.amount(0, 2000), 900);
        let m = Method {
            id: Uuid::nil(),
            zone_id: Uuid::nil(),
            name: "Standard".into(),
            currency: "EUR".into(),
            rate: by_weight,
            free_over: Some(5000),
            delivery_days: None,
            tax_category: TaxCategory::Standard,
            active: true,
        };
        assert_eq!(m.price(4999, 3000), 900);
        assert_eq!(m.price(5000, 3000), 0);
    }

    #[test]
    fn bad_inputs_name_their_fields() {
        let m: MethodInput = serde_json::from_value(serde_json::json!({
            "zone_id": Uuid::nil(), "name": "", "currency": "eur",
            "rate": {"type": "subtotal_tiers", "tiers": [{"from": 10, "amount": 1}, {"from": 5, "amount": -1}]},
            "delivery_days": {"min": 3, "max": 1}
        }))
        .unwrap();
        let fields: Vec<String> = m.validate().into_iter().map(|e| e.field).collect();
        for f in [
            "name",
            "currency",
            "rate.tiers[0].from",
            "rate.tiers[1].from",
            "rate.tiers[1].amount",
            "delivery_days",
        ] {
            assert!(fields.contains(&f.to_string()), "{f} in {fields:?}");
        }
        let p: PromotionInput = serde_json::from_value(serde_json::json!({
            "name": "x", "code": "a b", "benefit": {"type": "amount_off_order", "amount": 0},
            "starts_at": "2027-01-01T00:00:00Z", "ends_at": "2026-01-01T00:00:00Z", "usage_limit": 0
        }))
        .unwrap();
        let fields: Vec<String> = p.validate().into_iter().map(|e| e.field).collect();
        for f in [
            "code",
            "benefit.amount",
            "currency",
            "ends_at",
            "usage_limit",
        ] {
            assert!(fields.contains(&f.to_string()), "{f} in {fields:?}");
        }
        let t = TaxRateInput {
            country: "US".into(),
            region: Some("DE-BY".into()),
            category: TaxCategory::Zero,
            rate_ppm: 2_000_000,
        };
        let fields: Vec<String> = t.validate().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["region", "rate_ppm", "rate_ppm"]);
    }

    #[test]
    fn promotions_are_unavailable_outside_their_window_limit_or_currency() {
        let now = OffsetDateTime::now_utc();
        let mut p = Promotion {
            id: Uuid::nil(),
            name: "n".into(),
            code: Some("TEN".into()),
            currency: None,
            conditions: Conditions::default(),
            benefit: BenefitInput::FreeShipping,
            starts_at: None,
            ends_at: None,
            usage_limit: Some(2),
            per_customer_limit: None,
            active: true,
            uses: 1,
        };
        assert_eq!(unavailable(&p, now, "EUR"), None);
        p.uses = 2;
        assert!(unavailable(&p, now, "EUR").unwrap().contains("used up"));
        p.uses = 0;
        p.ends_at = Some(now);
        assert!(unavailable(&p, now, "EUR").unwrap().contains("ended"));
        p.ends_at = None;
        p.currency = Some("USD".into());
        assert!(unavailable(&p, now, "EUR").unwrap().contains("USD"));
    }

    #[test]
    fn region_codes_from_free_text() {
        assert_eq!(region_code("US", " ca ").as_deref(), Some("US-CA"));
        assert_eq!(region_code("US", "US-NY").as_deref(), Some("US-NY"));
        assert_eq!(region_code("US", "New York"), None);
    }
}
