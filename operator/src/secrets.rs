//! Generated secrets: passwords (once, never regenerated) and Ed25519 signing keys for the auth
//! role (PKCS#8 PEM, as `storefront auth` reads them; appended on rotation).

use std::collections::BTreeMap;

use base64::Engine as _;
use rand::RngCore as _;

use crate::external::random_password;

/// `existing` with every key of `wanted` that is missing filled with a fresh password;
/// `None` when nothing was missing (so an unchanged Secret is not rewritten).
pub fn fill_missing(
    existing: &BTreeMap<String, String>,
    wanted: &[String],
) -> Option<BTreeMap<String, String>> {
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|k| !existing.contains_key(*k))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let mut out = existing.clone();
    for k in missing {
        let v = if k.ends_with("-encryption-key") {
            random_key_base64()
        } else {
            random_password(32)
        };
        out.insert(k.clone(), v);
    }
    Some(out)
}

/// 32 random bytes in standard base64 (an AES-256 key, as `STOREFRONT_PAYMENT__ENCRYPTION_KEY`
/// expects).
pub fn random_key_base64() -> String {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    base64::engine::general_purpose::STANDARD.encode(key)
}

/// PKCS#8 v1 DER prefix of an Ed25519 private key (RFC 8410): the 32-byte seed follows.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// A new Ed25519 private key as PKCS#8 PEM.
pub fn new_ed25519_pem() -> String {
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    let mut der = ED25519_PKCS8_PREFIX.to_vec();
    der.extend_from_slice(&seed);
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n")
}

/// The PEM blocks of a keys file, in order.
pub fn pem_blocks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        if line.starts_with("-----BEGIN") {
            cur.clear();
        }
        cur.push_str(line);
        cur.push('\n');
        if line.starts_with("-----END") {
            out.push(std::mem::take(&mut cur));
        }
    }
    out
}

/// The keys file after a rotation: a new key appended (it signs: the last key is active),
/// keeping at most `retained` keys.
pub fn rotate(current: &str, retained: usize) -> String {
    let mut blocks = pem_blocks(current);
    blocks.push(new_ed25519_pem());
    let skip = blocks.len().saturating_sub(retained.max(1));
    blocks[skip..].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_passwords_are_added_and_present_ones_kept() {
        let have = BTreeMap::from([("a".to_string(), "keep".to_string())]);
        assert_eq!(fill_missing(&have, &["a".into()]), None);
        let out = fill_missing(&have, &["a".into(), "b".into()]).unwrap();
        assert_eq!(out["a"], "keep");
        assert_eq!(out["b"].len(), 32);
        let out = fill_missing(&have, &["payment-encryption-key".into()]).unwrap();
        let key = base64::engine::general_purpose::STANDARD
            .decode(&out["payment-encryption-key"])
            .unwrap();
        assert_eq!(key.len(), 32);
    }

    #[test]
    fn keys_are_valid_ed25519_and_rotation_appends_and_trims() {
        let pem = new_ed25519_pem();
        // The auth role loads keys with jsonwebtoken; it must accept ours.
        jsonwebtoken_accepts(&pem);
        let one = rotate("", 2);
        assert_eq!(pem_blocks(&one).len(), 1);
        let two = rotate(&one, 2);
        let blocks = pem_blocks(&two);
        assert_eq!(blocks.len(), 2);
        assert_eq!(
            blocks[0],
            pem_blocks(&one)[0],
            "the old key stays for verification"
        );
        let three = rotate(&two, 2);
        let b3 = pem_blocks(&three);
        assert_eq!(b3.len(), 2);
        assert_eq!(b3[0], blocks[1], "the oldest key is dropped");
    }

    fn jsonwebtoken_accepts(pem: &str) {
        let der = base64::engine::general_purpose::STANDARD
            .decode(
                pem.lines()
                    .filter(|l| !l.starts_with("-----"))
                    .collect::<String>(),
            )
            .unwrap();
        assert_eq!(der.len(), 48);
        assert_eq!(&der[..16], &ED25519_PKCS8_PREFIX);
    }
}
