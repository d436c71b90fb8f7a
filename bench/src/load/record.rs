//! What the goose users measured, aggregated by us: every request's latency by request type and
//! by second of the run, so the report has exact percentiles and a per-second timeline.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What a recorded latency is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One HTTP request through the gateway.
    Request,
    /// A user-visible span over several requests (checkout POST until the order reads `paid`).
    Journey,
}

/// Latency summary of one request type (or of a whole scenario).
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub ok: u64,
    pub errors: u64,
    /// Successful requests per second of the measured window.
    pub rps: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// One second of the timeline of a request type (latency of successful requests only).
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Seconds since the scenario started (the second the requests completed in).
    pub second: u64,
    pub ok: u64,
    pub errors: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// Everything about one request type.
#[derive(Clone, Debug)]
pub struct TypeStats {
    pub name: String,
    pub kind: Kind,
    pub summary: Summary,
    pub timeline: Vec<Point>,
    pub first_error: Option<String>,
}

/// The outcome of one scenario run.
#[derive(Clone, Debug)]
pub struct Measured {
    pub elapsed: Duration,
    /// Completions after the window, left out.
    pub late: u64,
    /// Request types in the order they were first seen.
    pub types: Vec<TypeStats>,
    /// All HTTP request types together.
    pub total: Summary,
}

#[derive(Default)]
struct Second {
    ok_us: Vec<u32>,
    errors: u64,
}

struct Series {
    kind: Kind,
    order: usize,
    seconds: Vec<Second>,
    first_error: Option<String>,
}

/// Shared by every goose user of one scenario run.
pub struct Recorder {
    start: Instant,
    /// Nanoseconds since `start` after which completions are left out: the window, or the moment
    /// the request limit was reached.
    cut_ns: AtomicU64,
    late: AtomicU64,
    limit: u64,
    requests: AtomicU64,
    series: Mutex<BTreeMap<String, Series>>,
}

impl Recorder {
    /// `limit` bounds the HTTP requests of the run: reaching it stops the goose attack.
    /// Completions after `window` (users finishing their last journey after the run time) or
    /// after the limit are counted as late and left out of the figures.
    pub fn new(limit: u64, window: Duration) -> Self {
        Self {
            start: Instant::now(),
            cut_ns: AtomicU64::new(u64::try_from(window.as_nanos()).unwrap_or(u64::MAX)),
            late: AtomicU64::new(0),
            limit: limit.max(1),
            requests: AtomicU64::new(0),
            series: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records one completed request (or journey). `Err` carries why it failed.
    pub fn record(&self, name: &str, kind: Kind, latency: Duration, outcome: Result<(), String>) {
        let at = self.start.elapsed();
        let at_ns = u64::try_from(at.as_nanos()).unwrap_or(u64::MAX);
        if at_ns > self.cut_ns.load(Ordering::Relaxed) {
            self.late.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if kind == Kind::Request {
            let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
            if n > self.limit {
                self.late.fetch_add(1, Ordering::Relaxed);
                return;
            }
            if n == self.limit {
                self.cut_ns.fetch_min(at_ns, Ordering::Relaxed);
                goose::trigger_killswitch("--max-requests reached");
            }
        }
        let second = at.as_secs() as usize;
        {
            let mut all = self.series.lock().expect("recorder lock");
            let order = all.len();
            let s = all.entry(name.to_owned()).or_insert_with(|| Series {
                kind,
                order,
                seconds: Vec::new(),
                first_error: None,
            });
            if s.seconds.len() <= second {
                s.seconds.resize_with(second + 1, Second::default);
            }
            match outcome {
                Ok(()) => s.seconds[second]
                    .ok_us
                    .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX)),
                Err(e) => {
                    s.seconds[second].errors += 1;
                    s.first_error.get_or_insert(e);
                }
            }
        }
    }

    /// Summaries and timelines of everything recorded so far, over the time since [`Recorder::new`].
    pub fn finish(&self) -> Measured {
        let elapsed = self
            .start
            .elapsed()
            .min(Duration::from_nanos(self.cut_ns.load(Ordering::Relaxed)));
        let all = self.series.lock().expect("recorder lock");
        let mut named: Vec<(&String, &Series)> = all.iter().collect();
        named.sort_by_key(|(_, s)| s.order);
        let mut total_us = Vec::new();
        let mut total_errors = 0;
        let mut types = Vec::new();
        for (name, s) in named {
            let mut us: Vec<u32> = s.seconds.iter().flat_map(|x| x.ok_us.clone()).collect();
            let errors = s.seconds.iter().map(|x| x.errors).sum();
            if s.kind == Kind::Request {
                total_us.extend_from_slice(&us);
                total_errors += errors;
            }
            let timeline = s
                .seconds
                .iter()
                .enumerate()
                .map(|(i, x)| {
                    let mut v = x.ok_us.clone();
                    v.sort_unstable();
                    Point {
                        second: i as u64,
                        ok: v.len() as u64,
                        errors: x.errors,
                        p50_ms: (!v.is_empty()).then(|| ms(percentile(&v, 0.50))),
                        p99_ms: (!v.is_empty()).then(|| ms(percentile(&v, 0.99))),
                    }
                })
                .collect();
            types.push(TypeStats {
                name: name.clone(),
                kind: s.kind,
                summary: summarize(&mut us, errors, elapsed),
                timeline,
                first_error: s.first_error.clone(),
            });
        }
        Measured {
            elapsed,
            late: self.late.load(Ordering::Relaxed),
            total: summarize(&mut total_us, total_errors, elapsed),
            types,
        }
    }
}

fn ms(us: u32) -> f64 {
    f64::from(us) / 1000.0
}

/// Nearest-rank percentile of `sorted` (ascending), `q` in 0..=1; 0 when empty.
pub fn percentile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Summary of successful latencies `us` (microseconds; sorted in place) and an error count, over
/// a window of `elapsed`.
pub fn summarize(us: &mut [u32], errors: u64, elapsed: Duration) -> Summary {
    us.sort_unstable();
    let secs = elapsed.as_secs_f64();
    Summary {
        ok: us.len() as u64,
        errors,
        rps: if secs > 0.0 {
            us.len() as f64 / secs
        } else {
            0.0
        },
        p50_ms: ms(percentile(us, 0.50)),
        p95_ms: ms(percentile(us, 0.95)),
        p99_ms: ms(percentile(us, 0.99)),
        max_ms: ms(us.last().copied().unwrap_or(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.50), 50);
        assert_eq!(percentile(&v, 0.95), 95);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&v, 1.0), 100);
        assert_eq!(percentile(&v, 0.0), 1);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }

    #[test]
    fn summary_of_unsorted_latencies() {
        // 1000 requests: 990 at 2 ms, 10 slow ones at 100..=109 ms, in shuffled order.
        let mut us: Vec<u32> = (0..990).map(|_| 2_000).collect();
        us.extend((100..110).map(|x| x * 1000));
        us.reverse();
        let s = summarize(&mut us, 3, Duration::from_secs(4));
        assert_eq!(s.ok, 1000);
        assert_eq!(s.errors, 3);
        assert!((s.rps - 250.0).abs() < 1e-9);
        assert_eq!(s.p50_ms, 2.0);
        assert_eq!(s.p95_ms, 2.0);
        assert_eq!(s.p99_ms, 2.0);
        assert_eq!(s.max_ms, 109.0);
        // 11 slow ones push p99 over the edge.
        us.push(200_000);
        let s = summarize(&mut us, 0, Duration::from_secs(1));
        assert_eq!(s.p99_ms, 100.0);
    }

    #[test]
    fn recorder_splits_types_and_counts_only_requests_in_the_total() {
        let r = Recorder::new(1_000_000, Duration::from_secs(60));
        for i in 1..=10u64 {
            r.record(
                "product page",
                Kind::Request,
                Duration::from_millis(i),
                Ok(()),
            );
        }
        r.record(
            "product page",
            Kind::Request,
            Duration::from_millis(1),
            Err("503 Service Unavailable".into()),
        );
        r.record("search", Kind::Request, Duration::from_millis(50), Ok(()));
        r.record(
            "time to paid",
            Kind::Journey,
            Duration::from_secs(2),
            Ok(()),
        );
        let m = r.finish();
        let names: Vec<&str> = m.types.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["product page", "search", "time to paid"]);
        let page = &m.types[0];
        assert_eq!((page.summary.ok, page.summary.errors), (10, 1));
        assert_eq!(page.summary.p50_ms, 5.0);
        assert_eq!(page.summary.max_ms, 10.0);
        assert_eq!(page.first_error.as_deref(), Some("503 Service Unavailable"));
        // All recorded within the first second.
        assert_eq!(page.timeline.len(), 1);
        assert_eq!(page.timeline[0].ok, 10);
        assert_eq!(page.timeline[0].errors, 1);
        assert_eq!(page.timeline[0].p99_ms, Some(10.0));
        // The journey is not an HTTP request.
        assert_eq!((m.total.ok, m.total.errors), (11, 1));
        assert_eq!(m.total.max_ms, 50.0);
    }

    #[test]
    fn completions_after_the_window_are_left_out() {
        // Any completion is after a zero window.
        let r = Recorder::new(1_000_000, Duration::ZERO);
        r.record("search", Kind::Request, Duration::from_millis(1), Ok(()));
        let m = r.finish();
        assert_eq!(m.late, 1);
        assert!(m.types.is_empty());
        assert_eq!(m.elapsed, Duration::ZERO);
        assert_eq!(m.total.rps, 0.0);
    }

    #[test]
    fn the_request_limit_ends_the_window() {
        let r = Recorder::new(3, Duration::from_secs(60));
        for _ in 0..5 {
            r.record(
                "product page",
                Kind::Request,
                Duration::from_millis(1),
                Ok(()),
            );
        }
        // A journey ending after the limit is left out as well.
        r.record(
            "time to paid",
            Kind::Journey,
            Duration::from_millis(9),
            Ok(()),
        );
        let m = r.finish();
        assert_eq!(m.total.ok, 3);
        assert_eq!(m.late, 3);
        assert_eq!(m.types.len(), 1);
        assert!(m.elapsed < Duration::from_secs(60));
        goose::reset_killswitch();
    }
}
