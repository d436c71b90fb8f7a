//! The web shop's built files (`gateway.web_dir`, the output of `npm run build` in `web/`): a GET
//! of any path outside the API serves the file of that path, and paths without a file get
//! `index.html`, so the shop's own routes (`/product/x`, `/cart`) survive a reload. Hashed
//! `/assets/*` files are cached for a year; everything else is revalidated on each load.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use kit::problem::Problem;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// The shop's files, when `gateway.web_dir` is set. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct WebFiles {
    dir: Option<Arc<PathBuf>>,
}

/// Paths that belong to the API and its documents, never to the shop: unknown ones stay
/// problem+json 404s.
pub fn is_api_path(path: &str) -> bool {
    path == "/api"
        || path.starts_with("/api/")
        || path == "/docs"
        || path.starts_with("/.well-known/")
        || matches!(path, "/healthz" | "/readyz" | "/metrics")
}

impl WebFiles {
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self {
            dir: dir.map(Arc::new),
        }
    }

    /// Whether a shop is served at all.
    pub fn enabled(&self) -> bool {
        self.dir.is_some()
    }

    /// The router's fallback: a file of the shop, its `index.html`, or the usual 404 problem.
    pub async fn serve(&self, method: Method, uri: Uri) -> Response {
        let path = uri.path();
        let Some(dir) = self.dir.as_deref() else {
            return kit::problem::not_found_fallback(uri).await.into_response();
        };
        if is_api_path(path) {
            return kit::problem::not_found_fallback(uri).await.into_response();
        }
        if method != Method::GET && method != Method::HEAD {
            return kit::problem::method_not_allowed_fallback(method, uri)
                .await
                .into_response();
        }
        if let Some(file) = relative_file(path) {
            let full = dir.join(&file);
            if let Ok(bytes) = tokio::fs::read(&full).await {
                let cache = if path.starts_with("/assets/") {
                    IMMUTABLE
                } else {
                    REVALIDATE
                };
                return file_response(&full, bytes, cache);
            }
            // A missing file with an extension is a missing file (a stale asset), not a page:
            // answering it with HTML would only confuse the browser's module loader.
            if has_extension(&file) {
                return Problem::not_found(format!("There is nothing at {path}.")).into_response();
            }
        }
        let index = dir.join("index.html");
        match tokio::fs::read(&index).await {
            Ok(bytes) => file_response(&index, bytes, REVALIDATE),
            Err(e) => {
                tracing::error!(error = %e, path = %index.display(), "the shop's index.html is unreadable");
                Problem::internal("the shop's index.html is unreadable").into_response()
            }
        }
    }
}

/// The path under the web directory, or `None` when the URL path cannot name a file there
/// (`..`, hidden names, backslashes, percent-escapes: the built shop has none of these).
fn relative_file(path: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        if segment.starts_with('.') || segment.contains(['\\', '%', ':', '\0']) {
            return None;
        }
        out.push(segment);
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

fn has_extension(file: &Path) -> bool {
    file.extension().is_some()
}

fn content_type(file: &Path) -> &'static str {
    match file
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
    {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn file_response(file: &Path, bytes: Vec<u8>, cache: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(file)),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_map_to_files() {
        assert_eq!(
            relative_file("/assets/index-abc.js"),
            Some(PathBuf::from("assets/index-abc.js"))
        );
        assert_eq!(relative_file("/"), None);
        assert_eq!(relative_file("/../etc/passwd"), None);
        assert_eq!(relative_file("/assets/..%2f..%2fsecret"), None);
        assert_eq!(relative_file("/.env"), None);
        assert_eq!(relative_file("/a\\b"), None);
    }

    #[test]
    fn api_paths_are_never_the_shop() {
        assert!(is_api_path("/api/v1/nothing"));
        assert!(is_api_path("/docs"));
        assert!(is_api_path("/.well-known/jwks.json"));
        assert!(!is_api_path("/product/red-shoe"));
        assert!(!is_api_path("/apiary"));
    }
}
