//! `GET /api/v1/media/products/{product_id}/{file}`: the catalog's images over HTTP, from the
//! `product-images` bucket, at stable public URLs (issue #16). An object key names one upload
//! forever (`products/<product id>/<uuid v7>.<ext>`), so an answer may be cached for a year by
//! browsers and CDNs and nothing is signed per read; the gateway forwards this route. Only keys
//! of that shape are read (an upload not yet attached too: its key is as unguessable as the
//! presigned URL that wrote it); avatars, in the user service's bucket, stay presigned.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kit::problem::Problem;
use uuid::Uuid;

use crate::service::Catalog;

/// The route, as the gateway forwards it (same path).
pub const ROUTE: &str = "/api/v1/media/products/{product_id}/{file}";

/// What an image answer may be cached for: the bytes behind a URL never change.
pub const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// The content type of an image file name, by the extensions uploads are given.
pub fn content_type(ext: &str) -> Option<&'static str> {
    Some(match ext {
        "jpg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "avif" => "image/avif",
        _ => return None,
    })
}

/// The object key of a well-formed image URL (`<uuid>.<ext>` under a product id); `None` for
/// anything else, which is answered 404 without asking the store.
fn object_key(product_id: &str, file: &str) -> Option<(String, &'static str)> {
    let product_id = Uuid::try_parse(product_id).ok()?;
    let (name, ext) = file.rsplit_once('.')?;
    let name = Uuid::try_parse(name).ok()?;
    let content_type = content_type(ext)?;
    // Keys are written hyphenated and lowercase; another spelling is another URL.
    let file_key = format!("{name}.{ext}");
    (file_key == file).then(|| (format!("products/{product_id}/{file_key}"), content_type))
}

/// The router of the media route.
pub fn router(catalog: Catalog) -> Router {
    Router::new().route(ROUTE, get(image)).with_state(catalog)
}

/// Whether `If-None-Match` names `etag` (or is `*`); weak tags compare by their value.
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let etag = strip(etag);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || strip(t) == etag)
}

async fn image(
    State(catalog): State<Catalog>,
    Path((product_id, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let not_found = || {
        Problem::new(StatusCode::NOT_FOUND)
            .with_detail("no such image")
            .into_response()
    };
    let Some((key, content_type)) = object_key(&product_id, &file) else {
        return not_found();
    };
    let object = match kit::s3::get_object(&catalog.s3, &catalog.bucket, &key).await {
        Ok(Some(o)) => o,
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::warn!(error = %e, "reading an image from the object store");
            return Problem::service_unavailable(
                "The image store is unavailable. Try again shortly.",
            )
            .with_retry_after(std::time::Duration::from_secs(1))
            .into_response();
        }
    };
    let mut out = HeaderMap::new();
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    if let Some(etag) = object
        .etag
        .as_deref()
        .and_then(|e| HeaderValue::from_str(e).ok())
    {
        if not_modified(&headers, etag.to_str().unwrap_or_default()) {
            out.insert(header::ETAG, etag);
            return (StatusCode::NOT_MODIFIED, out).into_response();
        }
        out.insert(header::ETAG, etag);
    }
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Some(len) = object.content_length.filter(|l| *l >= 0) {
        out.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    (StatusCode::OK, out, object.into_body()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_image_keys_of_uploads_are_urls() {
        let p = "0194c1e4-7b1a-7c3e-9d2f-3a4b5c6d7e8f";
        let f = "0194c1e4-7b1a-7c3e-9d2f-3a4b5c6d7e90.png";
        assert_eq!(
            object_key(p, f),
            Some((format!("products/{p}/{f}"), "image/png"))
        );
        for (p2, f2) in [
            ("x", f),
            (p, "0194c1e4-7b1a-7c3e-9d2f-3a4b5c6d7e90.html"),
            (p, "0194C1E4-7B1A-7C3E-9D2F-3A4B5C6D7E90.png"),
            (p, "..%2F..%2Fusers.png"),
            (p, "avatar.png"),
            (p, "0194c1e4-7b1a-7c3e-9d2f-3a4b5c6d7e90"),
        ] {
            assert_eq!(object_key(p2, f2), None, "{p2} {f2}");
        }
    }

    #[test]
    fn if_none_match_compares_tags() {
        let mut h = HeaderMap::new();
        assert!(!not_modified(&h, "\"abc\""));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", W/\"abc\""),
        );
        assert!(not_modified(&h, "\"abc\""));
        assert!(!not_modified(&h, "\"abd\""));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(not_modified(&h, "\"abd\""));
    }
}
