//! `edge-tool reload`: ask the running daemon to load the active model again (SIGHUP).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use dus_box::config::Config;
use dus_box::control::{self, Reload};

#[derive(Args)]
pub struct ReloadArgs {
    #[arg(long, default_value = super::DEFAULT_CONFIG)]
    config: PathBuf,
}

pub fn run(args: ReloadArgs) -> Result<()> {
    let config = Config::load(&args.config)?;
    match control::reload(&config.daemon.pid_file)? {
        Reload::Sent(pid) => println!("Asked the daemon (pid {pid}) to reload; it switches models before the next part."),
        Reload::NotRunning(why) => println!("{why}; nothing to reload (the daemon loads the active model when it starts)."),
    }
    Ok(())
}
