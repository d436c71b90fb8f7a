//! `burst`: what a burst of concurrent logins and sign-ups does to the platform's memory and
//! answers. Samples the resident memory of the `storefront up` process (`--pid`) every 100 ms
//! from `/proc`, fires `--logins` logins and then `--signups` sign-ups all at once, and reports
//! RSS before, at peak and over the next `--settle` seconds, with every answer by status. Each
//! answer must be 2xx, 401 or 503 with `Retry-After`; anything else fails the run.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

/// Settings of one burst run.
#[derive(clap::Args, Clone, Debug)]
pub struct BurstArgs {
    /// The process whose resident memory is sampled (`storefront up`).
    #[arg(long, env = "STOREFRONT_BENCH_PID")]
    pub pid: u32,
    /// Concurrent logins in the first wave (1..=5000).
    #[arg(long, default_value_t = 500)]
    pub logins: usize,
    /// Concurrent sign-ups in the second wave (0..=5000).
    #[arg(long, default_value_t = 200)]
    pub signups: usize,
    /// Seconds to keep sampling after the last wave (1..=300).
    #[arg(long, default_value_t = 30)]
    pub settle: u64,
    /// Where to write `burst.json` with every sample.
    #[arg(long, default_value = "target/bench-burst")]
    pub out: std::path::PathBuf,
}

/// Resident set size of `pid` in KiB (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    status_kib(pid, "VmRSS")
}

/// The highest resident set size `pid` has had, in KiB (`VmHWM`).
pub fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    status_kib(pid, "VmHWM")
}

fn status_kib(pid: u32, key: &str) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status (is --pid the platform?)"))?;
    parse_status(&text, key).with_context(|| format!("no {key} line"))
}

fn parse_status(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// Answers of one wave, by status; `bad` counts 503s without `Retry-After` and transport
/// errors too.
#[derive(Debug, Default)]
pub struct Tally {
    pub by_status: BTreeMap<u16, u64>,
    pub bad: Vec<String>,
    pub elapsed: Duration,
}

fn acceptable(status: u16, has_retry_after: bool) -> bool {
    (200..300).contains(&status) || status == 401 || (status == 503 && has_retry_after)
}

/// Sends every body to `url` at once (one request each, `Idempotency-Key: <prefix>-<i>` when a
/// prefix is given) and tallies the answers.
pub async fn wave(
    http: &reqwest::Client,
    url: &str,
    bodies: Vec<serde_json::Value>,
    key_prefix: Option<&str>,
) -> Tally {
    let started = Instant::now();
    let tasks: Vec<_> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let mut req = http.post(url).json(&body);
            if let Some(p) = key_prefix {
                req = req.header("Idempotency-Key", format!("{p}-{i}"));
            }
            tokio::spawn(async move {
                match req.send().await {
                    Ok(r) => {
                        let s = r.status().as_u16();
                        let ra = r.headers().contains_key("retry-after");
                        let _ = r.bytes().await;
                        Ok((s, ra))
                    }
                    Err(e) => Err(e.to_string()),
                }
            })
        })
        .collect();
    let mut t = Tally::default();
    for task in tasks {
        match task.await {
            Ok(Ok((s, ra))) => {
                *t.by_status.entry(s).or_default() += 1;
                if !acceptable(s, ra) {
                    t.bad.push(format!("HTTP {s} (Retry-After: {ra})"));
                }
            }
            Ok(Err(e)) => t.bad.push(e),
            Err(e) => t.bad.push(e.to_string()),
        }
    }
    t.elapsed = started.elapsed();
    t
}

pub async fn run(base: &str, args: &BurstArgs) -> anyhow::Result<()> {
    if !(1..=5000).contains(&args.logins) || args.signups > 5000 {
        bail!("--logins must be 1..=5000 and --signups 0..=5000");
    }
    if !(1..=300).contains(&args.settle) {
        bail!("--settle must be between 1 and 300 seconds");
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(60))
        .build()?;
    let run = uuid::Uuid::now_v7().simple().to_string();
    let tag = &run[run.len() - 10..];
    let password = "bench-password-Long-1";

    // Accounts the logins use (a few, as a real burst would hit some accounts more than once).
    let accounts: Vec<String> = (0..20)
        .map(|i| format!("burst-{tag}-{i}@example.com"))
        .collect();
    for email in &accounts {
        crate::post_json(
            &http,
            &format!("{base}/api/v1/auth/register"),
            &json!({"email": email, "password": password}),
            None,
        )
        .await
        .map_err(|e| anyhow::anyhow!("registering a burst account: {e}"))?;
    }

    // RSS every 100 ms from now on.
    let started = Instant::now();
    let samples = Arc::new(std::sync::Mutex::new(Vec::<(f64, u64)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (samples, stop, peak, pid) = (samples.clone(), stop.clone(), peak.clone(), args.pid);
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(kib) = rss_kib(pid) {
                    peak.fetch_max(kib, Ordering::Relaxed);
                    samples
                        .lock()
                        .expect("samples")
                        .push((started.elapsed().as_secs_f64(), kib));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = rss_kib(args.pid)?;
    peak.store(before, Ordering::Relaxed);

    let logins: Vec<_> = (0..args.logins)
        .map(|i| json!({"email": accounts[i % accounts.len()], "password": password}))
        .collect();
    let login = wave(&http, &format!("{base}/api/v1/auth/login"), logins, None).await;
    let signups: Vec<_> = (0..args.signups)
        .map(|i| json!({"email": format!("burst-{tag}-new-{i}@example.com"), "password": password}))
        .collect();
    let signup = wave(
        &http,
        &format!("{base}/api/v1/auth/register"),
        signups,
        Some(tag),
    )
    .await;
    let at_peak = peak.load(Ordering::Relaxed);
    let burst_end = started.elapsed().as_secs_f64();

    // Settling: when RSS first came back within 20% of the level before the burst.
    let settle_deadline = Instant::now() + Duration::from_secs(args.settle);
    let mut back_within: Option<f64> = None;
    while Instant::now() < settle_deadline {
        let now = rss_kib(args.pid)?;
        if back_within.is_none() && (now as f64) <= before as f64 * 1.2 {
            back_within = Some(started.elapsed().as_secs_f64() - burst_end);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = rss_kib(args.pid)?;
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.await;

    let mib = |k: u64| k as f64 / 1024.0;
    println!(
        "burst: {} logins, then {} sign-ups, all at once; platform pid {}",
        args.logins, args.signups, args.pid
    );
    for (name, t) in [("logins", &login), ("sign-ups", &signup)] {
        let answers: Vec<String> = t
            .by_status
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        println!(
            "{name:<9} {:>6.2} s   {}   unacceptable: {}",
            t.elapsed.as_secs_f64(),
            answers.join(", "),
            t.bad.len()
        );
    }
    println!(
        "RSS before {:.1} MiB   peak {:.1} MiB   after {} s {:.1} MiB   back within 20% of before: {}",
        mib(before),
        mib(at_peak),
        args.settle,
        mib(after),
        back_within
            .map(|s| format!("{s:.1} s after the burst"))
            .unwrap_or_else(|| format!("not within {} s", args.settle))
    );
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let samples = samples.lock().expect("samples").clone();
    let report = json!({
        "logins": args.logins, "signups": args.signups,
        "login_answers": login.by_status, "signup_answers": signup.by_status,
        "unacceptable": login.bad.iter().chain(&signup.bad).take(20).collect::<Vec<_>>(),
        "rss_kib": {"before": before, "peak": at_peak, "after": after},
        "back_within_20pct_secs": back_within,
        "burst_end_secs": burst_end,
        "samples": samples.iter().map(|(t, k)| json!([t, k])).collect::<Vec<_>>(),
    });
    let path = args.out.join("burst.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&report)?)?;
    println!("samples: {}", path.display());
    let bad: Vec<&String> = login.bad.iter().chain(&signup.bad).collect();
    if !bad.is_empty() {
        bail!(
            "{} answers were not 2xx, 401 or 503 with Retry-After, e.g. {}",
            bad.len(),
            bad[0]
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_is_read_from_proc_status() {
        let text = "Name:\tstorefront\nVmPeak:\t  900000 kB\nVmRSS:\t  51234 kB\nThreads:\t40\n";
        assert_eq!(parse_status(text, "VmRSS"), Some(51234));
        assert_eq!(parse_status(text, "VmPeak"), Some(900000));
        assert_eq!(parse_status(text, "Vm"), None);
        assert!(rss_kib(std::process::id()).unwrap() > 0);
    }

    #[test]
    fn only_2xx_401_and_503_with_retry_after_are_acceptable() {
        assert!(acceptable(200, false));
        assert!(acceptable(201, false));
        assert!(acceptable(401, false));
        assert!(acceptable(503, true));
        assert!(!acceptable(503, false));
        assert!(!acceptable(499, false));
        assert!(!acceptable(500, false));
        assert!(!acceptable(504, true));
    }
}
