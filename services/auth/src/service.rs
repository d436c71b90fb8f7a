//! What the auth API does, independent of gRPC: sign-up, sign-in, rotation, sign-out, password
//! changes and roles, over auth_db, the Redis deny list and the outbox.

use std::net::IpAddr;
use std::time::Duration;

use kit::cache::Keys;
use kit::contracts::events::user::UserRegistered;
use kit::jwt::{Claims, JwksVerifier, Role};
use kit::outbox::OutboxEvent;
use redis::aio::ConnectionManager;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::api::error::{Error, Result, bad_credentials, bad_refresh, email_taken};
use crate::domain::{Email, Password, roles_from_db};
use crate::password::Hasher;
use crate::store::on_constraint;
use crate::store::refresh_tokens::{self, NewToken};
use crate::store::users::{self, UserRow};
use crate::throttle::Throttle;
use crate::tokens::{Issuer, RefreshToken, hash_refresh};
use kit::work::Reservation;
use sha2::{Digest, Sha256};

/// `source` of the events auth publishes.
pub const EVENT_SOURCE: &str = kit::contracts::events::sources::AUTH;
/// Longest refresh token looked up (a real one is 43 characters).
const MAX_REFRESH_LEN: usize = 256;

/// Who is calling (from the gateway): for throttling and the session record.
#[derive(Clone, Debug, Default)]
pub struct Client {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

/// A token pair.
#[derive(Clone, Debug)]
pub struct Tokens {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: String,
}

/// The service and everything it uses. Cheap to clone.
#[derive(Clone)]
pub struct Auth {
    pub pool: PgPool,
    pub issuer: Issuer,
    pub hasher: Hasher,
    pub throttle: Throttle,
    pub redis: ConnectionManager,
    pub keys: Keys,
    pub verifier: JwksVerifier,
    pub refresh_ttl: Duration,
    pub jwks_max_age_secs: u64,
    pub redis_timeout: Duration,
}

fn role_names(roles: &[Role]) -> Vec<&'static str> {
    roles.iter().map(|r| r.as_str()).collect()
}

/// The `user.registered` event (the user service seeds the profile from it).
pub fn registered_event(user: &UserRow) -> OutboxEvent {
    OutboxEvent::of(
        user.id.to_string(),
        &UserRegistered {
            user_id: user.id,
            email: user.email.clone(),
            display_name: user.display_name.clone(),
            roles: user.roles.clone(),
            registered_at: Some(user.created_at),
        },
    )
}

impl Auth {
    /// Inserts the first token of a new family (a new sign-in) or the next of `family`.
    async fn new_refresh(
        &self,
        conn: &mut PgConnection,
        user_id: Uuid,
        family: Option<Uuid>,
        client: &Client,
    ) -> Result<RefreshToken> {
        let t = RefreshToken::generate();
        refresh_tokens::insert(
            conn,
            &NewToken {
                user_id,
                family_id: family.unwrap_or_else(Uuid::now_v7),
                hash: &t.hash,
                expires_at: OffsetDateTime::now_utc() + self.refresh_ttl,
                client_ip: client.ip,
                user_agent: client.user_agent.as_deref(),
            },
        )
        .await?;
        Ok(t)
    }

    fn pair(&self, user: &UserRow, refresh: RefreshToken) -> Result<Tokens> {
        let access = self
            .issuer
            .access_token(user.id, roles_from_db(&user.roles))?;
        Ok(Tokens {
            access_token: access.token,
            expires_in: self.issuer.ttl().as_secs(),
            refresh_token: refresh.value,
        })
    }

    /// Creates an account with `roles`, its `user.registered` event and (with `client`) a
    /// first session, in one transaction, hashing on the reserved worker.
    #[allow(clippy::too_many_arguments)]
    async fn create_account(
        &self,
        worker: &Reservation,
        email: &Email,
        password: &Password,
        display_name: Option<&str>,
        roles: &[Role],
        client: Option<&Client>,
        registration_key: Option<&[u8]>,
    ) -> Result<(UserRow, Option<RefreshToken>)> {
        let hash = self
            .hasher
            .hash_with(worker, password.expose().to_owned())
            .await?;
        let mut tx = self.pool.begin().await?;
        let user = users::insert(
            &mut tx,
            Uuid::now_v7(),
            email.as_str(),
            &hash,
            &role_names(roles),
            display_name,
            registration_key,
        )
        .await
        .map_err(|e| {
            if on_constraint(&e, users::EMAIL_KEY) {
                email_taken()
            } else {
                e.into()
            }
        })?;
        kit::outbox::enqueue(&mut tx, &registered_event(&user)).await?;
        let refresh = match client {
            Some(c) => Some(self.new_refresh(&mut tx, user.id, None, c).await?),
            None => None,
        };
        tx.commit().await?;
        tracing::info!(user_id = %user.id, "account created");
        Ok((user, refresh))
    }

    /// Signs up and in. The hashing worker is taken first, so a busy service refuses (503)
    /// before anything is counted or written. With `idempotency_key`, a retry (same key,
    /// e-mail and password) of a sign-up that already created the account answers as the first
    /// attempt did: the same account, signed in.
    pub async fn register(
        &self,
        email: Email,
        password: Password,
        display_name: Option<String>,
        client: &Client,
        idempotency_key: Option<&str>,
    ) -> Result<(UserRow, Tokens)> {
        let worker = self.hasher.reserve().await?;
        self.throttle
            .registration(client.ip)
            .await
            .map_err(|l| Error::Throttled(l.0))?;
        let key = idempotency_key.map(|k| Sha256::digest(k.as_bytes()).to_vec());
        let created = self
            .create_account(
                &worker,
                &email,
                &password,
                display_name.as_deref(),
                &[Role::Customer],
                Some(client),
                key.as_deref(),
            )
            .await;
        let (user, refresh) = match (created, &key) {
            (Err(Error::AlreadyExists(_)), Some(key)) => {
                let Some(user) = users::by_registration(&self.pool, email.as_str(), key).await?
                else {
                    return Err(email_taken());
                };
                let same = self
                    .hasher
                    .verify_with(
                        &worker,
                        password.expose().to_owned(),
                        Some(user.password_hash.clone()),
                    )
                    .await?;
                if !same {
                    return Err(email_taken());
                }
                tracing::info!(user_id = %user.id, "sign-up retried with its key: signed in");
                let mut tx = self.pool.begin().await?;
                let refresh = self.new_refresh(&mut tx, user.id, None, client).await?;
                tx.commit().await?;
                (user, refresh)
            }
            (created, _) => {
                let (user, refresh) = created?;
                (user, refresh.expect("a session was asked for"))
            }
        };
        let tokens = self.pair(&user, refresh)?;
        Ok((user, tokens))
    }

    /// Same answer and (argon2-dominated) time for an unknown e-mail and a wrong password.
    pub async fn login(&self, email: &str, password: String, client: &Client) -> Result<Tokens> {
        let email = Email::normalise(email);
        // The worker first: a busy service refuses before the attempt is counted.
        let worker = self.hasher.reserve().await?;
        self.throttle
            .login_attempt(&email, client.ip)
            .await
            .map_err(|l| Error::Throttled(l.0))?;
        let user = users::by_email(&self.pool, &email).await?;
        if password.chars().count() > crate::domain::PASSWORD_MAX {
            // Never hashed (an expensive hash of a huge input is a denial-of-service lever).
            return Err(bad_credentials());
        }
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        let password_for_rehash = password.clone();
        if !self.hasher.verify_with(&worker, password, stored).await? {
            return Err(bad_credentials());
        }
        let user = user.expect("verified against a real hash");
        self.throttle.login_succeeded(&email, client.ip).await;
        if self.hasher.needs_rehash(&user.password_hash) {
            // The cost was raised since this hash was made: upgrade it while we know the password.
            let hash = self.hasher.hash_with(&worker, password_for_rehash).await?;
            let mut conn = self.pool.acquire().await?;
            users::replace_hash(&mut conn, user.id, &user.password_hash, &hash).await?;
        }
        let mut tx = self.pool.begin().await?;
        let refresh = self.new_refresh(&mut tx, user.id, None, client).await?;
        tx.commit().await?;
        self.pair(&user, refresh)
    }

    /// Spends `token` and issues the next of its family; a spent token revokes the family.
    pub async fn refresh(&self, token: &str, client: &Client) -> Result<Tokens> {
        self.throttle
            .refresh(client.ip)
            .await
            .map_err(|l| Error::Throttled(l.0))?;
        if token.is_empty() || token.len() > MAX_REFRESH_LEN {
            return Err(bad_refresh());
        }
        let hash = hash_refresh(token);
        let mut tx = self.pool.begin().await?;
        let Some(row) = refresh_tokens::lock_by_hash(&mut tx, &hash).await? else {
            return Err(bad_refresh());
        };
        if row.revoked_at.is_some() {
            return Err(bad_refresh());
        }
        if row.used_at.is_some() {
            let n = refresh_tokens::revoke_family(&mut tx, row.family_id).await?;
            tx.commit().await?;
            tracing::warn!(user_id = %row.user_id, family_id = %row.family_id, revoked = n,
                "a spent refresh token was presented again; the session is revoked");
            return Err(bad_refresh());
        }
        if row.expires_at <= OffsetDateTime::now_utc() {
            return Err(bad_refresh());
        }
        let Some(user) = users::by_id(&mut *tx, row.user_id).await? else {
            return Err(bad_refresh());
        };
        refresh_tokens::mark_used(&mut tx, row.id).await?;
        let next = self
            .new_refresh(&mut tx, user.id, Some(row.family_id), client)
            .await?;
        tx.commit().await?;
        self.pair(&user, next)
    }

    /// Puts the token's `jti` on the deny list until it expires.
    pub async fn deny(&self, claims: &Claims) -> Result<()> {
        let now = jsonwebtoken::get_current_timestamp();
        let ttl = claims.exp.saturating_sub(now).max(1);
        let key = self.keys.session_deny(&claims.jti);
        let mut conn = self.redis.clone();
        let mut cmd = redis::cmd("SET");
        cmd.arg(&key).arg(1).arg("EX").arg(ttl);
        match tokio::time::timeout(self.redis_timeout, cmd.query_async::<()>(&mut conn)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::Unavailable(format!("Redis: {e}"))),
            Err(_) => Err(Error::Unavailable("Redis did not answer".into())),
        }
    }

    pub async fn logout(&self, access: Option<Claims>, refresh: Option<&str>) -> Result<()> {
        if access.is_none() && refresh.is_none() {
            return Err(Error::Unauthenticated(
                "Send the access token (Authorization: Bearer) or the refresh token to sign out."
                    .into(),
            ));
        }
        if let Some(token) = refresh
            && !token.is_empty()
            && token.len() <= MAX_REFRESH_LEN
        {
            let mut tx = self.pool.begin().await?;
            if let Some(row) = refresh_tokens::lock_by_hash(&mut tx, &hash_refresh(token)).await? {
                if let Some(c) = &access
                    && c.sub != row.user_id
                {
                    return Err(Error::Forbidden(
                        "The refresh token belongs to another user.".into(),
                    ));
                }
                refresh_tokens::revoke_family(&mut tx, row.family_id).await?;
            }
            tx.commit().await?;
        }
        if let Some(c) = &access {
            self.deny(c).await?;
        }
        Ok(())
    }

    pub async fn logout_all(&self, claims: &Claims) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        let n = refresh_tokens::revoke_all_for_user(&mut tx, claims.sub).await?;
        tx.commit().await?;
        self.deny(claims).await?;
        Ok(n)
    }

    pub async fn change_password(
        &self,
        claims: &Claims,
        current: String,
        new: Password,
        client: &Client,
    ) -> Result<Tokens> {
        let Some(user) = users::by_id(&self.pool, claims.sub).await? else {
            return Err(Error::Unauthenticated(
                "The account no longer exists.".into(),
            ));
        };
        self.throttle
            .login_attempt(&user.email, client.ip)
            .await
            .map_err(|l| Error::Throttled(l.0))?;
        let wrong = || {
            Error::from(crate::domain::Invalid::new(
                "current_password",
                "is not the password in use",
            ))
        };
        if current.chars().count() > crate::domain::PASSWORD_MAX {
            return Err(wrong());
        }
        let worker = self.hasher.reserve().await?;
        if !self
            .hasher
            .verify_with(&worker, current.clone(), Some(user.password_hash.clone()))
            .await?
        {
            return Err(wrong());
        }
        self.throttle.login_succeeded(&user.email, client.ip).await;
        if current == new.expose() {
            return Err(crate::domain::Invalid::new(
                "new_password",
                "must differ from the current password",
            )
            .into());
        }
        let hash = self
            .hasher
            .hash_with(&worker, new.expose().to_owned())
            .await?;
        let mut tx = self.pool.begin().await?;
        users::set_password(&mut tx, user.id, &hash).await?;
        refresh_tokens::revoke_all_for_user(&mut tx, user.id).await?;
        let refresh = self.new_refresh(&mut tx, user.id, None, client).await?;
        tx.commit().await?;
        // The token that asked is replaced by the pair returned.
        self.deny(claims).await?;
        self.pair(&user, refresh)
    }

    /// An admin account (admin and customer roles); no session is started.
    pub async fn create_admin(&self, email: Email, password: Password) -> Result<UserRow> {
        let worker = self.hasher.reserve().await?;
        let (user, _) = self
            .create_account(
                &worker,
                &email,
                &password,
                None,
                &[Role::Customer, Role::Admin],
                None,
                None,
            )
            .await?;
        Ok(user)
    }

    pub async fn user(&self, id: Uuid) -> Result<UserRow> {
        users::by_id(&self.pool, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("There is no account with id {id}.")))
    }

    pub async fn user_by_email(&self, email: &str) -> Result<UserRow> {
        users::by_email(&self.pool, &Email::normalise(email))
            .await?
            .ok_or_else(|| Error::NotFound("There is no account with this e-mail address.".into()))
    }

    pub async fn grant_role(&self, id: Uuid, role: Role) -> Result<UserRow> {
        let mut tx = self.pool.begin().await?;
        let user = users::add_role(&mut tx, id, role.as_str())
            .await?
            .ok_or_else(|| Error::NotFound(format!("There is no account with id {id}.")))?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn revoke_role(&self, id: Uuid, role: Role) -> Result<UserRow> {
        if role == Role::Customer {
            return Err(
                crate::domain::Invalid::new("role", "every account keeps ROLE_CUSTOMER").into(),
            );
        }
        let mut tx = self.pool.begin().await?;
        let admins = users::lock_admins(&mut tx).await?;
        let user = users::by_id(&mut *tx, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("There is no account with id {id}.")))?;
        if role == Role::Admin && user.roles.iter().any(|r| r == "admin") && admins <= 1 {
            return Err(Error::FailedPrecondition(
                "This is the last admin; grant the role to someone else first.".into(),
            ));
        }
        let user = users::remove_role(&mut tx, id, role.as_str())
            .await?
            .ok_or_else(|| Error::NotFound(format!("There is no account with id {id}.")))?;
        tx.commit().await?;
        Ok(user)
    }
}
