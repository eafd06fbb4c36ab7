//! `edge-tool pack`: a model folder (as `tools/export.py` writes it) into one signed bundle, with
//! the answers the model gives on its golden samples (`MODEL_DIR/samples/*.pcd`) recorded so the
//! box can check them after installing.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

use super::RuntimeArgs;
use dus_box::bundle::{self, keys::public_hex, BundleManifest, BundleModel, Compatibility, Golden, Limits};
use dus_core::model::Manifest;
use dus_workstation::{pack, signing};

#[derive(Args)]
pub struct PackArgs {
    /// Model folder: model.toml, the graphs, reference.pcd and samples/*.pcd.
    model_dir: PathBuf,
    /// Secret key from `edge-tool keygen` (PREFIX.key).
    #[arg(long, required_unless_present = "unsigned")]
    key: Option<PathBuf>,
    /// Make an unsigned bundle (boxes refuse it unless allow_unsigned = true: development only).
    #[arg(long, conflicts_with = "key")]
    unsigned: bool,
    /// The bundle file to write.
    #[arg(short, long)]
    out: PathBuf,
    /// Accepted object-score difference on the box, scan units (default: 1% of the threshold).
    #[arg(long)]
    tolerance: Option<f64>,
    /// dus-edge versions that may run the model, as a semver requirement (default: ^this version).
    #[arg(long)]
    runtime_range: Option<String>,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

pub fn run(args: PackArgs) -> Result<()> {
    let dir = &args.model_dir;
    let manifest = Manifest::load(dir)?;
    let key = args.key.as_deref().map(signing::read_secret).transpose().map_err(anyhow::Error::msg)?;
    let samples_dir = dir.join("samples");
    let mut samples: Vec<String> = std::fs::read_dir(&samples_dir)
        .with_context(|| format!("{}: cannot list the golden samples", samples_dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pcd"))
        .map(|n| format!("samples/{n}"))
        .collect();
    samples.sort();
    if samples.is_empty() {
        bail!("{}: no golden samples (*.pcd); add a few small scans with known answers", samples_dir.display());
    }

    let runtime = args.runtime.config();
    println!("Running {} on {} golden samples...", manifest.model.name, samples.len());
    let measured = dus_box::flash::measure(dir, &samples, &runtime).map_err(anyhow::Error::msg)?;
    let threshold = manifest.scoring.threshold;
    let tolerance = args.tolerance.unwrap_or((threshold * 0.01).max(1e-4));
    if !(tolerance.is_finite() && tolerance >= 0.0) {
        bail!("--tolerance must be a non-negative number");
    }
    let golden: Vec<Golden> = samples
        .iter()
        .zip(measured)
        .map(|(path, (verdict, object_score))| Golden { path: path.clone(), verdict, object_score, tolerance })
        .collect();
    for g in &golden {
        println!("  {}: {} (object score {:.4}, threshold {threshold:.4})", g.path, g.verdict, g.object_score);
        if (g.object_score - threshold).abs() <= tolerance {
            log::warn!("{}: the score is within the tolerance of the threshold; the verdict may flip on another machine", g.path);
        }
    }

    let range = args.runtime_range.unwrap_or_else(|| format!("^{}", env!("CARGO_PKG_VERSION")));
    semver::VersionReq::parse(&range).with_context(|| format!("--runtime-range '{range}' is not a semver requirement"))?;
    let providers = if runtime.strict { runtime.providers.clone() } else { vec!["cpu".to_string()] };
    let mut paths = vec![Manifest::FILE.to_string()];
    paths.extend([&manifest.files.down, &manifest.files.up, &manifest.files.reference].map(|f| f.path.clone()));
    paths.extend(samples);
    let bundle = BundleManifest {
        format: bundle::FORMAT,
        model: BundleModel {
            name: manifest.model.name.clone(),
            version: manifest.model.version.clone(),
            packed: bundle::rfc3339(std::time::SystemTime::now()),
        },
        runtime: Compatibility { dus_edge: range, providers },
        tensors: manifest.tensors.clone(),
        files: pack::describe(dir, &paths)?,
        golden,
    };
    pack::write(&args.out, dir, &bundle, key.as_ref())?;
    let check = bundle::inspect(&args.out, &Limits::default(), None).context("the bundle just written does not read back")?;
    println!(
        "Wrote {} ({} {}, {} files, {}), sha256 {}",
        args.out.display(),
        bundle.model.name,
        bundle.model.version,
        bundle.files.len(),
        match &key {
            Some(k) => format!("signed by {}", public_hex(&k.verifying_key())),
            None => "UNSIGNED".into(),
        },
        check.sha256
    );
    Ok(())
}
