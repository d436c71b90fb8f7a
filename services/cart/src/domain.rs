//! Cart rules that need no I/O: SKU and quantity shapes, who owns a cart, guest tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Why a SKU is malformed, for a 422 naming the field; `None` when it is well-formed
/// (`contracts::sku`).
pub fn sku_problem(sku: &str) -> Option<String> {
    kit::contracts::sku::check("sku", sku)
        .err()
        .map(|e| e.message)
}

/// Whose cart a request is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Owner {
    /// A signed-in user (from a verified access token).
    User(Uuid),
    /// A guest, by the hex SHA-256 of its cart token.
    Guest(String),
}

impl Owner {
    pub fn user_id(&self) -> Option<Uuid> {
        match self {
            Owner::User(id) => Some(*id),
            Owner::Guest(_) => None,
        }
    }
}

/// An opaque guest cart token: 32 random bytes, base64url without padding (43 characters).
/// Only its SHA-256 is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct GuestToken(String);

impl std::fmt::Debug for GuestToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GuestToken(..)")
    }
}

impl GuestToken {
    pub fn generate() -> Self {
        let bytes: [u8; 32] = rand::random();
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A token as a client sent it; `None` unless it has the shape of one we issued.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let bytes = URL_SAFE_NO_PAD.decode(s).ok()?;
        (bytes.len() == 32).then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Hex SHA-256 of the token: the stored form.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }

    pub fn owner(&self) -> Owner {
        Owner::Guest(self.hash())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_follow_the_catalog_rule() {
        assert_eq!(sku_problem("TSHIRT-M_red.1"), None);
        assert!(sku_problem("").is_some());
        assert!(sku_problem("a b").is_some());
        assert!(sku_problem(&"x".repeat(65)).is_some());
    }

    #[test]
    fn guest_tokens_round_trip_and_only_their_hash_identifies_the_cart() {
        let t = GuestToken::generate();
        assert_eq!(t.as_str().len(), 43);
        let back = GuestToken::parse(t.as_str()).unwrap();
        assert_eq!(back.hash(), t.hash());
        assert_eq!(t.hash().len(), 64);
        assert!(!t.hash().contains(t.as_str()));
        assert!(GuestToken::parse("short").is_none());
        assert!(GuestToken::parse(&"!".repeat(43)).is_none());
        assert_ne!(GuestToken::generate().hash(), t.hash());
    }
}
