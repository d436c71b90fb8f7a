//! Reference limits of this machine, measured in the same run: `pgbench` (built-in
//! simple-update) against the platform's PostgreSQL and `redis-benchmark` GET/SET against its
//! Redis, both on loopback. A missing tool is reported, not fatal.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::Command;

/// What `pgbench` printed that we use.
#[derive(Clone, Debug, PartialEq)]
pub struct PgBench {
    pub tps: f64,
    pub latency_avg_ms: f64,
    pub clients: usize,
    pub seconds: u64,
}

/// What `redis-benchmark -q` printed that we use.
#[derive(Clone, Debug, PartialEq)]
pub struct RedisBench {
    pub get_rps: f64,
    pub set_rps: f64,
    pub clients: usize,
    pub requests: u64,
}

/// Parses the summary `pgbench` prints: `tps = 298.636626 (without initial connection time)`
/// (PostgreSQL 14+; older versions print `excluding connections establishing`, which is taken
/// before the `including` line) and `latency average = 6.697 ms`.
pub fn parse_pgbench(out: &str) -> anyhow::Result<(f64, f64)> {
    let mut tps = None;
    let mut latency = None;
    for line in out.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("tps = ") {
            if tps.is_none() && !rest.contains("including") {
                tps = rest.split_whitespace().next().and_then(|v| v.parse().ok());
            }
        } else if let Some(rest) = line.strip_prefix("latency average = ") {
            latency = rest.trim_end_matches("ms").trim().parse().ok().or(latency);
        }
    }
    match (tps, latency) {
        (Some(t), Some(l)) => Ok((t, l)),
        _ => bail!("no `tps = ` and `latency average = ` lines in the pgbench output"),
    }
}

/// Parses `redis-benchmark -q` output: progress lines separated by `\r`, then
/// `SET: 38461.54 requests per second, p50=0.607 msec` (older versions end after `second`).
/// Returns (GET, SET) requests per second.
pub fn parse_redis_benchmark(out: &str) -> anyhow::Result<(f64, f64)> {
    let rate = |test: &str| {
        out.split(['\r', '\n'])
            .map(str::trim)
            .filter_map(|l| l.strip_prefix(test)?.strip_prefix(": "))
            .filter(|rest| rest.contains("requests per second"))
            .find_map(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
    };
    match (rate("GET"), rate("SET")) {
        (Some(g), Some(s)) => Ok((g, s)),
        _ => bail!(
            "no `GET: … requests per second` and `SET: …` lines in the redis-benchmark output"
        ),
    }
}

async fn run(cmd: &mut Command, what: &str, limit: Duration) -> anyhow::Result<String> {
    let out = tokio::time::timeout(limit, cmd.stdin(Stdio::null()).kill_on_drop(true).output())
        .await
        .with_context(|| format!("{what} did not finish within {} s", limit.as_secs()))?
        .with_context(|| {
            format!("running {what} (is it installed? scripts/bench.sh installs it)")
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(stdout)
}

/// Where PostgreSQL and Redis listen (loopback only).
#[derive(Clone, Debug)]
pub struct Targets {
    pub pg_host: String,
    pub pg_port: u16,
    pub pg_user: String,
    pub redis_host: String,
    pub redis_port: u16,
}

/// The scratch database pgbench fills; nothing of the platform lives there.
pub const PGBENCH_DB: &str = "bench_pgbench";

/// `pgbench -i -s 1` on a scratch database it creates, then `-N -c clients -j 2 -T seconds`.
pub async fn pgbench(t: &Targets, clients: usize, seconds: u64) -> anyhow::Result<PgBench> {
    let conn = |c: &mut Command| {
        c.args([
            "-h",
            &t.pg_host,
            "-p",
            &t.pg_port.to_string(),
            "-U",
            &t.pg_user,
        ]);
    };
    let mut create = Command::new("psql");
    conn(&mut create);
    create.args(["-d", "postgres", "-v", "ON_ERROR_STOP=1", "-tAc"]);
    create.arg(format!("CREATE DATABASE {PGBENCH_DB}"));
    if let Err(e) = run(
        &mut create,
        "psql (CREATE DATABASE)",
        Duration::from_secs(30),
    )
    .await
        && !e.to_string().contains("already exists")
    {
        return Err(e);
    }
    let mut init = Command::new("pgbench");
    conn(&mut init);
    init.args(["-i", "-s", "1", "-q", PGBENCH_DB]);
    run(&mut init, "pgbench -i", Duration::from_secs(120)).await?;
    let mut bench = Command::new("pgbench");
    conn(&mut bench);
    bench.args([
        "-N",
        "-c",
        &clients.to_string(),
        "-j",
        "2",
        "-T",
        &seconds.to_string(),
        PGBENCH_DB,
    ]);
    let out = run(&mut bench, "pgbench -N", Duration::from_secs(seconds + 60)).await?;
    let (tps, latency_avg_ms) = parse_pgbench(&out)?;
    Ok(PgBench {
        tps,
        latency_avg_ms,
        clients,
        seconds,
    })
}

/// `redis-benchmark -t get,set -n requests -q` with random keys in database 15, so the
/// platform's keys (database 0, prefixed) are never touched.
pub async fn redis_benchmark(
    t: &Targets,
    clients: usize,
    requests: u64,
) -> anyhow::Result<RedisBench> {
    let mut cmd = Command::new("redis-benchmark");
    cmd.args([
        "-h",
        &t.redis_host,
        "-p",
        &t.redis_port.to_string(),
        "--dbnum",
        "15",
        "-r",
        "100000",
        "-c",
        &clients.to_string(),
        "-t",
        "get,set",
        "-n",
        &requests.to_string(),
        "-q",
    ]);
    let out = run(&mut cmd, "redis-benchmark", Duration::from_secs(300)).await?;
    let (get_rps, set_rps) = parse_redis_benchmark(&out)?;
    Ok(RedisBench {
        get_rps,
        set_rps,
        clients,
        requests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// pgbench 15 on this machine.
    const PGBENCH_15: &str = "pgbench (15.20 (Debian 15.20-0+deb12u1))
starting vacuum...end.
transaction type: <builtin: simple update>
scaling factor: 1
query mode: simple
number of clients: 2
number of threads: 2
maximum number of tries: 1
duration: 2 s
number of transactions actually processed: 597
number of failed transactions: 0 (0.000%)
latency average = 6.697 ms
initial connection time = 8.526 ms
tps = 298.636626 (without initial connection time)
";

    /// pgbench 12 prints two tps lines.
    const PGBENCH_12: &str = "transaction type: <builtin: simple update>
scaling factor: 1
query mode: simple
number of clients: 8
number of threads: 2
duration: 10 s
number of transactions actually processed: 24116
latency average = 3.318 ms
tps = 2411.073529 (including connections establishing)
tps = 2412.281377 (excluding connections establishing)
";

    #[test]
    fn parses_pgbench_15_and_12() {
        assert_eq!(parse_pgbench(PGBENCH_15).unwrap(), (298.636626, 6.697));
        assert_eq!(parse_pgbench(PGBENCH_12).unwrap(), (2412.281377, 3.318));
        assert!(parse_pgbench("pgbench: error: connection refused").is_err());
    }

    #[test]
    fn parses_redis_benchmark_quiet_output_with_progress_lines() {
        // redis-benchmark 7 on this machine: `\r` progress updates before each result.
        let out = " \rSET: rps=0.0 (overall: 0.0) avg_msec=-nan (overall: -nan)\r                                                          \rSET: 38461.54 requests per second, p50=0.607 msec\n \rGET: rps=17892.0 (overall: 39000.0) avg_msec=0.600 (overall: 0.600)\r \rGET: 40000.00 requests per second, p50=0.591 msec\n\n";
        assert_eq!(parse_redis_benchmark(out).unwrap(), (40000.0, 38461.54));
        // redis-benchmark 5: no percentiles.
        let old = "SET: 81566.07 requests per second\nGET: 84674.01 requests per second\n";
        assert_eq!(parse_redis_benchmark(old).unwrap(), (84674.01, 81566.07));
        assert!(parse_redis_benchmark("Could not connect to Redis at 127.0.0.1:6379").is_err());
    }
}
