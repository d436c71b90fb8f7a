//! Who is calling: every request gets an [`Identity`] (the user of a valid access token, else the
//! client IP) for rate limiting; protected routes additionally require a valid, unrevoked token.

use std::net::{IpAddr, Ipv4Addr};

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use kit::jwt::{AuthError, Authenticated, Claims, bearer_token};
use uuid::Uuid;

use crate::AppState;
use crate::client_ip::ClientIp;

/// Whose budget a request spends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    User(Uuid),
    Ip(IpAddr),
}

/// The result of checking the bearer token once per request (signature and claims; the deny
/// list is read only on protected routes).
#[derive(Clone, Debug)]
struct TokenCheck(Result<Claims, AuthError>);

/// Middleware (outside rate limiting): records [`ClientIp`], the token check and [`Identity`].
pub async fn identify(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let ip = state
        .client_ip
        .resolve(&req)
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    req.extensions_mut().insert(ClientIp(ip));
    let mut identity = Identity::Ip(ip);
    match bearer_token(req.headers()) {
        Ok(token) => {
            let checked = state.verifier.verify(token).await;
            if let Ok(c) = &checked {
                identity = Identity::User(c.sub);
            }
            req.extensions_mut().insert(TokenCheck(checked));
        }
        Err(AuthError::MissingToken) => {}
        Err(e) => {
            req.extensions_mut().insert(TokenCheck(Err(e)));
        }
    }
    req.extensions_mut().insert(identity);
    next.run(req).await
}

/// The claims of the request's token when [`identify`] found it valid (signature and claims;
/// the deny list is not read here).
pub fn verified_claims(req: &Request) -> Option<&Claims> {
    match req.extensions().get::<TokenCheck>() {
        Some(TokenCheck(Ok(c))) => Some(c),
        _ => None,
    }
}

/// Route middleware: 401 problem (with `WWW-Authenticate`) unless the request carries a valid
/// access token that is not on the deny list. Handlers read the claims with `kit::jwt::AuthUser`.
pub async fn require_auth(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let checked = match req.extensions_mut().remove::<TokenCheck>() {
        Some(TokenCheck(r)) => r,
        // `identify` did not run (a router used without the full stack): check here.
        None => match bearer_token(req.headers()) {
            Ok(token) => state.verifier.verify(token).await,
            Err(e) => Err(e),
        },
    };
    let claims = match checked {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let claims = match state.verifier.check_revocation(claims).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    req.extensions_mut().insert(Authenticated(claims));
    next.run(req).await
}

/// Puts every route of `router` behind [`require_auth`]. Unknown paths stay 404, not 401.
pub fn protect(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    router.route_layer(middleware::from_fn_with_state(state.clone(), require_auth))
}
