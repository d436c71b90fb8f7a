//! The gRPC API (`storefront.auth.v1.AuthService`): request validation and proto conversion
//! around [`crate::service::Auth`].

pub mod error;

use std::net::IpAddr;

use kit::jwt::{Claims, Role};
use storefront_proto::auth::v1 as pb;
use storefront_proto::auth::v1::auth_service_server::AuthService;
use time::OffsetDateTime;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::domain::{Email, Invalid, Password, parse_display_name, roles_from_db};
use crate::service::{Auth, Client, Tokens};
use crate::store::users::UserRow;
use error::{Error, Result};

/// Longest `User-Agent` kept.
const USER_AGENT_MAX: usize = 512;

/// The tonic service.
#[derive(Clone)]
pub struct AuthApi {
    pub auth: Auth,
}

fn client(info: Option<&pb::ClientInfo>) -> Result<Client> {
    let Some(info) = info else {
        return Ok(Client::default());
    };
    let ip = match info.ip.trim() {
        "" => None,
        raw => Some(
            raw.parse::<IpAddr>()
                .map_err(|_| Invalid::new("client.ip", "is not an IP address"))?,
        ),
    };
    let mut ua = info.user_agent.clone();
    if ua.len() > USER_AGENT_MAX {
        let mut end = USER_AGENT_MAX;
        while !ua.is_char_boundary(end) {
            end -= 1;
        }
        ua.truncate(end);
    }
    Ok(Client {
        ip,
        user_agent: (!ua.is_empty()).then_some(ua),
    })
}

/// The bearer token of the `authorization` metadata, if any.
fn bearer<T>(req: &Request<T>) -> Option<&str> {
    let v = req.metadata().get("authorization")?.to_str().ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}

fn timestamp(t: OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: t.nanosecond() as i32,
    }
}

fn pb_role(r: Role) -> pb::Role {
    match r {
        Role::Customer => pb::Role::Customer,
        Role::Admin => pb::Role::Admin,
    }
}

pub fn pb_user(u: &UserRow) -> pb::User {
    pb::User {
        id: u.id.to_string(),
        email: u.email.clone(),
        roles: roles_from_db(&u.roles)
            .into_iter()
            .map(|r| pb_role(r) as i32)
            .collect(),
        create_time: Some(timestamp(u.created_at)),
        update_time: Some(timestamp(u.updated_at)),
    }
}

fn pb_tokens(t: Tokens) -> pb::TokenResponse {
    pb::TokenResponse {
        access_token: t.access_token,
        token_type: "Bearer".into(),
        expires_in: t.expires_in as i64,
        refresh_token: t.refresh_token,
    }
}

/// Collects the field errors of several parses.
fn all_valid<A, B>(a: Result<A, Invalid>, b: Result<B, Invalid>) -> Result<(A, B)> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (a, b) => Err(Error::Invalid(
            [a.err(), b.err()].into_iter().flatten().collect(),
        )),
    }
}

fn required(field: &'static str, v: &str) -> Result<(), Invalid> {
    if v.is_empty() {
        Err(Invalid::new(field, "is required"))
    } else {
        Ok(())
    }
}

fn parse_id(field: &'static str, raw: &str) -> Result<Uuid> {
    Uuid::parse_str(raw.trim()).map_err(|_| Invalid::new(field, "is not a UUID").into())
}

fn parse_role(raw: i32) -> Result<Role> {
    match pb::Role::try_from(raw) {
        Ok(pb::Role::Customer) => Ok(Role::Customer),
        Ok(pb::Role::Admin) => Ok(Role::Admin),
        _ => Err(Invalid::new("role", "is required (ROLE_CUSTOMER or ROLE_ADMIN)").into()),
    }
}

impl AuthApi {
    async fn caller<T>(&self, req: &Request<T>) -> Result<Claims> {
        self.auth
            .verifier
            .verify_grpc_request(req)
            .await
            .map_err(|s| Error::Unauthenticated(s.message().to_owned()))
    }

    async fn admin<T>(&self, req: &Request<T>) -> Result<Claims> {
        let c = self.caller(req).await?;
        c.require_role(Role::Admin)?;
        Ok(c)
    }

    async fn target(&self, user_id: Option<&str>, email: Option<&str>) -> Result<Uuid> {
        match (user_id, email) {
            (Some(id), _) => parse_id("user_id", id),
            (None, Some(e)) => Ok(self.auth.user_by_email(e).await?.id),
            (None, None) => Err(Invalid::new("target", "set `user_id` or `email`").into()),
        }
    }
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    async fn register(
        &self,
        req: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::RegisterResponse>, Status> {
        let r = req.into_inner();
        let (email, password) = all_valid(
            Email::parse("email", &r.email),
            Password::parse("password", &r.password),
        )?;
        let display_name =
            parse_display_name("display_name", &r.display_name).map_err(Error::from)?;
        let client = client(r.client.as_ref())?;
        let key = match r.idempotency_key.as_str() {
            "" => None,
            k => Some(
                kit::contracts::idempotency::check("idempotency_key", k.as_bytes())
                    .map_err(|e| Error::from(Invalid::new("idempotency_key", e.message)))?,
            ),
        };
        let (user, tokens) = self
            .auth
            .register(email, password, display_name, &client, key)
            .await?;
        Ok(Response::new(pb::RegisterResponse {
            user: Some(pb_user(&user)),
            tokens: Some(pb_tokens(tokens)),
        }))
    }

    async fn login(
        &self,
        req: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::TokenResponse>, Status> {
        let r = req.into_inner();
        all_valid(
            required("email", r.email.trim()),
            required("password", &r.password),
        )?;
        let client = client(r.client.as_ref())?;
        let tokens = self.auth.login(&r.email, r.password, &client).await?;
        Ok(Response::new(pb_tokens(tokens)))
    }

    async fn refresh(
        &self,
        req: Request<pb::RefreshRequest>,
    ) -> Result<Response<pb::TokenResponse>, Status> {
        let r = req.into_inner();
        required("refresh_token", &r.refresh_token).map_err(Error::from)?;
        let client = client(r.client.as_ref())?;
        let tokens = self.auth.refresh(&r.refresh_token, &client).await?;
        Ok(Response::new(pb_tokens(tokens)))
    }

    async fn logout(&self, req: Request<pb::LogoutRequest>) -> Result<Response<()>, Status> {
        // The token's jti and exp come from the verified token; an invalid one counts as absent.
        let access = match bearer(&req) {
            Some(t) => self.auth.verifier.verify(t).await.ok(),
            None => None,
        };
        let r = req.into_inner();
        let refresh = (!r.refresh_token.is_empty()).then_some(r.refresh_token.as_str());
        self.auth.logout(access, refresh).await?;
        Ok(Response::new(()))
    }

    async fn logout_all(
        &self,
        req: Request<pb::LogoutAllRequest>,
    ) -> Result<Response<pb::LogoutAllResponse>, Status> {
        let c = self.caller(&req).await?;
        let n = self.auth.logout_all(&c).await?;
        Ok(Response::new(pb::LogoutAllResponse {
            revoked_sessions: n,
        }))
    }

    async fn change_password(
        &self,
        req: Request<pb::ChangePasswordRequest>,
    ) -> Result<Response<pb::TokenResponse>, Status> {
        let c = self.caller(&req).await?;
        let r = req.into_inner();
        let (_, new) = all_valid(
            required("current_password", &r.current_password),
            Password::parse("new_password", &r.new_password),
        )?;
        let client = client(r.client.as_ref())?;
        let tokens = self
            .auth
            .change_password(&c, r.current_password, new, &client)
            .await?;
        Ok(Response::new(pb_tokens(tokens)))
    }

    async fn get_jwks(
        &self,
        _req: Request<pb::GetJwksRequest>,
    ) -> Result<Response<pb::GetJwksResponse>, Status> {
        let ring = self.auth.issuer.ring();
        let keys = ring
            .jwks()
            .keys
            .iter()
            .map(|k| pb::Jwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                x: match &k.algorithm {
                    jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(p) => p.x.clone(),
                    _ => String::new(),
                },
                kid: k.common.key_id.clone().unwrap_or_default(),
                alg: "EdDSA".into(),
                r#use: "sig".into(),
            })
            .collect();
        Ok(Response::new(pb::GetJwksResponse {
            keys,
            max_age_seconds: self.auth.jwks_max_age_secs as i64,
        }))
    }

    async fn get_user(
        &self,
        req: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let c = self.caller(&req).await?;
        let r = req.into_inner();
        let id = if r.user_id.is_empty() {
            c.sub
        } else {
            parse_id("user_id", &r.user_id)?
        };
        c.require_self_or_admin(id).map_err(Error::from)?;
        let user = self.auth.user(id).await?;
        Ok(Response::new(pb_user(&user)))
    }

    async fn create_admin(
        &self,
        req: Request<pb::CreateAdminRequest>,
    ) -> Result<Response<pb::User>, Status> {
        self.admin(&req).await?;
        let r = req.into_inner();
        let (email, password) = all_valid(
            Email::parse("email", &r.email),
            Password::parse("password", &r.password),
        )?;
        let user = self.auth.create_admin(email, password).await?;
        Ok(Response::new(pb_user(&user)))
    }

    async fn grant_role(
        &self,
        req: Request<pb::GrantRoleRequest>,
    ) -> Result<Response<pb::User>, Status> {
        use pb::grant_role_request::Target;
        self.admin(&req).await?;
        let r = req.into_inner();
        let role = parse_role(r.role)?;
        let id = match &r.target {
            Some(Target::UserId(id)) => self.target(Some(id), None).await?,
            Some(Target::Email(e)) => self.target(None, Some(e)).await?,
            None => self.target(None, None).await?,
        };
        let user = self.auth.grant_role(id, role).await?;
        Ok(Response::new(pb_user(&user)))
    }

    async fn revoke_role(
        &self,
        req: Request<pb::RevokeRoleRequest>,
    ) -> Result<Response<pb::User>, Status> {
        use pb::revoke_role_request::Target;
        self.admin(&req).await?;
        let r = req.into_inner();
        let role = parse_role(r.role)?;
        let id = match &r.target {
            Some(Target::UserId(id)) => self.target(Some(id), None).await?,
            Some(Target::Email(e)) => self.target(None, Some(e)).await?,
            None => self.target(None, None).await?,
        };
        let user = self.auth.revoke_role(id, role).await?;
        Ok(Response::new(pb_user(&user)))
    }
}
