//! `edge-tool calibrate`: set a model's object-score threshold from known-good parts, so that at
//! most the target fraction of good parts would be rejected.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use super::{DetectorKind, RuntimeArgs, DEFAULT_MODEL};
use crate::cloud;
use crate::model::Manifest;

#[derive(Args)]
pub struct CalibrateArgs {
    /// Scans of parts known to be good.
    #[arg(required = true)]
    good_scans: Vec<PathBuf>,
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: PathBuf,
    /// Fraction of good parts that may be rejected.
    #[arg(long, default_value_t = 0.01)]
    target_false_reject: f64,
    /// Calibrate the golden-part reference detector instead of DUS-Net.
    #[arg(long, value_enum, default_value = "dus-net")]
    detector: DetectorKind,
    /// Report what would change without writing model.toml.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

/// The smallest threshold that rejects at most `fraction` of `scores` (scores above it reject).
pub fn threshold_for(scores: &[f64], fraction: f64) -> f64 {
    let mut sorted = scores.to_vec();
    sorted.sort_by(f64::total_cmp);
    let allowed = (fraction * sorted.len() as f64).floor() as usize;
    sorted[sorted.len() - 1 - allowed.min(sorted.len() - 1)]
}

pub fn run(args: CalibrateArgs) -> Result<()> {
    if !(0.0..1.0).contains(&args.target_false_reject) {
        bail!("--target-false-reject must be in [0, 1), got {}", args.target_false_reject);
    }
    let mut detector = super::detector(args.detector, &args.model, &args.runtime.config())?;
    let mut scores = Vec::new();
    for scan in &args.good_scans {
        let inspection = detector.inspect(&cloud::read(scan)?)?;
        println!("{}: object score {:.4}", scan.display(), inspection.object_score);
        scores.push(inspection.object_score);
    }
    let threshold = threshold_for(&scores, args.target_false_reject);
    let mut manifest = Manifest::load(&args.model)?;
    let slot = match args.detector {
        DetectorKind::DusNet => &mut manifest.scoring.threshold,
        DetectorKind::Reference => manifest.scoring.reference_threshold.get_or_insert(f64::NAN),
    };
    let old = *slot;
    *slot = threshold;
    let rejected = scores.iter().filter(|&&s| s > threshold).count();
    println!(
        "{} good scans, object scores {:.4} .. {:.4}; threshold {:.4} -> {:.4} ({} of {} good scans would be rejected)",
        scores.len(),
        scores.iter().copied().fold(f64::INFINITY, f64::min),
        scores.iter().copied().fold(0.0, f64::max),
        old,
        threshold,
        rejected,
        scores.len()
    );
    if scores.len() < 20 {
        println!("note: with {} scans a false-reject rate of {} cannot be measured; calibrate on more good parts", scores.len(), args.target_false_reject);
    }
    if args.dry_run {
        println!("dry run: {} not changed", args.model.join(Manifest::FILE).display());
    } else {
        manifest.save(&args.model)?;
        println!("wrote {}", args.model.join(Manifest::FILE).display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::threshold_for;

    #[test]
    fn threshold_rejects_at_most_the_target_fraction() {
        let scores: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(threshold_for(&scores, 0.01), 99.0);
        assert_eq!(threshold_for(&scores, 0.0), 100.0);
        assert_eq!(threshold_for(&[0.3, 0.1, 0.2], 0.01), 0.3);
    }
}
