//! The `edge-tool` command line: argument parsing and one module per command. Commands only
//! orchestrate; the work happens in the crates. The workstation's commands (`eval`, `calibrate`,
//! `bench`, `keygen`, `pack`, `verify`) exist only with the `workstation` feature (on by default):
//! a box is built without it and carries no dataset, key-generation or packing code.

#[cfg(feature = "workstation")]
mod bench;
#[cfg(feature = "workstation")]
mod calibrate;
mod config;
#[cfg(feature = "workstation")]
mod eval;
mod flash;
mod history;
#[cfg(feature = "workstation")]
mod keygen;
mod models;
#[cfg(feature = "workstation")]
mod pack;
mod reload;
mod run;
mod score;
mod show;
#[cfg(feature = "workstation")]
mod verify;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use dus_core::detector::{Detector, DusNet, GoldenPart};
use dus_core::model::{Model, RuntimeConfig};

/// The model `score`, `calibrate` and `bench` use when none is given.
pub const DEFAULT_MODEL: &str = "models/bunny";

/// The box configuration `run`, `history`, `config check`, `flash`, `models` and `reload` read
/// when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "/etc/dus-edge/edge.toml";

#[derive(Parser)]
#[command(name = "edge-tool", version, about = "DUS-Net defect detection for 3D-scanned parts")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The line daemon: scans in, one journaled decision per part, reject pulses out.
    Run(run::RunArgs),
    /// What the daemon decided (its journal): rows, rejects, or --stats.
    History(history::HistoryArgs),
    /// The box configuration (edge.toml).
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Score scans: verdict, object score, anomalous regions, timings.
    Score(score::ScoreArgs),
    /// Draw a scan or heatmap as a picture: three views, scores, regions circled, verdict.
    Show(show::ShowArgs),
    /// Measure detectors on a labelled dataset (Anomaly-ShapeNet or Real3D-AD layout).
    #[cfg(feature = "workstation")]
    Eval(eval::EvalArgs),
    /// Set a model's threshold from scans of known-good parts.
    #[cfg(feature = "workstation")]
    Calibrate(calibrate::CalibrateArgs),
    /// Time every pipeline stage on a 16k- and a 120k-point scan.
    #[cfg(feature = "workstation")]
    Bench(bench::BenchArgs),
    /// Make an Ed25519 key pair for signing model bundles.
    #[cfg(feature = "workstation")]
    Keygen(keygen::KeygenArgs),
    /// Pack a model folder into a signed bundle, recording its answers on the golden samples.
    #[cfg(feature = "workstation")]
    Pack(pack::PackArgs),
    /// Check a bundle without installing it.
    #[cfg(feature = "workstation")]
    Verify(verify::VerifyArgs),
    /// Install a bundle as the box's model (A/B slots, smoke test, atomic switch), or --rollback.
    Flash(flash::FlashArgs),
    /// Show the model slots: version, hash, install time, smoke test.
    Models(models::ModelsArgs),
    /// Ask the running daemon to reload the active model.
    Reload(reload::ReloadArgs),
}

/// How ONNX Runtime runs (shared by every command that loads a model).
#[derive(Args, Clone)]
pub struct RuntimeArgs {
    /// Execution providers in order of preference: cpu, cuda, tensorrt.
    #[arg(long, value_delimiter = ',', default_value = "cpu", global = true)]
    providers: Vec<String>,
    /// Fail rather than fall back to CPU when a provider is unavailable.
    #[arg(long, global = true)]
    strict: bool,
    /// Path of libonnxruntime.so (default: ORT_DYLIB_PATH, then .ort/ from scripts/setup-ort.sh).
    #[arg(long, global = true)]
    ort_library: Option<PathBuf>,
    /// Threads ONNX Runtime may use.
    #[arg(long, global = true)]
    threads: Option<usize>,
}

impl RuntimeArgs {
    /// These options as they were given, for a child `edge-tool` (`bench --memory`).
    #[cfg(feature = "workstation")]
    fn to_args(&self) -> Vec<String> {
        let mut args = vec!["--providers".to_string(), self.providers.join(",")];
        if self.strict {
            args.push("--strict".into());
        }
        if let Some(library) = &self.ort_library {
            args.extend(["--ort-library".into(), library.display().to_string()]);
        }
        if let Some(threads) = self.threads {
            args.extend(["--threads".into(), threads.to_string()]);
        }
        args
    }

    fn config(&self) -> RuntimeConfig {
        let default = RuntimeConfig::default();
        RuntimeConfig {
            library: self.ort_library.clone(),
            providers: self.providers.clone(),
            strict: self.strict,
            threads: self.threads.unwrap_or(default.threads),
            engine_cache: None,
        }
    }
}

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
pub enum DetectorKind {
    /// DUS-Net through ONNX Runtime.
    DusNet,
    /// Golden-part comparison: ICP to the part's templates, distance to them.
    Reference,
}

impl DetectorKind {
    /// The detector's name in reports (`Detector::name`).
    #[cfg(feature = "workstation")]
    pub fn name(self) -> &'static str {
        match self {
            DetectorKind::DusNet => "dus-net",
            DetectorKind::Reference => "reference",
        }
    }
}

/// A progress bar of `len` `unit` on stderr; indicatif hides it when stderr is not a terminal, so
/// logs and pipes get the results only. Lines printed meanwhile go through `ProgressBar::suspend`.
#[cfg(feature = "workstation")]
fn progress_bar(len: u64, unit: &str) -> indicatif::ProgressBar {
    let template = format!("{{bar:40}} {{pos}}/{{len}} {unit}  {{msg}}  [{{elapsed}} < {{eta}}]");
    indicatif::ProgressBar::new(len).with_style(indicatif::ProgressStyle::with_template(&template).expect("a valid template"))
}

/// Loads the model in `dir` and the chosen detector on it.
fn detector(kind: DetectorKind, dir: &Path, runtime: &RuntimeConfig) -> Result<Box<dyn Detector>> {
    let model = Model::load(dir, runtime).with_context(|| format!("loading the model in {}", dir.display()))?;
    Ok(match kind {
        DetectorKind::DusNet => Box::new(DusNet::new(model)),
        DetectorKind::Reference => Box::new(GoldenPart::new(&model)),
    })
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::History(args) => history::run(args),
        Command::Config(command) => config::run(command),
        Command::Score(args) => score::run(args),
        Command::Show(args) => show::run(args),
        #[cfg(feature = "workstation")]
        Command::Eval(args) => eval::run(args),
        #[cfg(feature = "workstation")]
        Command::Calibrate(args) => calibrate::run(args),
        #[cfg(feature = "workstation")]
        Command::Bench(args) => bench::run(args),
        #[cfg(feature = "workstation")]
        Command::Keygen(args) => keygen::run(args),
        #[cfg(feature = "workstation")]
        Command::Pack(args) => pack::run(args),
        #[cfg(feature = "workstation")]
        Command::Verify(args) => verify::run(args),
        Command::Flash(args) => flash::run(args),
        Command::Models(args) => models::run(args),
        Command::Reload(args) => reload::run(args),
    }
}

/// The error and its causes on one line, each cause once: many of our errors already quote
/// their source ("x: cannot read: No such file"), and anyhow's `{:#}` would print it again.
pub fn describe_error(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain().map(ToString::to_string) {
        if !text.contains(&cause) {
            text += &if text.is_empty() { cause } else { format!(": {cause}") };
        }
    }
    text
}

/// The process exit code for an error: a bundle refusal's own code (10-15, see
/// `docs/technician.md`), else 1.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    error.chain().find_map(|e| e.downcast_ref::<dus_box::bundle::Error>()).map_or(1, |e| e.kind.exit_code())
}
