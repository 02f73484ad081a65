//! The CSV log of a run and its loss plot (train / valid / test NLL against steps, the curves
//! of the thesis's Figure 31, readable).

use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;

/// One evaluation's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct LogRow {
    /// Optimizer step.
    pub step: u64,
    /// Epoch.
    pub epoch: u64,
    /// Training samples seen.
    pub samples: u64,
    /// Mean training NLL since the previous row, bits per sample.
    pub train_bits: f64,
    /// Validation NLL, bits per sample.
    pub valid_bits: Option<f64>,
    /// Test NLL, bits per sample.
    pub test_bits: Option<f64>,
    /// Wall time since the run started, seconds.
    pub elapsed_s: f64,
}

/// One curve of the plot: its name, colour and (step, bits) points.
type Curve = (&'static str, RGBColor, Vec<(f64, f64)>);

const HEADER: &str = "step,epoch,samples,train_bits,valid_bits,test_bits,elapsed_s";

fn opt(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| format!("{v:.5}"))
}

/// Reads `log.csv`, keeping only rows up to `max_step` (rows after a checkpoint are dropped
/// on resume, since that training is redone).
pub fn read(path: &Path, max_step: u64) -> Result<Vec<LogRow>> {
    let Ok(text) = std::fs::read_to_string(path) else { return Ok(Vec::new()) };
    let parse_opt = |s: &str| if s.is_empty() { Ok(None) } else { s.parse::<f64>().map(Some) };
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let bad = || format!("{}:{}: malformed log row '{line}'", path.display(), i + 1);
        if f.len() != 7 {
            anyhow::bail!(bad());
        }
        let row = (|| -> Result<LogRow, Box<dyn std::error::Error>> {
            Ok(LogRow {
                step: f[0].parse()?,
                epoch: f[1].parse()?,
                samples: f[2].parse()?,
                train_bits: f[3].parse()?,
                valid_bits: parse_opt(f[4])?,
                test_bits: parse_opt(f[5])?,
                elapsed_s: f[6].parse()?,
            })
        })()
        .map_err(|_| anyhow::anyhow!(bad()))?;
        if row.step <= max_step {
            rows.push(row);
        }
    }
    Ok(rows)
}

/// Writes all rows to `log.csv` (atomically: the log is rewritten at every evaluation).
pub fn write(path: &Path, rows: &[LogRow]) -> Result<()> {
    let mut text = String::from(HEADER);
    text.push('\n');
    for r in rows {
        text.push_str(&format!(
            "{},{},{},{:.5},{},{},{:.1}\n",
            r.step,
            r.epoch,
            r.samples,
            r.train_bits,
            opt(r.valid_bits),
            opt(r.test_bits),
            r.elapsed_s
        ));
    }
    sackbut_model::voice_file::write_atomically(path, text.as_bytes()).with_context(|| format!("{}: cannot write", path.display()))
}

/// Registers a system font for plot labels once; false if none is installed (the plot is
/// then skipped with a warning rather than drawn without labels).
pub(crate) fn ensure_font() -> bool {
    static FONT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FONT.get_or_init(|| {
        const CANDIDATES: &[&str] = &[
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/TTF/DejaVuSans.ttf",
            "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        ];
        for path in CANDIDATES {
            if let Ok(bytes) = std::fs::read(path) {
                // plotters keeps registered fonts for the life of the process.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

/// Draws the curves into a PNG. Returns false (and draws nothing) without a font.
pub fn plot(path: &Path, rows: &[LogRow], title: &str) -> Result<bool> {
    if rows.is_empty() || !ensure_font() {
        return Ok(false);
    }
    let tmp = path.with_extension("tmp.png");
    if let Err(e) = draw(&tmp, rows, title) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.context(format!("{}: cannot draw the loss plot", path.display())));
    }
    std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(true)
}

/// Draws the plot into `tmp`.
fn draw(tmp: &Path, rows: &[LogRow], title: &str) -> Result<()> {
    {
        let root = BitMapBackend::new(tmp, (960, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        let series: [Curve; 3] = [
            ("train", RGBColor(31, 119, 180), rows.iter().map(|r| (r.step as f64, r.train_bits)).collect()),
            ("valid", RGBColor(255, 127, 14), rows.iter().filter_map(|r| Some((r.step as f64, r.valid_bits?))).collect()),
            ("test", RGBColor(44, 160, 44), rows.iter().filter_map(|r| Some((r.step as f64, r.test_bits?))).collect()),
        ];
        let all: Vec<f64> = series.iter().flat_map(|s| s.2.iter().map(|p| p.1)).collect();
        let lo = all.iter().cloned().fold(f64::INFINITY, f64::min).max(0.0);
        let hi = all.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let pad = ((hi - lo) * 0.08).max(0.05);
        let max_step = rows.last().map_or(1, |r| r.step).max(1) as f64;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..max_step, (lo - pad)..(hi + pad))
            .map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        chart
            .configure_mesh()
            .x_desc("step")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc("NLL (bits per sample)")
            .label_style(("sans-serif", 16))
            .draw()
            .map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        for (name, color, points) in series {
            if points.is_empty() {
                continue;
            }
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(|e| anyhow::anyhow!("plot: {e}"))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 16))
            .draw()
            .map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        root.present().map_err(|e| anyhow::anyhow!("plot: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(step: u64, valid: Option<f64>) -> LogRow {
        LogRow { step, epoch: 0, samples: step * 10, train_bits: 3.5, valid_bits: valid, test_bits: None, elapsed_s: 1.5 }
    }

    #[test]
    fn csv_round_trips_and_resume_drops_later_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.csv");
        let rows = vec![row(10, Some(4.25)), row(20, None), row(30, Some(3.0))];
        write(&path, &rows).unwrap();
        assert_eq!(read(&path, u64::MAX).unwrap(), rows);
        assert_eq!(read(&path, 20).unwrap(), rows[..2].to_vec());
    }

    #[test]
    fn malformed_log_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.csv");
        std::fs::write(&path, format!("{HEADER}\n1,0,10,x,,,1\n")).unwrap();
        let msg = read(&path, u64::MAX).unwrap_err().to_string();
        assert!(msg.contains("log.csv:2"), "{msg}");
    }

    #[test]
    fn plot_writes_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loss.png");
        let drawn = plot(&path, &[row(10, Some(4.0)), row(20, Some(3.0))], "test").unwrap();
        if drawn {
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(&bytes[1..4], b"PNG");
        } else {
            assert!(!ensure_font(), "skipped only without a font");
        }
    }
}
