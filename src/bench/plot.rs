//! Two small SVG charts for `riptide bench`, drawn by hand because two chart types do not
//! justify a plotting library's dependency tree: a line chart (pipeline throughput against
//! chunk size, a line per streams × depth) and a bar chart (kernel throughput against the
//! device copy).

use std::fmt::Write;

use crate::bench::sweep::BenchReport;

const W: f64 = 760.0;
const H: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 190.0;
const TOP: f64 = 44.0;
const BOTTOM: f64 = 56.0;
const PALETTE: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

fn escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn header(s: &mut String, title: &str, subtitle: &str) {
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(
        s,
        r##"<text x="10" y="36" fill="#555">{}</text>"##,
        escape(subtitle)
    );
}

/// Y axis from 0 to `max` with round ticks, labelled `label`.
fn y_axis(s: &mut String, max: f64, label: &str) -> f64 {
    let step = riptide_host::trace::svg::tick_step(max, 5.0);
    let top = (max / step).ceil().max(1.0) * step;
    let plot_h = H - TOP - BOTTOM;
    let mut v = 0.0;
    while v <= top + step * 1e-9 {
        let y = H - BOTTOM - v / top * plot_h;
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{v}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0
        );
        v += step;
    }
    let _ = writeln!(
        s,
        r#"<text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">{}</text>"#,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0,
        escape(label)
    );
    top
}

/// Pipeline GB/s (input + output per device second) against chunk size, one line per
/// streams × depth, with the serial baseline and the copy ceiling as dashed lines.
pub fn pipeline_chart(r: &BenchReport) -> String {
    let mut s = String::new();
    header(
        &mut s,
        &format!("riptide pipeline sweep on {}", r.device),
        &format!(
            "{} MiB in + out, device time ({}); higher is better",
            r.pipeline_bytes >> 20,
            r.clock
        ),
    );
    let ceiling = 2.0 * r.ceilings.duplex_h2d_gbps.min(r.ceilings.duplex_d2h_gbps);
    let max = r
        .pipeline
        .iter()
        .map(|p| p.gbps)
        .fold(ceiling.max(r.serial.gbps), f64::max);
    let top = y_axis(&mut s, max, "GB/s in + out");
    let mut chunks: Vec<u64> = r.pipeline.iter().map(|p| p.chunk_bytes).collect();
    chunks.sort_unstable();
    chunks.dedup();
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let x = |i: usize| {
        if chunks.len() == 1 {
            LEFT + plot_w / 2.0
        } else {
            LEFT + 20.0 + i as f64 / (chunks.len() - 1) as f64 * (plot_w - 40.0)
        }
    };
    let y = |v: f64| H - BOTTOM - v / top * plot_h;
    for (i, c) in chunks.iter().enumerate() {
        let label = if *c >= 1 << 20 {
            format!("{} MiB", c >> 20)
        } else {
            format!("{} KiB", c >> 10)
        };
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
            x(i),
            H - BOTTOM + 16.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">chunk size</text>"#,
        LEFT + plot_w / 2.0,
        H - 16.0
    );
    let mut series: Vec<(usize, usize)> = r.pipeline.iter().map(|p| (p.streams, p.depth)).collect();
    series.sort_unstable();
    series.dedup();
    for (k, &(streams, depth)) in series.iter().enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        let pts: Vec<(f64, f64)> = chunks
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                r.pipeline
                    .iter()
                    .find(|p| (p.streams, p.depth, p.chunk_bytes) == (streams, depth, *c))
                    .map(|p| (x(i), y(p.gbps)))
            })
            .collect();
        let path: Vec<String> = pts.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
        let _ = writeln!(
            s,
            r#"<polyline class="series" fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        );
        for (a, b) in &pts {
            let _ = writeln!(
                s,
                r#"<circle cx="{a:.1}" cy="{b:.1}" r="3" fill="{colour}"/>"#
            );
        }
        let ly = TOP + 14.0 + k as f64 * 16.0;
        let _ = writeln!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="12" height="3" fill="{colour}"/><text x="{:.1}" y="{ly:.1}">{streams} streams, depth {depth}</text>"#,
            W - RIGHT + 12.0,
            ly - 5.0,
            W - RIGHT + 28.0
        );
    }
    for (value, name, colour) in [
        (ceiling, "copy ceiling (both directions)", "#d62728"),
        (r.serial.gbps, "serial (one stream)", "#555"),
    ] {
        let _ = writeln!(
            s,
            r#"<line class="reference" x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-dasharray="6 4"/><text x="{:.1}" y="{:.1}" fill="{colour}">{name}</text>"#,
            y(value),
            W - RIGHT,
            y(value),
            W - RIGHT + 12.0,
            y(value) + 4.0
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Kernel GB/s (bytes read + written per device second) as bars, the device copy first.
pub fn kernel_chart(r: &BenchReport) -> String {
    let mut s = String::new();
    header(
        &mut s,
        &format!("riptide kernels on {}", r.device),
        &format!(
            "{} elements, read + write bytes per device second ({}); the copy is the ceiling",
            r.kernels.first().map_or(0, |k| k.elements),
            r.clock
        ),
    );
    let max = r.kernels.iter().map(|k| k.gbps).fold(0.0, f64::max);
    let top = y_axis(&mut s, max.max(1e-9), "GB/s");
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let slot = plot_w / r.kernels.len().max(1) as f64;
    for (i, k) in r.kernels.iter().enumerate() {
        let h = k.gbps / top * plot_h;
        let x0 = LEFT + i as f64 * slot + slot * 0.15;
        let colour = if i == 0 { "#7f7f7f" } else { PALETTE[0] };
        let _ = writeln!(
            s,
            r#"<rect class="bar" x="{x0:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{colour}"><title>{}: {:.1} GB/s, {:.1}% of copy</title></rect>"#,
            H - BOTTOM - h,
            slot * 0.7,
            escape(&k.name),
            k.gbps,
            k.percent_of_copy
        );
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#333">{:.0}%</text>"##,
            x0 + slot * 0.35,
            H - BOTTOM + 16.0,
            escape(&k.name),
            x0 + slot * 0.35,
            H - BOTTOM - h - 4.0,
            k.percent_of_copy
        );
    }
    s.push_str("</svg>\n");
    s
}
