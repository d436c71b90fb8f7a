//! `/api/v1/auth/*` and `/.well-known/jwks.json`: REST in front of the auth service's gRPC API.
//! Bodies are checked here for shape and size (422 naming the field); the service applies its
//! rules and its field violations and retry hints become problem `errors` and `Retry-After`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kit::problem::extract::Json;
use kit::problem::{FieldError, Problem};
use kit::upstream::grpc_request;
use serde::{Deserialize, Serialize};
use storefront_proto::auth::v1 as pb;
use storefront_proto::auth::v1::auth_service_client::AuthServiceClient;
use tonic::transport::Channel;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

use super::{rfc3339, valid};
use crate::AppState;
use crate::client_ip::ClientIp;
use crate::openapi::Problem as ProblemDoc;

/// Size caps checked before anything is sent on (the service checks the rules).
const EMAIL_MAX: usize = 254;
const PASSWORD_MAX: usize = 128;
/// Login passwords longer than this are refused here; up to it the service answers 401.
const LOGIN_PASSWORD_MAX: usize = 1024;
const DISPLAY_NAME_MAX: usize = 100;
const REFRESH_TOKEN_MAX: usize = 512;

/// The auth routes: public ones, and the ones behind [`crate::protect`].
pub fn router(state: &AppState) -> Router<AppState> {
    let public = Router::new()
        .route("/api/v1/auth/register", post(register))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/refresh", post(refresh))
        .route("/api/v1/auth/logout", post(logout))
        .route("/.well-known/jwks.json", get(jwks));
    let private = Router::new()
        .route("/api/v1/auth/logout-all", post(logout_all))
        .route("/api/v1/auth/change-password", post(change_password));
    public.merge(crate::protect(private, state))
}

// ---------- bodies ----------

/// A new customer account.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery", "display_name": "Ada"}))]
pub struct RegisterRequest {
    /// E-mail address, at most 254 characters; trimmed and lowercased.
    #[schema(example = "ada@example.com", max_length = 254)]
    pub email: String,
    /// 8 to 128 characters; very common passwords are refused.
    #[schema(example = "correct horse battery", min_length = 8, max_length = 128, format = Password)]
    pub password: String,
    /// Shown on the profile; at most 100 characters.
    #[serde(default)]
    #[schema(example = "Ada", max_length = 100)]
    pub display_name: Option<String>,
}

/// E-mail and password.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery"}))]
pub struct LoginRequest {
    /// Not blank.
    #[schema(
        example = "ada@example.com",
        max_length = 254,
        pattern = "[^\\x09-\\x0d\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
    )]
    pub email: String,
    #[schema(example = "correct horse battery", format = Password, min_length = 1)]
    pub password: String,
}

/// The refresh token of the last token response.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"refresh_token": "3q2-7wQk0m8n1Yt0mZ0Jz5v3XQx9yW4u6A1b2C3d4E5"}))]
pub struct RefreshRequest {
    #[schema(
        example = "3q2-7wQk0m8n1Yt0mZ0Jz5v3XQx9yW4u6A1b2C3d4E5",
        min_length = 1
    )]
    pub refresh_token: String,
}

/// Optional: the refresh token of this session, to end it too.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(example = json!({"refresh_token": "3q2-7wQk0m8n1Yt0mZ0Jz5v3XQx9yW4u6A1b2C3d4E5"}))]
pub struct LogoutRequest {
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// The current password and the new one.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"current_password": "correct horse battery", "new_password": "another long passphrase"}))]
pub struct ChangePasswordRequest {
    #[schema(format = Password)]
    pub current_password: String,
    /// 8 to 128 characters, different from the current one.
    #[schema(format = Password, min_length = 8, max_length = 128)]
    pub new_password: String,
}

/// OAuth 2.0 token response (RFC 6749 section 5.1).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"access_token": "eyJhbGciOiJFZERTQSIsImtpZCI6Ii4uLiJ9.eyJzdWIiOiIuLi4ifQ.c2ln", "token_type": "Bearer", "expires_in": 900, "refresh_token": "3q2-7wQk0m8n1Yt0mZ0Jz5v3XQx9yW4u6A1b2C3d4E5"}))]
pub struct TokenResponse {
    /// EdDSA JWT to send as `Authorization: Bearer ...`.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds the access token is valid.
    #[schema(example = 900)]
    pub expires_in: i64,
    /// Single use: `POST /api/v1/auth/refresh` spends it and returns the next one.
    pub refresh_token: String,
}

impl From<pb::TokenResponse> for TokenResponse {
    fn from(t: pb::TokenResponse) -> Self {
        Self {
            access_token: t.access_token,
            token_type: t.token_type,
            expires_in: t.expires_in,
            refresh_token: t.refresh_token,
        }
    }
}

/// An account.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountView {
    pub id: Uuid,
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// `customer`, and `admin` for operators.
    #[schema(example = json!(["customer"]))]
    pub roles: Vec<String>,
    /// RFC 3339, UTC.
    #[schema(example = "2026-01-31T12:00:00Z")]
    pub created_at: Option<String>,
}

/// The new account, signed in.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"user": {"id": "0194c1e4-7b1a-7c3e-9d2f-3a4b5c6d7e8f", "email": "ada@example.com", "roles": ["customer"], "created_at": "2026-01-31T12:00:00Z"}, "access_token": "eyJhbGciOiJFZERTQSIsImtpZCI6Ii4uLiJ9.eyJzdWIiOiIuLi4ifQ.c2ln", "token_type": "Bearer", "expires_in": 900, "refresh_token": "3q2-7wQk0m8n1Yt0mZ0Jz5v3XQx9yW4u6A1b2C3d4E5"}))]
pub struct RegisterResponse {
    pub user: AccountView,
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    #[schema(example = 900)]
    pub expires_in: i64,
    pub refresh_token: String,
}

/// How many sessions ended.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LogoutAllResponse {
    #[schema(example = 3)]
    pub revoked_sessions: i64,
}

/// An Ed25519 public key (RFC 8037).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JwkView {
    #[schema(example = "OKP")]
    pub kty: String,
    #[schema(example = "Ed25519")]
    pub crv: String,
    #[schema(example = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")]
    pub x: String,
    #[schema(example = "kLsd0nSx2BdoNy8nZ3b6bY8mB7G2S2tX9s4yKcTqQ1E")]
    pub kid: String,
    #[schema(example = "EdDSA")]
    pub alg: String,
    #[serde(rename = "use")]
    #[schema(example = "sig")]
    pub use_: String,
}

/// A JWK Set: the keys that verify access tokens, the signing one first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "2026-02", "alg": "EdDSA", "use": "sig"}]}))]
pub struct JwksView {
    pub keys: Vec<JwkView>,
}

// ---------- checks and conversions ----------

fn check_len(errors: &mut Vec<FieldError>, field: &str, value: &str, required: bool, max: usize) {
    if required && value.trim().is_empty() {
        errors.push(FieldError::new(field, "is required"));
    } else if value.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
}

fn client_info(ip: Option<Extension<ClientIp>>, headers: &HeaderMap) -> pb::ClientInfo {
    pb::ClientInfo {
        ip: ip
            .map(|Extension(ClientIp(ip))| ip.to_string())
            .unwrap_or_default(),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(512).collect())
            .unwrap_or_default(),
    }
}

fn client(state: &AppState) -> AuthServiceClient<Channel> {
    AuthServiceClient::new(state.upstreams.auth.clone())
}

/// Token responses must not be cached (RFC 6749 section 5.1).
fn no_store(status: StatusCode, body: impl Serialize) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::PRAGMA, HeaderValue::from_static("no-cache")),
        ],
        axum::Json(body),
    )
        .into_response()
}

fn account(u: pb::User) -> AccountView {
    AccountView {
        id: Uuid::parse_str(&u.id).unwrap_or_default(),
        email: u.email,
        roles: u
            .roles
            .iter()
            .filter_map(|r| match pb::Role::try_from(*r) {
                Ok(pb::Role::Customer) => Some("customer".to_owned()),
                Ok(pb::Role::Admin) => Some("admin".to_owned()),
                _ => None,
            })
            .collect(),
        created_at: rfc3339(u.create_time),
    }
}

// ---------- handlers ----------

/// Create a customer account and sign it in.
#[utoipa::path(
    post,
    path = "/api/v1/auth/register",
    tag = "auth",
    operation_id = "register",
    request_body = RegisterRequest,
    params(
        ("Idempotency-Key" = Option<String>, Header, pattern = r"^[!-~]([ -~]{0,253}[!-~])?$", description = "Optional, 1 to 255 printable ASCII characters, not starting or ending with a space. A retry with the same key, e-mail and password after the account was created answers 201 again with the same account, signed in, instead of 409, so a sign-up whose answer was lost can be retried safely"),
    ),
    responses(
        (status = 201, description = "Account created and signed in (or, for a retry with the same Idempotency-Key, e-mail and password, the account the first attempt created, signed in again)", body = RegisterResponse),
        (status = 400, description = "The body is not valid JSON, or the Idempotency-Key is malformed", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "An account with this e-mail address exists (in any letter case)", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "A field is missing or breaks a rule; `errors` names it", body = ProblemDoc, content_type = "application/problem+json",
            example = json!({"type": "about:blank", "title": "Unprocessable Entity", "status": 422, "detail": "The field `password` is invalid.", "errors": [{"field": "password", "message": "must be at least 8 characters"}]})),
        (status = 429, description = "Too many sign-ups from this address", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "The service is busy (password hashing is bounded); nothing was created. Retry after `Retry-After` seconds", body = ProblemDoc, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
pub async fn register(
    State(state): State<AppState>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    Json(body): Json<RegisterRequest>,
) -> Result<Response, Problem> {
    let mut errors = Vec::new();
    check_len(&mut errors, "email", &body.email, true, EMAIL_MAX);
    check_len(&mut errors, "password", &body.password, true, PASSWORD_MAX);
    if let Some(d) = &body.display_name {
        check_len(&mut errors, "display_name", d, false, DISPLAY_NAME_MAX);
    }
    valid(errors)?;
    let key = super::idempotency_key(&headers)?;
    let msg = pb::RegisterRequest {
        email: body.email,
        password: body.password,
        display_name: body.display_name.unwrap_or_default(),
        client: Some(client_info(ip, &headers)),
        idempotency_key: key.unwrap_or_default(),
    };
    let r = client(&state)
        .register(grpc_request(msg, &headers))
        .await
        .map_err(Problem::from)?
        .into_inner();
    let (Some(user), Some(tokens)) = (r.user, r.tokens) else {
        return Err(Problem::internal(
            "auth answered Register without user or tokens",
        ));
    };
    Ok(no_store(
        StatusCode::CREATED,
        RegisterResponse {
            user: account(user),
            access_token: tokens.access_token,
            token_type: tokens.token_type,
            expires_in: tokens.expires_in,
            refresh_token: tokens.refresh_token,
        },
    ))
}

/// Exchange e-mail and password for a token pair.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    operation_id = "login",
    request_body = LoginRequest,
    params(("X-Cart-Token" = Option<String>, Header, description = "A guest cart's token: its lines are merged into the user's cart (best effort; never fails the login)")),
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 400, description = "The body is not valid JSON", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "Wrong e-mail or password (the same answer for both)", body = ProblemDoc, content_type = "application/problem+json",
            example = json!({"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": "The e-mail address or password is incorrect."})),
        (status = 422, description = "A field is missing or too long", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts for this account or address; see `Retry-After`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "The service is busy (password hashing is bounded); the attempt was not counted. Retry after `Retry-After` seconds", body = ProblemDoc, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    Json(body): Json<LoginRequest>,
) -> Result<Response, Problem> {
    let mut errors = Vec::new();
    check_len(&mut errors, "email", &body.email, true, EMAIL_MAX);
    check_len(
        &mut errors,
        "password",
        &body.password,
        true,
        LOGIN_PASSWORD_MAX,
    );
    valid(errors)?;
    let msg = pb::LoginRequest {
        email: body.email,
        password: body.password,
        client: Some(client_info(ip, &headers)),
    };
    let t = client(&state)
        .login(grpc_request(msg, &headers))
        .await
        .map_err(Problem::from)?
        .into_inner();
    let tokens = TokenResponse::from(t);
    if let Some(cart_token) = headers.get("x-cart-token") {
        merge_guest_cart(&state, &headers, cart_token, &tokens.access_token).await;
    }
    Ok(no_store(StatusCode::OK, tokens))
}

/// Moves the guest cart named by `X-Cart-Token` into the user's cart (cart's
/// `POST /api/v1/cart/merge` with the new access token). Best effort: a failed merge is logged
/// and never fails the login (the guest cart stays and can be merged later).
async fn merge_guest_cart(
    state: &AppState,
    incoming: &HeaderMap,
    cart_token: &HeaderValue,
    access_token: &str,
) {
    let mut forwarded = HeaderMap::new();
    if let Some(id) = incoming.get(kit::problem::REQUEST_ID_HEADER) {
        forwarded.insert(kit::problem::REQUEST_ID_HEADER, id.clone());
    }
    let result = state
        .upstreams
        .cart
        .request_forwarding(axum::http::Method::POST, "/api/v1/cart/merge", &forwarded)
        .bearer_auth(access_token)
        .header("x-cart-token", cart_token.clone())
        .send()
        .await;
    match result {
        Ok(r) if r.status().is_success() => tracing::debug!("guest cart merged at login"),
        Ok(r) => tracing::warn!(status = %r.status(), "guest cart not merged at login"),
        Err(e) => tracing::warn!(error = %e, "guest cart not merged at login: cart unavailable"),
    }
}

/// Spend a refresh token for a new token pair.
#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    tag = "auth",
    operation_id = "refresh",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "The next token pair of this session", body = TokenResponse),
        (status = 401, description = "The token is unknown, expired, spent or revoked. Presenting a spent token ends the whole session.", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "`refresh_token` is missing or too long", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Too many refreshes from this address", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn refresh(
    State(state): State<AppState>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    Json(body): Json<RefreshRequest>,
) -> Result<Response, Problem> {
    let mut errors = Vec::new();
    check_len(
        &mut errors,
        "refresh_token",
        &body.refresh_token,
        true,
        REFRESH_TOKEN_MAX,
    );
    valid(errors)?;
    let msg = pb::RefreshRequest {
        refresh_token: body.refresh_token,
        client: Some(client_info(ip, &headers)),
    };
    let t = client(&state)
        .refresh(grpc_request(msg, &headers))
        .await
        .map_err(Problem::from)?
        .into_inner();
    Ok(no_store(StatusCode::OK, TokenResponse::from(t)))
}

/// End this session: the access token (if sent) is refused from now on and the refresh token's
/// session (if sent) ends. The body is optional.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    operation_id = "logout",
    request_body(content = Option<LogoutRequest>, description = "Optional"),
    security((), ("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Neither a valid access token nor a refresh token was sent", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "The refresh token belongs to another user", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    // No body, or `null`: no refresh token.
    let body: LogoutRequest = if body.iter().all(u8::is_ascii_whitespace) {
        LogoutRequest::default()
    } else if !kit::problem::extract::json_content_type(&headers) {
        return Err(Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE)
            .with_detail("Send the body as JSON with `Content-Type: application/json`."));
    } else {
        kit::problem::extract::from_json::<Option<LogoutRequest>>(&body)?.unwrap_or_default()
    };
    let mut errors = Vec::new();
    if let Some(t) = &body.refresh_token {
        check_len(&mut errors, "refresh_token", t, false, REFRESH_TOKEN_MAX);
    }
    valid(errors)?;
    let msg = pb::LogoutRequest {
        refresh_token: body.refresh_token.unwrap_or_default(),
    };
    client(&state)
        .logout(grpc_request(msg, &headers))
        .await
        .map_err(Problem::from)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// End every session of the caller.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout-all",
    tag = "auth",
    operation_id = "logoutAll",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every refresh token of the caller is revoked and this access token refused", body = LogoutAllResponse),
        (status = 401, description = "No valid access token", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn logout_all(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let r = client(&state)
        .logout_all(grpc_request(pb::LogoutAllRequest {}, &headers))
        .await
        .map_err(Problem::from)?
        .into_inner();
    Ok(axum::Json(LogoutAllResponse {
        revoked_sessions: r.revoked_sessions,
    })
    .into_response())
}

/// Change the caller's password. Every other session ends; a new token pair is returned.
#[utoipa::path(
    post,
    path = "/api/v1/auth/change-password",
    tag = "auth",
    operation_id = "changePassword",
    request_body = ChangePasswordRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed; use the returned tokens from now on", body = TokenResponse),
        (status = 401, description = "No valid access token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "`current_password` is wrong or `new_password` breaks a rule", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong attempts", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    Json(body): Json<ChangePasswordRequest>,
) -> Result<Response, Problem> {
    let mut errors = Vec::new();
    check_len(
        &mut errors,
        "current_password",
        &body.current_password,
        true,
        LOGIN_PASSWORD_MAX,
    );
    check_len(
        &mut errors,
        "new_password",
        &body.new_password,
        true,
        PASSWORD_MAX,
    );
    valid(errors)?;
    let msg = pb::ChangePasswordRequest {
        current_password: body.current_password,
        new_password: body.new_password,
        client: Some(client_info(ip, &headers)),
    };
    let t = client(&state)
        .change_password(grpc_request(msg, &headers))
        .await
        .map_err(Problem::from)?
        .into_inner();
    Ok(no_store(StatusCode::OK, TokenResponse::from(t)))
}

/// The public keys that verify access tokens (JWK Set, RFC 7517).
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "auth",
    operation_id = "getJwks",
    responses(
        (status = 200, description = "The key set; cacheable as `Cache-Control` says", body = JwksView),
        (status = 503, description = "The auth service is unavailable", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn jwks(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, Problem> {
    let r = client(&state)
        .get_jwks(grpc_request(pb::GetJwksRequest {}, &headers))
        .await
        .map_err(Problem::from)?
        .into_inner();
    let max_age = r.max_age_seconds.clamp(0, 3600);
    let body = JwksView {
        keys: r
            .keys
            .into_iter()
            .map(|k| JwkView {
                kty: k.kty,
                crv: k.crv,
                x: k.x,
                kid: k.kid,
                alg: k.alg,
                use_: k.r#use,
            })
            .collect(),
    };
    Ok((
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_str(&format!("public, max-age={max_age}"))
                .map_err(Problem::internal)?,
        )],
        axum::Json(body),
    )
        .into_response())
}

/// The auth part of the OpenAPI document (merged into `crate::openapi::ApiDoc`).
#[derive(OpenApi)]
#[openapi(
    paths(register, login, refresh, logout, logout_all, change_password, jwks),
    components(schemas(
        RegisterRequest,
        LoginRequest,
        RefreshRequest,
        LogoutRequest,
        ChangePasswordRequest,
        TokenResponse,
        RegisterResponse,
        AccountView,
        LogoutAllResponse,
        JwksView,
        JwkView
    )),
    tags((name = "auth", description = "Accounts, sign-in, token refresh and sign-out"))
)]
pub struct AuthApiDoc;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

    #[test]
    fn auth_statuses_become_problems() {
        let s = tonic::Status::with_error_details(
            tonic::Code::InvalidArgument,
            "`password` must be at least 8 characters.",
            ErrorDetails::with_bad_request(vec![FieldViolation::new(
                "password",
                "must be at least 8 characters",
            )]),
        );
        let p = Problem::from(s);
        assert_eq!(p.status, 422);
        assert_eq!(p.errors[0].field, "password");

        let s = tonic::Status::with_error_details(
            tonic::Code::ResourceExhausted,
            "Too many attempts. Try again in 30 s.",
            ErrorDetails::with_retry_info(Some(Duration::from_secs(30))),
        );
        let p = Problem::from(s);
        assert_eq!(p.status, 429);
        assert_eq!(p.headers[header::RETRY_AFTER], "30");

        let p = Problem::from(tonic::Status::unauthenticated("wrong"));
        assert_eq!(p.status, 401);
        assert!(p.headers.contains_key(header::WWW_AUTHENTICATE));
        assert_eq!(
            Problem::from(tonic::Status::already_exists("taken")).status,
            409
        );
        // Without details an invalid argument is still a 400 with the message.
        let p = Problem::from(tonic::Status::invalid_argument("`client.ip` is not an IP"));
        assert_eq!(p.status, 400);
    }

    #[test]
    fn the_auth_routes_are_documented_with_schemas_and_examples() {
        let v: serde_json::Value = serde_json::from_str(crate::openapi::document()).unwrap();
        for (path, method) in [
            ("/api/v1/auth/register", "post"),
            ("/api/v1/auth/login", "post"),
            ("/api/v1/auth/refresh", "post"),
            ("/api/v1/auth/logout", "post"),
            ("/api/v1/auth/logout-all", "post"),
            ("/api/v1/auth/change-password", "post"),
            ("/.well-known/jwks.json", "get"),
        ] {
            let op = &v["paths"][path][method];
            assert!(op.is_object(), "{path} missing");
            assert_eq!(op["tags"][0], "auth", "{path}");
        }
        let schemas = &v["components"]["schemas"];
        for name in [
            "RegisterRequest",
            "LoginRequest",
            "TokenResponse",
            "JwksView",
        ] {
            assert!(
                schemas[name]["example"].is_object(),
                "{name}: {}",
                schemas[name]
            );
        }
        assert_eq!(
            v["paths"]["/api/v1/auth/logout-all"]["post"]["security"][0]["bearer"],
            serde_json::json!([])
        );
    }
}
