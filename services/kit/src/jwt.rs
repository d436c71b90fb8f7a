//! Access-token verification for every service: Ed25519 (EdDSA) JWTs checked against the JWKS
//! the auth role publishes (cached, refetched on rotation), role and ownership helpers, an axum
//! extractor and a tonic helper, and an optional deny-list hook for logged-out tokens.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Deserializer, Serialize};
use sha2::Digest;
use uuid::Uuid;

use crate::config::{AuthSettings, RedisSettings};
use crate::problem::Problem;

/// Longest `kid` looked up; longer ones are refused before touching the cache.
const MAX_KID_LEN: usize = 128;
/// Longest token read from a header.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// What a caller may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The claims of a verified access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    /// Roles this service knows; roles added later by auth are skipped, not fatal.
    #[serde(default, deserialize_with = "known_roles")]
    pub roles: Vec<Role>,
    /// Token id, the key of the logout deny list.
    pub jti: String,
    pub exp: u64,
    pub iat: u64,
    pub iss: String,
}

fn known_roles<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Role>, D::Error> {
    let raw: Vec<String> = Vec::deserialize(d)?;
    Ok(raw
        .iter()
        .filter_map(|r| serde_json::from_value(serde_json::Value::String(r.clone())).ok())
        .collect())
}

/// A caller is authenticated but not allowed to do what it asked: 403.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Forbidden(pub String);

impl From<Forbidden> for Problem {
    fn from(f: Forbidden) -> Self {
        Problem::forbidden(f.0)
    }
}

impl IntoResponse for Forbidden {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}

impl From<Forbidden> for tonic::Status {
    fn from(f: Forbidden) -> Self {
        tonic::Status::permission_denied(f.0)
    }
}

impl Claims {
    /// Claims for a new access token of `sub`, issued now by `issuer`, valid for `lifetime`,
    /// with a fresh UUIDv7 `jti` (what auth signs).
    pub fn issue(sub: Uuid, roles: Vec<Role>, issuer: &str, lifetime: Duration) -> Self {
        let now = jsonwebtoken::get_current_timestamp();
        Self {
            sub,
            roles,
            jti: Uuid::now_v7().to_string(),
            exp: now + lifetime.as_secs(),
            iat: now,
            iss: issuer.to_owned(),
        }
    }

    pub fn user_id(&self) -> Uuid {
        self.sub
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn is_admin(&self) -> bool {
        self.has_role(Role::Admin)
    }

    /// The caller holds `role`.
    pub fn require_role(&self, role: Role) -> Result<(), Forbidden> {
        if self.has_role(role) {
            Ok(())
        } else {
            Err(Forbidden(format!("This needs the `{role}` role.")))
        }
    }

    /// The caller is `user_id` itself; admins are not let through (use
    /// [`Claims::require_self_or_admin`] where an admin may act for a customer).
    pub fn require_self(&self, user_id: Uuid) -> Result<(), Forbidden> {
        if self.sub == user_id {
            Ok(())
        } else {
            Err(Forbidden("This belongs to another user.".into()))
        }
    }

    /// The owner of a resource is the user it belongs to: same as [`Claims::require_self`].
    pub fn require_owner(&self, owner_id: Uuid) -> Result<(), Forbidden> {
        self.require_self(owner_id)
    }

    /// The caller is `user_id` or an admin.
    pub fn require_self_or_admin(&self, user_id: Uuid) -> Result<(), Forbidden> {
        if self.sub == user_id || self.is_admin() {
            Ok(())
        } else {
            Err(Forbidden("This belongs to another user.".into()))
        }
    }
}

/// Why a token was refused. Every variant but `KeysUnavailable` is a 401.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token was sent")]
    MissingToken,
    #[error("the Authorization header is not a bearer token")]
    NotBearer,
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("unsigned tokens (alg none) are not accepted")]
    AlgNone,
    #[error("tokens signed with {0} are not accepted; access tokens are signed with EdDSA")]
    DisallowedAlgorithm(String),
    #[error("the token header has no kid")]
    MissingKid,
    #[error("the token was signed with an unknown key ({0})")]
    UnknownKey(String),
    #[error("the token signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was not issued by this storefront")]
    WrongIssuer,
    #[error("the token lacks the {0} claim")]
    MissingClaim(String),
    #[error("the token claims are invalid: {0}")]
    InvalidClaims(String),
    #[error("the token has been revoked")]
    Revoked,
    #[error("the signing keys cannot be fetched right now")]
    KeysUnavailable,
}

impl AuthError {
    /// A stable machine-readable code (the `reason` member of the problem).
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "missing_token",
            AuthError::NotBearer => "not_bearer",
            AuthError::Malformed => "malformed",
            AuthError::AlgNone => "alg_none",
            AuthError::DisallowedAlgorithm(_) => "disallowed_algorithm",
            AuthError::MissingKid => "missing_kid",
            AuthError::UnknownKey(_) => "unknown_key",
            AuthError::BadSignature => "bad_signature",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::WrongIssuer => "wrong_issuer",
            AuthError::MissingClaim(_) => "missing_claim",
            AuthError::InvalidClaims(_) => "invalid_claims",
            AuthError::Revoked => "revoked",
            AuthError::KeysUnavailable => "keys_unavailable",
        }
    }

    /// The RFC 6750 challenge: no error code when no credentials were sent.
    pub fn www_authenticate(&self) -> HeaderValue {
        let v = match self {
            AuthError::MissingToken => r#"Bearer realm="storefront""#.to_owned(),
            other => format!(
                r#"Bearer realm="storefront", error="invalid_token", error_description="{}""#,
                other.to_string().replace(['"', '\\'], "'")
            ),
        };
        HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static("Bearer"))
    }
}

impl From<AuthError> for Problem {
    fn from(e: AuthError) -> Self {
        if e == AuthError::KeysUnavailable {
            return Problem::service_unavailable(
                "Sign-in cannot be checked right now. Try again shortly.",
            )
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("5"))
            .with_extension("reason", e.reason());
        }
        Problem::unauthorized(format!("{}.", capitalise(&e.to_string())))
            .with_header(header::WWW_AUTHENTICATE, e.www_authenticate())
            .with_extension("reason", e.reason())
    }
}

pub(crate) fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}

impl From<AuthError> for tonic::Status {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::KeysUnavailable => tonic::Status::unavailable(e.to_string()),
            other => tonic::Status::unauthenticated(other.to_string()),
        }
    }
}

/// Checks whether a token id was revoked (logout). Owned by auth: `session:deny:{jti}` in Redis.
pub trait RevocationCheck: Send + Sync + 'static {
    fn is_revoked<'a>(&'a self, jti: &'a str) -> BoxFuture<'a, anyhow::Result<bool>>;
}

/// The Redis deny list written by auth on logout.
#[derive(Clone)]
pub struct RedisDenyList {
    conn: redis::aio::ConnectionManager,
    keys: crate::cache::Keys,
    timeout: Duration,
}

impl RedisDenyList {
    pub fn new(conn: redis::aio::ConnectionManager, settings: &RedisSettings) -> Self {
        Self {
            conn,
            keys: crate::cache::Keys::new(settings),
            timeout: Duration::from_millis(settings.timeout_ms.max(1)),
        }
    }
}

impl RevocationCheck for RedisDenyList {
    fn is_revoked<'a>(&'a self, jti: &'a str) -> BoxFuture<'a, anyhow::Result<bool>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let key = self.keys.session_deny(jti);
            let exists = tokio::time::timeout(
                self.timeout,
                redis::cmd("EXISTS").arg(&key).query_async::<i64>(&mut conn),
            )
            .await
            .map_err(|_| anyhow::anyhow!("Redis did not answer within {:?}", self.timeout))??;
            Ok(exists > 0)
        })
    }
}

struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    /// Counts the key sets fetched: a token verified under an earlier set is verified again.
    epoch: u64,
    /// When the current key set was fetched (None: never).
    fetched_at: Option<Instant>,
    /// When a fetch was last tried, successful or not.
    attempted_at: Option<Instant>,
}

struct Inner {
    http: reqwest::Client,
    jwks_url: Option<String>,
    issuer: String,
    leeway: u64,
    cache_ttl: Duration,
    refetch_interval: Duration,
    cache: RwLock<KeyCache>,
    fetch_lock: tokio::sync::Mutex<()>,
    revocation: Option<Arc<dyn RevocationCheck>>,
    verified: Mutex<Verified>,
}

/// The most tokens [`Verified`] remembers (about 200 bytes each).
const VERIFIED_MAX: usize = 16_384;

/// Tokens whose signature and claims were verified, by the SHA-256 of the whole token (so a
/// token differing in any byte, payload or signature, is verified afresh), with the key set they
/// were verified under: a repeat costs a hash and the expiry check instead of an Ed25519
/// verification, which was a quarter of the gateway's CPU on cached answers for signed-in
/// users. The deny list is still read on every use. The oldest entry leaves first.
#[derive(Default)]
struct Verified {
    claims: HashMap<[u8; 32], (u64, Claims)>,
    order: VecDeque<[u8; 32]>,
}

/// Verifies access tokens against the auth role's JWKS. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct JwksVerifier {
    inner: Arc<Inner>,
}

impl fmt::Debug for JwksVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksVerifier")
            .field("jwks_url", &self.inner.jwks_url)
            .field("issuer", &self.inner.issuer)
            .finish_non_exhaustive()
    }
}

/// A token header we are willing to look at.
struct TokenHeader {
    kid: String,
}

impl JwksVerifier {
    /// A verifier fetching keys from `settings.jwks_url` on first use. Nothing is fetched here,
    /// so a role starts even while auth is still starting.
    pub fn new(settings: &AuthSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .connect_timeout(Duration::from_secs(2))
            .build()?;
        Ok(Self::build(
            http,
            Some(settings.jwks_url.clone()),
            settings,
            HashMap::new(),
        ))
    }

    /// A verifier with a fixed key set and no fetching (tests of other services, tools).
    pub fn from_jwks(jwks: &jsonwebtoken::jwk::JwkSet, settings: &AuthSettings) -> Self {
        let keys = usable_keys(jwks.keys.iter().cloned());
        let v = Self::build(reqwest::Client::new(), None, settings, keys);
        if let Ok(mut c) = v.inner.cache.write() {
            c.fetched_at = Some(Instant::now());
        }
        v
    }

    fn build(
        http: reqwest::Client,
        jwks_url: Option<String>,
        settings: &AuthSettings,
        keys: HashMap<String, DecodingKey>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                http,
                jwks_url,
                issuer: settings.issuer.clone(),
                leeway: settings.leeway_secs,
                cache_ttl: Duration::from_secs(settings.jwks_cache_secs.max(1)),
                refetch_interval: Duration::from_secs(5),
                cache: RwLock::new(KeyCache {
                    keys,
                    epoch: 0,
                    fetched_at: None,
                    attempted_at: None,
                }),
                fetch_lock: tokio::sync::Mutex::new(()),
                revocation: None,
                verified: Mutex::new(Verified::default()),
            }),
        }
    }

    fn inner_mut(&mut self) -> &mut Inner {
        Arc::get_mut(&mut self.inner).expect("configure the verifier before cloning it")
    }

    /// The least time between two fetches caused by unknown `kid`s (default 5 s), so a flood
    /// of tokens with random kids cannot hammer auth. Call before cloning.
    pub fn with_refetch_interval(mut self, d: Duration) -> Self {
        self.inner_mut().refetch_interval = d;
        self
    }

    /// Checks the deny list in [`JwksVerifier::authenticate`]. Call before cloning.
    pub fn with_revocation(mut self, check: Arc<dyn RevocationCheck>) -> Self {
        self.inner_mut().revocation = Some(check);
        self
    }

    pub fn has_revocation_check(&self) -> bool {
        self.inner.revocation.is_some()
    }

    /// Verifies signature and claims (not the deny list).
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(AuthError::Malformed);
        }
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        if let Some(claims) = self.remembered(&digest) {
            return Ok(claims);
        }
        let epoch = self.inner.cache.read().expect("jwks cache poisoned").epoch;
        let claims = self.verify_signed(token).await?;
        self.remember(digest, epoch, &claims);
        Ok(claims)
    }

    /// The claims of a token verified before, while the key set it was verified under is still
    /// current and fresh and the token has not expired since.
    fn remembered(&self, digest: &[u8; 32]) -> Option<Claims> {
        let (epoch, claims) = self
            .inner
            .verified
            .lock()
            .expect("verified tokens poisoned")
            .claims
            .get(digest)
            .cloned()?;
        {
            let cache = self.inner.cache.read().expect("jwks cache poisoned");
            let fresh = self.inner.jwks_url.is_none()
                || cache
                    .fetched_at
                    .is_some_and(|t| t.elapsed() < self.inner.cache_ttl);
            if cache.epoch != epoch || !fresh {
                return None;
            }
        }
        let now = jsonwebtoken::get_current_timestamp();
        (claims.exp.saturating_add(self.inner.leeway) >= now).then_some(claims)
    }

    fn remember(&self, digest: [u8; 32], epoch: u64, claims: &Claims) {
        let mut v = self
            .inner
            .verified
            .lock()
            .expect("verified tokens poisoned");
        if v.claims.insert(digest, (epoch, claims.clone())).is_none() {
            v.order.push_back(digest);
        }
        while v.claims.len() > VERIFIED_MAX {
            let Some(oldest) = v.order.pop_front() else {
                break;
            };
            v.claims.remove(&oldest);
        }
    }

    /// How many verified tokens are remembered.
    #[cfg(test)]
    fn remembered_tokens(&self) -> usize {
        self.inner
            .verified
            .lock()
            .expect("verified tokens poisoned")
            .claims
            .len()
    }

    /// Verifies the signature and the claims of `token`.
    async fn verify_signed(&self, token: &str) -> Result<Claims, AuthError> {
        let header = parse_header(token)?;
        let key = self.key_for(&header.kid).await?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = self.inner.leeway;
        validation.set_issuer(&[&self.inner.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.validate_aud = false;
        validation.validate_nbf = true;
        let data =
            jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(map_jwt_error)?;
        let claims = data.claims;
        let now = jsonwebtoken::get_current_timestamp();
        if claims.iat > now + self.inner.leeway {
            return Err(AuthError::NotYetValid);
        }
        Ok(claims)
    }

    /// [`JwksVerifier::verify`], then [`JwksVerifier::check_revocation`].
    pub async fn authenticate(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = self.verify(token).await?;
        self.check_revocation(claims).await
    }

    /// Refuses claims whose `jti` is on the deny list, when one is configured. When the deny
    /// list cannot be read the token is accepted with a warning: access tokens live 15 minutes,
    /// and a Redis outage must not sign everyone out.
    pub async fn check_revocation(&self, claims: Claims) -> Result<Claims, AuthError> {
        if let Some(check) = &self.inner.revocation {
            match check.is_revoked(&claims.jti).await {
                Ok(true) => return Err(AuthError::Revoked),
                Ok(false) => {}
                Err(e) => tracing::warn!(
                    error = %e, error.chain = %crate::telemetry::chain(e.as_ref()),
                    "cannot read the token deny list; accepting the token"
                ),
            }
        }
        Ok(claims)
    }

    /// Reads `authorization: Bearer ...` from gRPC metadata and authenticates it.
    pub async fn verify_grpc_request<T>(
        &self,
        req: &tonic::Request<T>,
    ) -> Result<Claims, tonic::Status> {
        let value = req
            .metadata()
            .get("authorization")
            .ok_or(AuthError::MissingToken)?;
        let value = value.to_str().map_err(|_| AuthError::NotBearer)?;
        let token = bearer_from_str(value)?;
        Ok(self.authenticate(token).await?)
    }

    async fn key_for(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        let inner = &self.inner;
        {
            let cache = inner.cache.read().expect("jwks cache poisoned");
            let fresh = cache
                .fetched_at
                .is_some_and(|t| t.elapsed() < inner.cache_ttl);
            match (fresh, cache.keys.get(kid)) {
                (true, Some(k)) => return Ok(k.clone()),
                (true, None) if !refetch_allowed(&cache, inner.refetch_interval) => {
                    return Err(AuthError::UnknownKey(kid.to_owned()));
                }
                _ => {}
            }
        }
        let Some(url) = &inner.jwks_url else {
            return self.cached(kid);
        };
        // One fetch at a time; whoever waited re-checks what the last fetch brought.
        let _guard = inner.fetch_lock.lock().await;
        {
            let cache = inner.cache.read().expect("jwks cache poisoned");
            let fresh = cache
                .fetched_at
                .is_some_and(|t| t.elapsed() < inner.cache_ttl);
            if let Some(k) = cache.keys.get(kid)
                && (fresh || !refetch_allowed(&cache, inner.refetch_interval))
            {
                return Ok(k.clone());
            }
            if !refetch_allowed(&cache, inner.refetch_interval) {
                return Err(if cache.keys.is_empty() {
                    AuthError::KeysUnavailable
                } else {
                    AuthError::UnknownKey(kid.to_owned())
                });
            }
        }
        inner
            .cache
            .write()
            .expect("jwks cache poisoned")
            .attempted_at = Some(Instant::now());
        match self.fetch(url).await {
            Ok(keys) => {
                tracing::debug!(keys = keys.len(), "fetched the JWKS");
                let mut cache = inner.cache.write().expect("jwks cache poisoned");
                cache.keys = keys;
                cache.epoch += 1;
                cache.fetched_at = Some(Instant::now());
            }
            Err(e) => {
                tracing::warn!(url = %url, error = %e, error.chain = %crate::telemetry::chain(e.as_ref()), "cannot fetch the JWKS; keeping the keys we have");
                let cache = inner.cache.read().expect("jwks cache poisoned");
                if cache.keys.is_empty() {
                    return Err(AuthError::KeysUnavailable);
                }
            }
        }
        self.cached(kid)
    }

    fn cached(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        self.inner
            .cache
            .read()
            .expect("jwks cache poisoned")
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| AuthError::UnknownKey(kid.to_owned()))
    }

    async fn fetch(&self, url: &str) -> anyhow::Result<HashMap<String, DecodingKey>> {
        #[derive(Deserialize)]
        struct RawSet {
            keys: Vec<serde_json::Value>,
        }
        let resp = self.inner.http.get(url).send().await?.error_for_status()?;
        let raw: RawSet = resp.json().await?;
        // Parse keys one by one so one odd key does not hide the others.
        let jwks = raw
            .keys
            .into_iter()
            .filter_map(|k| serde_json::from_value::<Jwk>(k).ok());
        let keys = usable_keys(jwks);
        if keys.is_empty() {
            anyhow::bail!("the JWKS at {url} has no Ed25519 signing key with a kid");
        }
        Ok(keys)
    }
}

fn refetch_allowed(cache: &KeyCache, interval: Duration) -> bool {
    cache.attempted_at.is_none_or(|t| t.elapsed() >= interval)
}

/// Only Ed25519 (OKP) signature keys with a `kid` and, when stated, `alg: EdDSA`.
fn usable_keys(jwks: impl Iterator<Item = Jwk>) -> HashMap<String, DecodingKey> {
    let mut out = HashMap::new();
    for jwk in jwks {
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        let AlgorithmParameters::OctetKeyPair(p) = &jwk.algorithm else {
            continue;
        };
        if p.curve != EllipticCurve::Ed25519 {
            continue;
        }
        if jwk
            .common
            .key_algorithm
            .is_some_and(|a| a != KeyAlgorithm::EdDSA)
        {
            continue;
        }
        if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
            continue;
        }
        let Ok(key) = DecodingKey::from_ed_components(&p.x) else {
            continue;
        };
        if key.try_get_as_bytes().map(<[u8]>::len).ok() != Some(32) {
            continue;
        }
        out.insert(kid, key);
    }
    out
}

/// Reads the header ourselves so `alg: none` and symmetric algorithms get their own reason, and
/// nothing but EdDSA with a kid reaches the key lookup.
fn parse_header(token: &str) -> Result<TokenHeader, AuthError> {
    let mut parts = token.split('.');
    let (Some(h), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed);
    };
    let bytes = b64url_decode(h).ok_or(AuthError::Malformed)?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed)?;
    let alg = v
        .get("alg")
        .and_then(|a| a.as_str())
        .ok_or(AuthError::Malformed)?;
    match alg {
        "EdDSA" => {}
        a if a.eq_ignore_ascii_case("none") => return Err(AuthError::AlgNone),
        other => {
            let shown: String = other.chars().take(16).collect();
            return Err(AuthError::DisallowedAlgorithm(shown));
        }
    }
    let kid = match v.get("kid") {
        None | Some(serde_json::Value::Null) => return Err(AuthError::MissingKid),
        Some(serde_json::Value::String(k)) if !k.is_empty() && k.len() <= MAX_KID_LEN => k.clone(),
        Some(_) => return Err(AuthError::Malformed),
    };
    Ok(TokenHeader { kid })
}

fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (bits < 6).then_some(out)
}

fn map_jwt_error(e: jsonwebtoken::errors::Error) -> AuthError {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::InvalidSignature | K::InvalidEddsaKey => AuthError::BadSignature,
        K::ExpiredSignature => AuthError::Expired,
        K::ImmatureSignature => AuthError::NotYetValid,
        K::InvalidIssuer => AuthError::WrongIssuer,
        K::MissingRequiredClaim(c) => AuthError::MissingClaim(c.clone()),
        K::InvalidClaimFormat(c) => AuthError::InvalidClaims(c.clone()),
        K::Json(j) => AuthError::InvalidClaims(j.to_string()),
        K::InvalidAlgorithm | K::MissingAlgorithm | K::UnsupportedAlgorithm => {
            AuthError::DisallowedAlgorithm("(mismatch)".into())
        }
        _ => AuthError::Malformed,
    }
}

fn bearer_from_str(value: &str) -> Result<&str, AuthError> {
    let (scheme, token) = value.trim().split_once(' ').ok_or(AuthError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::NotBearer);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthError::MissingToken);
    }
    Ok(token)
}

/// The bearer token of `Authorization`, if the header is there.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(AuthError::MissingToken)?;
    let value = value.to_str().map_err(|_| AuthError::NotBearer)?;
    bearer_from_str(value)
}

/// Free-function form of [`JwksVerifier::verify_grpc_request`].
pub async fn verify_grpc_request<T>(
    verifier: &JwksVerifier,
    req: &tonic::Request<T>,
) -> Result<Claims, tonic::Status> {
    verifier.verify_grpc_request(req).await
}

/// Claims a middleware has already authenticated (signature, claims and deny list) for this
/// request; [`AuthUser`] uses them instead of verifying again.
#[derive(Clone, Debug)]
pub struct Authenticated(pub Claims);

/// Extractor for an authenticated caller: `Authorization: Bearer <jwt>`, verified with the
/// [`JwksVerifier`] in the router state (via `FromRef`). Rejects with a 401 problem.
#[derive(Clone, Debug)]
pub struct AuthUser(pub Claims);

impl<S> FromRequestParts<S> for AuthUser
where
    JwksVerifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(Authenticated(c)) = parts.extensions.get::<Authenticated>() {
            return Ok(Self(c.clone()));
        }
        let verifier = JwksVerifier::from_ref(state);
        let token = bearer_token(&parts.headers)?;
        let claims = verifier.authenticate(token).await?;
        parts.extensions.insert(Authenticated(claims.clone()));
        Ok(Self(claims))
    }
}

/// Extractor for an authenticated admin: [`AuthUser`], then the `admin` role. Rejects with 401
/// (no valid token) or 403 (not an admin), so admin routes say so in their signature instead of
/// checking in the body.
#[derive(Clone, Debug)]
pub struct AdminUser(pub Claims);

impl<S> FromRequestParts<S> for AdminUser
where
    JwksVerifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let AuthUser(claims) = AuthUser::from_request_parts(parts, state).await?;
        claims.require_role(Role::Admin)?;
        Ok(Self(claims))
    }
}

/// Helpers for tests here and in other crates: an in-memory Ed25519 signing key with its JWK.
pub mod testing {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};

    /// PKCS#8 v1 prefix of an Ed25519 private key; the 32-byte seed follows.
    const PKCS8_ED25519_PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];

    /// A signing key and its public JWK.
    pub struct TestKey {
        pub kid: String,
        pub encoding: EncodingKey,
        pub jwk: Jwk,
    }

    impl TestKey {
        /// A fresh random Ed25519 key named `kid`.
        pub fn generate(kid: &str) -> Self {
            let seed: [u8; 32] = rand::random();
            let mut der = PKCS8_ED25519_PREFIX.to_vec();
            der.extend_from_slice(&seed);
            let encoding = EncodingKey::from_ed_der(&der);
            let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::EdDSA)
                .expect("an Ed25519 key has a public JWK");
            jwk.common.key_id = Some(kid.to_owned());
            jwk.common.public_key_use = Some(PublicKeyUse::Signature);
            Self {
                kid: kid.to_owned(),
                encoding,
                jwk,
            }
        }

        /// Signs `claims` with EdDSA and this key's kid.
        pub fn sign(&self, claims: &impl Serialize) -> String {
            let mut h = Header::new(Algorithm::EdDSA);
            h.kid = Some(self.kid.clone());
            jsonwebtoken::encode(&h, claims, &self.encoding).expect("signing cannot fail")
        }
    }

    /// Claims for `sub` with `roles`, valid for 15 minutes from now.
    pub fn claims(sub: Uuid, roles: Vec<Role>, issuer: &str) -> Claims {
        Claims::issue(sub, roles, issuer, Duration::from_secs(900))
    }

    pub fn jwks(keys: &[&TestKey]) -> jsonwebtoken::jwk::JwkSet {
        jsonwebtoken::jwk::JwkSet {
            keys: keys.iter().map(|k| k.jwk.clone()).collect(),
        }
    }

    /// `header.payload.signature` from raw JSON parts (forged tokens in tests).
    pub fn raw_token(header: &serde_json::Value, claims: &impl Serialize, sig: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            b64url(&serde_json::to_vec(header).expect("json")),
            b64url(&serde_json::to_vec(claims).expect("json")),
            b64url(sig)
        )
    }

    pub fn b64url(bytes: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            let chars = chunk.len() + 1;
            for i in 0..chars {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use std::net::SocketAddr;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const ISS: &str = "storefront";

    /// A JWKS endpoint on 127.0.0.1:0 whose key set can be swapped and whose hits are counted.
    struct JwksServer {
        addr: SocketAddr,
        jwks: Arc<Mutex<jsonwebtoken::jwk::JwkSet>>,
        hits: Arc<AtomicUsize>,
    }

    impl JwksServer {
        async fn start(keys: &[&TestKey]) -> Self {
            let jwks = Arc::new(Mutex::new(jwks(keys)));
            let hits = Arc::new(AtomicUsize::new(0));
            let (j, h) = (jwks.clone(), hits.clone());
            let app = axum::Router::new().route(
                "/.well-known/jwks.json",
                axum::routing::get(move || {
                    let (j, h) = (j.clone(), h.clone());
                    async move {
                        h.fetch_add(1, Ordering::SeqCst);
                        axum::Json(j.lock().unwrap().clone())
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            Self { addr, jwks, hits }
        }

        fn settings(&self) -> AuthSettings {
            AuthSettings {
                jwks_url: format!("http://{}/.well-known/jwks.json", self.addr),
                issuer: ISS.into(),
                jwks_cache_secs: 300,
                leeway_secs: 5,
            }
        }

        fn verifier(&self) -> JwksVerifier {
            JwksVerifier::new(&self.settings()).unwrap()
        }

        fn hits(&self) -> usize {
            self.hits.load(Ordering::SeqCst)
        }
    }

    fn user_claims() -> Claims {
        claims(Uuid::now_v7(), vec![Role::Customer], ISS)
    }

    #[tokio::test]
    async fn a_valid_token_is_accepted() {
        let key = TestKey::generate("k1");
        let srv = JwksServer::start(&[&key]).await;
        let v = srv.verifier();
        let c = user_claims();
        let got = v.verify(&key.sign(&c)).await.unwrap();
        assert_eq!(got, c);
        // The second verification is served from the cache.
        v.verify(&key.sign(&user_claims())).await.unwrap();
        assert_eq!(srv.hits(), 1);
    }

    #[tokio::test]
    async fn bad_tokens_are_rejected_with_distinct_reasons() {
        let key = TestKey::generate("k1");
        let stranger = TestKey::generate("k-unknown");
        let srv = JwksServer::start(&[&key]).await;
        let v = srv.verifier();

        let mut expired = user_claims();
        expired.exp = jsonwebtoken::get_current_timestamp() - 600;
        expired.iat = expired.exp - 900;

        let mut tampered = key.sign(&user_claims());
        let payload_start = tampered.find('.').unwrap() + 1;
        let mut forged = user_claims();
        forged.roles = vec![Role::Admin];
        let forged_payload = b64url(&serde_json::to_vec(&forged).unwrap());
        let sig_start = tampered.rfind('.').unwrap();
        tampered.replace_range(payload_start..sig_start, &forged_payload);

        let none = raw_token(
            &serde_json::json!({"alg": "none", "typ": "JWT", "kid": "k1"}),
            &user_claims(),
            b"",
        );
        let public_x = match &key.jwk.algorithm {
            AlgorithmParameters::OctetKeyPair(p) => p.x.clone(),
            _ => unreachable!(),
        };
        let mut hs_header = jsonwebtoken::Header::new(Algorithm::HS256);
        hs_header.kid = Some("k1".into());
        let hs256 = jsonwebtoken::encode(
            &hs_header,
            &user_claims(),
            &jsonwebtoken::EncodingKey::from_secret(public_x.as_bytes()),
        )
        .unwrap();
        let no_kid = {
            let h = jsonwebtoken::Header::new(Algorithm::EdDSA);
            jsonwebtoken::encode(&h, &user_claims(), &key.encoding).unwrap()
        };
        let mut wrong_iss = user_claims();
        wrong_iss.iss = "someone-else".into();
        let mut future = user_claims();
        future.iat += 3600;

        let cases = [
            (key.sign(&expired), AuthError::Expired),
            (tampered, AuthError::BadSignature),
            (
                stranger.sign(&user_claims()),
                AuthError::UnknownKey("k-unknown".into()),
            ),
            (none, AuthError::AlgNone),
            (hs256, AuthError::DisallowedAlgorithm("HS256".into())),
            (no_kid, AuthError::MissingKid),
            (key.sign(&wrong_iss), AuthError::WrongIssuer),
            (key.sign(&future), AuthError::NotYetValid),
            ("not.a.jwt".to_owned(), AuthError::Malformed),
            ("abc".to_owned(), AuthError::Malformed),
        ];
        for (token, want) in cases {
            assert_eq!(v.verify(&token).await.unwrap_err(), want, "{token}");
        }
    }

    #[tokio::test]
    async fn a_verified_token_is_remembered_until_it_expires() {
        let key = TestKey::generate("k1");
        let srv = JwksServer::start(&[&key]).await;
        let v = JwksVerifier::new(&AuthSettings {
            leeway_secs: 0,
            ..srv.settings()
        })
        .unwrap();
        let mut c = user_claims();
        c.exp = jsonwebtoken::get_current_timestamp() + 2;
        let token = key.sign(&c);
        for _ in 0..3 {
            assert_eq!(v.verify(&token).await.unwrap(), c);
        }
        assert_eq!(v.remembered_tokens(), 1);
        // The same signature on another payload is another token: verified, and refused.
        let mut forged = c.clone();
        forged.roles = vec![Role::Admin];
        let (head, rest) = token.split_once('.').unwrap();
        let sig = rest.rsplit_once('.').unwrap().1;
        let tampered = format!(
            "{head}.{}.{sig}",
            b64url(&serde_json::to_vec(&forged).unwrap())
        );
        assert_eq!(
            v.verify(&tampered).await.unwrap_err(),
            AuthError::BadSignature
        );
        assert_eq!(v.remembered_tokens(), 1);
        // Remembered or not, an expired token is refused: polled until the clock passes the
        // expiry; it is accepted until then and refused as expired after.
        let deadline = Instant::now() + Duration::from_secs(10);
        let refused = loop {
            match v.verify(&token).await {
                Ok(_) => assert!(jsonwebtoken::get_current_timestamp() <= c.exp),
                Err(e) => break e,
            }
            assert!(Instant::now() < deadline, "the token never expired");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(refused, AuthError::Expired);
        assert!(jsonwebtoken::get_current_timestamp() > c.exp);
    }

    #[tokio::test]
    async fn a_remembered_token_is_verified_again_when_its_key_is_withdrawn() {
        let old = TestKey::generate("old");
        let new = TestKey::generate("new");
        let srv = JwksServer::start(&[&old]).await;
        let v = srv.verifier().with_refetch_interval(Duration::ZERO);
        let token = old.sign(&user_claims());
        v.verify(&token).await.unwrap();
        v.verify(&token).await.unwrap();
        assert_eq!(srv.hits(), 1);
        // Auth withdraws the old key; a token of the new one makes the verifier refetch.
        *srv.jwks.lock().unwrap() = jwks(&[&new]);
        v.verify(&new.sign(&user_claims())).await.unwrap();
        assert_eq!(
            v.verify(&token).await.unwrap_err(),
            AuthError::UnknownKey("old".into())
        );
    }

    #[tokio::test]
    async fn rotated_keys_both_verify_and_new_kids_trigger_a_refetch() {
        let old = TestKey::generate("2024-01");
        let new = TestKey::generate("2024-02");
        let srv = JwksServer::start(&[&old]).await;
        let v = srv.verifier().with_refetch_interval(Duration::ZERO);
        v.verify(&old.sign(&user_claims())).await.unwrap();
        // Auth starts publishing a second key and signs with it: the unknown kid refetches.
        *srv.jwks.lock().unwrap() = jwks(&[&old, &new]);
        v.verify(&new.sign(&user_claims())).await.unwrap();
        v.verify(&old.sign(&user_claims())).await.unwrap();
        assert_eq!(srv.hits(), 2);
    }

    #[tokio::test]
    async fn a_flood_of_unknown_kids_fetches_at_most_once_per_interval() {
        let key = TestKey::generate("k1");
        let srv = JwksServer::start(&[&key]).await;
        let v = srv
            .verifier()
            .with_refetch_interval(Duration::from_secs(3600));
        v.verify(&key.sign(&user_claims())).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..50 {
            let v = v.clone();
            let k = TestKey::generate(&format!("random-{i}"));
            tasks.push(tokio::spawn(async move {
                v.verify(&k.sign(&user_claims())).await
            }));
        }
        for t in tasks {
            assert!(matches!(t.await.unwrap(), Err(AuthError::UnknownKey(_))));
        }
        assert!(srv.hits() <= 2, "JWKS fetched {} times", srv.hits());
    }

    #[tokio::test]
    async fn keys_unavailable_is_not_a_401() {
        let key = TestKey::generate("k1");
        let settings = AuthSettings {
            jwks_url: "http://127.0.0.1:1/.well-known/jwks.json".into(),
            ..AuthSettings::default()
        };
        let v = JwksVerifier::new(&settings).unwrap();
        let err = v.verify(&key.sign(&user_claims())).await.unwrap_err();
        assert_eq!(err, AuthError::KeysUnavailable);
        assert_eq!(Problem::from(err).status, 503);
    }

    #[tokio::test]
    async fn revoked_tokens_fail_authenticate_but_not_verify() {
        struct DenyAll;
        impl RevocationCheck for DenyAll {
            fn is_revoked<'a>(&'a self, _: &'a str) -> BoxFuture<'a, anyhow::Result<bool>> {
                Box::pin(async { Ok(true) })
            }
        }
        struct Broken;
        impl RevocationCheck for Broken {
            fn is_revoked<'a>(&'a self, _: &'a str) -> BoxFuture<'a, anyhow::Result<bool>> {
                Box::pin(async { Err(anyhow::anyhow!("redis down")) })
            }
        }
        let key = TestKey::generate("k1");
        let settings = AuthSettings::default();
        let token = key.sign(&user_claims());
        let v =
            JwksVerifier::from_jwks(&jwks(&[&key]), &settings).with_revocation(Arc::new(DenyAll));
        v.verify(&token).await.unwrap();
        assert_eq!(
            v.authenticate(&token).await.unwrap_err(),
            AuthError::Revoked
        );
        let v =
            JwksVerifier::from_jwks(&jwks(&[&key]), &settings).with_revocation(Arc::new(Broken));
        v.authenticate(&token).await.unwrap();
    }

    #[tokio::test]
    async fn redis_deny_list_reads_the_auth_key() {
        let settings = RedisSettings {
            key_prefix: format!("test-{}:", Uuid::now_v7()),
            ..RedisSettings::default()
        };
        let Ok(conn) = crate::cache::connect(&settings).await else {
            panic!("this test needs Redis at 127.0.0.1:6379 (scripts/dev-stack up)");
        };
        let deny = RedisDenyList::new(conn.clone(), &settings);
        let jti = Uuid::now_v7().to_string();
        assert!(!deny.is_revoked(&jti).await.unwrap());
        let mut c = conn;
        let key = format!("{}session:deny:{jti}", settings.key_prefix);
        redis::cmd("SET")
            .arg(&key)
            .arg(1)
            .arg("EX")
            .arg(60)
            .query_async::<()>(&mut c)
            .await
            .unwrap();
        assert!(deny.is_revoked(&jti).await.unwrap());
    }

    #[test]
    fn role_and_ownership_helpers() {
        let me = Uuid::now_v7();
        let other = Uuid::now_v7();
        let customer = claims(me, vec![Role::Customer], ISS);
        let admin = claims(other, vec![Role::Admin], ISS);
        assert!(customer.require_role(Role::Admin).is_err());
        assert!(admin.require_role(Role::Admin).is_ok());
        assert!(customer.require_self(me).is_ok());
        assert!(customer.require_owner(other).is_err());
        assert!(admin.require_self(me).is_err());
        assert!(admin.require_self_or_admin(me).is_ok());
        assert!(customer.require_self_or_admin(other).is_err());
        let p = Problem::from(customer.require_role(Role::Admin).unwrap_err());
        assert_eq!(p.status, 403);
    }

    #[test]
    fn unknown_roles_are_skipped() {
        let v = serde_json::json!({
            "sub": Uuid::now_v7(), "roles": ["customer", "auditor"], "jti": "j",
            "exp": 1, "iat": 1, "iss": ISS
        });
        let c: Claims = serde_json::from_value(v).unwrap();
        assert_eq!(c.roles, vec![Role::Customer]);
    }

    #[test]
    fn base64url_round_trips() {
        for len in 0..40 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(b64url_decode(&b64url(&data)).unwrap(), data, "len {len}");
        }
        assert!(b64url_decode("a").is_none());
        assert!(b64url_decode("ab+c").is_none());
    }

    #[tokio::test]
    async fn extractor_answers_401_problem_with_challenge() {
        use axum::body::Body;
        use tower::ServiceExt;
        let key = TestKey::generate("k1");
        let v = JwksVerifier::from_jwks(&jwks(&[&key]), &AuthSettings::default());
        let app = axum::Router::new()
            .route(
                "/me",
                axum::routing::get(|AuthUser(c): AuthUser| async move { c.sub.to_string() }),
            )
            .with_state(v);
        let resp = app
            .clone()
            .oneshot(axum::http::Request::get("/me").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(
            resp.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer realm="storefront""#
        );
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            crate::problem::CONTENT_TYPE
        );

        let mut expired = claims(Uuid::now_v7(), vec![], "storefront");
        expired.exp -= 3600;
        let resp = app
            .clone()
            .oneshot(
                axum::http::Request::get("/me")
                    .header(
                        header::AUTHORIZATION,
                        format!("Bearer {}", key.sign(&expired)),
                    )
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        let challenge = resp.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );

        let c = claims(Uuid::now_v7(), vec![], "storefront");
        let resp = app
            .oneshot(
                axum::http::Request::get("/me")
                    .header(header::AUTHORIZATION, format!("bearer {}", key.sign(&c)))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }

    #[tokio::test]
    async fn grpc_requests_read_the_authorization_metadata() {
        let key = TestKey::generate("k1");
        let v = JwksVerifier::from_jwks(&jwks(&[&key]), &AuthSettings::default());
        let c = claims(Uuid::now_v7(), vec![Role::Admin], "storefront");
        let mut req = tonic::Request::new(());
        req.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", key.sign(&c)).parse().unwrap(),
        );
        assert_eq!(verify_grpc_request(&v, &req).await.unwrap(), c);
        let status = v
            .verify_grpc_request(&tonic::Request::new(()))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
    }
}
