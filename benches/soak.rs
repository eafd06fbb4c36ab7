//! Soak benchmark: 1,000 scans through the real line daemon (`edge-tool run`), replayed at line
//! rate, with the simulated actuator. Reports what the note quotes: parts lost (must be 0),
//! resident memory after the first 100 parts and at the end (must stay flat), throughput, and
//! p50/p99 latency per stage from the journal (`edge-tool history --stats`).
//!
//!   cargo bench --bench soak                         # 1000 parts, one every 280 ms
//!   SOAK_PARTS=200 SOAK_INTERVAL_MS=0 cargo bench --bench soak
//!   SOAK_HOSTILE=1 SOAK_INTERVAL_MS=1000 cargo bench --bench soak  # 5 % hostile scans mixed in
//!   SOAK_PUBLISH=1 SOAK_INTERVAL_MS=1000 cargo bench --bench soak  # publishing on, to a local mosquitto
//!
//! With `SOAK_HOSTILE=1`, 6 of every 120 scans are hostile (truncated, a lying POINTS header, a
//! COUNT that overflows, a terabyte claim, a x1000 scale, a quarter of a scan); the run asserts
//! one row per part, no restart, each hostile part rejected with its fault, and every good and
//! defective part decided as it is without them, except for load faults (deadline missed, queue
//! full: the line ran faster than the box), which are counted and printed.
//!
//! With `SOAK_PUBLISH=1` the daemon publishes every decision (`[publish]`) to a mosquitto started
//! on a loopback port (tests/support/mqtt.rs); the run asserts that every row was published, so
//! that its latency figures compare with a run without it.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeSet;

use dus_box::daemon::decision::FaultKind;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for the list of benchmarks; this one only runs on demand.
    }
    let (parts, interval) = (env_or("SOAK_PARTS", 1000), env_or("SOAK_INTERVAL_MS", 280));
    let hostile_dir = tempfile::tempdir().unwrap();
    let hostile = if env_or("SOAK_HOSTILE", 0) == 1 { hostile_scans(hostile_dir.path()) } else { Vec::new() };
    let scans = scan_list(&hostile);
    let list = format!("[{}]", scans.iter().map(|p| format!("{p:?}")).collect::<Vec<_>>().join(", "));
    let broker = (env_or("SOAK_PUBLISH", 0) == 1).then(support::mqtt::Broker::start);
    let publish =
        broker.as_ref().map_or(String::new(), |b| format!("[publish]\nhost = \"127.0.0.1\"\nport = {}\nbox = \"soak\"\n", b.port));
    let line = support::LineBox::new(
        &support::repo().join("models/bunny"),
        &format!("[source]\nkind = \"replay\"\nscans = {list}\nparts = {parts}\ninterval_ms = {interval}\n[line]\ndeadline_ms = 2000\nqueue = 4\n{publish}"),
    );
    let publishing = broker.as_ref().map_or("off".to_string(), |b| format!("on (mosquitto on 127.0.0.1:{})", b.port));
    println!("soak: {parts} parts, one every {interval} ms, publishing {publishing}, through {}", line.config.display());
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
    print!("{}", dus_box::daemon::decision::summarize(&rows));
    if broker.is_some() {
        let waiting = dus_box::daemon::journal::Journal::read_only(&line.path("journal.db")).and_then(|j| j.backlog()).unwrap();
        println!("published: {} of {} rows ({waiting} left waiting)", rows.len() as u64 - waiting, rows.len());
        assert_eq!(waiting, 0, "every row published");
    }
    if !hostile.is_empty() {
        check_hostile(&rows, &hostile, parts as usize);
    }
}

/// The hostile scans, written into `dir`, with the fault each must be rejected with.
fn hostile_scans(dir: &std::path::Path) -> Vec<(std::path::PathBuf, &'static str)> {
    let good = std::fs::read(support::sample("good.pcd")).unwrap();
    let points = dus_core::cloud::read(&support::sample("good.pcd")).unwrap().points().to_vec();
    let xyz = |points: &[[f32; 3]], scale: f32| {
        points.iter().map(|p| format!("{} {} {}\n", p[0] * scale, p[1] * scale, p[2] * scale)).collect::<String>()
    };
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let fuzz = |name: &str| support::repo().join("tests/data/fuzz").join(name);
    vec![
        (write("truncated.pcd", &good[..good.len() / 2]), "unreadable scan"),
        (fuzz("pcd-points-lie-short.pcd"), "unreadable scan"),
        (fuzz("pcd-count-overflow-binary.pcd"), "unreadable scan"),
        (fuzz("pcd-terabyte-claim-ascii.pcd"), "unreadable scan"),
        (write("x1000.xyz", xyz(&points, 1000.0).as_bytes()), "wrong extent"),
        (write("quarter.xyz", xyz(&points[..points.len() / 4], 1.0).as_bytes()), "incomplete scan"),
    ]
}

/// Good and defective scans alternating; with hostile ones, one of them every 20 scans.
fn scan_list(hostile: &[(std::path::PathBuf, &'static str)]) -> Vec<std::path::PathBuf> {
    let normal = [support::sample("good.pcd"), support::sample("defect.pcd")];
    if hostile.is_empty() {
        return normal.to_vec();
    }
    (0..20 * hostile.len()).map(|i| if i % 20 == 10 { hostile[i / 20].0.clone() } else { normal[i % 2].clone() }).collect()
}

/// Asserts what the hostile soak promises (see the module comment).
fn check_hostile(rows: &[dus_box::daemon::decision::Decision], hostile: &[(std::path::PathBuf, &'static str)], parts: usize) {
    assert_eq!(rows.len(), parts, "one row per part");
    let origin = |path: &std::path::Path| format!("replay {}", path.display());
    let (mut wrong, mut load) = (Vec::new(), Vec::new());
    let mut hostile_rows = 0;
    for row in rows {
        let load_fault = matches!(row.fault_kind, Some(FaultKind::DeadlineMissed | FaultKind::QueueFull));
        let expected = match hostile.iter().find(|(path, _)| origin(path) == row.origin) {
            Some((_, fault)) => {
                hostile_rows += 1;
                row.fault.as_deref().is_some_and(|f| f.starts_with(fault))
            }
            None if row.origin == origin(&support::sample("good.pcd")) => row.fault.is_none() && !row.is_reject(),
            None => row.fault.is_none() && row.is_reject(),
        };
        let line = format!("{} {} {} {:?}", row.part, row.origin, row.action.as_str(), row.fault);
        match (expected, load_fault) {
            (true, _) => {}
            (false, true) => load.push(line),
            (false, false) => wrong.push(line),
        }
    }
    println!("hostile parts {hostile_rows} of {parts}, each rejected with its fault; normal parts with a load fault: {}", load.len());
    for line in &load {
        println!("  load fault: {line}");
    }
    println!("parts decided otherwise than expected: {}", wrong.len());
    assert!(wrong.is_empty(), "{wrong:#?}");
}
