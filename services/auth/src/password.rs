//! argon2id hashing off the async runtime, and a dummy hash so an unknown e-mail costs the same
//! as a wrong password.

use std::sync::Arc;

use anyhow::Context;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

use crate::config::Argon2Settings;

/// Hashes and verifies passwords with the configured cost.
#[derive(Clone)]
pub struct Hasher {
    params: Params,
    /// A hash of a random password with the same cost, verified when there is no account.
    dummy: Arc<String>,
}

impl Hasher {
    /// Builds the hasher and its dummy hash (one hash: call from a blocking context or accept
    /// the cost once at start).
    pub async fn new(s: &Argon2Settings) -> anyhow::Result<Self> {
        let params = Params::new(s.memory_kib, s.iterations, s.parallelism, None)
            .map_err(|e| anyhow::anyhow!("STOREFRONT_AUTH__ARGON2__*: {e}"))?;
        let mut h = Self {
            params,
            dummy: Arc::new(String::new()),
        };
        let random = format!("{:x}", rand::random::<u128>());
        h.dummy = Arc::new(h.hash(random).await.context("computing the dummy hash")?);
        Ok(h)
    }

    /// Whether `stored` was hashed with other parameters than the configured ones (it is then
    /// re-hashed at the next successful login).
    pub fn needs_rehash(&self, stored: &str) -> bool {
        let want = format!(
            "$argon2id$v=19$m={},t={},p={}$",
            self.params.m_cost(),
            self.params.t_cost(),
            self.params.p_cost()
        );
        !stored.starts_with(&want)
    }

    fn argon2(params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    /// The PHC string of `password`.
    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let params = self.params.clone();
        tokio::task::spawn_blocking(move || {
            Self::argon2(params)
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
        })
        .await
        .context("the hashing task died")?
    }

    /// Whether `password` matches `stored`; with `stored` None the dummy hash is checked so the
    /// answer takes as long, and is always false.
    pub async fn verify(&self, password: String, stored: Option<String>) -> anyhow::Result<bool> {
        let real = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy.as_str().to_owned());
        let params = self.params.clone();
        let ok = tokio::task::spawn_blocking(move || {
            match Self::argon2(params).verify_password(password.as_bytes(), hash.as_str()) {
                Ok(()) => Ok(true),
                Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
                Err(e) => Err(anyhow::anyhow!("verifying a password: {e}")),
            }
        })
        .await
        .context("the hashing task died")??;
        Ok(ok && real)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_accounts_never_match() {
        let h = Hasher::new(&Argon2Settings::default()).await.unwrap();
        let stored = h.hash("correct horse".into()).await.unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(
            h.verify("correct horse".into(), Some(stored.clone()))
                .await
                .unwrap()
        );
        assert!(!h.verify("wrong horse".into(), Some(stored)).await.unwrap());
        assert!(!h.verify("anything".into(), None).await.unwrap());
        assert!(!h.needs_rehash(&h.hash("x".into()).await.unwrap()));
        let stronger = Hasher::new(&Argon2Settings {
            iterations: 3,
            ..Argon2Settings::default()
        })
        .await
        .unwrap();
        let old = h.hash("pw".into()).await.unwrap();
        assert!(stronger.needs_rehash(&old));
        assert!(stronger.verify("pw".into(), Some(old)).await.unwrap());
    }
}
