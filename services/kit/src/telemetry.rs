//! Tracing set-up (human output on a terminal, JSON otherwise, optional OTLP export) and W3C
//! `traceparent` propagation over HTTP headers, gRPC metadata and Kafka headers.

use std::io::IsTerminal;
use std::sync::OnceLock;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, TelemetrySettings};

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Flushes exported spans when dropped (keep it alive for the life of the process).
#[must_use = "dropping the guard flushes and stops trace export"]
pub struct TelemetryGuard {
    owner: bool,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if self.owner
            && let Some(p) = PROVIDER.get()
        {
            let _ = p.shutdown();
        }
    }
}

/// An error with every cause, `outer: cause: cause`, for the `error.chain` field of a log line.
/// Never the `Debug` form: with `RUST_BACKTRACE` set, anyhow's `Debug` adds a captured backtrace,
/// and symbolising it loads the binary's debug information into memory for good (measured by
/// the soak: +112 MiB per process that logged one) besides 60 lines per log entry.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        // Some errors repeat their source's message in their own; say it once.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

/// Installs the global subscriber. Only the first call in a process installs anything (so
/// `storefront up` and tests can call it once per role); later calls return an inert guard.
pub fn init(service: &str, settings: &TelemetrySettings) -> anyhow::Result<TelemetryGuard> {
    if PROVIDER.get().is_some() {
        return Ok(TelemetryGuard { owner: false });
    }
    let mut builder = SdkTracerProvider::builder().with_resource(
        opentelemetry_sdk::Resource::builder()
            .with_service_name(service.to_owned())
            .build(),
    );
    if let Some(endpoint) = &settings.otlp_endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    if PROVIDER.set(provider.clone()).is_err() {
        return Ok(TelemetryGuard { owner: false });
    }
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("storefront"));

    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.log_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match settings.log_format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let fmt = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed()
    };
    // Another subscriber may already be installed (tests); that is not an error.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init();
    Ok(TelemetryGuard { owner: true })
}

/// Sets up W3C propagation without installing a subscriber (tests and tools that only propagate).
pub fn ensure_propagator() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    });
}

struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(val)) = (
            http::header::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, val);
        }
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct MapCarrier<'a>(&'a mut Vec<(String, String)>);

impl Injector for MapCarrier<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_owned(), value));
    }
}

struct TraceparentOnly<'a>(Option<&'a str>);

impl Extractor for TraceparentOnly<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        if key == "traceparent" { self.0 } else { None }
    }
    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}

/// Writes the current span's `traceparent` into outgoing HTTP headers (or gRPC metadata via
/// `tonic::metadata::MetadataMap::into_headers`).
pub fn inject_traceparent(headers: &mut http::HeaderMap) {
    let cx = Span::current().context();
    TraceContextPropagator::new().inject_context(&cx, &mut HeaderInjector(headers));
}

/// The current span's `traceparent` value, if the span is being traced.
pub fn current_traceparent() -> Option<String> {
    let cx = Span::current().context();
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut out = Vec::new();
    TraceContextPropagator::new().inject_context(&cx, &mut MapCarrier(&mut out));
    out.into_iter()
        .find(|(k, _)| k == "traceparent")
        .map(|(_, v)| v)
}

/// Makes `span` a child of the trace named by incoming HTTP headers / gRPC metadata.
pub fn set_parent_from_headers(span: &Span, headers: &http::HeaderMap) {
    let cx = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

/// Makes `span` a child of a `traceparent` value (from a Kafka header or a CloudEvent).
pub fn set_parent_from_traceparent(span: &Span, traceparent: Option<&str>) {
    let cx = TraceContextPropagator::new().extract(&TraceparentOnly(traceparent));
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

/// The span every inbound HTTP request runs in; parented on an incoming `traceparent`.
pub fn make_http_span<B>(req: &http::Request<B>) -> Span {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let span = tracing::info_span!(
        "http",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %request_id,
        status = tracing::field::Empty,
    );
    set_parent_from_headers(&span, req.headers());
    span
}

type MakeSpan = fn(&http::Request<axum::body::Body>) -> Span;

/// tower-http trace layer for axum routers: one span per request, status recorded, traceparent
/// honoured.
pub fn http_trace_layer() -> tower_http::trace::TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    MakeSpan,
> {
    tower_http::trace::TraceLayer::new_for_http().make_span_with(make_http_span as MakeSpan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_chain_names_every_cause_once_and_no_backtrace() {
        let io = std::io::Error::other("connection refused");
        let e = anyhow::Error::new(io)
            .context("publishing event 7")
            .context("0 of 1 events published");
        assert_eq!(
            chain(e.as_ref()),
            "0 of 1 events published: publishing event 7: connection refused"
        );
        let sql = sqlx::Error::PoolTimedOut;
        assert_eq!(chain(&sql), sql.to_string());
    }

    #[test]
    fn traceparent_round_trips_through_headers() {
        ensure_propagator();
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut headers = http::HeaderMap::new();
        headers.insert("traceparent", tp.parse().unwrap());
        let cx = TraceContextPropagator::new().extract(&HeaderExtractor(&headers));
        assert!(cx.span().span_context().is_valid());
        let mut out = http::HeaderMap::new();
        TraceContextPropagator::new().inject_context(&cx, &mut HeaderInjector(&mut out));
        assert_eq!(out.get("traceparent").unwrap(), tp);
    }

    #[test]
    fn garbage_traceparent_is_ignored() {
        let cx = TraceContextPropagator::new().extract(&TraceparentOnly(Some("nonsense")));
        assert!(!cx.span().span_context().is_valid());
    }
}
