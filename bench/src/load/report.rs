//! The report of a load run: the table on stdout, the JSON document and the chart's panels, with
//! each scenario's ratio to the reference limit it is compared with.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::record::{Kind, Measured, Summary};
use super::reference::{PgBench, RedisBench};
use super::scenarios::names;
use super::svg::{Axis, Line, Panel};

/// One measured goose attack.
pub struct ScenarioRun {
    pub name: String,
    pub users: usize,
    /// Users per goose scenario (the mix assigns users by weight).
    pub allocation: Vec<(String, usize)>,
    pub measured: Measured,
    /// Goose's own count of successful and failed HTTP requests, as a cross-check.
    pub goose_ok: usize,
    pub goose_failed: usize,
}

impl ScenarioRun {
    /// Completed purchases per second (checkout journeys that reached `paid`).
    pub fn paid_per_sec(&self) -> Option<f64> {
        self.measured
            .types
            .iter()
            .find(|t| t.name == names::TIME_TO_PAID)
            .map(|t| t.summary.rps)
    }

    fn type_rps(&self, name: &str) -> Option<f64> {
        self.measured
            .types
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.summary.rps)
    }
}

/// The reference limits measured in the same run.
pub struct References {
    pub gateway: Result<ScenarioRun, String>,
    pub pgbench: Result<PgBench, String>,
    pub redis: Result<RedisBench, String>,
}

/// A scenario's figure divided by the limit it is compared with.
#[derive(Clone, Debug, PartialEq)]
pub struct Ratio {
    pub what: String,
    pub value: f64,
    pub limit: f64,
    pub limit_name: String,
    pub note: &'static str,
}

impl Ratio {
    pub fn ratio(&self) -> f64 {
        if self.limit > 0.0 {
            self.value / self.limit
        } else {
            0.0
        }
    }
}

/// The ratios of one scenario: browse, search, cart and mix (all requests per second) to the
/// gateway's static route; checkout (purchases to `paid` per second) to pgbench's simple-update
/// transactions per second; the product page (a Redis cache hit) to Redis GETs per second.
pub fn ratios(s: &ScenarioRun, r: &References) -> Vec<Ratio> {
    let mut out = Vec::new();
    if s.name == "checkout" {
        if let (Some(paid), Ok(pg)) = (s.paid_per_sec(), &r.pgbench) {
            out.push(Ratio {
                what: "purchases to paid/s".into(),
                value: paid,
                limit: pg.tps,
                limit_name: "pgbench simple-update tps".into(),
                note: "one checkout is several database transactions in several services",
            });
        }
    } else if let Ok(g) = &r.gateway {
        out.push(Ratio {
            what: "all requests req/s".into(),
            value: s.measured.total.rps,
            limit: g.measured.total.rps,
            limit_name: "static route req/s".into(),
            note: "",
        });
    }
    if let (Some(page), Ok(redis)) = (s.type_rps(names::PRODUCT), &r.redis) {
        out.push(Ratio {
            what: "product page req/s".into(),
            value: page,
            limit: redis.get_rps,
            limit_name: "redis-benchmark GET/s".into(),
            note: "a product page is a Redis cache hit behind the gateway and the product service",
        });
    }
    out
}

/// `x` with three significant digits (at least one decimal), so small ratios stay readable.
pub fn sig(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x:.1}");
    }
    let decimals = (2 - x.abs().log10().floor() as i32).clamp(1, 12) as usize;
    format!("{x:.decimals$}")
}

const HEADER: &str =
    "request type                     ok    err      req/s   p50 ms   p95 ms   p99 ms   max ms";

fn row(out: &mut String, name: &str, s: &Summary) {
    let _ = writeln!(
        out,
        "  {:<26} {:>8} {:>6} {:>10.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
        name, s.ok, s.errors, s.rps, s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms
    );
}

/// The table of one scenario run.
pub fn table(s: &ScenarioRun) -> String {
    let mut out = String::new();
    let alloc = s
        .allocation
        .iter()
        .map(|(n, u)| format!("{n} {u}"))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        out,
        "{}: {} users ({alloc}), {:.1} s measured{}",
        s.name,
        s.users,
        s.measured.elapsed.as_secs_f64(),
        if s.measured.late > 0 {
            format!(
                ", {} completions after the window (run time or --max-requests) left out",
                s.measured.late
            )
        } else {
            String::new()
        }
    );
    let _ = writeln!(out, "  {HEADER}");
    for t in &s.measured.types {
        let name = match t.kind {
            Kind::Request => t.name.clone(),
            Kind::Journey => format!("{} (journey)", t.name),
        };
        row(&mut out, &name, &t.summary);
    }
    row(&mut out, "= all requests", &s.measured.total);
    for t in &s.measured.types {
        if let Some(e) = &t.first_error {
            let _ = writeln!(out, "  first error of {}: {e}", t.name);
        }
    }
    out
}

/// The reference limits and every scenario's ratios, as printed after the tables.
pub fn summary(runs: &[ScenarioRun], r: &References) -> String {
    let mut out = String::from("reference limits (same machine, same run):\n");
    match &r.gateway {
        Ok(g) => {
            let t = &g.measured.total;
            let _ = writeln!(
                out,
                "  static route {} (goose, {} users): {:.1} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
                names::STATIC,
                g.users,
                t.rps,
                t.p50_ms,
                t.p99_ms,
                t.errors
            );
        }
        Err(e) => {
            let _ = writeln!(out, "  static route {}: not measured ({e})", names::STATIC);
        }
    }
    match &r.pgbench {
        Ok(p) => {
            let _ = writeln!(
                out,
                "  pgbench simple-update (-N, {} clients, {} s): {:.1} tps, latency average {:.3} ms",
                p.clients, p.seconds, p.tps, p.latency_avg_ms
            );
        }
        Err(e) => {
            let _ = writeln!(out, "  pgbench: not measured ({e})");
        }
    }
    match &r.redis {
        Ok(x) => {
            let _ = writeln!(
                out,
                "  redis-benchmark ({} clients, {} requests, db 15): GET {:.0}/s, SET {:.0}/s",
                x.clients, x.requests, x.get_rps, x.set_rps
            );
        }
        Err(e) => {
            let _ = writeln!(out, "  redis-benchmark: not measured ({e})");
        }
    }
    out.push_str("ratios to the limits:\n");
    for s in runs {
        for q in ratios(s, r) {
            let _ = write!(
                out,
                "  {:<9} {} {} / {} {} = {}",
                s.name,
                q.what,
                sig(q.value),
                q.limit_name,
                sig(q.limit),
                sig(q.ratio())
            );
            if !q.note.is_empty() {
                let _ = write!(out, " ({})", q.note);
            }
            out.push('\n');
        }
    }
    out
}

fn summary_json(s: &Summary) -> Value {
    json!({"ok": s.ok, "errors": s.errors, "rps": s.rps, "p50_ms": s.p50_ms, "p95_ms": s.p95_ms,
           "p99_ms": s.p99_ms, "max_ms": s.max_ms})
}

/// One scenario run as JSON: totals, per request type summary and per-second timeline.
pub fn run_json(s: &ScenarioRun, r: Option<&References>) -> Value {
    let types: Vec<Value> = s
        .measured
        .types
        .iter()
        .map(|t| {
            let mut v = summary_json(&t.summary);
            v["name"] = json!(t.name);
            v["kind"] = json!(match t.kind {
                Kind::Request => "request",
                Kind::Journey => "journey",
            });
            v["first_error"] = json!(t.first_error);
            v["timeline"] = t
                .timeline
                .iter()
                .map(|p| {
                    json!({"second": p.second, "ok": p.ok, "errors": p.errors,
                           "p50_ms": p.p50_ms, "p99_ms": p.p99_ms})
                })
                .collect();
            v
        })
        .collect();
    let mut v = json!({
        "name": s.name,
        "users": s.users,
        "allocation": s.allocation.iter().map(|(n, u)| json!({"scenario": n, "users": u})).collect::<Vec<_>>(),
        "elapsed_s": s.measured.elapsed.as_secs_f64(),
        "late_completions_left_out": s.measured.late,
        "total": summary_json(&s.measured.total),
        "request_types": types,
        "goose": {"requests_ok": s.goose_ok, "requests_failed": s.goose_failed},
    });
    if let Some(r) = r {
        v["ratios"] = ratios(s, r)
            .iter()
            .map(|q| {
                json!({"what": q.what, "value": q.value, "limit_name": q.limit_name,
                       "limit": q.limit, "ratio": q.ratio(), "note": q.note})
            })
            .collect();
    }
    v
}

/// The reference limits as JSON.
pub fn references_json(r: &References) -> Value {
    json!({
        "gateway_static_route": match &r.gateway {
            Ok(g) => run_json(g, None),
            Err(e) => json!({"error": e}),
        },
        "pgbench_simple_update": match &r.pgbench {
            Ok(p) => json!({"tps": p.tps, "latency_avg_ms": p.latency_avg_ms, "clients": p.clients, "seconds": p.seconds}),
            Err(e) => json!({"error": e}),
        },
        "redis_benchmark": match &r.redis {
            Ok(x) => json!({"get_rps": x.get_rps, "set_rps": x.set_rps, "clients": x.clients, "requests": x.requests, "db": 15}),
            Err(e) => json!({"error": e}),
        },
    })
}

/// The chart panel of one run: per request type p50 (solid) and p99 (dashed) by second, plotted
/// at the middle of each second.
pub fn panel(s: &ScenarioRun) -> Panel {
    let mut lines = Vec::new();
    for (i, t) in s.measured.types.iter().enumerate() {
        for (q, dashed) in [("p50", false), ("p99", true)] {
            lines.push(Line {
                label: format!("{} {q}", t.name),
                points: t
                    .timeline
                    .iter()
                    .filter_map(|p| {
                        let v = if dashed { p.p99_ms } else { p.p50_ms };
                        v.map(|v| (p.second as f64 + 0.5, v))
                    })
                    .collect(),
                dashed,
                colour: i,
            });
        }
    }
    Panel {
        title: format!("{} ({} users)", s.name, s.users),
        seconds: s.measured.elapsed.as_secs_f64().ceil(),
        lines,
        axis: Axis::LogMs,
        markers: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::load::record::{Recorder, TypeStats};

    fn run(name: &str, types: Vec<(&str, Kind, u64)>, secs: u64) -> ScenarioRun {
        let rec = Recorder::new(u64::MAX, Duration::from_secs(60));
        for (n, kind, count) in &types {
            for _ in 0..*count {
                rec.record(n, *kind, Duration::from_millis(2), Ok(()));
            }
        }
        let mut m = rec.finish();
        // Pretend the run took `secs`.
        m.elapsed = Duration::from_secs(secs);
        let retime = |t: &mut TypeStats| {
            t.summary.rps = t.summary.ok as f64 / secs as f64;
        };
        m.types.iter_mut().for_each(retime);
        m.total.rps = m.total.ok as f64 / secs as f64;
        ScenarioRun {
            name: name.into(),
            users: 4,
            allocation: vec![(name.into(), 4)],
            measured: m,
            goose_ok: 0,
            goose_failed: 0,
        }
    }

    #[test]
    fn ratios_compare_each_scenario_with_its_limit() {
        let refs = References {
            gateway: Ok(run(
                "static",
                vec![(names::STATIC, Kind::Request, 10_000)],
                1,
            )),
            pgbench: Ok(PgBench {
                tps: 500.0,
                latency_avg_ms: 2.0,
                clients: 4,
                seconds: 10,
            }),
            redis: Ok(RedisBench {
                get_rps: 40_000.0,
                set_rps: 38_000.0,
                clients: 4,
                requests: 100_000,
            }),
        };
        let browse = run(
            "browse",
            vec![
                (names::CATEGORY, Kind::Request, 1000),
                (names::PRODUCT, Kind::Request, 1000),
            ],
            1,
        );
        let r = ratios(&browse, &refs);
        assert_eq!(r.len(), 2);
        assert!((r[0].ratio() - 0.2).abs() < 1e-9, "2000 of 10000 req/s");
        assert!((r[1].ratio() - 0.025).abs() < 1e-9, "1000 of 40000 GET/s");

        let checkout = run(
            "checkout",
            vec![
                (names::CHECKOUT_POST, Kind::Request, 50),
                (names::TIME_TO_PAID, Kind::Journey, 50),
            ],
            1,
        );
        let r = ratios(&checkout, &refs);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].limit_name, "pgbench simple-update tps");
        assert!((r[0].ratio() - 0.1).abs() < 1e-9);

        // A missing tool leaves its ratio out rather than failing.
        let refs = References {
            pgbench: Err("pgbench: not found".into()),
            ..refs
        };
        assert!(ratios(&checkout, &refs).is_empty());
        let text = summary(&[browse, checkout], &refs);
        assert!(text.contains("pgbench: not measured (pgbench: not found)"));
        assert!(
            text.contains(
                "browse    all requests req/s 2000.0 / static route req/s 10000.0 = 0.200"
            )
        );
    }

    #[test]
    fn ratios_keep_three_significant_digits() {
        assert_eq!(sig(0.0920576), "0.0921");
        assert_eq!(sig(0.00076193), "0.000762");
        assert_eq!(sig(1.2712), "1.27");
        assert_eq!(sig(1104.29), "1104.3");
        assert_eq!(sig(0.0), "0.0");
    }

    #[test]
    fn json_and_table_carry_every_request_type() {
        let s = run(
            "search",
            vec![
                (names::SEARCH, Kind::Request, 30),
                (names::PRODUCT, Kind::Request, 10),
            ],
            2,
        );
        let v = run_json(&s, None);
        assert_eq!(v["request_types"].as_array().unwrap().len(), 2);
        assert_eq!(v["request_types"][0]["name"], names::SEARCH);
        assert_eq!(v["request_types"][0]["rps"], 15.0);
        assert_eq!(v["request_types"][0]["timeline"][0]["ok"], 30);
        assert_eq!(v["total"]["ok"], 40);
        let t = table(&s);
        assert!(t.contains(names::SEARCH) && t.contains("= all requests"));
        let p = panel(&s);
        assert_eq!(p.lines.len(), 4, "p50 and p99 per request type");
    }
}
