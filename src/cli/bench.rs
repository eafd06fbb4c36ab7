//! `edge-tool bench`: per-stage timings of whole inspections at each scan size, and each stage
//! the product does itself against its anchor, measured in the same run on the same points: the
//! reader against numpy, FPS against `fpsample` (with the covering radius of both samples, since
//! the two pick different points), KNN against `pykdtree`, registration against `small_gicp`'s
//! point-to-plane ICP (with the trimmed RMS both reach), the whole part against the Python
//! reference. `--memory` adds the peak resident memory of one inspection per size.

mod anchors;
mod memory;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;

use super::{DetectorKind, RuntimeArgs, DEFAULT_MODEL};
use dus_core::cloud::{self, Cloud};
use dus_core::detector::{millis, Stage};
use dus_core::grouping::{covering_radius, farthest_point_sampling, neighbourhoods};
use dus_core::model::Manifest;
use dus_core::registration::{Pose, Reference};

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
    /// A Python with numpy, to time the anchors it can import: fpsample, pykdtree, small_gicp
    /// and the dus-edge reference (`tools/.venv/bin/python` after `tools/setup.sh`).
    #[arg(long, alias = "fpsample-python")]
    python: Option<PathBuf>,
    /// Also measure the peak resident memory of one inspection at each of these sizes (one
    /// process per size).
    #[arg(long, value_delimiter = ',', num_args = 0.., default_missing_value = "4000,16000,64000,250000,1000000")]
    memory: Option<Vec<usize>>,
    /// Print this process's peak resident memory at the end: what `--memory` reads from each
    /// child; with a large `--repeat`, whether memory grows with the parts inspected.
    #[arg(long)]
    peak_rss: bool,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

pub fn run(args: BenchArgs) -> Result<()> {
    let repeat = args.repeat.max(1);
    let scan_path = args.scan.clone().unwrap_or_else(|| args.model.join("samples/good.pcd"));
    let base = cloud::read(&scan_path)?;
    let mut detector = super::detector(DetectorKind::DusNet, &args.model, &args.runtime.config())?;
    let manifest = Manifest::load(&args.model)?;
    let reference_path = args.model.join(&manifest.files.reference.path);
    let reference_cloud = cloud::read(&reference_path)?;
    let reference = Reference::new(reference_cloud.points());
    let groups = manifest.grouping.groups;
    println!(
        "bench: {} resampled, median of {repeat} runs, {} threads for ONNX Runtime",
        scan_path.display(),
        args.runtime.config().threads
    );
    let work = tempfile::tempdir().context("a temporary folder for the scans")?;
    for &size in &args.sizes {
        let cloud = base.resampled(size);
        let total = inspections(&mut *detector, &cloud, repeat)?;
        let scan = work.path().join(format!("scan-{size}.pcd"));
        cloud::write_pcd(&scan, cloud.points()).with_context(|| format!("writing {}", scan.display()))?;
        let ours = Ours::measure(&scan, &cloud, &reference, groups, repeat)?;
        let theirs = match &args.python {
            Some(python) => Some(anchors::measure(
                python,
                &scan,
                &reference_path,
                &args.model,
                &ours.centers,
                cloud::rms_radius(reference_cloud.points()),
                repeat,
            )?),
            None => None,
        };
        ours.report(size, total, theirs.as_ref(), &cloud, &reference);
    }
    if let Some(sizes) = &args.memory {
        memory::report(&args.model, &scan_path, sizes, &args.runtime)?;
    }
    if args.peak_rss {
        println!("{}", memory::peak_line()?);
    }
    Ok(())
}

/// Whole inspections of `cloud`: prints the median of each stage; returns the median total.
fn inspections(detector: &mut dyn dus_core::detector::Detector, cloud: &Cloud, repeat: usize) -> Result<f64> {
    let progress = super::progress_bar(repeat as u64, "inspections");
    progress.set_message(format!("{} points", cloud.len()));
    let mut runs: Vec<Vec<(Stage, f64)>> = Vec::new();
    for _ in 0..repeat {
        let inspection = detector.inspect(cloud)?;
        runs.push(inspection.timings.iter().map(|(s, d)| (*s, millis(*d))).collect());
        progress.inc(1);
    }
    progress.finish_and_clear();
    let stages: Vec<String> = runs[0]
        .iter()
        .enumerate()
        .map(|(i, (stage, _))| format!("{} {:.1}", stage.name(), median(runs.iter().map(|r| r[i].1).collect())))
        .collect();
    let total = median(runs.iter().map(|r| r.iter().map(|(_, ms)| ms).sum()).collect());
    println!("{:>7} points: {} ms; total {total:.1} ms ({:.1} parts/s)", cloud.len(), stages.join(", "), 1e3 / total);
    Ok(total)
}

/// dus-edge's own stages, timed alone: median milliseconds and what each produced.
struct Ours {
    read_ms: f64,
    fps_ms: f64,
    centers: Vec<usize>,
    knn_ms: f64,
    register_ms: f64,
    pose: Pose,
}

impl Ours {
    fn measure(scan: &std::path::Path, cloud: &Cloud, reference: &Reference, groups: usize, repeat: usize) -> Result<Ours> {
        let (read_ms, _) = timed(repeat, || cloud::read(scan));
        let points = cloud.points();
        let (fps_ms, centers) = timed(repeat, || farthest_point_sampling(points, groups));
        let queries: Vec<[f32; 3]> = centers.iter().map(|&i| points[i]).collect();
        let (knn_ms, _) = timed(repeat, || neighbourhoods(points, &queries, 32));
        let (register_ms, pose) = timed(repeat, || reference.register(points));
        Ok(Ours { read_ms, fps_ms, centers, knn_ms, register_ms, pose })
    }

    fn report(&self, size: usize, total_ms: f64, theirs: Option<&anchors::Anchors>, cloud: &Cloud, reference: &Reference) {
        let line = |what: &str, ours: f64, anchor: Option<(&str, f64)>, note: String| match anchor {
            Some((name, ms)) => {
                println!("{size:>7} points: {what}: dus-edge {ours:.2} ms, {name} {ms:.2} ms (ratio {:.2}x){note}", ms / ours)
            }
            None => println!("{size:>7} points: {what}: dus-edge {ours:.2} ms{note}"),
        };
        let radius = |indices: &[usize]| covering_radius(cloud.points(), indices);
        line("read (binary PCD)", self.read_ms, theirs.map(|t| ("numpy", t.numpy_read_ms)), String::new());
        let fps = theirs.and_then(|t| t.fpsample.as_ref());
        let fps_note = match fps {
            Some(f) => format!("; covering radius {:.3} / {:.3} scan units", radius(&self.centers), radius(&f.indices)),
            None => format!("; covering radius {:.3} scan units", radius(&self.centers)),
        };
        line(&format!("FPS to {}", self.centers.len()), self.fps_ms, fps.map(|f| ("fpsample bucket FPS", f.ms)), fps_note);
        line("KNN of the centers (32)", self.knn_ms, theirs.and_then(|t| t.pykdtree_ms).map(|ms| ("pykdtree", ms)), String::new());
        let ours_rms = reference.trimmed_rms(cloud.points(), &self.pose);
        let gicp = theirs.and_then(|t| t.small_gicp.as_ref());
        let register_note = match gicp {
            Some(g) => format!(
                "; trimmed RMS {ours_rms:.4} / {:.4} scan units ({} iterations)",
                reference.trimmed_rms(cloud.points(), &g.pose()),
                g.iterations
            ),
            None => format!("; trimmed RMS {ours_rms:.4} scan units"),
        };
        line("register", self.register_ms, gicp.map(|g| ("small_gicp point-to-plane", g.ms)), register_note);
        line("whole part", total_ms, theirs.and_then(|t| t.python_reference_ms).map(|ms| ("Python reference", ms)), String::new());
    }
}

/// The median milliseconds of `repeat` runs of `work`, and the last run's result.
fn timed<T>(repeat: usize, mut work: impl FnMut() -> T) -> (f64, T) {
    let mut times = Vec::with_capacity(repeat);
    let mut last = None;
    for _ in 0..repeat.max(1) {
        let start = Instant::now();
        last = Some(std::hint::black_box(work()));
        times.push(millis(start.elapsed()));
    }
    (median(times), last.expect("at least one run"))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
