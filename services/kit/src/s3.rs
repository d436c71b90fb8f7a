//! S3-compatible object storage: a path-style client for a custom endpoint (MinIO, s3s-fs, AWS),
//! idempotent bucket creation, presigned upload/download URLs and streamed reads.

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use secrecy::ExposeSecret;

use crate::config::S3Settings;

/// A client for the configured endpoint. No network traffic happens until the first call.
pub fn client(settings: &S3Settings) -> Client {
    client_for_endpoint(settings, &settings.endpoint)
}

/// A client that signs URLs for the address clients use (`s3.public_endpoint`), when it differs.
pub fn presign_client(settings: &S3Settings) -> Client {
    client_for_endpoint(
        settings,
        settings
            .public_endpoint
            .as_deref()
            .unwrap_or(&settings.endpoint),
    )
}

fn client_for_endpoint(settings: &S3Settings, endpoint: &str) -> Client {
    let creds = Credentials::new(
        settings.access_key.clone(),
        settings.secret_key.expose_secret().to_owned(),
        None,
        None,
        "storefront-config",
    );
    let cfg = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(settings.region.clone()))
        .credentials_provider(creds)
        .force_path_style(true)
        .build();
    Client::from_conf(cfg)
}

/// The bucket name for a logical bucket (`product-images`) under the configured prefix.
pub fn bucket_name(settings: &S3Settings, logical: &str) -> String {
    format!("{}{logical}", settings.bucket_prefix)
}

/// Creates a bucket; one that already exists (ours or, on stores that say so, anyone's) is fine.
pub async fn ensure_bucket(client: &Client, bucket: &str) -> anyhow::Result<()> {
    match client.create_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        Err(e) => match e.as_service_error().and_then(|s| s.code()) {
            Some("BucketAlreadyOwnedByYou") | Some("BucketAlreadyExists") => Ok(()),
            _ => Err(anyhow::anyhow!(
                "creating bucket {bucket}: {}",
                describe_error(&e)
            )),
        },
    }
}

/// A presigned PUT URL valid for `expires`, bound to the content type.
pub async fn presign_put(
    client: &Client,
    bucket: &str,
    key: &str,
    content_type: &str,
    content_length: i64,
    expires: Duration,
) -> anyhow::Result<String> {
    let req = client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .content_length(content_length)
        .presigned(PresigningConfig::expires_in(expires)?)
        .await
        .map_err(|e| anyhow::anyhow!("presigning upload: {}", describe_error(&e)))?;
    Ok(req.uri().to_string())
}

/// A presigned GET URL valid for `expires`.
pub async fn presign_get(
    client: &Client,
    bucket: &str,
    key: &str,
    expires: Duration,
) -> anyhow::Result<String> {
    let req = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .presigned(PresigningConfig::expires_in(expires)?)
        .await
        .map_err(|e| anyhow::anyhow!("presigning download: {}", describe_error(&e)))?;
    Ok(req.uri().to_string())
}

/// An object read from the store, its bytes still to come.
pub struct Object {
    pub content_length: Option<i64>,
    /// The store's entity tag, quoted as HTTP writes it.
    pub etag: Option<String>,
    pub body: aws_sdk_s3::primitives::ByteStream,
}

impl Object {
    /// The bytes as an HTTP body, streamed as the store sends them (never held whole).
    pub fn into_body(self) -> axum::body::Body {
        let chunks = futures::stream::unfold(self.body, |mut body| async move {
            body.next().await.map(|chunk| (chunk, body))
        });
        axum::body::Body::from_stream(chunks)
    }
}

/// `key` of `bucket`, or `None` when there is no such object.
pub async fn get_object(
    client: &Client,
    bucket: &str,
    key: &str,
) -> anyhow::Result<Option<Object>> {
    match client.get_object().bucket(bucket).key(key).send().await {
        Ok(o) => Ok(Some(Object {
            content_length: o.content_length,
            etag: o.e_tag,
            body: o.body,
        })),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
        Err(e) => Err(anyhow::anyhow!(
            "reading {bucket}/{key}: {}",
            describe_error(&e)
        )),
    }
}

/// A one-line description of an SDK error (the service's code and message when there is one).
pub fn describe_error<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e.as_service_error() {
        Some(s) => format!(
            "{}: {}",
            s.code().unwrap_or("error"),
            s.message().unwrap_or("no message")
        ),
        None => DisplayErrorContext(e).to_string(),
    }
}
