//! The OpenAPI 3.1 document of the REST API (`GET /api/v1/openapi.json`) and a self-contained
//! browsable reference (`GET /docs`) that renders it in the browser without fetching anything
//! but the document.

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

pub use kit::contracts::problem::{FieldError, Problem};

/// Serves the OpenAPI 3.1 document of this API.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    operation_id = "getOpenApi",
    summary = "The OpenAPI 3.1 document of this API",
    responses(
        (status = 200, description = "The document", content_type = "application/json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn openapi_json() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        DOCUMENT.as_str(),
    )
        .into_response()
}

/// Serves the browsable API reference.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "meta",
    operation_id = "getDocs",
    summary = "A browsable reference of this API (HTML)",
    responses(
        (status = 200, description = "The reference page", content_type = "text/html"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn docs_page() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            // Nothing but this page's own inline code and a fetch of the document may run.
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                     connect-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'",
                ),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        DOCS_HTML,
    )
        .into_response()
}

const DOCS_HTML: &str = include_str!("docs.html");

static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises");
    add_common_responses(&mut doc);
    serde_json::to_string_pretty(&doc).expect("the OpenAPI document serialises")
});

/// The problems any operation can answer because of what it takes, added where an operation
/// does not document them itself: 400 (unreadable query or body), 415 (a body that is not
/// JSON), 413 (a body over the limit), 422 (a field breaks a rule), 401 (secured operations:
/// token missing, expired or revoked), 403 (admin routes), 404 (path ids naming nothing) and
/// 429 (rate limit). Every one is an RFC 9457 problem.
fn add_common_responses(doc: &mut serde_json::Value) {
    let problem = |description: &str| {
        serde_json::json!({
            "description": description,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        })
    };
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for method in ["get", "put", "post", "delete", "patch"] {
            let Some(op) = item.get_mut(method).and_then(|o| o.as_object_mut()) else {
                continue;
            };
            let has_body = op.contains_key("requestBody");
            let has_params = op
                .get("parameters")
                .and_then(|p| p.as_array())
                .is_some_and(|p| !p.is_empty());
            let secured = op
                .get("security")
                .and_then(|s| s.as_array())
                .is_some_and(|s| {
                    s.iter()
                        .any(|r| r.as_object().is_some_and(|r| !r.is_empty()))
                });
            let api = path.starts_with("/api/");
            let mut add: Vec<(&str, &str)> = Vec::new();
            if api && (has_body || has_params) {
                add.push(("400", "The query or body cannot be read"));
                add.push((
                    "422",
                    "A field is missing or breaks a rule; `errors` names it",
                ));
            }
            if has_body {
                add.push(("413", "The body is larger than the limit"));
                add.push(("415", "The body is not `application/json`"));
            }
            if secured {
                add.push((
                    "401",
                    "No valid access token (missing, expired, revoked); see `reason`",
                ));
            }
            if path.starts_with("/api/v1/admin/") {
                add.push(("403", "The token lacks the `admin` role"));
            }
            if path.contains('{') {
                add.push(("404", "Nothing has this id"));
            }
            if api {
                add.push(("429", "Rate limited; wait `Retry-After` seconds"));
            }
            let responses = op
                .entry("responses")
                .or_insert_with(|| serde_json::json!({}));
            if let Some(responses) = responses.as_object_mut() {
                for (code, description) in add {
                    responses
                        .entry(code)
                        .or_insert_with(|| problem(description));
                }
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Storefront API",
        version = "v1",
        description = "The public REST API of Storefront. JSON in snake_case, ids are UUID strings, \
times RFC 3339 UTC, money `{\"amount\": 1999, \"currency\": \"EUR\"}` in minor units. Lists answer \
`{\"items\": [...], \"next_cursor\": ...}`. Every error is an RFC 9457 problem \
(`application/problem+json`). Every response carries `x-request-id`; rate-limited answers are 429 \
with `Retry-After`, and allowed ones carry `RateLimit-Limit`, `RateLimit-Remaining` and \
`RateLimit-Reset`."
    ),
    paths(openapi_json, docs_page),
    components(schemas(Problem, FieldError)),
    modifiers(&Additions),
    tags(
        (name = "meta", description = "This document and its reference page"),
        (name = "health", description = "Probes and metrics (not rate limited)"),
    )
)]
pub struct ApiDoc;

/// The bearer scheme later routes refer to, and the health routes (served by `kit::health`).
struct Additions;

impl Modify for Additions {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = doc.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    Http::builder()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .description(Some(
                            "An access token from `POST /api/v1/auth/login` (EdDSA JWT, 15 minutes).",
                        ))
                        .build(),
                ),
            );
        }
        let health: utoipa::openapi::Paths =
            serde_json::from_value(health_paths()).expect("the health paths are valid OpenAPI");
        doc.paths.merge(health);
        doc.merge(crate::routes::auth::AuthApiDoc::openapi());
        doc.merge(crate::routes::cart::CartApiDoc::openapi());
        doc.merge(crate::routes::events::EventsApiDoc::openapi());
        doc.merge(crate::routes::inventory::InventoryApiDoc::openapi());
        doc.merge(crate::routes::media::MediaApiDoc::openapi());
        doc.merge(crate::routes::order::OrderApiDoc::openapi());
        doc.merge(crate::routes::payment::PaymentApiDoc::openapi());
        doc.merge(crate::routes::product::ProductApiDoc::openapi());
        doc.merge(crate::routes::recommendations::RecommendationsApiDoc::openapi());
        doc.merge(crate::routes::totals::TotalsApiDoc::openapi());
        doc.merge(crate::routes::user::UserApiDoc::openapi());
    }
}

fn health_paths() -> serde_json::Value {
    let check = serde_json::json!({
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"type": "string", "enum": ["up", "degraded", "down"]},
            "message": {"type": "string", "examples": ["local rate limiter in use"]}
        }
    });
    let ready = serde_json::json!({
        "type": "object",
        "required": ["status", "checks"],
        "properties": {
            "status": {"type": "string", "enum": ["ready", "degraded", "unavailable"]},
            "checks": {"type": "object", "additionalProperties": check}
        }
    });
    serde_json::json!({
        "/healthz": {"get": {
            "tags": ["health"],
            "operationId": "getHealthz",
            "summary": "Liveness: the process is up",
            "responses": {"200": {
                "description": "Alive",
                "content": {"application/json": {"schema": {
                    "type": "object",
                    "properties": {"status": {"type": "string", "examples": ["ok"]}}
                }}}
            }}
        }},
        "/readyz": {"get": {
            "tags": ["health"],
            "operationId": "getReadyz",
            "summary": "Readiness: every dependency answers (degraded ones still count as ready)",
            "responses": {
                "200": {"description": "Ready or degraded", "content": {"application/json": {"schema": ready.clone()}}},
                "503": {"description": "A dependency is down", "content": {"application/json": {"schema": ready}}}
            }
        }},
        "/metrics": {"get": {
            "tags": ["health"],
            "operationId": "getMetrics",
            "summary": "Prometheus metrics (OpenMetrics text): RED per route",
            "responses": {"200": {
                "description": "Metrics",
                "content": {"application/openmetrics-text; version=1.0.0; charset=utf-8": {"schema": {"type": "string"}}}
            }}
        }}
    })
}

/// The document as served (for tests and tools).
pub fn document() -> &'static str {
    DOCUMENT.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_with_what_exists() {
        let v: serde_json::Value = serde_json::from_str(document()).unwrap();
        assert_eq!(v["openapi"], "3.1.0");
        for path in [
            "/api/v1/openapi.json",
            "/docs",
            "/healthz",
            "/readyz",
            "/metrics",
        ] {
            assert!(v["paths"][path]["get"].is_object(), "{path} missing");
        }
        let problem = &v["components"]["schemas"]["Problem"];
        assert!(problem["properties"]["type"].is_object(), "{problem}");
        assert!(problem["properties"]["errors"].is_object(), "{problem}");
        assert_eq!(
            v["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
    }

    /// Generated clients (the web shop's types) put each parameter where the document says:
    /// a path parameter must be in its path template, or the client cannot call the route.
    #[test]
    fn path_parameters_are_in_their_path() {
        let v: serde_json::Value = serde_json::from_str(document()).unwrap();
        for (path, ops) in v["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                for p in op["parameters"].as_array().into_iter().flatten() {
                    if p["in"] == "path" {
                        let name = p["name"].as_str().unwrap();
                        assert!(
                            path.contains(&format!("{{{name}}}")),
                            "{method} {path}: path parameter `{name}` is not in the path"
                        );
                    }
                }
            }
        }
    }

    /// A schema that closes itself (`additionalProperties: false`) can be a part of an `allOf`
    /// only when it declares every property the other parts name (an address and its postal
    /// alternatives); else the whole would refuse them (a saved address's `id`).
    #[test]
    fn no_closed_schema_is_part_of_an_all_of() {
        let v: serde_json::Value = serde_json::from_str(document()).unwrap();
        let schemas = v["components"]["schemas"].as_object().unwrap();
        let closed = |r: &str| {
            let name = r.trim_start_matches("#/components/schemas/");
            schemas[name]["additionalProperties"] == serde_json::json!(false)
        };
        /// The property names a schema constrains, through `anyOf`, `oneOf` and `allOf`.
        fn property_names(v: &serde_json::Value, out: &mut Vec<String>) {
            if let Some(p) = v["properties"].as_object() {
                out.extend(p.keys().cloned());
            }
            for k in ["anyOf", "oneOf", "allOf"] {
                for s in v[k].as_array().into_iter().flatten() {
                    property_names(s, out);
                }
            }
        }
        fn walk(v: &serde_json::Value, at: &str, closed: &dyn Fn(&str) -> bool) {
            match v {
                serde_json::Value::Object(o) => {
                    if let Some(parts) = o.get("allOf").and_then(|p| p.as_array()) {
                        for (i, p) in parts.iter().enumerate() {
                            if let Some(r) = p["$ref"].as_str() {
                                assert!(!closed(r), "{at}: allOf includes the closed {r}");
                            }
                            if p["additionalProperties"] != serde_json::json!(false) {
                                continue;
                            }
                            let mut named = Vec::new();
                            for (j, other) in parts.iter().enumerate() {
                                if i != j {
                                    property_names(other, &mut named);
                                }
                            }
                            for n in named {
                                assert!(
                                    p["properties"].get(&n).is_some(),
                                    "{at}: another part of the allOf names `{n}`, which its closed part refuses"
                                );
                            }
                        }
                    }
                    for (k, c) in o {
                        walk(c, &format!("{at}/{k}"), closed);
                    }
                }
                serde_json::Value::Array(a) => a.iter().for_each(|c| walk(c, at, closed)),
                _ => {}
            }
        }
        walk(&v, "", &closed);
        // The saved address is one object with the address's properties and its own.
        let view = &schemas["AddressView"];
        for field in [
            "id",
            "label",
            "recipient_name",
            "address_lines",
            "country_code",
        ] {
            assert!(view["properties"].get(field).is_some(), "{field}: {view}");
        }
        assert!(view.get("additionalProperties").is_none(), "{view}");
    }

    #[test]
    fn the_docs_page_is_self_contained() {
        assert!(DOCS_HTML.contains("/api/v1/openapi.json"));
        for external in ["http://", "https://", "//cdn", "src=\""] {
            assert!(
                !DOCS_HTML.contains(external),
                "docs.html references {external}"
            );
        }
    }
}
