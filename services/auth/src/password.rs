//! argon2id hashing on a bounded pool (`kit::work::BlockingPool`: workers sized to the cores, a
//! bounded queue with a deadline, 503 past them), and a dummy hash so an unknown e-mail costs the
//! same as a wrong password. Each hash holds `memory_kib` of memory while it runs, so the pool's
//! size is what bounds the memory a burst of logins or sign-ups can take.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use kit::work::{BlockingPool, Overloaded, Reservation};

use crate::config::Argon2Settings;

/// Why a hash did not come out.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error(transparent)]
    Overloaded(#[from] Overloaded),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Hashes and verifies passwords with the configured cost.
#[derive(Clone)]
pub struct Hasher {
    params: Params,
    pool: BlockingPool,
    /// A hash of a random password with the same cost, verified when there is no account.
    dummy: Arc<String>,
}

impl Hasher {
    /// Builds the hasher and its dummy hash (one hash at start).
    pub async fn new(s: &Argon2Settings) -> anyhow::Result<Self> {
        let params = Params::new(s.memory_kib, s.iterations, s.parallelism, None)
            .map_err(|e| anyhow::anyhow!("STOREFRONT_AUTH__ARGON2__*: {e}"))?;
        let mut h = Self {
            params,
            pool: BlockingPool::new(
                "password hashing",
                s.workers,
                s.queue,
                Duration::from_millis(s.queue_timeout_ms),
            ),
            dummy: Arc::new(String::new()),
        };
        let random = format!("{:x}", rand::random::<u128>());
        let r = h.reserve().await.context("reserving a hashing worker")?;
        h.dummy = Arc::new(
            h.hash_with(&r, random)
                .await
                .context("computing the dummy hash")?,
        );
        Ok(h)
    }

    /// A hashing worker for this request, waited for at most the queue deadline. Take it
    /// before any state changes: past the bounds the request is refused (503) having done
    /// nothing.
    pub async fn reserve(&self) -> Result<Reservation, Overloaded> {
        self.pool.reserve().await
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

    /// The PHC string of `password`, on the reserved worker.
    pub async fn hash_with(&self, r: &Reservation, password: String) -> anyhow::Result<String> {
        let params = self.params.clone();
        r.run(move || {
            Self::argon2(params)
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
        })
        .await
    }

    /// The PHC string of `password` (reserves a worker).
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let r = self.reserve().await?;
        Ok(self.hash_with(&r, password).await?)
    }

    /// Whether `password` matches `stored`, on the reserved worker; with `stored` None the dummy
    /// hash is checked so the answer takes as long, and is always false.
    pub async fn verify_with(
        &self,
        r: &Reservation,
        password: String,
        stored: Option<String>,
    ) -> anyhow::Result<bool> {
        let real = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy.as_str().to_owned());
        let params = self.params.clone();
        let ok = r
            .run(move || {
                match Self::argon2(params).verify_password(password.as_bytes(), hash.as_str()) {
                    Ok(()) => Ok(true),
                    Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
                    Err(e) => Err(anyhow::anyhow!("verifying a password: {e}")),
                }
            })
            .await?;
        Ok(ok && real)
    }

    /// [`Self::verify_with`] on a worker of its own.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, HashError> {
        let r = self.reserve().await?;
        Ok(self.verify_with(&r, password, stored).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A burst larger than the pool and its queue: the excess is refused at once (before any
    /// hashing), the rest completes, and never more hashes run than there are workers.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_burst_is_bounded_and_the_excess_refused() {
        let h = Hasher::new(&Argon2Settings {
            workers: 1,
            queue: 2,
            queue_timeout_ms: 10_000,
            ..Argon2Settings::default()
        })
        .await
        .unwrap();
        let mut tasks = Vec::new();
        for i in 0..12 {
            let h = h.clone();
            tasks.push(tokio::spawn(async move { h.hash(format!("pw{i}")).await }));
        }
        let (mut ok, mut busy) = (0, 0);
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(HashError::Overloaded(o)) => {
                    assert!(o.retry_after >= Duration::from_secs(1));
                    busy += 1
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(ok + busy, 12);
        assert!(ok >= 3 && busy >= 1, "ok {ok}, refused {busy}");
    }

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
