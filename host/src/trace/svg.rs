//! A self-contained SVG timeline: a lane per stream (grouped by device), a bar per operation
//! coloured by kind with its details in a hover title, a time axis and a legend. Opens in
//! any browser; no scripts, fonts or external files.

use std::fmt::Write;

use crate::trace::{OpKind, Trace, TraceClock};

const WIDTH: f64 = 1200.0;
const LABEL_W: f64 = 190.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 48.0;
const LANE_H: f64 = 22.0;
const BAR_H: f64 = 16.0;

/// The colour of a kind of operation, and the legend's order.
const LEGEND: [(&str, &str); 6] = [
    ("H2D copy", "#1f77b4"),
    ("D2H copy", "#ff7f0e"),
    ("D2D copy", "#9467bd"),
    ("kernel", "#2ca02c"),
    ("memset", "#7f7f7f"),
    ("host fn", "#bcbd22"),
];

fn colour(kind: &OpKind) -> &'static str {
    let i = match kind {
        OpKind::H2d => 0,
        OpKind::D2h => 1,
        OpKind::D2d => 2,
        OpKind::Kernel(_) => 3,
        OpKind::Memset => 4,
        OpKind::HostFn => 5,
    };
    LEGEND[i].1
}

/// Escapes text for XML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A round axis step (1, 2 or 5 × 10ⁿ) giving about `target` ticks over `span`.
pub fn tick_step(span: f64, target: f64) -> f64 {
    if span <= 0.0 || !span.is_finite() {
        return 1.0;
    }
    let raw = span / target;
    let magnitude = 10f64.powf(raw.log10().floor());
    let m = raw / magnitude;
    let nice = if m < 1.5 {
        1.0
    } else if m < 3.5 {
        2.0
    } else if m < 7.5 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// Renders `trace` as an SVG document titled `title`.
pub fn render(trace: &Trace, title: &str) -> String {
    let lanes = trace.lanes();
    let (t0, t1) = trace.span_us();
    let span = (t1 - t0).max(1e-3);
    let plot_w = WIDTH - LABEL_W - RIGHT;
    let x = |t: f64| LABEL_W + (t - t0) / span * plot_w;
    let lanes_h = lanes.len().max(1) as f64 * LANE_H;
    let axis_y = TOP + lanes_h + 6.0;
    let legend_y = axis_y + 34.0;
    let height = legend_y + 24.0;
    let clock = match trace.clock {
        TraceClock::CudaEvents => "CUDA events",
        TraceClock::Simulated => "simulated time (cpu backend)",
        TraceClock::Wall => "wall time (cpu backend)",
    };

    let mut ordinals: Vec<usize> = lanes.iter().map(|l| l.0).collect();
    ordinals.dedup();
    let devices = ordinals
        .iter()
        .map(|&d| format!("device {d}: {}", trace.device_name(d)))
        .collect::<Vec<_>>()
        .join(", ");
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(
        s,
        r##"<text x="10" y="36" fill="#555">{} ops, {:.3} ms, {clock}; {}</text>"##,
        trace.ops.len(),
        span / 1e3,
        escape(&devices)
    );
    for (i, &(d, stream)) in lanes.iter().enumerate() {
        let y = TOP + i as f64 * LANE_H;
        if i % 2 == 0 {
            let _ = writeln!(
                s,
                r##"<rect x="{LABEL_W}" y="{y}" width="{plot_w}" height="{LANE_H}" fill="#f4f4f4"/>"##
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="10" y="{:.1}">device {d} · stream {stream}</text>"#,
            y + 15.0
        );
    }
    for op in &trace.ops {
        let Some(lane) = lanes.iter().position(|&l| l == (op.device, op.stream)) else {
            continue;
        };
        let y = TOP + lane as f64 * LANE_H + (LANE_H - BAR_H) / 2.0;
        let (x0, x1) = (x(op.start_us), x(op.end_us));
        let rate = if op.duration_us() > 0.0 && op.bytes > 0 {
            format!(
                ", {:.1} GB/s",
                op.bytes as f64 / (op.duration_us() * 1e-6) / 1e9
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            r#"<rect class="op" x="{x0:.2}" y="{y:.1}" width="{:.2}" height="{BAR_H}" fill="{}"><title>{}: {:.1} µs at {:.1} µs, {} bytes{rate}</title></rect>"#,
            (x1 - x0).max(0.5),
            colour(&op.kind),
            escape(op.kind.label()),
            op.duration_us(),
            op.start_us - t0,
            op.bytes
        );
    }
    // Time axis.
    let _ = writeln!(
        s,
        r##"<line x1="{LABEL_W}" y1="{axis_y}" x2="{:.1}" y2="{axis_y}" stroke="#333"/>"##,
        LABEL_W + plot_w
    );
    let step = tick_step(span, 8.0);
    let (unit, scale) = if span >= 2000.0 {
        ("ms", 1e-3)
    } else {
        ("µs", 1.0)
    };
    let mut t = 0.0;
    while t <= span + step * 1e-9 {
        let tx = x(t0 + t);
        let _ = writeln!(
            s,
            r##"<line x1="{tx:.1}" y1="{axis_y}" x2="{tx:.1}" y2="{:.1}" stroke="#333"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle">{} {unit}</text>"##,
            axis_y + 4.0,
            axis_y + 16.0,
            trim(t * scale)
        );
        t += step;
    }
    for (i, (name, fill)) in LEGEND.iter().enumerate() {
        let lx = LABEL_W + i as f64 * 120.0;
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="{:.1}" width="12" height="12" fill="{fill}"/><text x="{:.1}" y="{:.1}">{name}</text>"#,
            legend_y - 10.0,
            lx + 16.0,
            legend_y
        );
    }
    s.push_str("</svg>\n");
    s
}

/// A tick label without trailing zeros.
fn trim(v: f64) -> String {
    let text = format!("{v:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{TraceOp, TracedDevice};

    fn sample() -> Trace {
        let op = |stream, kind, s, e| TraceOp {
            device: 0,
            stream,
            kind,
            bytes: 1024,
            start_us: s,
            end_us: e,
        };
        Trace {
            clock: TraceClock::Simulated,
            devices: vec![TracedDevice {
                ordinal: 0,
                name: "A<B>&C".into(),
            }],
            ops: vec![
                op(1, OpKind::H2d, 100.0, 200.0),
                op(2, OpKind::Kernel("k<f32>".into()), 200.0, 400.0),
                op(3, OpKind::D2h, 400.0, 500.0),
                op(1, OpKind::H2d, 200.0, 300.0),
            ],
            timing_events: 0,
        }
    }

    #[test]
    fn one_bar_per_op_in_its_lane_coloured_by_kind() {
        let svg = render(&sample(), "run & trace");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches(r#"class="op""#).count(), 4);
        assert_eq!(
            svg.matches("device 0 · stream 1<").count(),
            1,
            "one label per lane"
        );
        assert_eq!(svg.matches("#1f77b4\"><title>").count(), 2, "two H2D bars");
        assert_eq!(
            svg.matches("#2ca02c\"><title>").count(),
            1,
            "one kernel bar"
        );
        // Names are escaped, so the document stays well-formed.
        assert!(svg.contains("k&lt;f32&gt;") && svg.contains("A&lt;B&gt;&amp;C"));
        assert!(svg.contains("run &amp; trace"));
        assert!(!svg.contains("k<f32>"));
        // Tags balance: every <rect>, <text>, <title> that opens also closes.
        for tag in ["text", "title", "svg"] {
            let opens = svg.matches(&format!("<{tag}")).count();
            let closes = svg.matches(&format!("</{tag}>")).count();
            assert_eq!(opens, closes, "<{tag}>");
        }
        // The first op starts at the left edge of the plot, the last ends at the right.
        assert!(svg.contains(&format!(r#"x="{LABEL_W:.2}""#)));
        for name in ["H2D copy", "D2H copy", "kernel", "memset", "host fn"] {
            assert!(svg.contains(&format!(">{name}</text>")), "legend {name}");
        }
    }

    #[test]
    fn ticks_are_round_numbers() {
        assert_eq!(tick_step(400.0, 8.0), 50.0);
        assert_eq!(tick_step(1000.0, 8.0), 100.0);
        assert_eq!(tick_step(3.0, 8.0), 0.5);
        assert_eq!(tick_step(0.0, 8.0), 1.0);
        assert_eq!(trim(1.500), "1.5");
        assert_eq!(trim(2.0), "2");
    }
}
