//! Where scans come from: one interface over the spool folder, the serial line and replayed files,
//! so the loop never knows which scanner it serves. Every arrival carries its part id; a scan that
//! could not be read still arrives (as an error), because a physical part passed and must get a
//! decision.

use std::time::{Duration, Instant};

use crate::config::SourceConfig;
use dus_core::cloud::Cloud;

/// What the source does with a part's item once its decision is journaled (the spool moves the
/// file to `done/` or `failed/`).
pub type Settle = Box<dyn FnOnce(&Settlement) -> std::io::Result<()> + Send>;

/// What a source learns about its part after the decision is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// The scan was inspected (ok or defect).
    Inspected,
    /// The scan could not be inspected (unreadable, too few points, model fault, late).
    Failed,
}

/// Reads a taken part's scan (a spool or replay file; a decoded frame is already read).
pub type Read = Box<dyn FnOnce() -> Result<Cloud, String> + Send>;

/// A part a source took, before its scan is read: the line journals it as taken first, so a
/// scan that crashes the reader or the detector is known after the restart and rejected
/// instead of read again (a poison pill).
pub struct Taken {
    /// The part id, from the file name or the frame; it travels to the journal and the actuator.
    pub part: String,
    /// When the scan arrived: the deadline runs from here.
    pub at: Instant,
    /// Where it came from, for the journal (spool file, serial port, replayed file).
    pub origin: String,
    pub settle: Option<Settle>,
    pub read: Read,
}

impl Taken {
    /// A part whose scan is already in memory (or known to be unusable).
    pub fn decoded(part: String, at: Instant, origin: String, scan: Result<Cloud, String>) -> Taken {
        Taken { part, at, origin, settle: None, read: Box::new(move || scan) }
    }

    /// Reads the scan (a panic in the reader is the scan's error); `journal_row` is the journal's
    /// "taken" row, if it was written.
    pub fn read(self, journal_row: Option<i64>) -> Arrival {
        let scan = super::survive(self.read).unwrap_or_else(|why| Err(format!("the scan reader {why}")));
        Arrival { part: self.part, at: self.at, scan, origin: self.origin, settle: self.settle, journal_row }
    }
}

/// One part's scan as it reached the box.
pub struct Arrival {
    /// The part id, from the file name or the frame; it travels to the journal and the actuator.
    pub part: String,
    /// When the scan arrived: the deadline runs from here.
    pub at: Instant,
    /// The scan, or why it could not be read.
    pub scan: Result<Cloud, String>,
    /// Where it came from, for the journal (spool file, serial port, replayed file).
    pub origin: String,
    pub settle: Option<Settle>,
    /// The journal's "taken" row, cleared in the same transaction that records the decision.
    pub journal_row: Option<i64>,
}

/// The result of waiting on a source.
pub enum Poll {
    Part(Taken),
    /// Nothing arrived within the wait.
    Idle,
    /// The source has no more parts (a finished replay); the daemon stops.
    Finished,
}

/// A scanner connection. `poll` waits at most `wait`, so the loop can notice SIGTERM; a source
/// that loses its device reconnects by itself (logging why) and reports `Idle` meanwhile.
pub trait Source: Send {
    fn poll(&mut self, wait: Duration) -> Poll;
    /// One line for the log: what the source reads.
    fn describe(&self) -> String;
}

/// The source the configuration names. `decided` answers from the journal whether a spool item
/// left over from a crash was already decided (and how), so no part is decided twice.
pub fn open(config: &SourceConfig, decided: &dyn Fn(&str) -> Option<Settlement>) -> std::io::Result<Box<dyn Source>> {
    Ok(match config {
        SourceConfig::Spool { dir, settle_ms } => Box::new(super::spool::Spool::open(dir, Duration::from_millis(*settle_ms), decided)?),
        SourceConfig::Serial { port, baud, max_points } => Box::new(super::serial::SerialSource::new(port.clone(), *baud, *max_points)),
        SourceConfig::Replay { scans, interval_ms, parts } => {
            Box::new(super::replay::Replay::new(scans.clone(), Duration::from_millis(*interval_ms), *parts))
        }
    })
}
