//! `storefront-bench`: load benchmarks against a running platform, on loopback only, bounded in
//! time and requests. Prints throughput and latency percentiles per request type.
//!
//! `scripts/bench.sh identity` starts the platform with benchmark settings and runs this.
#![forbid(unsafe_code)]

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
    /// Seconds per phase (1..=300).
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
    fn print(&self) {
        let rps = self.ok as f64 / self.elapsed.as_secs_f64();
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
    let resp = http.get(url).send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status} on {url}"));
    }
    serde_json::from_slice(&body).map_err(|e| e.to_string())
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
            let r = get_ok(&h, &url).await.map(|_| ());
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
    let states: Vec<_> = (0..cli.concurrency)
        .map(|w| (http.clone(), urls.clone(), w))
        .collect();
    let search = phase(
        "search (q + facets)",
        states,
        duration,
        cli.max_requests,
        |(h, urls, i)| async move {
            let r = get_ok(&h, &urls[i % urls.len()]).await.map(|_| ());
            ((h, urls, i + 1), r)
        },
    )
    .await;
    search.print();
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if !(1..=300).contains(&cli.duration) {
        bail!("--duration must be between 1 and 300 seconds");
    }
    if !(1..=1024).contains(&cli.concurrency) {
        bail!("--concurrency must be between 1 and 1024");
    }
    ensure_loopback(&cli.gateway)?;
    match &cli.scenario {
        Scenario::Identity { users, get_path } => identity(&cli, (*users).max(1), get_path).await,
        Scenario::Catalog { products, queries } => catalog(&cli, (*products).max(1), queries).await,
    }
}
