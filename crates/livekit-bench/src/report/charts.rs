//! The report's charts, drawn with plotters into a pixel buffer (its bitmap backend; text in
//! the compositor's bundled font through ab_glyph, so no system font is needed) and written as
//! PNG by `image`. Each chart says the machine and the date on its last line.

use std::path::Path;
use std::sync::Once;

use anyhow::{Context, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::Bench;
use crate::results::{Series, median, range};

/// The size of every chart, in pixels.
pub const SIZE: (u32, u32) = (960, 540);

/// The font the charts are written in: the compositor's bundled DejaVu Sans Bold.
const FONT_BYTES: &[u8] = include_bytes!("../../../livekit-compositor/fonts/DejaVuSans-Bold.ttf");
const FONT: &str = "sans-serif";

/// Line and bar colours, in order (matplotlib's "tab10": distinct, readable on white).
const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

fn color(i: usize) -> RGBAColor {
    COLORS[i % COLORS.len()].to_rgba()
}

/// A chart written for the report.
#[derive(Debug)]
pub struct Chart {
    /// What it shows.
    pub title: String,
    /// Its file name, beside `report.md`.
    pub file: String,
    /// The machine and date it was measured on.
    pub about: String,
}

fn font_once() -> anyhow::Result<()> {
    static REGISTER: Once = Once::new();
    let mut result = Ok(());
    REGISTER.call_once(|| {
        result = plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES)
            .map_err(|_| anyhow!("the bundled font cannot be read"));
    });
    result
}

/// plotters' errors (which borrow nothing but are not all `Send`) as ours.
fn drawing<E: std::fmt::Display>(error: E) -> anyhow::Error {
    anyhow!("drawing a chart: {error}")
}

/// Draws a chart with `draw` (given the area above the footer), the footer `about`, and writes
/// it to `out/file`.
fn chart(
    out: &Path,
    file: &str,
    title: &str,
    about: &str,
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<Chart> {
    font_once()?;
    let (width, height) = SIZE;
    let mut pixels = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let (main, footer) = root.split_vertically(height - 26);
        footer
            .draw(&Text::new(
                about.to_owned(),
                (10, 4),
                (FONT, 13).into_font().color(&BLACK.mix(0.7)),
            ))
            .map_err(drawing)?;
        let main = main.titled(title, (FONT, 22)).map_err(drawing)?;
        draw(&main)?;
        root.present().map_err(drawing)?;
    }
    let image = image::RgbImage::from_raw(width, height, pixels)
        .context("the chart's buffer has the wrong size")?;
    let path = out.join(file);
    image
        .save(&path)
        .with_context(|| format!("{}", path.display()))?;
    Ok(Chart {
        title: title.to_owned(),
        file: file.to_owned(),
        about: about.to_owned(),
    })
}

/// An axis label: `4`, `250`, `2.5`.
fn tick(value: f64) -> String {
    if value.fract().abs() < 1e-9 || value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 1.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// One line of a chart: its name and `(x, median, min, max)` points.
type Line = (String, Vec<(f64, f64, f64, f64)>);

/// Lines with their spread as error bars, from y = 0.
fn lines(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    (x_desc, y_desc): (&str, &str),
    legend: SeriesLabelPosition,
    lines: &[Line],
) -> anyhow::Result<()> {
    // Counts (layers, destinations) are labelled as whole numbers only.
    let counts = lines
        .iter()
        .all(|(_, p)| p.iter().all(|p| p.0.fract() == 0.0));
    let xs = lines.iter().flat_map(|(_, p)| p.iter().map(|p| p.0));
    let (x_low, x_high) = xs.fold((f64::MAX, f64::MIN), |(l, h), x| (l.min(x), h.max(x)));
    let y_high = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|p| p.3))
        .fold(0.0f64, f64::max);
    let pad = ((x_high - x_low) * 0.05).max(0.5);
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(
            (x_low - pad)..(x_high + pad),
            0.0..(y_high * 1.15).max(1e-9),
        )
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_labels(((x_high - x_low) as usize + 3).clamp(3, 20))
        .x_label_formatter(&|x| {
            if counts && x.fract() != 0.0 {
                String::new()
            } else {
                tick(*x)
            }
        })
        .y_label_formatter(&|y| tick(*y))
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .draw()
        .map_err(drawing)?;
    for (i, (name, points)) in lines.iter().enumerate() {
        let color = color(i);
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|&(x, y, _, _)| (x, y)),
                color.stroke_width(2),
            ))
            .map_err(drawing)?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(
                points
                    .iter()
                    .map(|&(x, y, _, _)| Circle::new((x, y), 4, color.filled())),
            )
            .map_err(drawing)?;
        chart
            .draw_series(points.iter().map(|&(x, y, low, high)| {
                ErrorBar::new_vertical(x, low, y, high, color.stroke_width(1), 10)
            }))
            .map_err(drawing)?;
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(legend)
        .draw()
        .map_err(drawing)?;
    Ok(())
}

/// The lines of a benchmark's figures whose metric starts with `metric`: one per tool and
/// metric, along x.
fn figure_lines(bench: &Bench, metric: &str) -> Vec<Line> {
    let mut out: Vec<Line> = Vec::new();
    for figure in bench
        .figures
        .iter()
        .filter(|f| f.metric.starts_with(metric) && !f.values.is_empty())
    {
        let Some(x) = figure.x else { continue };
        let name = if figure.metric == metric {
            figure.tool.clone()
        } else {
            figure
                .metric
                .trim_start_matches(metric)
                .trim_start_matches(", ")
                .to_owned()
        };
        let (low, high) = range(&figure.values);
        let point = (x, median(&figure.values), low, high);
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, points)) => points.push(point),
            None => out.push((name, vec![point])),
        }
    }
    for (_, points) in &mut out {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

/// Latency histograms: a panel per setting (the part of a sample set's name after the tool),
/// each tool's frames in its own colour.
fn histograms(area: &DrawingArea<BitMapBackend<'_>, Shift>, bench: &Bench) -> anyhow::Result<()> {
    let mut settings: Vec<&str> = Vec::new();
    for samples in &bench.samples {
        let setting = samples.name.split_once(", ").map_or("", |(_, s)| s);
        if !settings.contains(&setting) {
            settings.push(setting);
        }
    }
    let columns = settings.len().clamp(1, 2);
    let rows = settings.len().div_ceil(columns).max(1);
    let panels = area.split_evenly((rows, columns));
    let tools: Vec<&str> = {
        let mut tools = Vec::new();
        for samples in &bench.samples {
            let tool = samples
                .name
                .split_once(", ")
                .map_or(samples.name.as_str(), |(t, _)| t);
            if !tools.contains(&tool) {
                tools.push(tool);
            }
        }
        tools
    };
    for (setting, panel) in settings.iter().zip(panels.iter()) {
        let sets: Vec<_> = bench
            .samples
            .iter()
            .filter(|s| s.name.split_once(", ").map_or("", |(_, s)| s) == *setting)
            .filter(|s| !s.values.is_empty())
            .collect();
        let all = sets.iter().flat_map(|s| s.values.iter().copied());
        let (low, high) = all.fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(v), h.max(v)));
        if low > high {
            continue;
        }
        // Round bins (1, 2, 5, 10, 20, 25, 50 ms, ...), about 30 across the panel.
        let width = [
            1.0, 2.0, 5.0, 10.0, 20.0, 25.0, 50.0, 100.0, 200.0, 250.0, 500.0, 1000.0,
        ]
        .into_iter()
        .find(|&w| w >= (high - low) / 30.0)
        .unwrap_or(1000.0);
        let low = (low / width).floor() * width;
        let bins = ((high - low) / width) as u32 + 1;
        let bin = move |v: f64| ((v - low) / width) as u32;
        let tallest = sets
            .iter()
            .map(|s| {
                let mut counts = vec![0u32; bins as usize + 1];
                for &v in &s.values {
                    counts[(bin(v) as usize).min(bins as usize)] += 1;
                }
                counts.into_iter().max().unwrap_or(0)
            })
            .max()
            .unwrap_or(1);
        let mut chart = ChartBuilder::on(panel)
            .caption(*setting, (FONT, 15))
            .margin(8)
            .x_label_area_size(34)
            .y_label_area_size(44)
            .build_cartesian_2d(
                (0u32..bins).into_segmented(),
                // Room above the tallest bar for the legend.
                0u32..(tallest * 8 / 5 + 1),
            )
            .map_err(drawing)?;
        let formatter = |v: &SegmentValue<u32>| match v {
            SegmentValue::Exact(b) | SegmentValue::CenterOf(b) => {
                format!("{:.0}", low + f64::from(*b) * width)
            }
            SegmentValue::Last => String::new(),
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("ms, capture to player")
            .y_desc("frames")
            .x_labels(8)
            .x_label_formatter(&formatter)
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 12))
            .draw()
            .map_err(drawing)?;
        for samples in &sets {
            let tool = samples
                .name
                .split_once(", ")
                .map_or(samples.name.as_str(), |(t, _)| t);
            let i = tools.iter().position(|t| *t == tool).unwrap_or(0);
            let color = color(i).mix(0.55);
            chart
                .draw_series(
                    Histogram::vertical(&chart)
                        .style(color.filled())
                        .margin(1)
                        .data(samples.values.iter().map(|&v| (bin(v).min(bins - 1), 1))),
                )
                .map_err(drawing)?
                .label(format!("{tool} (p50 {:.0} ms)", median(&samples.values)))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .label_font((FONT, 12))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(drawing)?;
    }
    Ok(())
}

/// Reads a soak's CSV (`seconds,resident_mb,threads,descriptors`) as its memory curve.
pub fn read_soak_csv(path: &Path) -> anyhow::Result<Series> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let mut points = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let mut fields = line.split(',').map(|f| f.trim().parse::<f64>());
        match (fields.next(), fields.next()) {
            (Some(Ok(at)), Some(Ok(mb))) => points.push((at, mb)),
            _ if line.trim().is_empty() => {}
            _ => anyhow::bail!(
                "{}: line {}: not `seconds,resident_mb,...`: {line:?}",
                path.display(),
                n + 1
            ),
        }
    }
    if points.is_empty() {
        anyhow::bail!("{}: no samples", path.display());
    }
    Ok(Series {
        name: "resident memory".to_owned(),
        unit: "MB".to_owned(),
        points,
    })
}

/// Memory over time, in minutes.
fn memory(area: &DrawingArea<BitMapBackend<'_>, Shift>, series: &Series) -> anyhow::Result<()> {
    let minutes: Vec<(f64, f64)> = series.points.iter().map(|&(s, v)| (s / 60.0, v)).collect();
    let x_high = minutes.iter().map(|p| p.0).fold(0.0f64, f64::max).max(0.1);
    let y_high = minutes.iter().map(|p| p.1).fold(0.0f64, f64::max);
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..x_high * 1.02, 0.0..(y_high * 1.15).max(1.0))
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .x_desc("minutes")
        .y_desc(format!("{} ({})", series.name, series.unit))
        .x_label_formatter(&|x| tick(*x))
        .y_label_formatter(&|y| tick(*y))
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .draw()
        .map_err(drawing)?;
    let color = color(0);
    chart
        .draw_series(LineSeries::new(
            minutes.iter().copied(),
            color.stroke_width(2),
        ))
        .map_err(drawing)?;
    chart
        .draw_series(minutes.iter().map(|&p| Circle::new(p, 2, color.filled())))
        .map_err(drawing)?;
    Ok(())
}

/// The charts of benchmark `name`, written to `out`.
pub(super) fn for_bench(
    name: &str,
    bench: &Bench,
    out: &Path,
    soak_csv: Option<&Series>,
    soak_csv_about: &str,
) -> anyhow::Result<Vec<Chart>> {
    let about = bench.about();
    let mut charts = Vec::new();
    match name {
        "compositor" => {
            let lines_ = figure_lines(bench, "fps");
            if !lines_.is_empty() {
                charts.push(chart(
                    out,
                    "compositor-fps.png",
                    "Compositor: frames a second against layers (1920x1080)",
                    &about,
                    |area| {
                        let axes = ("layers", "frames a second");
                        lines(area, axes, SeriesLabelPosition::UpperRight, &lines_)
                    },
                )?);
            }
        }
        "stream" => {
            for (metric, file, title, unit) in [
                (
                    "CPU seconds",
                    "stream-cpu.png",
                    "Streaming a file: CPU against destinations",
                    "CPU seconds",
                ),
                (
                    "instructions",
                    "stream-instructions.png",
                    "Streaming a file: instructions against destinations (valgrind)",
                    "billions of instructions",
                ),
            ] {
                let lines_ = figure_lines(bench, metric);
                if !lines_.is_empty() {
                    // The lines start high on the chart: the legend goes below them.
                    charts.push(chart(out, file, title, &about, |area| {
                        let axes = ("destinations", unit);
                        lines(area, axes, SeriesLabelPosition::LowerRight, &lines_)
                    })?);
                }
            }
        }
        "latency" if !bench.samples.is_empty() => {
            charts.push(chart(
                out,
                "latency-histogram.png",
                "Glass-to-player latency of each frame",
                &about,
                |area| histograms(area, bench),
            )?);
        }
        "webrtc" if !bench.samples.is_empty() => {
            charts.push(chart(
                out,
                "webrtc-latency-histogram.png",
                "Glass-to-browser latency of each frame (WHEP, HLS)",
                &about,
                |area| histograms(area, bench),
            )?);
        }
        "soak" => {
            if let Some(series) = bench.series.iter().find(|s| s.name == "resident memory") {
                charts.push(chart(
                    out,
                    "soak-memory.png",
                    "Soak: resident memory over time (this run)",
                    &about,
                    |area| memory(area, series),
                )?);
            }
            if let Some(series) = soak_csv {
                charts.push(chart(
                    out,
                    "soak-memory-long.png",
                    "Soak: resident memory over time (the long run)",
                    soak_csv_about,
                    |area| memory(area, series),
                )?);
            }
        }
        _ => {}
    }
    Ok(charts)
}
