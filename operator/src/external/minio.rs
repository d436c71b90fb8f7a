//! Per-role S3 users through MinIO's admin API (`/minio/admin/v3`), so that each role that
//! stores objects holds keys for its own bucket only. S3 itself defines no user management:
//! on any other store (s3s-fs, the dev store, answers the admin paths with an error) the roles
//! keep the configured keys, and [`ObjectUsers::ensure`] says so with `Ok(false)`.
//!
//! Requests are SigV4-signed with the admin keys (service `s3`). The secret of a new user is
//! sent encrypted as MinIO's admin client does: an Argon2id key (t=1, m=64 MiB, p=4) from the
//! admin secret key and a random salt, then AES-256-GCM in the one-package form of the sio
//! stream format (header `salt(32) | 0x00 | nonce(8)`, the package's nonce is the header nonce
//! followed by the little-endian package number 1, its associated data is `0x80` (last
//! package) followed by the GCM tag of nothing under the header nonce with number 0).

use std::time::{Duration, SystemTime};

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use futures::FutureExt;
use futures::future::BoxFuture;

use super::{ExtError, ExtResult, ObjectUsers};
use crate::desired::S3UserPlan;

const SALT_LEN: usize = 32;
const NONCE_LEN: usize = 8;
const TAG_LEN: usize = 16;
/// The one-package form holds at most one sio package of plaintext.
const MAX_PAYLOAD: usize = 1 << 14;

fn derive_key(password: &str, salt: &[u8]) -> [u8; 32] {
    let params = argon2::Params::new(64 * 1024, 1, 4, Some(32)).expect("valid Argon2 parameters");
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = [0u8; 32];
    argon
        .hash_password_into(password.as_bytes(), salt, &mut key)
        .expect("Argon2id with a 32-byte salt");
    key
}

/// The associated data of the last (here: only) package.
fn last_package_ad(cipher: &Aes256Gcm, nonce: &[u8; NONCE_LEN]) -> Vec<u8> {
    let mut n = [0u8; 12];
    n[..NONCE_LEN].copy_from_slice(nonce);
    let tag = cipher
        .encrypt(&n.into(), Payload { msg: &[], aad: &[] })
        .expect("AES-GCM of nothing");
    let mut ad = Vec::with_capacity(1 + TAG_LEN);
    ad.push(0x80);
    ad.extend_from_slice(&tag);
    ad
}

fn package_nonce(nonce: &[u8; NONCE_LEN], seq: u32) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..NONCE_LEN].copy_from_slice(nonce);
    n[NONCE_LEN..].copy_from_slice(&seq.to_le_bytes());
    n
}

/// Encrypts an admin request body (at most 16 KiB) for MinIO with `salt` and `nonce`.
pub fn encrypt_with(
    payload: &[u8],
    password: &str,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
) -> Vec<u8> {
    assert!(payload.len() <= MAX_PAYLOAD, "admin payloads are small");
    let key = derive_key(password, &salt);
    let cipher = Aes256Gcm::new_from_slice(&key).expect("a 32-byte key");
    let ad = last_package_ad(&cipher, &nonce);
    let sealed = cipher
        .encrypt(
            &package_nonce(&nonce, 1).into(),
            Payload {
                msg: payload,
                aad: &ad,
            },
        )
        .expect("AES-GCM encryption");
    let mut out = Vec::with_capacity(SALT_LEN + 1 + NONCE_LEN + sealed.len());
    out.extend_from_slice(&salt);
    out.push(0x00); // AES-256-GCM
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

/// Encrypts an admin request body with a fresh salt and nonce.
pub fn encrypt(payload: &[u8], password: &str) -> Vec<u8> {
    use rand::RngCore;
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut salt);
    rand::rng().fill_bytes(&mut nonce);
    encrypt_with(payload, password, salt, nonce)
}

/// Decrypts a one-package AES-GCM admin payload (what MinIO answers with, and for tests).
pub fn decrypt(data: &[u8], password: &str) -> Result<Vec<u8>, String> {
    if data.len() < SALT_LEN + 1 + NONCE_LEN + TAG_LEN {
        return Err("too short".into());
    }
    if data[SALT_LEN] != 0x00 {
        return Err(format!("cipher {} is not AES-256-GCM", data[SALT_LEN]));
    }
    let body = &data[SALT_LEN + 1 + NONCE_LEN..];
    if body.len() > MAX_PAYLOAD + TAG_LEN {
        return Err("more than one package".into());
    }
    let key = derive_key(password, &data[..SALT_LEN]);
    let cipher = Aes256Gcm::new_from_slice(&key).expect("a 32-byte key");
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&data[SALT_LEN + 1..SALT_LEN + 1 + NONCE_LEN]);
    let ad = last_package_ad(&cipher, &nonce);
    cipher
        .decrypt(
            &package_nonce(&nonce, 1).into(),
            Payload {
                msg: body,
                aad: &ad,
            },
        )
        .map_err(|_| "authentication failed (wrong password or corrupt data)".to_string())
}

/// The policy of one role's user: its own bucket, and listing buckets (readiness lists them).
pub fn policy(buckets: &[String]) -> serde_json::Value {
    let mut resources = Vec::new();
    for b in buckets {
        resources.push(format!("arn:aws:s3:::{b}"));
        resources.push(format!("arn:aws:s3:::{b}/*"));
    }
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:ListAllMyBuckets", "s3:GetBucketLocation"],
             "Resource": ["arn:aws:s3:::*"]},
            {"Effect": "Allow", "Action": ["s3:*"], "Resource": resources}
        ]
    })
}

/// The real [`ObjectUsers`] for an S3 endpoint with admin keys.
pub struct MinioAdmin {
    endpoint: String,
    access_key: String,
    secret_key: String,
    region: String,
    http: reqwest::Client,
}

impl MinioAdmin {
    pub fn new(
        endpoint: &str,
        access_key: &str,
        secret_key: &str,
        region: &str,
    ) -> ExtResult<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ExtError::Permanent(format!("HTTP client: {e}")))?;
        Ok(Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            region: region.into(),
            http,
        })
    }

    /// One signed admin call; returns the status and body.
    async fn call(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Vec<u8>,
    ) -> ExtResult<(u16, Vec<u8>)> {
        use aws_sigv4::http_request::{
            PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
        };
        let url = format!("{}/minio/admin/v3/{path_and_query}", self.endpoint);
        let identity = aws_credential_types::Credentials::new(
            &self.access_key,
            &self.secret_key,
            None,
            None,
            "storefront-operator",
        )
        .into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| ExtError::Permanent(format!("signing: {e}")))?
            .into();
        let signable = SignableRequest::new(
            method.as_str(),
            &url,
            std::iter::empty(),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| ExtError::Permanent(format!("signing: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| ExtError::Permanent(format!("signing: {e}")))?
            .into_parts();
        let mut req = http::Request::builder()
            .method(method.as_str())
            .uri(&url)
            .body(body)
            .map_err(|e| ExtError::Permanent(format!("admin request: {e}")))?;
        instructions.apply_to_request_http1x(&mut req);
        let req = reqwest::Request::try_from(req)
            .map_err(|e| ExtError::Permanent(format!("admin request: {e}")))?;
        let resp = self
            .http
            .execute(req)
            .await
            .map_err(|e| ExtError::Transient(format!("S3 admin API: {e}")))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ExtError::Transient(format!("S3 admin API: {e}")))?;
        Ok((status, bytes.to_vec()))
    }

    /// Fails unless the call answered 2xx.
    async fn expect_ok(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Vec<u8>,
    ) -> ExtResult<()> {
        let (status, text) = self.call(method, path_and_query, body).await?;
        match status {
            200..=299 => Ok(()),
            401 | 403 => Err(ExtError::Permanent(format!(
                "S3 admin API {path_and_query}: HTTP {status} (the admin keys may not manage users): {}",
                String::from_utf8_lossy(&text)
            ))),
            400..=499 => Err(ExtError::Permanent(format!(
                "S3 admin API {path_and_query}: HTTP {status}: {}",
                String::from_utf8_lossy(&text)
            ))),
            _ => Err(ExtError::Transient(format!(
                "S3 admin API {path_and_query}: HTTP {status}"
            ))),
        }
    }

    /// Whether the store speaks MinIO's admin API with these keys.
    async fn supported(&self) -> ExtResult<bool> {
        let (status, body) = self.call(reqwest::Method::GET, "info", Vec::new()).await?;
        Ok(status == 200 && serde_json::from_slice::<serde_json::Value>(&body).is_ok())
    }

    async fn ensure_inner(&self, users: &[S3UserPlan]) -> ExtResult<bool> {
        if users.is_empty() || !self.supported().await? {
            return Ok(false);
        }
        for u in users {
            let policy_name = format!("storefront-{}", u.access_key);
            self.expect_ok(
                reqwest::Method::PUT,
                &format!("add-canned-policy?name={policy_name}"),
                policy(&u.buckets).to_string().into_bytes(),
            )
            .await?;
            let body = serde_json::json!({"secretKey": u.secret_key, "status": "enabled"});
            self.expect_ok(
                reqwest::Method::PUT,
                &format!("add-user?accessKey={}", u.access_key),
                encrypt(body.to_string().as_bytes(), &self.secret_key),
            )
            .await?;
            self.expect_ok(
                reqwest::Method::PUT,
                &format!(
                    "set-user-or-group-policy?policyName={policy_name}&userOrGroup={}&isGroup=false",
                    u.access_key
                ),
                Vec::new(),
            )
            .await?;
        }
        Ok(true)
    }

    async fn delete_inner(&self, access_keys: &[String]) -> ExtResult<()> {
        if access_keys.is_empty() || !self.supported().await? {
            return Ok(());
        }
        for k in access_keys {
            // A missing user or policy is success.
            let (status, _) = self
                .call(
                    reqwest::Method::DELETE,
                    &format!("remove-user?accessKey={k}"),
                    Vec::new(),
                )
                .await?;
            if !(200..300).contains(&status) && status != 404 && status != 400 {
                return Err(ExtError::Transient(format!(
                    "S3 admin API remove-user: HTTP {status}"
                )));
            }
            let _ = self
                .call(
                    reqwest::Method::DELETE,
                    &format!("remove-canned-policy?name=storefront-{k}"),
                    Vec::new(),
                )
                .await?;
        }
        Ok(())
    }
}

impl ObjectUsers for MinioAdmin {
    fn ensure(&self, users: &[S3UserPlan]) -> BoxFuture<'_, ExtResult<bool>> {
        let users = users.to_vec();
        async move { self.ensure_inner(&users).await }.boxed()
    }
    fn delete(&self, access_keys: &[String]) -> BoxFuture<'_, ExtResult<()>> {
        let keys = access_keys.to_vec();
        async move { self.delete_inner(&keys).await }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_a_wrong_password_fails() {
        let body = br#"{"secretKey":"s3cr3t","status":"enabled"}"#;
        let sealed = encrypt(body, "admin-secret");
        assert_eq!(
            sealed.len(),
            SALT_LEN + 1 + NONCE_LEN + body.len() + TAG_LEN
        );
        assert_eq!(sealed[SALT_LEN], 0, "AES-256-GCM");
        assert_eq!(decrypt(&sealed, "admin-secret").unwrap(), body);
        assert!(decrypt(&sealed, "other").is_err());
        assert_ne!(
            encrypt(body, "admin-secret"),
            sealed,
            "fresh salt and nonce"
        );
    }

    /// A payload sealed by MinIO's own Python client (`minio.crypto.encrypt`, minio 7.2) with
    /// the password `minio-admin-secret`: the format matches byte for byte.
    #[test]
    fn a_payload_from_the_minio_client_decrypts() {
        let sealed = hex::decode(MINIO_PY_VECTOR.trim()).unwrap();
        let plain = decrypt(&sealed, "minio-admin-secret").unwrap();
        assert_eq!(plain, br#"{"secretKey":"abc12345","status":"enabled"}"#);
        // And ours, with the same salt and nonce, is the same bytes.
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(&sealed[..SALT_LEN]);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[SALT_LEN + 1..SALT_LEN + 1 + NONCE_LEN]);
        assert_eq!(
            encrypt_with(&plain, "minio-admin-secret", salt, nonce),
            sealed
        );
    }

    const MINIO_PY_VECTOR: &str = include_str!("minio_vector.hex");

    #[test]
    fn a_role_policy_names_only_its_buckets() {
        let p = policy(&["shop-product-images".into()]).to_string();
        assert!(p.contains("arn:aws:s3:::shop-product-images/*"));
        assert!(!p.contains("user-avatars"));
    }

    /// The dev store (s3s-fs) has no admin API: the roles keep the configured keys.
    #[tokio::test]
    async fn a_store_without_the_admin_api_is_reported_as_such() {
        let endpoint = std::env::var("STOREFRONT_S3__ENDPOINT")
            .unwrap_or_else(|_| "http://127.0.0.1:9000".into());
        let admin =
            MinioAdmin::new(&endpoint, "storefront", "storefront-secret", "us-east-1").unwrap();
        let user = S3UserPlan {
            role: "product".into(),
            access_key: "sf-test-p".into(),
            secret_key: "x".repeat(40),
            buckets: vec!["product-images".into()],
        };
        assert!(!admin.ensure(&[user]).await.unwrap());
        admin.delete(&["sf-test-p".into()]).await.unwrap();
    }
}
