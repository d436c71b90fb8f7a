//! `storefront-bench soak`: the load benchmark's mix for a bounded time against a platform of its
//! own (the `storefront` binary, one process per role, on loopback, with a private broker), while
//! faults happen on a schedule: a burst of concurrent logins every `--burst-every` seconds, one
//! random role killed with SIGKILL and restarted every `--kill-every` seconds, and the broker
//! stopped once for `--broker-outage` seconds. Every second it samples each process's resident
//! memory and open descriptors, the platform's PostgreSQL connections and its consumer lag.
//!
//! After the load stops and the platform settles it checks: no order lost or stuck, every paid
//! order charged once with its total, stock balanced (ledger, reservations, units sold), every
//! burst answered 2xx, 401 or 503 with `Retry-After`, RSS at the end within `--rss-ratio` of its
//! level after the warm-up, and no growth of descriptors or connections. Writes `soak.json` (every
//! sample, the schedule as it ran, the checks) and `soak.svg` under `--out`; fails when a check
//! fails.

mod checks;
mod sample;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use storefront_tests::platform::{Options, Platform, PrivateBroker, ROLES};

use crate::load::record::Recorder;
use crate::load::svg::{Axis, Line, Panel};
use crate::load::{self, Bounds, Crowd};
use checks::Check;
use sample::{LagProbe, Sample};

pub use sample::probe_main;

/// Options of `storefront-bench soak`.
#[derive(clap::Args, Debug, Clone)]
pub struct SoakArgs {
    /// Seconds of the measured run, after the warm-up (60..=3600).
    #[arg(long, default_value_t = 600)]
    pub length: u64,
    /// Seconds of load before the run; the levels after it are the baseline (10..=600).
    #[arg(long, default_value_t = 60)]
    pub warmup: u64,
    /// Goose users of the mix (browse 60, search 25, cart 10, checkout 5 by weight).
    #[arg(long, default_value_t = 16)]
    pub users: usize,
    /// Cap on requests per second of the mix; 0 = unlimited. Unlimited saturates the broker on
    /// 2 cores (tansu, one core, SQLite storage): a role restarted then could not create its
    /// topics within 60 s, so the default is a rate the broker sustains with faults.
    #[arg(long, default_value_t = 100)]
    pub rate: usize,
    /// Concurrent logins per burst (1..=5000).
    #[arg(long, default_value_t = 500)]
    pub burst_logins: usize,
    /// Seconds between bursts.
    #[arg(long, default_value_t = 120)]
    pub burst_every: u64,
    /// Seconds between kills of a random role.
    #[arg(long, default_value_t = 90)]
    pub kill_every: u64,
    /// Seconds the broker stays down, once, near the middle of the run (0 = never).
    #[arg(long, default_value_t = 20)]
    pub broker_outage: u64,
    /// RSS at the end may be at most this times its level after the warm-up.
    #[arg(long, default_value_t = 1.2)]
    pub rss_ratio: f64,
    /// Seed of the choice of roles to kill (default: from the clock; printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where soak.json and soak.svg go (relative, under the current directory).
    #[arg(long, default_value = "target/bench-soak")]
    pub out: PathBuf,
    /// The short version the test command runs: --length 180 --warmup 20 --rate 40
    /// --burst-logins 100 --burst-every 60 --kill-every 45 --broker-outage 10 (these replace
    /// the values given).
    #[arg(long)]
    pub short: bool,
}

impl SoakArgs {
    fn plan(&self) -> anyhow::Result<Plan> {
        let mut p = Plan {
            length: self.length as f64,
            warmup: self.warmup as f64,
            users: self.users,
            rate: self.rate,
            burst_logins: self.burst_logins,
            burst_every: self.burst_every as f64,
            kill_every: self.kill_every as f64,
            broker_outage: self.broker_outage as f64,
        };
        if self.short {
            p = Plan {
                length: 180.0,
                warmup: 20.0,
                rate: 40,
                burst_logins: 100,
                burst_every: 60.0,
                kill_every: 45.0,
                broker_outage: 10.0,
                ..p
            };
        }
        if !(60.0..=3600.0).contains(&p.length) {
            bail!("--length must be between 60 and 3600 seconds");
        }
        if !(10.0..=600.0).contains(&p.warmup) {
            bail!("--warmup must be between 10 and 600 seconds");
        }
        if !(4..=256).contains(&p.users) {
            bail!("--users must be between 4 and 256 (the mix needs a checkout user)");
        }
        if !(1..=5000).contains(&p.burst_logins) {
            bail!("--burst-logins must be between 1 and 5000");
        }
        if p.burst_every < 30.0 || p.kill_every < 30.0 {
            bail!("--burst-every and --kill-every must be at least 30 seconds");
        }
        if p.broker_outage > 120.0 {
            bail!("--broker-outage must be at most 120 seconds");
        }
        if !(1.0..=10.0).contains(&self.rss_ratio) {
            bail!("--rss-ratio must be between 1 and 10");
        }
        Ok(p)
    }
}

/// The run as planned.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub length: f64,
    pub warmup: f64,
    pub users: usize,
    pub rate: usize,
    pub burst_logins: usize,
    pub burst_every: f64,
    pub kill_every: f64,
    pub broker_outage: f64,
}

/// A fault of the schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Burst,
    Kill,
    BrokerOutage,
}

/// Seconds at the end of the run without bursts: the end level is read there, after the memory
/// of the last burst had time to come back.
const BURST_FREE_TAIL: f64 = 40.0;
/// The same for kills: a role that just restarted has not warmed its caches again.
const KILL_FREE_TAIL: f64 = 20.0;
/// The windows the levels are read in: the last seconds of the warm-up and of the run.
const LEVEL_WINDOW: f64 = 10.0;

/// When each fault happens, in seconds after the warm-up: bursts at every multiple of
/// `burst_every`, kills half a period off the multiples of `kill_every` (so they fall between
/// bursts), the broker outage at the moment nearest the middle where no other fault starts within
/// 10 s of it.
pub fn schedule(p: &Plan) -> Vec<(f64, Action)> {
    let mut out = Vec::new();
    let mut t = p.burst_every;
    while t <= p.length - BURST_FREE_TAIL {
        out.push((t, Action::Burst));
        t += p.burst_every;
    }
    let mut t = p.kill_every / 2.0;
    while t <= p.length - KILL_FREE_TAIL {
        out.push((t, Action::Kill));
        t += p.kill_every;
    }
    if p.broker_outage > 0.0 {
        let clear = |s: f64| {
            out.iter()
                .all(|(o, _)| *o < s - 10.0 || *o > s + p.broker_outage + 10.0)
        };
        let middle = (p.length / 2.0 / 5.0).round() * 5.0;
        let at = (0..(p.length as i64 / 5))
            .flat_map(|k| [middle + 5.0 * k as f64, middle - 5.0 * k as f64])
            .filter(|s| *s > 10.0 && s + p.broker_outage < p.length - KILL_FREE_TAIL)
            .find(|s| clear(*s))
            .unwrap_or(middle);
        out.push((at, Action::BrokerOutage));
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// A small deterministic generator (xorshift64*) for the choice of roles.
struct Rng(u64);

impl Rng {
    fn pick(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

/// What happened when, as it ran (seconds after the warm-up).
#[derive(Clone, Debug)]
struct Event {
    at: f64,
    took: f64,
    label: String,
    detail: Value,
}

/// The settings of a platform under a soak: the benchmark's (no rate limit, no sign-up throttle),
/// one process per role.
fn options(broker: &PrivateBroker) -> Options {
    Options {
        groups: ROLES.iter().map(|r| ((*r).to_owned(), vec![*r])).collect(),
        kafka: Some(broker.address()),
        env: [
            ("STOREFRONT_GATEWAY__RATE_LIMIT__ENABLED", "false"),
            ("STOREFRONT_AUTH__THROTTLE__ENABLED", "false"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    }
}

pub async fn run(args: &SoakArgs) -> anyhow::Result<()> {
    let plan = args.plan()?;
    load::check_out_dir(&args.out)?;
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    }) | 1;
    let timeline = schedule(&plan);
    println!(
        "soak: {} s warm-up, {} s run, {} users (rate {}), bursts of {} logins every {} s, a role killed every {} s, broker down {} s once; seed {seed}",
        plan.warmup,
        plan.length,
        plan.users,
        if plan.rate == 0 {
            "unlimited".to_owned()
        } else {
            format!("{}/s", plan.rate)
        },
        plan.burst_logins,
        plan.burst_every,
        plan.kill_every,
        plan.broker_outage
    );

    let started = Instant::now();
    let mut broker = PrivateBroker::start().await;
    let mut platform = Platform::start(options(&broker)).await;
    let base = platform.gateway.clone();
    println!(
        "platform: {} processes up in {:.1} s, gateway {base}, data prefix {}",
        ROLES.len(),
        started.elapsed().as_secs_f64(),
        platform.prefix
    );

    // Setup: an admin, the benchmark catalog and stock, the shoppers, the burst accounts.
    let admin_email = format!("soak-admin-{}@example.test", platform.prefix);
    let admin_password = "soak admin password";
    platform.create_admin(&admin_email, admin_password).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let fixture =
        load::setup::prepare(&http, &base, Some((&admin_email, admin_password)), 200).await?;
    let (cart_sku, buy_sku) = fixture.skus.clone().context("benchmark SKUs")?;
    let shoppers = load::setup::shoppers(&http, &base, plan.users).await?;
    let took = load::setup::warm_up_purchase(&http, &base, &shoppers[0], &buy_sku).await?;
    println!("warm-up purchase paid in {:.1} s", took.as_secs_f64());
    let burst_password = "soak burst password";
    let burst_accounts: Vec<String> = (0..20)
        .map(|i| format!("soak-{}-{i}@example.test", platform.prefix))
        .collect();
    for email in &burst_accounts {
        crate::checkout::expect(
            http.post(format!("{base}/api/v1/auth/register"))
                .json(&json!({"email": email, "password": burst_password})),
            201,
            "registering a burst account",
        )
        .await?;
    }

    // Sampling, every second, from now until the checks are done.
    let pg = storefront_tests::common().postgres;
    let mut platform_pg = pg.clone();
    platform_pg.database_prefix = format!("{}_", platform.prefix);
    let admin_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(
            storefront_kit::db::connect_options(&pg, "postgres")?
                .application_name("storefront-soak"),
        )
        .await
        .context("connecting to PostgreSQL for pg_stat_activity")?;
    let lag = LagProbe::start(&platform.kafka, &format!("{}.", platform.prefix))?;
    let pids = Arc::new(std::sync::Mutex::new(
        platform
            .group_names()
            .into_iter()
            .filter_map(|g| platform.pid(&g).map(|p| (g, p)))
            .collect::<std::collections::BTreeMap<String, u32>>(),
    ));
    let t0 = Instant::now() + Duration::from_secs_f64(plan.warmup);
    let samples = Arc::new(std::sync::Mutex::new(Vec::<Sample>::new()));
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (pids, samples, sampling, prefix) = (
            pids.clone(),
            samples.clone(),
            sampling.clone(),
            platform.prefix.clone(),
        );
        let lag_latest = move || lag.latest();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                tick.tick().await;
                let now = Instant::now();
                let t = if now >= t0 {
                    now.duration_since(t0).as_secs_f64()
                } else {
                    -t0.duration_since(now).as_secs_f64()
                };
                let mut s = Sample {
                    t,
                    ..Sample::default()
                };
                let current = pids.lock().expect("pids").clone();
                for (group, pid) in current {
                    if let Some((rss, fds)) = sample::process(pid) {
                        s.rss_kib.insert(group.clone(), rss);
                        s.fds.insert(group, fds);
                    }
                }
                s.db_connections = sample::db_connections(&admin_pool, &prefix).await;
                s.consumer_lag = lag_latest();
                samples.lock().expect("samples").push(s);
            }
            lag_latest
        })
    };

    // The load: one goose attack over the warm-up and the run; the faults on their schedule.
    let rec = Arc::new(Recorder::new(
        u64::MAX,
        Duration::from_secs_f64(plan.warmup + plan.length + 1.0),
    ));
    let accounts = shoppers.iter().map(|s| s.account.clone()).collect();
    let ctx = Arc::new(load::scenarios::Ctx::new(
        rec.clone(),
        fixture.categories.clone(),
        fixture.products.clone(),
        load::QUERIES.split(',').map(str::to_owned).collect(),
        accounts,
        cart_sku.clone(),
        buy_sku.clone(),
    ));
    let bounds = Bounds {
        duration: Duration::from_secs_f64(plan.warmup + plan.length),
        max_requests: u64::MAX,
    };
    let crowd = Crowd {
        users: plan.users,
        rate: plan.rate,
        iterations: 0,
    };
    let mut rng = Rng(seed);
    let burst_http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(60))
        .build()?;
    let login_url = format!("{base}/api/v1/auth/login");
    let faults = async {
        let mut events: Vec<Event> = Vec::new();
        let mut bad_bursts = Vec::new();
        let since = |i: Instant| i.saturating_duration_since(t0).as_secs_f64();
        for (at, action) in &timeline {
            tokio::time::sleep_until((t0 + Duration::from_secs_f64(*at)).into()).await;
            let began = Instant::now();
            let (label, detail) = match action {
                Action::Burst => {
                    let bodies = (0..plan.burst_logins)
                        .map(|i| {
                            json!({"email": burst_accounts[i % burst_accounts.len()], "password": burst_password})
                        })
                        .collect();
                    let tally = crate::burst::wave(&burst_http, &login_url, bodies, None).await;
                    if !tally.bad.is_empty() {
                        bad_bursts.push(format!(
                            "burst at {:.0} s: {} unacceptable answers, e.g. {}",
                            since(began),
                            tally.bad.len(),
                            tally.bad[0]
                        ));
                    }
                    (
                        format!("burst {}", plan.burst_logins),
                        json!({"answers": tally.by_status, "unacceptable": tally.bad.len(),
                               "seconds": tally.elapsed.as_secs_f64()}),
                    )
                }
                Action::Kill => {
                    let role = ROLES[rng.pick(ROLES.len())];
                    pids.lock().expect("pids").remove(role);
                    platform.restart(role).await;
                    if let Some(pid) = platform.pid(role) {
                        pids.lock().expect("pids").insert(role.to_owned(), pid);
                    }
                    (format!("kill -9 {role}"), json!({"role": role}))
                }
                Action::BrokerOutage => {
                    broker.stop().await;
                    tokio::time::sleep(Duration::from_secs_f64(plan.broker_outage)).await;
                    broker.resume().await;
                    (
                        format!("broker down {} s", plan.broker_outage),
                        json!({"seconds": plan.broker_outage}),
                    )
                }
            };
            let ev = Event {
                at: since(began),
                took: began.elapsed().as_secs_f64(),
                label,
                detail,
            };
            println!("  {:>6.1} s  {} ({:.1} s)", ev.at, ev.label, ev.took);
            events.push(ev);
        }
        (events, bad_bursts)
    };
    let scenarios = load::mix(&ctx)?;
    let (load_run, (events, bad_bursts)) = tokio::join!(
        load::attack(&base, "soak mix", crowd, &bounds, rec, scenarios),
        faults
    );
    let load_run = load_run?;
    print!("{}", load::report::table(&load_run));

    // Settling: every order terminal and every consumer caught up (3 minutes at most).
    let settle_started = Instant::now();
    let settled = loop {
        let ledger = checks::read_ledger(&platform_pg, &buy_sku, &cart_sku).await;
        let lag_now = samples
            .lock()
            .expect("samples")
            .last()
            .and_then(|s| s.consumer_lag);
        let pending = ledger.as_ref().map(|l| {
            l.orders
                .values()
                .filter(|(s, _)| s == "pending_payment")
                .count()
        });
        if matches!(pending, Ok(0)) && lag_now == Some(0) {
            break true;
        }
        if settle_started.elapsed() > Duration::from_secs(180) {
            break false;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    println!(
        "{} after {:.1} s",
        if settled { "settled" } else { "NOT settled" },
        settle_started.elapsed().as_secs_f64()
    );
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    drop(sampler.await);
    let samples = samples.lock().expect("samples").clone();

    // The verdict.
    let ledger = checks::read_ledger(&platform_pg, &buy_sku, &cart_sku).await?;
    let created = ctx.orders();
    let mut verdict: Vec<Check> = checks::ledger_checks(&ledger, &created, 1_000_000);
    verdict.push(Check::new(
        "consumers caught up",
        settled,
        format!(
            "lag at the end {:?}",
            samples.last().and_then(|s| s.consumer_lag)
        ),
    ));
    verdict.push(Check::new(
        "bursts answered 2xx, 401 or 503 with Retry-After",
        bad_bursts.is_empty(),
        if bad_bursts.is_empty() {
            format!(
                "{} bursts",
                events
                    .iter()
                    .filter(|e| e.label.starts_with("burst"))
                    .count()
            )
        } else {
            bad_bursts.join("; ")
        },
    ));
    let warm = (-LEVEL_WINDOW, 0.0);
    let end = (plan.length - LEVEL_WINDOW, plan.length);
    let lv =
        |w: (f64, f64), f: &dyn Fn(&Sample) -> Option<f64>| checks::level(&samples, w.0, w.1, f);
    let complete = |s: &Sample| s.rss_kib.len() == ROLES.len();
    let rss = |s: &Sample| complete(s).then(|| s.rss_mib());
    let fds = |s: &Sample| complete(s).then(|| s.fd_total() as f64);
    let conns = |s: &Sample| s.db_connections.map(|c| c as f64);
    verdict.push(checks::bounded(
        "RSS back after the bursts",
        "MiB",
        lv(warm, &rss),
        lv(end, &rss),
        args.rss_ratio,
        0.0,
    ));
    verdict.push(checks::bounded(
        "no file-descriptor growth",
        "fds",
        lv(warm, &fds),
        lv(end, &fds),
        1.2,
        16.0,
    ));
    verdict.push(checks::bounded(
        "no database-connection growth",
        "connections",
        lv(warm, &conns),
        lv(end, &conns),
        1.2,
        4.0,
    ));
    let peak_rss = samples.iter().map(Sample::rss_mib).fold(0.0, f64::max);
    println!(
        "\npeak RSS of all {} processes {:.0} MiB; {} orders ({} answered 201 to the load), {} requests ok, {} failed",
        ROLES.len(),
        peak_rss,
        ledger.orders.len(),
        created.len(),
        load_run.goose_ok,
        load_run.goose_failed
    );
    for c in &verdict {
        println!(
            "  {}  {}: {}",
            if c.ok { "ok    " } else { "FAILED" },
            c.name,
            c.detail
        );
    }

    // Files.
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let doc = json!({
        "tool": "storefront-bench soak",
        "plan": {"length_s": plan.length, "warmup_s": plan.warmup, "users": plan.users, "rate": plan.rate,
                 "burst_logins": plan.burst_logins, "burst_every_s": plan.burst_every,
                 "kill_every_s": plan.kill_every, "broker_outage_s": plan.broker_outage, "seed": seed},
        "events": events.iter().map(|e| json!({"at_s": e.at, "took_s": e.took, "what": e.label, "detail": e.detail})).collect::<Vec<_>>(),
        "load": load::report::run_json(&load_run, None),
        "orders": {"total": ledger.orders.len(), "answered_201": created.len()},
        "peak_rss_mib": peak_rss,
        "checks": verdict.iter().map(Check::json).collect::<Vec<_>>(),
        "samples": samples.iter().map(Sample::json).collect::<Vec<_>>(),
    });
    let json_path = args.out.join("soak.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&doc)? + "\n")
        .with_context(|| format!("writing {}", json_path.display()))?;
    let svg_path = args.out.join("soak.svg");
    std::fs::write(&svg_path, chart(&plan, &samples, &events))
        .with_context(|| format!("writing {}", svg_path.display()))?;
    println!("\nwrote {} and {}", json_path.display(), svg_path.display());
    drop(platform);
    drop(broker);
    let failed: Vec<&str> = verdict
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.name.as_str())
        .collect();
    if !failed.is_empty() {
        bail!("soak failed: {}", failed.join(", "));
    }
    Ok(())
}

/// The plot: RSS, descriptors, database connections and consumer lag over the run, faults marked.
fn chart(plan: &Plan, samples: &[Sample], events: &[Event]) -> String {
    let from = -plan.warmup;
    let seconds = samples.last().map_or(plan.length, |s| s.t) - from;
    let series = |label: &str, colour: usize, f: &dyn Fn(&Sample) -> Option<f64>| Line {
        label: label.to_owned(),
        points: samples
            .iter()
            .filter_map(|s| f(s).map(|v| (s.t - from, v)))
            .collect(),
        dashed: false,
        colour,
    };
    let markers: Vec<(f64, String)> = events
        .iter()
        .map(|e| (e.at - from, e.label.clone()))
        .chain([
            (plan.warmup, "warm-up ends".to_owned()),
            (plan.warmup + plan.length, "load stops".to_owned()),
        ])
        .collect();
    let panel = |title: &str, unit: &str, lines: Vec<Line>| Panel {
        title: title.to_owned(),
        seconds,
        lines,
        axis: Axis::Linear {
            unit: unit.to_owned(),
        },
        markers: markers.clone(),
    };
    // The three roles with the most memory at their peak get lines of their own.
    let mut peaks: Vec<(u64, String)> = ROLES
        .iter()
        .map(|r| {
            let peak = samples
                .iter()
                .filter_map(|s| s.rss_kib.get(*r))
                .max()
                .copied()
                .unwrap_or(0);
            (peak, (*r).to_owned())
        })
        .collect();
    peaks.sort_by(|a, b| b.cmp(a));
    let mut rss_lines = vec![series("all processes", 0, &|s| Some(s.rss_mib()))];
    for (i, (_, role)) in peaks.iter().take(3).enumerate() {
        rss_lines.push(series(role, i + 1, &|s| {
            s.rss_kib.get(role).map(|k| *k as f64 / 1024.0)
        }));
    }
    let panels = vec![
        panel("Resident memory (MiB)", "MiB", rss_lines),
        panel(
            "Open file descriptors, all processes",
            "",
            vec![series("fds", 4, &|s| Some(s.fd_total() as f64))],
        ),
        panel(
            "PostgreSQL connections of the platform",
            "",
            vec![series("connections", 5, &|s| {
                s.db_connections.map(|c| c as f64)
            })],
        ),
        panel(
            "Consumer lag, all groups (events)",
            "",
            vec![series("lag", 6, &|s| s.consumer_lag.map(|c| c as f64))],
        ),
    ];
    crate::load::svg::render(
        &format!(
            "storefront-bench soak: {} s run after {} s warm-up (seconds from the start of the warm-up)",
            plan.length, plan.warmup
        ),
        &panels,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(length: f64) -> Plan {
        Plan {
            length,
            warmup: 60.0,
            users: 16,
            rate: 0,
            burst_logins: 500,
            burst_every: 120.0,
            kill_every: 90.0,
            broker_outage: 20.0,
        }
    }

    #[test]
    fn ten_minutes_have_four_bursts_six_kills_and_one_outage_apart_from_them() {
        let s = schedule(&plan(600.0));
        let at = |a: Action| {
            s.iter()
                .filter(|x| x.1 == a)
                .map(|x| x.0)
                .collect::<Vec<_>>()
        };
        assert_eq!(at(Action::Burst), [120.0, 240.0, 360.0, 480.0]);
        assert_eq!(at(Action::Kill), [45.0, 135.0, 225.0, 315.0, 405.0, 495.0]);
        let outage = at(Action::BrokerOutage);
        assert_eq!(outage.len(), 1);
        let o = outage[0];
        assert!(
            s.iter()
                .filter(|x| x.1 != Action::BrokerOutage)
                .all(|x| x.0 < o - 10.0 || x.0 > o + 30.0),
            "{s:?}"
        );
        assert!((200.0..=400.0).contains(&o), "near the middle: {o}");
        // Sorted, and nothing in the tail where the end levels are read.
        assert!(s.windows(2).all(|w| w[0].0 <= w[1].0));
        assert!(s.iter().all(|x| x.0 <= 600.0 - KILL_FREE_TAIL));
    }

    #[test]
    fn the_short_version_has_every_kind_of_fault() {
        let args = SoakArgs {
            length: 600,
            warmup: 60,
            users: 16,
            rate: 100,
            burst_logins: 500,
            burst_every: 120,
            kill_every: 90,
            broker_outage: 20,
            rss_ratio: 1.2,
            seed: Some(7),
            out: "target/x".into(),
            short: true,
        };
        let p = args.plan().unwrap();
        assert_eq!((p.length, p.burst_logins), (180.0, 100));
        let s = schedule(&p);
        for a in [Action::Burst, Action::Kill, Action::BrokerOutage] {
            assert!(s.iter().any(|x| x.1 == a), "{a:?} missing from {s:?}");
        }
        let bad = SoakArgs {
            short: false,
            burst_every: 5,
            ..args
        };
        assert!(bad.plan().is_err());
    }

    #[test]
    fn kills_pick_every_role_over_time() {
        let mut rng = Rng(12345 | 1);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..500 {
            seen.insert(rng.pick(ROLES.len()));
        }
        assert_eq!(seen.len(), ROLES.len());
    }
}
