//! Operator metrics (reconciles, errors by kind, reconcile duration) and the small HTTP server
//! that serves them with `/healthz` and `/readyz`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    error: String,
}

/// Counters and the duration histogram, registered in one registry.
pub struct Metrics {
    registry: Registry,
    reconciles: Counter,
    errors: Family<ErrorLabels, Counter>,
    duration: Histogram,
    /// Whether this replica leads (and so reconciles).
    pub leading: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("storefront_operator");
        let reconciles = Counter::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let duration = Histogram::new(exponential_buckets(0.01, 2.0, 12));
        registry.register("reconciles", "Reconciles started", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Reconciles that failed, by error kind",
            errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "How long a reconcile took",
            duration.clone(),
        );
        Self {
            registry,
            reconciles,
            errors,
            duration,
            leading: AtomicBool::new(false),
        }
    }
}

impl Metrics {
    pub fn reconciled(&self) {
        self.reconciles.inc();
    }

    /// Counts a failed reconcile by the `kind` of its error (`kube`, `finalizer`, `cleanup`).
    pub fn failed(&self, kind: &str) {
        self.errors
            .get_or_create(&ErrorLabels { error: kind.into() })
            .inc();
    }

    pub fn observe_duration(&self, d: Duration) {
        self.duration.observe(d.as_secs_f64());
    }

    /// The OpenMetrics text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String");
        out
    }
}

/// `/metrics`, `/healthz` (alive) and `/readyz` (alive; the standby replica is ready too, so a
/// rollout is not blocked by leader election).
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(m): State<Arc<Metrics>>| async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    m.render(),
                )
            }),
        )
        .route("/healthz", get(|| async { (StatusCode::OK, "ok") }))
        .route(
            "/readyz",
            get(|State(m): State<Arc<Metrics>>| async move {
                let role = if m.leading.load(Ordering::Relaxed) {
                    "leader"
                } else {
                    "standby"
                };
                (StatusCode::OK, role)
            }),
        )
        .with_state(metrics)
}

/// Serves [`router`] on `addr` until the process ends.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("binding the metrics address {addr}: {e}"))?;
    axum::serve(listener, router(metrics)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_reconciles_errors_and_duration() {
        let m = Metrics::default();
        m.reconciled();
        m.failed("cleanup");
        m.observe_duration(Duration::from_millis(30));
        let text = m.render();
        assert!(
            text.contains("storefront_operator_reconciles_total 1"),
            "{text}"
        );
        assert!(
            text.contains("storefront_operator_reconcile_errors_total{error=\"cleanup\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("storefront_operator_reconcile_duration_seconds_count 1"),
            "{text}"
        );
    }
}
