//! The answer cache: public catalog answers (search and category listings, product pages, the
//! category tree, anonymous recommendations) kept in the gateway's memory, ready to send
//! (compressed once), so a hit makes no call to the service behind and encodes nothing.
//!
//! Correctness: every product write, stock flip and category change increments the catalog
//! generation in Redis before the write returns (`kit::cache::Keys::catalog_generation`). Each
//! request reads the generation first (one `GET`) and is answered from memory only by an answer
//! stored under that same generation; a miss is stored under the generation read before the
//! service was asked, so an answer computed before a write can never outlive it. A write that
//! returned is therefore visible to the next read, through every gateway replica. When Redis
//! fails or is slow, requests go to the service as if there were no cache. Answers also expire
//! after `gateway.answer_cache.ttl_secs` (bounding staleness should a write's increment fail),
//! or sooner when the service's `Cache-Control: max-age` says so.
//!
//! Who shares an answer: [`Sharing::NonAdmin`] answers are the same for anonymous callers and
//! for every valid token without the admin role (admins also see drafts: theirs always go to
//! the service); [`Sharing::PerUser`] ones (recommendations) are shared by callers without a
//! token when the service marks them `Cache-Control: public, max-age=N`, and a signed-in user's
//! are kept for that user alone when the service marks them `Surrogate-Control: max-age=N`
//! (a header for the gateway only, removed from every answer). A user's answer is stored under
//! the user's generation too (`rec:user:{id}:gen`, read with the catalog's in one `MGET`),
//! which the recommender increments whenever it rewrites that user's keys: what the user did
//! shows in the next answer, what everyone else did within `max-age`. A request with a token
//! that is not valid, or on the deny list, goes to the service, which answers 401 as before.
//!
//! Memory: at most `gateway.answer_cache.max_bytes` (answers, both encodings, keys), the oldest
//! stored first out; an answer larger than a sixteenth of it is not stored. Users' own answers
//! (each read by one user) take at most a quarter of it, their oldest first out, so that many
//! signed-in users cannot push out the answers everyone shares.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kit::jwt::Claims;
use kit::problem::Problem;
use redis::aio::ConnectionManager;
use uuid::Uuid;

use crate::AppState;
use crate::config::AnswerCacheSettings;

/// Says whether an answer came from the cache (`hit`), was stored (`miss`) or bypassed it.
pub static X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// The service's directions to the gateway (`kit::cache::SURROGATE_CONTROL`).
const SURROGATE_CONTROL: HeaderName = HeaderName::from_static(kit::cache::SURROGATE_CONTROL);

/// Service headers never stored with an answer (per request or per connection, or for the
/// gateway only).
const DROPPED: [HeaderName; 5] = [
    header::CONTENT_LENGTH,
    header::DATE,
    header::TRANSFER_ENCODING,
    header::CONNECTION,
    SURROGATE_CONTROL,
];

/// Whose requests share one cached answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sharing {
    /// Anonymous callers and valid tokens without the admin role.
    NonAdmin,
    /// Anonymous callers (answers marked `public`), and each signed-in user for themself
    /// (answers marked `Surrogate-Control: max-age=N`).
    PerUser,
}

/// Whose answer a request gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    Shared,
    User(Uuid),
}

/// What an answer was stored under: the catalog generation and, for a user's own answer, the
/// user's generation (0 while the key is missing; always 0 for shared answers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Generation {
    catalog: i64,
    user: i64,
}

/// One answer, ready to send.
struct Answer {
    generation: Generation,
    /// One user's own answer (counted against the users' share).
    own: bool,
    stored: Instant,
    max_age: Duration,
    seq: u64,
    headers: HeaderMap,
    etag: HeaderValue,
    identity: Bytes,
    gzip: Bytes,
    size: usize,
}

impl Answer {
    fn fresh(&self, generation: Generation) -> bool {
        self.generation == generation && self.stored.elapsed() < self.max_age
    }
}

#[derive(Default)]
struct Store {
    answers: HashMap<Arc<str>, Arc<Answer>>,
    /// Keys in the order stored, with the `seq` of the answer stored then (a replaced answer
    /// leaves a stale pair behind, skipped when it comes up).
    order: VecDeque<(Arc<str>, u64)>,
    /// The same for users' own answers only.
    own_order: VecDeque<(Arc<str>, u64)>,
    bytes: usize,
    own_bytes: usize,
    seq: u64,
}

impl Store {
    /// Removes the answer at `key` if it is still the one stored with `seq`.
    fn evict(&mut self, key: &str, seq: u64) {
        if self.answers.get(key).is_some_and(|a| a.seq == seq)
            && let Some(old) = self.answers.remove(key)
        {
            self.forget(&old);
        }
    }

    /// Takes a removed or replaced answer off the byte counts.
    fn forget(&mut self, old: &Answer) {
        self.bytes -= old.size;
        if old.own {
            self.own_bytes -= old.size;
        }
    }
}

struct Inner {
    redis: ConnectionManager,
    keys: kit::cache::Keys,
    generation_key: String,
    timeout: Duration,
    ttl: Duration,
    max_bytes: usize,
    store: Mutex<Store>,
}

/// The gateway's answer cache (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct AnswerCache {
    inner: Option<Arc<Inner>>,
}

impl AnswerCache {
    /// With `max_bytes` 0 there is no cache: every request goes to the service.
    pub fn new(
        settings: &AnswerCacheSettings,
        redis: ConnectionManager,
        keys: &kit::cache::Keys,
    ) -> Self {
        let inner = (settings.max_bytes > 0).then(|| {
            Arc::new(Inner {
                redis,
                keys: keys.clone(),
                generation_key: keys.catalog_generation(),
                timeout: Duration::from_millis(settings.redis_timeout_ms),
                ttl: Duration::from_secs(settings.ttl_secs),
                max_bytes: settings.max_bytes,
                store: Mutex::new(Store::default()),
            })
        });
        Self { inner }
    }

    /// Bytes the stored answers take now: all of them, and users' own.
    pub fn bytes(&self) -> (usize, usize) {
        self.inner.as_ref().map_or((0, 0), |i| {
            let store = i.store.lock().expect("answer cache lock");
            (store.bytes, store.own_bytes)
        })
    }
}

impl Inner {
    /// The largest answer stored: a sixteenth of the budget.
    fn max_answer(&self) -> usize {
        self.max_bytes / 16
    }

    /// The generations a request of `scope` is answered under.
    async fn generation(&self, scope: Scope) -> Option<Generation> {
        let mut conn = self.redis.clone();
        let read = async {
            let (catalog, user) = match scope {
                Scope::Shared => (None, 0),
                Scope::User(u) => {
                    let (c, g): (Option<i64>, Option<i64>) = redis::cmd("MGET")
                        .arg(&self.generation_key)
                        .arg(self.keys.rec_user_generation(u))
                        .query_async(&mut conn)
                        .await?;
                    (c, g.unwrap_or(0))
                }
            };
            let catalog = match catalog {
                Some(c) => c,
                None => kit::cache::read_generation(&mut conn, &self.generation_key).await?,
            };
            redis::RedisResult::Ok(Generation { catalog, user })
        };
        match tokio::time::timeout(self.timeout, read).await {
            Ok(Ok(g)) => Some(g),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "catalog generation unavailable; answering uncached");
                None
            }
            Err(_) => {
                tracing::debug!("catalog generation read timed out; answering uncached");
                None
            }
        }
    }

    fn get(&self, key: &str, generation: Generation) -> Option<Arc<Answer>> {
        let store = self.store.lock().expect("answer cache lock");
        store
            .answers
            .get(key)
            .filter(|a| a.fresh(generation))
            .cloned()
    }

    fn put(&self, key: Arc<str>, mut answer: Answer) -> Arc<Answer> {
        let mut store = self.store.lock().expect("answer cache lock");
        store.seq += 1;
        answer.seq = store.seq;
        let answer = Arc::new(answer);
        if answer.size > self.max_answer() {
            return answer;
        }
        if let Some(old) = store.answers.insert(key.clone(), answer.clone()) {
            store.forget(&old);
        }
        store.bytes += answer.size;
        if answer.own {
            store.own_bytes += answer.size;
            store.own_order.push_back((key.clone(), answer.seq));
        }
        store.order.push_back((key, answer.seq));
        while store.own_bytes > self.max_bytes / 4 {
            let Some((key, seq)) = store.own_order.pop_front() else {
                break;
            };
            store.evict(&key, seq);
        }
        while store.bytes > self.max_bytes {
            let Some((key, seq)) = store.order.pop_front() else {
                break;
            };
            store.evict(&key, seq);
        }
        // Stale pairs of replaced or evicted answers: drop them once they outnumber the answers.
        let Store {
            answers,
            order,
            own_order,
            ..
        } = &mut *store;
        for order in [order, own_order] {
            if order.len() > 2 * answers.len() + 64 {
                order.retain(|(k, seq)| answers.get(k).is_some_and(|a| a.seq == *seq));
            }
        }
        answer
    }
}

/// Who is asking, as far as sharing goes.
enum Caller {
    Anonymous,
    /// A valid token (its deny-list entry not read yet).
    Token(Claims),
    /// A token that is not valid: the service answers.
    Invalid,
}

/// From the token check the `identify` middleware made.
fn caller(req: &Request) -> Caller {
    if !req.headers().contains_key(header::AUTHORIZATION) {
        return Caller::Anonymous;
    }
    match crate::auth::verified_claims(req) {
        Some(c) => Caller::Token(c.clone()),
        None => Caller::Invalid,
    }
}

/// Whose answers `caller` gets on a route of `sharing`; `None`: the service answers (a token
/// is checked against the deny list, as the service would).
async fn scope(state: &AppState, caller: Caller, sharing: Sharing) -> Option<Scope> {
    match (caller, sharing) {
        (Caller::Anonymous, _) => Some(Scope::Shared),
        (Caller::Token(c), Sharing::NonAdmin) if !c.is_admin() => {
            state.verifier.check_revocation(c).await.ok()?;
            Some(Scope::Shared)
        }
        (Caller::Token(c), Sharing::PerUser) => {
            let user = c.sub;
            state.verifier.check_revocation(c).await.ok()?;
            Some(Scope::User(user))
        }
        _ => None,
    }
}

/// Whether the client takes gzip (`Accept-Encoding`, honouring `q=0`).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

/// Whether `If-None-Match` names `etag` (weak comparison, as for a GET).
fn not_modified(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let ours = etag
        .as_bytes()
        .strip_prefix(b"W/")
        .unwrap_or(etag.as_bytes());
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(|t| t.trim_ascii())
        .any(|t| t == b"*" || t.strip_prefix(b"W/").unwrap_or(t) == ours)
}

/// Reads the directives of header `name` (`Cache-Control` syntax): whether `flag` is among
/// them and the smallest `max-age` (or `s-maxage`); `None` when the header is missing or
/// unreadable, a number is bad, or `private`, `no-store` or `no-cache` is among them.
fn directives(headers: &HeaderMap, name: &HeaderName, flag: &str) -> Option<(bool, Option<u64>)> {
    let value = headers.get(name)?.to_str().ok()?;
    let (mut flagged, mut age) = (false, None);
    for d in value.split(',').map(str::trim) {
        let d = d.to_ascii_lowercase();
        if d == flag {
            flagged = true;
        } else if d == "private" || d == "no-store" || d == "no-cache" {
            return None;
        } else if let Some(n) = d.strip_prefix("s-maxage=").or(d.strip_prefix("max-age=")) {
            let n = n.parse::<u64>().ok()?;
            age = Some(age.map_or(n, |a: u64| a.min(n)));
        }
    }
    Some((flagged, age))
}

/// `max-age` of a `public` `Cache-Control`; `None` when the answer may not be shared.
fn shared_max_age(headers: &HeaderMap) -> Option<Duration> {
    let (public, age) = directives(headers, &header::CACHE_CONTROL, "public")?;
    public.then(|| Duration::from_secs(age.unwrap_or(0)))
}

/// `max-age` of `Surrogate-Control`: how long the gateway may keep a user's own answer.
fn surrogate_max_age(headers: &HeaderMap) -> Option<Duration> {
    let (_, age) = directives(headers, &SURROGATE_CONTROL, "")?;
    age.map(Duration::from_secs)
}

fn send(answer: &Answer, req_headers: &HeaderMap, outcome: &'static str) -> Response {
    let mut headers = answer.headers.clone();
    headers.insert(header::ETAG, answer.etag.clone());
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    headers.insert(X_CACHE.clone(), HeaderValue::from_static(outcome));
    if not_modified(req_headers, &answer.etag) {
        headers.remove(header::CONTENT_TYPE);
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        *resp.headers_mut() = headers;
        return resp;
    }
    let body = if accepts_gzip(req_headers) {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        answer.gzip.clone()
    } else {
        answer.identity.clone()
    };
    let mut resp = Response::new(Body::from(body));
    *resp.headers_mut() = headers;
    resp
}

fn gzip(bytes: &[u8]) -> Bytes {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4 + 64),
        flate2::Compression::fast(),
    );
    enc.write_all(bytes).expect("writing to memory");
    Bytes::from(enc.finish().expect("writing to memory"))
}

fn etag(bytes: &[u8]) -> HeaderValue {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    HeaderValue::from_str(&format!("W/\"{:016x}{:08x}\"", h.finish(), bytes.len()))
        .expect("hex is a valid header value")
}

/// Middleware for the routes whose answers are shared as [`Sharing::NonAdmin`].
pub async fn non_admin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    serve(&state, Sharing::NonAdmin, req, next).await
}

/// Middleware for the routes whose answers are [`Sharing::PerUser`].
pub async fn per_user(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut resp = serve(&state, Sharing::PerUser, req, next).await;
    resp.headers_mut().remove(&SURROGATE_CONTROL);
    resp
}

async fn serve(state: &AppState, sharing: Sharing, req: Request, next: Next) -> Response {
    let Some(inner) = state.answers.inner.as_ref() else {
        return next.run(req).await;
    };
    if req.method() != Method::GET {
        return next.run(req).await;
    }
    let who = caller(&req);
    let Some(scope) = scope(state, who, sharing).await else {
        return next.run(req).await;
    };
    let Some(generation) = inner.generation(scope).await else {
        return next.run(req).await;
    };
    let pq = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path(), |p| p.as_str());
    // A path and query hold no space: a user's keys cannot meet the shared ones.
    let key: Arc<str> = match scope {
        Scope::Shared => pq.into(),
        Scope::User(u) => format!("{u} {pq}").into(),
    };
    if let Some(answer) = inner.get(&key, generation) {
        return send(&answer, req.headers(), "hit");
    }
    let req_headers = req.headers().clone();
    let resp = next.run(req).await;
    let limit = inner.max_answer();
    let max_age = match (sharing, scope) {
        (Sharing::NonAdmin, _) => Some(inner.ttl),
        (Sharing::PerUser, Scope::Shared) => shared_max_age(resp.headers()),
        (Sharing::PerUser, Scope::User(_)) => surrogate_max_age(resp.headers()),
    }
    .map(|a| a.min(inner.ttl));
    if resp.status() != StatusCode::OK
        || resp.headers().contains_key(header::SET_COOKIE)
        || resp.headers().contains_key(header::CONTENT_ENCODING)
        || resp
            .body()
            .size_hint()
            .upper()
            .is_none_or(|n| n > limit as u64)
    {
        return resp;
    }
    let Some(max_age) = max_age.filter(|a| !a.is_zero()) else {
        return resp;
    };
    let (parts, body) = resp.into_parts();
    // The body is in memory already (the size hint is exact), so this cannot wait or fail
    // but for a broken handler.
    let identity = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(e) => return Problem::internal(e).into_response(),
    };
    let mut headers = parts.headers;
    for name in &DROPPED {
        headers.remove(name);
    }
    let gz = gzip(&identity);
    let size = key.len()
        + identity.len()
        + gz.len()
        + headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 32)
            .sum::<usize>()
        + 256;
    let answer = inner.put(
        key,
        Answer {
            generation,
            own: matches!(scope, Scope::User(_)),
            stored: Instant::now(),
            max_age,
            seq: 0,
            headers,
            etag: etag(&identity),
            identity,
            gzip: gz,
            size,
        },
    );
    send(&answer, &req_headers, "miss")
}
