//! `edge-tool bench`: per-stage timings on a 16k- and a 120k-point scan, and farthest point
//! sampling against the `fpsample` Python package (bucket FPS) on the same points, in the same run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;

use super::{DetectorKind, RuntimeArgs, DEFAULT_MODEL};
use dus_core::cloud;
use dus_core::detector::millis;
use dus_core::detector::Stage;
use dus_core::grouping::farthest_point_sampling;

#[derive(Args)]
pub struct BenchArgs {
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: PathBuf,
    /// Scan to time (resampled to each size); default the model's samples/good.pcd.
    #[arg(long)]
    scan: Option<PathBuf>,
    /// Scan sizes in points.
    #[arg(long, value_delimiter = ',', default_value = "16000,120000")]
    sizes: Vec<usize>,
    /// Runs per measurement; the median is reported.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Python with the `fpsample` package, to time its bucket FPS on the same points.
    #[arg(long)]
    fpsample_python: Option<PathBuf>,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

pub fn run(args: BenchArgs) -> Result<()> {
    let repeat = args.repeat.max(1);
    let scan_path = args.scan.clone().unwrap_or_else(|| args.model.join("samples/good.pcd"));
    let base = cloud::read(&scan_path)?;
    let mut detector = super::detector(DetectorKind::DusNet, &args.model, &args.runtime.config())?;
    let groups = dus_core::model::Manifest::load(&args.model)?.grouping.groups;
    println!(
        "bench: {} resampled, median of {repeat} runs, {} threads for ONNX Runtime",
        scan_path.display(),
        args.runtime.config().threads
    );
    let progress = super::progress_bar((args.sizes.len() * repeat) as u64, "inspections");
    for &size in &args.sizes {
        let cloud = base.resampled(size);
        progress.set_message(format!("{size} points"));
        let mut runs: Vec<Vec<(Stage, f64)>> = Vec::new();
        for _ in 0..repeat {
            let inspection = detector.inspect(&cloud)?;
            runs.push(inspection.timings.iter().map(|(s, d)| (*s, millis(*d))).collect());
            progress.inc(1);
        }
        let stages: Vec<String> = runs[0]
            .iter()
            .enumerate()
            .map(|(i, (stage, _))| format!("{} {:.1}", stage.name(), median(runs.iter().map(|r| r[i].1).collect())))
            .collect();
        let total = median(runs.iter().map(|r| r.iter().map(|(_, ms)| ms).sum()).collect());
        progress.suspend(|| println!("{size:>7} points: {} ms; total {total:.1} ms ({:.1} parts/s)", stages.join(", "), 1e3 / total));
        let ours = median((0..repeat).map(|_| time_ms(|| farthest_point_sampling(cloud.points(), groups))).collect());
        let line = match &args.fpsample_python {
            Some(python) => {
                let theirs = fpsample_ms(python, cloud.points(), groups, repeat)?;
                format!(
                    "{size:>7} points: FPS to {groups}: dus-edge {ours:.2} ms, fpsample bucket FPS {theirs:.2} ms (ratio {:.2}x)",
                    theirs / ours
                )
            }
            None => format!("{size:>7} points: FPS to {groups}: dus-edge {ours:.2} ms (pass --fpsample-python to compare)"),
        };
        progress.suspend(|| println!("{line}"));
    }
    progress.finish_and_clear();
    Ok(())
}

fn time_ms<T>(work: impl FnOnce() -> T) -> f64 {
    let start = Instant::now();
    std::hint::black_box(work());
    millis(start.elapsed())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Median milliseconds of `fpsample.bucket_fps_kdline_sampling` on the same points.
fn fpsample_ms(python: &Path, points: &[[f32; 3]], count: usize, repeat: usize) -> Result<f64> {
    let file = tempfile::NamedTempFile::new()?;
    let bytes: Vec<u8> = points.iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(file.path(), bytes)?;
    let script = "import sys, time, numpy as np, fpsample\n\
        pts = np.fromfile(sys.argv[1], dtype='<f4').reshape(-1, 3)\n\
        n, r = int(sys.argv[2]), int(sys.argv[3])\n\
        ts = []\n\
        for _ in range(r):\n    t = time.perf_counter(); fpsample.bucket_fps_kdline_sampling(pts, n, h=7, start_idx=0); ts.append((time.perf_counter() - t) * 1e3)\n\
        print(sorted(ts)[len(ts) // 2])\n";
    let output = Command::new(python)
        .args(["-c", script])
        .arg(file.path())
        .arg(count.to_string())
        .arg(repeat.to_string())
        .output()
        .with_context(|| format!("{}: cannot run", python.display()))?;
    if !output.status.success() {
        bail!("fpsample timing failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    String::from_utf8_lossy(&output.stdout).trim().parse().context("fpsample timing printed no number")
}
