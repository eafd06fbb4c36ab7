//! The line daemon (`edge-tool run`): scans in from a [`source::Source`], one journaled decision
//! per part, reject pulses out through an [`actuator::Actuator`]. See [`line`](mod@line) for the threads and
//! the fail-safe rules, ARCHITECTURE.md for the map.

pub mod actuator;
pub mod decision;
pub mod frame;
pub mod heatmaps;
pub mod http;
pub mod journal;
pub mod line;
pub mod metrics;
pub mod page;
pub mod publish;
pub mod replay;
pub mod serial;
pub mod source;
pub mod spool;
pub mod table;
pub mod web;

pub use line::{run, Flags, Summary};

/// Locks a mutex shared between the daemon's threads; a thread that panicked while holding it
/// leaves counters or a journal handle that are still usable, so poisoning is not fatal.
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `work`, turning a panic into its message: a panic in a reader or the detector is that
/// part's fault, not the line's end.
fn survive<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).map_err(|panic| {
        let message = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned());
        format!("panicked: {}", message.unwrap_or_else(|| "(no message)".into()))
    })
}
