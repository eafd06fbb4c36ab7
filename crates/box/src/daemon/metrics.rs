//! What the daemon has done, for `/metrics` (Prometheus text) and `/healthz`: counters the loop
//! bumps, rendered on request. Off unless `[metrics] listen` names a loopback address.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::decision::Decision;
use super::lock;

/// An idle thread counts as alive while its heartbeat is this fresh.
const ALIVE: Duration = Duration::from_secs(10);

/// The two threads whose progress the watchdog and `/healthz` report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worker {
    /// Takes scans from the source and reads them.
    Acquisition,
    /// Inspects them.
    Detection,
}

impl Worker {
    fn name(self) -> &'static str {
        match self {
            Worker::Acquisition => "acquisition (reading a scan)",
            Worker::Detection => "detection (inspecting a part)",
        }
    }
}

/// Why the daemon is not healthy.
#[derive(Debug, Clone, PartialEq)]
pub enum Trouble {
    /// A worker has been busy with one part longer than `[line] stall_ms`.
    Stalled(String),
    /// An idle worker stopped looking for work (its thread is gone).
    Gone(String),
    NoModel,
}

impl std::fmt::Display for Trouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trouble::Stalled(why) | Trouble::Gone(why) => write!(f, "{why}"),
            Trouble::NoModel => write!(f, "no model is loaded"),
        }
    }
}

/// One thread's liveness, in milliseconds since the metrics started (+1, so 0 means never/idle).
#[derive(Default)]
struct Progress {
    beat_ms: AtomicU64,
    busy_since_ms: AtomicU64,
}

/// Marks a worker busy with one part until dropped.
pub struct Busy<'a> {
    progress: &'a Progress,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.progress.busy_since_ms.store(0, Ordering::Relaxed);
    }
}

pub struct Metrics {
    started: Instant,
    /// (action, cause) -> parts; cause is "inspected", "defect" or a fault kind.
    parts: Mutex<BTreeMap<(String, String), u64>>,
    /// stage -> (seconds summed, count).
    stages: Mutex<BTreeMap<String, (f64, u64)>>,
    pub queue_depth: AtomicUsize,
    pub queue_full: AtomicU64,
    /// Reject pulses not fired because they could no longer reach their part.
    pub missed_actuations: AtomicU64,
    acquisition: Progress,
    detection: Progress,
    /// How long one part may keep a worker busy before the daemon counts as stalled.
    stall: Duration,
    model: Mutex<Option<ModelInfo>>,
    /// The MQTT outbox (`[publish]`), set by the publisher thread.
    pub outbox: Outbox,
}

/// What the publisher reports: rendered only when `[publish]` is on.
#[derive(Default)]
pub struct Outbox {
    pub enabled: AtomicBool,
    pub connected: AtomicBool,
    /// Rows waiting in the journal to be published.
    pub backlog: AtomicU64,
    /// Rows the broker acknowledged (PUBACK) since the daemon started.
    pub published: AtomicU64,
    /// Rows given up on beyond `[publish] max_backlog` (kept in the journal, never published).
    pub skipped: AtomicU64,
}

impl Outbox {
    /// (connected, rows waiting) when publishing is on.
    pub fn state(&self) -> Option<(bool, u64)> {
        self.enabled.load(Ordering::Relaxed).then(|| (self.connected.load(Ordering::Relaxed), self.backlog.load(Ordering::Relaxed)))
    }
}

/// The model deciding now, for `/metrics` and the status page.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// "name version".
    pub label: String,
    /// Its object-score threshold, scan units.
    pub threshold: f64,
}

impl Metrics {
    pub fn new(stall: Duration) -> Metrics {
        let metrics = Metrics {
            started: Instant::now(),
            parts: Mutex::default(),
            stages: Mutex::default(),
            queue_depth: AtomicUsize::new(0),
            queue_full: AtomicU64::new(0),
            missed_actuations: AtomicU64::new(0),
            acquisition: Progress::default(),
            detection: Progress::default(),
            stall,
            model: Mutex::default(),
            outbox: Outbox::default(),
        };
        metrics.beat(Worker::Acquisition);
        metrics.beat(Worker::Detection);
        metrics
    }
}

impl Metrics {
    pub fn count(&self, decision: &Decision, cause: &str) {
        let key = (decision.action.as_str().to_string(), cause.to_string());
        *lock(&self.parts).entry(key).or_default() += 1;
        let mut stages = lock(&self.stages);
        for (stage, ms) in decision.stages_ms.iter().chain([&("total".to_string(), decision.total_ms)]) {
            let entry = stages.entry(stage.clone()).or_default();
            entry.0 += ms / 1e3;
            entry.1 += 1;
        }
    }

    pub fn parts(&self) -> u64 {
        self.parts_where(|_, _| true)
    }

    /// Parts whose (action, cause) pass `keep`.
    pub fn parts_where(&self, keep: impl Fn(&str, &str) -> bool) -> u64 {
        lock(&self.parts).iter().filter(|((action, cause), _)| keep(action, cause)).map(|(_, n)| n).sum()
    }

    fn progress(&self, worker: Worker) -> &Progress {
        match worker {
            Worker::Acquisition => &self.acquisition,
            Worker::Detection => &self.detection,
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64 + 1
    }

    /// `worker` is looking for work.
    pub fn beat(&self, worker: Worker) {
        self.progress(worker).beat_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// `worker` starts on one part; it counts as stalled once busy longer than the stall time.
    pub fn busy(&self, worker: Worker) -> Busy<'_> {
        let progress = self.progress(worker);
        progress.busy_since_ms.store(self.now_ms(), Ordering::Relaxed);
        Busy { progress }
    }

    /// Why the daemon is not healthy (a worker stalled on a part, or gone), if it is not.
    pub fn trouble(&self) -> Option<Trouble> {
        let now = self.now_ms();
        for worker in [Worker::Acquisition, Worker::Detection] {
            let progress = self.progress(worker);
            let busy = match progress.busy_since_ms.load(Ordering::Relaxed) {
                0 => None,
                since => Some(Duration::from_millis(now.saturating_sub(since))),
            };
            let idle = Duration::from_millis(now.saturating_sub(progress.beat_ms.load(Ordering::Relaxed)));
            match busy {
                Some(busy) if busy > self.stall => {
                    let why = format!(
                        "{} has worked on one part for {} ms (stall_ms {})",
                        worker.name(),
                        busy.as_millis(),
                        self.stall.as_millis()
                    );
                    return Some(Trouble::Stalled(why));
                }
                None if idle > ALIVE => {
                    return Some(Trouble::Gone(format!("{} has not looked for work for {} s", worker.name(), idle.as_secs())))
                }
                _ => {}
            }
        }
        lock(&self.model).is_none().then_some(Trouble::NoModel)
    }

    /// Whether both workers are making progress and a model is loaded.
    pub fn healthy(&self) -> bool {
        self.trouble().is_none()
    }

    pub fn set_model(&self, model: ModelInfo) {
        *lock(&self.model) = Some(model);
    }

    pub fn model(&self) -> Option<ModelInfo> {
        lock(&self.model).clone()
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, String)>| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for (labels, value) in samples {
                out.push_str(&format!("{name}{labels} {value}\n"));
            }
        };
        let parts = lock(&self.parts).iter().map(|((a, c), n)| (format!("{{action=\"{a}\",cause=\"{c}\"}}"), n.to_string())).collect();
        family("dus_edge_parts_total", "counter", "Parts decided, by action and cause.", parts);
        let stages = lock(&self.stages).clone();
        let sums = stages.iter().map(|(s, (sum, _))| (format!("{{stage=\"{s}\"}}"), format!("{sum:.6}"))).collect();
        family("dus_edge_stage_seconds_sum", "counter", "Time spent per stage.", sums);
        let counts = stages.iter().map(|(s, (_, n))| (format!("{{stage=\"{s}\"}}"), n.to_string())).collect();
        family("dus_edge_stage_seconds_count", "counter", "Parts timed per stage.", counts);
        let gauge = |v: String| vec![(String::new(), v)];
        family(
            "dus_edge_queue_depth",
            "gauge",
            "Scans waiting for detection.",
            gauge(self.queue_depth.load(Ordering::Relaxed).to_string()),
        );
        family(
            "dus_edge_queue_full_total",
            "counter",
            "Scans rejected because detection was behind.",
            gauge(self.queue_full.load(Ordering::Relaxed).to_string()),
        );
        let missed = self.missed_actuations.load(Ordering::Relaxed).to_string();
        family("dus_edge_missed_actuations_total", "counter", "Reject pulses not fired: too late to reach their part.", gauge(missed));
        family("dus_edge_resident_memory_bytes", "gauge", "Resident set size of the daemon.", gauge(resident_bytes().0.to_string()));
        let model = vec![(format!("{{model=\"{}\"}}", self.model().map(|m| m.label).unwrap_or_default()), "1".to_string())];
        family("dus_edge_model_info", "gauge", "The model deciding now.", model);
        let outbox = &self.outbox;
        if outbox.enabled.load(Ordering::Relaxed) {
            let value = |v: &AtomicU64| gauge(v.load(Ordering::Relaxed).to_string());
            family(
                "dus_edge_publish_connected",
                "gauge",
                "1 while the MQTT broker is connected.",
                gauge(u8::from(outbox.connected.load(Ordering::Relaxed)).to_string()),
            );
            family("dus_edge_publish_backlog", "gauge", "Journal rows waiting to be published.", value(&outbox.backlog));
            family("dus_edge_published_total", "counter", "Journal rows the broker acknowledged.", value(&outbox.published));
            family(
                "dus_edge_publish_skipped_total",
                "counter",
                "Rows beyond publish.max_backlog, kept in the journal, never published.",
                value(&outbox.skipped),
            );
        }
        out
    }
}

/// (resident, peak resident) bytes of this process, from /proc/self/status; zeros elsewhere.
pub fn resident_bytes() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Serves `/metrics` and `/healthz` on `listen` until `server.unblock()`.
pub fn serve(
    listen: std::net::SocketAddr,
    metrics: Arc<Metrics>,
) -> std::io::Result<(Arc<tiny_http::Server>, std::thread::JoinHandle<()>)> {
    let server = Arc::new(tiny_http::Server::http(listen).map_err(std::io::Error::other)?);
    if let Some(bound) = server.server_addr().to_ip() {
        log::info!("metrics on http://{bound}/metrics and /healthz");
    }
    let serving = server.clone();
    let thread = std::thread::Builder::new().name("metrics".into()).spawn(move || {
        for request in serving.incoming_requests() {
            let (status, body) = match (request.url(), metrics.trouble()) {
                ("/metrics", _) => (200, metrics.render()),
                ("/healthz", None) => (200, "ok\n".to_string()),
                ("/healthz", Some(trouble)) => (503, format!("{trouble}\n")),
                _ => (404, "try /metrics or /healthz\n".to_string()),
            };
            let _ = request.respond(tiny_http::Response::from_string(body).with_status_code(status));
        }
    })?;
    Ok((server, thread))
}
