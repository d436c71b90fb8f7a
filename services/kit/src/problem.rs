//! RFC 9457 `application/problem+json` errors: one shape for every error a client sees, from
//! handlers, extractor rejections, gRPC statuses, the router's 404/405 and middleware (413, 504...).

use std::borrow::Cow;
use std::fmt;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The media type of every error body.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// The header carrying the request id (set by the gateway, forwarded to every upstream).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Most problems need no type URI beyond their status (RFC 9457 section 4.2.1).
pub const ABOUT_BLANK: &str = "about:blank";

/// Shown instead of the cause of a 5xx, which is logged and never sent.
const INTERNAL_DETAIL: &str =
    "Something went wrong on our side. Quote the request id if you report it.";

/// Bodies of plain error responses longer than this are not copied into `detail`.
const MAX_PLAIN_DETAIL: usize = 1024;

pub use contracts::problem::FieldError;

/// An RFC 9457 problem. Build one with a constructor, refine it with the `with_*` methods and
/// return it from a handler (it implements [`IntoResponse`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type", default = "about_blank")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extension members (`request_id`, `retry_after`...), serialised at the top level.
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
    /// Response headers that belong to the problem (`Retry-After`, `WWW-Authenticate`, ...).
    #[serde(skip)]
    pub headers: HeaderMap,
}

fn about_blank() -> String {
    ABOUT_BLANK.to_owned()
}

impl Problem {
    /// A problem with the status' reason phrase as its title and no detail.
    pub fn new(status: StatusCode) -> Self {
        Self {
            type_uri: about_blank(),
            title: reason(status).into_owned(),
            status: status.as_u16(),
            detail: None,
            instance: None,
            errors: Vec::new(),
            extensions: Map::new(),
            headers: HeaderMap::new(),
        }
    }

    fn with_status(status: StatusCode, detail: impl Into<String>) -> Self {
        Self::new(status).with_detail(detail)
    }

    /// Renames the fields of `errors` (a service's field path to the REST body's), keeping the
    /// detail of a validation problem in step.
    pub fn map_fields(mut self, rename: impl Fn(&str) -> String) -> Self {
        if self.errors.is_empty() {
            return self;
        }
        let errors = std::mem::take(&mut self.errors)
            .into_iter()
            .map(|e| FieldError::new(rename(&e.field), e.message))
            .collect();
        let renamed = Self::validation(errors);
        self.detail = renamed.detail;
        self.errors = renamed.errors;
        self
    }

    /// 400: the request cannot be understood as sent.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::with_status(StatusCode::BAD_REQUEST, detail)
    }

    /// 422 listing every invalid field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.len() {
            1 => format!("The field `{}` is invalid.", errors[0].field),
            n => format!("{n} fields are invalid."),
        };
        let mut p = Self::with_status(StatusCode::UNPROCESSABLE_ENTITY, detail);
        p.errors = errors;
        p
    }

    /// 401. Callers that verify bearer tokens add `WWW-Authenticate` (see `kit::jwt`).
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::with_status(StatusCode::UNAUTHORIZED, detail)
    }

    /// 403: authenticated, but not allowed to do this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::with_status(StatusCode::FORBIDDEN, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::with_status(StatusCode::NOT_FOUND, detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::with_status(StatusCode::CONFLICT, detail)
    }

    /// 422 without field errors (a well-formed request that breaks a rule).
    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::with_status(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }

    /// 429 with `Retry-After` (whole seconds, at least 1) and a `retry_after` member.
    pub fn too_many_requests(retry_after: std::time::Duration) -> Self {
        let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
        Self::with_status(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many requests. Try again in {secs} s."),
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from(secs))
        .with_extension("retry_after", secs)
    }

    /// Adds `Retry-After` (whole seconds, at least 1) and a `retry_after` member.
    pub fn with_retry_after(self, after: std::time::Duration) -> Self {
        let secs = after.as_secs_f64().ceil().max(1.0) as u64;
        self.with_header(header::RETRY_AFTER, HeaderValue::from(secs))
            .with_extension("retry_after", secs)
    }

    /// 500. Logs `cause` (with its chain) and sends nothing of it to the client.
    pub fn internal<E: fmt::Display + fmt::Debug>(cause: E) -> Self {
        tracing::error!(error = %cause, error.chain = %format_args!("{cause:#}"), "internal error");
        Self::with_status(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_DETAIL)
    }

    /// 503: a dependency is down; the detail should say what the client can do (retry later).
    pub fn service_unavailable(detail: impl Into<String>) -> Self {
        Self::with_status(StatusCode::SERVICE_UNAVAILABLE, detail)
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// A URI naming the kind of problem, for clients that branch on it.
    pub fn with_type(mut self, type_uri: impl Into<String>) -> Self {
        self.type_uri = type_uri.into();
        self
    }

    pub fn with_instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    /// Adds an extension member. Names of the standard members are ignored.
    pub fn with_extension(mut self, name: &str, value: impl Serialize) -> Self {
        if !matches!(
            name,
            "type" | "title" | "status" | "detail" | "instance" | "errors"
        ) && let Ok(v) = serde_json::to_value(value)
        {
            self.extensions.insert(name.to_owned(), v);
        }
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The `request_id` member, when a middleware has set it.
    pub fn request_id(&self) -> Option<&str> {
        self.extensions.get("request_id").and_then(Value::as_str)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.title)?;
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problem {}

fn reason(status: StatusCode) -> Cow<'static, str> {
    match status.canonical_reason() {
        Some(r) => Cow::Borrowed(r),
        None => Cow::Owned(format!("HTTP {}", status.as_u16())),
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| b"{}".to_vec());
        let mut resp = (status, body).into_response();
        let headers = resp.headers_mut();
        for (name, value) in &self.headers {
            headers.insert(name, value.clone());
        }
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        // Kept so `normalize_errors` can add the request id without parsing the body again.
        resp.extensions_mut().insert(self);
        resp
    }
}

/// A database failure as a problem: no connection in time or none to be had is 503 with
/// `Retry-After` (the request may simply be sent again); anything else is logged and 500.
impl From<sqlx::Error> for Problem {
    fn from(e: sqlx::Error) -> Self {
        if crate::error::is_unavailable_db(&e) {
            tracing::warn!(error = %e, "database busy or unavailable");
            return Self::service_unavailable(
                "The database is busy or unavailable. Try again shortly.",
            )
            .with_retry_after(std::time::Duration::from_secs(1));
        }
        Self::internal(e)
    }
}

/// The error of an HTTP role's handler: a problem for the client, or a cause that is logged and
/// answered without details ([`Problem`]'s `From<sqlx::Error>`: 503 with `Retry-After` when the
/// database is saturated or down, else 500).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Problem(Box<Problem>),
    #[error("database error")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        Self::Problem(Box::new(p))
    }
}

impl From<ApiError> for Problem {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Problem(p) => *p,
            ApiError::Db(e) => Problem::from(e),
            ApiError::Other(e) => match e.downcast::<sqlx::Error>() {
                Ok(db) => Problem::from(db),
                Err(e) => Problem::internal(e),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}

/// Canonical gRPC codes to HTTP (the google.rpc.Code mapping, with a broken precondition as
/// 409: the resource's state, not the request, is in the way). Messages of client errors are
/// passed on (services write them for people); server-side ones are logged and replaced. Field
/// violations (`google.rpc.BadRequest`) become `errors` of a 422; a `RetryInfo` hint becomes
/// `Retry-After` of a 429; 401 gets its `WWW-Authenticate` challenge.
impl From<tonic::Status> for Problem {
    fn from(s: tonic::Status) -> Self {
        use tonic::Code;
        match s.code() {
            Code::InvalidArgument => {
                let errors = crate::error::field_errors(&s);
                if !errors.is_empty() {
                    return Self::validation(errors);
                }
            }
            Code::ResourceExhausted => {
                if let Some(after) = crate::error::retry_delay(&s) {
                    return Self::too_many_requests(after).with_detail(s.message().to_owned());
                }
            }
            Code::Unauthenticated => {
                let mut p = Self::new(StatusCode::UNAUTHORIZED);
                if !s.message().is_empty() {
                    p.detail = Some(s.message().to_owned());
                }
                return p.with_header(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer realm="storefront""#),
                );
            }
            _ => {}
        }
        let status = match s.code() {
            Code::Ok | Code::Unknown | Code::Internal | Code::DataLoss => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            // The gateway never cancels a call its client still waits for: a cancelled call is
            // the upstream's deadline running out (tonic's client timeout), so 504, not 499.
            Code::Cancelled => StatusCode::GATEWAY_TIMEOUT,
            Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
            Code::FailedPrecondition => StatusCode::CONFLICT,
            Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
            Code::PermissionDenied => StatusCode::FORBIDDEN,
            Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        };
        if status.is_server_error() {
            tracing::warn!(grpc.code = ?s.code(), grpc.message = %s.message(), "upstream call failed");
            let detail = match status {
                StatusCode::SERVICE_UNAVAILABLE => {
                    "A service this request needs is unavailable. Try again shortly."
                }
                StatusCode::GATEWAY_TIMEOUT => {
                    "A service this request needs did not answer in time. Try again shortly."
                }
                StatusCode::NOT_IMPLEMENTED => "This operation is not implemented.",
                _ => INTERNAL_DETAIL,
            };
            let p = Self::with_status(status, detail);
            if status == StatusCode::SERVICE_UNAVAILABLE {
                // A busy or unreachable upstream: say when to come back (its hint, else 1 s).
                let secs = s
                    .metadata()
                    .get(crate::work::RETRY_AFTER_METADATA)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(1);
                let detail = if s
                    .metadata()
                    .get(crate::work::RETRY_AFTER_METADATA)
                    .is_some()
                {
                    s.message().to_owned()
                } else {
                    detail.to_owned()
                };
                return p
                    .with_detail(detail)
                    .with_retry_after(std::time::Duration::from_secs(secs));
            }
            return p;
        }
        let mut p = Self::new(status);
        if !s.message().is_empty() {
            p.detail = Some(s.message().to_owned());
        }
        p
    }
}

/// Splits `"... at line 3 column 7"` (serde_json's suffix) into the message and the position.
fn split_position(msg: &str) -> (&str, Option<(u64, u64)>) {
    if let Some(idx) = msg.rfind(" at line ") {
        let tail = &msg[idx + " at line ".len()..];
        if let Some((line, col)) = tail.split_once(" column ")
            && let (Ok(l), Ok(c)) = (line.parse(), col.parse())
        {
            return (&msg[..idx], Some((l, c)));
        }
    }
    (msg, None)
}

/// The innermost `Display` of a rejection (what serde said, without axum's preamble).
fn inner_message(err: &(dyn std::error::Error + 'static)) -> String {
    // rejection -> axum::Error -> the deserializer's error
    let mut cur = err;
    let mut depth = 0;
    while let Some(next) = cur.source() {
        cur = next;
        depth += 1;
        if depth == 2 {
            break;
        }
    }
    cur.to_string()
}

/// `serde_path_to_error` writes `path: message`, or only `message` for the root. A path never
/// contains whitespace, which tells the two apart.
fn split_field_path(msg: &str) -> (Option<&str>, &str) {
    if let Some((path, rest)) = msg.split_once(": ")
        && !path.is_empty()
        && !path.contains(char::is_whitespace)
    {
        return (Some(path), rest);
    }
    (None, msg)
}

/// A [`FieldError`] for a serde data error, naming the field (for missing and unknown fields the
/// field itself, not its parent).
fn field_error_from_serde(msg: &str) -> FieldError {
    let (msg, _) = split_position(msg);
    let (path, message) = split_field_path(msg);
    let path = path.filter(|p| *p != ".");
    let named = ["missing field `", "unknown field `", "duplicate field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    let field = match (path, named) {
        (Some(p), Some(n)) => format!("{p}.{n}"),
        (None, Some(n)) => n.to_owned(),
        (Some(p), None) => p.to_owned(),
        (None, None) => "(body)".to_owned(),
    };
    FieldError::new(field, message)
}

impl From<JsonRejection> for Problem {
    fn from(r: JsonRejection) -> Self {
        match &r {
            JsonRejection::JsonSyntaxError(e) => {
                let msg = inner_message(e);
                let (text, pos) = split_position(&msg);
                let (_, text) = split_field_path(text);
                let mut p = match pos {
                    Some((line, column)) => Self::bad_request(format!(
                        "The request body is not valid JSON: {text} at line {line}, column {column}."
                    ))
                    .with_extension("line", line)
                    .with_extension("column", column),
                    None => Self::bad_request(format!("The request body is not valid JSON: {text}.")),
                };
                p.title = reason(StatusCode::BAD_REQUEST).into_owned();
                p
            }
            JsonRejection::JsonDataError(e) => {
                Self::validation(vec![field_error_from_serde(&inner_message(e))])
            }
            JsonRejection::MissingJsonContentType(_) => {
                Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE)
                    .with_detail("Send the body as JSON with `Content-Type: application/json`.")
            }
            other => from_plain_rejection(other.status(), other.body_text()),
        }
    }
}

impl From<PathRejection> for Problem {
    fn from(r: PathRejection) -> Self {
        use axum::extract::path::ErrorKind;
        match &r {
            PathRejection::FailedToDeserializePathParams(e) => match e.kind() {
                ErrorKind::ParseErrorAtKey {
                    key,
                    value,
                    expected_type,
                } => Self::bad_request(format!(
                    "The path segment `{key}` must be a {}; got `{value}`.",
                    friendly_type(expected_type)
                ))
                .with_errors(vec![FieldError::new(
                    key.clone(),
                    format!("expected {}", friendly_type(expected_type)),
                )]),
                ErrorKind::DeserializeError {
                    key,
                    value,
                    message,
                } => Self::bad_request(format!(
                    "The path segment `{key}` (`{value}`) is invalid: {message}."
                ))
                .with_errors(vec![FieldError::new(key.clone(), message.clone())]),
                _ if r.status().is_server_error() => Self::internal(r.body_text()),
                _ => Self::bad_request(r.body_text()),
            },
            other if other.status().is_server_error() => Self::internal(other.body_text()),
            other => from_plain_rejection(other.status(), other.body_text()),
        }
    }
}

fn friendly_type(rust_type: &str) -> &str {
    match rust_type.rsplit("::").next().unwrap_or(rust_type) {
        "Uuid" => "UUID",
        "u8" | "u16" | "u32" | "u64" | "usize" => "non-negative integer",
        "i8" | "i16" | "i32" | "i64" | "isize" => "integer",
        other => other,
    }
}

impl From<QueryRejection> for Problem {
    fn from(r: QueryRejection) -> Self {
        let msg = match &r {
            QueryRejection::FailedToDeserializeQueryString(e) => inner_message(e),
            other => other.body_text(),
        };
        let (field, message) = split_query_error(&msg);
        let p = Self::bad_request(format!("The query string is invalid: {msg}."));
        match field {
            Some(f) => p.with_errors(vec![FieldError::new(f, message)]),
            None => p,
        }
    }
}

/// serde_urlencoded errors name missing fields; other messages carry no field.
fn split_query_error(msg: &str) -> (Option<String>, String) {
    let named = msg
        .strip_prefix("missing field `")
        .or_else(|| msg.strip_prefix("unknown field `"))
        .and_then(|rest| rest.split('`').next());
    (named.map(str::to_owned), msg.to_owned())
}

fn from_plain_rejection(status: StatusCode, text: String) -> Problem {
    if status.is_server_error() {
        return Problem::internal(text);
    }
    Problem::new(status).with_detail(text)
}

/// Drop-in replacements for axum's `Json`, `Path` and `Query` whose rejections are problems.
pub mod extract {
    use super::*;

    /// JSON body; syntax errors are 400 with the position, type errors 422 naming the field.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Json<T>(pub T);

    impl<T, S> FromRequest<S> for Json<T>
    where
        T: serde::de::DeserializeOwned,
        S: Send + Sync,
    {
        type Rejection = Problem;

        async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
            if !json_content_type(req.headers()) {
                return Err(JsonRejection::from(
                    axum::extract::rejection::MissingJsonContentType::default(),
                )
                .into());
            }
            let bytes = bytes::Bytes::from_request(req, state)
                .await
                .map_err(JsonRejection::from)?;
            from_json(&bytes).map(Self)
        }
    }

    /// A JSON body read as `T` as [`Json`] reads it: syntax errors are 400 with the position,
    /// type errors 422 naming the field, an array where an object belongs is 422, and an
    /// integral float (`2.0`) is the integer it equals (JSON has one number type; JSON Schema
    /// calls `2.0` an integer too).
    #[allow(clippy::result_large_err)] // the error is the answer a handler returns as it is
    pub fn from_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
        // Every body is an object; serde would read an array as a struct's fields in order.
        if bytes.trim_ascii_start().first() == Some(&b'[') {
            return Err(Problem::validation(vec![FieldError::new(
                "",
                "the body must be a JSON object",
            )]));
        }
        match axum::Json::<T>::from_bytes(bytes) {
            Ok(axum::Json(v)) => Ok(v),
            Err(JsonRejection::JsonDataError(e))
                if inner_message(&e).contains("invalid type: floating point") =>
            {
                let mut value: Value = serde_json::from_slice(bytes)
                    .map_err(|_| Problem::from(JsonRejection::JsonDataError(e)))?;
                integral_floats_as_integers(&mut value);
                let again = serde_json::to_vec(&value).unwrap_or_default();
                let axum::Json(v) = axum::Json::<T>::from_bytes(&again)?;
                Ok(v)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `application/json` or `application/<anything>+json`, parameters aside.
    pub fn json_content_type(headers: &HeaderMap) -> bool {
        let Some(ct) = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let essence = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.split_once('/') {
            Some(("application", sub)) => sub == "json" || sub.ends_with("+json"),
            _ => false,
        }
    }

    fn integral_floats_as_integers(v: &mut Value) {
        match v {
            Value::Number(n) if n.is_f64() => {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    *v = Value::from(f as i64);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
            Value::Object(map) => map.values_mut().for_each(integral_floats_as_integers),
            _ => {}
        }
    }

    impl<T: Serialize> IntoResponse for Json<T> {
        fn into_response(self) -> Response {
            axum::Json(self.0).into_response()
        }
    }

    /// Path parameters; a bad segment is 400 naming it.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Path<T>(pub T);

    impl<T, S> FromRequestParts<S> for Path<T>
    where
        axum::extract::Path<T>: FromRequestParts<S, Rejection = PathRejection>,
        S: Send + Sync,
    {
        type Rejection = Problem;

        async fn from_request_parts(
            parts: &mut axum::http::request::Parts,
            state: &S,
        ) -> Result<Self, Self::Rejection> {
            let axum::extract::Path(v) =
                axum::extract::Path::<T>::from_request_parts(parts, state).await?;
            Ok(Self(v))
        }
    }

    /// Query string; a bad parameter is 400.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Query<T>(pub T);

    impl<T, S> FromRequestParts<S> for Query<T>
    where
        axum::extract::Query<T>: FromRequestParts<S, Rejection = QueryRejection>,
        S: Send + Sync,
    {
        type Rejection = Problem;

        async fn from_request_parts(
            parts: &mut axum::http::request::Parts,
            state: &S,
        ) -> Result<Self, Self::Rejection> {
            let axum::extract::Query(v) =
                axum::extract::Query::<T>::from_request_parts(parts, state).await?;
            Ok(Self(v))
        }
    }
}

/// Router fallback: 404 for every path no route matches.
pub async fn not_found_fallback(uri: Uri) -> Problem {
    Problem::not_found(format!("There is nothing at {}.", uri.path()))
}

/// `Router::method_not_allowed_fallback`: 405 (axum adds the `Allow` header).
pub async fn method_not_allowed_fallback(method: Method, uri: Uri) -> Problem {
    Problem::new(StatusCode::METHOD_NOT_ALLOWED).with_detail(format!(
        "{} does not support {method}; the `Allow` header lists what it does support.",
        uri.path()
    ))
}

/// The `Idempotency-Key` header when present (`None` when absent), or a 400 naming it when it
/// breaks the one rule of `contracts::idempotency`.
#[allow(clippy::result_large_err)] // the error is the answer a handler returns as it is
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    contracts::idempotency::check("Idempotency-Key", v.as_bytes())
        .map(|k| Some(k.to_owned()))
        .map_err(|e| {
            Problem::bad_request(format!("The Idempotency-Key header {}.", e.message))
                .with_errors(vec![e])
        })
}

/// The response for a panic caught by `tower_http::catch_panic::CatchPanicLayer::custom`.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let msg = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(non-string panic payload)");
    Problem::internal(format!("handler panicked: {msg}")).into_response()
}

/// Middleware making every error response problem+json: problems get `request_id` and
/// `instance`; plain-text or empty error responses (from axum, tower-http limits and timeouts)
/// are rewritten, keeping their status and headers (`Allow`, `Retry-After`...). Install it
/// inside the request-id layer: `router.layer(axum::middleware::from_fn(normalize_errors))`.
pub async fn normalize_errors(req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let path = req
        .extensions()
        .get::<OriginalUri>()
        .map(|u| u.0.path().to_owned())
        .unwrap_or_else(|| req.uri().path().to_owned());
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let mut problem = match parts.extensions.remove::<Problem>() {
        Some(p) => p,
        None => {
            let is_problem = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.starts_with(CONTENT_TYPE));
            if is_problem {
                // Already a problem (e.g. passed through from an upstream): leave it be.
                return Response::from_parts(parts, body);
            }
            let text = match axum::body::to_bytes(body, MAX_PLAIN_DETAIL).await {
                Ok(b) => String::from_utf8_lossy(&b).trim().to_owned(),
                Err(_) => String::new(),
            };
            plain_to_problem(status, text)
        }
    };
    if problem.instance.is_none() {
        problem.instance = Some(path);
    }
    if let Some(id) = request_id
        && problem.request_id().is_none()
    {
        problem
            .extensions
            .insert("request_id".into(), Value::String(id));
    }
    let mut headers = std::mem::take(&mut parts.headers);
    headers.remove(header::CONTENT_LENGTH);
    headers.remove(header::CONTENT_ENCODING);
    let mut out = problem.into_response();
    for (name, value) in headers {
        if let Some(name) = name
            && name != header::CONTENT_TYPE
            && !out.headers().contains_key(&name)
        {
            out.headers_mut().insert(name, value);
        }
    }
    *out.status_mut() = status;
    out.extensions_mut().extend(parts.extensions);
    out
}

fn plain_to_problem(status: StatusCode, text: String) -> Problem {
    let p = Problem::new(status);
    match status {
        StatusCode::NOT_FOUND => p.with_detail("There is nothing at this address."),
        StatusCode::METHOD_NOT_ALLOWED => {
            p.with_detail("This method is not supported here; see the `Allow` header.")
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            p.with_detail("The request body is larger than this server accepts.")
        }
        StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => {
            p.with_detail("The request took too long to process. Try again shortly.")
        }
        s if s.is_server_error() => {
            if !text.is_empty() {
                tracing::error!(status = s.as_u16(), body = %text, "error response replaced");
            }
            p.with_detail(INTERNAL_DETAIL)
        }
        _ if text.is_empty() => p,
        _ => p.with_detail(text),
    }
}

#[cfg(test)]
mod tests {
    use super::extract::{Json, Path, Query};
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::{get, post};
    use tower::ServiceExt;

    async fn call(router: Router, req: axum::http::Request<Body>) -> (Response, Value) {
        let resp = router.oneshot(req).await.unwrap();
        let (parts, body) = resp.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (Response::from_parts(parts, Body::empty()), v)
    }

    fn content_type(resp: &Response) -> &str {
        resp.headers()
            .get(header::CONTENT_TYPE)
            .unwrap()
            .to_str()
            .unwrap()
    }

    #[derive(Debug, Deserialize, Serialize)]
    struct Item {
        sku: String,
        quantity: u32,
    }

    #[derive(Debug, Deserialize, Serialize)]
    struct Order {
        email: String,
        items: Vec<Item>,
    }

    fn app() -> Router {
        Router::new()
            .route(
                "/orders",
                post(|Json(o): Json<Order>| async move { Json(o) }),
            )
            .route(
                "/orders/{id}",
                get(|Path(id): Path<uuid::Uuid>| async move { id.to_string() }),
            )
            .route(
                "/search",
                get(
                    |Query(q): Query<std::collections::HashMap<String, u32>>| async move {
                        format!("{q:?}")
                    },
                ),
            )
            .route(
                "/teapot",
                get(|| async { (StatusCode::IM_A_TEAPOT, "short and stout") }),
            )
            .route(
                "/boom",
                get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "db password is hunter2") }),
            )
            .fallback(not_found_fallback)
            .method_not_allowed_fallback(method_not_allowed_fallback)
            .layer(axum::middleware::from_fn(normalize_errors))
    }

    fn json_post(body: &'static str) -> axum::http::Request<Body> {
        axum::http::Request::post("/orders")
            .header(header::CONTENT_TYPE, "application/json")
            .header(REQUEST_ID_HEADER, "req-1")
            .body(Body::from(body))
            .unwrap()
    }

    #[test]
    fn serialises_rfc9457_members_and_extensions() {
        let p = Problem::validation(vec![FieldError::new("email", "is not an e-mail address")])
            .with_instance("/api/v1/auth/register")
            .with_extension("request_id", "r1");
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "about:blank");
        assert_eq!(v["title"], "Unprocessable Entity");
        assert_eq!(v["status"], 422);
        assert_eq!(v["instance"], "/api/v1/auth/register");
        assert_eq!(v["errors"][0]["field"], "email");
        assert_eq!(v["request_id"], "r1");
        let back: Problem = serde_json::from_value(v).unwrap();
        assert_eq!(back.request_id(), Some("r1"));
        assert!(
            serde_json::to_value(Problem::not_found("x"))
                .unwrap()
                .get("errors")
                .is_none()
        );
    }

    #[test]
    fn constructors_pick_their_status() {
        use std::time::Duration;
        let cases = [
            (Problem::bad_request("x"), 400),
            (Problem::unauthorized("x"), 401),
            (Problem::forbidden("x"), 403),
            (Problem::not_found("x"), 404),
            (Problem::conflict("x"), 409),
            (Problem::unprocessable("x"), 422),
            (Problem::too_many_requests(Duration::from_millis(1500)), 429),
            (Problem::service_unavailable("x"), 503),
        ];
        for (p, status) in cases {
            assert_eq!(p.status, status, "{p}");
            assert_eq!(p.into_response().status().as_u16(), status);
        }
        let r = Problem::too_many_requests(Duration::from_millis(1500)).into_response();
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
        assert_eq!(r.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
    }

    #[test]
    fn internal_never_leaks_the_cause() {
        let p = Problem::internal(anyhow::anyhow!("connection to 10.0.0.7:5432 refused"));
        assert_eq!(p.status, 500);
        let body = serde_json::to_string(&p).unwrap();
        assert!(!body.contains("10.0.0.7"), "{body}");
    }

    #[test]
    fn grpc_codes_map_to_http() {
        use tonic::{Code, Status};
        let cases = [
            (Code::InvalidArgument, 400),
            (Code::FailedPrecondition, 409),
            (Code::OutOfRange, 400),
            (Code::Unauthenticated, 401),
            (Code::PermissionDenied, 403),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 409),
            (Code::Aborted, 409),
            (Code::ResourceExhausted, 429),
            (Code::Cancelled, 504),
            (Code::Internal, 500),
            (Code::Unknown, 500),
            (Code::DataLoss, 500),
            (Code::Unimplemented, 501),
            (Code::Unavailable, 503),
            (Code::DeadlineExceeded, 504),
        ];
        for (code, http) in cases {
            let p = Problem::from(Status::new(code, "secret internals"));
            assert_eq!(p.status, http, "{code:?}");
            let leaked = p.detail.as_deref() == Some("secret internals");
            assert_eq!(leaked, http < 500, "{code:?}: {p}");
        }
        let p = Problem::from(Status::not_found("no product with slug `red-shoe`"));
        assert_eq!(p.detail.as_deref(), Some("no product with slug `red-shoe`"));
        assert_eq!(p.title, "Not Found");
        // No 499 from the platform: a cancelled upstream call is a timeout.
        assert_eq!(
            Problem::from(Status::cancelled("")).title,
            "Gateway Timeout"
        );
        // Every 503 says when to come back; a busy upstream's own hint wins.
        let r = Problem::from(Status::unavailable("db down")).into_response();
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        let busy = crate::work::Overloaded {
            pool: "password hashing",
            why: "queue full",
            retry_after: std::time::Duration::from_secs(3),
        };
        let p = Problem::from(Status::from(busy));
        assert_eq!(p.status, 503);
        assert!(p.detail.as_deref().unwrap().contains("busy"), "{p}");
        let r = p.into_response();
        assert_eq!(r.headers()[header::RETRY_AFTER], "3");
    }

    #[tokio::test]
    async fn json_syntax_error_is_400_with_position() {
        let (resp, v) = call(app(), json_post("{\"email\": \"a@b.c\",\n \"items\": [}")).await;
        assert_eq!(resp.status(), 400);
        assert_eq!(content_type(&resp), CONTENT_TYPE);
        assert_eq!(v["line"], 2, "{v}");
        let detail = v["detail"].as_str().unwrap();
        assert!(detail.contains("line 2, column"), "{detail}");
        assert_eq!(v["request_id"], "req-1");
        assert_eq!(v["instance"], "/orders");
    }

    #[tokio::test]
    async fn json_type_error_is_422_naming_the_field() {
        let (resp, v) = call(
            app(),
            json_post(r#"{"email": "a@b.c", "items": [{"sku": "A", "quantity": "two"}]}"#),
        )
        .await;
        assert_eq!(resp.status(), 422);
        assert_eq!(v["errors"][0]["field"], "items[0].quantity", "{v}");
        let msg = v["errors"][0]["message"].as_str().unwrap();
        assert!(msg.starts_with("invalid type"), "{msg}");
        assert!(!msg.contains("line"), "{msg}");

        let (resp, v) = call(app(), json_post(r#"{"items": []}"#)).await;
        assert_eq!(resp.status(), 422);
        assert_eq!(v["errors"][0]["field"], "email", "{v}");
        assert_eq!(v["errors"][0]["message"], "missing field `email`");

        let (_, v) = call(
            app(),
            json_post(r#"{"email": "e", "items": [{"sku": "A"}]}"#),
        )
        .await;
        assert_eq!(v["errors"][0]["field"], "items[0].quantity", "{v}");
    }

    #[tokio::test]
    async fn an_integral_float_is_an_integer_and_a_fraction_is_not() {
        let (resp, v) = call(
            app(),
            json_post(r#"{"email": "e", "items": [{"sku": "A", "quantity": 2.0}]}"#),
        )
        .await;
        assert_eq!(resp.status(), 200, "{v}");
        assert_eq!(v["items"][0]["quantity"], 2);
        let (resp, v) = call(
            app(),
            json_post(r#"{"email": "e", "items": [{"sku": "A", "quantity": 2.5}]}"#),
        )
        .await;
        assert_eq!(resp.status(), 422);
        assert_eq!(v["errors"][0]["field"], "items[0].quantity", "{v}");
        let (resp, _) = call(app(), json_post(r#"["e", []]"#)).await;
        assert_eq!(resp.status(), 422, "an array is not an object");
    }

    #[tokio::test]
    async fn wrong_content_type_is_415() {
        let req = axum::http::Request::post("/orders")
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from("{}"))
            .unwrap();
        let (resp, v) = call(app(), req).await;
        assert_eq!(resp.status(), 415);
        assert_eq!(v["status"], 415);
    }

    #[tokio::test]
    async fn bad_path_and_query_are_400_naming_the_parameter() {
        let req = axum::http::Request::get("/orders/not-a-uuid")
            .body(Body::empty())
            .unwrap();
        let (resp, v) = call(app(), req).await;
        assert_eq!(resp.status(), 400);
        assert_eq!(v["errors"][0]["field"], "id", "{v}");
        assert!(v["detail"].as_str().unwrap().contains("UUID"), "{v}");

        let req = axum::http::Request::get("/search?limit=lots")
            .body(Body::empty())
            .unwrap();
        let (resp, v) = call(app(), req).await;
        assert_eq!(resp.status(), 400);
        assert_eq!(content_type(&resp), CONTENT_TYPE);
        assert!(v["detail"].as_str().unwrap().contains("query"), "{v}");
    }

    #[tokio::test]
    async fn unknown_route_and_method_are_problems() {
        let req = axum::http::Request::get("/nope")
            .body(Body::empty())
            .unwrap();
        let (resp, v) = call(app(), req).await;
        assert_eq!(resp.status(), 404);
        assert_eq!(content_type(&resp), CONTENT_TYPE);
        assert_eq!(v["instance"], "/nope");

        let req = axum::http::Request::delete("/orders")
            .body(Body::empty())
            .unwrap();
        let (resp, v) = call(app(), req).await;
        assert_eq!(resp.status(), 405);
        assert_eq!(content_type(&resp), CONTENT_TYPE);
        assert_eq!(resp.headers()[header::ALLOW], "POST");
        assert_eq!(v["status"], 405);
    }

    #[tokio::test]
    async fn plain_error_responses_are_rewritten_without_leaking_5xx_bodies() {
        let req = axum::http::Request::get("/teapot")
            .body(Body::empty())
            .unwrap();
        let (resp, v) = call(app(), req).await;
        assert_eq!(resp.status(), 418);
        assert_eq!(content_type(&resp), CONTENT_TYPE);
        assert_eq!(v["detail"], "short and stout");

        let req = axum::http::Request::get("/boom")
            .body(Body::empty())
            .unwrap();
        let (resp, v) = call(app(), req).await;
        assert_eq!(resp.status(), 500);
        assert!(!v.to_string().contains("hunter2"), "{v}");
    }

    #[test]
    fn panic_payloads_become_500_problems() {
        let resp = panic_response(Box::new("index out of bounds"));
        assert_eq!(resp.status(), 500);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
    }

    #[test]
    fn field_paths_are_told_apart_from_messages() {
        assert_eq!(
            field_error_from_serde("invalid type: map, expected a string at line 1 column 1"),
            FieldError::new("(body)", "invalid type: map, expected a string")
        );
        assert_eq!(
            field_error_from_serde("address.zip: invalid length 3 at line 1 column 30").field,
            "address.zip"
        );
        assert_eq!(
            field_error_from_serde("address: missing field `zip` at line 1 column 30").field,
            "address.zip"
        );
    }
}
