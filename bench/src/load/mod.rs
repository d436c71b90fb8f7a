//! `storefront-bench load`: shopper scenarios (browse, search, cart, checkout and a weighted
//! mix) driven by goose through the gateway's REST API, with reference limits of this machine
//! measured in the same run (a static gateway route under goose, pgbench, redis-benchmark).
//! Prints a table, writes `load.json` and `load-latency.svg` under `--out`.

pub(crate) mod record;
mod reference;
pub(crate) mod report;
pub(crate) mod scenarios;
pub(crate) mod setup;
pub(crate) mod svg;

use std::path::{Component, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use goose::config::GooseConfiguration;
use goose::prelude::*;
use serde_json::json;

use record::Recorder;
use reference::Targets;
use report::{References, ScenarioRun};
use scenarios::{Account, Ctx, Journey};

/// A scenario of the load run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Which {
    /// A category's product list page, then a product page (anonymous).
    Browse,
    /// Search with facets over a set of queries, some misspelt (anonymous).
    Search,
    /// Add a line to the user's own cart, change its quantity, remove it.
    Cart,
    /// Add, check out with a good sandbox card, poll until `paid`.
    Checkout,
    /// Users split by weight: browse 60, search 25, cart 10, checkout 5.
    Mix,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Browse => "browse",
            Which::Search => "search",
            Which::Cart => "cart",
            Which::Checkout => "checkout",
            Which::Mix => "mix",
        }
    }
}

/// Options of `storefront-bench load`.
#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Scenarios, comma-separated, run one after another.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "browse,search,cart,checkout,mix"
    )]
    pub scenario: Vec<Which>,
    /// Simulated users (goose users, each with its own connection pool and account).
    #[arg(long, default_value_t = 16)]
    pub users: usize,
    /// Cap on requests per second across all users (goose throttle); 0 = unlimited. The
    /// static-route reference is never capped.
    #[arg(long, default_value_t = 0)]
    pub rate: usize,
    /// Each user stops after this many iterations of its scenario (0 = no limit); the run is
    /// still bounded by --duration.
    #[arg(long, default_value_t = 0)]
    pub iterations: usize,
    /// Where load.json and load-latency.svg go (relative, under the current directory).
    #[arg(long, default_value = "target/bench-load")]
    pub out: PathBuf,
    /// Skip the reference limits (static route, pgbench, redis-benchmark).
    #[arg(long)]
    pub no_reference: bool,
    /// The platform's process (`storefront up`), whose peak resident memory over the run is
    /// printed at the end (`scripts/bench.sh` passes it).
    #[arg(long, env = "STOREFRONT_BENCH_PID")]
    pub pid: Option<u32>,
    /// Distinct products browse cycles through.
    #[arg(long, default_value_t = 200)]
    pub products: usize,
    /// Search queries, comma-separated; misspelt words exercise typo tolerance.
    #[arg(long, value_delimiter = ',', default_value = QUERIES)]
    pub queries: Vec<String>,
    /// An admin account (creates the benchmark product and its stock; needed by cart,
    /// checkout and mix, and to create products when the catalog is empty).
    #[arg(long, env = "STOREFRONT_BENCH_ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    #[arg(long, env = "STOREFRONT_BENCH_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// PostgreSQL for pgbench (loopback only; trust or PGPASSWORD).
    #[arg(long, default_value = "127.0.0.1")]
    pub pg_host: String,
    #[arg(long, default_value_t = 5432)]
    pub pg_port: u16,
    #[arg(long, default_value = "postgres")]
    pub pg_user: String,
    /// Redis for redis-benchmark (loopback only; it uses database 15).
    #[arg(long, default_value = "127.0.0.1")]
    pub redis_host: String,
    #[arg(long, default_value_t = 6379)]
    pub redis_port: u16,
}

/// The default search queries (comma-separated): names of the starter catalog, some misspelt.
pub const QUERIES: &str =
    "merino,leather jacket,rugged,northwind,canvs,titanium bottle,wool socks,urbn";

/// The weighted mix: browse 60, search 25, cart 10, checkout 5.
pub fn mix(ctx: &Arc<Ctx>) -> Result<Vec<Scenario>, GooseError> {
    Ok(vec![
        scenarios::scenario(Journey::Browse, ctx, 60)?,
        scenarios::scenario(Journey::Search, ctx, 25)?,
        scenarios::scenario(Journey::Cart, ctx, 10)?,
        scenarios::scenario(Journey::Checkout, ctx, 5)?,
    ])
}

/// Who runs one goose attack.
#[derive(Clone, Copy, Debug)]
pub struct Crowd {
    pub users: usize,
    /// Cap on requests per second across all users; 0 = unlimited.
    pub rate: usize,
    /// Iterations per user (0 = bounded by time only).
    pub iterations: usize,
}

impl LoadArgs {
    fn crowd(&self) -> Crowd {
        Crowd {
            users: self.users,
            rate: self.rate,
            iterations: self.iterations,
        }
    }
}

/// Run-wide settings from the global options.
pub struct Bounds {
    pub duration: Duration,
    pub max_requests: u64,
}

/// pgbench opens one connection per client; the platform holds its own pools on the same server.
const PGBENCH_MAX_CLIENTS: usize = 32;

pub(crate) fn check_out_dir(out: &std::path::Path) -> anyhow::Result<()> {
    if out.is_absolute() || out.components().any(|c| matches!(c, Component::ParentDir)) {
        bail!("--out must be a relative path under the current directory without `..`");
    }
    Ok(())
}

/// The measured window: the run time plus the users' start (a quarter of a second, see
/// [`attack`]); with --iterations the whole time bound.
fn window(a: &LoadArgs, bounds: &Bounds) -> Duration {
    if a.iterations > 0 {
        bounds.duration
    } else {
        bounds.duration + Duration::from_millis(250)
    }
}

/// Runs one goose attack of `scenarios` with the crowd's users at most `rate` requests/s (0: no
/// cap), bounded by time and requests.
pub async fn attack(
    base: &str,
    name: &str,
    crowd: Crowd,
    bounds: &Bounds,
    rec: Arc<Recorder>,
    scenarios: Vec<Scenario>,
) -> anyhow::Result<ScenarioRun> {
    let (users, rate) = (crowd.users, crowd.rate);
    let secs = bounds.duration.as_secs().max(1).to_string();
    let users_s = users.to_string();
    // All users start within about a quarter of a second.
    let increase = (users * 4).to_string();
    let mut args: Vec<&str> = vec![
        "--host",
        base,
        "--users",
        &users_s,
        "--increase-rate",
        &increase,
        "--quiet",
        "--no-print-metrics",
        "--no-telnet",
        "--timeout",
        "30",
    ];
    let iterations = crowd.iterations.to_string();
    if crowd.iterations > 0 {
        args.extend(["--iterations", &iterations]);
    } else {
        // Keep the start-up in goose's counts too, as in ours.
        args.extend(["--run-time", &secs, "--no-reset-metrics"]);
    }
    let rate_s = rate.to_string();
    if rate > 0 {
        args.extend(["--throttle-requests", &rate_s]);
    }
    let config = GooseConfiguration::parse_args_default(&args)
        .map_err(|e| anyhow::anyhow!("goose configuration: {e}"))?;
    let mut attack = GooseAttack::initialize_with_config(config)?;
    for s in scenarios {
        attack = attack.register_scenario(s);
    }
    // A hard bound in time: with --iterations there is no --run-time, and a hung journey must
    // not keep the run going. Goose stops at its next check point when the killswitch trips.
    let hard = if crowd.iterations > 0 {
        bounds.duration
    } else {
        bounds.duration + Duration::from_secs(45)
    };
    let watchdog = tokio::spawn(async move {
        tokio::time::sleep(hard).await;
        goose::trigger_killswitch("time bound reached");
    });
    let metrics = attack.execute().await;
    watchdog.abort();
    let metrics = metrics.map_err(|e| anyhow::anyhow!("goose: {e}"))?;
    let measured = rec.finish();
    let (mut goose_ok, mut goose_failed) = (0, 0);
    for agg in metrics.requests.values() {
        if agg.method_label() != "JOURNEY" {
            goose_ok += agg.success_count;
            goose_failed += agg.fail_count;
        }
    }
    let allocation = metrics
        .scenarios
        .iter()
        .map(|s| (s.name.to_string(), s.users.len()))
        .collect();
    Ok(ScenarioRun {
        name: name.to_owned(),
        users,
        allocation,
        measured,
        goose_ok,
        goose_failed,
    })
}

/// Everything the scenarios need, made once.
struct World {
    categories: Vec<String>,
    products: Vec<String>,
    skus: Option<(String, String)>,
    shoppers: Vec<setup::Shopper>,
}

impl World {
    fn ctx(&self, rec: Arc<Recorder>, queries: &[String]) -> Arc<Ctx> {
        let (cart, buy) = self.skus.clone().unwrap_or_default();
        let accounts: Vec<Account> = self.shoppers.iter().map(|s| s.account.clone()).collect();
        Arc::new(Ctx::new(
            rec,
            self.categories.clone(),
            self.products.clone(),
            queries.to_vec(),
            accounts,
            cart,
            buy,
        ))
    }
}

fn machine() -> serde_json::Value {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kib| (kib / 1_048_576.0 * 10.0).round() / 10.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .ok();
    json!({"cores": cores, "memory_gib": mem_gib, "kernel": kernel})
}

/// `storefront-bench load`.
pub async fn run(base: &str, a: &LoadArgs, bounds: &Bounds) -> anyhow::Result<()> {
    if !(1..=1024).contains(&a.users) {
        bail!("--users must be between 1 and 1024");
    }
    check_out_dir(&a.out)?;
    crate::ensure_loopback(&format!("http://{}:{}", a.pg_host, a.pg_port)).context("--pg-host")?;
    crate::ensure_loopback(&format!("http://{}:{}", a.redis_host, a.redis_port))
        .context("--redis-host")?;
    let mut which = a.scenario.clone();
    which.dedup();
    if a.queries.is_empty() {
        bail!("--queries is empty");
    }
    let needs_admin = which
        .iter()
        .any(|w| matches!(w, Which::Cart | Which::Checkout | Which::Mix));
    let admin = match (&a.admin_email, &a.admin_password) {
        (Some(e), Some(p)) => Some((e.as_str(), p.as_str())),
        _ if needs_admin => bail!(
            "cart, checkout and mix need an admin: --admin-email/--admin-password or \
             STOREFRONT_BENCH_ADMIN_EMAIL/_PASSWORD (scripts/bench.sh load creates one)"
        ),
        _ => None,
    };
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());

    // Setup, not measured.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let fixture = setup::prepare(&http, base, admin, a.products.max(1)).await?;
    let shoppers = if needs_admin {
        setup::shoppers(&http, base, a.users).await?
    } else {
        Vec::new()
    };
    if let (Some((_, buy)), Some(first)) = (&fixture.skus, shoppers.first())
        && which
            .iter()
            .any(|w| matches!(w, Which::Checkout | Which::Mix))
    {
        let took = setup::warm_up_purchase(&http, base, first, buy).await?;
        println!(
            "warm-up: the first purchase reached `paid` in {:.1} s",
            took.as_secs_f64()
        );
    }
    let mut world = World {
        categories: fixture.categories,
        products: fixture.products,
        skus: fixture.skus,
        shoppers,
    };
    println!(
        "load: {} users, {} s per scenario, rate {}, {} products, {} categories, {} accounts, gateway {base}\n",
        a.users,
        bounds.duration.as_secs(),
        if a.rate == 0 {
            "unlimited".to_owned()
        } else {
            format!("{}/s", a.rate)
        },
        world.products.len(),
        world.categories.len(),
        world.shoppers.len()
    );

    // Reference 1: the static route, same tool and load.
    let gateway = if a.no_reference {
        Err("--no-reference".to_owned())
    } else {
        let rec = Arc::new(Recorder::new(bounds.max_requests, window(a, bounds)));
        let ctx = world.ctx(rec.clone(), &a.queries);
        let run = attack(
            base,
            "static route",
            // A limit: never throttled.
            Crowd {
                rate: 0,
                ..a.crowd()
            },
            bounds,
            rec,
            vec![scenarios::scenario(Journey::Static, &ctx, 1)?],
        )
        .await
        .map_err(|e| e.to_string());
        if let Ok(r) = &run {
            print!("{}", report::table(r));
            println!();
        }
        run
    };

    let mut runs = Vec::new();
    for w in which {
        setup::refresh(&http, base, &mut world.shoppers, Duration::from_secs(600)).await?;
        setup::clear_carts(&http, base, &world.shoppers).await?;
        let rec = Arc::new(Recorder::new(bounds.max_requests, window(a, bounds)));
        let ctx = world.ctx(rec.clone(), &a.queries);
        let list = match w {
            Which::Browse => vec![scenarios::scenario(Journey::Browse, &ctx, 1)?],
            Which::Search => vec![scenarios::scenario(Journey::Search, &ctx, 1)?],
            Which::Cart => vec![scenarios::scenario(Journey::Cart, &ctx, 1)?],
            Which::Checkout => vec![scenarios::scenario(Journey::Checkout, &ctx, 1)?],
            Which::Mix => mix(&ctx)?,
        };
        let run = attack(base, w.name(), a.crowd(), bounds, rec, list).await?;
        print!("{}", report::table(&run));
        println!();
        runs.push(run);
    }

    // References 2 and 3, after the scenarios so their writes do not disturb them.
    let targets = Targets {
        pg_host: a.pg_host.clone(),
        pg_port: a.pg_port,
        pg_user: a.pg_user.clone(),
        redis_host: a.redis_host.clone(),
        redis_port: a.redis_port,
    };
    let (pgbench, redis) = if a.no_reference {
        (
            Err("--no-reference".to_owned()),
            Err("--no-reference".to_owned()),
        )
    } else {
        let clients = a.users.min(PGBENCH_MAX_CLIENTS);
        let pg = reference::pgbench(&targets, clients, bounds.duration.as_secs().max(1))
            .await
            .map_err(|e| format!("{e:#}"));
        let redis = reference::redis_benchmark(&targets, a.users, 100_000)
            .await
            .map_err(|e| format!("{e:#}"));
        (pg, redis)
    };
    let refs = References {
        gateway,
        pgbench,
        redis,
    };
    print!("{}", report::summary(&runs, &refs));

    // Files.
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let doc = json!({
        "tool": "storefront-bench load (goose)",
        "started_unix": started_unix,
        "gateway": base,
        "machine": machine(),
        "settings": {"users": a.users, "duration_s": bounds.duration.as_secs(), "rate": a.rate,
                     "iterations": a.iterations, "max_requests": bounds.max_requests,
                     "products": world.products.len(), "categories": world.categories.len(),
                     "queries": a.queries},
        "scenarios": runs.iter().map(|r| report::run_json(r, Some(&refs))).collect::<Vec<_>>(),
        "reference": report::references_json(&refs),
    });
    let json_path = a.out.join("load.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&doc)? + "\n")
        .with_context(|| format!("writing {}", json_path.display()))?;
    let mut panels: Vec<svg::Panel> = Vec::new();
    if let Ok(g) = &refs.gateway {
        panels.push(report::panel(g));
    }
    panels.extend(runs.iter().map(report::panel));
    let svg_path = a.out.join("load-latency.svg");
    std::fs::write(
        &svg_path,
        svg::render(
            "storefront-bench load: latency per second (p50 solid, p99 dashed)",
            &panels,
        ),
    )
    .with_context(|| format!("writing {}", svg_path.display()))?;
    println!("\nwrote {} and {}", json_path.display(), svg_path.display());
    if let Some(pid) = a.pid {
        let mib = |kib: u64| kib as f64 / 1024.0;
        println!(
            "memory: `storefront up` (pid {pid}) peak RSS {:.0} MiB over the run (VmHWM), {:.0} MiB now",
            mib(crate::burst::peak_rss_kib(pid)?),
            mib(crate::burst::rss_kib(pid)?)
        );
    }
    Ok(())
}
