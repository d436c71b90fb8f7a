//! Provider tokens at rest: AES-256-GCM under the configured key, a fresh random 96-bit nonce per
//! row, and the row id as associated data (a ciphertext copied onto another row does not open).

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

#[derive(Clone)]
pub struct TokenCipher(Aes256Gcm);

impl std::fmt::Debug for TokenCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCipher(..)")
    }
}

/// A sealed token: the nonce and the ciphertext (with its tag).
pub struct Sealed {
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl TokenCipher {
    /// The key as standard base64 of exactly 32 bytes.
    pub fn from_base64(b64: &str) -> Result<Self, String> {
        let key = STANDARD
            .decode(b64.trim())
            .map_err(|e| format!("is not base64 ({e})"))?;
        if key.len() != 32 {
            return Err(format!(
                "must decode to 32 bytes, got {} (make one with `openssl rand -base64 32`)",
                key.len()
            ));
        }
        Aes256Gcm::new_from_slice(&key)
            .map(Self)
            .map_err(|_| "must decode to 32 bytes".to_owned())
    }

    pub fn seal(&self, plaintext: &str, aad: &[u8]) -> anyhow::Result<Sealed> {
        let nonce: [u8; 12] = rand::random();
        let ciphertext = self
            .0
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad,
                },
            )
            .map_err(|_| anyhow::anyhow!("encrypting a provider token failed"))?;
        Ok(Sealed {
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    pub fn open(&self, nonce: &[u8], ciphertext: &[u8], aad: &[u8]) -> anyhow::Result<String> {
        let nonce: [u8; 12] = nonce
            .try_into()
            .map_err(|_| anyhow::anyhow!("stored nonce has the wrong length"))?;
        let plain = self
            .0
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| {
                anyhow::anyhow!(
                    "a stored provider token does not decrypt (was STOREFRONT_PAYMENT__ENCRYPTION_KEY changed?)"
                )
            })?;
        Ok(String::from_utf8(plain)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ZGV2LW9ubHktcGF5bWVudC1rZXktMzItYnl0ZXMhISE=";

    #[test]
    fn tokens_round_trip_with_a_fresh_nonce_and_bound_to_their_row() {
        let c = TokenCipher::from_base64(KEY).unwrap();
        let a = c.seal("tok_1", b"row-1").unwrap();
        let b = c.seal("tok_1", b"row-1").unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
        assert!(!a.ciphertext.windows(5).any(|w| w == b"tok_1"));
        assert_eq!(c.open(&a.nonce, &a.ciphertext, b"row-1").unwrap(), "tok_1");
        assert!(c.open(&a.nonce, &a.ciphertext, b"row-2").is_err());
        let other = TokenCipher::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        assert!(other.open(&a.nonce, &a.ciphertext, b"row-1").is_err());
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert!(TokenCipher::from_base64("not base64!").is_err());
        let e = TokenCipher::from_base64(&STANDARD.encode([1u8; 16])).unwrap_err();
        assert!(e.contains("32 bytes"), "{e}");
    }
}
