//! `edge-tool history`: what the daemon decided, from its journal: rows (text, JSON lines or a CSV
//! table), or with `--stats` counts, throughput and latency percentiles per stage.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use super::DEFAULT_CONFIG;
use dus_box::config::Config;
use dus_box::daemon::journal::{Journal, Query};
use dus_box::daemon::{decision, table};

#[derive(Args)]
pub struct HistoryArgs {
    /// The box configuration (for `[journal] path`).
    #[arg(long, default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// The journal file, instead of the configuration's.
    #[arg(long)]
    journal: Option<PathBuf>,
    /// Only rejected parts.
    #[arg(long)]
    rejects: bool,
    /// Only rejects whose pulse did not fire: missed (too late for its part), failed, or never
    /// fired because the daemon stopped first. Those parts went on down the line.
    #[arg(long)]
    missed: bool,
    /// Only decisions newer than this: 90s, 15m, 1h, 2d.
    #[arg(long, value_parser = humantime::parse_duration)]
    since: Option<Duration>,
    /// At most this many rows, the newest (default 50; with --stats or --csv, all).
    #[arg(long)]
    limit: Option<usize>,
    /// One JSON object per decision.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// A CSV table for a spreadsheet: a header row, one row per decision (default: all of them).
    #[arg(long, conflicts_with = "stats")]
    csv: bool,
    /// Counts, throughput and p50/p99 latency per stage instead of rows.
    #[arg(long)]
    stats: bool,
}

pub fn run(args: HistoryArgs) -> Result<()> {
    let path = match &args.journal {
        Some(path) => path.clone(),
        None => Config::load(&args.config)?.journal.path,
    };
    anyhow::ensure!(path.is_file(), "{}: no journal here (has the daemon run?)", path.display());
    let since = args.since.map(|d| decision::now().1 - d.as_millis() as i64);
    let limit = if args.stats || args.csv { args.limit } else { Some(args.limit.unwrap_or(50)) };
    let decisions =
        Journal::read_only(&path)?.query(&Query { rejects_only: args.rejects, since_unix_ms: since, limit, missed_only: args.missed })?;
    if args.stats {
        print!("{}", decision::summarize(&decisions));
    } else if args.csv {
        table::write_csv(&decisions, std::io::stdout().lock()).context("writing the CSV table")?;
    } else {
        for d in &decisions {
            if args.json {
                println!("{}", serde_json::to_string(d)?);
            } else {
                let pulse = match (d.is_reject(), d.pulse) {
                    (false, _) => String::new(),
                    (true, Some(state)) => format!("  pulse {}", state.as_str()),
                    (true, None) => "  pulse not fired".to_string(),
                };
                println!("{}  {:<16} {:<6} {:>7.0} ms  {}  [{}]{pulse}", d.time, d.part, d.action.as_str(), d.total_ms, d.reason, d.model);
            }
        }
    }
    Ok(())
}
