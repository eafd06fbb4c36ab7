//! Peak resident memory of one inspection per scan size: each size in a process of its own
//! (`edge-tool bench --sizes N --repeat 1 --peak-rss`), since a process's peak only ever grows.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::cli::RuntimeArgs;

const PEAK: &str = "peak resident memory:";

/// Runs one child per size and prints each one's peak.
pub fn report(model: &Path, scan: &Path, sizes: &[usize], runtime: &RuntimeArgs) -> Result<()> {
    let me = std::env::current_exe().context("finding edge-tool itself")?;
    for &size in sizes {
        let output = Command::new(&me)
            .arg("bench")
            .arg("--model")
            .arg(model)
            .arg("--scan")
            .arg(scan)
            .args(["--sizes", &size.to_string(), "--repeat", "1", "--peak-rss"])
            .args(runtime.to_args())
            .output()
            .with_context(|| format!("running {}", me.display()))?;
        let printed = String::from_utf8_lossy(&output.stdout);
        match printed.lines().find_map(|l| l.strip_prefix(PEAK)) {
            Some(line) => println!("{size:>7} points: peak resident memory (model loaded, one inspection):{line}"),
            // A size the model refuses (an incomplete scan) is reported, not fatal.
            None if !output.status.success() => {
                let why = String::from_utf8_lossy(&output.stderr);
                println!("{size:>7} points: not measured: {}", why.lines().last().unwrap_or("the bench failed"));
            }
            None => bail!("bench at {size} points printed no peak"),
        }
    }
    Ok(())
}

/// This process's peak resident memory (`VmHWM` of /proc/self/status), as `report` parses it.
pub fn peak_line() -> Result<String> {
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("/proc/self/status has no VmHWM")?;
    Ok(format!("{PEAK} {:.0} MiB", kib as f64 / 1024.0))
}
