//! `/api/v1/users/me/*`: REST in front of the user service's gRPC API. The caller is always the
//! token's user (the service checks the token again and scopes every row by it). Bodies are
//! checked here for shape; the service's field violations become problem `errors` (422) with
//! the field named as in the REST body.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use kit::contracts::address::{Address, AddressInput, NewAddress};
use kit::contracts::page::TokenPageQuery as PageQuery;
use kit::problem::extract::{Json, Path};
use kit::problem::{FieldError, Problem};
use kit::upstream::grpc_request;
use serde::{Deserialize, Serialize};
use storefront_proto::user::v1 as pb;
use storefront_proto::user::v1::user_service_client::UserServiceClient;
use tonic::transport::Channel;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

use super::{rfc3339, valid};
use crate::AppState;
use crate::openapi::Problem as ProblemDoc;

/// The user routes, all behind [`crate::protect`].
pub fn router(state: &AppState) -> Router<AppState> {
    let r = Router::new()
        .route("/api/v1/users/me", get(get_me).patch(patch_me))
        .route(
            "/api/v1/users/me/addresses",
            get(list_addresses).post(create_address),
        )
        .route(
            "/api/v1/users/me/addresses/{id}",
            get(get_address)
                .patch(update_address)
                .delete(delete_address),
        )
        .route(
            "/api/v1/users/me/preferences",
            get(get_preferences)
                .put(put_preferences)
                .patch(patch_preferences),
        )
        .route("/api/v1/users/me/wishlist", get(list_wishlist))
        .route(
            "/api/v1/users/me/wishlist/{product_id}",
            put(add_wishlist).delete(remove_wishlist),
        )
        .route(
            "/api/v1/users/me/avatar",
            post(create_avatar_upload)
                .get(get_avatar)
                .delete(delete_avatar),
        )
        .route("/api/v1/users/me/avatar/complete", post(complete_avatar));
    crate::protect(r, state)
}

fn client(state: &AppState) -> UserServiceClient<Channel> {
    UserServiceClient::new(state.upstreams.user.clone())
}

/// The service names fields relative to its resource (`address.postal_code`); REST bodies are
/// the resource itself.
fn problem(s: tonic::Status) -> Problem {
    Problem::from(s).map_fields(|f| {
        ["address.", "profile.", "preferences."]
            .iter()
            .find_map(|p| f.strip_prefix(p))
            .unwrap_or(f)
            .to_owned()
    })
}

fn mask(paths: Vec<&str>) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.into_iter().map(str::to_owned).collect(),
    })
}

fn check_len(errors: &mut Vec<FieldError>, field: &str, value: Option<&str>, max: usize) {
    if let Some(v) = value
        && v.chars().count() > max
    {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
}

// ---------- bodies ----------

/// The caller's profile.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"user_id": "0194c1e4-7b1a-7c3e-9d2f-3a4b5c6d7e8f", "display_name": "Ada", "phone": "+4930123456", "avatar_url": null, "created_at": "2026-01-31T12:00:00Z", "updated_at": "2026-01-31T12:00:00Z"}))]
pub struct ProfileView {
    pub user_id: Uuid,
    /// Empty when not set.
    #[schema(example = "Ada")]
    pub display_name: String,
    /// E.164; empty when not set.
    #[schema(example = "+4930123456")]
    pub phone: String,
    /// A presigned GET URL valid for at least 10 minutes; null without an avatar.
    pub avatar_url: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

impl From<pb::Profile> for ProfileView {
    fn from(p: pb::Profile) -> Self {
        Self {
            user_id: Uuid::parse_str(&p.user_id).unwrap_or_default(),
            display_name: p.display_name,
            phone: p.phone,
            avatar_url: (!p.avatar_url.is_empty()).then_some(p.avatar_url),
            created_at: rfc3339(p.create_time),
            updated_at: rfc3339(p.update_time),
        }
    }
}

/// Fields to change; absent fields stay, an empty string clears.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"display_name": "Ada Lovelace", "phone": "+4930123456"}))]
pub struct ProfilePatch {
    /// At most 100 characters, no control characters; empty clears.
    #[schema(max_length = 100, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    pub display_name: Option<String>,
    /// E.164 (`+` and 8 to 15 digits); empty clears.
    #[schema(pattern = "^(\\+[1-9][0-9]{7,14})?$")]
    pub phone: Option<String>,
}

/// A postal address of the caller: the one address shape ([`Address`], also what checkout
/// takes and an order keeps) with its id, label and default flags. Its schema is built by
/// [`SavedAddressFields`] (one object with `Address`'s properties and these).
#[derive(Debug, Serialize, Deserialize)]
pub struct AddressView {
    pub id: Uuid,
    pub label: String,
    #[serde(flatten)]
    pub address: Address,
    pub is_default_shipping: bool,
    pub is_default_billing: bool,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// The fields a saved address has besides the [`Address`] (documentation only).
#[derive(ToSchema)]
#[allow(dead_code)]
struct SavedAddressFields {
    id: Uuid,
    label: String,
    is_default_shipping: bool,
    is_default_billing: bool,
    created_at: Option<String>,
    updated_at: Option<String>,
}

impl utoipa::PartialSchema for AddressView {
    /// One object: `Address`'s properties and rules plus [`SavedAddressFields`]. (A flattened
    /// `allOf` would inherit `Address`'s `additionalProperties: false`, which refuses the id.)
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::Schema;
        let object = |r| match r {
            RefOr::T(Schema::Object(o)) => o,
            _ => unreachable!("derived struct schemas are objects"),
        };
        let mut view = kit::contracts::address::object_schema();
        let extra = object(<SavedAddressFields as utoipa::PartialSchema>::schema());
        view.additional_properties = None;
        view.properties.extend(extra.properties);
        view.required.extend(extra.required);
        view.description = Some(
            "A postal address of the caller: the address shape checkout takes and an order keeps, with its id, label and default flags.".into(),
        );
        view.example = Some(
            serde_json::json!({"id": "0194c1e4-7b1a-7c3e-9d2f-3a4b5c6d7e8f", "label": "Home", "recipient_name": "Ada Lovelace", "organization": "", "address_lines": ["Unter den Linden 1"], "locality": "Berlin", "administrative_area": "", "postal_code": "10117", "country_code": "DE", "phone": "", "is_default_shipping": true, "is_default_billing": true, "created_at": "2026-01-31T12:00:00Z", "updated_at": "2026-01-31T12:00:00Z"}),
        );
        RefOr::T(Schema::Object(view))
    }
}

impl ToSchema for AddressView {}

/// The address part of a saved address.
pub(crate) fn address_of(a: pb::Address) -> Address {
    Address {
        recipient_name: a.recipient_name,
        organization: a.organization,
        address_lines: a.address_lines,
        locality: a.locality,
        administrative_area: a.administrative_area,
        postal_code: a.postal_code,
        country_code: a.country_code,
        phone: a.phone,
    }
}

impl From<pb::Address> for AddressView {
    fn from(a: pb::Address) -> Self {
        Self {
            id: Uuid::parse_str(&a.id).unwrap_or_default(),
            label: a.label.clone(),
            is_default_shipping: a.is_default_shipping,
            is_default_billing: a.is_default_billing,
            created_at: rfc3339(a.create_time),
            updated_at: rfc3339(a.update_time),
            address: address_of(a),
        }
    }
}

/// The address message of `a` and the paths that were sent. Sizes are bounded loosely here,
/// before the gRPC call; the user service checks every rule of `contracts::address`.
fn address_pb(a: AddressInput, id: String) -> Result<(pb::Address, Vec<&'static str>), Problem> {
    let mut errors = Vec::new();
    for (field, value) in [
        ("label", &a.label),
        ("recipient_name", &a.recipient_name),
        ("organization", &a.organization),
        ("locality", &a.locality),
        ("administrative_area", &a.administrative_area),
        ("postal_code", &a.postal_code),
        ("country_code", &a.country_code),
        ("phone", &a.phone),
    ] {
        check_len(&mut errors, field, value.as_deref(), 1000);
    }
    if let Some(lines) = &a.address_lines {
        if lines.len() > 10 {
            errors.push(FieldError::new(
                "address_lines",
                "must have at most 3 lines",
            ));
        }
        for (i, l) in lines.iter().enumerate() {
            check_len(&mut errors, &format!("address_lines[{i}]"), Some(l), 1000);
        }
    }
    valid(errors)?;
    let mut paths = Vec::new();
    let mut out = pb::Address {
        id,
        ..Default::default()
    };
    macro_rules! take {
        ($f:ident) => {
            if let Some(v) = a.$f {
                out.$f = v;
                paths.push(stringify!($f));
            }
        };
    }
    take!(label);
    take!(recipient_name);
    take!(organization);
    take!(address_lines);
    take!(locality);
    take!(administrative_area);
    take!(postal_code);
    take!(country_code);
    take!(phone);
    take!(is_default_shipping);
    take!(is_default_billing);
    Ok((out, paths))
}

/// A page of the caller's addresses.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AddressList {
    pub items: Vec<AddressView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A page of the caller's wishlist.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WishlistPage {
    pub items: Vec<WishlistItemView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A page's limit (default 20) and cursor as the user service reads them.
fn page_parts(q: &PageQuery) -> Result<(i32, String), Problem> {
    let limit = match q.limit {
        None => 20,
        Some(n @ 1..=100) => n as i32,
        Some(_) => {
            return Err(Problem::validation(vec![FieldError::new(
                "limit",
                "must be between 1 and 100",
            )]));
        }
    };
    let cursor = q.cursor.clone().unwrap_or_default();
    if cursor.len() > 512 {
        return Err(Problem::validation(vec![FieldError::new(
            "cursor",
            "is not a cursor from this list",
        )]));
    }
    Ok((limit, cursor))
}

fn cursor_problem(p: Problem) -> Problem {
    // The service names its own parameter; REST calls it `cursor`.
    let mut p = p;
    for e in &mut p.errors {
        if e.field == "page_token" {
            e.field = "cursor".into();
        }
    }
    p
}

/// The caller's settings.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"locale": "en-GB", "currency": "GBP", "marketing_opt_in": false, "updated_at": "2026-01-31T12:00:00Z"}))]
pub struct PreferencesView {
    /// BCP 47 language tag.
    pub locale: String,
    /// ISO 4217.
    pub currency: String,
    pub marketing_opt_in: bool,
    /// Null while never saved (the values are the storefront's defaults).
    pub updated_at: Option<String>,
}

impl From<pb::Preferences> for PreferencesView {
    fn from(p: pb::Preferences) -> Self {
        Self {
            locale: p.locale,
            currency: p.currency,
            marketing_opt_in: p.marketing_opt_in,
            updated_at: rfc3339(p.update_time),
        }
    }
}

/// New settings: PUT needs every field, PATCH only the ones to change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"locale": "en-GB", "currency": "GBP", "marketing_opt_in": true}))]
pub struct PreferencesInput {
    /// BCP 47 language tag: a language of 2, 3 or 5 to 8 letters, then subtags of 1 to 8
    /// letters or digits; at most 35 characters.
    #[schema(
        example = "en-GB",
        max_length = 35,
        pattern = "^([A-Za-z]{2,3}|[A-Za-z]{5,8})(-[A-Za-z0-9]{1,8})*$"
    )]
    pub locale: Option<String>,
    #[schema(schema_with = kit::contracts::money::optional_display_currency_schema)]
    pub currency: Option<String>,
    pub marketing_opt_in: Option<bool>,
}

/// All of the preferences (`PUT`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"locale": "en-GB", "currency": "GBP", "marketing_opt_in": false}))]
pub struct PreferencesReplace {
    /// BCP 47 language tag, as for `PATCH`.
    #[schema(
        example = "en-GB",
        max_length = 35,
        pattern = "^([A-Za-z]{2,3}|[A-Za-z]{5,8})(-[A-Za-z0-9]{1,8})*$"
    )]
    pub locale: String,
    #[schema(schema_with = kit::contracts::money::display_currency_schema)]
    pub currency: String,
    pub marketing_opt_in: bool,
}

/// A product on the wishlist.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"product_id": "0194c1e4-7b1a-7c3e-9d2f-3a4b5c6d7e8f", "added_at": "2026-01-31T12:00:00Z"}))]
pub struct WishlistItemView {
    pub product_id: Uuid,
    pub added_at: Option<String>,
}

impl From<pb::WishlistItem> for WishlistItemView {
    fn from(i: pb::WishlistItem) -> Self {
        Self {
            product_id: Uuid::parse_str(&i.product_id).unwrap_or_default(),
            added_at: rfc3339(i.add_time),
        }
    }
}

/// The image about to be uploaded.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"content_type": "image/png", "size_bytes": 48213}))]
pub struct AvatarUploadRequest {
    /// image/jpeg, image/png or image/webp.
    #[schema(example = "image/png", pattern = "^image/(jpeg|png|webp)$")]
    pub content_type: String,
    /// Exact size in bytes (at most 2 MiB by default, `user.avatar_max_bytes`).
    #[schema(example = 48213, minimum = 1, maximum = 2097152)]
    pub size_bytes: i64,
}

/// Where to PUT the image: send exactly these headers, then call `POST .../avatar/complete`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"upload_url": "http://127.0.0.1:9000/user-avatars/avatars/0194.../0194...?X-Amz-Signature=...", "method": "PUT", "headers": {"Content-Type": "image/png", "Content-Length": "48213"}, "object_key": "avatars/0194c1e4-7b1a-7c3e-9d2f-3a4b5c6d7e8f/0194c1e4-7b1a-7c3e-9d2f-3a4b5c6d7e90", "expires_at": "2026-01-31T12:15:00Z"}))]
pub struct AvatarUploadView {
    pub upload_url: String,
    #[schema(example = "PUT")]
    pub method: String,
    pub headers: BTreeMap<String, String>,
    pub object_key: String,
    pub expires_at: Option<String>,
}

/// The uploaded object to make the avatar.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"object_key": "avatars/0194c1e4-7b1a-7c3e-9d2f-3a4b5c6d7e8f/0194c1e4-7b1a-7c3e-9d2f-3a4b5c6d7e90"}))]
pub struct CompleteAvatarRequest {
    pub object_key: String,
}

/// A short-lived URL of the avatar image.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"url": "http://127.0.0.1:9000/user-avatars/avatars/...?X-Amz-Signature=...", "expires_at": "2026-01-31T12:15:00Z"}))]
pub struct AvatarUrlView {
    pub url: String,
    pub expires_at: Option<String>,
}

// ---------- handlers ----------

/// The caller's profile.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users", operation_id = "getMe",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The profile (created empty on first access)", body = ProfileView),
        (status = 401, description = "No valid access token", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
pub async fn get_me(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let p = client(&state)
        .get_profile(grpc_request(pb::GetProfileRequest {}, &headers))
        .await
        .map_err(problem)?
        .into_inner();
    Ok(axum::Json(ProfileView::from(p)).into_response())
}

/// Change the caller's display name or phone.
#[utoipa::path(patch, path = "/api/v1/users/me", tag = "users", operation_id = "updateMe",
    request_body = ProfilePatch, security(("bearer" = [])),
    responses(
        (status = 200, description = "The changed profile", body = ProfileView),
        (status = 400, description = "The body is not valid JSON", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "A field breaks a rule; `errors` names it", body = ProblemDoc, content_type = "application/problem+json",
            example = json!({"type": "about:blank", "title": "Unprocessable Entity", "status": 422, "errors": [{"field": "phone", "message": "must be in E.164 form: `+` and 8 to 15 digits, e.g. +4930123456"}]})),
    ))]
pub async fn patch_me(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<ProfilePatch>,
) -> Result<Response, Problem> {
    let mut errors = Vec::new();
    check_len(
        &mut errors,
        "display_name",
        body.display_name.as_deref(),
        1000,
    );
    check_len(&mut errors, "phone", body.phone.as_deref(), 100);
    valid(errors)?;
    let mut paths = Vec::new();
    if body.display_name.is_some() {
        paths.push("display_name");
    }
    if body.phone.is_some() {
        paths.push("phone");
    }
    if paths.is_empty() {
        // Nothing to change: the profile as it is (a merge patch of `{}` is a no-op).
        return get_me(State(state), headers).await;
    }
    let msg = pb::UpdateProfileRequest {
        profile: Some(pb::Profile {
            display_name: body.display_name.unwrap_or_default(),
            phone: body.phone.unwrap_or_default(),
            ..Default::default()
        }),
        update_mask: mask(paths),
    };
    let p = client(&state)
        .update_profile(grpc_request(msg, &headers))
        .await
        .map_err(problem)?
        .into_inner();
    Ok(axum::Json(ProfileView::from(p)).into_response())
}

/// The caller's addresses, defaults first, then newest first.
#[utoipa::path(get, path = "/api/v1/users/me/addresses", tag = "users", operation_id = "listAddresses",
    params(PageQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of addresses", body = AddressList),
        (status = 401, description = "No valid access token", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
pub async fn list_addresses(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Result<Response, Problem> {
    let (limit, cursor) = page_parts(&q)?;
    let r = client(&state)
        .list_addresses(grpc_request(
            pb::ListAddressesRequest {
                page_size: limit,
                page_token: cursor,
            },
            &headers,
        ))
        .await
        .map_err(|s| cursor_problem(problem(s)))?
        .into_inner();
    Ok(axum::Json(AddressList {
        items: r.addresses.into_iter().map(AddressView::from).collect(),
        next_cursor: (!r.next_page_token.is_empty()).then_some(r.next_page_token),
    })
    .into_response())
}

/// Add an address. The first one becomes the default for shipping and billing.
#[utoipa::path(post, path = "/api/v1/users/me/addresses", tag = "users", operation_id = "createAddress",
    request_body = NewAddress, security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = AddressView),
        (status = 400, description = "The body is not valid JSON", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "A field is missing or breaks a rule; `errors` names it", body = ProblemDoc, content_type = "application/problem+json",
            example = json!({"type": "about:blank", "title": "Unprocessable Entity", "status": 422, "errors": [{"field": "postal_code", "message": "is not a postal code of DE (e.g. 10115)"}]})),
        (status = 409, description = "Another change of the default address happened at the same time; try again", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Already 20 addresses", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
pub async fn create_address(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<NewAddress>,
) -> Result<Response, Problem> {
    let (address, _) = address_pb(body.into(), String::new())?;
    let a = client(&state)
        .create_address(grpc_request(
            pb::CreateAddressRequest {
                address: Some(address),
            },
            &headers,
        ))
        .await
        .map_err(problem)?
        .into_inner();
    let view = AddressView::from(a);
    let location = format!("/api/v1/users/me/addresses/{}", view.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(view),
    )
        .into_response())
}

/// One of the caller's addresses.
#[utoipa::path(get, path = "/api/v1/users/me/addresses/{id}", tag = "users", operation_id = "getAddress",
    params(("id" = Uuid, Path, description = "Address id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The address", body = AddressView),
        (status = 404, description = "No such address of the caller (another user's id reads the same)", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
pub async fn get_address(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> Result<Response, Problem> {
    let a = client(&state)
        .get_address(grpc_request(
            pb::GetAddressRequest {
                address_id: id.to_string(),
            },
            &headers,
        ))
        .await
        .map_err(problem)?
        .into_inner();
    Ok(axum::Json(AddressView::from(a)).into_response())
}

/// Change fields of an address; setting a default flag moves it from the previous default.
#[utoipa::path(patch, path = "/api/v1/users/me/addresses/{id}", tag = "users", operation_id = "updateAddress",
    params(("id" = Uuid, Path, description = "Address id")), request_body = AddressInput, security(("bearer" = [])),
    responses(
        (status = 200, description = "The changed address", body = AddressView),
        (status = 404, description = "No such address of the caller", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "A field breaks a rule; `errors` names it", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "Another change of the default address happened at the same time; try again", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
pub async fn update_address(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Json(body): Json<AddressInput>,
) -> Result<Response, Problem> {
    let (address, paths) = address_pb(body, id.to_string())?;
    if paths.is_empty() {
        return get_address(State(state), headers, Path(id)).await;
    }
    let a = client(&state)
        .update_address(grpc_request(
            pb::UpdateAddressRequest {
                address: Some(address),
                update_mask: mask(paths),
            },
            &headers,
        ))
        .await
        .map_err(problem)?
        .into_inner();
    Ok(axum::Json(AddressView::from(a)).into_response())
}

/// Delete an address.
#[utoipa::path(delete, path = "/api/v1/users/me/addresses/{id}", tag = "users", operation_id = "deleteAddress",
    params(("id" = Uuid, Path, description = "Address id")), security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such address of the caller", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
pub async fn delete_address(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> Result<Response, Problem> {
    client(&state)
        .delete_address(grpc_request(
            pb::DeleteAddressRequest {
                address_id: id.to_string(),
            },
            &headers,
        ))
        .await
        .map_err(problem)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The caller's preferences (defaults while never saved).
#[utoipa::path(get, path = "/api/v1/users/me/preferences", tag = "users", operation_id = "getPreferences",
    security(("bearer" = [])),
    responses((status = 200, description = "The preferences", body = PreferencesView)))]
pub async fn get_preferences(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let p = client(&state)
        .get_preferences(grpc_request(pb::GetPreferencesRequest {}, &headers))
        .await
        .map_err(problem)?
        .into_inner();
    Ok(axum::Json(PreferencesView::from(p)).into_response())
}

async fn save_preferences(
    state: &AppState,
    headers: &HeaderMap,
    body: PreferencesInput,
    full: bool,
) -> Result<Response, Problem> {
    let mut errors = Vec::new();
    check_len(&mut errors, "locale", body.locale.as_deref(), 100);
    check_len(&mut errors, "currency", body.currency.as_deref(), 100);
    if full {
        for (f, present) in [
            ("locale", body.locale.is_some()),
            ("currency", body.currency.is_some()),
            ("marketing_opt_in", body.marketing_opt_in.is_some()),
        ] {
            if !present {
                errors.push(FieldError::new(f, "is required"));
            }
        }
    }
    valid(errors)?;
    let mut paths = Vec::new();
    if body.locale.is_some() {
        paths.push("locale");
    }
    if body.currency.is_some() {
        paths.push("currency");
    }
    if body.marketing_opt_in.is_some() {
        paths.push("marketing_opt_in");
    }
    if paths.is_empty() {
        return get_preferences(State(state.clone()), headers.clone()).await;
    }
    let msg = pb::UpdatePreferencesRequest {
        preferences: Some(pb::Preferences {
            locale: body.locale.unwrap_or_default(),
            currency: body.currency.unwrap_or_default(),
            marketing_opt_in: body.marketing_opt_in.unwrap_or_default(),
            update_time: None,
        }),
        update_mask: mask(paths),
    };
    let p = client(state)
        .update_preferences(grpc_request(msg, headers))
        .await
        .map_err(problem)?
        .into_inner();
    Ok(axum::Json(PreferencesView::from(p)).into_response())
}

/// Replace the caller's preferences (every field required).
#[utoipa::path(put, path = "/api/v1/users/me/preferences", tag = "users", operation_id = "putPreferences",
    request_body = PreferencesReplace, security(("bearer" = [])),
    responses(
        (status = 200, description = "Saved", body = PreferencesView),
        (status = 422, description = "A field is missing or invalid; `errors` names it", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
pub async fn put_preferences(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<PreferencesReplace>,
) -> Result<Response, Problem> {
    let body = PreferencesInput {
        locale: Some(body.locale),
        currency: Some(body.currency),
        marketing_opt_in: Some(body.marketing_opt_in),
    };
    save_preferences(&state, &headers, body, true).await
}

/// Change some of the caller's preferences.
#[utoipa::path(patch, path = "/api/v1/users/me/preferences", tag = "users", operation_id = "patchPreferences",
    request_body = PreferencesInput, security(("bearer" = [])),
    responses(
        (status = 200, description = "Saved", body = PreferencesView),
        (status = 422, description = "A field is invalid; `errors` names it", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
pub async fn patch_preferences(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<PreferencesInput>,
) -> Result<Response, Problem> {
    save_preferences(&state, &headers, body, false).await
}

/// The caller's wishlist, most recently added first.
#[utoipa::path(get, path = "/api/v1/users/me/wishlist", tag = "users", operation_id = "listWishlist",
    params(PageQuery), security(("bearer" = [])),
    responses((status = 200, description = "A page of the wishlist", body = WishlistPage)))]
pub async fn list_wishlist(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Result<Response, Problem> {
    let (limit, cursor) = page_parts(&q)?;
    let r = client(&state)
        .list_wishlist_items(grpc_request(
            pb::ListWishlistItemsRequest {
                page_size: limit,
                page_token: cursor,
            },
            &headers,
        ))
        .await
        .map_err(|s| cursor_problem(problem(s)))?
        .into_inner();
    Ok(axum::Json(WishlistPage {
        items: r.items.into_iter().map(WishlistItemView::from).collect(),
        next_cursor: (!r.next_page_token.is_empty()).then_some(r.next_page_token),
    })
    .into_response())
}

/// Put a product on the wishlist. Idempotent: a product already there keeps its time.
#[utoipa::path(put, path = "/api/v1/users/me/wishlist/{product_id}", tag = "users", operation_id = "addWishlistItem",
    params(("product_id" = Uuid, Path, description = "Product id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "On the wishlist", body = WishlistItemView),
        (status = 400, description = "`product_id` is not a UUID", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Already 500 items", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
pub async fn add_wishlist(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(product_id): Path<Uuid>,
) -> Result<Response, Problem> {
    let i = client(&state)
        .add_wishlist_item(grpc_request(
            pb::AddWishlistItemRequest {
                product_id: product_id.to_string(),
            },
            &headers,
        ))
        .await
        .map_err(problem)?
        .into_inner();
    Ok(axum::Json(WishlistItemView::from(i)).into_response())
}

/// Take a product off the wishlist. Idempotent.
#[utoipa::path(delete, path = "/api/v1/users/me/wishlist/{product_id}", tag = "users", operation_id = "removeWishlistItem",
    params(("product_id" = Uuid, Path, description = "Product id")), security(("bearer" = [])),
    responses((status = 204, description = "Not on the wishlist (any more)")))]
pub async fn remove_wishlist(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(product_id): Path<Uuid>,
) -> Result<Response, Problem> {
    client(&state)
        .remove_wishlist_item(grpc_request(
            pb::RemoveWishlistItemRequest {
                product_id: product_id.to_string(),
            },
            &headers,
        ))
        .await
        .map_err(problem)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Start an avatar upload: answers a presigned PUT URL bound to the type and size.
#[utoipa::path(post, path = "/api/v1/users/me/avatar", tag = "users", operation_id = "createAvatarUpload",
    request_body = AvatarUploadRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "PUT the image bytes to `upload_url` with `headers`", body = AvatarUploadView),
        (status = 422, description = "Type not accepted or size out of range", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
pub async fn create_avatar_upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<AvatarUploadRequest>,
) -> Result<Response, Problem> {
    let mut errors = Vec::new();
    check_len(&mut errors, "content_type", Some(&body.content_type), 100);
    valid(errors)?;
    let r = client(&state)
        .create_avatar_upload(grpc_request(
            pb::CreateAvatarUploadRequest {
                content_type: body.content_type,
                size_bytes: body.size_bytes,
            },
            &headers,
        ))
        .await
        .map_err(problem)?
        .into_inner();
    Ok((
        StatusCode::CREATED,
        axum::Json(AvatarUploadView {
            upload_url: r.upload_url,
            method: "PUT".into(),
            headers: r.upload_headers.into_iter().collect(),
            object_key: r.object_key,
            expires_at: rfc3339(r.expire_time),
        }),
    )
        .into_response())
}

/// Make the uploaded object the caller's avatar.
#[utoipa::path(post, path = "/api/v1/users/me/avatar/complete", tag = "users", operation_id = "completeAvatarUpload",
    request_body = CompleteAvatarRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "The profile with the new avatar", body = ProfileView),
        (status = 400, description = "The body is not valid JSON", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "Not uploaded yet, or the object differs from the announcement", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "The key was not issued to the caller", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
pub async fn complete_avatar(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<CompleteAvatarRequest>,
) -> Result<Response, Problem> {
    let mut errors = Vec::new();
    check_len(&mut errors, "object_key", Some(&body.object_key), 200);
    valid(errors)?;
    let p = client(&state)
        .complete_avatar_upload(grpc_request(
            pb::CompleteAvatarUploadRequest {
                object_key: body.object_key,
            },
            &headers,
        ))
        .await
        .map_err(problem)?
        .into_inner();
    Ok(axum::Json(ProfileView::from(p)).into_response())
}

/// A short-lived URL of the caller's avatar.
#[utoipa::path(get, path = "/api/v1/users/me/avatar", tag = "users", operation_id = "getAvatar",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Presigned GET URL", body = AvatarUrlView),
        (status = 404, description = "No avatar", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
pub async fn get_avatar(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let r = client(&state)
        .get_avatar_url(grpc_request(pb::GetAvatarUrlRequest {}, &headers))
        .await
        .map_err(problem)?
        .into_inner();
    Ok(axum::Json(AvatarUrlView {
        url: r.url,
        expires_at: rfc3339(r.expire_time),
    })
    .into_response())
}

/// Remove the caller's avatar. Idempotent.
#[utoipa::path(delete, path = "/api/v1/users/me/avatar", tag = "users", operation_id = "deleteAvatar",
    security(("bearer" = [])),
    responses((status = 200, description = "The profile without avatar", body = ProfileView)))]
pub async fn delete_avatar(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let p = client(&state)
        .delete_avatar(grpc_request(pb::DeleteAvatarRequest {}, &headers))
        .await
        .map_err(problem)?
        .into_inner();
    Ok(axum::Json(ProfileView::from(p)).into_response())
}

/// The users part of the OpenAPI document (merged into `crate::openapi::ApiDoc`).
#[derive(OpenApi)]
#[openapi(
    paths(
        get_me, patch_me, list_addresses, create_address, get_address, update_address,
        delete_address, get_preferences, put_preferences, patch_preferences, list_wishlist,
        add_wishlist, remove_wishlist, create_avatar_upload, complete_avatar, get_avatar,
        delete_avatar
    ),
    components(schemas(
        ProfileView, ProfilePatch, Address, AddressView, NewAddress, AddressInput, AddressList, PreferencesView,
        PreferencesInput, PreferencesReplace, WishlistItemView, WishlistPage, AvatarUploadRequest, AvatarUploadView,
        CompleteAvatarRequest, AvatarUrlView
    )),
    tags((name = "users", description = "The caller's profile, addresses, preferences, wishlist and avatar"))
)]
pub struct UserApiDoc;

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

    #[test]
    fn field_violations_are_named_as_in_the_body() {
        let s = tonic::Status::with_error_details(
            tonic::Code::InvalidArgument,
            "bad",
            ErrorDetails::with_bad_request(vec![FieldViolation::new(
                "address.country_code",
                "is not a country",
            )]),
        );
        let p = problem(s);
        assert_eq!(p.status, 422);
        assert_eq!(p.errors[0].field, "country_code");
        assert_eq!(
            problem(tonic::Status::not_found("No such address.")).status,
            404
        );
    }

    #[test]
    fn the_user_routes_are_documented() {
        let v: serde_json::Value = serde_json::from_str(crate::openapi::document()).unwrap();
        for (path, method) in [
            ("/api/v1/users/me", "get"),
            ("/api/v1/users/me", "patch"),
            ("/api/v1/users/me/addresses", "post"),
            ("/api/v1/users/me/addresses/{id}", "delete"),
            ("/api/v1/users/me/preferences", "put"),
            ("/api/v1/users/me/wishlist/{product_id}", "put"),
            ("/api/v1/users/me/avatar", "post"),
            ("/api/v1/users/me/avatar/complete", "post"),
        ] {
            let op = &v["paths"][path][method];
            assert!(op.is_object(), "{method} {path} missing");
            assert_eq!(op["tags"][0], "users");
            assert_eq!(op["security"][0]["bearer"], serde_json::json!([]));
        }
        let schemas = &v["components"]["schemas"];
        assert_eq!(
            schemas["ProfilePatch"]["properties"]["phone"]["pattern"],
            kit::contracts::address::PHONE_PATTERN
        );
        assert!(
            v["paths"]["/api/v1/users/me/addresses"]["post"]["requestBody"]["content"]
                ["application/json"]["schema"]["$ref"]
                .as_str()
                .unwrap()
                .ends_with("/NewAddress")
        );
        for name in [
            "NewAddress",
            "AddressInput",
            "AddressView",
            "ProfileView",
            "AvatarUploadView",
        ] {
            assert!(schemas[name]["example"].is_object(), "{name}");
        }
    }
}
