//! `edge-tool run`: the line daemon, from the box's configuration or, with `--demo`, on the
//! shipped default model with replayed sample scans and a simulated actuator.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;

use super::{DEFAULT_CONFIG, DEFAULT_MODEL};
use dus_box::config::{ActuatorConfig, Config, SourceKind, SourceSection};
use dus_box::daemon::{self, Flags};

#[derive(Args)]
pub struct RunArgs {
    /// The box configuration.
    #[arg(long, default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// Run the whole loop on the shipped default model: the sample scans replayed through a
    /// simulated scanner, rejects sent to a simulated actuator, a journal in a temporary folder.
    #[arg(long, conflicts_with = "config")]
    demo: bool,
}

/// The model's golden samples the demo replays: a good part and a defective one.
const DEMO_SAMPLES: [&str; 2] = ["samples/good.pcd", "samples/defect.pcd"];

pub fn run(args: RunArgs) -> Result<()> {
    let config = if args.demo { demo_config()? } else { Config::load(&args.config)? };
    let flags = Flags::default();
    flags.install_signal_handlers()?;
    let summary = daemon::run(&config, flags)?;
    println!(
        "stopped: {} parts decided, {} rejected ({} of them faults), {} reject pulses; peak resident memory {} MiB",
        summary.parts,
        summary.rejects,
        summary.faults,
        summary.pulses.len(),
        summary.peak_rss >> 20
    );
    if args.demo {
        println!("journal: {}  (edge-tool history --journal {0})", config.journal.path.display());
    }
    Ok(())
}

fn demo_config() -> Result<Config> {
    let model = Path::new(DEFAULT_MODEL);
    anyhow::ensure!(model.is_dir(), "{}: the default model is not here; run the demo from the repository's top folder", model.display());
    let dir = std::env::temp_dir().join(format!("dus-edge-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut config = Config::default();
    config.models.root = model.to_path_buf();
    let mut scans: Vec<PathBuf> = DEMO_SAMPLES.iter().map(|s| model.join(s)).collect();
    scans.push(cut_off_copy(&scans[0], &dir)?);
    config.source = SourceSection { kind: SourceKind::Replay, scans: Some(scans), interval_ms: Some(300), ..SourceSection::default() };
    config.actuator = ActuatorConfig { delay_ms: 200, record: Some(dir.join("pulses.jsonl")), ..ActuatorConfig::default() };
    // The demo runs on whatever machine is at hand, often a busy one: a deadline that a loaded
    // laptop misses would show faults instead of the verdicts it is there to show.
    config.line.deadline_ms = 10_000;
    config.journal.path = dir.join("journal.db");
    config.journal.heatmaps = dir.join("heatmaps");
    config.daemon.pid_file = dir.join("daemon.pid");
    println!(
        "demo: a good part, a defective part and a scan cut off in transfer, through {} (journal, heatmaps and pulses in {})",
        model.display(),
        dir.display()
    );
    Ok(config)
}

/// A copy of `scan` that stops halfway, as when a transfer breaks: the daemon must reject it.
fn cut_off_copy(scan: &Path, dir: &Path) -> Result<PathBuf> {
    let bytes = std::fs::read(scan)?;
    let copy = dir.join("cut-off.pcd");
    std::fs::write(&copy, &bytes[..bytes.len() / 2])?;
    Ok(copy)
}
