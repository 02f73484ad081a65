//! `sheet.png`: a page a person can look at. On top, the pitch error of every note (cents,
//! misses marked); below, one tile per note with its waveform and spectrogram, the note-on,
//! note-off and expected end of sound marked.

use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;
use rustfft::num_complex::Complex;
use rustfft::FftPlanner;

/// One note's tile.
pub struct SheetNote<'a> {
    /// MIDI note.
    pub note: u8,
    /// First line of the tile ("40 E2  +3.1 c").
    pub label: String,
    /// Whether the note is inside the trained range (tiles beyond it are tinted).
    pub in_range: bool,
    /// Pitch error in cents; `None` for a miss.
    pub cents: Option<f64>,
    /// The render, 16 kHz.
    pub audio: &'a [f32],
    /// Note-on, note-off and expected end of sound, in samples.
    pub marks: [usize; 3],
}

/// Pixel size of the page.
const WIDTH: u32 = 1600;
const CHART_HEIGHT: u32 = 380;
const COLUMNS: usize = 4;
const TILE_HEIGHT: u32 = 190;
const LABEL_HEIGHT: i32 = 22;
const WAVE_HEIGHT: i32 = 52;
/// The pitch chart's vertical range, cents; larger errors sit on its edge, labelled.
const CHART_CENTS: f64 = 100.0;
/// Spectrogram: FFT size, shown band and level range.
const FFT_LEN: usize = 512;
const SPEC_MAX_HZ: f64 = 4000.0;
const SPEC_FLOOR_DB: f64 = -100.0;
const SPEC_TOP_DB: f64 = -10.0;
const RATE_HZ: f64 = 16_000.0;

fn plot_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("sheet: {e:?}")
}

/// Draws the sheet into `path`. Returns false (and draws nothing) when no font is installed
/// to label it.
pub fn draw(path: &Path, title: &str, notes: &[SheetNote]) -> Result<bool> {
    if notes.is_empty() || !crate::train::loss_log::ensure_font() {
        return Ok(false);
    }
    let rows = notes.len().div_ceil(COLUMNS);
    let height = CHART_HEIGHT + rows as u32 * TILE_HEIGHT;
    let tmp = path.with_extension("tmp.png");
    {
        let root = BitMapBackend::new(&tmp, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (chart_area, tiles_area) = root.split_vertically(CHART_HEIGHT);
        pitch_chart(&chart_area, title, notes)?;
        let tiles = tiles_area.split_evenly((rows, COLUMNS));
        for (area, n) in tiles.iter().zip(notes) {
            tile(area, n)?;
        }
        root.present().map_err(plot_err)?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(true)
}

/// Cents per note against the ±25-cent band; misses as crosses on the zero line.
fn pitch_chart(area: &DrawingArea<BitMapBackend, plotters::coord::Shift>, title: &str, notes: &[SheetNote]) -> Result<()> {
    let lo = notes.iter().map(|n| n.note).min().unwrap_or(0) as f64 - 1.0;
    let hi = notes.iter().map(|n| n.note).max().unwrap_or(0) as f64 + 1.0;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(lo..hi, -CHART_CENTS..CHART_CENTS)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("MIDI note")
        .y_desc("pitch error (cents)")
        .x_labels(((hi - lo) as usize).min(60))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(plot_err)?;
    chart
        .draw_series(std::iter::once(Rectangle::new([(lo, -25.0), (hi, 25.0)], RGBColor(44, 160, 44).mix(0.12).filled())))
        .map_err(plot_err)?;
    chart.draw_series(std::iter::once(PathElement::new(vec![(lo, 0.0), (hi, 0.0)], BLACK.mix(0.4)))).map_err(plot_err)?;
    for n in notes {
        let x = n.note as f64;
        match n.cents {
            Some(c) => {
                let color = if c.abs() <= 25.0 {
                    RGBColor(44, 160, 44)
                } else if c.abs() <= 50.0 {
                    RGBColor(255, 127, 14)
                } else {
                    RGBColor(214, 39, 40)
                };
                let y = c.clamp(-CHART_CENTS * 0.95, CHART_CENTS * 0.95);
                let style = if n.in_range { color.filled() } else { color.stroke_width(2) };
                chart.draw_series(std::iter::once(Circle::new((x, y), 5, style))).map_err(plot_err)?;
                if c.abs() > CHART_CENTS * 0.95 {
                    let ty = if c > 0.0 { CHART_CENTS * 0.82 } else { -CHART_CENTS * 0.82 };
                    let font = ("sans-serif", 12).into_font().color(&color);
                    let text = Text::new(format!("{c:+.0}"), (x - 0.4, ty), font);
                    chart.draw_series(std::iter::once(text)).map_err(plot_err)?;
                }
            }
            None => {
                let red = RGBColor(214, 39, 40);
                let d = 0.3;
                let cross = [vec![(x - d, -8.0), (x + d, 8.0)], vec![(x - d, 8.0), (x + d, -8.0)]];
                chart.draw_series(cross.into_iter().map(|p| PathElement::new(p, red.stroke_width(2)))).map_err(plot_err)?;
            }
        }
    }
    Ok(())
}

/// A colour for a level in 0..=1: dark blue through red to yellow.
fn heat(v: f64) -> RGBColor {
    const STOPS: [(f64, [f64; 3]); 5] = [
        (0.0, [0.0, 0.0, 4.0]),
        (0.3, [60.0, 15.0, 110.0]),
        (0.55, [180.0, 55.0, 90.0]),
        (0.8, [250.0, 140.0, 30.0]),
        (1.0, [252.0, 255.0, 164.0]),
    ];
    let v = v.clamp(0.0, 1.0);
    let i = STOPS.iter().position(|s| s.0 >= v).unwrap_or(STOPS.len() - 1).max(1);
    let (a, b) = (STOPS[i - 1], STOPS[i]);
    let t = (v - a.0) / (b.0 - a.0);
    let c = |k: usize| (a.1[k] + t * (b.1[k] - a.1[k])).round() as u8;
    RGBColor(c(0), c(1), c(2))
}

/// Magnitude spectrogram in dB: `columns` frames spread over `x`, bins up to `SPEC_MAX_HZ`.
fn spectrogram(x: &[f32], columns: usize) -> Vec<Vec<f64>> {
    let mut planner = FftPlanner::<f32>::new();
    let fft = planner.plan_fft_forward(FFT_LEN);
    let window: Vec<f32> = (0..FFT_LEN).map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / FFT_LEN as f32).cos()).collect();
    // A full-scale sine's peak bin: amplitude · (sum of the window) / 2.
    let norm = window.iter().sum::<f32>() as f64 / 2.0;
    let bins = (SPEC_MAX_HZ / RATE_HZ * FFT_LEN as f64) as usize;
    let mut buf = vec![Complex::new(0.0f32, 0.0); FFT_LEN];
    (0..columns)
        .map(|c| {
            let center = (c as f64 + 0.5) / columns as f64 * x.len() as f64;
            let start = center as isize - FFT_LEN as isize / 2;
            for (i, b) in buf.iter_mut().enumerate() {
                let j = start + i as isize;
                let v = if j >= 0 && (j as usize) < x.len() { x[j as usize] } else { 0.0 };
                *b = Complex::new(v * window[i], 0.0);
            }
            fft.process(&mut buf);
            buf[..bins].iter().map(|v| 20.0 * ((v.norm() as f64 / norm).max(1e-12)).log10()).collect()
        })
        .collect()
}

/// One note: label, waveform (min/max per pixel column) and spectrogram.
fn tile(area: &DrawingArea<BitMapBackend, plotters::coord::Shift>, n: &SheetNote) -> Result<()> {
    let (w, h) = area.dim_in_pixel();
    let (w, h) = (w as i32 - 8, h as i32 - 6);
    let x0 = 4;
    if !n.in_range {
        area.fill(&RGBColor(245, 240, 230)).map_err(plot_err)?;
    }
    let color = if n.cents.is_none() { RGBColor(214, 39, 40) } else { BLACK };
    area.draw_text(&n.label, &("sans-serif", 15).into_font().color(&color), (x0, 3)).map_err(plot_err)?;
    let len = n.audio.len().max(1);
    let to_x = |s: usize| x0 + (s as f64 / len as f64 * w as f64) as i32;
    // Waveform.
    let wave_top = LABEL_HEIGHT;
    let mid = wave_top + WAVE_HEIGHT / 2;
    area.draw(&Rectangle::new([(x0, wave_top), (x0 + w, wave_top + WAVE_HEIGHT)], RGBColor(248, 248, 248).filled())).map_err(plot_err)?;
    for px in 0..w {
        let a = px as usize * len / w as usize;
        let b = ((px as usize + 1) * len / w as usize).clamp(a + 1, len);
        let seg = n.audio.get(a..b).unwrap_or(&[]);
        let (lo, hi) = seg.iter().fold((0.0f32, 0.0f32), |(l, h), &v| (l.min(v), h.max(v)));
        let y = |v: f32| mid - (v.clamp(-1.0, 1.0) * (WAVE_HEIGHT as f32 / 2.0 - 1.0)) as i32;
        area.draw(&PathElement::new(vec![(x0 + px, y(hi)), (x0 + px, y(lo))], RGBColor(31, 119, 180))).map_err(plot_err)?;
    }
    // Spectrogram.
    let spec_top = wave_top + WAVE_HEIGHT + 4;
    let spec_h = (h - spec_top).max(8);
    let spec = spectrogram(n.audio, w as usize);
    for (px, col) in spec.iter().enumerate() {
        for py in 0..spec_h {
            let bin = ((spec_h - 1 - py) as f64 / spec_h as f64 * col.len() as f64) as usize;
            let v = (col[bin.min(col.len() - 1)] - SPEC_FLOOR_DB) / (SPEC_TOP_DB - SPEC_FLOOR_DB);
            area.draw_pixel((x0 + px as i32, spec_top + py), &heat(v)).map_err(plot_err)?;
        }
    }
    // Note-on (green), note-off (orange), expected end of sound (grey), over both panels.
    let mark_colors = [RGBColor(44, 160, 44), RGBColor(255, 127, 14), RGBColor(140, 140, 140)];
    for (&m, c) in n.marks.iter().zip(mark_colors) {
        let x = to_x(m);
        area.draw(&PathElement::new(vec![(x, wave_top), (x, spec_top + spec_h)], c.stroke_width(1))).map_err(plot_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sine_peaks_in_its_bin_at_its_level() {
        // 1000 Hz is bin 32 of a 512-point FFT at 16 kHz; amplitude 0.5 is −6 dB.
        let x: Vec<f32> = (0..16_000).map(|i| 0.5 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16_000.0).sin()).collect();
        let spec = spectrogram(&x, 10);
        for col in &spec[1..9] {
            let (bin, &db) = col.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap();
            assert_eq!(bin, 32);
            assert!((db + 6.02).abs() < 0.1, "{db}");
        }
    }

    #[test]
    fn heat_runs_dark_to_light() {
        assert_eq!(heat(0.0), RGBColor(0, 0, 4));
        assert_eq!(heat(1.0), RGBColor(252, 255, 164));
        assert_eq!(heat(-3.0), heat(0.0));
    }

    #[test]
    fn the_sheet_is_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sheet.png");
        let audio: Vec<f32> = (0..20_000).map(|i| 0.3 * (i as f32 * 0.05).sin()).collect();
        let notes: Vec<SheetNote> = (40..46)
            .map(|k| SheetNote {
                note: k,
                label: format!("{k}"),
                in_range: k < 45,
                cents: (k != 42).then_some((k as f64 - 42.0) * 40.0),
                audio: &audio,
                marks: [8000, 16_000, 18_000],
            })
            .collect();
        if draw(&path, "test", &notes).unwrap() {
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(&bytes[1..4], b"PNG");
        }
    }
}
