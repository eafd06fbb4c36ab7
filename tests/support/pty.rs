//! Pseudo-terminal pairs standing in for a scanner's serial line: real ttys, raw mode, and a
//! symlink as the configured port so a test can unplug and replug it.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

/// Both ends of a pseudo-terminal in raw mode; dropping it hangs the line up.
pub struct Pty {
    master: File,
    _slave: OwnedFd,
    slave_path: PathBuf,
}

impl Pty {
    pub fn open() -> Pty {
        let (mut master, mut slave): (RawFd, RawFd) = (-1, -1);
        let opened = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
        assert_eq!(opened, 0, "openpty: {}", std::io::Error::last_os_error());
        let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        // openpty's descriptors are inherited by children unless marked: a daemon started by the
        // test would hold the master open, and unplugging (dropping it here) would hang nothing up.
        for fd in [&master, &slave] {
            assert_eq!(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) }, 0);
        }
        make_raw(&master);
        make_raw(&slave);
        let slave_path = std::fs::read_link(format!("/proc/self/fd/{}", slave.as_raw_fd())).unwrap();
        Pty { master: File::from(master), _slave: slave, slave_path }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).unwrap();
    }

    /// Writes from another thread, for frames larger than the pty's buffer: the write blocks until
    /// the source, polled on this thread, reads.
    pub fn send_in_background(&self, bytes: Vec<u8>) -> JoinHandle<()> {
        let mut master = self.master.try_clone().unwrap();
        std::thread::spawn(move || master.write_all(&bytes).unwrap())
    }
}

/// Raw mode, so bytes pass unaltered (no CR/LF mapping, no echo, no line editing).
fn make_raw(fd: &OwnedFd) {
    unsafe {
        let mut termios: libc::termios = std::mem::zeroed();
        assert_eq!(libc::tcgetattr(fd.as_raw_fd(), &mut termios), 0);
        libc::cfmakeraw(&mut termios);
        assert_eq!(libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, &termios), 0);
    }
}

/// The path the source is configured with, pointing at whichever pty plays the scanner now.
pub fn point_port_at(link: &Path, pty: &Pty) {
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink(&pty.slave_path, link).unwrap();
}
