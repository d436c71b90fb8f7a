//! The gRPC API (`storefront.user.v1.UserService`): authentication, request validation and
//! proto conversion around [`crate::service::UserService`]. Every RPC acts on the user of the
//! verified access token; no request names a user.

pub mod error;

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use storefront_proto::user::v1 as pb;
use storefront_proto::user::v1::user_service_server::UserService as UserServiceApi;
use time::OffsetDateTime;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::domain::{self, Errors, Invalid};
use crate::service::{AddressChange, UserService, apply_address, timestamp};
use crate::store::addresses::AddressRow;
use crate::store::profiles::ProfileRow;
use crate::store::wishlist::ItemRow;
use error::{Error, Result};

/// The tonic service.
#[derive(Clone)]
pub struct UserApi {
    pub svc: UserService,
}

/// `page_size`: 0 means 20, above 100 means 100, negative is invalid.
fn page_size(n: i32) -> Result<i64> {
    match n {
        0 => Ok(20),
        n if n < 0 => Err(Invalid::new("page_size", "must not be negative").into()),
        n => Ok(i64::from(n.min(100))),
    }
}

fn encode_token(kind: &str, body: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{body}"))
}

fn decode_token(kind: &str, token: &str) -> Result<Option<String>> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || Error::from(Invalid::new("page_token", "is not a token from this list"));
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let body = raw
        .strip_prefix(kind)
        .and_then(|r| r.strip_prefix(':'))
        .ok_or_else(bad)?;
    Ok(Some(body.to_owned()))
}

/// The paths of a required update mask, `*` expanded to `allowed`; others are invalid.
fn mask_paths(
    mask: Option<&prost_types::FieldMask>,
    allowed: &[&'static str],
) -> Result<Vec<&'static str>> {
    let Some(mask) = mask.filter(|m| !m.paths.is_empty()) else {
        return Err(Invalid::new(
            "update_mask",
            "is required (name the fields to change, or `*`)",
        )
        .into());
    };
    let mut out = Vec::new();
    for p in &mask.paths {
        if p == "*" {
            return Ok(allowed.to_vec());
        }
        match allowed.iter().find(|a| **a == p.as_str()) {
            Some(a) => out.push(*a),
            None => {
                return Err(Invalid::new(
                    "update_mask",
                    format!("`{p}` is not a field that can be changed here"),
                )
                .into());
            }
        }
    }
    Ok(out)
}

impl UserApi {
    async fn caller<T>(&self, req: &Request<T>) -> Result<Uuid> {
        let claims = self
            .svc
            .verifier
            .verify_grpc_request(req)
            .await
            .map_err(|s| match s.code() {
                tonic::Code::Unavailable => Error::Unavailable(s.message().to_owned()),
                _ => Error::Unauthenticated(s.message().to_owned()),
            })?;
        Ok(claims.sub)
    }

    async fn profile(&self, row: ProfileRow) -> Result<pb::Profile> {
        let avatar_url = if row.avatar_object_key.is_empty() {
            String::new()
        } else {
            self.svc.avatar_url(&row.avatar_object_key).await?.0
        };
        Ok(pb::Profile {
            user_id: row.user_id.to_string(),
            display_name: row.display_name,
            phone: row.phone,
            avatar_object_key: row.avatar_object_key,
            avatar_url,
            create_time: Some(timestamp(row.created_at)),
            update_time: Some(timestamp(row.updated_at)),
        })
    }
}

pub(crate) fn pb_address(a: AddressRow) -> pb::Address {
    pb::Address {
        id: a.id.to_string(),
        label: a.label,
        recipient_name: a.recipient_name,
        organization: a.organization,
        address_lines: a.address_lines,
        locality: a.locality,
        administrative_area: a.administrative_area,
        postal_code: a.postal_code,
        country_code: a.country_code,
        phone: a.phone,
        is_default_shipping: a.is_default_shipping,
        is_default_billing: a.is_default_billing,
        create_time: a.created_at.map(timestamp),
        update_time: a.updated_at.map(timestamp),
    }
}

fn pb_item(i: ItemRow) -> pb::WishlistItem {
    pb::WishlistItem {
        product_id: i.product_id.to_string(),
        add_time: Some(timestamp(i.added_at)),
    }
}

/// Every mutable address path (relative to Address).
pub const ADDRESS_PATHS: [&str; 11] = [
    "label",
    "recipient_name",
    "organization",
    "address_lines",
    "locality",
    "administrative_area",
    "postal_code",
    "country_code",
    "phone",
    "is_default_shipping",
    "is_default_billing",
];

#[tonic::async_trait]
impl UserServiceApi for UserApi {
    async fn get_profile(
        &self,
        req: Request<pb::GetProfileRequest>,
    ) -> Result<Response<pb::Profile>, Status> {
        let me = self.caller(&req).await?;
        let row = self.svc.profile(me).await?;
        Ok(Response::new(self.profile(row).await?))
    }

    async fn update_profile(
        &self,
        req: Request<pb::UpdateProfileRequest>,
    ) -> Result<Response<pb::Profile>, Status> {
        let me = self.caller(&req).await?;
        let r = req.into_inner();
        let paths = mask_paths(r.update_mask.as_ref(), &["display_name", "phone"])?;
        let p = r.profile.unwrap_or_default();
        let mut e = Errors::default();
        let mut name = None;
        let mut phone = None;
        for path in paths {
            match path {
                "display_name" => {
                    name = Some(e.check(domain::display_name(
                        "profile.display_name",
                        &p.display_name,
                    )))
                }
                _ => phone = Some(e.check(domain::phone("profile.phone", &p.phone))),
            }
        }
        e.finish().map_err(Error::from)?;
        let row = self
            .svc
            .update_profile(me, name.as_deref(), phone.as_deref())
            .await?;
        Ok(Response::new(self.profile(row).await?))
    }

    async fn list_addresses(
        &self,
        req: Request<pb::ListAddressesRequest>,
    ) -> Result<Response<pb::ListAddressesResponse>, Status> {
        let me = self.caller(&req).await?;
        let r = req.into_inner();
        let limit = page_size(r.page_size)?;
        let offset = match decode_token("a", &r.page_token)? {
            None => 0,
            Some(s) => s.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                Error::from(Invalid::new("page_token", "is not a token from this list"))
            })?,
        };
        let mut rows = self.svc.list_addresses(me, offset, limit + 1).await?;
        let next = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            encode_token("a", &(offset + limit).to_string())
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListAddressesResponse {
            addresses: rows.into_iter().map(pb_address).collect(),
            next_page_token: next,
        }))
    }

    async fn get_address(
        &self,
        req: Request<pb::GetAddressRequest>,
    ) -> Result<Response<pb::Address>, Status> {
        let me = self.caller(&req).await?;
        let id = domain::uuid("address_id", &req.get_ref().address_id).map_err(Error::from)?;
        let a = self.svc.address(me, id).await?;
        Ok(Response::new(pb_address(a)))
    }

    async fn create_address(
        &self,
        req: Request<pb::CreateAddressRequest>,
    ) -> Result<Response<pb::Address>, Status> {
        let me = self.caller(&req).await?;
        let r = req.into_inner();
        let Some(input) = r.address else {
            return Err(Error::from(Invalid::new("address", "is required")).into());
        };
        let mut row = AddressRow {
            id: Uuid::now_v7(),
            user_id: me,
            ..AddressRow::default()
        };
        apply_address(&mut row, &input, &ADDRESS_PATHS)?;
        let a = self.svc.create_address(row).await?;
        Ok(Response::new(pb_address(a)))
    }

    async fn update_address(
        &self,
        req: Request<pb::UpdateAddressRequest>,
    ) -> Result<Response<pb::Address>, Status> {
        let me = self.caller(&req).await?;
        let r = req.into_inner();
        let input = r.address.unwrap_or_default();
        let id = domain::uuid("address.id", &input.id).map_err(Error::from)?;
        let paths = mask_paths(r.update_mask.as_ref(), &ADDRESS_PATHS)?;
        let a = self
            .svc
            .update_address(me, id, AddressChange { input, paths })
            .await?;
        Ok(Response::new(pb_address(a)))
    }

    async fn delete_address(
        &self,
        req: Request<pb::DeleteAddressRequest>,
    ) -> Result<Response<()>, Status> {
        let me = self.caller(&req).await?;
        let id = domain::uuid("address_id", &req.get_ref().address_id).map_err(Error::from)?;
        self.svc.delete_address(me, id).await?;
        Ok(Response::new(()))
    }

    async fn get_preferences(
        &self,
        req: Request<pb::GetPreferencesRequest>,
    ) -> Result<Response<pb::Preferences>, Status> {
        let me = self.caller(&req).await?;
        Ok(Response::new(self.svc.preferences(me).await?))
    }

    async fn update_preferences(
        &self,
        req: Request<pb::UpdatePreferencesRequest>,
    ) -> Result<Response<pb::Preferences>, Status> {
        let me = self.caller(&req).await?;
        let r = req.into_inner();
        let paths = mask_paths(
            r.update_mask.as_ref(),
            &["locale", "currency", "marketing_opt_in"],
        )?;
        let p = r.preferences.unwrap_or_default();
        let mut e = Errors::default();
        let mut locale = None;
        let mut currency = None;
        let mut opt_in = None;
        for path in paths {
            match path {
                "locale" => locale = Some(e.check(domain::locale("preferences.locale", &p.locale))),
                "currency" => {
                    currency = Some(e.check(domain::currency("preferences.currency", &p.currency)))
                }
                _ => opt_in = Some(p.marketing_opt_in),
            }
        }
        e.finish().map_err(Error::from)?;
        let out = self
            .svc
            .update_preferences(me, locale, currency, opt_in)
            .await?;
        Ok(Response::new(out))
    }

    async fn list_wishlist_items(
        &self,
        req: Request<pb::ListWishlistItemsRequest>,
    ) -> Result<Response<pb::ListWishlistItemsResponse>, Status> {
        let me = self.caller(&req).await?;
        let r = req.into_inner();
        let limit = page_size(r.page_size)?;
        let bad = || Error::from(Invalid::new("page_token", "is not a token from this list"));
        let after = match decode_token("w", &r.page_token)? {
            None => None,
            Some(s) => {
                let (nanos, id) = s.split_once(':').ok_or_else(bad)?;
                let nanos: i128 = nanos.parse().map_err(|_| bad())?;
                let t = OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| bad())?;
                Some((t, Uuid::parse_str(id).map_err(|_| bad())?))
            }
        };
        let mut rows = self.svc.list_wishlist(me, after, limit + 1).await?;
        let next = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            let last = rows.last().expect("limit is at least 1");
            encode_token(
                "w",
                &format!(
                    "{}:{}",
                    last.added_at.unix_timestamp_nanos(),
                    last.product_id
                ),
            )
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListWishlistItemsResponse {
            items: rows.into_iter().map(pb_item).collect(),
            next_page_token: next,
        }))
    }

    async fn add_wishlist_item(
        &self,
        req: Request<pb::AddWishlistItemRequest>,
    ) -> Result<Response<pb::WishlistItem>, Status> {
        let me = self.caller(&req).await?;
        let id = domain::uuid("product_id", &req.get_ref().product_id).map_err(Error::from)?;
        let item = self.svc.add_wishlist(me, id).await?;
        Ok(Response::new(pb_item(item)))
    }

    async fn remove_wishlist_item(
        &self,
        req: Request<pb::RemoveWishlistItemRequest>,
    ) -> Result<Response<()>, Status> {
        let me = self.caller(&req).await?;
        let id = domain::uuid("product_id", &req.get_ref().product_id).map_err(Error::from)?;
        self.svc.remove_wishlist(me, id).await?;
        Ok(Response::new(()))
    }

    async fn create_avatar_upload(
        &self,
        req: Request<pb::CreateAvatarUploadRequest>,
    ) -> Result<Response<pb::CreateAvatarUploadResponse>, Status> {
        let me = self.caller(&req).await?;
        let r = req.into_inner();
        domain::avatar(&r.content_type, r.size_bytes, self.svc.avatar_max_bytes)
            .map_err(Error::from)?;
        let up = self
            .svc
            .create_avatar_upload(me, &r.content_type, r.size_bytes)
            .await?;
        let headers = HashMap::from([
            ("Content-Type".to_owned(), r.content_type.clone()),
            ("Content-Length".to_owned(), r.size_bytes.to_string()),
        ]);
        Ok(Response::new(pb::CreateAvatarUploadResponse {
            upload_url: up.url,
            upload_headers: headers,
            object_key: up.key,
            expire_time: Some(timestamp(up.expires_at)),
        }))
    }

    async fn complete_avatar_upload(
        &self,
        req: Request<pb::CompleteAvatarUploadRequest>,
    ) -> Result<Response<pb::Profile>, Status> {
        let me = self.caller(&req).await?;
        let key = req.into_inner().object_key;
        let row = self.svc.complete_avatar_upload(me, key.trim()).await?;
        Ok(Response::new(self.profile(row).await?))
    }

    async fn get_avatar_url(
        &self,
        req: Request<pb::GetAvatarUrlRequest>,
    ) -> Result<Response<pb::GetAvatarUrlResponse>, Status> {
        let me = self.caller(&req).await?;
        let row = self.svc.profile(me).await?;
        if row.avatar_object_key.is_empty() {
            return Err(Error::NotFound("You have no avatar yet.".into()).into());
        }
        let (url, expires) = self.svc.avatar_url(&row.avatar_object_key).await?;
        Ok(Response::new(pb::GetAvatarUrlResponse {
            url,
            expire_time: Some(timestamp(expires)),
        }))
    }

    async fn delete_avatar(
        &self,
        req: Request<pb::DeleteAvatarRequest>,
    ) -> Result<Response<pb::Profile>, Status> {
        let me = self.caller(&req).await?;
        let row = self.svc.delete_avatar(me).await?;
        Ok(Response::new(self.profile(row).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_tokens_and_page_sizes() {
        let m = |p: &[&str]| prost_types::FieldMask {
            paths: p.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(
            mask_paths(Some(&m(&["*"])), &["a", "b"]).unwrap(),
            ["a", "b"]
        );
        assert_eq!(mask_paths(Some(&m(&["b"])), &["a", "b"]).unwrap(), ["b"]);
        assert!(mask_paths(Some(&m(&["user_id"])), &["a"]).is_err());
        assert!(mask_paths(None, &["a"]).is_err());
        assert_eq!(page_size(0).unwrap(), 20);
        assert_eq!(page_size(500).unwrap(), 100);
        assert!(page_size(-1).is_err());
        let t = encode_token("w", "1:x");
        assert_eq!(decode_token("w", &t).unwrap().unwrap(), "1:x");
        assert!(decode_token("a", &t).is_err());
        assert!(decode_token("a", "!!").is_err());
    }

    #[test]
    fn address_validation_names_every_bad_field() {
        let mut row = AddressRow::default();
        let input = pb::Address {
            recipient_name: "x".repeat(201),
            address_lines: vec![],
            locality: "Berlin".into(),
            country_code: "XX".into(),
            postal_code: "abc$".into(),
            ..Default::default()
        };
        let Err(Error::Invalid(errs)) = apply_address(&mut row, &input, &ADDRESS_PATHS) else {
            panic!("must fail")
        };
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "address.recipient_name",
            "address.address_lines",
            "address.country_code",
            "address.postal_code",
        ] {
            assert!(fields.contains(&f), "{f} in {fields:?}");
        }
    }
}
