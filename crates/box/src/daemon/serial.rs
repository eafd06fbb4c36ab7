//! Scans from a serial line: a scanner or PLC streams one frame per part (docs/serial-protocol.md).
//!
//! The line is not trusted to stay up or stay clean. When the port cannot be opened or vanishes
//! (USB adapter unplugged, the far end hung up) the source warns once, reconnects with exponential
//! backoff and reports `Idle` meanwhile; a frame that was cut off or fails its CRC still arrives as
//! its part with an error, so that part gets a fail-safe decision; bytes between frames are counted.

use std::io::{ErrorKind, Read};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serialport::{DataBits, FlowControl, Parity, SerialPort, StopBits};

use super::frame::{Decoder, Event};
use super::source::{Poll, Source, Taken};
use dus_core::cloud::Cloud;

/// The first reconnect waits this long; each failure doubles it up to [`LAST_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(5);
/// A connection that held this long was healthy, and the backoff starts afresh after it drops;
/// a flapping adapter keeps backing off instead of reconnecting ten times a second.
const HEALTHY: Duration = Duration::from_secs(5);
/// A sender writes a frame without pauses; silence this long mid-frame means the rest is lost,
/// and waiting longer would hold the next parts' frames hostage.
const QUIET_GAP: Duration = Duration::from_secs(1);
/// Garbage is counted as it comes but logged at most this often, so a noisy line cannot flood
/// the journal of the box.
const GARBAGE_LOG_EVERY: Duration = Duration::from_secs(5);
const READ_CHUNK: usize = 64 * 1024;

enum Link {
    Up { port: Box<dyn SerialPort>, since: Instant },
    Down { retry_at: Instant },
}

pub struct SerialSource {
    path: PathBuf,
    baud: u32,
    decoder: Decoder,
    link: Link,
    /// How long the next reconnect waits after a failure.
    retry_delay: Duration,
    /// Whether the current outage was logged as a warning already (later failures go to debug).
    outage_logged: bool,
    /// When the last bytes came in: a frame completed then, and silence mid-frame is timed from it.
    last_bytes_at: Instant,
    chunk: Vec<u8>,
    garbage: u64,
    garbage_unlogged: u64,
    garbage_logged_at: Option<Instant>,
}

impl SerialSource {
    /// A source for `port` (8N1 at `baud`) that refuses frames over `max_points`. It opens the port
    /// on the first poll, so a scanner that is still off does not stop the daemon from starting.
    pub fn new(port: PathBuf, baud: u32, max_points: u32) -> SerialSource {
        SerialSource {
            path: port,
            baud,
            decoder: Decoder::new(max_points),
            link: Link::Down { retry_at: Instant::now() },
            retry_delay: FIRST_RETRY,
            outage_logged: false,
            last_bytes_at: Instant::now(),
            chunk: vec![0; READ_CHUNK],
            garbage: 0,
            garbage_unlogged: 0,
            garbage_logged_at: None,
        }
    }

    /// Bytes that belonged to no frame since the source was made: a rising count means a wrong
    /// baud rate, bad wiring or a sender that speaks another protocol.
    pub fn garbage_bytes(&self) -> u64 {
        self.garbage
    }

    fn origin(&self) -> String {
        format!("serial {}", self.path.display())
    }

    /// The next part the decoder holds, handling the events that are not parts on the way.
    fn next_arrival(&mut self) -> Option<Taken> {
        while let Some(event) = self.decoder.next_event() {
            match event {
                Event::Frame { part, points } => {
                    let scan = Cloud::from_points(points).map_err(|problem| problem.to_string());
                    return Some(self.arrival(part, self.last_bytes_at, scan));
                }
                Event::Rejected { part, reason } => {
                    log::warn!("{}: the frame of part {part} is unusable: {reason}", self.origin());
                    // Timed from now: a frame given up after a silent second is not late, it is
                    // unusable, and the journal should say why.
                    return Some(self.arrival(part, Instant::now(), Err(reason)));
                }
                Event::Unreadable { reason } => log::warn!("{}: skipped an unreadable frame: {reason}", self.origin()),
                Event::Garbage { bytes } => self.note_garbage(bytes),
            }
        }
        None
    }

    fn arrival(&self, part: String, at: Instant, scan: Result<Cloud, String>) -> Taken {
        Taken::decoded(part, at, self.origin(), scan)
    }

    fn note_garbage(&mut self, bytes: usize) {
        self.garbage += bytes as u64;
        self.garbage_unlogged += bytes as u64;
        if self.garbage_logged_at.is_none_or(|at| at.elapsed() >= GARBAGE_LOG_EVERY) {
            log::warn!(
                "{}: skipped {} bytes that belong to no frame ({} in all); check the baud rate, the wiring and the sender",
                self.origin(),
                self.garbage_unlogged,
                self.garbage
            );
            self.garbage_unlogged = 0;
            self.garbage_logged_at = Some(Instant::now());
        }
    }

    /// One bounded step towards the next part: a read, a reconnect attempt, or the wait for one.
    fn step(&mut self, deadline: Instant) {
        match self.link {
            Link::Up { .. } => self.receive(deadline),
            Link::Down { retry_at } if Instant::now() >= retry_at => self.connect(),
            Link::Down { retry_at } => std::thread::sleep(retry_at.min(deadline).saturating_duration_since(Instant::now())),
        }
    }

    /// Reads what the line has, waiting at most until `deadline` (or until a stalled frame's
    /// quiet gap runs out).
    fn receive(&mut self, deadline: Instant) {
        let now = Instant::now();
        let mut wait = deadline.saturating_duration_since(now);
        if self.decoder.has_partial() {
            let gap_left = (self.last_bytes_at + QUIET_GAP).saturating_duration_since(now);
            if gap_left.is_zero() {
                log::debug!("{}: silent for {QUIET_GAP:?} mid-frame; giving the frame up", self.origin());
                self.decoder.end_of_stream();
                return;
            }
            wait = wait.min(gap_left);
        }
        let Link::Up { port, .. } = &mut self.link else { return };
        let read = port.set_timeout(wait).map_err(std::io::Error::from).and_then(|()| port.read(&mut self.chunk));
        match read {
            Ok(0) => self.lose("end of file".to_string()),
            Ok(n) => {
                self.last_bytes_at = Instant::now();
                self.decoder.push(&self.chunk[..n]);
            }
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(e) => self.lose(e.to_string()),
        }
    }

    fn connect(&mut self) {
        let opened = serialport::new(self.path.to_string_lossy(), self.baud)
            .data_bits(DataBits::Eight)
            .parity(Parity::None)
            .stop_bits(StopBits::One)
            .flow_control(FlowControl::None)
            .timeout(Duration::ZERO)
            .open();
        match opened {
            Ok(port) => {
                log::info!("{} connected", self.describe());
                self.link = Link::Up { port, since: Instant::now() };
                self.outage_logged = false;
            }
            Err(e) => {
                if self.outage_logged {
                    log::debug!("{}: still cannot open: {e}", self.origin());
                } else {
                    log::warn!("{}: cannot open: {e}; retrying with backoff up to {LAST_RETRY:?}", self.origin());
                    self.outage_logged = true;
                }
                self.retry_later();
            }
        }
    }

    /// Drops the port after it failed; a frame it was sending is given up (its part still arrives).
    fn lose(&mut self, why: String) {
        if let Link::Up { since, .. } = self.link {
            if since.elapsed() >= HEALTHY {
                self.retry_delay = FIRST_RETRY;
            }
        }
        log::warn!("{}: lost the port ({why}); reconnecting with backoff up to {LAST_RETRY:?}", self.origin());
        self.outage_logged = true;
        self.decoder.end_of_stream();
        self.retry_later();
    }

    fn retry_later(&mut self) {
        self.link = Link::Down { retry_at: Instant::now() + self.retry_delay };
        self.retry_delay = (self.retry_delay * 2).min(LAST_RETRY);
    }
}

impl Source for SerialSource {
    /// Returns within about `wait` in every state: reads, reconnect attempts and backoff sleeps
    /// are all cut at the deadline.
    fn poll(&mut self, wait: Duration) -> Poll {
        let now = Instant::now();
        // A wait too long to represent is a day: the loop polls again long before.
        let deadline = now.checked_add(wait).unwrap_or_else(|| now + Duration::from_secs(86_400));
        loop {
            if let Some(arrival) = self.next_arrival() {
                return Poll::Part(arrival);
            }
            self.step(deadline);
            if Instant::now() >= deadline {
                return self.next_arrival().map_or(Poll::Idle, Poll::Part);
            }
        }
    }

    fn describe(&self) -> String {
        format!("serial {} at {} baud", self.path.display(), self.baud)
    }
}
