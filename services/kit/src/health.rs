//! `/healthz` (the process is alive), `/readyz` (the role's real dependencies answer) and
//! `/metrics` (Prometheus), served by every role on its own port.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::future::{BoxFuture, join_all};
use serde::Serialize;

use crate::metrics::Metrics;

/// What one dependency check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckStatus {
    Up,
    /// Working in a reduced mode (still ready), e.g. a local rate limiter while Redis is down.
    Degraded(String),
    /// Not usable: the role is not ready.
    Down(String),
}

type CheckFn = Arc<dyn Fn() -> BoxFuture<'static, CheckStatus> + Send + Sync>;

/// The named dependency checks of one role.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<(String, CheckFn)>,
    timeout: Option<Duration>,
}

#[derive(Serialize)]
struct CheckReport {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

#[derive(Serialize)]
struct ReadyReport {
    status: &'static str,
    checks: BTreeMap<String, CheckReport>,
}

impl Readiness {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a check. Each runs with a bound (default 2 s); running out of time counts as down.
    pub fn with<F, Fut>(mut self, name: &str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = CheckStatus> + Send + 'static,
    {
        self.checks
            .push((name.to_owned(), Arc::new(move || Box::pin(check()))));
        self
    }

    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Runs every check concurrently; `true` when none is down.
    pub async fn evaluate(&self) -> (bool, Vec<(String, CheckStatus)>) {
        let bound = self.timeout.unwrap_or(Duration::from_secs(2));
        let results = join_all(self.checks.iter().map(|(name, f)| {
            let fut = f();
            async move {
                let status = match tokio::time::timeout(bound, fut).await {
                    Ok(s) => s,
                    Err(_) => CheckStatus::Down(format!("no answer within {bound:?}")),
                };
                (name.clone(), status)
            }
        }))
        .await;
        let ok = results
            .iter()
            .all(|(_, s)| !matches!(s, CheckStatus::Down(_)));
        (ok, results)
    }
}

#[derive(Clone)]
struct HealthState {
    readiness: Readiness,
    metrics: Metrics,
}

/// The three health routes, to merge into the role's router.
pub fn router<S: Clone + Send + Sync + 'static>(
    readiness: Readiness,
    metrics: Metrics,
) -> Router<S> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(HealthState { readiness, metrics })
}

async fn healthz() -> Response {
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(serde_json::json!({"status": "ok"})),
    )
        .into_response()
}

async fn readyz(State(st): State<HealthState>) -> Response {
    let (ok, results) = st.readiness.evaluate().await;
    let degraded = results
        .iter()
        .any(|(_, s)| matches!(s, CheckStatus::Degraded(_)));
    let report = ReadyReport {
        status: match (ok, degraded) {
            (false, _) => "unavailable",
            (true, true) => "degraded",
            (true, false) => "ready",
        },
        checks: results
            .into_iter()
            .map(|(name, s)| {
                let (status, message) = match s {
                    CheckStatus::Up => ("up", None),
                    CheckStatus::Degraded(m) => ("degraded", Some(m)),
                    CheckStatus::Down(m) => ("down", Some(m)),
                };
                (name, CheckReport { status, message })
            })
            .collect(),
    };
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(report),
    )
        .into_response()
}

async fn metrics_text(State(st): State<HealthState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        st.metrics.render(),
    )
        .into_response()
}

/// Ready-made checks for the shared dependencies.
pub mod checks {
    use super::CheckStatus;

    pub fn postgres(
        pool: sqlx::PgPool,
    ) -> impl Fn() -> futures::future::BoxFuture<'static, CheckStatus> + Send + Sync + 'static {
        move || {
            let pool = pool.clone();
            Box::pin(async move {
                match sqlx::query_scalar::<_, i32>("SELECT 1")
                    .fetch_one(&pool)
                    .await
                {
                    Ok(_) => CheckStatus::Up,
                    Err(e) => CheckStatus::Down(e.to_string()),
                }
            })
        }
    }

    pub fn redis(
        conn: redis::aio::ConnectionManager,
    ) -> impl Fn() -> futures::future::BoxFuture<'static, CheckStatus> + Send + Sync + 'static {
        move || {
            let mut conn = conn.clone();
            Box::pin(async move {
                match redis::cmd("PING").query_async::<String>(&mut conn).await {
                    Ok(_) => CheckStatus::Up,
                    Err(e) => CheckStatus::Down(e.to_string()),
                }
            })
        }
    }

    pub fn kafka(
        settings: crate::config::KafkaSettings,
    ) -> impl Fn() -> futures::future::BoxFuture<'static, CheckStatus> + Send + Sync + 'static {
        move || {
            let settings = settings.clone();
            Box::pin(async move {
                match crate::kafka::probe(&settings).await {
                    Ok(()) => CheckStatus::Up,
                    Err(e) => CheckStatus::Down(format!("{e:#}")),
                }
            })
        }
    }

    pub fn s3(
        client: aws_sdk_s3::Client,
    ) -> impl Fn() -> futures::future::BoxFuture<'static, CheckStatus> + Send + Sync + 'static {
        move || {
            let client = client.clone();
            Box::pin(async move {
                match client.list_buckets().send().await {
                    Ok(_) => CheckStatus::Up,
                    Err(e) => CheckStatus::Down(crate::s3::describe_error(&e)),
                }
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    async fn get_json(r: Router, path: &str) -> (StatusCode, serde_json::Value) {
        let resp = r
            .oneshot(
                axum::http::Request::get(path)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = resp.status();
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap()
            .to_bytes();
        (status, serde_json::from_slice(&body).unwrap_or_default())
    }

    #[tokio::test]
    async fn readyz_reports_each_dependency() {
        let ready = Readiness::new()
            .with("postgres", || async { CheckStatus::Up })
            .with("redis", || async {
                CheckStatus::Degraded("local rate limiter in use".into())
            });
        let r: Router = router(ready, Metrics::new("t"));
        let (code, body) = get_json(r, "/readyz").await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(body["status"], "degraded");
        assert_eq!(body["checks"]["redis"]["status"], "degraded");
        assert_eq!(body["checks"]["postgres"]["status"], "up");
    }

    #[tokio::test]
    async fn readyz_is_503_when_a_dependency_is_down_or_hangs() {
        let ready = Readiness::new()
            .timeout(Duration::from_millis(50))
            .with("kafka", || async {
                std::future::pending::<()>().await;
                CheckStatus::Up
            });
        let r: Router = router(ready, Metrics::new("t"));
        let (code, body) = get_json(r.clone(), "/readyz").await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["checks"]["kafka"]["status"], "down");
        let (code, _) = get_json(r, "/healthz").await;
        assert_eq!(code, StatusCode::OK);
    }
}
