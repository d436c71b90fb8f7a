//! The latency-over-time chart, written as plain SVG (no drawing library, no fonts needed):
//! one panel per scenario, per request type its per-second p50 (solid) and p99 (dashed) on a
//! logarithmic milliseconds axis.

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

/// One scenario.
pub struct Panel {
    pub title: String,
    pub seconds: f64,
    pub lines: Vec<Line>,
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

fn panel(s: &mut String, p: &Panel, y0: f64) {
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = PANEL_H - 30.0;
    let top = y0 + 25.0;
    let values = p.lines.iter().flat_map(|l| l.points.iter().map(|pt| pt.1));
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| {
        (lo.min(v.max(0.001)), hi.max(v.max(0.001)))
    });
    let (lo, hi) = if lo > hi { (1.0, 10.0) } else { (lo, hi) };
    // Whole decades around the data.
    let (d_lo, d_hi) = (
        lo.log10().floor(),
        hi.log10().ceil().max(lo.log10().floor() + 1.0),
    );
    let secs = p.seconds.max(1.0);
    let x = |t: f64| LEFT + (t / secs).clamp(0.0, 1.0) * plot_w;
    let y = |v: f64| top + plot_h - (v.max(0.001).log10() - d_lo) / (d_hi - d_lo) * plot_h;
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
    let mut d = d_lo;
    while d <= d_hi + 1e-9 {
        let v = 10f64.powf(d);
        let yy = y(v);
        let label = if v >= 1.0 {
            format!("{v:.0} ms")
        } else {
            format!("{v} ms")
        };
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{label}</text>"##,
            LEFT + plot_w,
            LEFT - 5.0,
            yy + 4.0
        );
        d += 1.0;
    }
    let step = ((secs / 10.0).ceil()).max(1.0);
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
}
