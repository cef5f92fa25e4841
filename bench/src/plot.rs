//! `--plot`: the latency percentile curves of one message size as SVG.
//!
//! The x axis is the percentile in the usual HDR histogram style: position
//! `log10(1 / (1 - p))`, so 90%, 99%, 99.9% and 99.99% are evenly spaced
//! and the tail gets as much room as the body. The y axis is the round-trip
//! time on a log scale, so a floor of 100 ns and a socket of 60 us fit on
//! one chart. Each curve is a transport's histogram merged over all its
//! blocks.

use std::path::Path;

use hdrhistogram::Histogram;
use plotters::prelude::*;

use super::error::{Error, Result};
use super::report::{format_ns, format_size};

/// Colours of the curves, in the order of the transports.
const COLOURS: [RGBColor; 9] = [
    RGBColor(0, 0, 0),       // floor
    RGBColor(127, 127, 127), // floor-record
    RGBColor(31, 119, 180),  // shmq-spin
    RGBColor(44, 160, 44),   // shmq-default
    RGBColor(23, 190, 207),  // shmq-block
    RGBColor(214, 39, 40),   // uds
    RGBColor(255, 127, 14),  // pipe
    RGBColor(148, 103, 189), // tcp
    RGBColor(140, 86, 75),   // mq
];

/// Points per decade of the percentile axis.
const STEPS_PER_NINE: u32 = 50;

/// Label of an x position: 0 -> "0%", 1 -> "90%", 3 -> "99.9%".
fn percentile_label(x: f64) -> String {
    let p = 100.0 * (1.0 - 10f64.powf(-x));
    let decimals = (x.round() as usize).saturating_sub(2);
    format!("{p:.decimals$}%")
}

/// An axis label: `format_ns` without trailing zeros (`10ms`, `2.5us`).
fn axis_ns(ns: f64) -> String {
    let text = format_ns(ns);
    let unit_at = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(unit_at);
    let number = if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        number
    };
    format!("{number}{unit}")
}

/// Writes the chart of `series` (name and histogram, in transport order)
/// for `size`-byte messages to `path`.
pub fn latency_curves(path: &Path, size: usize, series: &[(&str, &Histogram<u64>)]) -> Result<()> {
    let to_error = |e: &dyn std::fmt::Display| Error::new(format!("plot {}: {e}", path.display()));
    if series.is_empty() {
        return Err(Error::new("no latency results to plot"));
    }
    // As many nines as the smallest sample allows (a percentile beyond
    // 1 - 1/n of n samples is just the maximum), from 2 to 5.
    let fewest = series
        .iter()
        .map(|(_, h)| h.len())
        .min()
        .unwrap_or(1)
        .max(1);
    let nines = ((fewest as f64).log10().floor() as u32).clamp(2, 5);
    let lowest = series
        .iter()
        .map(|(_, h)| h.min().max(1))
        .min()
        .unwrap_or(1);
    let highest = series.iter().map(|(_, h)| h.max()).max().unwrap_or(1);
    let y_range = (lowest as f64 * 0.8)..(highest as f64 * 1.25).max(lowest as f64 * 2.0);

    let root = SVGBackend::new(path, (1000, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| to_error(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "Round-trip latency by percentile, {} messages",
                format_size(size)
            ),
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(0f64..f64::from(nines), y_range.log_scale())
        .map_err(|e| to_error(&e))?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("round trip")
        .x_labels(nines as usize + 1)
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&|y| axis_ns(*y))
        .draw()
        .map_err(|e| to_error(&e))?;

    for (i, (name, histogram)) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points = (0..=nines * STEPS_PER_NINE).map(|step| {
            let x = f64::from(step) / f64::from(STEPS_PER_NINE);
            let quantile = 1.0 - 10f64.powf(-x);
            (x, histogram.value_at_quantile(quantile).max(1) as f64)
        });
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))
            .map_err(|e| to_error(&e))?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|e| to_error(&e))?;
    root.present().map_err(|e| to_error(&e))
}

#[cfg(test)]
mod tests {
    use super::{axis_ns, percentile_label};

    #[test]
    fn labels() {
        assert_eq!(percentile_label(0.0), "0%");
        assert_eq!(percentile_label(1.0), "90%");
        assert_eq!(percentile_label(2.0), "99%");
        assert_eq!(percentile_label(3.0), "99.9%");
        assert_eq!(percentile_label(4.0), "99.99%");
        assert_eq!(axis_ns(10_000_000.0), "10ms");
        assert_eq!(axis_ns(2_500.0), "2.5us");
        assert_eq!(axis_ns(100.0), "100ns");
    }
}
