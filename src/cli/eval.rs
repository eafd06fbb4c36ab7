//! `edge-tool eval`: O-AUROC, P-AUROC, O-AUPR and P-AUPR per category and mean, for DUS-Net and
//! the golden-part reference, computed as the peers do (point scores min-max normalised per
//! category over all its test points).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::ProgressBar;
use serde::Serialize;

use super::{DetectorKind, RuntimeArgs};
use dus_core::cloud::{self, Cloud};
use dus_core::detector::Detector;
use dus_workstation::dataset::{self, Category};
use dus_workstation::metrics::{auroc, average_precision, min_max_normalise};

#[derive(Args)]
pub struct EvalArgs {
    /// Dataset root: one folder per category.
    dataset: PathBuf,
    /// Only these categories (repeatable); default all.
    #[arg(long = "category")]
    categories: Vec<String>,
    /// Folder holding one model folder per category, named after it.
    #[arg(long, default_value = "models")]
    models: PathBuf,
    /// Detectors to measure (repeatable); default both.
    #[arg(long = "detector", value_enum)]
    detectors: Vec<DetectorKind>,
    /// Write the table as CSV here.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Write the table as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

/// One row of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub category: String,
    pub detector: String,
    pub o_auroc: f64,
    pub p_auroc: f64,
    pub o_aupr: f64,
    pub p_aupr: f64,
    /// The operating point: decisions at each model's threshold (`None`: not calibrated).
    pub decisions: Option<Decisions>,
}

/// What the shipped thresholds do: good scans rejected, defective scans caught.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Decisions {
    pub good: usize,
    pub false_rejects: usize,
    pub defective: usize,
    pub caught: usize,
}

impl Row {
    /// O-AUROC, P-AUROC, O-AUPR, P-AUPR.
    fn metrics(&self) -> [f64; 4] {
        [self.o_auroc, self.p_auroc, self.o_aupr, self.p_aupr]
    }
}

impl Decisions {
    fn count(object_scores: &[f32], labels: &[bool], threshold: f64) -> Decisions {
        let mut d = Decisions::default();
        for (&score, &defective) in object_scores.iter().zip(labels) {
            let rejected = f64::from(score) > threshold;
            if defective {
                d.defective += 1;
                d.caught += usize::from(rejected);
            } else {
                d.good += 1;
                d.false_rejects += usize::from(rejected);
            }
        }
        d
    }

    fn add(self, other: Decisions) -> Decisions {
        Decisions {
            good: self.good + other.good,
            false_rejects: self.false_rejects + other.false_rejects,
            defective: self.defective + other.defective,
            caught: self.caught + other.caught,
        }
    }
}

pub fn run(args: EvalArgs) -> Result<()> {
    let categories = dataset::categories(&args.dataset, &args.categories)?;
    let detectors = if args.detectors.is_empty() { vec![DetectorKind::DusNet, DetectorKind::Reference] } else { args.detectors.clone() };
    let total: usize = categories.iter().map(|c| c.test.len()).sum::<usize>() * detectors.len();
    let progress = super::progress_bar(total as u64, "scans");
    let runtime = args.runtime.config();
    let mut rows = Vec::new();
    for category in &categories {
        for &kind in &detectors {
            let dir = args.models.join(&category.name);
            let mut detector = super::detector(kind, &dir, &runtime)?;
            progress.set_message(format!("{} / {}", category.name, detector.name()));
            rows.push(evaluate(category, detector.as_mut(), &progress)?);
        }
    }
    progress.finish_and_clear();
    for &kind in &detectors {
        rows.push(mean_row(&rows, kind.name()));
    }
    print_table(&rows);
    if let Some(path) = &args.csv {
        write_csv(path, &rows)?;
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&rows)?).with_context(|| format!("{}: cannot write", path.display()))?;
    }
    Ok(())
}

/// Scores every test scan of a category and computes the four metrics.
fn evaluate(category: &Category, detector: &mut dyn Detector, progress: &ProgressBar) -> Result<Row> {
    let (mut object_scores, mut object_labels) = (Vec::new(), Vec::new());
    let (mut point_scores, mut point_labels) = (Vec::new(), Vec::new());
    let mut threshold = None;
    for test in &category.test {
        let (cloud, labels) = labelled_scan(&test.scan, test.ground_truth.as_deref())?;
        let inspection = detector.inspect(&cloud).with_context(|| format!("{}", test.scan.display()))?;
        object_scores.push(inspection.object_score as f32);
        threshold = inspection.threshold;
        object_labels.push(labels.iter().any(|&l| l));
        point_scores.extend_from_slice(&inspection.point_scores);
        point_labels.extend(labels);
        progress.inc(1);
    }
    let defective = object_labels.iter().filter(|&&d| d).count();
    if defective == 0 || defective == object_labels.len() {
        bail!(
            "{}: {} test scans, {defective} of them defective: AUROC and AUPR need good scans (no labels file, or all labels 0) and defective ones",
            category.name,
            object_labels.len()
        );
    }
    min_max_normalise(&mut point_scores);
    let metric = |m: Option<f64>| m.unwrap_or(f64::NAN);
    Ok(Row {
        category: category.name.clone(),
        detector: detector.name().to_string(),
        o_auroc: metric(auroc(&object_scores, &object_labels)),
        p_auroc: metric(auroc(&point_scores, &point_labels)),
        o_aupr: metric(average_precision(&object_scores, &object_labels)),
        p_aupr: metric(average_precision(&point_scores, &point_labels)),
        decisions: threshold.filter(|t| t.is_finite()).map(|t| Decisions::count(&object_scores, &object_labels, t)),
    })
}

/// The cloud to score and its per-point labels. When the GT file lists other points than the
/// scan (as Real3D-AD's can), its own points are scored, as the peers' evaluation does.
fn labelled_scan(scan: &Path, ground_truth: Option<&Path>) -> Result<(Cloud, Vec<bool>)> {
    let cloud = cloud::read(scan)?;
    let Some(gt_path) = ground_truth else {
        let normal = vec![false; cloud.len()];
        return Ok((cloud, normal));
    };
    let truth = dataset::read_ground_truth(gt_path)?;
    if truth.points.len() == cloud.len() && cloud.skipped() == 0 {
        return Ok((cloud, truth.labels));
    }
    let gt_cloud =
        Cloud::from_points(truth.points.iter().copied()).map_err(|problem| cloud::CloudError { path: gt_path.to_path_buf(), problem })?;
    if gt_cloud.skipped() > 0 {
        anyhow::bail!("{}: ground truth has non-finite points", gt_path.display());
    }
    Ok((gt_cloud, truth.labels))
}

fn mean_row(rows: &[Row], detector: &str) -> Row {
    let of: Vec<&Row> = rows.iter().filter(|r| r.detector == detector).collect();
    let mean = |f: fn(&Row) -> f64| of.iter().map(|r| f(r)).sum::<f64>() / of.len().max(1) as f64;
    Row {
        category: "mean".into(),
        detector: detector.into(),
        o_auroc: mean(|r| r.o_auroc),
        p_auroc: mean(|r| r.p_auroc),
        o_aupr: mean(|r| r.o_aupr),
        p_aupr: mean(|r| r.p_aupr),
        decisions: of.iter().map(|r| r.decisions).sum::<Option<Decisions>>(),
    }
}

impl std::iter::Sum for Decisions {
    fn sum<I: Iterator<Item = Decisions>>(iter: I) -> Decisions {
        iter.fold(Decisions::default(), Decisions::add)
    }
}

/// `rejected/of`, or `-` where no threshold is calibrated.
fn ratio(decisions: Option<Decisions>, part: fn(&Decisions) -> (usize, usize)) -> String {
    decisions.map_or("-".into(), |d| {
        let (n, of) = part(&d);
        format!("{n}/{of}")
    })
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<12} {:<10} {:>8} {:>8} {:>8} {:>8} {:>13} {:>9}",
        "category", "detector", "O-AUROC", "P-AUROC", "O-AUPR", "P-AUPR", "false-reject", "caught"
    );
    for r in rows {
        let [o_auroc, p_auroc, o_aupr, p_aupr] = r.metrics();
        let (rejected, caught) = (ratio(r.decisions, |d| (d.false_rejects, d.good)), ratio(r.decisions, |d| (d.caught, d.defective)));
        println!(
            "{:<12} {:<10} {o_auroc:>8.3} {p_auroc:>8.3} {o_aupr:>8.3} {p_aupr:>8.3} {rejected:>13} {caught:>9}",
            r.category, r.detector
        );
    }
    println!("false-reject: good scans rejected at the model's threshold; caught: defective scans rejected");
}

fn write_csv(path: &Path, rows: &[Row]) -> Result<()> {
    let mut text = String::from("category,detector,o_auroc,p_auroc,o_aupr,p_aupr,good,false_rejects,defective,caught\n");
    for r in rows {
        let counts = r.decisions.map(|d| [d.good, d.false_rejects, d.defective, d.caught].map(|n| n.to_string()));
        let mut fields = vec![r.category.clone(), r.detector.clone()];
        fields.extend(r.metrics().map(|m| format!("{m:.6}")));
        fields.extend(counts.unwrap_or_default());
        text += &(fields.join(",") + "\n");
    }
    std::fs::write(path, text).with_context(|| format!("{}: cannot write", path.display()))
}
