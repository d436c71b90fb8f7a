//! `storefront-bench`: load benchmarks against a running platform, on loopback only, bounded in
//! time and requests. Prints throughput and latency percentiles per request type.
//!
//! `scripts/bench.sh identity` starts the platform with benchmark settings and runs this;
//! `scripts/bench.sh load` runs the goose-driven shopper scenarios with reference limits.
#![forbid(unsafe_code)]

mod burst;
mod checkout;
mod load;
mod soak;

use std::future::Future;
use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    name = "storefront-bench",
    version,
    about = "Load benchmarks against a running Storefront (loopback only)"
)]
struct Cli {
    /// Gateway base URL; must resolve to a loopback address.
    #[arg(long, default_value = "http://127.0.0.1:3000", global = true)]
    gateway: String,
    /// Concurrent clients per phase.
    #[arg(long, default_value_t = 16, global = true)]
    concurrency: usize,
    /// Seconds per phase (1..=300; `load`: per scenario, 1..=600).
    #[arg(long, default_value_t = 10, global = true)]
    duration: u64,
    /// Upper bound on requests per phase.
    #[arg(long, default_value_t = 200_000, global = true)]
    max_requests: u64,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Checkouts per second to `paid`: every client adds a unit to its cart, checks out with a
    /// good sandbox card and polls the order until it is paid; also the latency of the POST.
    Checkout {
        /// An admin account (creates the benchmark product and its stock).
        #[arg(long, env = "STOREFRONT_BENCH_ADMIN_EMAIL")]
        admin_email: String,
        #[arg(long, env = "STOREFRONT_BENCH_ADMIN_PASSWORD", hide_env_values = true)]
        admin_password: String,
    },
    /// Logins/s, token refreshes/s and authenticated GETs/s through the gateway.
    Identity {
        /// Accounts registered for the run.
        #[arg(long, default_value_t = 32)]
        users: usize,
        /// The protected route the authenticated-GET phase reads.
        #[arg(long, default_value = "/api/v1/users/me")]
        get_path: String,
    },
    /// Product page GETs/s (served from the Redis cache after the first read) and search latency,
    /// on whatever catalog the platform holds (`storefront seed --products 100000` for the
    /// figures in the issue).
    Catalog {
        /// Distinct products the product-page phase cycles through.
        #[arg(long, default_value_t = 200)]
        products: usize,
        /// Search queries, comma-separated; misspelt words exercise typo tolerance.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "merino,leather jacket,rugged,northwind,canvs,titanium bottle,wool socks,urbn"
        )]
        queries: Vec<String>,
    },
    /// Tracking events accepted per second through the gateway (batches of `--batch`), then the
    /// broker's raw produce rate measured the same way (same clients, batches, message size and
    /// producer settings as the event service, straight to the broker).
    Events {
        /// Events per request.
        #[arg(long, default_value_t = 100)]
        batch: usize,
        /// Kafka bootstrap servers for the raw produce phase (loopback only): the platform's.
        #[arg(
            long,
            env = "STOREFRONT_KAFKA__BROKERS",
            default_value = "127.0.0.1:9092"
        )]
        brokers: String,
        /// The platform's topic prefix: the raw topic gets as many partitions as the platform's
        /// `user-events`.
        #[arg(long, env = "STOREFRONT_KAFKA__TOPIC_PREFIX", default_value = "")]
        topic_prefix: String,
    },
    /// Recommendation GETs/s with latency: personalized (signed-in users whose browsing the
    /// recommender has seen) and similar-to-a-product (anonymous), on whatever catalog the
    /// platform holds, then the gateway's static route with the same clients (the reference the
    /// ratios are printed against).
    Recommendations {
        /// Accounts registered for the run.
        #[arg(long, default_value_t = 32)]
        users: usize,
        /// Distinct products the browsing and the similar phase use.
        #[arg(long, default_value_t = 200)]
        products: usize,
    },
    /// Shopper scenarios driven by goose (browse, search, cart, checkout, weighted mix) with
    /// req/s and p50/p95/p99/max per request type, JSON and an SVG latency chart, and reference
    /// limits measured in the same run (static gateway route, pgbench, redis-benchmark).
    Load(load::LoadArgs),
    /// A burst of concurrent logins, then sign-ups, against the platform process `--pid`: every
    /// answer by status (each must be 2xx, 401 or 503 with Retry-After) and the process's
    /// resident memory before, at peak and while it settles.
    Burst(burst::BurstArgs),
    /// Ten minutes (`--length`) of the load mix against a platform of its own (one process per
    /// role, a private broker) with faults: login bursts, roles killed with SIGKILL and
    /// restarted, the broker stopped; samples RSS, descriptors, database connections and
    /// consumer lag every second, writes soak.json and soak.svg, and checks that no order was
    /// lost, stuck or charged twice, stock balances and resources come back.
    Soak(soak::SoakArgs),
    /// The soak's consumer-lag reader (a helper process of `soak`).
    #[command(hide = true)]
    LagProbe {
        #[arg(long)]
        brokers: String,
        #[arg(long)]
        topic_prefix: String,
    },
}

/// Result of one phase.
struct Report {
    name: String,
    ok: u64,
    errors: u64,
    elapsed: Duration,
    hist: Histogram<u64>,
    first_error: Option<String>,
}

impl Report {
    /// Successful requests per second.
    fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    fn print(&self) {
        let rps = self.rate();
        let ms = |q: f64| self.hist.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "{:<22} {:>8} ok {:>6} err {:>10.1} req/s   p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms",
            self.name,
            self.ok,
            self.errors,
            rps,
            ms(0.50),
            ms(0.90),
            ms(0.99),
            self.hist.max() as f64 / 1000.0
        );
        if let Some(e) = &self.first_error {
            println!("{:<22} first error: {e}", "");
        }
    }
}

/// Runs `step` in `concurrency` loops for `duration` (or until `max` requests), each loop owning
/// its state `W`. Latency is recorded in microseconds.
async fn phase<W, F, Fut>(
    name: &str,
    states: Vec<W>,
    duration: Duration,
    max: u64,
    step: F,
) -> Report
where
    W: Send + 'static,
    F: Fn(W) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = (W, Result<(), String>)> + Send,
{
    let step = Arc::new(step);
    let budget = Arc::new(std::sync::atomic::AtomicU64::new(max));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for mut state in states {
        let step = step.clone();
        let budget = budget.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
            let (mut ok, mut errors, mut first_error) = (0u64, 0u64, None);
            while Instant::now() < deadline
                && budget
                    .fetch_update(
                        std::sync::atomic::Ordering::SeqCst,
                        std::sync::atomic::Ordering::SeqCst,
                        |b| b.checked_sub(1),
                    )
                    .is_ok()
            {
                let t = Instant::now();
                let (s, r) = step(state).await;
                state = s;
                match r {
                    Ok(()) => {
                        ok += 1;
                        let _ = hist.record(t.elapsed().as_micros().max(1) as u64);
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (hist, ok, errors, first_error)
        }));
    }
    let mut report = Report {
        name: name.to_owned(),
        ok: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        hist: Histogram::new_with_bounds(1, 60_000_000, 3).expect("bounds"),
        first_error: None,
    };
    for t in tasks {
        let (h, ok, errors, fe) = t.await.expect("bench worker panicked");
        report.hist.add(h).expect("same bounds");
        report.ok += ok;
        report.errors += errors;
        if report.first_error.is_none() {
            report.first_error = fe;
        }
    }
    report.elapsed = start.elapsed();
    report
}

fn ensure_loopback(base: &str) -> anyhow::Result<()> {
    let u = url::Url::parse(base).context("--gateway is not a URL")?;
    let host = u.host_str().context("--gateway has no host")?;
    let port = u.port_or_known_default().unwrap_or(80);
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {host}"))?
        .collect();
    if addrs.is_empty() || !addrs.iter().all(|a| a.ip().is_loopback()) {
        bail!("--gateway must point at this machine (loopback); {host} resolves to {addrs:?}");
    }
    Ok(())
}

async fn post_json(
    http: &reqwest::Client,
    url: &str,
    body: &Value,
    bearer: Option<&str>,
) -> Result<Value, String> {
    let mut req = http.post(url).json(body);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!(
            "{status}: {}",
            text.chars().take(200).collect::<String>()
        ));
    }
    if text.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

async fn identity(cli: &Cli, users: usize, get_path: &str) -> anyhow::Result<()> {
    let base = cli.gateway.trim_end_matches('/').to_owned();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(cli.concurrency * 2)
        .timeout(Duration::from_secs(30))
        .build()?;
    let duration = Duration::from_secs(cli.duration);
    let run = uuid::Uuid::now_v7().simple().to_string();
    let password = "bench-password-Long-1";

    // Setup: accounts (registration is not measured).
    let mut accounts = Vec::with_capacity(users);
    for i in 0..users {
        let email = format!("bench-{}-{i}@example.com", &run[run.len() - 10..]);
        let v = post_json(
            &http,
            &format!("{base}/api/v1/auth/register"),
            &json!({"email": email, "password": password}),
            None,
        )
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "registering a benchmark account: {e} (is the platform up with scripts/bench.sh?)"
            )
        })?;
        let refresh = v["refresh_token"].as_str().unwrap_or_default().to_owned();
        let access = v["access_token"].as_str().unwrap_or_default().to_owned();
        accounts.push((email, refresh, access));
    }
    println!(
        "identity: {users} accounts, {} clients, {}s per phase, gateway {base}\n",
        cli.concurrency, cli.duration
    );

    let login_url = format!("{base}/api/v1/auth/login");
    let states: Vec<_> = (0..cli.concurrency)
        .map(|w| {
            (
                http.clone(),
                login_url.clone(),
                accounts[w % users].0.clone(),
            )
        })
        .collect();
    let login = phase(
        "login",
        states,
        duration,
        cli.max_requests,
        move |(h, url, email)| async move {
            let r = post_json(
                &h,
                &url,
                &json!({"email": email, "password": password}),
                None,
            )
            .await
            .map(|_| ());
            ((h, url, email), r)
        },
    )
    .await;
    login.print();

    // Each client refreshes its own token chain (every refresh rotates).
    let refresh_url = format!("{base}/api/v1/auth/refresh");
    let mut states = Vec::new();
    for w in 0..cli.concurrency {
        let email = &accounts[w % users].0;
        let v = post_json(
            &http,
            &login_url,
            &json!({"email": email, "password": password}),
            None,
        )
        .await
        .map_err(|e| anyhow::anyhow!("login before the refresh phase: {e}"))?;
        states.push((
            http.clone(),
            refresh_url.clone(),
            v["refresh_token"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    let refresh = phase(
        "token refresh",
        states,
        duration,
        cli.max_requests,
        |(h, url, token)| async move {
            match post_json(&h, &url, &json!({"refresh_token": token}), None).await {
                Ok(v) => {
                    let next = v["refresh_token"].as_str().unwrap_or_default().to_owned();
                    ((h, url, next), Ok(()))
                }
                Err(e) => ((h, url, token), Err(e)),
            }
        },
    )
    .await;
    refresh.print();

    let get_url = format!("{base}{get_path}");
    let states: Vec<_> = (0..cli.concurrency)
        .map(|w| (http.clone(), get_url.clone(), accounts[w % users].2.clone()))
        .collect();
    let get = phase(
        "authenticated GET",
        states,
        duration,
        cli.max_requests,
        |(h, url, token)| async move {
            let r = match h.get(&url).bearer_auth(&token).send().await {
                Ok(resp) if resp.status().is_success() => {
                    resp.bytes().await.map(|_| ()).map_err(|e| e.to_string())
                }
                Ok(resp) => Err(format!("{} on {url}", resp.status())),
                Err(e) => Err(e.to_string()),
            };
            ((h, url, token), r)
        },
    )
    .await;
    get.print();
    Ok(())
}

async fn get_ok(http: &reqwest::Client, url: &str) -> Result<Value, String> {
    let body = get_bytes(http, url).await?;
    serde_json::from_slice(&body).map_err(|e| e.to_string())
}

/// A measured GET: the whole body is read, not parsed (parsing 50 KB answers would make the
/// client, on the same 2 cores, what bounds the figure).
async fn get_bytes(http: &reqwest::Client, url: &str) -> Result<bytes::Bytes, String> {
    let resp = http.get(url).send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status} on {url}"));
    }
    Ok(body)
}

async fn catalog(cli: &Cli, products: usize, queries: &[String]) -> anyhow::Result<()> {
    let base = cli.gateway.trim_end_matches('/').to_owned();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(cli.concurrency * 2)
        .timeout(Duration::from_secs(30))
        .build()?;
    let duration = Duration::from_secs(cli.duration);
    // Pick product slugs from the newest pages (not measured).
    let mut slugs = Vec::with_capacity(products);
    let mut cursor: Option<String> = None;
    while slugs.len() < products {
        let mut url = format!("{base}/api/v1/products?sort=newest&limit=100");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = get_ok(&http, &url).await.map_err(|e| {
            anyhow::anyhow!("listing products: {e} (is the platform up with a seeded catalog?)")
        })?;
        for item in page["items"].as_array().into_iter().flatten() {
            if let Some(slug) = item["slug"].as_str() {
                slugs.push(slug.to_owned());
            }
        }
        match page["next_cursor"].as_str() {
            Some(c) if slugs.len() < products => cursor = Some(c.to_owned()),
            _ => break,
        }
    }
    if slugs.is_empty() {
        bail!("the catalog is empty: run `storefront seed` first");
    }
    let total = get_ok(&http, &format!("{base}/api/v1/products?limit=1"))
        .await
        .map(|v| v["total"].clone())
        .unwrap_or(Value::Null);
    println!(
        "catalog: {} products in the catalog, {} product pages, {} queries, {} clients, {}s per phase, gateway {base}\n",
        total,
        slugs.len(),
        queries.len(),
        cli.concurrency,
        cli.duration
    );
    // Warm the cache so the product phase measures cache hits.
    for slug in &slugs {
        let _ = get_ok(&http, &format!("{base}/api/v1/products/{slug}")).await;
    }
    let slugs = Arc::new(slugs);
    let states: Vec<_> = (0..cli.concurrency)
        .map(|w| (http.clone(), base.clone(), slugs.clone(), w))
        .collect();
    let page = phase(
        "product GET (cached)",
        states,
        duration,
        cli.max_requests,
        |(h, b, slugs, i)| async move {
            let url = format!("{b}/api/v1/products/{}", slugs[i % slugs.len()]);
            let r = get_bytes(&h, &url).await.map(|_| ());
            ((h, b, slugs, i + 7), r)
        },
    )
    .await;
    page.print();

    let urls: Arc<Vec<String>> = Arc::new(
        queries
            .iter()
            .map(|q| {
                let mut u = url::Url::parse(&format!("{base}/api/v1/products")).expect("base URL");
                u.query_pairs_mut()
                    .append_pair("q", q)
                    .append_pair("limit", "20");
                u.to_string()
            })
            .collect(),
    );
    get_phase(cli, &http, "search (q + facets)", urls)
        .await
        .print();

    // Category listings: no text, a category subtree, newest first, facets over the subtree
    // (what a shop's category page asks for).
    let categories = get_ok(&http, &format!("{base}/api/v1/categories?limit=1000"))
        .await
        .map_err(|e| anyhow::anyhow!("listing categories: {e}"))?;
    let urls: Arc<Vec<String>> = Arc::new(
        categories["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["id"].as_str())
            .map(|id| format!("{base}/api/v1/products?category={id}&sort=newest&limit=20"))
            .collect(),
    );
    if urls.is_empty() {
        println!("category listing: the catalog has no categories; skipped");
        return Ok(());
    }
    get_phase(cli, &http, "category listing (newest, facets)", urls)
        .await
        .print();
    Ok(())
}

/// A phase of GETs, each client cycling through `urls` from its own starting point.
async fn get_phase(
    cli: &Cli,
    http: &reqwest::Client,
    name: &str,
    urls: Arc<Vec<String>>,
) -> Report {
    let states: Vec<_> = (0..cli.concurrency)
        .map(|w| (http.clone(), urls.clone(), w))
        .collect();
    phase(
        name,
        states,
        Duration::from_secs(cli.duration),
        cli.max_requests,
        |(h, urls, i)| async move {
            let r = get_bytes(&h, &urls[i % urls.len()]).await.map(|_| ());
            ((h, urls, i + 1), r)
        },
    )
    .await
}

/// A batch of `n` product views of `products` (cycling from `start`).
fn view_batch(products: &[String], start: usize, n: usize) -> Value {
    let events: Vec<Value> = (0..n)
        .map(|i| {
            json!({"type": "product_viewed", "product_id": products[(start + i) % products.len()],
                   "session_id": "bench"})
        })
        .collect();
    json!({"events": events})
}

async fn events(cli: &Cli, batch: usize, brokers: &str, topic_prefix: &str) -> anyhow::Result<()> {
    use rdkafka::producer::{FutureProducer, FutureRecord};

    let base = cli.gateway.trim_end_matches('/').to_owned();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(cli.concurrency * 2)
        .timeout(Duration::from_secs(30))
        .build()?;
    let duration = Duration::from_secs(cli.duration);
    let products: Arc<Vec<String>> = Arc::new(
        (0..1000)
            .map(|_| uuid::Uuid::now_v7().to_string())
            .collect(),
    );
    // The raw produce topic is made first, while the broker is idle.
    ensure_loopback(&format!("http://{brokers}"))?;
    let topic = format!(
        "bench-raw-produce-{}",
        &uuid::Uuid::now_v7().simple().to_string()[20..]
    );
    let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
        rdkafka::ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .create()
            .context("creating a Kafka admin client")?;
    // As many partitions as the platform's own `user-events` (which the platform made).
    let partitions = {
        let name = format!(
            "{topic_prefix}{}",
            storefront_kit::events::topics::USER_EVENTS
        );
        let cfg = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .clone();
        tokio::task::spawn_blocking(move || {
            use rdkafka::consumer::Consumer;
            let c: rdkafka::consumer::BaseConsumer = cfg.create()?;
            let md = c.fetch_metadata(Some(&name), Duration::from_secs(10))?;
            let n = md.topics().first().map_or(0, |t| t.partitions().len());
            anyhow::ensure!(
                n > 0,
                "the platform has no topic {name} (--topic-prefix, STOREFRONT_KAFKA__TOPIC_PREFIX)"
            );
            Ok(n as i32)
        })
        .await??
    };
    admin
        .create_topics(
            &[rdkafka::admin::NewTopic::new(
                &topic,
                partitions,
                rdkafka::admin::TopicReplication::Fixed(1),
            )],
            &rdkafka::admin::AdminOptions::new().operation_timeout(Some(Duration::from_secs(60))),
        )
        .await
        .context("creating the raw produce topic")?;
    let url = format!("{base}/api/v1/events");
    // One warm-up request, which also checks the route works.
    post_json(&http, &url, &view_batch(&products, 0, batch), None)
        .await
        .map_err(|e| {
            anyhow::anyhow!("posting events: {e} (is the platform up with scripts/bench.sh?)")
        })?;
    println!(
        "events: batches of {batch}, {} clients, {}s per phase, gateway {base}, {partitions} partition(s) per topic\n",
        cli.concurrency, cli.duration
    );
    let states: Vec<_> = (0..cli.concurrency)
        .map(|w| {
            (
                http.clone(),
                url.clone(),
                products.clone(),
                w * 37,
                format!("bench-visitor-{w}"),
            )
        })
        .collect();
    let post = phase(
        &format!("events POST ({batch}/req)"),
        states,
        duration,
        cli.max_requests,
        move |(h, url, products, i, visitor)| async move {
            let mut body = view_batch(&products, i, batch);
            body["anonymous_id"] = json!(visitor);
            let r = match post_json(&h, &url, &body, None).await {
                Ok(v) if v["accepted"].as_u64() == Some(batch as u64) => Ok(()),
                Ok(v) => Err(format!("not all accepted: {v}")),
                Err(e) => {
                    // Back-pressure: a well-behaved client waits Retry-After (1 s) and
                    // sends the batch again; counted as an error, not as accepted events.
                    if e.starts_with("429") {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    Err(e)
                }
            };
            ((h, url, products, i + batch, visitor), r)
        },
    )
    .await;
    post.print();
    println!(
        "{:<22} {:>10.0} events/s accepted",
        "",
        post.ok as f64 * batch as f64 / post.elapsed.as_secs_f64()
    );

    // The broker alone: the same messages (an event is two: user-events and product-views),
    // produced with the event service's producer settings, each client awaiting its batch.
    // First let what the platform still has in flight drain.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("acks", "all")
        // As the event service by default (`kafka.idempotent_producer` false).
        .set("enable.idempotence", "false")
        .set("linger.ms", "10")
        .set("compression.type", "lz4")
        .set("batch.size", "1048576")
        .set("batch.num.messages", "10000")
        .set("message.timeout.ms", "10000")
        .create()
        .context("creating a Kafka producer")?;
    let sample = serde_json::to_vec(&json!({
        "specversion": "1.0", "id": uuid::Uuid::now_v7(), "type": "product.viewed",
        "source": "/storefront/event", "time": "2026-01-31T10:15:00.123456Z",
        "subject": "bench-visitor-0", "datacontenttype": "application/json",
        "data": {"user_id": null, "anonymous_id": "bench-visitor-0", "session_id": "bench",
                 "occurred_at": "2026-01-31T10:15:00.123456Z", "received_at": "2026-01-31T10:15:00.123456Z",
                 "product_id": products[0],
                 "context": {"user_agent": "reqwest", "device": "unknown", "browser": "other", "os": "other", "ip_prefix": "127.0.0.0/24"}}
    }))?;
    let sample = Arc::new(sample);
    let states: Vec<_> = (0..cli.concurrency)
        .map(|w| {
            (
                producer.clone(),
                topic.clone(),
                sample.clone(),
                format!("bench-visitor-{w}"),
            )
        })
        .collect();
    let raw = phase(
        &format!("raw produce ({}/batch)", batch * 2),
        states,
        duration,
        cli.max_requests,
        move |(p, topic, sample, key)| async move {
            let mut pending = Vec::with_capacity(batch * 2);
            let mut r = Ok(());
            for _ in 0..batch * 2 {
                match p.send_result(
                    FutureRecord::to(&topic)
                        .key(&key)
                        .payload(sample.as_slice()),
                ) {
                    Ok(f) => pending.push(f),
                    Err((e, _)) => {
                        r = Err(e.to_string());
                        break;
                    }
                }
            }
            for f in pending {
                match f.await {
                    Ok(Ok(_)) => {}
                    Ok(Err((e, _))) => r = Err(e.to_string()),
                    Err(_) => r = Err("producer dropped".into()),
                }
            }
            ((p, topic, sample, key), r)
        },
    )
    .await;
    raw.print();
    println!(
        "{:<22} {:>10.0} messages/s acknowledged ({:.0} events/s equivalent, {} bytes each)",
        "",
        raw.ok as f64 * (batch * 2) as f64 / raw.elapsed.as_secs_f64(),
        raw.ok as f64 * batch as f64 / raw.elapsed.as_secs_f64(),
        sample.len()
    );
    Ok(())
}

async fn recommendations(cli: &Cli, users: usize, products: usize) -> anyhow::Result<()> {
    let base = cli.gateway.trim_end_matches('/').to_owned();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(cli.concurrency * 2)
        .timeout(Duration::from_secs(30))
        .build()?;
    let duration = Duration::from_secs(cli.duration);
    // Setup (not measured): product ids, accounts, and browsing the recommender learns from.
    let mut ids = Vec::with_capacity(products);
    let mut cursor: Option<String> = None;
    while ids.len() < products {
        let mut url = format!("{base}/api/v1/products?sort=newest&limit=100");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = get_ok(&http, &url).await.map_err(|e| {
            anyhow::anyhow!("listing products: {e} (is the platform up with a seeded catalog?)")
        })?;
        for item in page["items"].as_array().into_iter().flatten() {
            if let Some(id) = item["id"].as_str() {
                ids.push(id.to_owned());
            }
        }
        match page["next_cursor"].as_str() {
            Some(c) if ids.len() < products => cursor = Some(c.to_owned()),
            _ => break,
        }
    }
    if ids.len() < 2 {
        bail!("the catalog has fewer than 2 products: run `storefront seed` first");
    }
    let run = uuid::Uuid::now_v7().simple().to_string();
    let mut tokens = Vec::with_capacity(users);
    for i in 0..users {
        let email = format!("bench-rec-{}-{i}@example.com", &run[run.len() - 10..]);
        let v = post_json(
            &http,
            &format!("{base}/api/v1/auth/register"),
            &json!({"email": email, "password": "bench-password-Long-1"}),
            None,
        )
        .await
        .map_err(|e| anyhow::anyhow!("registering a benchmark account: {e}"))?;
        tokens.push(v["access_token"].as_str().unwrap_or_default().to_owned());
    }
    // Each user browses a window of 8 products; neighbouring windows overlap, so the
    // recommender finds co-occurrences.
    for (i, t) in tokens.iter().enumerate() {
        post_json(
            &http,
            &format!("{base}/api/v1/events"),
            &view_batch(&ids, (i * 5) % ids.len(), 8),
            Some(t),
        )
        .await
        .map_err(|e| anyhow::anyhow!("posting browsing events: {e}"))?;
    }
    let probe = format!("{base}/api/v1/recommendations?kind=personalized&limit=10");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = http
            .get(&probe)
            .bearer_auth(&tokens[users - 1])
            .send()
            .await?
            .json::<Value>()
            .await?;
        if v["items"][0]["source"] == "personalized" {
            break;
        }
        if Instant::now() > deadline {
            println!(
                "(the recommender has not produced personalized lists yet; measuring fallbacks)"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "recommendations: {} products, {users} users, {} clients, {}s per phase, gateway {base}\n",
        ids.len(),
        cli.concurrency,
        cli.duration
    );
    let tokens = Arc::new(tokens);
    let states: Vec<_> = (0..cli.concurrency)
        .map(|w| (http.clone(), probe.clone(), tokens.clone(), w))
        .collect();
    let personalized = phase(
        "GET personalized",
        states,
        duration,
        cli.max_requests,
        |(h, url, tokens, i)| async move {
            let r = match h
                .get(&url)
                .bearer_auth(&tokens[i % tokens.len()])
                .send()
                .await
            {
                Ok(resp) if resp.status().is_success() => {
                    resp.bytes().await.map(|_| ()).map_err(|e| e.to_string())
                }
                Ok(resp) => Err(format!("{} on {url}", resp.status())),
                Err(e) => Err(e.to_string()),
            };
            ((h, url, tokens, i + 1), r)
        },
    )
    .await;
    personalized.print();
    let ids = Arc::new(ids);
    let states: Vec<_> = (0..cli.concurrency)
        .map(|w| (http.clone(), base.clone(), ids.clone(), w))
        .collect();
    let similar = phase(
        "GET similar",
        states,
        duration,
        cli.max_requests,
        |(h, b, ids, i)| async move {
            let url = format!(
                "{b}/api/v1/recommendations?kind=similar&limit=10&product_id={}",
                ids[i % ids.len()]
            );
            let r = get_bytes(&h, &url).await.map(|_| ());
            ((h, b, ids, i + 7), r)
        },
    )
    .await;
    similar.print();
    // The reference: the gateway's static route, same clients, same run.
    let states: Vec<_> = (0..cli.concurrency)
        .map(|_| (http.clone(), format!("{base}/healthz")))
        .collect();
    let fixed = phase(
        "GET /healthz (static)",
        states,
        duration,
        cli.max_requests,
        |(h, url)| async move {
            let r = get_bytes(&h, &url).await.map(|_| ());
            ((h, url), r)
        },
    )
    .await;
    fixed.print();
    let reference = fixed.rate();
    if reference > 0.0 {
        println!("ratios to the static route (same run):");
        for r in [&personalized, &similar] {
            println!("  {:<20} {:.3}", r.name, r.rate() / reference);
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let max_duration = if matches!(cli.scenario, Scenario::Load(_)) {
        600
    } else {
        300
    };
    if !(1..=max_duration).contains(&cli.duration) {
        bail!("--duration must be between 1 and {max_duration} seconds");
    }
    if !(1..=1024).contains(&cli.concurrency) {
        bail!("--concurrency must be between 1 and 1024");
    }
    ensure_loopback(&cli.gateway)?;
    match &cli.scenario {
        Scenario::Identity { users, get_path } => identity(&cli, (*users).max(1), get_path).await,
        Scenario::Checkout {
            admin_email,
            admin_password,
        } => {
            checkout::run(
                cli.gateway.trim_end_matches('/'),
                cli.concurrency,
                Duration::from_secs(cli.duration),
                cli.max_requests,
                admin_email,
                admin_password,
            )
            .await
        }
        Scenario::Catalog { products, queries } => catalog(&cli, (*products).max(1), queries).await,
        Scenario::Events {
            batch,
            brokers,
            topic_prefix,
        } => events(&cli, (*batch).clamp(1, 500), brokers, topic_prefix).await,
        Scenario::Load(args) => {
            load::run(
                cli.gateway.trim_end_matches('/'),
                args,
                &load::Bounds {
                    duration: Duration::from_secs(cli.duration),
                    max_requests: cli.max_requests,
                },
            )
            .await
        }
        Scenario::Recommendations { users, products } => {
            recommendations(&cli, (*users).max(1), (*products).max(2)).await
        }
        Scenario::Burst(args) => burst::run(cli.gateway.trim_end_matches('/'), args).await,
        Scenario::Soak(args) => soak::run(args).await,
        Scenario::LagProbe {
            brokers,
            topic_prefix,
        } => soak::probe_main(brokers, topic_prefix),
    }
}
