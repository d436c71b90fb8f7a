//! Prometheus metrics for one role: RED (rate, errors, duration) per HTTP route and method and per
//! event consumer, plus a registry roles add their own metrics to. Rendered by `/metrics`.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConsumerLabels {
    pub consumer: String,
    pub event_type: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConsumerDurationLabels {
    pub consumer: String,
}

type DurationFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    // 0.5 ms .. ~16 s
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// One role's metrics. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: DurationFamily<RouteLabels>,
    events: Family<ConsumerLabels, Counter>,
    event_duration: DurationFamily<ConsumerDurationLabels>,
}

impl Metrics {
    pub fn new(role: &str) -> Self {
        let mut registry = Registry::with_prefix_and_labels(
            "storefront",
            [(
                std::borrow::Cow::Borrowed("role"),
                std::borrow::Cow::Owned(role.to_owned()),
            )]
            .into_iter(),
        );
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration: DurationFamily<RouteLabels> =
            Family::new_with_constructor(duration_histogram as fn() -> Histogram);
        let events = Family::<ConsumerLabels, Counter>::default();
        let event_duration: DurationFamily<ConsumerDurationLabels> =
            Family::new_with_constructor(duration_histogram as fn() -> Histogram);
        registry.register(
            "http_requests",
            "HTTP requests served, by route, method and status",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request duration, by route and method",
            http_duration.clone(),
        );
        registry.register(
            "events_consumed",
            "Events handled by consumers, by outcome (applied, duplicate, error)",
            events.clone(),
        );
        registry.register(
            "event_handling_duration_seconds",
            "Time to handle one consumed event",
            event_duration.clone(),
        );
        Self {
            registry: Arc::new(Mutex::new(registry)),
            http_requests,
            http_duration,
            events,
            event_duration,
        }
    }

    /// Adds a role-specific metric.
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.registry
            .lock()
            .expect("metrics registry poisoned")
            .register(name, help, metric);
    }

    /// OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let reg = self.registry.lock().expect("metrics registry poisoned");
        prometheus_client::encoding::text::encode(&mut out, &reg)
            .expect("writing to a String cannot fail");
        out
    }

    pub fn observe_http(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.http_requests
            .get_or_create(&HttpLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.http_duration
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    pub fn observe_event(&self, consumer: &str, event_type: &str, outcome: &str, seconds: f64) {
        self.events
            .get_or_create(&ConsumerLabels {
                consumer: consumer.to_owned(),
                event_type: event_type.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        self.event_duration
            .get_or_create(&ConsumerDurationLabels {
                consumer: consumer.to_owned(),
            })
            .observe(seconds);
    }
}

/// axum middleware recording RED metrics under the matched route template (never the raw path,
/// so ids do not explode the label space). Install with
/// `router.layer(axum::middleware::from_fn_with_state(metrics, kit::metrics::track_http))`.
pub async fn track_http(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let is_grpc = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    // gRPC method paths are a fixed set (`/pkg.Service/Method`); HTTP uses the route template.
    let route = if is_grpc {
        req.uri().path().to_owned()
    } else {
        req.extensions()
            .get::<MatchedPath>()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "unmatched".to_owned())
    };
    let resp = next.run(req).await;
    metrics.observe_http(
        &method,
        &route,
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_red_metrics_with_role_label() {
        let m = Metrics::new("gateway");
        m.observe_http("GET", "/api/v1/products/{id}", 200, 0.01);
        m.observe_event("inventory", "order.paid", "applied", 0.002);
        let text = m.render();
        assert!(text.contains("storefront_http_requests_total{"), "{text}");
        assert!(text.contains("route=\"/api/v1/products/{id}\""), "{text}");
        assert!(text.contains("role=\"gateway\""), "{text}");
        assert!(text.contains("storefront_events_consumed_total{"), "{text}");
        assert!(
            text.contains("storefront_http_request_duration_seconds_bucket"),
            "{text}"
        );
    }
}
