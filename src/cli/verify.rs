//! `edge-tool verify`: check a bundle without installing it (structure, hashes, signature,
//! compatibility with this runtime); with `--config`, also that the box trusts its signer.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use dus_box::bundle::{self, Kind, Limits, Signer, Trust};
use dus_box::config::Config;

#[derive(Args)]
pub struct VerifyArgs {
    bundle: PathBuf,
    /// The box configuration whose trusted keys and runtime to check against.
    #[arg(long)]
    config: Option<PathBuf>,
}

pub fn run(args: VerifyArgs) -> Result<()> {
    let config = args.config.as_deref().map(Config::load).transpose()?;
    let trust = config.as_ref().map(|c| Trust::from_config(&c.models)).transpose().map_err(anyhow::Error::msg)?;
    let inspected = bundle::inspect(&args.bundle, &Limits::default(), trust.as_ref())?;
    let warnings = inspected.check_runtime(&config.map(|c| c.runtime).unwrap_or_default())?;
    let m = &inspected.manifest;
    println!("{}: {} {} (packed {})", args.bundle.display(), m.model.name, m.model.version, m.model.packed);
    println!("  sha256 {}", inspected.sha256);
    println!("  {} files, {} bytes, every sha256 matches", m.files.len(), m.files.iter().map(|f| f.size).sum::<u64>());
    match (&inspected.signer, &trust) {
        (Signer::Trusted(k), _) => println!("  signature: valid, by trusted key {k}"),
        (Signer::Unknown(k), None) => println!("  signature: valid, by key {k} (not checked against a box's trusted keys: no --config)"),
        (Signer::Unknown(k), Some(_)) => {
            println!("  signature: valid, by key {k}, NOT TRUSTED by this box (accepted only because allow_unsigned = true)")
        }
        (Signer::Unsigned, Some(_)) => {
            println!("  signature: NONE (unsigned bundle; accepted only because allow_unsigned = true)")
        }
        (Signer::Unsigned, None) => {
            // Without a box's configuration nothing can accept it: a production box refuses it.
            return Err(bundle::Error::new(
                Kind::BadSignature,
                format!(
                    "{}: unsigned bundle: a box installs it only with allow_unsigned = true (signer not checked: no --config)",
                    args.bundle.display()
                ),
            )
            .into());
        }
    }
    println!("  runtime: dus-edge {} (this is {}), tested on {:?}", m.runtime.dus_edge, env!("CARGO_PKG_VERSION"), m.runtime.providers);
    for g in &m.golden {
        println!("  golden {}: {} with object score {:.4} ± {:.4}", g.path, g.verdict, g.object_score, g.tolerance);
    }
    for w in warnings {
        println!("  warning: {w}");
    }
    println!("OK");
    Ok(())
}
