//! `edge-tool show`: a picture of a scored scan (`render`): a scan is scored by DUS-Net as
//! `score` does; a heatmap PLY (`score --heatmap`, the daemon's rejects) is drawn from the scores
//! it holds, with the threshold and object score of `--model` when one is given.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::{DetectorKind, RuntimeArgs, DEFAULT_MODEL};
use dus_box::render::{self, Scene};
use dus_core::cloud;
use dus_core::model::Manifest;
use dus_core::scoring::object_score;

#[derive(Args)]
pub struct ShowArgs {
    /// A scan (.pcd, .ply, .xyz, .csv), or a heatmap PLY (with `scalar_score`).
    input: PathBuf,
    /// Where to write the picture (PNG).
    #[arg(long)]
    png: PathBuf,
    /// Model folder: scores a scan (default models/bunny); for a heatmap, gives the threshold.
    #[arg(long)]
    model: Option<PathBuf>,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

/// What is drawn, owned.
struct Scored {
    cloud: cloud::Cloud,
    scores: Vec<f32>,
    threshold: Option<f64>,
    object_score: Option<f64>,
    model: String,
}

pub fn run(args: ShowArgs) -> Result<()> {
    let scored = match cloud::read_heatmap(&args.input)? {
        Some((cloud, scores)) => from_heatmap(cloud, scores, &args)?,
        None => from_scan(&args)?,
    };
    let part = args.input.file_stem().unwrap_or_default().to_string_lossy();
    let scene = Scene {
        points: scored.cloud.points(),
        scores: &scored.scores,
        threshold: scored.threshold,
        object_score: scored.object_score,
        part: &part,
        model: &scored.model,
    };
    let picture = render::render(&scene).with_context(|| format!("{}", args.input.display()))?;
    render::write_png(&picture, &args.png)?;
    println!("{}: wrote {} ({} x {} pixels)", args.input.display(), args.png.display(), picture.width(), picture.height());
    Ok(())
}

/// A heatmap's own scores; the model, when given, adds its threshold and the object score.
fn from_heatmap(cloud: cloud::Cloud, scores: Vec<f32>, args: &ShowArgs) -> Result<Scored> {
    let Some(dir) = &args.model else {
        return Ok(Scored { cloud, scores, threshold: None, object_score: None, model: String::new() });
    };
    let manifest = Manifest::load(dir)?;
    let object = f64::from(object_score(&scores, manifest.scoring.rule().top_points()));
    Ok(Scored { cloud, scores, threshold: Some(manifest.scoring.threshold), object_score: Some(object), model: manifest.model.label() })
}

/// A scan scored by DUS-Net, as `score` does.
fn from_scan(args: &ShowArgs) -> Result<Scored> {
    let dir = args.model.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_MODEL));
    let cloud = cloud::read(&args.input)?;
    let mut detector = super::detector(DetectorKind::DusNet, &dir, &args.runtime.config())?;
    let inspection = detector.inspect(&cloud).with_context(|| format!("{}", args.input.display()))?;
    let model = Manifest::load(&dir)?.model.label();
    Ok(Scored {
        cloud,
        scores: inspection.point_scores,
        threshold: inspection.threshold,
        object_score: Some(inspection.object_score),
        model,
    })
}
