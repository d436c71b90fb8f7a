//! Order rules with no I/O: the status machine, idempotency keys and money (addresses follow
//! `kit::address`).

pub mod status;

pub use kit::address::Address;
pub use status::{IllegalTransition, OrderStatus, Reason};

use kit::problem::FieldError;

/// A checkout's `Idempotency-Key` (`contracts::idempotency`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &[u8]) -> Result<Self, FieldError> {
        kit::contracts::idempotency::check("Idempotency-Key", raw).map(|k| Self(k.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A SKU as product and inventory define it: 1 to 64 of ASCII letters, digits, `-`, `_`, `.`.
pub fn valid_sku(sku: &str) -> bool {
    kit::contracts::sku::check("sku", sku).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_short_visible_ascii() {
        assert!(IdempotencyKey::parse(b"a-1:b_2").is_ok());
        assert!(IdempotencyKey::parse(b"has space").is_ok());
        assert!(IdempotencyKey::parse(b"").is_err());
        assert!(IdempotencyKey::parse(b" edge").is_err());
        assert!(IdempotencyKey::parse("é".as_bytes()).is_err());
        assert!(IdempotencyKey::parse("k".repeat(256).as_bytes()).is_err());
        assert!(IdempotencyKey::parse("k".repeat(255).as_bytes()).is_ok());
    }

    #[test]
    fn skus_follow_the_catalog_rules() {
        assert!(valid_sku("TS-RED_42.v2"));
        assert!(!valid_sku(""));
        assert!(!valid_sku("a b"));
        assert!(!valid_sku(&"a".repeat(65)));
    }
}
