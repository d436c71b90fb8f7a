//! Inventory's rules as types: a parsed value is a valid one (SKU shape, quantities, TTLs,
//! reasons, idempotency keys), so the store and the API never re-check them.

mod reservation;

pub use reservation::{Line, ReleaseReason, ReservationLines, ReservationStatus, Ttl};

use std::fmt;

/// A rule a field broke; `field` is the request field path.
pub use kit::problem::FieldError as Invalid;

/// Largest absolute AdjustStock delta and largest SetStock count.
pub const MAX_ADJUST: i64 = 1_000_000;
/// Largest on-hand count SetStock accepts.
pub const MAX_ON_HAND: i64 = 1_000_000_000;
/// Longest movement note, in characters.
pub const MAX_NOTE_CHARS: usize = 500;
/// Most SKUs one availability query may name.
pub const MAX_AVAILABILITY_SKUS: usize = 100;

/// A stock-keeping unit: 1 to 64 ASCII letters, digits, `-`, `_` and `.`, case-sensitive.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sku(String);

impl Sku {
    pub fn parse(field: &str, raw: &str) -> Result<Self, Invalid> {
        kit::contracts::sku::check(field, raw)?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Distinct SKUs of an availability query, in the order of first occurrence.
pub fn parse_sku_list(raw: &[String]) -> Result<Vec<Sku>, Invalid> {
    if raw.is_empty() {
        return Err(Invalid::new("skus", "must name at least one SKU"));
    }
    let mut out: Vec<Sku> = Vec::with_capacity(raw.len().min(MAX_AVAILABILITY_SKUS));
    for (i, s) in raw.iter().enumerate() {
        let sku = Sku::parse(&format!("skus[{i}]"), s)?;
        if !out.contains(&sku) {
            out.push(sku);
        }
        if out.len() > MAX_AVAILABILITY_SKUS {
            return Err(Invalid::new(
                "skus",
                format!("may name at most {MAX_AVAILABILITY_SKUS} SKUs"),
            ));
        }
    }
    Ok(out)
}

/// Why on_hand or reserved changed (a ledger row's `reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MovementReason {
    Restock,
    Sale,
    Return,
    Damage,
    Loss,
    Correction,
    /// Units put on hold for an order (reserved only).
    Reserve,
    /// Held units given back (reserved only).
    Release,
    /// Held units given back by the sweeper (reserved only).
    Expire,
}

impl MovementReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Restock => "restock",
            Self::Sale => "sale",
            Self::Return => "return",
            Self::Damage => "damage",
            Self::Loss => "loss",
            Self::Correction => "correction",
            Self::Reserve => "reserve",
            Self::Release => "release",
            Self::Expire => "expire",
        }
    }

    pub fn from_db(s: &str) -> Option<Self> {
        Some(match s {
            "restock" => Self::Restock,
            "sale" => Self::Sale,
            "return" => Self::Return,
            "damage" => Self::Damage,
            "loss" => Self::Loss,
            "correction" => Self::Correction,
            "reserve" => Self::Reserve,
            "release" => Self::Release,
            "expire" => Self::Expire,
            _ => return None,
        })
    }

    /// A reason an admin may give for changing on_hand (not SALE, which only a commit records).
    pub fn admin(field: &str, reason: Option<Self>) -> Result<Self, Invalid> {
        match reason {
            None => Err(Invalid::new(
                field,
                "is required: one of restock, return, damage, loss, correction",
            )),
            Some(Self::Sale) => Err(Invalid::new(
                field,
                "cannot be SALE: sales are recorded by committing a reservation",
            )),
            Some(r @ (Self::Reserve | Self::Release | Self::Expire)) => {
                Err(Invalid::new(field, format!("cannot be {}", r.as_str())))
            }
            Some(r) => Ok(r),
        }
    }
}

/// A delta for AdjustStock: not 0, absolute value at most [`MAX_ADJUST`].
pub fn parse_delta(field: &str, delta: i64) -> Result<i64, Invalid> {
    if delta == 0 {
        return Err(Invalid::new(field, "must not be 0"));
    }
    if delta.unsigned_abs() > MAX_ADJUST as u64 {
        return Err(Invalid::new(
            field,
            format!("must be between -{MAX_ADJUST} and {MAX_ADJUST}"),
        ));
    }
    Ok(delta)
}

/// An on-hand count for SetStock: 0 to [`MAX_ON_HAND`].
pub fn parse_on_hand(field: &str, on_hand: i64) -> Result<i64, Invalid> {
    if !(0..=MAX_ON_HAND).contains(&on_hand) {
        return Err(Invalid::new(
            field,
            format!("must be between 0 and {MAX_ON_HAND}"),
        ));
    }
    Ok(on_hand)
}

/// A movement note: at most [`MAX_NOTE_CHARS`] characters, no control characters.
pub fn parse_note(field: &str, note: &str) -> Result<String, Invalid> {
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(Invalid::new(
            field,
            format!("must be at most {MAX_NOTE_CHARS} characters"),
        ));
    }
    if note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Invalid::new(field, "must not hold control characters"));
    }
    Ok(note.trim().to_owned())
}

/// An idempotency key (`contracts::idempotency`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(field: &str, raw: &str) -> Result<Self, Invalid> {
        kit::contracts::idempotency::check(field, raw.as_bytes())
            .map(|k| Self(k.to_owned()))
            .map_err(|e| Invalid::new(field, e.message))
    }

    /// An optional key: empty means none.
    pub fn parse_optional(field: &str, raw: &str) -> Result<Option<Self>, Invalid> {
        if raw.is_empty() {
            Ok(None)
        } else {
            Self::parse(field, raw).map(Some)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who asked for a change (recorded on movements).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    User(uuid::Uuid),
    /// The service itself (sweeper, event consumer).
    System,
}

impl Actor {
    pub fn user_id(self) -> Option<uuid::Uuid> {
        match self {
            Actor::User(u) => Some(u),
            Actor::System => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_follow_the_product_rules() {
        for ok in ["A", "sku-1", "TSHIRT_M.red", &"x".repeat(64)] {
            assert!(Sku::parse("sku", ok).is_ok(), "{ok}");
        }
        for bad in ["", " ", "a b", "sku/1", "é", "a\n", &"x".repeat(65)] {
            let e = Sku::parse("sku", bad).unwrap_err();
            assert_eq!(e.field, "sku");
        }
        // Case-sensitive.
        assert_ne!(Sku::parse("s", "a").unwrap(), Sku::parse("s", "A").unwrap());
    }

    #[test]
    fn sku_lists_are_deduplicated_and_bounded() {
        let raw: Vec<String> = ["b", "a", "b"].iter().map(|s| s.to_string()).collect();
        let skus = parse_sku_list(&raw).unwrap();
        assert_eq!(skus.iter().map(Sku::as_str).collect::<Vec<_>>(), ["b", "a"]);
        assert!(parse_sku_list(&[]).is_err());
        let many: Vec<String> = (0..101).map(|i| format!("s{i}")).collect();
        assert!(parse_sku_list(&many).unwrap_err().message.contains("100"));
        let bad = vec!["ok".to_string(), "no way".to_string()];
        assert_eq!(parse_sku_list(&bad).unwrap_err().field, "skus[1]");
    }

    #[test]
    fn admin_reasons_exclude_sale_and_internal_ones() {
        assert!(MovementReason::admin("reason", None).is_err());
        assert!(
            MovementReason::admin("reason", Some(MovementReason::Sale))
                .unwrap_err()
                .message
                .contains("SALE")
        );
        assert!(MovementReason::admin("reason", Some(MovementReason::Reserve)).is_err());
        assert_eq!(
            MovementReason::admin("reason", Some(MovementReason::Restock)).unwrap(),
            MovementReason::Restock
        );
        for r in [
            MovementReason::Restock,
            MovementReason::Sale,
            MovementReason::Expire,
        ] {
            assert_eq!(MovementReason::from_db(r.as_str()), Some(r));
        }
    }

    #[test]
    fn deltas_notes_counts_and_keys() {
        assert!(parse_delta("delta", 0).is_err());
        assert!(parse_delta("delta", 1_000_001).is_err());
        assert!(parse_delta("delta", -1_000_001).is_err());
        assert_eq!(parse_delta("delta", -5).unwrap(), -5);
        assert!(parse_on_hand("on_hand", -1).is_err());
        assert_eq!(parse_on_hand("on_hand", 0).unwrap(), 0);
        assert!(parse_note("note", &"n".repeat(501)).is_err());
        assert!(parse_note("note", "bad\u{7}").is_err());
        assert_eq!(parse_note("note", " counted ").unwrap(), "counted");
        assert!(IdempotencyKey::parse("k", "").is_err());
        assert!(IdempotencyKey::parse("k", &"k".repeat(256)).is_err());
        assert!(IdempotencyKey::parse("k", "tab\there").is_err());
        assert!(IdempotencyKey::parse_optional("k", "").unwrap().is_none());
        assert!(IdempotencyKey::parse("k", "2024-05-01 count #3").is_ok());
    }
}
