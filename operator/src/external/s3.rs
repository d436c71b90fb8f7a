//! S3 buckets (aws-sdk-s3, path-style, any S3-compatible store). The claim is an object
//! `.storefront-claim` in the bucket; `Delete` empties the bucket (every object, the claim
//! last) and deletes it.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use futures::FutureExt;
use futures::future::BoxFuture;
use secrecy::SecretString;

use super::{Buckets, Claim, ClaimDecision, Ensured, ExtError, ExtResult};

/// The object that holds a bucket's claim.
pub const CLAIM_OBJECT: &str = ".storefront-claim";

/// The real [`Buckets`].
pub struct S3 {
    client: Client,
}

impl S3 {
    pub fn new(endpoint: &str, access_key: &str, secret_key: &str, region: &str) -> Self {
        let settings = storefront_kit::config::S3Settings {
            endpoint: endpoint.into(),
            region: region.into(),
            access_key: access_key.into(),
            secret_key: SecretString::from(secret_key.to_string()),
            bucket_prefix: String::new(),
            public_endpoint: None,
        };
        Self {
            client: storefront_kit::s3::client(&settings),
        }
    }

    async fn read_claim(&self, bucket: &str) -> ExtResult<Option<Claim>> {
        match self
            .client
            .get_object()
            .bucket(bucket)
            .key(CLAIM_OBJECT)
            .send()
            .await
        {
            Ok(o) => {
                let bytes = o
                    .body
                    .collect()
                    .await
                    .map_err(|e| ExtError::Transient(format!("reading claim of {bucket}: {e}")))?
                    .into_bytes();
                Ok(std::str::from_utf8(&bytes).ok().and_then(Claim::decode))
            }
            Err(e) if code(&e).is_some_and(|c| c == "NoSuchKey" || c == "NotFound") => Ok(None),
            Err(e) if is_404(&e) => Ok(None),
            Err(e) => Err(classify(&format!("reading claim of {bucket}"), &e)),
        }
    }

    async fn write_claim(&self, bucket: &str, claim: &Claim) -> ExtResult<()> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(CLAIM_OBJECT)
            .content_type("text/plain")
            .body(ByteStream::from(claim.encode().into_bytes()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&format!("writing claim of {bucket}"), &e))
    }

    async fn exists(&self, bucket: &str) -> ExtResult<bool> {
        match self.client.head_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(true),
            Err(e) if is_404(&e) || code(&e).is_some_and(|c| c == "NoSuchBucket") => Ok(false),
            Err(e) => Err(classify(&format!("looking up bucket {bucket}"), &e)),
        }
    }

    async fn ensure_inner(&self, bucket: &str, claim: &Claim) -> ExtResult<Ensured> {
        let created = if self.exists(bucket).await? {
            false
        } else {
            match self.client.create_bucket().bucket(bucket).send().await {
                Ok(_) => true,
                Err(e) => match code(&e) {
                    // Created by someone else meanwhile (or ours on stores that say so).
                    Some("BucketAlreadyOwnedByYou") | Some("BucketAlreadyExists") => false,
                    _ => return Err(classify(&format!("creating bucket {bucket}"), &e)),
                },
            }
        };
        let decision = if created {
            ClaimDecision::Take
        } else {
            claim.decide(self.read_claim(bucket).await?.as_ref())
        };
        let outcome = match (&decision, created) {
            (_, true) => Ensured::Created,
            (ClaimDecision::Ours, _) => Ensured::Unchanged,
            (ClaimDecision::Take, _) => Ensured::Adopted,
            (ClaimDecision::Conflict(owner), _) => {
                return Err(ExtError::Conflict {
                    resource: format!("bucket {bucket}"),
                    owner: owner.clone(),
                });
            }
        };
        if decision != ClaimDecision::Ours {
            self.write_claim(bucket, claim).await?;
        }
        Ok(outcome)
    }

    async fn empty(&self, bucket: &str) -> ExtResult<()> {
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .set_continuation_token(token.clone())
                .send()
                .await
                .map_err(|e| classify(&format!("listing bucket {bucket}"), &e))?;
            let mut keys: Vec<String> = page
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string))
                .collect();
            // The claim goes last: an interrupted delete stays claimed and is retried.
            keys.sort_by_key(|k| k == CLAIM_OBJECT);
            for key in keys {
                match self
                    .client
                    .delete_object()
                    .bucket(bucket)
                    .key(&key)
                    .send()
                    .await
                {
                    Ok(_) => {}
                    Err(e) if is_404(&e) => {}
                    Err(e) => return Err(classify(&format!("deleting {bucket}/{key}"), &e)),
                }
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => return Ok(()),
            }
        }
    }

    async fn delete_inner(&self, bucket: &str, claim: &Claim) -> ExtResult<()> {
        if !self.exists(bucket).await? {
            return Ok(());
        }
        if !self
            .read_claim(bucket)
            .await?
            .is_some_and(|c| c.same_owner(claim))
        {
            // Not ours: never emptied on our behalf.
            return Ok(());
        }
        self.empty(bucket).await?;
        match self.client.delete_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_404(&e) || code(&e) == Some("NoSuchBucket") => Ok(()),
            Err(e) => Err(classify(&format!("deleting bucket {bucket}"), &e)),
        }
    }

    async fn release_inner(&self, bucket: &str, claim: &Claim) -> ExtResult<()> {
        if self.exists(bucket).await?
            && self
                .read_claim(bucket)
                .await?
                .is_some_and(|c| c.same_owner(claim))
        {
            match self
                .client
                .delete_object()
                .bucket(bucket)
                .key(CLAIM_OBJECT)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if is_404(&e) => {}
                Err(e) => return Err(classify(&format!("releasing {bucket}"), &e)),
            }
        }
        Ok(())
    }
}

fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
    e.as_service_error().and_then(|s| s.code())
}

type HttpResponse = aws_sdk_s3::config::http::HttpResponse;

fn status<E>(e: &SdkError<E, HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

fn is_404<E>(e: &SdkError<E, HttpResponse>) -> bool {
    status(e) == Some(404)
}

fn classify<E>(what: &str, e: &SdkError<E, HttpResponse>) -> ExtError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let denied = matches!(status(e), Some(401 | 403));
    let has_detail = e
        .as_service_error()
        .is_some_and(|s| s.code().is_some() || s.message().is_some());
    // A refused HEAD carries no body, so no code or message: say what the status means.
    let text = match status(e) {
        Some(code) if !has_detail && e.as_service_error().is_some() => format!(
            "{what}: HTTP {code}{}",
            if denied {
                " (access denied: check the access key, the secret key and the policy that \
                 grants them the bucket)"
            } else {
                ""
            }
        ),
        _ => format!("{what}: {}", storefront_kit::s3::describe_error(e)),
    };
    match code(e) {
        Some(
            "AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "InvalidBucketName",
        ) => ExtError::Permanent(text),
        _ if denied => ExtError::Permanent(text),
        _ => ExtError::Transient(text),
    }
}

impl Buckets for S3 {
    fn ensure(&self, bucket: &str, claim: &Claim) -> BoxFuture<'_, ExtResult<Ensured>> {
        let (b, c) = (bucket.to_string(), claim.clone());
        async move { self.ensure_inner(&b, &c).await }.boxed()
    }
    fn delete(&self, bucket: &str, claim: &Claim) -> BoxFuture<'_, ExtResult<()>> {
        let (b, c) = (bucket.to_string(), claim.clone());
        async move { self.delete_inner(&b, &c).await }.boxed()
    }
    fn release(&self, bucket: &str, claim: &Claim) -> BoxFuture<'_, ExtResult<()>> {
        let (b, c) = (bucket.to_string(), claim.clone());
        async move { self.release_inner(&b, &c).await }.boxed()
    }
}

#[cfg(test)]
mod tests {
    //! Against the local S3 store (s3s-fs at 127.0.0.1:9000).
    use super::*;
    use crate::external::testing::{claim, unique};

    fn store() -> S3 {
        let endpoint = std::env::var("STOREFRONT_S3__ENDPOINT")
            .unwrap_or_else(|_| "http://127.0.0.1:9000".into());
        S3::new(&endpoint, "storefront", "storefront-secret", "us-east-1")
    }

    #[tokio::test]
    async fn create_adopt_conflict_release_and_delete() {
        let s3 = store();
        let b = unique("sfop-bucket-");
        let older = claim("older", "2026-01-01T00:00:00Z");
        let newer = claim("newer", "2026-03-01T00:00:00Z");
        assert_eq!(s3.ensure(&b, &newer).await.unwrap(), Ensured::Created);
        assert_eq!(s3.ensure(&b, &newer).await.unwrap(), Ensured::Unchanged);
        s3.client
            .put_object()
            .bucket(&b)
            .key("images/1.png")
            .body(ByteStream::from_static(b"png"))
            .send()
            .await
            .unwrap();
        assert_eq!(s3.ensure(&b, &older).await.unwrap(), Ensured::Adopted);
        let e = s3.ensure(&b, &newer).await.unwrap_err();
        assert!(
            matches!(e, ExtError::Conflict { ref owner, .. } if owner == "test/older"),
            "{e:?}"
        );
        // The loser's delete leaves the bucket alone.
        s3.delete(&b, &newer).await.unwrap();
        assert!(s3.exists(&b).await.unwrap());
        s3.release(&b, &older).await.unwrap();
        assert_eq!(s3.read_claim(&b).await.unwrap(), None);
        assert_eq!(s3.ensure(&b, &newer).await.unwrap(), Ensured::Adopted);
        // Delete empties and removes it; again is success.
        s3.delete(&b, &newer).await.unwrap();
        assert!(!s3.exists(&b).await.unwrap());
        s3.delete(&b, &newer).await.unwrap();
    }

    #[tokio::test]
    async fn adopts_an_unclaimed_existing_bucket() {
        let s3 = store();
        let b = unique("sfop-bucket-");
        s3.client.create_bucket().bucket(&b).send().await.unwrap();
        let me = claim("me", "2026-01-01T00:00:00Z");
        assert_eq!(s3.ensure(&b, &me).await.unwrap(), Ensured::Adopted);
        s3.delete(&b, &me).await.unwrap();
        assert!(!s3.exists(&b).await.unwrap());
    }

    #[tokio::test]
    async fn wrong_credentials_are_permanent() {
        let endpoint = std::env::var("STOREFRONT_S3__ENDPOINT")
            .unwrap_or_else(|_| "http://127.0.0.1:9000".into());
        let s3 = S3::new(&endpoint, "storefront", "wrong-secret", "us-east-1");
        let me = claim("me", "2026-01-01T00:00:00Z");
        let e = s3.ensure(&unique("sfop-bucket-"), &me).await.unwrap_err();
        assert!(matches!(e, ExtError::Permanent(_)), "{e:?}");
        let text = e.to_string();
        assert!(!text.contains("no message"), "{text}");
        assert!(
            text.contains("403")
                || text.contains("SignatureDoesNotMatch")
                || text.contains("AccessDenied"),
            "{text}"
        );
    }
}
