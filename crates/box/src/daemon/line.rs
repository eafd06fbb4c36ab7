//! The line loop: acquisition, detection and actuation in three threads joined by bounded queues.
//!
//! ```text
//! source --(queue: line.queue)--> detection --journal (fsync)--> (pulses queue) --> actuator
//!    \--- queue full: fail-safe reject, journaled ---------------/
//! ```
//!
//! Every arrival ends in exactly one journaled decision: a fault anywhere (unreadable scan, too
//! few points, model error, deadline, full queue, journal failure) becomes a reject with its
//! reason. The journal row is durable before the reject pulse is queued. SIGTERM stops intake and
//! drains what was already taken; SIGHUP reloads the model between two parts.
//!
//! Poison scans cannot stop the line: a part is journaled as taken before its scan is read, a
//! panic while reading or inspecting is caught and becomes that part's fault, and a part that
//! keeps a thread busy past `[line] stall_ms` makes the daemon unhealthy and then exit (systemd
//! restarts it). At the next start every part taken and not decided is rejected as crashed
//! during inspection, and its spool file goes to `failed/`, never read again.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::actuator::{self, Actuator, Pulse};
use super::decision::{self, Action, Decision, FaultKind, PulseState};
use super::heatmaps::{Heatmaps, Reject};
use super::journal::{Journal, Stage, TakenRow};
use super::metrics::{self, Metrics, ModelInfo, Trouble, Worker};
use super::publish::Publisher;
use super::source::{self, Arrival, Poll, Settle, Settlement, Source, Taken};
use super::web;
use super::{lock, survive};
use crate::config::Config;
use crate::slots;
use dus_core::cloud::Cloud;
use dus_core::detector::{millis, DetectError, Detector, DusNet, Inspection};
use dus_core::model::Model;
use dus_core::verdict::Verdict;

/// How long a source poll or an idle detection wait lasts before flags are looked at again.
const TICK: Duration = Duration::from_millis(100);
/// Reject pulses waiting for their moment; a full queue blocks detection (reported) rather than
/// drop a pulse.
const PULSE_QUEUE: usize = 64;

/// What ended a run, for the caller's summary.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub parts: u64,
    pub rejects: u64,
    pub faults: u64,
    /// The simulated actuator's pulses (empty for real GPIO).
    pub pulses: Vec<Pulse>,
    /// Peak resident memory, bytes.
    pub peak_rss: u64,
}

/// Signals the loop reacts to; `install_signal_handlers` wires them to SIGTERM/SIGINT/SIGHUP.
#[derive(Clone, Default)]
pub struct Flags {
    pub stop: Arc<AtomicBool>,
    pub reload: Arc<AtomicBool>,
}

impl Flags {
    pub fn install_signal_handlers(&self) -> std::io::Result<()> {
        for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            signal_hook::flag::register(signal, self.stop.clone())?;
        }
        signal_hook::flag::register(signal_hook::consts::SIGHUP, self.reload.clone())?;
        Ok(())
    }
}

/// Why a part was rejected without a verdict of the model.
#[derive(Debug, Clone)]
enum Fault {
    Unreadable(String),
    TooFewPoints(String),
    Incomplete(String),
    WrongExtent(String),
    Model(String),
    Late { after: Duration, deadline: Duration },
    QueueFull(usize),
    Journal(String),
    Crashed(String),
}

impl Fault {
    fn kind(&self) -> FaultKind {
        match self {
            Fault::Unreadable(_) => FaultKind::UnreadableScan,
            Fault::TooFewPoints(_) => FaultKind::TooFewPoints,
            Fault::Incomplete(_) => FaultKind::IncompleteScan,
            Fault::WrongExtent(_) => FaultKind::WrongExtent,
            Fault::Model(_) => FaultKind::ModelError,
            Fault::Late { .. } => FaultKind::DeadlineMissed,
            Fault::QueueFull(_) => FaultKind::QueueFull,
            Fault::Journal(_) => FaultKind::JournalError,
            Fault::Crashed(_) => FaultKind::CrashedDuringInspection,
        }
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let words = self.kind().words();
        match self {
            // The detector's message already says which: "incomplete scan: ...", "wrong extent: ...".
            Fault::Incomplete(why) | Fault::WrongExtent(why) => write!(f, "{why}"),
            Fault::Unreadable(why) | Fault::TooFewPoints(why) | Fault::Model(why) | Fault::Journal(why) | Fault::Crashed(why) => {
                write!(f, "{words}: {why}")
            }
            Fault::Late { after, deadline } => {
                write!(f, "{words}: {} ms after arrival, deadline {} ms", after.as_millis(), deadline.as_millis())
            }
            Fault::QueueFull(waiting) => write!(f, "{words}: {waiting} scans already waiting for detection"),
        }
    }
}

/// The loaded model and its name for the journal.
struct Loaded {
    detector: DusNet,
    name: String,
    threshold: f64,
}

impl Loaded {
    fn info(&self) -> ModelInfo {
        ModelInfo { label: self.name.clone(), threshold: self.threshold }
    }
}

/// Loads the active model slot (falling back as `slots::resolve_active` says).
fn load_model(config: &Config) -> Result<Loaded> {
    let resolved = slots::resolve_active(&config.models.root)?;
    let runtime = slots::runtime_for(&resolved.dir, &config.runtime);
    let model = Model::load(&resolved.dir, &runtime).with_context(|| format!("loading the model in {}", resolved.dir.display()))?;
    let name = model.manifest.model.label();
    log::info!("model {name} from {}", resolved.dir.display());
    let threshold = model.manifest.scoring.threshold;
    Ok(Loaded { detector: DusNet::new(model), name, threshold })
}

/// A reject pulse and when to fire it.
struct Due {
    part: String,
    at: Instant,
    /// The decision's journal row, where the pulse's fate is recorded.
    row: Option<i64>,
}

/// Turns outcomes into journaled decisions and queued pulses; shared by the acquisition thread
/// (queue-full rejects) and the detection thread.
struct Decider {
    journal: Arc<Mutex<Journal>>,
    heatmaps: Mutex<Heatmaps>,
    pulses: SyncSender<Due>,
    delay: Duration,
    metrics: Arc<Metrics>,
}

impl Decider {
    /// Journals `decision` (durably, clearing the part's `taken` row), settles the source item,
    /// then queues the reject pulse.
    fn settle(&self, mut decision: Decision, cause: &str, settle: Option<Settle>, taken: Option<i64>) {
        let row = match lock(&self.journal).record(&decision, taken) {
            Ok(row) => Some(row),
            Err(e) => {
                log::error!("part {}: {e}; rejecting it", decision.part);
                let fault = Fault::Journal(e.to_string());
                (decision.action, decision.reason, decision.fault) = (Action::Reject, fault.to_string(), Some(fault.to_string()));
                decision.fault_kind = Some(fault.kind());
                None
            }
        };
        if let Some(settle) = settle {
            let settlement = if decision.fault.is_some() { Settlement::Failed } else { Settlement::Inspected };
            if let Err(e) = settle(&settlement) {
                log::error!("part {}: cannot move its scan on ({e}); the journal holds its decision", decision.part);
            }
        }
        self.metrics.count(&decision, cause);
        println!("{}", describe(&decision));
        if decision.is_reject() {
            self.queue_pulse(Due { part: decision.part, at: Instant::now() + self.delay, row });
        }
        let parts = self.metrics.parts();
        if parts.is_multiple_of(100) {
            let (rss, peak) = metrics::resident_bytes();
            log::info!("{parts} parts decided; resident memory {} MiB (peak {} MiB)", rss >> 20, peak >> 20);
        }
    }

    /// Journals that a taken part moved on (queued, then inspecting); a journal failure here only
    /// costs the crash protection of this one part, so it is logged and the part goes on.
    fn advance(&self, arrival: &Arrival, stage: Stage) {
        if let Some(row) = arrival.journal_row {
            if let Err(e) = lock(&self.journal).advance(row, stage) {
                log::error!("part {}: {e}", arrival.part);
            }
        }
    }

    fn queue_pulse(&self, due: Due) {
        match self.pulses.try_send(due) {
            Ok(()) => {}
            Err(TrySendError::Full(due)) => {
                log::warn!("back-pressure: {PULSE_QUEUE} reject pulses are waiting for the actuator");
                let _ = self.pulses.send(due);
            }
            Err(TrySendError::Disconnected(due)) => log::error!("part {}: the actuator thread is gone; remove the part by hand", due.part),
        }
    }

    fn keep_heatmap(&self, part: &str, unix_ms: i64, cloud: &Cloud, inspection: &Inspection, model: &str) -> Option<String> {
        let reject = Reject { part, unix_ms, points: cloud.points(), inspection, model };
        match lock(&self.heatmaps).keep(&reject) {
            Ok(path) => Some(path.display().to_string()),
            Err(e) => {
                log::warn!("part {part}: cannot keep its heatmap: {e}");
                None
            }
        }
    }
}

/// One line per part on stdout (the journal is the record; this is for people watching).
fn describe(d: &Decision) -> String {
    format!("part {} {}: {} ({:.0} ms) [{}]", d.part, d.action.as_str().to_uppercase(), d.reason, d.total_ms, d.origin)
}

/// The decision for an arrival, given what inspection gave (if it ran) and the fault (if any).
fn decision(arrival: &Arrival, inspection: Option<&Inspection>, fault: Option<&Fault>, model: &str, queued: Duration) -> Decision {
    let (time, unix_ms) = decision::now();
    let verdict = inspection.map(|i| Verdict::decide(i.object_score, i.threshold));
    let action = if fault.is_none() && verdict == Some(Verdict::Ok) { Action::Pass } else { Action::Reject };
    let reason = match (fault, inspection) {
        (Some(fault), _) => fault.to_string(),
        (None, Some(i)) => {
            let threshold = i.threshold.map_or("none (uncalibrated)".to_string(), |t| format!("{t:.3}"));
            let relation = if action == Action::Pass { "within" } else { "over" };
            format!("object score {:.3} {relation} threshold {threshold}", i.object_score)
        }
        (None, None) => "not inspected".to_string(),
    };
    let mut stages_ms = vec![("intake".to_string(), millis(queued))];
    stages_ms.extend(inspection.into_iter().flat_map(|i| &i.timings).map(|(s, d)| (s.name().to_string(), millis(*d))));
    Decision {
        part: arrival.part.clone(),
        origin: arrival.origin.clone(),
        time,
        unix_ms,
        action,
        reason,
        fault: fault.map(Fault::to_string),
        fault_kind: fault.map(Fault::kind),
        object_score: inspection.map(|i| i.object_score),
        threshold: inspection.and_then(|i| i.threshold),
        model: model.to_string(),
        stages_ms,
        total_ms: millis(arrival.at.elapsed()),
        heatmap: None,
        pulse: None,
        pulse_unix_ms: None,
    }
}

/// Inspects one scan within the deadline: the inspection (when it ran) and the fault (if any).
fn judge(detector: &mut dyn Detector, arrival: &Arrival, deadline: Duration) -> (Option<Inspection>, Option<Fault>) {
    let cloud = match &arrival.scan {
        Ok(cloud) => cloud,
        Err(why) => return (None, Some(Fault::Unreadable(why.clone()))),
    };
    let waited = arrival.at.elapsed();
    if waited > deadline {
        return (None, Some(Fault::Late { after: waited, deadline }));
    }
    let inspected = match survive(|| detector.inspect(cloud)) {
        Ok(inspected) => inspected,
        Err(why) => return (None, Some(Fault::Crashed(format!("the detector {why}")))),
    };
    match inspected {
        Err(e @ DetectError::TooFewPoints { .. }) => (None, Some(Fault::TooFewPoints(e.to_string()))),
        Err(e @ DetectError::Incomplete { .. }) => (None, Some(Fault::Incomplete(e.to_string()))),
        Err(e @ DetectError::WrongExtent { .. }) => (None, Some(Fault::WrongExtent(e.to_string()))),
        Err(e) => (None, Some(Fault::Model(e.to_string()))),
        Ok(inspection) => {
            let after = arrival.at.elapsed();
            (Some(inspection), (after > deadline).then_some(Fault::Late { after, deadline }))
        }
    }
}

/// The detection thread's state.
struct Detection {
    config: Config,
    loaded: Loaded,
    decider: Arc<Decider>,
    flags: Flags,
}

impl Detection {
    fn run(mut self, arrivals: Receiver<Arrival>) {
        loop {
            self.decider.metrics.beat(Worker::Detection);
            let next = arrivals.recv_timeout(TICK);
            // After the wait: a SIGHUP that came while waiting applies to the part just received.
            self.reload_if_asked();
            match next {
                Ok(arrival) => self.decide(arrival),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
    }

    fn reload_if_asked(&mut self) {
        if !self.flags.reload.swap(false, Ordering::SeqCst) {
            return;
        }
        match load_model(&self.config) {
            Ok(loaded) => {
                log::info!("reloaded: {} -> {}", self.loaded.name, loaded.name);
                self.decider.metrics.set_model(loaded.info());
                self.loaded = loaded;
            }
            Err(e) => log::error!("reload failed, still deciding with {}: {e:#}", self.loaded.name),
        }
    }

    fn decide(&mut self, mut arrival: Arrival) {
        self.decider.metrics.queue_depth.fetch_sub(1, Ordering::Relaxed);
        let queued = arrival.at.elapsed();
        let deadline = Duration::from_millis(self.config.line.deadline_ms);
        self.decider.advance(&arrival, Stage::Inspecting);
        let busy = self.decider.metrics.busy(Worker::Detection);
        let (inspection, fault) = judge(&mut self.loaded.detector, &arrival, deadline);
        drop(busy);
        let mut decision = decision(&arrival, inspection.as_ref(), fault.as_ref(), &self.loaded.name, queued);
        if let (Some(inspection), Ok(cloud), true) = (&inspection, &arrival.scan, decision.is_reject()) {
            decision.heatmap = self.decider.keep_heatmap(&decision.part, decision.unix_ms, cloud, inspection, &self.loaded.name);
        }
        let cause = match (&fault, decision.action) {
            (Some(fault), _) => fault.kind().as_str(),
            (None, Action::Reject) => "defect",
            (None, Action::Pass) => "inspected",
        };
        self.decider.settle(decision, cause, arrival.settle.take(), arrival.journal_row);
    }
}

/// Journals `taken` as taken, then reads its scan (a panic in the reader is the scan's error).
fn read_taken(taken: Taken, decider: &Decider) -> Arrival {
    let (_, unix_ms) = decision::now();
    let row = lock(&decider.journal).take(&taken.part, &taken.origin, unix_ms).map_err(|e| log::error!("part {}: {e}", taken.part)).ok();
    let busy = decider.metrics.busy(Worker::Acquisition);
    let arrival = taken.read(row);
    drop(busy);
    decider.advance(&arrival, Stage::Queued);
    arrival
}

/// Takes scans from the source until it finishes or `stop` is set; a scan that finds the queue
/// full is rejected at once.
fn acquire(mut source: Box<dyn Source>, arrivals: SyncSender<Arrival>, decider: Arc<Decider>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        decider.metrics.beat(Worker::Acquisition);
        let mut arrival = match source.poll(TICK) {
            Poll::Part(taken) => read_taken(taken, &decider),
            Poll::Idle => continue,
            Poll::Finished => break,
        };
        decider.metrics.queue_depth.fetch_add(1, Ordering::Relaxed);
        if let Err(TrySendError::Full(a) | TrySendError::Disconnected(a)) = arrivals.try_send(arrival) {
            arrival = a;
            let waiting = decider.metrics.queue_depth.fetch_sub(1, Ordering::Relaxed) - 1;
            decider.metrics.queue_full.fetch_add(1, Ordering::Relaxed);
            log::warn!("back-pressure: part {} arrived with {waiting} scans waiting; rejecting it", arrival.part);
            let fault = Fault::QueueFull(waiting);
            let decision = decision(&arrival, None, Some(&fault), "-", arrival.at.elapsed());
            decider.settle(decision, fault.kind().as_str(), arrival.settle.take(), arrival.journal_row);
        }
    }
    log::info!("intake stopped: {}", source.describe());
}

/// What the actuation thread needs besides its actuator.
struct Actuation {
    journal: Arc<Mutex<Journal>>,
    metrics: Arc<Metrics>,
    /// A pulse later than this after its moment no longer reaches its part.
    max_lag: Duration,
}

impl Actuation {
    /// Fires each reject pulse at its moment, in order; one that can no longer reach its part is
    /// not fired. Either way the journal row says what happened.
    fn run(self, mut actuator: Box<dyn Actuator>, pulses: Receiver<Due>) {
        for due in pulses {
            if let Some(wait) = due.at.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let lag = Instant::now().saturating_duration_since(due.at);
            let state = if lag > self.max_lag {
                self.metrics.missed_actuations.fetch_add(1, Ordering::Relaxed);
                log::error!(
                    "part {}: missed actuation: its reject pulse would come {} ms late (max_pulse_lag_ms {}), after the part passed the ejector; not fired; remove the part by hand",
                    due.part,
                    lag.as_millis(),
                    self.max_lag.as_millis()
                );
                PulseState::Missed
            } else if let Err(e) = actuator.pulse(&due.part) {
                log::error!("part {}: reject pulse failed: {e}; remove the part by hand", due.part);
                PulseState::Failed
            } else {
                PulseState::Fired
            };
            self.record(&due, state);
        }
    }

    fn record(&self, due: &Due, state: PulseState) {
        let Some(row) = due.row else { return };
        if let Err(e) = lock(&self.journal).pulsed(row, state, decision::now().1) {
            log::error!("part {}: cannot journal its pulse ({}): {e}", due.part, state.as_str());
        }
    }
}

/// Settles every part the journal says was taken and never decided. One the daemon died reading
/// or inspecting (a poison scan, a stall, a power cut) is rejected and never read again; its
/// spool file then goes to `failed/`. One that only waited in the queue is inspected again when
/// its scan is still in the spool (`requeue`), else rejected. The part has long left the
/// ejector, so a reject's pulse is journaled as missed.
fn reject_crashed(journal: &Journal, metrics: &Metrics, requeue: bool) -> Result<()> {
    for TakenRow { id, part, origin, unix_ms, stage } in journal.undecided()? {
        if stage == Stage::Queued && requeue && origin.starts_with("spool ") {
            journal.forget(id)?;
            continue;
        }
        let when = match stage {
            Stage::Reading => "while reading its scan; not read again",
            Stage::Inspecting => "while inspecting it; not read again",
            Stage::Queued => "before inspecting it, and its scan was only in memory",
        };
        let fault = Fault::Crashed(format!("the daemon stopped {when} (taken at unix ms {unix_ms})"));
        log::error!("part {part} ({origin}): {fault}; remove the part by hand if it is still on the line");
        let arrival = Arrival { part, at: Instant::now(), scan: Err(fault.to_string()), origin, settle: None, journal_row: Some(id) };
        let mut decision = decision(&arrival, None, Some(&fault), "-", Duration::ZERO);
        (decision.pulse, decision.pulse_unix_ms, decision.total_ms) =
            (Some(PulseState::Missed), Some(decision.unix_ms), (decision.unix_ms - unix_ms) as f64);
        journal.record(&decision, Some(id))?;
        metrics.count(&decision, fault.kind().as_str());
        println!("{}", describe(&decision));
    }
    Ok(())
}

/// Runs the line until the source finishes or `flags.stop` is set; returns what happened.
pub fn run(config: &Config, flags: Flags) -> Result<Summary> {
    config.check().map_err(anyhow::Error::msg)?;
    let started = decision::now();
    let journal = Journal::open(&config.journal.path)?;
    let metrics = Arc::new(Metrics::new(config.line.stall()));
    let spec = config.source.spec().map_err(anyhow::Error::msg)?;
    reject_crashed(&journal, &metrics, matches!(spec, crate::config::SourceConfig::Spool { .. }))?;
    let source = source::open(&spec, &|origin| journal.settlement(origin).ok().flatten()).context("opening the scan source")?;
    let loaded = load_model(config)?;
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let actuator = actuator::open(&config.actuator, recorded.clone())?;
    let heatmaps = Heatmaps::open(&config.journal.heatmaps, config.journal.heatmap_budget_mb << 20)
        .with_context(|| format!("{}: cannot use the heatmap folder", config.journal.heatmaps.display()))?;
    log::info!("source: {}; actuator: {}; journal: {}", source.describe(), actuator.describe(), config.journal.path.display());
    metrics.set_model(loaded.info());
    let http = config.metrics.listen.map(|listen| metrics::serve(listen, metrics.clone())).transpose().context("starting /metrics")?;
    let page = config
        .web
        .listen
        .map(|listen| web::serve(listen, config, metrics.clone(), started))
        .transpose()
        .context("starting the status page")?;
    let publisher = config
        .publish
        .host
        .is_some()
        .then(|| Publisher::start(config, metrics.clone()))
        .transpose()
        .context("starting the MQTT publisher")?;

    let (pulse_tx, pulse_rx) = mpsc::sync_channel(PULSE_QUEUE);
    let (arrival_tx, arrival_rx) = mpsc::sync_channel(config.line.queue);
    let journal = Arc::new(Mutex::new(journal));
    let actuation =
        Actuation { journal: journal.clone(), metrics: metrics.clone(), max_lag: Duration::from_millis(config.line.max_pulse_lag_ms) };
    let decider = Arc::new(Decider {
        journal,
        heatmaps: Mutex::new(heatmaps),
        pulses: pulse_tx,
        delay: Duration::from_millis(config.actuator.delay_ms),
        metrics: metrics.clone(),
    });
    let detection = Detection { config: config.clone(), loaded, decider: decider.clone(), flags: flags.clone() };
    let threads = [
        spawn("actuation", move || actuation.run(actuator, pulse_rx))?,
        spawn("detection", move || detection.run(arrival_rx))?,
        spawn("acquisition", move || acquire(source, arrival_tx, decider, flags.stop.clone()))?,
    ];
    let pid_file = PidFile::write(&config.daemon.pid_file);
    if let Some(stall) = supervise(&threads, &metrics) {
        // The stuck thread cannot be joined; returning ends the process, and the part it holds
        // is rejected as crashed at the next start.
        anyhow::bail!("stalled: {stall}; exiting so that the service restarts (the part will be rejected as crashed during inspection)");
    }
    for thread in threads {
        thread.join().map_err(|_| anyhow::anyhow!("a daemon thread panicked"))?;
    }
    if let Some((server, thread)) = http {
        server.unblock();
        let _ = thread.join();
    }
    if let Some(page) = page {
        page.stop();
    }
    if let Some(publisher) = publisher {
        publisher.stop();
    }
    drop(pid_file);
    let pulses = lock(&recorded).clone();
    Ok(summary(&metrics, pulses))
}

fn spawn(name: &str, work: impl FnOnce() + Send + 'static) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name(name.into()).spawn(work)
}

/// Tells systemd we are ready and, while both workers make progress, pings its watchdog, until
/// every thread has finished; or returns why a worker stalled on one part.
fn supervise(threads: &[JoinHandle<()>], metrics: &Metrics) -> Option<String> {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    while !threads.iter().all(JoinHandle::is_finished) {
        match metrics.trouble() {
            None => drop(sd_notify::notify(&[sd_notify::NotifyState::Watchdog])),
            Some(Trouble::Stalled(why)) => {
                log::error!("{why}");
                return Some(why);
            }
            Some(_) => {}
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    None
}

fn summary(metrics: &Metrics, pulses: Vec<Pulse>) -> Summary {
    Summary {
        parts: metrics.parts(),
        rejects: metrics.parts_where(|action, _| action == Action::Reject.as_str()),
        faults: metrics.parts_where(|_, cause| !matches!(cause, "inspected" | "defect")),
        pulses,
        peak_rss: metrics::resident_bytes().1,
    }
}

/// The daemon's pid file for `edge-tool reload` and `flash`; removed when dropped.
struct PidFile(Option<PathBuf>);

impl PidFile {
    fn write(path: &std::path::Path) -> PidFile {
        let written =
            path.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|_| std::fs::write(path, format!("{}\n", std::process::id())));
        match written {
            Ok(()) => PidFile(Some(path.to_path_buf())),
            Err(e) => {
                log::warn!(
                    "{}: cannot write the pid file ({e}); `edge-tool reload` will not find this daemon (SIGHUP still works)",
                    path.display()
                );
                PidFile(None)
            }
        }
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}
