//! Passing a REST request on to an HTTP service (cart, order, payment, recommendation, event)
//! and its answer back: the services speak the same REST contract, so the gateway forwards the
//! method, path, query, body and the headers a service needs, and relays status, body and the
//! headers a client needs. Upstream failures become 502/504 problems naming the service.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kit::problem::Problem;
use kit::upstream::HttpUpstream;

use crate::AppState;

/// Request headers passed on besides those `kit::upstream` always forwards (request id, bearer
/// token, language, trace context).
const REQUEST_HEADERS: [HeaderName; 5] = [
    header::CONTENT_TYPE,
    header::ACCEPT,
    header::USER_AGENT,
    HeaderName::from_static("idempotency-key"),
    HeaderName::from_static("x-cart-token"),
];

/// Response headers relayed to the client.
const RESPONSE_HEADERS: [HeaderName; 8] = [
    header::CONTENT_TYPE,
    header::CACHE_CONTROL,
    // For the answer cache, which removes it (`crate::answers`).
    HeaderName::from_static(kit::cache::SURROGATE_CONTROL),
    header::LOCATION,
    header::RETRY_AFTER,
    header::ETAG,
    HeaderName::from_static("idempotent-replayed"),
    HeaderName::from_static("x-cart-token"),
];

/// The largest request body passed on (the gateway's body limit applies before this).
const MAX_BODY: usize = 2 * 1024 * 1024;

/// Forwards `req` to `service` (one of `state.upstreams`) at the same path and query, with the
/// client IP in `x-forwarded-for` (services use it for coarse client info, never store it raw).
/// A route handler is one line: `forward(&state, &state.upstreams.cart, "cart", req).await`.
pub async fn forward(
    state: &AppState,
    upstream: &HttpUpstream,
    service: &'static str,
    req: Request,
) -> Response {
    let client_ip = state.client_ip.resolve(&req);
    let (parts, body) = req.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| parts.uri.path().to_owned());
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return Problem::new(StatusCode::PAYLOAD_TOO_LARGE)
                .with_detail(format!("the request body is larger than {MAX_BODY} bytes"))
                .into_response();
        }
    };
    let mut builder =
        upstream.request_forwarding(parts.method.clone(), &path_and_query, &parts.headers);
    let mut extra = HeaderMap::new();
    for name in REQUEST_HEADERS {
        if let Some(v) = parts.headers.get(&name) {
            extra.insert(name, v.clone());
        }
    }
    if let Some(ip) = client_ip
        && let Ok(v) = HeaderValue::from_str(&ip.to_string())
    {
        extra.insert(HeaderName::from_static("x-forwarded-for"), v);
    }
    builder = builder.headers(extra);
    if !body.is_empty() {
        builder = builder.body(body);
    }
    match builder.send().await {
        Ok(resp) => relay(resp, service).await,
        Err(e) => send_failed(&e, service),
    }
}

/// The answer to a call to `service` that got no answer: 504 when it timed out, else 502.
pub(super) fn send_failed(e: &reqwest::Error, service: &'static str) -> Response {
    if e.is_timeout() {
        return Problem::new(StatusCode::GATEWAY_TIMEOUT)
            .with_detail(format!(
                "the {service} service did not answer in time; try again"
            ))
            .into_response();
    }
    tracing::warn!(service, error = %e, error.chain = %kit::telemetry::chain(e), "upstream call failed");
    Problem::new(StatusCode::BAD_GATEWAY)
        .with_detail(format!(
            "the {service} service is unavailable; try again shortly"
        ))
        .into_response()
}

/// A service's own 5xx is not passed through verbatim (it may carry internals): 502 instead,
/// except 503, which says when to come back.
pub(super) fn hide_server_error(status: StatusCode, service: &'static str) -> Option<Response> {
    (status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE).then(|| {
        tracing::warn!(service, %status, "upstream answered a server error");
        Problem::new(StatusCode::BAD_GATEWAY)
            .with_detail(format!("the {service} service failed; try again shortly"))
            .into_response()
    })
}

/// The headers `names` of an upstream answer, to relay.
pub(super) fn relayed(resp: &reqwest::Response, names: &[HeaderName]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for name in names {
        if let Some(v) = resp.headers().get(name.as_str())
            && let Ok(v) = HeaderValue::from_bytes(v.as_bytes())
        {
            headers.insert(name.clone(), v);
        }
    }
    headers
}

async fn relay(resp: reqwest::Response, service: &'static str) -> Response {
    let status = resp.status();
    let headers = relayed(&resp, &RESPONSE_HEADERS);
    let bytes: Bytes = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(service, error = %e, "upstream body failed");
            return Problem::new(StatusCode::BAD_GATEWAY)
                .with_detail(format!(
                    "the {service} service broke off its answer; try again"
                ))
                .into_response();
        }
    };
    if let Some(hidden) = hide_server_error(status, service) {
        return hidden;
    }
    let mut out = Response::new(Body::from(bytes));
    *out.status_mut() = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    *out.headers_mut() = headers;
    out
}
