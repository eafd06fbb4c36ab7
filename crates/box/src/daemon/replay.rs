//! Replayed scan files, as if a scanner sent them at a fixed rate: the demo (`run --demo`) and the
//! soak benchmark. Each part reads its file anew, so replay exercises the real reading path.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::source::{Poll, Source, Taken};

pub struct Replay {
    scans: Vec<PathBuf>,
    interval: Duration,
    total: usize,
    sent: usize,
    next_due: Instant,
}

impl Replay {
    /// `parts` parts in all, cycling through `scans`; 0 means one pass.
    pub fn new(scans: Vec<PathBuf>, interval: Duration, parts: usize) -> Replay {
        let total = if parts == 0 { scans.len() } else { parts };
        Replay { scans, interval, total, sent: 0, next_due: Instant::now() }
    }
}

impl Source for Replay {
    fn poll(&mut self, wait: Duration) -> Poll {
        if self.sent >= self.total || self.scans.is_empty() {
            return Poll::Finished;
        }
        let now = Instant::now();
        if self.next_due > now {
            let pause = (self.next_due - now).min(wait);
            std::thread::sleep(pause);
            if pause < self.next_due - now {
                return Poll::Idle;
            }
        }
        let path = &self.scans[self.sent % self.scans.len()];
        self.sent += 1;
        let at = Instant::now();
        self.next_due = at + self.interval;
        let file = path.clone();
        Poll::Part(Taken {
            part: format!("replay-{:06}", self.sent),
            at,
            origin: format!("replay {}", path.display()),
            settle: None,
            read: Box::new(move || dus_core::cloud::read(&file).map_err(|e| e.problem.to_string())),
        })
    }

    fn describe(&self) -> String {
        format!("replay of {} scan files, {} parts, one every {} ms", self.scans.len(), self.total, self.interval.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cycle_through_the_files_then_finish() {
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data");
        let mut replay = Replay::new(vec![data.join("scan_le.ply"), data.join("missing.pcd")], Duration::ZERO, 3);
        let mut seen = Vec::new();
        while let Poll::Part(taken) = replay.poll(Duration::from_millis(10)) {
            let a = taken.read(None);
            seen.push((a.part, a.scan.is_ok()));
        }
        assert_eq!(seen, [("replay-000001".into(), true), ("replay-000002".into(), false), ("replay-000003".into(), true)]);
        assert!(matches!(replay.poll(Duration::ZERO), Poll::Finished));
    }
}
