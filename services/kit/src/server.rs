//! Serving a role. gRPC roles carry gRPC and their HTTP routes (`/healthz`, `/readyz`, `/metrics`,
//! and e.g. auth's JWKS) on ONE port: axum serves HTTP/1.1 and HTTP/2 (h2c) on the same listener
//! and tonic's routes are merged into the axum router.

use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;

use crate::metrics::Metrics;
use crate::shutdown::Shutdown;

/// Binds the role's listener (port 0 picks a free port: tests read it back with `local_addr`).
pub async fn bind(role: &str, addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("{role}: cannot listen on {addr}"))
}

/// One router carrying the gRPC services and the HTTP routes, with RED metrics and tracing on
/// both (gRPC calls are labelled by their full method path).
pub fn grpc_with_http(grpc: tonic::service::Routes, http: Router, metrics: &Metrics) -> Router {
    grpc.prepare()
        .into_axum_router()
        .merge(http)
        .layer(axum::middleware::from_fn_with_state(
            metrics.clone(),
            crate::metrics::track_http,
        ))
        .layer(crate::telemetry::http_trace_layer())
}

/// Serves `app` until shutdown, then drains in-flight requests.
pub async fn serve(listener: TcpListener, app: Router, shutdown: Shutdown) -> anyhow::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.signal())
    .await
    .context("server stopped with an error")
}
