//! The SVG chart of a benchmark run: per workload, a bar per runtime showing its time
//! relative to weft's on a log scale (left of 1 is faster than weft, right is slower).

use crate::bench::Results;
use crate::report::{geomean_vs_weft, ratio};
use anyhow::{Context, Result, anyhow};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// Bar colours of the runtimes other than weft, in table order.
const COLOURS: [RGBColor; 5] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
];

/// Writes the chart of `results` to `path` as SVG, creating its directory.
pub fn write_svg(results: &Results, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let peers: Vec<&'static str> = results
        .runtimes
        .iter()
        .copied()
        .filter(|r| *r != "weft")
        .collect();
    // Rows: the workloads, then the geometric mean; each row has one bar per peer.
    let mut rows: Vec<(String, Vec<Option<f64>>)> = results
        .workloads
        .iter()
        .map(|w| {
            let bars = peers
                .iter()
                .map(|p| Some(w.time(p)? / w.time("weft")?))
                .collect();
            (w.workload.name.to_string(), bars)
        })
        .collect();
    rows.push((
        "geomean".to_string(),
        peers.iter().map(|p| geomean_vs_weft(results, p)).collect(),
    ));

    let all: Vec<f64> = rows
        .iter()
        .flat_map(|(_, bars)| bars.iter().flatten().copied())
        .collect();
    let lo = all.iter().copied().fold(1.0f64, f64::min) / 2.0;
    let hi = all.iter().copied().fold(1.0f64, f64::max) * 2.0;
    let height = 120 + 14 * (peers.len() as u32 + 1) * rows.len() as u32;
    let n_rows = rows.len() as f64;

    let svg = path.to_path_buf();
    let root = SVGBackend::new(&svg, (960, height)).into_drawing_area();
    let plot = |e: &dyn std::fmt::Debug| anyhow!("drawing the chart: {e:?}");
    root.fill(&WHITE).map_err(|e| plot(&e))?;
    let title = format!(
        "Time relative to weft, median of {} runs (log scale; left of 1 = faster than weft)",
        results.runs
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(90)
        .build_cartesian_2d((lo..hi).log_scale(), 0.0..n_rows)
        .map_err(|e| plot(&e))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc("time / time on weft")
        .x_label_formatter(&|x| ratio(*x))
        .draw()
        .map_err(|e| plot(&e))?;

    // Row i is drawn top-down: workload 0 at the top.
    let band = 0.8 / peers.len() as f64;
    for (p, peer) in peers.iter().enumerate() {
        let colour = COLOURS[p % COLOURS.len()];
        let bars = rows.iter().enumerate().filter_map(|(i, (_, bars))| {
            let r = bars[p]?;
            let top = n_rows - i as f64 - 0.1 - band * p as f64;
            Some(Rectangle::new(
                [(1.0f64.min(r), top - band * 0.9), (1.0f64.max(r), top)],
                colour.filled(),
            ))
        });
        chart
            .draw_series(bars)
            .map_err(|e| plot(&e))?
            .label(*peer)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled()));
    }
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(1.0, 0.0), (1.0, n_rows)],
            BLACK.stroke_width(2),
        )))
        .map_err(|e| plot(&e))?
        .label("weft = 1")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], BLACK.stroke_width(2)));

    let label = ("sans-serif", 14)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Right, VPos::Center));
    for (i, (name, _)) in rows.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(lo, n_rows - i as f64 - 0.5));
        root.draw(&Text::new(name.clone(), (x - 8, y), label.clone()))
            .map_err(|e| plot(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|e| plot(&e))?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
