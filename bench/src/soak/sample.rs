//! What the soak samples every second: resident memory and open file descriptors of every process
//! of the platform (from `/proc`), the platform's connections to PostgreSQL (`pg_stat_activity`)
//! and its consumer groups' lag (high watermark minus committed offset, summed over partitions).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::{Value, json};

/// The platform's consumer groups (each role's `consumer_group` setting, default values), without
/// the topic prefix the platform puts in front.
pub const GROUPS: [&str; 11] = [
    "cart",
    "event",
    "inventory",
    "notification",
    "notification.recipients",
    "order",
    "order.expiry",
    "payment",
    "product",
    "recommender",
    "user",
];

/// One second of the run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    /// Seconds since the measured run started (negative during the warm-up).
    pub t: f64,
    /// KiB resident per process group (role); a process being restarted is missing.
    pub rss_kib: BTreeMap<String, u64>,
    pub fds: BTreeMap<String, u64>,
    /// Connections of the platform's databases; `None` when the query failed.
    pub db_connections: Option<i64>,
    /// Summed lag of every consumer group; `None` while the broker does not answer.
    pub consumer_lag: Option<i64>,
}

impl Sample {
    pub fn rss_mib(&self) -> f64 {
        self.rss_kib.values().sum::<u64>() as f64 / 1024.0
    }

    pub fn fd_total(&self) -> u64 {
        self.fds.values().sum()
    }

    pub fn json(&self) -> Value {
        json!({
            "t": (self.t * 10.0).round() / 10.0,
            "rss_kib": self.rss_kib,
            "fds": self.fds,
            "db_connections": self.db_connections,
            "consumer_lag": self.consumer_lag,
        })
    }
}

/// Resident KiB and open descriptors of `pid`, from `/proc`.
pub fn process(pid: u32) -> Option<(u64, u64)> {
    let rss = crate::burst::rss_kib(pid).ok()?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some((rss, fds))
}

/// Connections to the databases of the platform with data prefix `prefix` (its own sessions,
/// not the soak's, which name themselves `storefront-soak`).
pub async fn db_connections(pool: &sqlx::PgPool, prefix: &str) -> Option<i64> {
    sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM pg_stat_activity
          WHERE datname LIKE $1 AND application_name <> 'storefront-soak'",
    )
    .bind(format!("{}\\_%", prefix.replace('_', "\\_")))
    .fetch_one(pool)
    .await
    .ok()
}

/// Reads the consumer lag of the platform's groups every second, keeping the latest answer
/// (`None` while the broker does not answer). The broker client runs in a helper process
/// (`storefront-bench lag-probe`): librdkafka opens its wake-up pipes without close-on-exec, and
/// every role the soak restarts would inherit them (seen: 61 pipes in each restarted process).
pub struct LagProbe {
    latest: Arc<Mutex<Option<i64>>>,
    child: std::process::Child,
}

impl LagProbe {
    pub fn start(brokers: &str, topic_prefix: &str) -> anyhow::Result<Self> {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new(std::env::current_exe()?)
            .args([
                "lag-probe",
                "--brokers",
                brokers,
                "--topic-prefix",
                topic_prefix,
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let latest = Arc::new(Mutex::new(None));
        let sink = latest.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                *sink.lock().expect("lag") = line.trim().parse().ok();
            }
            // The probe is gone: its last answer must not pass for the current lag.
            *sink.lock().expect("lag") = None;
        });
        Ok(Self { latest, child })
    }

    pub fn latest(&self) -> Option<i64> {
        *self.latest.lock().expect("lag")
    }
}

impl Drop for LagProbe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `storefront-bench lag-probe`: prints the summed lag of the platform's groups (or `-` while
/// the broker does not answer) once a second until its standard input closes.
pub fn probe_main(brokers: &str, topic_prefix: &str) -> anyhow::Result<()> {
    let consumers: Vec<BaseConsumer> = GROUPS
        .iter()
        .map(|g| {
            // Never subscribes: it only asks the coordinator for the group's offsets, so it
            // never joins the group or commits anything.
            rdkafka::ClientConfig::new()
                .set("bootstrap.servers", brokers)
                .set("group.id", format!("{topic_prefix}{g}"))
                .set("enable.auto.commit", "false")
                .create()
        })
        .collect::<Result<_, _>>()?;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let done = done.clone();
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            done.store(true, std::sync::atomic::Ordering::Relaxed);
        });
    }
    while !done.load(std::sync::atomic::Ordering::Relaxed) {
        let began = Instant::now();
        match total_lag(&consumers, topic_prefix) {
            Some(lag) => println!("{lag}"),
            None => println!("-"),
        }
        std::thread::sleep(Duration::from_secs(1).saturating_sub(began.elapsed()));
    }
    Ok(())
}

/// Σ over groups and the partitions each group has committed on of (high watermark − committed).
/// A partition a group never committed on is not counted (it has nothing to be behind on yet, or
/// its first events are still being read; the settle check waits for the orders themselves).
fn total_lag(consumers: &[BaseConsumer], topic_prefix: &str) -> Option<i64> {
    let timeout = Duration::from_millis(1500);
    let first = consumers.first()?;
    let md = first.fetch_metadata(None, timeout).ok()?;
    let mut tpl = rdkafka::TopicPartitionList::new();
    let mut high = BTreeMap::new();
    for t in md
        .topics()
        .iter()
        .filter(|t| t.name().starts_with(topic_prefix))
    {
        for p in t.partitions() {
            tpl.add_partition(t.name(), p.id());
            let (_, h) = first.fetch_watermarks(t.name(), p.id(), timeout).ok()?;
            high.insert((t.name().to_owned(), p.id()), h);
        }
    }
    let mut lag = 0;
    for c in consumers {
        let committed = c.committed_offsets(tpl.clone(), timeout).ok()?;
        for e in committed.elements() {
            if let rdkafka::Offset::Offset(o) = e.offset()
                && let Some(h) = high.get(&(e.topic().to_owned(), e.partition()))
            {
                lag += (h - o).max(0);
            }
        }
    }
    Some(lag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_up_over_processes() {
        let s = Sample {
            t: 1.0,
            rss_kib: [("auth".to_owned(), 2048), ("cart".to_owned(), 1024)].into(),
            fds: [("auth".to_owned(), 30), ("cart".to_owned(), 12)].into(),
            db_connections: Some(7),
            consumer_lag: None,
        };
        assert_eq!(s.rss_mib(), 3.0);
        assert_eq!(s.fd_total(), 42);
        assert_eq!(s.json()["consumer_lag"], Value::Null);
        assert_eq!(s.json()["rss_kib"]["auth"], 2048);
    }

    #[test]
    fn this_process_has_memory_and_descriptors() {
        let (rss, fds) = process(std::process::id()).expect("/proc of this process");
        assert!(rss > 0 && fds >= 3, "rss {rss} KiB, {fds} fds");
        assert_eq!(process(u32::MAX), None);
    }
}
