//! Signing keys: Ed25519 private keys from configuration (inline PEM, a key file) or, in
//! development, generated once into a file so restarts keep sessions. Every key is published in
//! the JWKS; the active one signs. Several keys at once make rotation seamless.

use std::path::Path;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::ExposeSecret;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::KeySettings;

/// PKCS#8 v1 DER prefix of an Ed25519 private key (RFC 8410); the 32-byte seed follows.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// One signing key.
pub struct SigningKey {
    pub kid: String,
    encoding: EncodingKey,
    pub jwk: Jwk,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// From PKCS#8 DER of an Ed25519 private key; `kid` None takes the RFC 7638 thumbprint.
    pub fn from_der(der: &[u8], kid: Option<&str>) -> anyhow::Result<Self> {
        anyhow::ensure!(
            der.len() == 48 && der[..16] == PKCS8_ED25519_PREFIX,
            "not an Ed25519 PKCS#8 private key (expected `-----BEGIN PRIVATE KEY-----` from \
             `openssl genpkey -algorithm ed25519`)"
        );
        let encoding = EncodingKey::from_ed_der(der);
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::EdDSA)
            .context("deriving the public key")?;
        let kid = match kid {
            Some(k) => k.to_owned(),
            None => thumbprint(&jwk)?,
        };
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(Self { kid, encoding, jwk })
    }

    /// A fresh random key.
    pub fn generate(kid: Option<&str>) -> Self {
        Self::from_der(&pkcs8_der(&rand::random::<[u8; 32]>()), kid)
            .expect("a generated key is well-formed")
    }

    /// Signs `claims` (EdDSA, `kid` header, `typ: JWT`).
    pub fn sign(&self, claims: &impl Serialize) -> anyhow::Result<String> {
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&h, claims, &self.encoding).context("signing the access token")
    }

    /// The base64url public key (`x`).
    pub fn public_x(&self) -> &str {
        match &self.jwk.algorithm {
            AlgorithmParameters::OctetKeyPair(p) => &p.x,
            _ => "",
        }
    }
}

fn pkcs8_der(seed: &[u8; 32]) -> Vec<u8> {
    let mut der = PKCS8_ED25519_PREFIX.to_vec();
    der.extend_from_slice(seed);
    der
}

/// A new private key as PKCS#8 PEM (what `openssl genpkey -algorithm ed25519` writes).
pub fn generate_pem() -> String {
    let der = pkcs8_der(&rand::random::<[u8; 32]>());
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(der)
    )
}

/// RFC 7638 thumbprint of an OKP key: base64url(SHA-256 of `{"crv","kty","x"}`).
fn thumbprint(jwk: &Jwk) -> anyhow::Result<String> {
    let AlgorithmParameters::OctetKeyPair(p) = &jwk.algorithm else {
        anyhow::bail!("not an OKP key");
    };
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, p.x);
    Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}

/// The DER of every `PRIVATE KEY` block in `pem`.
fn pem_blocks(pem: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    // Tolerate PEM squeezed onto one line (environment variables): markers on lines of their own.
    let pem = pem
        .replace("-----BEGIN", "\n-----BEGIN")
        .replace("-----END", "\n-----END")
        .replace("KEY-----", "KEY-----\n");
    let mut out = Vec::new();
    let mut inside: Option<String> = None;
    for line in pem.lines().map(str::trim) {
        match (&mut inside, line) {
            (None, "-----BEGIN PRIVATE KEY-----") => inside = Some(String::new()),
            (None, l) if l.starts_with("-----BEGIN") => {
                anyhow::bail!("unsupported PEM block `{l}`; expected `PRIVATE KEY` (PKCS#8)")
            }
            (Some(b64), "-----END PRIVATE KEY-----") => {
                out.push(
                    STANDARD
                        .decode(b64.as_bytes())
                        .context("bad base64 in PEM")?,
                );
                inside = None;
            }
            (Some(b64), l) => b64.extend(l.chars().filter(|c| !c.is_whitespace())),
            (None, _) => {}
        }
    }
    anyhow::ensure!(inside.is_none(), "unterminated PEM block");
    Ok(out)
}

/// Parses the keys of a PEM text; `kid` names a single key, else thumbprints are used.
pub fn keys_from_pem(pem: &str, kid: Option<&str>) -> anyhow::Result<Vec<SigningKey>> {
    let blocks = pem_blocks(pem)?;
    anyhow::ensure!(!blocks.is_empty(), "no `PRIVATE KEY` PEM block found");
    anyhow::ensure!(
        kid.is_none() || blocks.len() == 1,
        "a named key must hold exactly one PEM block"
    );
    blocks
        .iter()
        .map(|d| SigningKey::from_der(d, kid))
        .collect()
}

/// The configured keys, in order, and which one signs.
#[derive(Debug)]
pub struct KeyRing {
    keys: Vec<SigningKey>,
    active: usize,
}

impl KeyRing {
    /// From explicit keys; `active_kid` None means the last one.
    pub fn new(keys: Vec<SigningKey>, active_kid: Option<&str>) -> anyhow::Result<Self> {
        anyhow::ensure!(!keys.is_empty(), "no signing key");
        let mut seen = std::collections::HashSet::new();
        for k in &keys {
            anyhow::ensure!(seen.insert(k.kid.clone()), "duplicate kid `{}`", k.kid);
        }
        let active = match active_kid {
            Some(kid) => keys
                .iter()
                .position(|k| k.kid == kid)
                .with_context(|| format!("STOREFRONT_AUTH__KEYS__ACTIVE_KID: no key `{kid}`"))?,
            None => keys.len() - 1,
        };
        Ok(Self { keys, active })
    }

    /// Loads the keys the settings name; generates the development key file when none is named
    /// and `keys.generate` is on. Fails with the setting's name otherwise.
    pub fn load(s: &KeySettings) -> anyhow::Result<Self> {
        let mut keys = Vec::new();
        for (i, k) in s.inline.iter().enumerate() {
            keys.extend(
                keys_from_pem(k.pem.expose_secret(), Some(&k.kid))
                    .with_context(|| format!("STOREFRONT_AUTH__KEYS__INLINE, key {i}"))?,
            );
        }
        if let Some(path) = &s.file {
            keys.extend(
                read_key_file(path)
                    .with_context(|| format!("STOREFRONT_AUTH__KEYS__FILE={}", path.display()))?,
            );
        }
        if keys.is_empty() {
            anyhow::ensure!(
                s.generate,
                "no signing key configured: set STOREFRONT_AUTH__KEYS__FILE or \
                 STOREFRONT_AUTH__KEYS__INLINE (or STOREFRONT_AUTH__KEYS__GENERATE=true in development)"
            );
            let path = &s.generated_file;
            if !path.exists() {
                write_new_key_file(path).with_context(|| {
                    format!(
                        "STOREFRONT_AUTH__KEYS__GENERATED_FILE={}: writing a generated key",
                        path.display()
                    )
                })?;
                tracing::warn!(path = %path.display(), "generated a development signing key; configure real keys in production");
            }
            keys = read_key_file(path).with_context(|| {
                format!("STOREFRONT_AUTH__KEYS__GENERATED_FILE={}", path.display())
            })?;
        }
        Self::new(keys, s.active_kid.as_deref())
    }

    pub fn active(&self) -> &SigningKey {
        &self.keys[self.active]
    }

    /// The public keys, the signing key first.
    pub fn jwks(&self) -> JwkSet {
        let mut keys = vec![self.active().jwk.clone()];
        keys.extend(
            self.keys
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != self.active)
                .map(|(_, k)| k.jwk.clone()),
        );
        JwkSet { keys }
    }

    pub fn kids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.kid.as_str()).collect()
    }
}

fn read_key_file(path: &Path) -> anyhow::Result<Vec<SigningKey>> {
    let pem = std::fs::read_to_string(path).context("reading the key file")?;
    keys_from_pem(&pem, None)
}

/// Writes a new key to `path` (creating its directory), readable by the owner only.
pub fn write_new_key_file(path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(mut f) => {
            use std::io::Write;
            f.write_all(generate_pem().as_bytes())?;
            f.sync_all()?;
            Ok(())
        }
        // Another replica or a concurrent start wrote it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kit::config::AuthSettings;
    use kit::jwt::{JwksVerifier, Role};

    fn temp_path(name: &str) -> std::path::PathBuf {
        std::env::temp_dir()
            .join(format!("storefront-auth-{}", uuid::Uuid::now_v7()))
            .join(name)
    }

    #[tokio::test]
    async fn every_key_of_the_ring_verifies_and_the_active_one_signs() {
        let a = SigningKey::generate(Some("a"));
        let b = SigningKey::generate(Some("b"));
        let old_token = a
            .sign(&kit::jwt::testing::claims(
                uuid::Uuid::now_v7(),
                vec![Role::Customer],
                "storefront",
            ))
            .unwrap();
        let ring = KeyRing::new(vec![a, b], None).unwrap();
        assert_eq!(ring.active().kid, "b");
        let jwks = ring.jwks();
        assert_eq!(jwks.keys.len(), 2);
        assert_eq!(jwks.keys[0].common.key_id.as_deref(), Some("b"));
        let v = JwksVerifier::from_jwks(&jwks, &AuthSettings::default());
        v.verify(&old_token).await.unwrap();
        let c = kit::jwt::testing::claims(uuid::Uuid::now_v7(), vec![], "storefront");
        let t = ring.active().sign(&c).unwrap();
        assert_eq!(v.verify(&t).await.unwrap(), c);
        assert!(KeyRing::new(vec![], None).is_err());
        let dup = vec![
            SigningKey::generate(Some("x")),
            SigningKey::generate(Some("x")),
        ];
        assert!(KeyRing::new(dup, None).is_err());
    }

    #[test]
    fn pem_round_trips_and_kids_are_thumbprints() {
        let pem = generate_pem();
        let k1 = keys_from_pem(&pem, None).unwrap().remove(0);
        let k2 = keys_from_pem(&pem, None).unwrap().remove(0);
        assert_eq!(k1.kid, k2.kid);
        assert_eq!(k1.kid.len(), 43);
        assert_eq!(k1.public_x(), k2.public_x());
        let two = format!("{}{}", generate_pem(), generate_pem());
        assert_eq!(keys_from_pem(&two, None).unwrap().len(), 2);
        assert!(keys_from_pem("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n", None).is_err());
        assert!(keys_from_pem("nothing", None).is_err());
        let one_line = pem.replace('\n', " ");
        assert_eq!(keys_from_pem(&one_line, None).unwrap()[0].kid, k1.kid);
    }

    #[test]
    fn the_development_key_is_generated_once_and_reused() {
        let path = temp_path("keys/signing.pem");
        let settings = KeySettings {
            generated_file: path.clone(),
            ..KeySettings::default()
        };
        let first = KeyRing::load(&settings).unwrap();
        let second = KeyRing::load(&settings).unwrap();
        assert_eq!(first.active().kid, second.active().kid);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "key file readable by others: {mode:o}");
        }
        let off = KeySettings {
            generate: false,
            ..KeySettings::default()
        };
        let e = format!("{:#}", KeyRing::load(&off).unwrap_err());
        assert!(e.contains("STOREFRONT_AUTH__KEYS__FILE"), "{e}");
        let _ = std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
    }
}
