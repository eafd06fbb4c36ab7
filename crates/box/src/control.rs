//! Talking to a running daemon: SIGHUP to the pid in its pid file asks it to reload its model
//! between two parts. The only module that sends signals (also the SIGKILL of flash's
//! power-cut test hook, [`power_cut`]).

use std::path::{Path, PathBuf};

/// What became of a reload request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// SIGHUP was sent to this pid.
    Sent(i32),
    /// No daemon runs (no pid file, or its process is gone); nothing to tell.
    NotRunning(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("{path}: cannot read the daemon's pid file: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: '{content}' is not a process id")]
    Garbled { path: PathBuf, content: String },
    #[error("cannot signal the daemon (pid {pid}): {source}; run as the daemon's user or root")]
    Signal { pid: i32, source: std::io::Error },
}

/// Reads the pid file and sends SIGHUP to that process.
pub fn reload(pid_file: &Path) -> Result<Reload, ControlError> {
    let text = match std::fs::read_to_string(pid_file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Reload::NotRunning(format!("no daemon is running ({} does not exist)", pid_file.display())))
        }
        Err(source) => return Err(ControlError::Read { path: pid_file.to_path_buf(), source }),
    };
    let garbled = || ControlError::Garbled { path: pid_file.to_path_buf(), content: text.trim().chars().take(40).collect() };
    let pid: i32 = text.trim().parse().map_err(|_| garbled())?;
    // 0, 1 and negative values would signal process groups, init or every process.
    if pid <= 1 {
        return Err(garbled());
    }
    // SAFETY: kill(2) with a positive pid and a valid signal number has no memory effects.
    if unsafe { libc::kill(pid, libc::SIGHUP) } == 0 {
        return Ok(Reload::Sent(pid));
    }
    let source = std::io::Error::last_os_error();
    if source.raw_os_error() == Some(libc::ESRCH) {
        return Ok(Reload::NotRunning(format!("no daemon is running (pid {pid} in {} is gone)", pid_file.display())));
    }
    Err(ControlError::Signal { pid, source })
}

/// Kills this process at once, as a power cut would stop it: no destructors, no flushing. Only
/// flash's test hook (`DUS_EDGE_FLASH_KILL_AFTER`) calls it.
pub fn power_cut() -> ! {
    // SAFETY: kill(2) on our own pid has no memory effects; SIGKILL cannot be caught.
    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    unreachable!("SIGKILL ends the process")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_garbled_pid_file_is_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("daemon.pid");
        assert!(matches!(reload(&pid_file).unwrap(), Reload::NotRunning(m) if m.contains("does not exist")));
        for content in ["not a pid", "-1", "0", "1"] {
            std::fs::write(&pid_file, content).unwrap();
            assert!(matches!(reload(&pid_file), Err(ControlError::Garbled { .. })), "{content}");
        }
    }
}
