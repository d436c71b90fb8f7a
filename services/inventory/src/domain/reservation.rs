//! Reservations: the lines of a request (validated, each SKU once), the TTL, and the states a
//! reservation goes through.

use std::time::Duration;

use super::{Invalid, Sku};

/// One validated line: a SKU and 1 or more units.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub sku: Sku,
    pub quantity: i64,
}

/// The lines of a reservation: 1 to `max_lines`, each SKU once, quantities 1 to `max_quantity`.
/// Kept in request order (shortages are reported in that order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReservationLines(Vec<Line>);

impl ReservationLines {
    /// Parses `(sku, quantity)` pairs; every invalid line is reported, not only the first.
    pub fn parse(
        raw: &[(String, i64)],
        max_lines: usize,
        max_quantity: i64,
    ) -> Result<Self, Vec<Invalid>> {
        if raw.is_empty() {
            return Err(vec![Invalid::new("lines", "must hold at least one line")]);
        }
        if raw.len() > max_lines {
            return Err(vec![Invalid::new(
                "lines",
                format!("may hold at most {max_lines} lines"),
            )]);
        }
        let mut errors = Vec::new();
        let mut lines: Vec<Line> = Vec::with_capacity(raw.len());
        for (i, (sku, quantity)) in raw.iter().enumerate() {
            let sku = match Sku::parse(&format!("lines[{i}].sku"), sku) {
                Ok(s) => s,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            if !(1..=max_quantity).contains(quantity) {
                errors.push(Invalid::new(
                    format!("lines[{i}].quantity"),
                    format!("must be between 1 and {max_quantity}"),
                ));
                continue;
            }
            if lines.iter().any(|l| l.sku == sku) {
                errors.push(Invalid::new(
                    format!("lines[{i}].sku"),
                    format!(
                        "`{sku}` appears twice: put each SKU on one line with the total quantity"
                    ),
                ));
                continue;
            }
            lines.push(Line {
                sku,
                quantity: *quantity,
            });
        }
        if errors.is_empty() {
            Ok(Self(lines))
        } else {
            Err(errors)
        }
    }

    /// Lines as stored (already valid), in their stored order.
    pub fn from_stored(lines: Vec<Line>) -> Self {
        Self(lines)
    }

    pub fn lines(&self) -> &[Line] {
        &self.0
    }

    /// The SKUs sorted: the order in which stock rows are locked, so concurrent reservations
    /// over overlapping SKUs never wait on each other in a cycle.
    pub fn skus_in_lock_order(&self) -> Vec<String> {
        let mut v: Vec<String> = self.0.iter().map(|l| l.sku.as_str().to_owned()).collect();
        v.sort();
        v
    }

    /// Same SKUs with the same quantities, whatever the order.
    pub fn same_as(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self.0.iter().all(|l| {
                other
                    .0
                    .iter()
                    .any(|o| o.sku == l.sku && o.quantity == l.quantity)
            })
    }
}

/// How long a reservation holds: `0` means the default; otherwise `min..=max` seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ttl(Duration);

impl Ttl {
    pub fn parse(
        raw: i32,
        default_secs: u32,
        min_secs: u32,
        max_secs: u32,
    ) -> Result<Self, Invalid> {
        if raw == 0 {
            return Ok(Self(Duration::from_secs(default_secs.into())));
        }
        match u32::try_from(raw) {
            Ok(s) if (min_secs..=max_secs).contains(&s) => Ok(Self(Duration::from_secs(s.into()))),
            _ => Err(Invalid::new(
                "ttl_seconds",
                format!("must be 0 (for {default_secs} s) or between {min_secs} and {max_secs}"),
            )),
        }
    }

    pub fn as_duration(self) -> Duration {
        self.0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReservationStatus {
    Active,
    Committed,
    Released,
    Expired,
}

impl ReservationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Committed => "committed",
            Self::Released => "released",
            Self::Expired => "expired",
        }
    }

    pub fn from_db(s: &str) -> Option<Self> {
        Some(match s {
            "active" => Self::Active,
            "committed" => Self::Committed,
            "released" => Self::Released,
            "expired" => Self::Expired,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseReason {
    OrderCancelled,
    CheckoutAborted,
    Expired,
    Manual,
}

impl ReleaseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderCancelled => "order_cancelled",
            Self::CheckoutAborted => "checkout_aborted",
            Self::Expired => "expired",
            Self::Manual => "manual",
        }
    }

    pub fn from_db(s: &str) -> Option<Self> {
        Some(match s {
            "order_cancelled" => Self::OrderCancelled,
            "checkout_aborted" => Self::CheckoutAborted,
            "expired" => Self::Expired,
            "manual" => Self::Manual,
            _ => return None,
        })
    }

    /// A reason a caller may give (EXPIRED is the sweeper's alone).
    pub fn from_caller(reason: Option<Self>) -> Result<Self, Invalid> {
        match reason {
            None => Err(Invalid::new(
                "reason",
                "is required: ORDER_CANCELLED, CHECKOUT_ABORTED or MANUAL",
            )),
            Some(Self::Expired) => Err(Invalid::new(
                "reason",
                "cannot be EXPIRED: only the sweeper expires reservations",
            )),
            Some(r) => Ok(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(lines: &[(&str, i64)]) -> Vec<(String, i64)> {
        lines.iter().map(|(s, q)| (s.to_string(), *q)).collect()
    }

    #[test]
    fn lines_are_validated_and_every_error_is_named() {
        assert!(ReservationLines::parse(&[], 100, 10_000).is_err());
        let too_many: Vec<(String, i64)> = (0..101).map(|i| (format!("s{i}"), 1)).collect();
        assert!(ReservationLines::parse(&too_many, 100, 10_000).is_err());
        let errs = ReservationLines::parse(
            &raw(&[("a", 0), ("b b", 1), ("c", 10_001), ("d", 1)]),
            100,
            10_000,
        )
        .unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["lines[0].quantity", "lines[1].sku", "lines[2].quantity"]
        );
        let dup = ReservationLines::parse(&raw(&[("a", 1), ("b", 1), ("a", 2)]), 100, 10_000)
            .unwrap_err();
        assert_eq!(dup[0].field, "lines[2].sku");
        assert!(dup[0].message.contains("twice"));
    }

    #[test]
    fn lock_order_is_sorted_and_comparison_ignores_order() {
        let a =
            ReservationLines::parse(&raw(&[("z", 1), ("a", 2), ("m", 3)]), 100, 10_000).unwrap();
        assert_eq!(a.skus_in_lock_order(), ["a", "m", "z"]);
        let b =
            ReservationLines::parse(&raw(&[("a", 2), ("m", 3), ("z", 1)]), 100, 10_000).unwrap();
        assert!(a.same_as(&b));
        let c =
            ReservationLines::parse(&raw(&[("a", 2), ("m", 3), ("z", 2)]), 100, 10_000).unwrap();
        assert!(!a.same_as(&c));
        let d = ReservationLines::parse(&raw(&[("a", 2), ("m", 3)]), 100, 10_000).unwrap();
        assert!(!a.same_as(&d) && !d.same_as(&a));
    }

    #[test]
    fn ttl_defaults_and_bounds() {
        assert_eq!(
            Ttl::parse(0, 900, 60, 3600)
                .unwrap()
                .as_duration()
                .as_secs(),
            900
        );
        assert_eq!(
            Ttl::parse(60, 900, 60, 3600)
                .unwrap()
                .as_duration()
                .as_secs(),
            60
        );
        for bad in [-1, 59, 3601] {
            assert!(Ttl::parse(bad, 900, 60, 3600).is_err(), "{bad}");
        }
    }

    #[test]
    fn callers_cannot_expire() {
        assert!(ReleaseReason::from_caller(None).is_err());
        assert!(ReleaseReason::from_caller(Some(ReleaseReason::Expired)).is_err());
        assert_eq!(
            ReleaseReason::from_caller(Some(ReleaseReason::Manual)).unwrap(),
            ReleaseReason::Manual
        );
        for s in [ReservationStatus::Active, ReservationStatus::Expired] {
            assert_eq!(ReservationStatus::from_db(s.as_str()), Some(s));
        }
    }
}
