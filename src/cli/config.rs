//! `edge-tool config check`: validates the box configuration and what it points at, without
//! touching the scanner or the GPIO line a running daemon may hold.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use super::DEFAULT_CONFIG;
use dus_box::config::{Config, PublishConfig, SourceConfig, WebConfig};
use dus_box::daemon::publish::Settings;
use dus_box::daemon::web::Token;
use dus_box::slots;

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Check edge.toml: every key, the model root, the scan source, the status page's token, the
    /// MQTT publisher's files.
    Check(CheckArgs),
}

#[derive(Args)]
pub struct CheckArgs {
    #[arg(long, default_value = DEFAULT_CONFIG)]
    config: PathBuf,
}

pub fn run(command: ConfigCommand) -> Result<()> {
    let ConfigCommand::Check(args) = command;
    let config = Config::load(&args.config)?;
    let model = slots::resolve_active(&config.models.root)?;
    println!("{}: valid", args.config.display());
    println!("  model:    {}{}", model.dir.display(), model.fallback.as_deref().map(|f| format!(" (FALLBACK: {f})")).unwrap_or_default());
    println!("  source:   {}", source_line(&config.source.spec().map_err(anyhow::Error::msg)?));
    let a = &config.actuator;
    println!(
        "  actuator: {:?} line {} active-{} pulse {} ms after {} ms",
        a.kind,
        a.line,
        if a.active_high { "high" } else { "low" },
        a.pulse_ms,
        a.delay_ms
    );
    println!("  line:     deadline {} ms, queue {}", config.line.deadline_ms, config.line.queue);
    println!(
        "  journal:  {} (heatmaps {}, {} MiB)",
        config.journal.path.display(),
        config.journal.heatmaps.display(),
        config.journal.heatmap_budget_mb
    );
    println!("  web:      {}", web_line(&config.web)?);
    println!("  publish:  {}", publish_line(&config.publish)?);
    Ok(())
}

/// The MQTT publisher's line; a password, CA or client file the daemon would refuse is an error here too.
fn publish_line(publish: &PublishConfig) -> Result<String> {
    if publish.host.is_none() {
        return Ok("off".to_string());
    }
    let settings = Settings::load(publish).map_err(anyhow::Error::msg)?;
    let tls = if settings.tls { "TLS" } else { "no TLS" };
    let user = publish.username.as_deref().map_or("no user name".to_string(), |u| format!("user {u}"));
    Ok(format!(
        "mqtt://{} ({tls}, {user}), topics {}, backlog up to {} rows",
        settings.address, settings.topics.decision, publish.max_backlog
    ))
}

/// The status page's line; a token file the daemon would refuse is an error here too.
fn web_line(web: &WebConfig) -> Result<String> {
    let Some(listen) = web.listen else { return Ok("off".to_string()) };
    let token = match &web.token_file {
        Some(path) => {
            Token::load(path).map_err(anyhow::Error::msg)?;
            format!("token from {}", path.display())
        }
        None => "no token (loopback only)".to_string(),
    };
    Ok(format!("http://{listen}/, {token}, {} latest rejects", web.rejects))
}

fn source_line(source: &SourceConfig) -> String {
    match source {
        SourceConfig::Spool { dir, settle_ms } => {
            let state = if dir.is_dir() { "exists" } else { "missing: the daemon creates it" };
            format!("spool {} ({state}), settle {settle_ms} ms", dir.display())
        }
        SourceConfig::Serial { port, baud, max_points } => {
            let state = if port.exists() { "present" } else { "absent now: the daemon waits for it" };
            format!("serial {} ({state}) at {baud} baud, frames up to {max_points} points", port.display())
        }
        SourceConfig::Replay { scans, interval_ms, parts } => {
            format!("replay of {} files every {interval_ms} ms, {parts} parts", scans.len())
        }
    }
}
