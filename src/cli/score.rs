//! `edge-tool score`: one verdict per scan, for a person or (with --json) a script.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde::Serialize;

use super::{DetectorKind, RuntimeArgs, DEFAULT_MODEL};
use dus_core::cloud;
use dus_core::detector::{millis, Inspection, Stage};
use dus_core::verdict::{shown_regions, Region, Verdict};

#[derive(Args)]
pub struct ScoreArgs {
    /// Scan files (.pcd, .ply, .xyz, .csv).
    #[arg(required = true)]
    scans: Vec<PathBuf>,
    /// Model folder.
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: PathBuf,
    #[arg(long, value_enum, default_value = "dus-net")]
    detector: DetectorKind,
    /// Write a PLY heatmap of the point scores (with several scans: a folder, one file each).
    #[arg(long)]
    heatmap: Option<PathBuf>,
    /// Print one JSON object per scan instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

/// What `score` reports for one scan.
#[derive(Serialize)]
pub struct Report {
    pub scan: PathBuf,
    pub verdict: Verdict,
    pub object_score: f64,
    pub threshold: Option<f64>,
    pub points: usize,
    pub regions: Vec<Region>,
    pub timings_ms: Vec<(Stage, f64)>,
}

impl Report {
    pub fn new(scan: PathBuf, cloud: &cloud::Cloud, inspection: &Inspection) -> Report {
        Report {
            scan,
            verdict: Verdict::decide(inspection.object_score, inspection.threshold),
            object_score: inspection.object_score,
            threshold: inspection.threshold,
            points: cloud.len(),
            regions: shown_regions(cloud.points(), &inspection.point_scores, inspection.threshold),
            timings_ms: inspection.timings.iter().map(|(s, d)| (*s, millis(*d))).collect(),
        }
    }

    fn print(&self) {
        let threshold = self.threshold.map_or("uncalibrated".to_string(), |t| format!("{t:.3}"));
        println!(
            "{}: {}  object score {:.3} (threshold {threshold}, scan units), {} points",
            self.scan.display(),
            self.verdict.to_string().to_uppercase(),
            self.object_score,
            self.points
        );
        for (i, r) in self.regions.iter().enumerate() {
            println!(
                "  region {}: center ({:.1}, {:.1}, {:.1}) radius {:.1} peak {:.3} ({} points)",
                i + 1,
                r.center[0],
                r.center[1],
                r.center[2],
                r.radius,
                r.peak_score,
                r.points
            );
        }
        let stages: Vec<String> = self.timings_ms.iter().map(|(s, ms)| format!("{} {ms:.1}", s.name())).collect();
        let total: f64 = self.timings_ms.iter().map(|(_, ms)| ms).sum();
        println!("  timings (ms): {} = {total:.1}", stages.join(", "));
    }
}

pub fn run(args: ScoreArgs) -> Result<()> {
    let mut detector = super::detector(args.detector, &args.model, &args.runtime.config())?;
    let several = args.scans.len() > 1;
    if let (Some(dir), true) = (&args.heatmap, several) {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create the heatmap folder", dir.display()))?;
    }
    for scan in &args.scans {
        let cloud = cloud::read(scan)?;
        let inspection = detector.inspect(&cloud).with_context(|| format!("{}", scan.display()))?;
        let report = Report::new(scan.clone(), &cloud, &inspection);
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            report.print();
        }
        if let Some(target) = &args.heatmap {
            let path = if several { target.join(scan.file_stem().unwrap_or_default()).with_extension("ply") } else { target.clone() };
            let scale = cloud::heatmap::colour_scale(inspection.threshold, inspection.object_score);
            cloud::write_heatmap(&path, cloud.points(), &inspection.point_scores, scale)
                .with_context(|| format!("{}: cannot write the heatmap", path.display()))?;
        }
    }
    Ok(())
}
