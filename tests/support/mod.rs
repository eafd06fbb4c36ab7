//! Driving the real `edge-tool run` in integration tests: a box folder with its edge.toml, scans
//! dropped into the spool the way scanner software should (write, then rename), and the journal
//! and the simulated actuator's pulse record read back.
#![allow(dead_code)] // each test file uses its own part of this module

pub mod mqtt;
pub mod pty;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use dus_box::daemon::actuator::Pulse;
use dus_box::daemon::decision::Decision;
use dus_box::daemon::journal::{Journal, Query};

pub const EXE: &str = env!("CARGO_BIN_EXE_edge-tool");

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn sample(name: &str) -> PathBuf {
    repo().join("models/bunny/samples").join(name)
}

/// A box folder: edge.toml, journal, heatmaps, pulse record, pid file.
pub struct LineBox {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl LineBox {
    /// `sections` are the edge.toml sections beyond journal, actuator and daemon files, e.g.
    /// `[source]` and `[line]`; the actuator is simulated with a 100 ms delay and 20 ms pulses.
    pub fn new(models_root: &Path, sections: &str) -> LineBox {
        LineBox::with_models(&format!("root = {models_root:?}"), sections)
    }

    /// As `new`, with the `[models]` section's lines given whole (root, trusted keys).
    pub fn with_models(models: &str, sections: &str) -> LineBox {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let p = |name: &str| dir.path().join(name);
        let config = p("edge.toml");
        let text = format!(
            "[runtime]\nthreads = 1\n[models]\n{models}\n[daemon]\npid_file = {pid:?}\n\
             [journal]\npath = {journal:?}\nheatmaps = {heatmaps:?}\n\
             [actuator]\nkind = \"simulated\"\nline = 23\npulse_ms = 20\ndelay_ms = 100\nrecord = {record:?}\n{sections}",
            pid = p("daemon.pid"),
            journal = p("journal.db"),
            heatmaps = p("heatmaps"),
            record = p("pulses.jsonl"),
        );
        std::fs::write(&config, text).unwrap();
        LineBox { dir, config }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts `edge-tool run --config`, its log going to `daemon-<n>.log`.
    pub fn start(&self) -> Daemon {
        let n = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("daemon-"))
            .count();
        let log = self.path(&format!("daemon-{n}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(EXE)
            .args(["run", "--config", self.config.to_str().unwrap()])
            .env("RUST_LOG", "info")
            .current_dir(repo())
            .stderr(out.try_clone().unwrap())
            .stdout(out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        Daemon { child, log }
    }

    /// Every journal row, oldest first (empty before the daemon made the journal).
    pub fn decisions(&self) -> Vec<Decision> {
        let path = self.path("journal.db");
        if !path.exists() {
            return Vec::new();
        }
        Journal::read_only(&path).and_then(|j| j.query(&Query::default())).unwrap_or_default()
    }

    /// Waits (up to two minutes, generous for a loaded 2-core box) until the journal holds `n`
    /// rows; panics with the daemon's log otherwise.
    pub fn wait_for_rows(&self, n: usize, daemon: &Daemon) -> Vec<Decision> {
        let start = Instant::now();
        loop {
            let rows = self.decisions();
            if rows.len() >= n {
                return rows;
            }
            assert!(start.elapsed() < Duration::from_secs(120), "{} of {n} rows after 2 min; log:\n{}", rows.len(), daemon.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The simulated actuator's pulses, in order.
    pub fn pulses(&self) -> Vec<Pulse> {
        let text = std::fs::read_to_string(self.path("pulses.jsonl")).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}

pub struct Daemon {
    pub child: Child,
    log: PathBuf,
}

/// A test that fails half-way must not leave its daemon running.
impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Daemon {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
    }

    /// Waits for the daemon to exit by itself (a finished replay), up to two minutes.
    pub fn wait(self) -> (ExitStatus, String) {
        self.wait_up_to(Duration::from_secs(120))
    }

    pub fn wait_up_to(mut self, limit: Duration) -> (ExitStatus, String) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, self.log());
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                panic!("the daemon did not exit; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then wait for the exit.
    pub fn stop(self) -> (ExitStatus, String) {
        self.signal(libc::SIGTERM);
        self.wait()
    }
}

/// Puts a scan into the spool as scanner software should: written under a hidden temporary
/// name, then renamed, so the daemon never sees half a file.
pub fn drop_scan(spool: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(spool).unwrap();
    let temp = spool.join(format!(".{name}.tmp"));
    std::fs::write(&temp, bytes).unwrap();
    std::fs::rename(temp, spool.join(name)).unwrap();
}

/// A copy of the bunny model under `dir` whose Down-Net fails at run time in ONNX Runtime
/// (tests/data/broken-down.onnx), with its manifest's sha256 updated so it loads.
pub fn model_that_fails(dir: &Path) -> PathBuf {
    let model = dir.join("broken-model");
    std::fs::create_dir_all(&model).unwrap();
    for entry in std::fs::read_dir(repo().join("models/bunny")).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), model.join(entry.file_name())).unwrap();
        }
    }
    let broken = repo().join("tests/data/broken-down.onnx");
    std::fs::copy(&broken, model.join("down.onnx")).unwrap();
    let old = dus_core::model::sha256_file(&repo().join("models/bunny/down.onnx")).unwrap();
    let new = dus_core::model::sha256_file(&broken).unwrap();
    let manifest = std::fs::read_to_string(model.join("model.toml")).unwrap();
    std::fs::write(model.join("model.toml"), manifest.replace(&old, &new)).unwrap();
    model
}

/// A stand-in for a daemon that SIGHUP terminates, even when the tests run with SIGHUP ignored
/// (under `nohup`, ignored signals are inherited by children).
pub fn stand_in_daemon() -> Child {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new("sleep");
    command.arg("60");
    // SAFETY: signal(2) is async-signal-safe, as pre_exec requires.
    unsafe {
        command.pre_exec(|| match libc::signal(libc::SIGHUP, libc::SIG_DFL) {
            libc::SIG_ERR => Err(std::io::Error::last_os_error()),
            _ => Ok(()),
        })
    };
    command.spawn().unwrap()
}
