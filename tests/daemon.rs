//! The line daemon end to end: the real binary, the shipped model, scans into the spool, and
//! what it decided read back from its journal and from the simulated actuator's pulse record.

mod support;

use std::collections::BTreeMap;

use support::{drop_scan, model_that_fails, repo, sample, LineBox};

fn bunny() -> std::path::PathBuf {
    repo().join("models/bunny")
}

fn spool_box(extra: &str) -> LineBox {
    let dir = tempfile::tempdir().unwrap().keep();
    LineBox::new(&bunny(), &format!("[source]\nkind = \"spool\"\ndir = {:?}\nsettle_ms = 0\n{extra}", dir.join("spool")))
}

fn spool_of(line: &LineBox) -> std::path::PathBuf {
    let config = dus_box::config::Config::load(&line.config).unwrap();
    match config.source.spec().unwrap() {
        dus_box::config::SourceConfig::Spool { dir, .. } => dir,
        _ => unreachable!(),
    }
}

/// A running daemon on a spool holding `n` good scans named `<prefix>-<i>.pcd`, once the first
/// of them is decided.
fn busy_spool(sections: &str, prefix: &str, n: usize) -> (LineBox, std::path::PathBuf, support::Daemon) {
    let line = spool_box(sections);
    let spool = spool_of(&line);
    let good = std::fs::read(sample("good.pcd")).unwrap();
    let daemon = line.start();
    for i in 1..=n {
        drop_scan(&spool, &format!("{prefix}-{i}.pcd"), &good);
    }
    line.wait_for_rows(1, &daemon);
    (line, spool, daemon)
}

/// How many rows each part id has.
fn rows_per_part(rows: &[dus_box::daemon::decision::Decision]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for row in rows {
        *counts.entry(row.part.clone()).or_insert(0) += 1;
    }
    counts
}

/// GET `path` from the metrics address the daemon logged.
fn http_get(log: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let address = log.split("metrics on http://").nth(1).and_then(|r| r.split('/').next()).unwrap_or_else(|| panic!("{log}"));
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn spool_scans_each_get_one_decision_and_rejects_get_a_pulse() {
    let line = spool_box("[line]\ndeadline_ms = 60000\n[metrics]\nlisten = \"127.0.0.1:0\"\n");
    let spool = spool_of(&line);
    let daemon = line.start();
    let good = std::fs::read(sample("good.pcd")).unwrap();
    drop_scan(&spool, "P-001.pcd", &good);
    drop_scan(&spool, "P-002.pcd", &std::fs::read(sample("defect.pcd")).unwrap());
    drop_scan(&spool, "P-003.pcd", &good[..good.len() / 3]);
    drop_scan(&spool, "P-004.xyz", b"1 2 3\n4 5 6\n7 8 9\n");
    drop_scan(&spool, "P-005.xyz", b"nan 0 0\n0 inf 0\n");
    let rows = line.wait_for_rows(5, &daemon);
    let metrics = http_get(&daemon.log(), "/metrics");
    assert!(metrics.contains("dus_edge_parts_total{action=\"reject\",cause=\"defect\"} 1"), "{metrics}");
    assert!(metrics.contains("dus_edge_model_info{model=\"bunny 1.0.0\"} 1"), "{metrics}");
    assert!(http_get(&daemon.log(), "/healthz").starts_with("HTTP/1.1 200"));
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");

    let by_part: BTreeMap<&str, _> = rows.iter().map(|r| (r.part.as_str(), r)).collect();
    assert_eq!(rows_per_part(&rows).values().copied().collect::<Vec<_>>(), [1; 5], "{rows:#?}");
    assert_eq!(by_part["P-001"].action.as_str(), "pass", "{:?}", by_part["P-001"]);
    assert!(by_part["P-002"].is_reject() && by_part["P-002"].fault.is_none(), "{:?}", by_part["P-002"]);
    let heatmap = std::path::PathBuf::from(by_part["P-002"].heatmap.as_deref().unwrap());
    assert!(heatmap.exists(), "{heatmap:?}");
    let picture = image::open(heatmap.with_extension("png")).expect("the reject's picture beside its heatmap").to_rgb8();
    assert_eq!(picture.dimensions(), (dus_box::render::WIDTH, dus_box::render::HEIGHT));
    use dus_box::daemon::decision::FaultKind;
    for (part, needle, kind) in [
        ("P-003", "unreadable scan", FaultKind::UnreadableScan),
        ("P-004", "too few points", FaultKind::TooFewPoints),
        ("P-005", "no finite points", FaultKind::UnreadableScan),
    ] {
        let row = by_part[part];
        assert!(row.is_reject() && row.fault.as_deref().is_some_and(|f| f.contains(needle)), "{part}: {row:?}");
        assert_eq!(row.fault_kind, Some(kind), "{part}: {row:?}");
    }
    assert_eq!((by_part["P-001"].fault_kind, by_part["P-002"].fault_kind), (None, None));
    for row in &rows {
        assert_eq!(row.model, "bunny 1.0.0");
        assert!(row.total_ms > 0.0 && row.stages_ms[0].0 == "intake");
    }
    // One pulse per reject, in decision order, each at least the configured delay after its decision.
    let pulses = line.pulses();
    let rejects: Vec<_> = rows.iter().filter(|r| r.is_reject()).collect();
    assert_eq!(pulses.iter().map(|p| p.part.as_str()).collect::<Vec<_>>(), rejects.iter().map(|r| r.part.as_str()).collect::<Vec<_>>());
    for (pulse, row) in pulses.iter().zip(&rejects) {
        assert!(pulse.unix_ms >= row.unix_ms + 100, "{pulse:?} vs {row:?}");
        assert_eq!((pulse.line, pulse.length_ms, pulse.active_high), (23, 20, true));
    }
    let count = |sub: &str| std::fs::read_dir(spool.join(sub)).unwrap().count();
    assert_eq!((count("work"), count("done"), count("failed")), (0, 2, 3));
    assert!(log.contains("5 parts decided, 4 rejected (3 of them faults), 4 reject pulses"), "{log}");
}

#[test]
fn a_missed_deadline_rejects_the_part_with_the_reason() {
    let scans = format!("[{:?}, {:?}]", sample("good.pcd"), sample("good.pcd"));
    let line = LineBox::new(&bunny(), &format!("[source]\nkind = \"replay\"\nscans = {scans}\n[line]\ndeadline_ms = 5\n"));
    let (status, log) = line.start().wait();
    assert!(status.success(), "{log}");
    let rows = line.decisions();
    assert_eq!(rows.len(), 2, "{log}");
    for row in &rows {
        assert!(row.is_reject() && row.fault.as_deref().unwrap().starts_with("deadline missed"), "{row:?}");
    }
    assert_eq!(line.pulses().len(), 2);
}

#[test]
fn a_model_failing_at_run_time_rejects_every_part_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_that_fails(dir.path());
    let line = LineBox::new(&model, &format!("[source]\nkind = \"replay\"\nscans = [{:?}]\nparts = 3\n", sample("good.pcd")));
    let (status, log) = line.start().wait();
    assert!(status.success(), "{log}");
    let rows = line.decisions();
    assert_eq!(rows.len(), 3, "{log}");
    for row in &rows {
        let fault = row.fault.as_deref().unwrap_or_default();
        assert!(row.is_reject() && fault.starts_with("model error") && fault.contains("down.onnx"), "{row:?}");
    }
    assert_eq!(line.pulses().len(), 3);
}

#[test]
fn a_full_queue_rejects_the_overflow_instead_of_dropping_it() {
    let scans = format!("[{:?}]", sample("good.pcd"));
    let line = LineBox::new(
        &bunny(),
        &format!("[source]\nkind = \"replay\"\nscans = {scans}\nparts = 8\n[line]\nqueue = 1\ndeadline_ms = 60000\n"),
    );
    let (status, log) = line.start().wait();
    assert!(status.success(), "{log}");
    let rows = line.decisions();
    assert_eq!(rows_per_part(&rows).len(), 8, "{log}");
    assert!(rows.iter().all(|r| rows_per_part(&rows)[&r.part] == 1));
    let full = rows.iter().filter(|r| r.fault.as_deref().is_some_and(|f| f.starts_with("queue full"))).count();
    assert!(full >= 1, "replay at full speed into a queue of one must overflow: {rows:#?}");
    assert!(log.contains("back-pressure"), "{log}");
    assert_eq!(line.pulses().len(), rows.iter().filter(|r| r.is_reject()).count());
}

#[test]
fn a_killed_daemon_restarts_without_losing_or_repeating_a_part() {
    let (line, spool, daemon) = busy_spool("[line]\ndeadline_ms = 60000\n", "K", 4);
    daemon.signal(libc::SIGKILL);
    let (status, _) = daemon.wait();
    assert!(!status.success());
    let daemon = line.start();
    let rows = line.wait_for_rows(4, &daemon);
    std::thread::sleep(std::time::Duration::from_millis(500)); // a duplicate would show up now
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
    let rows = if line.decisions().len() > rows.len() { line.decisions() } else { rows };
    assert_eq!(rows_per_part(&rows), (1..=4).map(|n| (format!("K-{n}"), 1)).collect(), "{rows:#?}\n{log}");
    // The part being read or inspected at the kill (at most one in each thread) is rejected as
    // crashed and never read again; parts that only waited in the queue are inspected again.
    let crashed: Vec<_> = rows.iter().filter(|r| r.fault.is_some()).collect();
    assert!(crashed.len() <= 2, "{crashed:#?}");
    for row in &crashed {
        assert!(row.fault.as_deref().unwrap().starts_with("crashed during inspection: the daemon stopped while"), "{row:?}");
        assert_eq!(row.pulse, Some(dus_box::daemon::decision::PulseState::Missed), "the part left long ago: {row:?}");
    }
    let count = |sub: &str| std::fs::read_dir(spool.join(sub)).unwrap().count();
    assert_eq!((count("work"), count("done"), count("failed")), (0, 4 - crashed.len(), crashed.len()));
}

/// `edge-tool <args>`: (success, stdout + stderr).
fn edge_tool(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(support::EXE).args(args).current_dir(repo()).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
}

#[test]
fn a_scan_that_stalls_the_daemon_is_rejected_after_the_restart_and_never_read_again() {
    let line = spool_box("");
    let spool = spool_of(&line);
    let config = std::fs::read_to_string(&line.config).unwrap();
    // A 3,000,000-line XYZ keeps the reader busy far past a 2 ms stall limit.
    std::fs::write(&line.config, format!("{config}[line]\ndeadline_ms = 1\nstall_ms = 2\n")).unwrap();
    drop_scan(&spool, "HUGE-1.xyz", "1.5 2.5 3.5\n".repeat(3_000_000).as_bytes());
    let (status, log) = line.start().wait();
    assert!(!status.success() && log.contains("stalled: acquisition (reading a scan)"), "{log}");
    assert!(line.decisions().is_empty(), "no decision was made before the exit");

    std::fs::write(&line.config, format!("{config}[line]\ndeadline_ms = 60000\n")).unwrap();
    let daemon = line.start();
    drop_scan(&spool, "GOOD-2.pcd", &std::fs::read(sample("good.pcd")).unwrap());
    let rows = line.wait_for_rows(2, &daemon);
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
    let summary: Vec<_> = rows.iter().map(|r| (r.part.as_str(), r.action.as_str())).collect();
    assert_eq!(summary, [("HUGE-1", "reject"), ("GOOD-2", "pass")], "{log}");
    let fault = rows[0].fault.as_deref().unwrap();
    assert!(fault.starts_with("crashed during inspection: the daemon stopped while reading its scan"), "{fault}");
    let count = |sub: &str| std::fs::read_dir(spool.join(sub)).unwrap().count();
    assert_eq!((count("work"), count("done"), count("failed")), (0, 1, 1));
    let journal = line.path("journal.db");
    let (ok, missed) = edge_tool(&["history", "--journal", journal.to_str().unwrap(), "--missed"]);
    assert!(ok && missed.contains("HUGE-1") && missed.contains("pulse missed") && !missed.contains("GOOD-2"), "{missed}");
    let (ok, stats) = edge_tool(&["history", "--journal", journal.to_str().unwrap(), "--stats"]);
    assert!(ok && stats.contains("crashed during inspection 1") && stats.contains("1 reject pulses not fired"), "{stats}");
}

#[test]
fn a_pulse_too_late_for_its_part_is_not_fired_and_is_journaled_as_missed() {
    let tiny = tempfile::NamedTempFile::with_suffix(".xyz").unwrap();
    std::fs::write(tiny.path(), b"1 2 3\n4 5 6\n7 8 9\n").unwrap();
    // Ten fast rejects (too few points) in a burst; each simulated pulse lasts 1 s, so every
    // pulse after the first would come later than 5 ms after its moment as long as the ten
    // decisions take under a second together. (With the box's 20 ms pulses that held only while
    // each journal commit, an fsync, took under 15 ms, which a loaded disk does not promise.)
    let sections = format!(
        "[source]\nkind = \"replay\"\nscans = [{:?}]\nparts = 10\n[line]\nmax_pulse_lag_ms = 5\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
        tiny.path()
    );
    let line = LineBox::new(&bunny(), &sections);
    let config = std::fs::read_to_string(&line.config).unwrap();
    std::fs::write(&line.config, config.replace("pulse_ms = 20\n", "pulse_ms = 1000\n")).unwrap();
    let (status, log) = line.start().wait();
    assert!(status.success(), "{log}");
    let rows = line.decisions();
    assert_eq!(rows.len(), 10, "{log}");
    use dus_box::daemon::decision::PulseState;
    let fired: Vec<&str> = rows.iter().filter(|r| r.pulse == Some(PulseState::Fired)).map(|r| r.part.as_str()).collect();
    let missed = rows.iter().filter(|r| r.pulse == Some(PulseState::Missed)).count();
    assert!(rows.iter().all(|r| r.is_reject() && r.pulse.is_some()), "every reject's pulse is settled: {rows:#?}");
    assert!(missed >= 8 && fired.len() + missed == 10, "fired {fired:?}, missed {missed}");
    assert_eq!(line.pulses().iter().map(|p| p.part.as_str()).collect::<Vec<_>>(), fired, "only fired pulses reached the actuator");
    assert!(log.contains("missed actuation") && log.contains("max_pulse_lag_ms 5"), "{log}");
    for row in rows.iter().filter(|r| r.pulse == Some(PulseState::Fired)) {
        let pulsed = row.pulse_unix_ms.unwrap();
        assert!(pulsed >= row.unix_ms + 100, "fired after the 100 ms travel delay: {row:?}");
    }
    let journal = line.path("journal.db");
    let (ok, listed) = edge_tool(&["history", "--journal", journal.to_str().unwrap(), "--missed"]);
    assert!(ok && listed.lines().count() == missed, "{listed}");
}

#[test]
fn config_check_names_the_problem_and_passes_a_good_file() {
    let line = spool_box("");
    let path = line.config.to_str().unwrap();
    let (ok, text) = edge_tool(&["config", "check", "--config", path]);
    assert!(ok && text.contains("valid") && text.contains("spool"), "{text}");
    let good = std::fs::read_to_string(&line.config).unwrap();
    let journal_folder = line.path("heatmaps-folder");
    std::fs::create_dir_all(&journal_folder).unwrap();
    let journal_line = format!("path = {:?}", line.path("journal.db"));
    for (edit, key) in [
        ("[line]\ndeadline = 5\n".to_string(), "deadline"),
        ("[line]\nqueue = 9223372036854775807\n".into(), "line.queue = 9223372036854775807 is out of range"),
        ("[line]\nstall_ms = 1000\ndeadline_ms = 5000\n".into(), "line.stall_ms"),
        ("[line]\nmax_pulse_lag_ms = 0\n".into(), "line.max_pulse_lag_ms"),
        ("[runtime]\nproviders = [\"quantum\"]\n".into(), "unknown execution provider 'quantum'"),
        ("[models]\ntrusted_keys = [\"zz\"]\n".into(), "models.trusted_keys[0]"),
    ] {
        // Keys added to an existing section replace or join its lines; a duplicate table is invalid TOML, so edit in place.
        let text = merge(&good, &edit);
        std::fs::write(&line.config, text).unwrap();
        let (ok, message) = edge_tool(&["config", "check", "--config", path]);
        assert!(!ok && message.contains(key) && message.contains("edge.toml"), "{edit}: {message}");
    }
    for (from, to, key) in [
        ("delay_ms = 100", "delay_ms = 9223372036854775807".to_string(), "actuator.delay_ms = 9223372036854775807 is out of range"),
        ("pulse_ms = 20", "pulse_ms = 9223372036854775807".into(), "actuator.pulse_ms"),
        ("threads = 1", "threads = 0".into(), "runtime.threads = 0"),
        (
            journal_line.as_str(),
            format!("{journal_line}\nheatmap_budget_mb = 17592186044416"),
            "journal.heatmap_budget_mb = 17592186044416",
        ),
        (journal_line.as_str(), format!("path = {journal_folder:?}"), "is a folder"),
    ] {
        std::fs::write(&line.config, good.replace(from, &to)).unwrap();
        let (ok, message) = edge_tool(&["config", "check", "--config", path]);
        assert!(!ok && message.contains(key), "{to}: {message}");
    }
    let serial = format!("{}[source]\nkind = \"serial\"\nport = \"/dev/ttyUSB0\"\nbaud = 0\n", &good[..good.find("[source]").unwrap()]);
    std::fs::write(&line.config, serial).unwrap();
    let (ok, message) = edge_tool(&["config", "check", "--config", path]);
    assert!(!ok && message.contains("source.baud = 0 is out of range"), "{message}");
    let (ok, message) = edge_tool(&["config", "check", "--config", "/dev/zero"]);
    assert!(!ok && message.contains("not a regular file"), "{message}");
    let (ok, message) = edge_tool(&["config", "check", "--config", "/nonexistent/edge.toml"]);
    assert!(!ok && message.matches("No such file or directory").count() == 1, "each cause once: {message}");
}

/// `base` with the sections of `edit` merged in (keys of a section already in `base` are
/// appended under its header).
fn merge(base: &str, edit: &str) -> String {
    let mut text = base.to_string();
    let mut section = String::new();
    for line in edit.lines() {
        if line.starts_with('[') {
            section = line.to_string();
            if !text.contains(&format!("{section}\n")) {
                text += &format!("{section}\n");
            }
        } else {
            text = text.replacen(&format!("{section}\n"), &format!("{section}\n{line}\n"), 1);
        }
    }
    text
}

#[test]
fn serial_frames_each_get_one_decision_also_across_an_unplugged_port() {
    use dus_box::daemon::frame::encode;
    use support::pty::{point_port_at, Pty};
    let dir = tempfile::tempdir().unwrap();
    let port = dir.path().join("scanner");
    let pty = Pty::open();
    point_port_at(&port, &pty);
    let line = LineBox::new(
        &bunny(),
        &format!("[source]\nkind = \"serial\"\nport = {port:?}\nmax_points = 100000\n[line]\ndeadline_ms = 60000\n"),
    );
    let daemon = line.start();
    let points = |name: &str| dus_core::cloud::read(&sample(name)).unwrap().points().to_vec();
    let (good, defect) = (points("good.pcd"), points("defect.pcd"));
    let mut corrupted = encode("S-2", &good);
    corrupted[5000] ^= 0x01;
    // 16,000-point frames are larger than the pty's buffer: written while the daemon reads.
    let frames = [b"line noise".to_vec(), encode("S-1", &good), corrupted].concat();
    let writer = pty.send_in_background(frames);
    line.wait_for_rows(2, &daemon);
    writer.join().unwrap();

    // Unplugged, then plugged back in as a new device behind the same name.
    drop(pty);
    std::fs::remove_file(&port).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let pty = Pty::open();
    point_port_at(&port, &pty);
    let writer = pty.send_in_background(encode("S-3", &defect));
    let rows = line.wait_for_rows(3, &daemon);
    writer.join().unwrap();
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");

    let summary: Vec<(&str, &str, Option<&str>)> = rows.iter().map(|r| (r.part.as_str(), r.action.as_str(), r.fault.as_deref())).collect();
    assert_eq!(summary[0], ("S-1", "pass", None), "{log}");
    assert!(summary[1].0 == "S-2" && summary[1].2.is_some_and(|f| f.contains("CRC")), "{summary:?}");
    assert_eq!(summary[2], ("S-3", "reject", None), "{log}");
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.origin == format!("serial {}", port.display())));
    assert_eq!(line.pulses().iter().map(|p| p.part.as_str()).collect::<Vec<_>>(), ["S-2", "S-3"]);
}

#[test]
fn sigterm_decides_every_part_already_taken_then_exits_cleanly() {
    let (line, spool, daemon) = busy_spool("[line]\ndeadline_ms = 60000\nqueue = 8\n", "T", 6);
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
    let rows = line.decisions();
    let count =
        |sub: &str| std::fs::read_dir(spool.join(sub)).unwrap().filter(|e| e.as_ref().unwrap().file_type().unwrap().is_file()).count();
    // Taken = decided and moved on; the rest wait in the spool for the next start.
    assert_eq!(count("work"), 0, "{log}");
    assert_eq!(count("done"), rows.len(), "{log}");
    assert_eq!(count(".") + rows.len(), 6, "{log}");
    assert!(rows_per_part(&rows).values().all(|&n| n == 1));
    assert!(!line.path("daemon.pid").exists(), "the pid file is removed on exit");
}
