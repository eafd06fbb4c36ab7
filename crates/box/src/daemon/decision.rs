//! A part's decision: what the journal stores, the actuator acts on and `history` shows.

use std::collections::BTreeMap;

use serde::Serialize;

/// What the line does with the part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Pass,
    Reject,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pass => "pass",
            Action::Reject => "reject",
        }
    }
}

/// Why a part was rejected without the model's verdict: the journal's `fault_kind` column, the
/// metrics' `cause` label and the `history --stats` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    UnreadableScan,
    TooFewPoints,
    IncompleteScan,
    WrongExtent,
    ModelError,
    DeadlineMissed,
    QueueFull,
    JournalError,
    CrashedDuringInspection,
}

impl FaultKind {
    pub const ALL: [FaultKind; 9] = [
        FaultKind::UnreadableScan,
        FaultKind::TooFewPoints,
        FaultKind::IncompleteScan,
        FaultKind::WrongExtent,
        FaultKind::ModelError,
        FaultKind::DeadlineMissed,
        FaultKind::QueueFull,
        FaultKind::JournalError,
        FaultKind::CrashedDuringInspection,
    ];

    /// The label: `fault_kind` column and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::UnreadableScan => "unreadable_scan",
            FaultKind::TooFewPoints => "too_few_points",
            FaultKind::IncompleteScan => "incomplete_scan",
            FaultKind::WrongExtent => "wrong_extent",
            FaultKind::ModelError => "model_error",
            FaultKind::DeadlineMissed => "deadline_missed",
            FaultKind::QueueFull => "queue_full",
            FaultKind::JournalError => "journal_error",
            FaultKind::CrashedDuringInspection => "crashed_during_inspection",
        }
    }

    /// The words a fault's text starts with (`reason` and `fault` columns, `history --stats`).
    pub fn words(self) -> &'static str {
        match self {
            FaultKind::UnreadableScan => "unreadable scan",
            FaultKind::TooFewPoints => "too few points",
            FaultKind::IncompleteScan => "incomplete scan",
            FaultKind::WrongExtent => "wrong extent",
            FaultKind::ModelError => "model error",
            FaultKind::DeadlineMissed => "deadline missed",
            FaultKind::QueueFull => "queue full",
            FaultKind::JournalError => "journal write failed",
            FaultKind::CrashedDuringInspection => "crashed during inspection",
        }
    }

    pub fn parse(label: &str) -> Option<FaultKind> {
        FaultKind::ALL.into_iter().find(|k| k.as_str() == label)
    }
}

/// What became of a reject's pulse; journaled by the actuation thread after the fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PulseState {
    /// The actuator was told to fire.
    Fired,
    /// Not fired: it would have come later than `[line] max_pulse_lag_ms`, or the daemon stopped
    /// before its moment; the part went past the ejector.
    Missed,
    /// The actuator refused (GPIO error).
    Failed,
    /// A reject journaled before pulses were recorded (a journal migrated from schema 1).
    Unrecorded,
}

impl PulseState {
    pub fn as_str(self) -> &'static str {
        match self {
            PulseState::Fired => "fired",
            PulseState::Missed => "missed",
            PulseState::Failed => "failed",
            PulseState::Unrecorded => "unrecorded",
        }
    }

    /// The state a journal column holds; unknown text reads as `Unrecorded`.
    pub fn parse(text: &str) -> PulseState {
        [PulseState::Fired, PulseState::Missed, PulseState::Failed]
            .into_iter()
            .find(|p| p.as_str() == text)
            .unwrap_or(PulseState::Unrecorded)
    }
}

/// One part's decision. A fault (unreadable scan, model error, deadline, full queue) is a reject
/// whose `fault` says why; a defect found by the model is a reject with `fault: None`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub part: String,
    /// Where the scan came from (spool file, serial port, replayed file).
    pub origin: String,
    /// UTC, RFC 3339 with milliseconds.
    pub time: String,
    /// Milliseconds since the Unix epoch, for `history --since`.
    pub unix_ms: i64,
    pub action: Action,
    /// Plain words: the score against the threshold, or the fault.
    pub reason: String,
    pub fault: Option<String>,
    /// The fault's kind (`None` for a verdict of the model).
    pub fault_kind: Option<FaultKind>,
    pub object_score: Option<f64>,
    pub threshold: Option<f64>,
    /// `name version` of the model that decided, or "-" before one was loaded.
    pub model: String,
    /// Milliseconds per stage: intake (reading the scan, waiting for detection), then the
    /// detector's stages (register, group, down_net, pyramid, up_net, score).
    pub stages_ms: Vec<(String, f64)>,
    /// From arrival to decision.
    pub total_ms: f64,
    /// The reject's heatmap PLY, when one was kept.
    pub heatmap: Option<String>,
    /// A reject's pulse, once the actuation thread settled it (`None`: a pass, or not yet).
    pub pulse: Option<PulseState>,
    /// When the pulse fired (or was given up), milliseconds since the Unix epoch.
    pub pulse_unix_ms: Option<i64>,
}

impl Decision {
    pub fn is_reject(&self) -> bool {
        self.action == Action::Reject
    }
}

/// Now as (RFC 3339 with milliseconds, milliseconds since the epoch).
pub fn now() -> (String, i64) {
    let now = std::time::SystemTime::now();
    let ms = now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let seconds = crate::bundle::rfc3339(now);
    (format!("{}.{:03}Z", seconds.trim_end_matches('Z'), ms.rem_euclid(1000)), ms)
}

/// Counts, faults by kind, throughput and p50/p99/max latency per stage of a run of decisions:
/// `history --stats`, the status page and the soak benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub parts: usize,
    pub rejects: usize,
    pub faults: BTreeMap<FaultKind, usize>,
    /// Rejects whose pulse was missed or failed.
    pub unfired: usize,
    /// The first and last decision's times (RFC 3339) and the seconds between them.
    pub first: String,
    pub last: String,
    pub span_s: f64,
    /// Each stage in first-seen order, then the totals.
    pub stages: Vec<Latency>,
}

/// One stage's latency, milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Latency {
    pub stage: String,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Stats {
    /// `None` for no decisions.
    pub fn of(decisions: &[Decision]) -> Option<Stats> {
        let (first, last) = (decisions.first()?, decisions.last()?);
        let mut faults: BTreeMap<FaultKind, usize> = BTreeMap::new();
        for kind in decisions.iter().filter_map(|d| d.fault_kind) {
            *faults.entry(kind).or_default() += 1;
        }
        let stages = stage_values(decisions)
            .into_iter()
            .map(|(stage, mut values)| {
                values.sort_by(f64::total_cmp);
                let rank = |q: f64| values[((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
                Latency { p50: rank(0.5), p99: rank(0.99), max: rank(1.0), stage }
            })
            .collect();
        Some(Stats {
            parts: decisions.len(),
            rejects: decisions.iter().filter(|d| d.is_reject()).count(),
            faults,
            unfired: decisions.iter().filter(|d| d.is_reject() && matches!(d.pulse, Some(PulseState::Missed | PulseState::Failed))).count(),
            first: first.time.clone(),
            last: last.time.clone(),
            span_s: (last.unix_ms - first.unix_ms) as f64 / 1e3,
            stages,
        })
    }

    pub fn passes(&self) -> usize {
        self.parts - self.rejects
    }
}

/// The text `history --stats` prints.
impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let faults = if self.faults.is_empty() {
            "none".to_string()
        } else {
            self.faults.iter().map(|(k, n)| format!("{} {n}", k.words())).collect::<Vec<_>>().join(", ")
        };
        writeln!(
            f,
            "{} parts from {} to {}: {} pass, {} reject; faults: {faults}",
            self.parts,
            self.first,
            self.last,
            self.passes(),
            self.rejects
        )?;
        if self.unfired > 0 {
            writeln!(f, "{} reject pulses not fired (missed or failed): see history --missed", self.unfired)?;
        }
        if self.span_s > 0.0 {
            writeln!(f, "throughput {:.2} parts/s over {:.1} s", (self.parts - 1) as f64 / self.span_s, self.span_s)?;
        }
        writeln!(f, "{:<10} {:>9} {:>9} {:>9}", "stage", "p50 ms", "p99 ms", "max ms")?;
        for s in &self.stages {
            writeln!(f, "{:<10} {:>9.1} {:>9.1} {:>9.1}", s.stage, s.p50, s.p99, s.max)?;
        }
        Ok(())
    }
}

/// [`Stats`] as text, or "no decisions".
pub fn summarize(decisions: &[Decision]) -> String {
    Stats::of(decisions).map_or_else(|| "no decisions\n".to_string(), |stats| stats.to_string())
}

/// Each stage's latencies (in first-seen stage order), then the totals.
fn stage_values(decisions: &[Decision]) -> Vec<(String, Vec<f64>)> {
    let mut stages: Vec<(String, Vec<f64>)> = Vec::new();
    for (stage, ms) in decisions.iter().flat_map(|d| d.stages_ms.iter().cloned().chain([("total".to_string(), d.total_ms)])) {
        match stages.iter_mut().find(|(s, _)| *s == stage) {
            Some((_, values)) => values.push(ms),
            None => stages.push((stage, vec![ms])),
        }
    }
    let total = stages.iter().position(|(s, _)| s == "total").map(|i| stages.remove(i));
    stages.extend(total);
    stages
}
