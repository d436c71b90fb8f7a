//! The user service's operations on the caller's own data; the gRPC layer (`api`) authenticates
//! and validates, this module runs the transactions and talks to the object store.

use std::time::Duration;

use aws_sdk_s3::Client as S3;
use kit::error::{Error, Result};
use kit::jwt::JwksVerifier;
use sqlx::PgPool;
use storefront_proto::user::v1 as pb;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{self, Errors, Invalid};
use crate::store::addresses::{self, AddressRow};
use crate::store::profiles::{self, ProfileRow};
use crate::store::wishlist::{self, ItemRow};
use crate::store::{avatars, on_constraint, preferences};

/// The logical bucket of avatars (`kit::s3::bucket_name` adds the prefix).
pub const AVATAR_BUCKET: &str = "user-avatars";
/// Consumer name recorded in `processed_events`.
pub const CONSUMER: &str = "user";

/// Everything the API needs. Cheap to clone.
#[derive(Clone)]
pub struct UserService {
    pub pool: PgPool,
    pub verifier: JwksVerifier,
    /// Client for calls the service makes itself (HeadObject, DeleteObject).
    pub s3: S3,
    /// Client that signs URLs for the address clients use.
    pub presign: S3,
    pub bucket: String,
    pub avatar_max_bytes: i64,
    pub upload_ttl: Duration,
    pub download_ttl: Duration,
}

/// A masked change of an address: the new values and the paths to take from them.
pub struct AddressChange {
    pub input: pb::Address,
    pub paths: Vec<&'static str>,
}

/// Where and until when an avatar may be uploaded.
pub struct Upload {
    pub url: String,
    pub key: String,
    pub expires_at: OffsetDateTime,
}

/// The data of `user.registered` (published by auth).
pub use kit::contracts::events::user::UserRegistered as Registered;

fn address_not_found() -> Error {
    Error::NotFound("No such address.".into())
}

impl UserService {
    pub async fn profile(&self, me: Uuid) -> Result<ProfileRow> {
        let mut conn = self.pool.acquire().await?;
        Ok(profiles::get_or_create(&mut conn, me).await?)
    }

    pub async fn update_profile(
        &self,
        me: Uuid,
        display_name: Option<&str>,
        phone: Option<&str>,
    ) -> Result<ProfileRow> {
        let mut conn = self.pool.acquire().await?;
        Ok(profiles::update(&mut conn, me, display_name, phone).await?)
    }

    /// Seeds the profile from `user.registered` inside the inbox transaction.
    pub async fn seed_profile(conn: &mut sqlx::PgConnection, r: &Registered) -> anyhow::Result<()> {
        // A name auth accepted but this service would not is stored cut to the limit.
        let name: String = r
            .display_name
            .as_deref()
            .unwrap_or("")
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(domain::DISPLAY_NAME_MAX)
            .collect();
        profiles::seed(conn, r.user_id, &r.email, &name).await?;
        Ok(())
    }

    pub async fn list_addresses(
        &self,
        me: Uuid,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<AddressRow>> {
        Ok(addresses::list(&self.pool, me, offset, limit).await?)
    }

    pub async fn address(&self, me: Uuid, id: Uuid) -> Result<AddressRow> {
        addresses::get(&self.pool, me, id, false)
            .await?
            .ok_or_else(address_not_found)
    }

    /// Inserts a validated address; the user's first becomes both defaults.
    pub async fn create_address(&self, mut row: AddressRow) -> Result<AddressRow> {
        let mut tx = self.pool.begin().await?;
        addresses::lock_user(&mut tx, row.user_id).await?;
        let n = addresses::count(&mut *tx, row.user_id).await?;
        if n >= domain::ADDRESSES_MAX {
            return Err(Error::Exhausted(format!(
                "You already have {} addresses, the most allowed. Delete one first.",
                domain::ADDRESSES_MAX
            )));
        }
        if n == 0 {
            row.is_default_shipping = true;
            row.is_default_billing = true;
        }
        let out = addresses::insert(&mut tx, &row)
            .await
            .map_err(default_conflict)?;
        tx.commit().await?;
        Ok(out)
    }

    pub async fn update_address(
        &self,
        me: Uuid,
        id: Uuid,
        change: AddressChange,
    ) -> Result<AddressRow> {
        let mut tx = self.pool.begin().await?;
        addresses::lock_user(&mut tx, me).await?;
        let mut row = addresses::get(&mut *tx, me, id, true)
            .await?
            .ok_or_else(address_not_found)?;
        apply_address(&mut row, &change.input, &change.paths)?;
        let out = addresses::update(&mut tx, &row)
            .await
            .map_err(default_conflict)?;
        tx.commit().await?;
        Ok(out)
    }

    pub async fn delete_address(&self, me: Uuid, id: Uuid) -> Result<()> {
        if addresses::delete(&self.pool, me, id).await? {
            Ok(())
        } else {
            Err(address_not_found())
        }
    }

    pub async fn preferences(&self, me: Uuid) -> Result<pb::Preferences> {
        Ok(match preferences::get(&self.pool, me).await? {
            Some(p) => pb::Preferences {
                locale: p.locale,
                currency: p.currency,
                marketing_opt_in: p.marketing_opt_in,
                update_time: Some(timestamp(p.updated_at)),
            },
            None => pb::Preferences {
                locale: domain::DEFAULT_LOCALE.into(),
                currency: domain::DEFAULT_CURRENCY.into(),
                marketing_opt_in: false,
                update_time: None,
            },
        })
    }

    pub async fn update_preferences(
        &self,
        me: Uuid,
        locale: Option<String>,
        currency: Option<String>,
        opt_in: Option<bool>,
    ) -> Result<pb::Preferences> {
        let mut tx = self.pool.begin().await?;
        profiles::get_or_create(&mut tx, me).await?;
        sqlx::query("SELECT 1 FROM user_profiles WHERE user_id = $1 FOR UPDATE")
            .bind(me)
            .execute(&mut *tx)
            .await?;
        let cur = preferences::get(&mut *tx, me).await?;
        let (l, c, o) = match &cur {
            Some(p) => (p.locale.clone(), p.currency.clone(), p.marketing_opt_in),
            None => (
                domain::DEFAULT_LOCALE.to_owned(),
                domain::DEFAULT_CURRENCY.to_owned(),
                false,
            ),
        };
        let p = preferences::put(
            &mut tx,
            me,
            &locale.unwrap_or(l),
            &currency.unwrap_or(c),
            opt_in.unwrap_or(o),
        )
        .await?;
        tx.commit().await?;
        Ok(pb::Preferences {
            locale: p.locale,
            currency: p.currency,
            marketing_opt_in: p.marketing_opt_in,
            update_time: Some(timestamp(p.updated_at)),
        })
    }

    pub async fn list_wishlist(
        &self,
        me: Uuid,
        after: Option<(OffsetDateTime, Uuid)>,
        limit: i64,
    ) -> Result<Vec<ItemRow>> {
        Ok(wishlist::list(&self.pool, me, after, limit).await?)
    }

    pub async fn add_wishlist(&self, me: Uuid, product: Uuid) -> Result<ItemRow> {
        let mut conn = self.pool.acquire().await?;
        match wishlist::add(&mut conn, me, product, domain::WISHLIST_MAX).await? {
            Some((item, _new)) => Ok(item),
            None => Err(Error::Exhausted(format!(
                "Your wishlist already holds {} products, the most allowed.",
                domain::WISHLIST_MAX
            ))),
        }
    }

    pub async fn remove_wishlist(&self, me: Uuid, product: Uuid) -> Result<()> {
        Ok(wishlist::remove(&self.pool, me, product).await?)
    }

    /// Announces an upload and presigns a PUT bound to its type and length.
    pub async fn create_avatar_upload(
        &self,
        me: Uuid,
        content_type: &str,
        size: i64,
    ) -> Result<Upload> {
        let key = format!("avatars/{me}/{}", Uuid::now_v7());
        avatars::announce(&self.pool, &key, me, content_type, size).await?;
        let url = kit::s3::presign_put(
            &self.presign,
            &self.bucket,
            &key,
            content_type,
            size,
            self.upload_ttl,
        )
        .await?;
        Ok(Upload {
            url,
            key,
            expires_at: OffsetDateTime::now_utc() + self.upload_ttl,
        })
    }

    /// A presigned GET of `key` and when it stops working.
    pub async fn avatar_url(&self, key: &str) -> Result<(String, OffsetDateTime)> {
        let url = kit::s3::presign_get(&self.presign, &self.bucket, key, self.download_ttl).await?;
        Ok((url, OffsetDateTime::now_utc() + self.download_ttl))
    }

    /// Checks the uploaded object against its announcement and makes it the avatar; the
    /// previous avatar object is deleted afterwards.
    pub async fn complete_avatar_upload(&self, me: Uuid, key: &str) -> Result<ProfileRow> {
        let mut parts = key.split('/');
        let (Some("avatars"), Some(owner), Some(id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(
                Invalid::new("object_key", "is not an avatar key from CreateAvatarUpload").into(),
            );
        };
        let (Ok(owner), Ok(_)) = (Uuid::parse_str(owner), Uuid::parse_str(id)) else {
            return Err(
                Invalid::new("object_key", "is not an avatar key from CreateAvatarUpload").into(),
            );
        };
        let denied = || Error::Forbidden("This upload was not issued to you.".into());
        if owner != me {
            return Err(denied());
        }
        let announced = avatars::get(&self.pool, key).await?.ok_or_else(denied)?;
        if announced.user_id != me {
            return Err(denied());
        }
        let head = match self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(h) => h,
            Err(e) => {
                let missing = e.as_service_error().is_some_and(|s| s.is_not_found())
                    || e.raw_response().is_some_and(|r| r.status().as_u16() == 404);
                if missing {
                    return Err(Error::FailedPrecondition(
                        "The image has not been uploaded yet. PUT it to the upload URL first."
                            .into(),
                    ));
                }
                return Err(Error::Unavailable(format!(
                    "object store: {}",
                    kit::s3::describe_error(&e)
                )));
            }
        };
        let size = head.content_length().unwrap_or(-1);
        let ctype = head.content_type().unwrap_or("");
        if size != announced.size_bytes
            || size > self.avatar_max_bytes
            || ctype != announced.content_type
        {
            // Whatever was stored there is not what was announced: remove it.
            let _ = self
                .s3
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await;
            avatars::forget(&self.pool, key).await?;
            return Err(Error::FailedPrecondition(format!(
                "The uploaded object ({size} bytes, `{ctype}`) does not match the announced \
                 {} bytes of `{}`.",
                announced.size_bytes, announced.content_type
            )));
        }
        let mut tx = self.pool.begin().await?;
        let (row, previous) = profiles::set_avatar(&mut tx, me, key).await?;
        avatars::forget(&mut *tx, key).await?;
        tx.commit().await?;
        self.delete_object(&previous, key).await;
        Ok(row)
    }

    /// Clears the avatar and deletes its object. Idempotent.
    pub async fn delete_avatar(&self, me: Uuid) -> Result<ProfileRow> {
        let mut tx = self.pool.begin().await?;
        let (row, previous) = profiles::set_avatar(&mut tx, me, "").await?;
        tx.commit().await?;
        self.delete_object(&previous, "").await;
        Ok(row)
    }

    /// Best effort: an orphaned object costs storage, not correctness.
    async fn delete_object(&self, key: &str, keep: &str) {
        if key.is_empty() || key == keep {
            return;
        }
        if let Err(e) = self
            .s3
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            tracing::warn!(key, error = %kit::s3::describe_error(&e), "deleting the old avatar failed");
        }
    }
}

/// The partial unique indexes fire only when two writes of one user race past the lock.
fn default_conflict(e: sqlx::Error) -> Error {
    if on_constraint(&e, addresses::ONE_DEFAULT_SHIPPING)
        || on_constraint(&e, addresses::ONE_DEFAULT_BILLING)
    {
        Error::FailedPrecondition(
            "Another change of your default address happened at the same time. Try again.".into(),
        )
    } else {
        Error::Db(e)
    }
}

/// A time as a protobuf timestamp.
pub(crate) fn timestamp(t: OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: t.nanosecond() as i32,
    }
}

/// Copies the masked fields of `from` onto `into`, then validates the whole result. Field names
/// in errors are prefixed `address.`.
pub(crate) fn apply_address(
    into: &mut AddressRow,
    from: &pb::Address,
    paths: &[&str],
) -> Result<()> {
    for p in paths {
        match *p {
            "label" => into.label = from.label.clone(),
            "recipient_name" => into.recipient_name = from.recipient_name.clone(),
            "organization" => into.organization = from.organization.clone(),
            "address_lines" => into.address_lines = from.address_lines.clone(),
            "locality" => into.locality = from.locality.clone(),
            "administrative_area" => into.administrative_area = from.administrative_area.clone(),
            "postal_code" => into.postal_code = from.postal_code.clone(),
            "country_code" => into.country_code = from.country_code.clone(),
            "phone" => into.phone = from.phone.clone(),
            "is_default_shipping" => into.is_default_shipping = from.is_default_shipping,
            "is_default_billing" => into.is_default_billing = from.is_default_billing,
            _ => {}
        }
    }
    let mut e = Errors::default();
    into.label = e.check(domain::text(
        "address.label",
        &into.label,
        false,
        domain::LABEL_MAX,
    ));
    let address = kit::address::Address {
        recipient_name: std::mem::take(&mut into.recipient_name),
        organization: std::mem::take(&mut into.organization),
        address_lines: std::mem::take(&mut into.address_lines),
        locality: std::mem::take(&mut into.locality),
        administrative_area: std::mem::take(&mut into.administrative_area),
        postal_code: std::mem::take(&mut into.postal_code),
        country_code: std::mem::take(&mut into.country_code),
        phone: std::mem::take(&mut into.phone),
    };
    match kit::address::normalize(&address, "address") {
        Ok(a) => {
            into.recipient_name = a.recipient_name;
            into.organization = a.organization;
            into.address_lines = a.address_lines;
            into.locality = a.locality;
            into.administrative_area = a.administrative_area;
            into.postal_code = a.postal_code;
            into.country_code = a.country_code;
            into.phone = a.phone;
        }
        Err(errs) => e.0.extend(errs),
    }
    e.finish().map_err(Error::from)
}
