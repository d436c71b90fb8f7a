//! `GET /api/v1/media/products/{product_id}/{file}`: the catalog's images at stable public URLs
//! (issue #16), streamed from the product role's media route. Public, not rate limited per
//! client (a page shows dozens of images) but bounded in flight; an answer may be cached for a
//! year, so a CDN in front serves repeat reads without reaching the platform.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use utoipa::OpenApi;

use super::forward;

use crate::AppState;
use crate::openapi::Problem as ProblemDoc;

/// The path prefix of the media routes.
pub const PREFIX: &str = "/api/v1/media/";

/// Response headers relayed from the product role.
const RELAYED: [HeaderName; 6] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CACHE_CONTROL,
    header::ETAG,
    header::X_CONTENT_TYPE_OPTIONS,
    header::RETRY_AFTER,
];

/// The media route (public).
pub fn router(_state: &AppState) -> Router<AppState> {
    Router::new().route(
        "/api/v1/media/products/{product_id}/{file}",
        get(product_image),
    )
}

/// The media part of the OpenAPI document (merged in `crate::openapi`).
#[derive(OpenApi)]
#[openapi(paths(product_image))]
pub struct MediaApiDoc;

/// A catalog image: the URL a product's `images[].url` names (with the default
/// `product.image_url_base`). The bytes behind a URL never change: the answer carries an
/// `ETag` and `Cache-Control: public, max-age=31536000, immutable`, and `If-None-Match` with
/// that tag answers 304.
#[utoipa::path(
    get,
    path = "/api/v1/media/products/{product_id}/{file}",
    tag = "catalog",
    operation_id = "getProductImage",
    params(
        ("product_id" = uuid::Uuid, Path, description = "The product's id"),
        ("file" = String, Path, description = "The image file: a UUID and the extension of its type",
            pattern = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.(jpg|png|webp|avif)$",
            example = "0194c1e4-7b1a-7c3e-9d2f-3a4b5c6d7e90.png"),
        ("If-None-Match" = Option<String>, Header, description = "The `ETag` of a copy the client keeps"),
    ),
    responses(
        (status = 200, description = "The image", content(
            (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png"), (Vec<u8> = "image/webp"), (Vec<u8> = "image/avif"))),
        (status = 304, description = "The copy the client keeps is current"),
        (status = 404, description = "No such image", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 502, description = "The product service is unavailable", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "The image store is unavailable, or too many image reads are in flight; retry after `Retry-After`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 504, description = "The product service did not answer in time", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn product_image(State(state): State<AppState>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let mut incoming = HeaderMap::new();
    if let Some(v) = req.headers().get(header::IF_NONE_MATCH) {
        incoming.insert(header::IF_NONE_MATCH, v.clone());
    }
    let upstream = &state.upstreams.product_http;
    let sent = upstream
        .request_forwarding(axum::http::Method::GET, &path, req.headers())
        .headers(incoming)
        .send()
        .await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) => return forward::send_failed(&e, "product"),
    };
    if let Some(hidden) = forward::hide_server_error(resp.status(), "product") {
        return hidden;
    }
    let status = resp.status();
    let headers = forward::relayed(&resp, &RELAYED);
    // Streamed: an image is never held whole in the gateway.
    let mut out = Response::new(Body::from_stream(resp.bytes_stream()));
    *out.status_mut() = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    *out.headers_mut() = headers;
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_route_is_documented_as_public() {
        let v: serde_json::Value = serde_json::from_str(crate::openapi::document()).unwrap();
        let op = &v["paths"]["/api/v1/media/products/{product_id}/{file}"]["get"];
        assert_eq!(op["operationId"], "getProductImage");
        assert!(op.get("security").is_none(), "{op}");
        assert!(op["responses"]["200"]["content"]["image/png"].is_object());
    }
}
