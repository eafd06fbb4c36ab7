//! `edge-tool keygen`: a signing key pair for bundles (run once, on the workstation).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use dus_box::bundle::keys::public_hex;
use dus_workstation::signing;

#[derive(Args)]
pub struct KeygenArgs {
    /// Writes PREFIX.key (secret, mode 0600: keep it on the workstation) and PREFIX.pub.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: KeygenArgs) -> Result<()> {
    let key = signing::generate()?;
    let (secret, public) =
        signing::write_pair(&key, &args.out).with_context(|| format!("writing the key pair {}.key/.pub", args.out.display()))?;
    println!("secret key: {} (keep it private; `edge-tool pack --key` signs with it)", secret.display());
    println!("public key: {} = {}", public.display(), public_hex(&key.verifying_key()));
    println!("Add the public key to each box's edge.toml:  [models] trusted_keys = [\"{}\"]", public_hex(&key.verifying_key()));
    Ok(())
}
