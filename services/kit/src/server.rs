//! Serving a role. gRPC roles carry gRPC and their HTTP routes (`/healthz`, `/readyz`, `/metrics`,
//! and e.g. auth's JWKS) on ONE port: axum serves HTTP/1.1 and HTTP/2 (h2c) on the same listener
//! and tonic's routes are merged into the axum router.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

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

/// The application of an HTTP role: `api` (its state applied) with the health routes, 404 and
/// 405 as problem+json, and the layers every HTTP role has: problem normalization (request id,
/// problem+json for axum's own rejections), a panic answered as a 500 problem, RED metrics and
/// tracing. A role with nothing but health routes passes `Router::new()`.
pub fn http_app(api: Router, readiness: crate::health::Readiness, metrics: &Metrics) -> Router {
    api.merge(crate::health::router(readiness, metrics.clone()))
        .fallback(crate::problem::not_found_fallback)
        .method_not_allowed_fallback(crate::problem::method_not_allowed_fallback)
        .layer(axum::middleware::from_fn(crate::problem::normalize_errors))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            crate::problem::panic_response,
        ))
        .layer(axum::middleware::from_fn_with_state(
            metrics.clone(),
            crate::metrics::track_http,
        ))
        .layer(crate::telemetry::http_trace_layer())
}

/// What one listener lets its clients hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; more wait in the kernel's accept queue (a file-descriptor
    /// bound, not a request limit: size it well above the expected concurrency).
    pub max_connections: usize,
    /// An HTTP/1 client must send a whole request head within this; a slow one is disconnected.
    pub header_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves `app` until shutdown, then drains in-flight requests; default [`Limits`].
pub async fn serve(listener: TcpListener, app: Router, shutdown: Shutdown) -> anyhow::Result<()> {
    serve_with(listener, app, shutdown, Limits::default()).await
}

/// Serves `app` (HTTP/1.1 and h2c on one listener, `ConnectInfo<SocketAddr>` on every request)
/// with `limits`, until shutdown; then stops accepting and drains the open connections.
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    shutdown: Shutdown,
    limits: Limits,
) -> anyhow::Result<()> {
    use axum::extract::ConnectInfo;
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceExt as _;

    let max = limits.max_connections.clamp(1, 1_000_000);
    let slots = Arc::new(Semaphore::new(max));
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    // Tells every connection to finish its in-flight requests and close.
    let (closing_tx, closing_rx) = tokio::sync::watch::channel(false);
    let stop = shutdown.signal();
    tokio::pin!(stop);
    loop {
        // A free slot first: at the cap, new connections wait in the accept queue.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = &mut stop => break,
        };
        let (stream, remote) = tokio::select! {
            r = listener.accept() => match r {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let svc = app
            .clone()
            .map_request(move |mut req: axum::extract::Request| {
                req.extensions_mut().insert(ConnectInfo(remote));
                req
            })
            .map_request(|req: hyper::Request<hyper::body::Incoming>| {
                req.map(axum::body::Body::new)
            });
        let builder = builder.clone();
        let mut closing = closing_rx.clone();
        tokio::spawn(async move {
            let conn = builder.serve_connection_with_upgrades(
                TokioIo::new(stream),
                TowerToHyperService::new(svc),
            );
            tokio::pin!(conn);
            let r = tokio::select! {
                r = conn.as_mut() => r,
                _ = async { closing.wait_for(|c| *c).await.map(|_| ()) } => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = r {
                tracing::trace!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = closing_tx.send(true);
    // Drained when every connection gave its slot back (bounded: a stuck client does not hold
    // the process).
    let all = u32::try_from(max).expect("at most a million");
    if tokio::time::timeout(Duration::from_secs(30), slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("connections still open 30 s after shutdown began; closing them");
    }
    Ok(())
}

/// The axum method filter of a verb of the checkout-totals table (`contracts::totals::routes`),
/// for the order service that serves its routes and the gateway that forwards them.
pub fn method_filter(verb: contracts::totals::routes::Verb) -> axum::routing::MethodFilter {
    use axum::routing::MethodFilter;
    use contracts::totals::routes::Verb;
    match verb {
        Verb::Get => MethodFilter::GET,
        Verb::Put => MethodFilter::PUT,
        Verb::Post => MethodFilter::POST,
        Verb::Delete => MethodFilter::DELETE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn every_http_role_answers_problems_for_404_405_and_panics() {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        let api = Router::new().route(
            "/api/v1/boom",
            axum::routing::post(|| async {
                if true {
                    panic!("a bug");
                }
                "unreachable"
            }),
        );
        let app = http_app(api, crate::health::Readiness::new(), &Metrics::new("test"));
        for (method, path, status) in [
            ("POST", "/api/v1/boom", 500),
            ("GET", "/api/v1/boom", 405),
            ("GET", "/api/v1/nothing", 404),
            ("GET", "/healthz", 200),
        ] {
            let req = http::Request::builder()
                .method(method)
                .uri(path)
                .body(axum::body::Body::empty())
                .unwrap();
            let resp = app.clone().oneshot(req).await.unwrap();
            assert_eq!(resp.status().as_u16(), status, "{method} {path}");
            if status >= 400 {
                assert_eq!(
                    resp.headers()[http::header::CONTENT_TYPE],
                    "application/problem+json",
                    "{method} {path}"
                );
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                let p: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(p["status"], status, "{p}");
                assert!(!p.to_string().contains("a bug"), "{p}");
            }
        }
    }

    async fn start(limits: Limits) -> (SocketAddr, Shutdown, tokio::task::JoinHandle<()>) {
        let listener = bind("test", "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route(
            "/ip",
            axum::routing::get(
                |axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>| async move {
                    peer.ip().to_string()
                },
            ),
        );
        let shutdown = Shutdown::new();
        let s = shutdown.clone();
        let task = tokio::spawn(async move { serve_with(listener, app, s, limits).await.unwrap() });
        (addr, shutdown, task)
    }

    /// A client that never finishes its request head is disconnected after the header
    /// timeout instead of holding the connection forever (slowloris).
    #[tokio::test]
    async fn a_slow_request_head_is_cut_off_and_requests_see_their_peer() {
        let (addr, shutdown, task) = start(Limits {
            max_connections: 10,
            header_read_timeout: Duration::from_millis(300),
        })
        .await;
        let body = reqwest::get(format!("http://{addr}/ip"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "127.0.0.1");
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /ip HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut buf)).await;
        assert!(
            read.is_ok(),
            "the server closed the slow connection within the deadline"
        );
        shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("shutdown drains and returns")
            .unwrap();
    }

    /// At the cap a new connection waits until one is released.
    #[tokio::test]
    async fn connections_past_the_cap_wait_for_a_free_slot() {
        let (addr, shutdown, _task) = start(Limits {
            max_connections: 1,
            header_read_timeout: Duration::from_secs(10),
        })
        .await;
        let held = tokio::net::TcpStream::connect(addr).await.unwrap();
        // The second connection is not served while the first holds the only slot.
        let second = tokio::time::timeout(
            Duration::from_millis(500),
            reqwest::get(format!("http://{addr}/ip")),
        )
        .await;
        assert!(second.is_err(), "served past the cap");
        drop(held);
        let ok = tokio::time::timeout(
            Duration::from_secs(10),
            reqwest::get(format!("http://{addr}/ip")),
        )
        .await
        .expect("served once the slot is free")
        .unwrap();
        assert_eq!(ok.status(), 200);
        shutdown.trigger();
    }
}
