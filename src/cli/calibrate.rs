//! `edge-tool calibrate`: set a model's object-score threshold from known-good parts, so that at
//! most the target fraction of good parts would be rejected; or, for a new part that has only its
//! training templates, leave-one-out on those templates (`calibration.rs` says why).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

use super::{DetectorKind, RuntimeArgs, DEFAULT_MODEL};
use dus_core::cloud;
use dus_core::detector::{Detector, DusNet};
use dus_core::model::{Manifest, Model};
use dus_workstation::calibration::{default_margin, dus_net_leave_one_out_scores, leave_one_out_scores, threshold_for, FEW_SCORES};

#[derive(Args)]
pub struct CalibrateArgs {
    /// Scans of parts known to be good (with --leave-one-out: the part's training templates).
    #[arg(required = true)]
    good_scans: Vec<PathBuf>,
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: PathBuf,
    /// Fraction of good parts that may be rejected.
    #[arg(long, default_value_t = 0.01)]
    target_false_reject: f64,
    /// Raise the threshold by this fraction (default: 0.1 with fewer than 20 scans, else 0).
    #[arg(long)]
    margin: Option<f64>,
    /// The scans are the training templates: the golden part scores each against the others
    /// instead of against a reference that contains it. Sets both detectors' thresholds.
    #[arg(long)]
    leave_one_out: bool,
    /// Calibrate the golden-part reference detector instead of DUS-Net.
    #[arg(long, value_enum, default_value = "dus-net")]
    detector: DetectorKind,
    /// Report what would change without writing model.toml.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

pub fn run(args: CalibrateArgs) -> Result<()> {
    if !(0.0..1.0).contains(&args.target_false_reject) {
        bail!("--target-false-reject must be in [0, 1), got {}", args.target_false_reject);
    }
    if args.margin.is_some_and(|m| !(0.0..=10.0).contains(&m)) {
        bail!("--margin must be in [0, 10], got {}", args.margin.unwrap_or_default());
    }
    let calibrations = if args.leave_one_out { template_scores(&args)? } else { vec![(args.detector, good_scan_scores(&args)?)] };
    let mut manifest = Manifest::load(&args.model)?;
    for (kind, scores) in &calibrations {
        let margin = args.margin.unwrap_or_else(|| default_margin(scores.len()));
        let threshold = threshold_for(scores, args.target_false_reject, margin);
        let slot = match kind {
            DetectorKind::DusNet => &mut manifest.scoring.threshold,
            DetectorKind::Reference => manifest.scoring.reference_threshold.get_or_insert(f64::NAN),
        };
        println!("{} threshold {:.4} -> {:.4}", kind.name(), *slot, threshold);
        *slot = threshold;
        report(scores, threshold, margin, args.target_false_reject);
    }
    if args.dry_run {
        println!("dry run: {} not changed", args.model.join(Manifest::FILE).display());
    } else {
        manifest.save(&args.model)?;
        println!("wrote {}", args.model.join(Manifest::FILE).display());
    }
    Ok(())
}

/// Each good scan's object score from the chosen detector.
fn good_scan_scores(args: &CalibrateArgs) -> Result<Vec<f64>> {
    let mut detector = super::detector(args.detector, &args.model, &args.runtime.config())?;
    scans_scores(detector.as_mut(), &args.good_scans)
}

fn scans_scores(detector: &mut dyn Detector, scans: &[PathBuf]) -> Result<Vec<f64>> {
    let progress = super::progress_bar(scans.len() as u64, "good scans");
    let mut scores = Vec::new();
    for scan in scans {
        let inspection = detector.inspect(&cloud::read(scan)?).with_context(|| format!("{}", scan.display()))?;
        progress.suspend(|| println!("{}: {} object score {:.4}", scan.display(), detector.name(), inspection.object_score));
        progress.inc(1);
        scores.push(inspection.object_score);
    }
    progress.finish_and_clear();
    Ok(scores)
}

/// Both detectors' scores of the training templates, each held out in turn. The golden part
/// scores each template against the other templates (its reference contains them all). DUS-Net
/// learned every template, so its own score of one understates a part it has not seen (ScanAD-dev
/// bunny: templates 0.18-0.20, good test scans 0.20-0.26): an unseen good part differs from the
/// learned surface by its part-to-part variation, which is what the golden part measures of a
/// template against the others. DUS-Net's score of a template is therefore the larger of the
/// two, its own made with missing material judged against the other templates.
fn template_scores(args: &CalibrateArgs) -> Result<Vec<(DetectorKind, Vec<f64>)>> {
    if args.good_scans.len() < 2 {
        bail!("--leave-one-out needs at least 2 templates, got {}", args.good_scans.len());
    }
    let templates = args.good_scans.iter().map(|path| cloud::read(path)).collect::<Result<Vec<_>, _>>()?;
    let runtime = args.runtime.config();
    let model = Model::load(&args.model, &runtime).with_context(|| format!("loading the model in {}", args.model.display()))?;
    let progress = super::progress_bar(2, "detectors");
    progress.set_message(format!("golden part, {} templates each held out", templates.len()));
    progress.enable_steady_tick(std::time::Duration::from_millis(250));
    let golden = leave_one_out_scores(&templates, &model).context("leave-one-out scoring")?;
    progress.inc(1);
    progress.set_message(format!("DUS-Net, {} templates each held out", templates.len()));
    let own = dus_net_leave_one_out_scores(&templates, &mut DusNet::new(model)).context("DUS-Net leave-one-out scoring")?;
    progress.finish_and_clear();
    for ((path, score), own) in args.good_scans.iter().zip(&golden).zip(&own) {
        println!("{}: object score against the other templates: reference {score:.4}, dus-net {own:.4}", path.display());
    }
    let dus_net = own.iter().zip(&golden).map(|(own, golden)| own.max(*golden)).collect();
    Ok(vec![(DetectorKind::DusNet, dus_net), (DetectorKind::Reference, golden)])
}

fn report(scores: &[f64], threshold: f64, margin: f64, target: f64) {
    let rejected = scores.iter().filter(|&&s| s > threshold).count();
    println!(
        "{} scores, {:.4} .. {:.4}; threshold {:.4} (margin {:.0} %): {} of {} would be rejected",
        scores.len(),
        scores.iter().copied().fold(f64::INFINITY, f64::min),
        scores.iter().copied().fold(0.0, f64::max),
        threshold,
        margin * 100.0,
        rejected,
        scores.len()
    );
    if scores.len() < FEW_SCORES {
        println!("note: with {} scans a false-reject rate of {target} cannot be measured; calibrate on more good parts", scores.len());
    }
}
