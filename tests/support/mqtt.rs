//! A mosquitto of its own for a test or the soak benchmark: Debian's `/usr/sbin/mosquitto` on free
//! loopback ports, with a persistence folder, killed and restarted at will. A missing mosquitto
//! fails the caller (scripts/test.sh installs it).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MOSQUITTO: &str = "/usr/sbin/mosquitto";

/// Polls `done` until it holds or `limit` passes; panics with `what` and `context()` then.
pub fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool, context: impl Fn() -> String) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not within {} s\n{}", limit.as_secs(), context());
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A mosquitto of its own: a config file, a persistence folder (so that a persistent subscriber
/// survives a broker restart) and a log, in a temporary folder.
pub struct Broker {
    dir: tempfile::TempDir,
    /// The plain listener (the subscriber's, and the box's unless TLS).
    pub port: u16,
    /// The TLS listener, when there is one.
    tls_port: Option<u16>,
    child: Option<Child>,
}

impl Broker {
    /// `listeners` are extra mosquitto.conf lines (authentication, a TLS listener).
    pub fn start_with(listeners: &str, tls_port: Option<u16>) -> Broker {
        assert!(Path::new(MOSQUITTO).exists(), "{MOSQUITTO} is missing: apt-get install mosquitto (scripts/test.sh installs it as root)");
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let port = free_port();
        let conf = format!(
            "per_listener_settings false\nuser root\npersistence true\npersistence_location {}/\nautosave_interval 1\nmax_queued_messages 100000\n\
             log_dest file {}\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\nlistener {port} 127.0.0.1\n{listeners}",
            dir.path().display(),
            dir.path().join("mosquitto.log").display(),
        );
        std::fs::write(dir.path().join("mosquitto.conf"), conf).unwrap();
        let mut broker = Broker { dir, port, tls_port, child: None };
        broker.restart();
        broker
    }

    pub fn start() -> Broker {
        Broker::start_with("allow_anonymous true\n", None)
    }

    /// Starts mosquitto (again, on the same ports and persistence) and waits until it listens.
    pub fn restart(&mut self) {
        let child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        self.child = Some(child.unwrap_or_else(|e| panic!("{MOSQUITTO}: {e}")));
        let ports = [Some(self.port), self.tls_port];
        wait_until(
            Duration::from_secs(20),
            "mosquitto listening",
            || ports.iter().flatten().all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok()),
            || self.log(),
        );
    }

    /// SIGKILL: the broker dies without a goodbye to anyone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}
