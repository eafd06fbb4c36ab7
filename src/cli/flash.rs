//! `edge-tool flash`: install a bundle as the box's model (or `--rollback` to the previous one),
//! with a progress bar and messages a technician can act on. Exit codes: see `docs/technician.md`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use dus_box::config::Config;
use dus_box::flash::{self, Progress, Step};

#[derive(Args)]
pub struct FlashArgs {
    /// The bundle file (from `edge-tool pack`).
    #[arg(required_unless_present = "rollback")]
    bundle: Option<PathBuf>,
    /// The box configuration (models root, trusted keys, runtime, daemon pid file).
    #[arg(long, default_value = super::DEFAULT_CONFIG)]
    config: PathBuf,
    /// Check everything and run the golden samples in a temporary folder; change nothing.
    #[arg(long, conflicts_with = "rollback")]
    dry_run: bool,
    /// Return to the previous model (the other slot).
    #[arg(long, conflicts_with = "bundle")]
    rollback: bool,
}

/// Progress on the terminal: a bar while steps run (hidden when not a terminal) and one line per
/// finished step.
struct Bar(ProgressBar);

impl Bar {
    fn new(steps: u64) -> Bar {
        let bar = ProgressBar::new(steps);
        bar.set_style(
            ProgressStyle::with_template("[{bar:30}] {pos}/{len} {msg} ({elapsed})").expect("a valid template").progress_chars("=> "),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(250));
        Bar(bar)
    }
}

impl Progress for Bar {
    fn begin(&self, what: &str) {
        self.0.set_message(what.to_string());
        if self.0.is_hidden() {
            println!("{what}...");
        }
    }

    fn done(&self, step: Step, detail: &str) {
        self.0.inc(1);
        self.0.suspend(|| println!("  done: {} ({detail})", step.name()));
    }

    fn warn(&self, message: &str) {
        self.0.suspend(|| eprintln!("WARNING: {message}"));
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

pub fn run(args: FlashArgs) -> Result<()> {
    let config = Config::load(&args.config)?;
    // A configuration mistake is exit code 1, not one of the bundle's codes.
    dus_box::bundle::Trust::from_config(&config.models).map_err(|m| anyhow::anyhow!("{}: {m}", args.config.display()))?;
    if args.rollback {
        let bar = Bar::new(2);
        let (slot, record, _) = flash::rollback(&config, &bar)?;
        drop(bar);
        println!(
            "Rolled back: {} {} (slot {slot}, installed {}) is the active model again.",
            record.model, record.version, record.installed
        );
        return Ok(());
    }
    let bundle = args.bundle.expect("clap requires a bundle without --rollback");
    let bar = Bar::new(if args.dry_run { 1 } else { Step::ALL.len() as u64 });
    let outcome = flash::flash(&bundle, &config, args.dry_run, &bar)?;
    drop(bar);
    for sample in &outcome.samples {
        println!("  {}", sample.describe());
    }
    match outcome.slot {
        None => println!("Dry run passed: {} {} would install on this box. Nothing was changed.", outcome.name, outcome.version),
        Some(slot) => {
            println!("Done: {} {} is the active model (slot {slot}).", outcome.name, outcome.version);
            println!("  {}", flash::reload_text(&outcome.reload));
            if let Ok((_, previous)) = dus_box::slots::check_standby(&config.models.root, slot.other()) {
                println!(
                    "  The previous model ({} {}) stays in slot {}: `edge-tool flash --rollback` returns to it.",
                    previous.model,
                    previous.version,
                    slot.other()
                );
            }
        }
    }
    Ok(())
}
