//! `edge-tool models`: both model slots (version, bundle hash, install time, smoke test, file
//! check) and which one the daemon loads.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use dus_box::config::Config;
use dus_box::slots::{self, InstallRecord, Slot};

#[derive(Args)]
pub struct ModelsArgs {
    #[arg(long, default_value = super::DEFAULT_CONFIG)]
    config: PathBuf,
}

pub fn run(args: ModelsArgs) -> Result<()> {
    let config = Config::load(&args.config)?;
    let root = &config.models.root;
    let active = slots::active_slot(root);
    let resolved = slots::resolve_active(root);
    if let Ok(r) = &resolved {
        if r.slot.is_none() {
            println!("{} is a single model folder, no slots (development setup); the daemon loads it.", root.display());
            println!("`edge-tool flash` creates the slots there.");
            return Ok(());
        }
    }
    println!("Models under {}:", root.display());
    for slot in Slot::BOTH {
        let dir = slot.dir(root);
        let mark = if active == Some(slot) { " (active)" } else { "" };
        if !dir.is_dir() {
            println!("  slot {slot}{mark}: empty");
            continue;
        }
        let files = match slots::check_model_dir(&dir) {
            Ok(_) => "files ok".to_string(),
            Err(why) => format!("BROKEN: {why}"),
        };
        match InstallRecord::read(&dir) {
            Some(r) => {
                let smoke = if r.smoke_test.passed { "passed" } else { "FAILED" };
                println!("  slot {slot}{mark}: {} {}", r.model, r.version);
                println!("      bundle sha256 {}  installed {}  smoke test {smoke}  {files}", r.bundle_sha256, r.installed);
                println!("      signer {}", r.signer);
                for line in &r.smoke_test.details {
                    println!("      {line}");
                }
            }
            None => println!("  slot {slot}{mark}: install did not finish (no install record); {files}"),
        }
    }
    let resolved = resolved?;
    if let Some(why) = &resolved.fallback {
        println!("WARNING: {why}");
    }
    println!("The daemon loads {}.", resolved.dir.display());
    Ok(())
}
