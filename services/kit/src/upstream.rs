//! Outbound clients that spread calls over every address a DNS name resolves to (Kubernetes
//! headless Services), re-resolving in the background: a balanced tonic `Channel` for gRPC and
//! [`HttpUpstream`] (reqwest, round-robin) for HTTP. Both forward the request id and traceparent.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use anyhow::Context;
use futures::future::BoxFuture;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use tonic::transport::channel::Change;
use tonic::transport::{Channel, Endpoint};

use crate::problem::REQUEST_ID_HEADER;

/// How often names are resolved again.
pub const DEFAULT_RESOLVE_INTERVAL: Duration = Duration::from_secs(10);

/// Request headers passed on to upstreams: the request id and the caller's bearer token (every
/// service verifies it again).
pub const FORWARDED_HEADERS: [&str; 3] = [REQUEST_ID_HEADER, "authorization", "accept-language"];

/// Headers for an upstream call made while serving `incoming`: the forwarded ones plus the
/// current span's `traceparent`.
pub fn forward_headers(incoming: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in FORWARDED_HEADERS {
        if let Some(v) = incoming.get(name) {
            out.insert(HeaderName::from_static(name), v.clone());
        }
    }
    inject_trace_context(&mut out);
    out
}

/// The hook where trace context joins every outbound call.
fn inject_trace_context(headers: &mut HeaderMap) {
    crate::telemetry::inject_traceparent(headers);
}

/// A gRPC request carrying the forwarded headers of `incoming` as metadata.
pub fn grpc_request<T>(message: T, incoming: &HeaderMap) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    for (name, value) in forward_headers(incoming).iter() {
        if let (Ok(k), Ok(v)) = (
            tonic::metadata::MetadataKey::from_bytes(name.as_str().as_bytes()),
            tonic::metadata::MetadataValue::try_from(value.as_bytes()),
        ) {
            req.metadata_mut().insert(k, v);
        }
    }
    req
}

/// Host and port of a base URL.
#[derive(Clone, Debug)]
struct Target {
    host: String,
    port: u16,
}

fn parse_target(uri: &str) -> anyhow::Result<(url::Url, Target)> {
    let url = url::Url::parse(uri).with_context(|| format!("`{uri}` is not a URL"))?;
    let host = url
        .host_str()
        .with_context(|| format!("`{uri}` has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url
        .port_or_known_default()
        .with_context(|| format!("`{uri}` has no port"))?;
    Ok((url, Target { host, port }))
}

/// Produces the current set of addresses of an upstream.
type Resolver =
    Arc<dyn Fn() -> BoxFuture<'static, std::io::Result<BTreeSet<SocketAddr>>> + Send + Sync>;

fn dns_resolver(target: Target) -> Resolver {
    Arc::new(move || {
        let target = target.clone();
        Box::pin(async move {
            if let Ok(ip) = target.host.parse::<IpAddr>() {
                return Ok(BTreeSet::from([SocketAddr::new(ip, target.port)]));
            }
            Ok(tokio::net::lookup_host((target.host.as_str(), target.port))
                .await?
                .collect())
        })
    })
}

/// A gRPC channel balancing over every address `uri`'s host resolves to, with `timeout` on each
/// call. The host is resolved again every [`DEFAULT_RESOLVE_INTERVAL`]; endpoints are added and
/// removed as addresses come and go (the task ends when the last clone of the channel is
/// dropped). Connections are lazy, so this does not fail while an upstream is down. Needs a
/// Tokio runtime.
pub fn grpc_channel(uri: &str, timeout: Duration) -> anyhow::Result<Channel> {
    grpc_channel_with_interval(uri, timeout, DEFAULT_RESOLVE_INTERVAL)
}

/// [`grpc_channel`] with a chosen re-resolution interval.
pub fn grpc_channel_with_interval(
    uri: &str,
    timeout: Duration,
    resolve_every: Duration,
) -> anyhow::Result<Channel> {
    let (_, target) = parse_target(uri)?;
    grpc_channel_with_resolver(uri, timeout, resolve_every, dns_resolver(target))
}

fn grpc_channel_with_resolver(
    uri: &str,
    timeout: Duration,
    resolve_every: Duration,
    resolver: Resolver,
) -> anyhow::Result<Channel> {
    let (url, _) = parse_target(uri)?;
    let origin: http::Uri = uri
        .parse()
        .with_context(|| format!("`{uri}` is not a valid URI"))?;
    let scheme = url.scheme().to_owned();
    let make_endpoint = move |addr: SocketAddr| -> anyhow::Result<Endpoint> {
        Ok(Endpoint::from_shared(format!("{scheme}://{addr}"))?
            .origin(origin.clone())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true))
    };
    let (channel, tx) = Channel::balance_channel::<SocketAddr>(64);
    let uri = uri.to_owned();
    tokio::spawn(async move {
        let mut current: BTreeSet<SocketAddr> = BTreeSet::new();
        let mut tick = tokio::time::interval(resolve_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if tx.is_closed() {
                return; // every clone of the channel is gone
            }
            let found = match resolver().await {
                Ok(found) if !found.is_empty() => found,
                Ok(_) => {
                    tracing::warn!(upstream = %uri, "name resolves to no address; keeping the last ones");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(upstream = %uri, error = %e, "cannot resolve; keeping the last addresses");
                    continue;
                }
            };
            if found == current {
                continue;
            }
            for gone in current.difference(&found) {
                if tx.send(Change::Remove(*gone)).await.is_err() {
                    return;
                }
            }
            for new in found.difference(&current) {
                match make_endpoint(*new) {
                    Ok(ep) => {
                        if tx.send(Change::Insert(*new, ep)).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => tracing::warn!(upstream = %uri, error = %e, "bad endpoint"),
                }
            }
            tracing::debug!(upstream = %uri, addrs = ?found, "upstream addresses changed");
            current = found;
        }
    });
    Ok(channel)
}

struct HttpInner {
    client: reqwest::Client,
    base: url::Url,
    /// `host[:port]` of the base URL, sent as `Host` when connecting by address.
    authority: HeaderValue,
    addrs: RwLock<Vec<SocketAddr>>,
    next: AtomicUsize,
    timeout: Duration,
}

/// An HTTP upstream (`http://order:3006`) whose calls go round-robin over every address its
/// host resolves to, each with a timeout, `Host` kept, and the forwarded headers. Cheap to clone.
///
/// Plain-HTTP bases (what services speak inside the cluster) are balanced by connecting to each
/// address; HTTPS bases keep the name in the URL for TLS and leave the address to the resolver.
#[derive(Clone)]
pub struct HttpUpstream {
    inner: Arc<HttpInner>,
}

impl std::fmt::Debug for HttpUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpUpstream")
            .field("base", &self.inner.base.as_str())
            .field("addrs", &self.addrs())
            .finish()
    }
}

impl HttpUpstream {
    /// Resolves `base_url`'s host now and again every [`DEFAULT_RESOLVE_INTERVAL`] in the
    /// background (the task ends when the last clone is dropped). A name that does not resolve
    /// yet is not an error. Needs a Tokio runtime.
    pub async fn new(base_url: &str, timeout: Duration) -> anyhow::Result<Self> {
        Self::with_resolve_interval(base_url, timeout, DEFAULT_RESOLVE_INTERVAL).await
    }

    pub async fn with_resolve_interval(
        base_url: &str,
        timeout: Duration,
        resolve_every: Duration,
    ) -> anyhow::Result<Self> {
        let (_, target) = parse_target(base_url)?;
        let fixed = target.host.parse::<IpAddr>().is_ok();
        Self::with_resolver(
            base_url,
            timeout,
            resolve_every,
            dns_resolver(target),
            !fixed,
        )
        .await
    }

    async fn with_resolver(
        base_url: &str,
        timeout: Duration,
        resolve_every: Duration,
        resolver: Resolver,
        keep_resolving: bool,
    ) -> anyhow::Result<Self> {
        let addrs = match resolver().await {
            Ok(a) => a.into_iter().collect(),
            Err(e) => {
                tracing::warn!(upstream = %base_url, error = %e, "cannot resolve yet; will retry");
                Vec::new()
            }
        };
        let up = Self::build(base_url, addrs, timeout)?;
        if keep_resolving {
            let weak = Arc::downgrade(&up.inner);
            tokio::spawn(re_resolve(weak, resolver, resolve_every));
        }
        Ok(up)
    }

    /// A fixed list of addresses for `base_url` (tests, static configuration); no resolving.
    pub fn from_addrs(
        base_url: &str,
        addrs: Vec<SocketAddr>,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        Self::build(base_url, addrs, timeout)
    }

    fn build(base_url: &str, addrs: Vec<SocketAddr>, timeout: Duration) -> anyhow::Result<Self> {
        let (base, _) = parse_target(base_url)?;
        let authority = match (base.host_str(), base.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => anyhow::bail!("`{base_url}` has no host"),
        };
        let client = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            // Bodies pass through untouched (the gateway forwards them as they come), even
            // when another crate in the build (the load tool) turns on reqwest's gzip feature.
            .no_gzip()
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            inner: Arc::new(HttpInner {
                client,
                base,
                authority: HeaderValue::from_str(&authority)?,
                addrs: RwLock::new(addrs),
                next: AtomicUsize::new(0),
                timeout,
            }),
        })
    }

    /// The addresses calls currently go to.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.inner.addrs.read().expect("addrs poisoned").clone()
    }

    pub fn base_url(&self) -> &url::Url {
        &self.inner.base
    }

    /// `path_and_query` under the base URL, on the next address in turn.
    fn next_url(&self, path_and_query: &str) -> url::Url {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        let mut url = self.inner.base.clone();
        let joined = format!(
            "{}/{}",
            url.path().trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        url.set_path(&joined);
        url.set_query(query);
        if url.scheme() != "http" {
            return url;
        }
        let addrs = self.inner.addrs.read().expect("addrs poisoned");
        if addrs.is_empty() {
            return url;
        }
        let addr = addrs[self.inner.next.fetch_add(1, Ordering::Relaxed) % addrs.len()];
        // An http URL always takes an IP host and a port.
        let _ = url.set_ip_host(addr.ip());
        let _ = url.set_port(Some(addr.port()));
        url
    }

    /// A request to the next address, with the timeout, `Host` and trace context set.
    pub fn request(&self, method: Method, path_and_query: &str) -> reqwest::RequestBuilder {
        self.request_forwarding(method, path_and_query, &HeaderMap::new())
    }

    /// [`HttpUpstream::request`] that also forwards the request id and bearer token of the
    /// request being served (see [`FORWARDED_HEADERS`]).
    pub fn request_forwarding(
        &self,
        method: Method,
        path_and_query: &str,
        incoming: &HeaderMap,
    ) -> reqwest::RequestBuilder {
        let url = self.next_url(path_and_query);
        let mut headers = forward_headers(incoming);
        headers.insert(http::header::HOST, self.inner.authority.clone());
        self.inner
            .client
            .request(method, url)
            .headers(headers)
            .timeout(self.inner.timeout)
    }

    pub fn get(&self, path_and_query: &str) -> reqwest::RequestBuilder {
        self.request(Method::GET, path_and_query)
    }

    pub fn post(&self, path_and_query: &str) -> reqwest::RequestBuilder {
        self.request(Method::POST, path_and_query)
    }
}

async fn re_resolve(weak: Weak<HttpInner>, resolver: Resolver, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // resolved at construction
    loop {
        tick.tick().await;
        let Some(inner) = weak.upgrade() else { return };
        match resolver().await {
            Ok(found) if !found.is_empty() => {
                let found: Vec<SocketAddr> = found.into_iter().collect();
                let mut addrs = inner.addrs.write().expect("addrs poisoned");
                if *addrs != found {
                    tracing::debug!(upstream = %inner.base, addrs = ?found, "upstream addresses changed");
                    *addrs = found;
                }
            }
            Ok(_) => {
                tracing::warn!(upstream = %inner.base, "name resolves to no address; keeping the last ones")
            }
            Err(e) => {
                tracing::warn!(upstream = %inner.base, error = %e, "cannot resolve; keeping the last addresses")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// An HTTP server on 127.0.0.1:0 answering `/who` with its name, the request id and `Host`.
    async fn named_server(name: &'static str) -> SocketAddr {
        let app = axum::Router::new().route(
            "/who",
            axum::routing::get(move |headers: HeaderMap| async move {
                let get = |h: &str| {
                    headers
                        .get(h)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-")
                        .to_owned()
                };
                format!("{name} {} {}", get(REQUEST_ID_HEADER), get("host"))
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    }

    /// A resolver whose answer the test changes.
    fn fake_resolver(addrs: Arc<Mutex<BTreeSet<SocketAddr>>>) -> Resolver {
        Arc::new(move || {
            let now = addrs.lock().unwrap().clone();
            Box::pin(async move { Ok(now) })
        })
    }

    async fn who(up: &HttpUpstream, incoming: &HeaderMap) -> Vec<String> {
        up.request_forwarding(Method::GET, "/who", incoming)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .text()
            .await
            .unwrap()
            .split(' ')
            .map(str::to_owned)
            .collect()
    }

    #[tokio::test]
    async fn http_calls_spread_over_every_address_and_forward_headers() {
        let a = named_server("a").await;
        let b = named_server("b").await;
        let up = HttpUpstream::from_addrs(
            "http://cart.storefront.svc:3005",
            vec![a, b],
            Duration::from_secs(5),
        )
        .unwrap();
        let mut incoming = HeaderMap::new();
        incoming.insert(REQUEST_ID_HEADER, HeaderValue::from_static("rid-7"));
        let mut seen: HashMap<String, usize> = HashMap::new();
        for _ in 0..10 {
            let parts = who(&up, &incoming).await;
            assert_eq!(parts[1], "rid-7", "{parts:?}");
            assert_eq!(parts[2], "cart.storefront.svc:3005", "{parts:?}");
            *seen.entry(parts[0].clone()).or_default() += 1;
        }
        assert_eq!(seen.get("a"), Some(&5), "{seen:?}");
        assert_eq!(seen.get("b"), Some(&5), "{seen:?}");
    }

    #[tokio::test]
    async fn http_upstream_follows_re_resolution() {
        let a = named_server("a").await;
        let b = named_server("b").await;
        let answer = Arc::new(Mutex::new(BTreeSet::from([a])));
        let up = HttpUpstream::with_resolver(
            "http://order:3006",
            Duration::from_secs(5),
            Duration::from_millis(20),
            fake_resolver(answer.clone()),
            true,
        )
        .await
        .unwrap();
        assert_eq!(who(&up, &HeaderMap::new()).await[0], "a");
        *answer.lock().unwrap() = BTreeSet::from([b]);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while up.addrs() != vec![b] {
            assert!(tokio::time::Instant::now() < deadline, "never re-resolved");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(who(&up, &HeaderMap::new()).await[0], "b");
    }

    #[tokio::test]
    async fn http_calls_time_out() {
        let app =
            axum::Router::new().route("/slow", axum::routing::get(std::future::pending::<String>));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let up = HttpUpstream::from_addrs(
            &format!("http://{addr}"),
            vec![addr],
            Duration::from_millis(100),
        )
        .unwrap();
        let err = up.get("/slow").send().await.unwrap_err();
        assert!(err.is_timeout(), "{err}");
    }

    #[tokio::test]
    async fn names_are_resolved_with_dns() {
        let a = named_server("a").await;
        let up = HttpUpstream::new(
            &format!("http://localhost:{}/base/", a.port()),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        let addrs = up.addrs();
        assert!(addrs.contains(&a), "{addrs:?}");
        assert_eq!(
            up.next_url("/who?x=1").path(),
            "/base/who",
            "paths are joined under the base"
        );
    }

    #[test]
    fn forwarded_headers_are_the_listed_ones() {
        let mut incoming = HeaderMap::new();
        incoming.insert(REQUEST_ID_HEADER, HeaderValue::from_static("r"));
        incoming.insert("authorization", HeaderValue::from_static("Bearer t"));
        incoming.insert("cookie", HeaderValue::from_static("secret"));
        let out = forward_headers(&incoming);
        assert_eq!(out[REQUEST_ID_HEADER], "r");
        assert_eq!(out["authorization"], "Bearer t");
        assert!(out.get("cookie").is_none());
        let req = grpc_request((), &incoming);
        assert_eq!(req.metadata().get(REQUEST_ID_HEADER).unwrap(), "r");
        assert!(req.metadata().get("cookie").is_none());
    }

    /// A gRPC server on 127.0.0.1:0 answering every unary call with an empty message and
    /// counting the calls it served.
    async fn grpc_server(hits: Arc<AtomicUsize>) -> SocketAddr {
        let router = axum::Router::new().fallback(move || {
            let hits = hits.clone();
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                // An empty unary reply: one zero-length message, then grpc-status 0 as trailer.
                let mut trailers = HeaderMap::new();
                trailers.insert("grpc-status", HeaderValue::from_static("0"));
                let frames = futures::stream::iter([
                    Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(
                        bytes::Bytes::from_static(&[0, 0, 0, 0, 0]),
                    )),
                    Ok(hyper::body::Frame::trailers(trailers)),
                ]);
                let body = axum::body::Body::new(http_body_util::StreamBody::new(frames));
                let mut resp = axum::response::Response::new(body);
                resp.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/grpc"),
                );
                resp
            }
        });
        let incoming =
            tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = incoming.local_addr().unwrap();
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_routes(tonic::service::Routes::from(router))
                .serve_with_incoming(incoming)
                .await
                .unwrap()
        });
        addr
    }

    async fn ping(channel: &Channel) -> Result<(), tonic::Status> {
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let path = http::uri::PathAndQuery::from_static("/test.Echo/Ping");
        grpc.unary::<(), (), _>(tonic::Request::new(()), path, EmptyCodec)
            .await
            .map(|_| ())
    }

    #[tokio::test]
    async fn grpc_channel_balances_over_resolved_addresses_and_follows_changes() {
        let (ha, hb) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let a = grpc_server(ha.clone()).await;
        let b = grpc_server(hb.clone()).await;
        let answer = Arc::new(Mutex::new(BTreeSet::from([a, b])));
        let channel = grpc_channel_with_resolver(
            "http://inventory.storefront.svc:3004",
            Duration::from_secs(5),
            Duration::from_millis(20),
            fake_resolver(answer.clone()),
        )
        .unwrap();
        // Both endpoints get calls (p2c picks at random; 200 calls make a miss vanishingly rare).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while ha.load(Ordering::SeqCst) == 0 || hb.load(Ordering::SeqCst) == 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "calls did not reach both servers"
            );
            ping(&channel).await.unwrap();
        }
        // `a` leaves the Service: soon every call lands on `b`.
        *answer.lock().unwrap() = BTreeSet::from([b]);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let before = ha.load(Ordering::SeqCst);
            for _ in 0..20 {
                ping(&channel).await.unwrap();
            }
            if ha.load(Ordering::SeqCst) == before {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "removed endpoint still used"
            );
        }
    }

    #[tokio::test]
    async fn grpc_channel_to_a_dns_name_connects() {
        let hits = Arc::new(AtomicUsize::new(0));
        let addr = grpc_server(hits.clone()).await;
        // `localhost` may also resolve to ::1, where nothing listens: calls routed there fail
        // and the next ones go elsewhere; at least one must get through.
        let channel = grpc_channel_with_interval(
            &format!("http://localhost:{}", addr.port()),
            Duration::from_secs(5),
            Duration::from_millis(50),
        )
        .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while ping(&channel).await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no call got through"
            );
        }
        assert!(hits.load(Ordering::SeqCst) >= 1);
    }

    /// A codec for `()` messages (empty bodies).
    #[derive(Default, Clone)]
    struct EmptyCodec;
    struct EmptyEnc;
    struct EmptyDec;

    impl tonic::codec::Codec for EmptyCodec {
        type Encode = ();
        type Decode = ();
        type Encoder = EmptyEnc;
        type Decoder = EmptyDec;
        fn encoder(&mut self) -> EmptyEnc {
            EmptyEnc
        }
        fn decoder(&mut self) -> EmptyDec {
            EmptyDec
        }
    }

    impl tonic::codec::Encoder for EmptyEnc {
        type Item = ();
        type Error = tonic::Status;
        fn encode(
            &mut self,
            _: (),
            _: &mut tonic::codec::EncodeBuf<'_>,
        ) -> Result<(), tonic::Status> {
            Ok(())
        }
    }

    impl tonic::codec::Decoder for EmptyDec {
        type Item = ();
        type Error = tonic::Status;
        fn decode(
            &mut self,
            _: &mut tonic::codec::DecodeBuf<'_>,
        ) -> Result<Option<()>, tonic::Status> {
            Ok(Some(()))
        }
    }
}
