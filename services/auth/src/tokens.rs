//! Access tokens (EdDSA JWTs with the claims `kit::jwt::Claims` reads) and refresh tokens
//! (256 random bits, base64url; only their SHA-256 is stored).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kit::jwt::{Claims, Role};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::keys::KeyRing;

/// A refresh token as handed to the client, and the hash that is stored.
pub struct RefreshToken {
    pub value: String,
    pub hash: [u8; 32],
}

impl RefreshToken {
    pub fn generate() -> Self {
        let value = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let hash = hash_refresh(&value);
        Self { value, hash }
    }
}

/// SHA-256 of a presented refresh token (a high-entropy value needs no slow hash).
pub fn hash_refresh(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

/// Signs access tokens with the ring's active key.
#[derive(Clone)]
pub struct Issuer {
    ring: Arc<KeyRing>,
    issuer: String,
    ttl: Duration,
}

/// A signed access token and its claims.
pub struct AccessToken {
    pub token: String,
    pub claims: Claims,
}

impl Issuer {
    pub fn new(ring: Arc<KeyRing>, issuer: &str, ttl: Duration) -> Self {
        Self {
            ring,
            issuer: issuer.to_owned(),
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn ring(&self) -> &KeyRing {
        &self.ring
    }

    pub fn access_token(&self, user: Uuid, roles: Vec<Role>) -> anyhow::Result<AccessToken> {
        let claims = Claims::issue(user, roles, &self.issuer, self.ttl);
        let token = self.ring.active().sign(&claims)?;
        Ok(AccessToken { token, claims })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_256_bit_and_hashed() {
        let t = RefreshToken::generate();
        assert_eq!(URL_SAFE_NO_PAD.decode(&t.value).unwrap().len(), 32);
        assert_eq!(t.hash, hash_refresh(&t.value));
        assert_ne!(t.value, RefreshToken::generate().value);
    }

    #[tokio::test]
    async fn access_tokens_carry_the_kit_claims() {
        let ring = Arc::new(
            KeyRing::new(vec![crate::keys::SigningKey::generate(Some("k"))], None).unwrap(),
        );
        let issuer = Issuer::new(ring.clone(), "storefront", Duration::from_secs(900));
        let user = Uuid::now_v7();
        let t = issuer
            .access_token(user, vec![Role::Customer, Role::Admin])
            .unwrap();
        let v =
            kit::jwt::JwksVerifier::from_jwks(&ring.jwks(), &kit::config::AuthSettings::default());
        let c = v.verify(&t.token).await.unwrap();
        assert_eq!(c.sub, user);
        assert_eq!(c.roles, vec![Role::Customer, Role::Admin]);
        assert_eq!(c.exp - c.iat, 900);
        assert_eq!(Uuid::parse_str(&c.jti).unwrap().get_version_num(), 7);
    }
}
