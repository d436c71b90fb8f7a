//! Charts over time, written as plain SVG (no drawing library, no fonts needed): stacked panels of
//! lines. The load benchmark draws per request type its per-second p50 (solid) and p99 (dashed) on
//! a logarithmic milliseconds axis; the soak draws resources on linear axes, with its faults as
//! marked moments.

use std::fmt::Write as _;

/// One line of a panel.
pub struct Line {
    pub label: String,
    /// (seconds since the scenario started, milliseconds); seconds without data are left out.
    pub points: Vec<(f64, f64)>,
    pub dashed: bool,
    /// Lines of one request type share a colour.
    pub colour: usize,
}

/// The vertical axis of a panel.
#[derive(Clone, Debug, PartialEq)]
pub enum Axis {
    /// Milliseconds, logarithmic, whole decades around the data.
    LogMs,
    /// From zero up to a rounded maximum, labelled with `unit`.
    Linear { unit: String },
}

/// One panel: a scenario, or one resource over the run.
pub struct Panel {
    pub title: String,
    pub seconds: f64,
    pub lines: Vec<Line>,
    pub axis: Axis,
    /// Moments marked with a vertical line and a short label (seconds, label).
    pub markers: Vec<(f64, String)>,
}

const COLOURS: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];
const WIDTH: f64 = 960.0;
const PANEL_H: f64 = 300.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 260.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 40.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Renders the panels, stacked, as one SVG document.
pub fn render(title: &str, panels: &[Panel]) -> String {
    let height = TOP + panels.len().max(1) as f64 * (PANEL_H + BOTTOM) + 10.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        s,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{LEFT}" y="22" font-size="15" font-weight="bold">{}</text>"#,
        esc(title)
    );
    for (i, p) in panels.iter().enumerate() {
        panel(&mut s, p, TOP + i as f64 * (PANEL_H + BOTTOM));
    }
    s.push_str("</svg>\n");
    s
}

/// The smallest of 1, 2 and 5 times a power of ten that is at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let mag = 10f64.powf(raw.max(1e-9).log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}

/// Maps values to the height of a panel (0 at the bottom, 1 at the top).
enum Scale {
    /// Decades `lo..hi` (log10).
    Log { lo: f64, hi: f64 },
    /// `0..max`, `step` between ticks.
    Linear { max: f64, step: f64, unit: String },
}

impl Scale {
    fn new(axis: &Axis, values: &[f64]) -> Self {
        match axis {
            Axis::LogMs => {
                let (lo, hi) = values.iter().fold((f64::MAX, f64::MIN), |(lo, hi), v| {
                    (lo.min(v.max(0.001)), hi.max(v.max(0.001)))
                });
                let (lo, hi) = if lo > hi { (1.0, 10.0) } else { (lo, hi) };
                // Whole decades around the data.
                let d_lo = lo.log10().floor();
                Scale::Log {
                    lo: d_lo,
                    hi: hi.log10().ceil().max(d_lo + 1.0),
                }
            }
            Axis::Linear { unit } => {
                let top = values.iter().copied().fold(0.0_f64, f64::max).max(1.0);
                // A 1, 2 or 5 times a power of ten step giving at most 5 ticks above zero.
                let step = nice_step(top / 5.0);
                Scale::Linear {
                    max: (top / step).ceil() * step,
                    step,
                    unit: unit.clone(),
                }
            }
        }
    }

    fn fraction(&self, v: f64) -> f64 {
        match self {
            Scale::Log { lo, hi } => (v.max(0.001).log10() - lo) / (hi - lo),
            Scale::Linear { max, .. } => (v / max).clamp(0.0, 1.0),
        }
    }

    fn ticks(&self) -> Vec<(f64, String)> {
        let mut out = Vec::new();
        match self {
            Scale::Log { lo, hi } => {
                let mut d = *lo;
                while d <= hi + 1e-9 {
                    let v = 10f64.powf(d);
                    let label = if v >= 1.0 {
                        format!("{v:.0} ms")
                    } else {
                        format!("{v} ms")
                    };
                    out.push((v, label));
                    d += 1.0;
                }
            }
            Scale::Linear { max, step, unit } => {
                let mut v = 0.0;
                while v <= max + 1e-9 {
                    let label = if *step >= 1.0 {
                        format!("{v:.0} {unit}")
                    } else {
                        format!("{v:.2} {unit}")
                    };
                    out.push((v, label));
                    v += step;
                }
            }
        }
        out
    }
}

fn panel(s: &mut String, p: &Panel, y0: f64) {
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = PANEL_H - 30.0;
    let top = y0 + 25.0;
    let values: Vec<f64> = p
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|pt| pt.1))
        .collect();
    let secs = p.seconds.max(1.0);
    let x = |t: f64| LEFT + (t / secs).clamp(0.0, 1.0) * plot_w;
    let scale = Scale::new(&p.axis, &values);
    let y = |v: f64| top + plot_h - scale.fraction(v) * plot_h;
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="{}" font-size="13" font-weight="bold">{}</text>"#,
        y0 + 15.0,
        esc(&p.title)
    );
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>"##
    );
    for (v, label) in scale.ticks() {
        let yy = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + plot_w,
            LEFT - 5.0,
            yy + 4.0,
            esc(&label)
        );
    }
    for (i, (t, label)) in p.markers.iter().enumerate() {
        let xx = x(*t);
        // Labels alternate between two rows so that neighbours do not overwrite each other.
        let ly = top + 11.0 + (i % 2) as f64 * 11.0;
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" x2="{xx:.1}" y1="{top}" y2="{}" stroke="#c33" stroke-dasharray="2,3"/><text x="{:.1}" y="{ly:.1}" fill="#c33" font-size="9">{}</text>"##,
            top + plot_h,
            xx + 2.0,
            esc(label)
        );
    }
    // About ten labels, at 1, 2 or 5 times a power of ten seconds.
    let step = nice_step(secs / 10.0).max(1.0);
    let mut t = 0.0;
    while t <= secs + 1e-9 {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{t:.0}</text>"#,
            x(t),
            top + plot_h + 14.0
        );
        t += step;
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">seconds</text>"#,
        LEFT + plot_w / 2.0,
        top + plot_h + 28.0
    );
    for (i, l) in p.lines.iter().enumerate() {
        let colour = COLOURS[l.colour % COLOURS.len()];
        let dash = if l.dashed {
            r#" stroke-dasharray="5,3""#
        } else {
            ""
        };
        let pts: Vec<String> = l
            .points
            .iter()
            .map(|&(t, v)| format!("{:.1},{:.1}", x(t), y(v)))
            .collect();
        if pts.len() == 1 {
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{colour}"/>"#,
                x(l.points[0].0),
                y(l.points[0].1)
            );
        } else if !pts.is_empty() {
            let _ = writeln!(
                s,
                r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5"{dash} points="{}"><title>{}</title></polyline>"#,
                pts.join(" "),
                esc(&l.label)
            );
        }
        let ly = top + 10.0 + i as f64 * 14.0;
        let lx = LEFT + plot_w + 12.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" x2="{}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="2"{dash}/><text x="{}" y="{}">{}</text>"#,
            lx + 22.0,
            lx + 27.0,
            ly + 4.0,
            esc(&l.label)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_file_with_every_series() {
        let panels = vec![
            Panel {
                title: "browse".into(),
                seconds: 3.0,
                lines: vec![
                    Line {
                        label: "product page p50".into(),
                        points: vec![(0.5, 1.2), (1.5, 1.4), (2.5, 1.1)],
                        dashed: false,
                        colour: 0,
                    },
                    Line {
                        label: "product page p99".into(),
                        points: vec![(0.5, 9.0), (1.5, 12.0), (2.5, 8.0)],
                        dashed: true,
                        colour: 0,
                    },
                ],
                axis: Axis::LogMs,
                markers: Vec::new(),
            },
            Panel {
                title: "checkout <to paid>".into(),
                seconds: 2.0,
                lines: vec![Line {
                    label: "time to paid p50".into(),
                    points: vec![(0.5, 350.0)],
                    dashed: false,
                    colour: 1,
                }],
                axis: Axis::LogMs,
                markers: Vec::new(),
            },
        ];
        let dir = std::env::temp_dir().join(format!("sf-bench-svg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("latency.svg");
        std::fs::write(&path, render("load", &panels)).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();

        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(
            svg.matches("stroke-dasharray").count(),
            2,
            "p99 line and its legend"
        );
        for label in ["product page p50", "product page p99", "time to paid p50"] {
            assert!(svg.contains(label), "{label} missing");
        }
        // Titles are escaped; a single point is drawn as a dot.
        assert!(svg.contains("checkout &lt;to paid&gt;"));
        assert!(svg.contains("<circle"));
        // The log axis spans the data: 1 ms to 100 ms decades in the first panel.
        assert!(svg.contains(">1 ms<") && svg.contains(">100 ms<"));
        // Three points of the p50 line: x from the seconds, y inside the plot.
        let p50 = svg
            .lines()
            .find(|l| l.contains("<polyline") && !l.contains("dasharray"))
            .unwrap();
        let pts = p50
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(pts.split(' ').count(), 3);
    }

    #[test]
    fn a_linear_panel_starts_at_zero_and_marks_moments() {
        let panel = Panel {
            title: "RSS".into(),
            seconds: 100.0,
            lines: vec![Line {
                label: "all processes".into(),
                points: vec![(0.0, 120.0), (50.0, 430.0), (100.0, 130.0)],
                dashed: false,
                colour: 0,
            }],
            axis: Axis::Linear { unit: "MiB".into() },
            markers: vec![(30.0, "kill cart".into()), (60.0, "burst <500>".into())],
        };
        let svg = render("soak", &[panel]);
        // 430 MiB at most: ticks of 100 MiB from 0 to 500.
        for t in [">0 MiB<", ">100 MiB<", ">500 MiB<"] {
            assert!(svg.contains(t), "{t} missing");
        }
        assert!(!svg.contains(">600 MiB<"));
        assert!(svg.contains(">kill cart<") && svg.contains("burst &lt;500&gt;"));
        // The top value is drawn at the top of the plot, zero at the bottom.
        let top = TOP + 25.0;
        let bottom = top + PANEL_H - 30.0;
        let s = Scale::new(&Axis::Linear { unit: "MiB".into() }, &[430.0]);
        assert!((s.fraction(500.0) - 1.0).abs() < 1e-9 && s.fraction(0.0) == 0.0);
        assert!(
            svg.contains(&format!("y2=\"{bottom}\"")),
            "marker spans the plot"
        );
    }
}
