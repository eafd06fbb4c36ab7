//! Soak benchmark: 1,000 scans through the real line daemon (`edge-tool run`), replayed at line
//! rate, with the simulated actuator. Reports what the note quotes: parts lost (must be 0),
//! resident memory after the first 100 parts and at the end (must stay flat), throughput, and
//! p50/p99 latency per stage from the journal (`edge-tool history --stats`).
//!
//!   cargo bench --bench soak                         # 1000 parts, one every 280 ms
//!   SOAK_PARTS=200 SOAK_INTERVAL_MS=0 cargo bench --bench soak

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeSet;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for the list of benchmarks; this one only runs on demand.
    }
    let (parts, interval) = (env_or("SOAK_PARTS", 1000), env_or("SOAK_INTERVAL_MS", 280));
    let scans = format!("[{:?}, {:?}]", support::sample("good.pcd"), support::sample("defect.pcd"));
    let line = support::LineBox::new(
        &support::repo().join("models/bunny"),
        &format!("[source]\nkind = \"replay\"\nscans = {scans}\nparts = {parts}\ninterval_ms = {interval}\n[line]\ndeadline_ms = 2000\nqueue = 4\n"),
    );
    println!("soak: {parts} parts, one every {interval} ms, through {}", line.config.display());
    let started = std::time::Instant::now();
    let (status, log) = line.start().wait_up_to(std::time::Duration::from_secs(parts * (interval + 2000) / 1000 + 120));
    assert!(status.success(), "{log}");
    let wall = started.elapsed().as_secs_f64();

    let rows = line.decisions();
    let ids: BTreeSet<&str> = rows.iter().map(|r| r.part.as_str()).collect();
    let rejects = rows.iter().filter(|r| r.is_reject()).count();
    println!("parts journaled: {} of {parts}, distinct ids {}, lost {}", rows.len(), ids.len(), parts as usize - ids.len());
    println!("rejects {rejects}, pulses {}", line.pulses().len());
    for memory in log.lines().filter(|l| l.contains("resident memory")) {
        println!("{}", memory.split("] ").last().unwrap_or(memory));
    }
    println!("wall time {wall:.1} s, {:.2} parts/s", rows.len() as f64 / wall);
    print!("{}", dus_edge::daemon::decision::summarize(&rows));
}
