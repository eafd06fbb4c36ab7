//! The box's configuration file (`edge.toml`): one TOML file, validated at start, every error
//! naming the key and the problem. Sections: `[runtime]` (ONNX Runtime), `[models]` (where model
//! slots live and which bundle signers are trusted), `[daemon]` (the line daemon's process files),
//! and the line daemon's `[line]`, `[source]`, `[actuator]`, `[journal]`, `[metrics]`, `[web]`,
//! `[publish]`.
//! `edge.example.toml` at the top of the repository is the commented example.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use dus_core::model::RuntimeConfig;

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub runtime: RuntimeConfig,
    pub models: ModelsConfig,
    pub daemon: DaemonConfig,
    pub line: LineConfig,
    pub source: SourceSection,
    pub actuator: ActuatorConfig,
    pub journal: JournalConfig,
    pub metrics: MetricsConfig,
    pub web: WebConfig,
    pub publish: PublishConfig,
}

/// Where models live on the box and whom to trust for new ones.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsConfig {
    /// Folder holding the A/B model slots (or, on a development box, one model folder).
    pub root: PathBuf,
    /// Ed25519 public keys (hex) whose signatures on model bundles are accepted.
    pub trusted_keys: Vec<String>,
    /// Development only: accept unsigned bundles or bundles signed by unknown keys.
    pub allow_unsigned: bool,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        ModelsConfig { root: PathBuf::from("models/bunny"), trusted_keys: Vec::new(), allow_unsigned: false }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DaemonConfig {
    /// The running daemon's process id, for `edge-tool reload` and `flash`.
    pub pid_file: PathBuf,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig { pid_file: PathBuf::from("/run/dus-edge/daemon.pid") }
    }
}

/// The line's timing: how long a part may take and how many may wait.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LineConfig {
    /// From a scan's arrival to its decision; a part over it is rejected (fail-safe).
    pub deadline_ms: u64,
    /// Scans waiting for detection; one more is rejected at once ("queue full"), never dropped.
    pub queue: usize,
    /// A reject pulse later than this after its moment (decision + `actuator.delay_ms`) can no
    /// longer reach its part: it is not fired, and the part is journaled as a missed actuation.
    pub max_pulse_lag_ms: u64,
    /// How long the reading or the detection thread may work on one part before the daemon
    /// counts itself stalled: the watchdog and `/healthz` stop saying ok and the daemon exits,
    /// so that systemd restarts it and the part is rejected as crashed during inspection.
    /// Default: the larger of 10 s and twice `deadline_ms`.
    pub stall_ms: Option<u64>,
}

impl Default for LineConfig {
    fn default() -> Self {
        LineConfig { deadline_ms: 2000, queue: 4, max_pulse_lag_ms: 500, stall_ms: None }
    }
}

impl LineConfig {
    /// `stall_ms`, or its default.
    pub fn stall(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.stall_ms.unwrap_or(self.deadline_ms.saturating_mul(2).max(10_000)))
    }
}

/// `[source]` as written: one flat section, so toml's errors point at the key that is wrong.
/// [`SourceSection::spec`] checks that the keys fit the kind and gives the [`SourceConfig`].
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct SourceSection {
    pub kind: SourceKind,
    pub dir: Option<PathBuf>,
    pub settle_ms: Option<u64>,
    pub port: Option<PathBuf>,
    pub baud: Option<u32>,
    pub max_points: Option<u32>,
    pub scans: Option<Vec<PathBuf>>,
    pub interval_ms: Option<u64>,
    pub parts: Option<usize>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    #[default]
    Spool,
    Serial,
    Replay,
}

/// Where scans come from, once `[source]` was checked.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceConfig {
    /// A folder the scanner software writes scan files into.
    Spool {
        dir: PathBuf,
        /// A file is taken once unchanged for this long (for writers that do not rename atomically).
        settle_ms: u64,
    },
    /// Framed point streams on a serial line (docs/serial-protocol.md).
    Serial {
        port: PathBuf,
        baud: u32,
        /// Frames claiming more points are refused before anything is allocated.
        max_points: u32,
    },
    /// Scan files played as if a scanner sent them: the demo and the soak benchmark.
    Replay {
        scans: Vec<PathBuf>,
        interval_ms: u64,
        /// How many parts in all (cycling through `scans`); 0 means one pass.
        parts: usize,
    },
}

impl SourceSection {
    /// The source this section describes; keys of another kind, or a missing required key, are
    /// errors that name the key.
    pub fn spec(&self) -> Result<SourceConfig, String> {
        let kind = format!("{:?}", self.kind).to_lowercase();
        let set = [
            ("dir", self.dir.is_some(), SourceKind::Spool),
            ("settle_ms", self.settle_ms.is_some(), SourceKind::Spool),
            ("port", self.port.is_some(), SourceKind::Serial),
            ("baud", self.baud.is_some(), SourceKind::Serial),
            ("max_points", self.max_points.is_some(), SourceKind::Serial),
            ("scans", self.scans.is_some(), SourceKind::Replay),
            ("interval_ms", self.interval_ms.is_some(), SourceKind::Replay),
            ("parts", self.parts.is_some(), SourceKind::Replay),
        ];
        if let Some((key, _, _)) = set.iter().find(|(_, present, owner)| *present && *owner != self.kind) {
            return Err(format!("source.{key} does not apply to kind = \"{kind}\""));
        }
        let required = |key: &str| format!("source.{key} is required for kind = \"{kind}\"");
        Ok(match self.kind {
            SourceKind::Spool => SourceConfig::Spool {
                dir: self.dir.clone().unwrap_or_else(|| PathBuf::from("/var/spool/dus-edge")),
                settle_ms: bounded("source.settle_ms", self.settle_ms.unwrap_or(500), 0, 600_000, "ms")?,
            },
            SourceKind::Serial => SourceConfig::Serial {
                port: self.port.clone().ok_or_else(|| required("port"))?,
                baud: bounded("source.baud", self.baud.unwrap_or(921_600).into(), 300, 12_000_000, "baud")? as u32,
                max_points: bounded(
                    "source.max_points",
                    self.max_points.unwrap_or(2_000_000).into(),
                    1,
                    dus_core::cloud::MAX_POINTS as u64,
                    "points",
                )? as u32,
            },
            SourceKind::Replay => SourceConfig::Replay {
                scans: self.scans.clone().filter(|s| !s.is_empty()).ok_or_else(|| required("scans (at least one file)"))?,
                interval_ms: bounded("source.interval_ms", self.interval_ms.unwrap_or(0), 0, 3_600_000, "ms")?,
                parts: self.parts.unwrap_or(0),
            },
        })
    }
}

/// `value` when it lies in `low..=high` ([`within`]).
fn bounded(key: &str, value: u64, low: u64, high: u64, unit: &str) -> Result<u64, String> {
    within(key, value, low, high, unit).map(|()| value)
}

/// The reject actuator's GPIO line and timing.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ActuatorConfig {
    pub kind: ActuatorKind,
    /// GPIO character device (gpio-cdev).
    pub chip: PathBuf,
    /// Line offset on the chip (gpio-cdev) or BCM pin number (rppal).
    pub line: u32,
    /// Whether the ejector fires on a high level.
    pub active_high: bool,
    pub pulse_ms: u64,
    /// From the decision to the pulse: the part's travel from scanner to ejector.
    pub delay_ms: u64,
    /// Simulated only: append every pulse as a JSON line to this file.
    pub record: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ActuatorKind {
    /// No hardware: pulses are logged and recorded.
    Simulated,
    /// Raspberry Pi GPIO through rppal (cargo feature `rppal`).
    Rppal,
    /// The Linux GPIO character device, e.g. on Jetson (cargo feature `gpio-cdev`).
    GpioCdev,
}

impl Default for ActuatorConfig {
    fn default() -> Self {
        ActuatorConfig {
            kind: ActuatorKind::Simulated,
            chip: PathBuf::from("/dev/gpiochip0"),
            line: 17,
            active_high: true,
            pulse_ms: 50,
            delay_ms: 0,
            record: None,
        }
    }
}

/// The decision journal and the heatmaps kept for rejects.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct JournalConfig {
    pub path: PathBuf,
    /// Folder for the heatmap PLY of each rejected part; oldest removed first over the budget.
    pub heatmaps: PathBuf,
    pub heatmap_budget_mb: u64,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            path: PathBuf::from("/var/lib/dus-edge/journal.db"),
            heatmaps: PathBuf::from("/var/lib/dus-edge/heatmaps"),
            heatmap_budget_mb: 512,
        }
    }
}

/// `/metrics` and `/healthz` over HTTP, off unless `listen` is set; loopback addresses only.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    pub listen: Option<std::net::SocketAddr>,
}

/// The status page (`src/daemon/web.rs`), off unless `listen` is set. Any address outside
/// loopback needs `token_file`: the page shows the line's parts and pictures.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    pub listen: Option<std::net::SocketAddr>,
    /// A private file holding the token every request must carry (`Authorization: Bearer` or
    /// `?token=`); checked by `config check` and at start.
    pub token_file: Option<PathBuf>,
    /// How many recent rejects the page lists, with their pictures.
    pub rejects: usize,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig { listen: None, token_file: None, rejects: 12 }
    }
}

impl WebConfig {
    /// An address outside loopback must come with a token.
    fn check_exposure(&self) -> Result<(), String> {
        match self.listen {
            Some(listen) if !listen.ip().is_loopback() && self.token_file.is_none() => Err(format!(
                "web.listen = {listen} is not a loopback address: set web.token_file (the page would be open to the network without one)"
            )),
            _ => Ok(()),
        }
    }
}

/// Publishing every decision to an MQTT broker (`src/daemon/publish.rs`, `docs/publishing.md`),
/// off unless `host` is set. The journal is the outbox: rows wait there while the broker is away.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PublishConfig {
    pub host: Option<String>,
    /// Default 1883, or 8883 with `ca_file` (TLS).
    pub port: Option<u16>,
    /// This box's name in the topics (`<topic_prefix>/<box>/...`); default: the host name.
    #[serde(rename = "box")]
    pub box_name: Option<String>,
    /// Default: the box's name. Two boxes with one client id throw each other off the broker.
    pub client_id: Option<String>,
    /// One or more topic levels in front of the box's name.
    pub topic_prefix: String,
    pub username: Option<String>,
    /// A private file (no group or other permissions) holding the password on its first line.
    pub password_file: Option<PathBuf>,
    /// PEM CA certificate(s) the broker's certificate must chain to; setting it turns TLS on.
    pub ca_file: Option<PathBuf>,
    /// PEM certificate and private key for brokers that want clients to authenticate by TLS.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// Unpublished rows kept in the outbox; beyond it the oldest stay in the journal but are not
    /// published (counted in `dus_edge_publish_skipped_total`, logged once per episode).
    pub max_backlog: u64,
    /// MQTT keep-alive: how soon a dead connection is noticed (and the broker sends the last will).
    pub keep_alive_s: u64,
}

impl Default for PublishConfig {
    fn default() -> Self {
        PublishConfig {
            host: None,
            port: None,
            box_name: None,
            client_id: None,
            topic_prefix: "dus-edge".into(),
            username: None,
            password_file: None,
            ca_file: None,
            client_cert: None,
            client_key: None,
            max_backlog: 100_000,
            keep_alive_s: 15,
        }
    }
}

impl PublishConfig {
    /// The box's name: `box`, or this machine's host name.
    pub fn box_name(&self) -> String {
        self.box_name.clone().unwrap_or_else(host_name)
    }

    pub fn client_id(&self) -> String {
        self.client_id.clone().unwrap_or_else(|| self.box_name())
    }

    pub fn port(&self) -> u16 {
        self.port.unwrap_or(if self.ca_file.is_some() { 8883 } else { 1883 })
    }

    /// The rules of a `[publish]` that is on; the files it names are read by the publisher (and
    /// `config check`), which name them in their errors.
    fn check(&self) -> Result<(), String> {
        let Some(host) = &self.host else { return Ok(()) };
        if host.trim().is_empty() || host.contains(char::is_whitespace) {
            return Err(format!("publish.host = {host:?} is not a host name or address"));
        }
        within("publish.port", self.port().into(), 1, 65_535, "")?;
        within("publish.max_backlog", self.max_backlog, 1, 100_000_000, "rows")?;
        within("publish.keep_alive_s", self.keep_alive_s, 5, 3600, "s")?;
        topic_levels("publish.topic_prefix", &self.topic_prefix, true)?;
        topic_levels("publish.box", &self.box_name(), false)?;
        let id = self.client_id();
        if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
            return Err(format!("publish.client_id = {id:?}: 1 to 128 printable characters"));
        }
        match (&self.username, &self.password_file, &self.client_cert, &self.client_key) {
            (None, Some(_), _, _) => Err("publish.password_file needs publish.username".to_string()),
            (_, _, Some(_), None) => Err("publish.client_cert needs publish.client_key".to_string()),
            (_, _, None, Some(_)) => Err("publish.client_key needs publish.client_cert".to_string()),
            (_, _, Some(_), Some(_)) if self.ca_file.is_none() => Err("publish.client_cert needs publish.ca_file (TLS)".to_string()),
            _ => Ok(()),
        }
    }
}

/// `text` as MQTT topic levels: no wildcards, no empty level; `several` allows `/` between levels.
fn topic_levels(key: &str, text: &str, several: bool) -> Result<(), String> {
    let bad = text.is_empty()
        || text.len() > 200
        || text.split('/').any(str::is_empty)
        || text.chars().any(|c| c == '+' || c == '#' || c.is_control())
        || (!several && text.contains('/'));
    match bad {
        true => Err(format!(
            "{key} = {text:?}: one{} topic level of printable characters without + # or empty levels",
            if several { " or more" } else { "" }
        )),
        false => Ok(()),
    }
}

/// This machine's host name ("dus-edge" if it has none).
fn host_name() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname(2) writes at most the buffer's length into it.
    let ok = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) } == 0;
    let name = String::from_utf8_lossy(buffer.split(|&b| b == 0).next().unwrap_or_default()).into_owned();
    if ok && !name.is_empty() {
        name
    } else {
        "dus-edge".into()
    }
}

/// The text of a secret file (`key` names the setting): a private regular file of at most 4 KiB,
/// with no group or other permissions, so that a secret on the box is not readable by everyone.
pub fn read_private(key: &str, path: &Path) -> Result<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let fail = |problem: String| format!("{key} = {}: {problem}", path.display());
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    if !meta.is_file() || meta.len() > 4096 {
        return Err(fail("not a regular file of at most 4 KiB".into()));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(fail(format!("other users may read it (mode {:o}); chmod 600 it", meta.permissions().mode() & 0o777)));
    }
    std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    /// Reads and validates `path`; toml's messages name the key, line and column of a mistake.
    /// Only a regular file of at most [`MAX_CONFIG_BYTES`] is read (not `/dev/zero`, not a FIFO).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid { path: path.to_path_buf(), message };
        let text = read_bounded(path).map_err(|e| match e {
            Bounded::Io(source) => ConfigError::Io { path: path.to_path_buf(), source },
            Bounded::Refused(message) => invalid(message),
        })?;
        let config: Config = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        config.check().map_err(invalid)?;
        Ok(config)
    }

    /// The rules types cannot say; each message names the key.
    pub fn check(&self) -> Result<(), String> {
        let (line, actuator, journal) = (&self.line, &self.actuator, &self.journal);
        let rules = [
            within("line.deadline_ms", line.deadline_ms, 1, 600_000, "ms"),
            within("line.queue", line.queue as u64, 1, 1024, "scans"),
            within("line.max_pulse_lag_ms", line.max_pulse_lag_ms, 1, 60_000, "ms"),
            within("line.stall_ms", line.stall().as_millis() as u64, line.deadline_ms + 1, 3_600_000, "ms (above line.deadline_ms)"),
            within("actuator.pulse_ms", actuator.pulse_ms, 1, 10_000, "ms"),
            within("actuator.delay_ms", actuator.delay_ms, 0, 60_000, "ms"),
            within("journal.heatmap_budget_mb", journal.heatmap_budget_mb, 1, 1 << 20, "MiB"),
            within("runtime.threads", self.runtime.threads as u64, 1, 1024, "threads"),
            within("web.rejects", self.web.rejects as u64, 1, 100, "rejects"),
            self.web.check_exposure(),
            self.publish.check(),
            self.runtime.check_providers(),
            self.models.check_keys(),
            not_a_folder("journal.path", &journal.path),
            self.metrics.listen.is_none_or(|a| a.ip().is_loopback()).then_some(()).ok_or_else(|| {
                "metrics.listen must be a loopback address (127.0.0.1 or ::1): the endpoint has no authentication".to_string()
            }),
        ];
        rules.into_iter().collect::<Result<Vec<()>, String>>()?;
        self.source.spec().map(|_| ())
    }
}

/// The largest `edge.toml` read; a real one is a few KiB.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

enum Bounded {
    Io(std::io::Error),
    Refused(String),
}

/// The text of `path` if it is a regular UTF-8 file of at most [`MAX_CONFIG_BYTES`].
fn read_bounded(path: &Path) -> Result<String, Bounded> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(Bounded::Io)?;
    if !meta.is_file() {
        return Err(Bounded::Refused("not a regular file (a folder, device or FIFO); give the path of edge.toml".into()));
    }
    let mut text = String::new();
    let file = std::fs::File::open(path).map_err(Bounded::Io)?;
    file.take(MAX_CONFIG_BYTES + 1).read_to_string(&mut text).map_err(Bounded::Io)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(Bounded::Refused(format!("larger than {} KiB; this is not an edge.toml", MAX_CONFIG_BYTES >> 10)));
    }
    Ok(text)
}

/// `Ok` when `value` (of `key`) lies in `low..=high`, else a message naming key, value and range.
fn within(key: &str, value: u64, low: u64, high: u64, unit: &str) -> Result<(), String> {
    match (low..=high).contains(&value) {
        true => Ok(()),
        false => Err(format!("{key} = {value} is out of range: {low} to {high} {unit}")),
    }
}

fn not_a_folder(key: &str, path: &Path) -> Result<(), String> {
    match path.is_dir() {
        true => Err(format!("{key} = {} is a folder; it names the journal file (e.g. /var/lib/dus-edge/journal.db)", path.display())),
        false => Ok(()),
    }
}

impl ModelsConfig {
    /// Every trusted key must be an Ed25519 public key in hex, as `edge-tool keygen` prints it.
    fn check_keys(&self) -> Result<(), String> {
        for (i, key) in self.trusted_keys.iter().enumerate() {
            crate::bundle::keys::parse_public(key).map_err(|m| format!("models.trusted_keys[{i}] = {key:?}: {m}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_key_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("edge.toml");
        std::fs::write(&path, "[models]\nroot = \"/srv/models\"\ntrusted_key = []\n").unwrap();
        let message = Config::load(&path).unwrap_err().to_string();
        assert!(message.contains("trusted_key") && message.contains("edge.toml"), "{message}");
    }

    #[test]
    fn rules_beyond_types_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("edge.toml");
        for (text, key) in [
            ("[line]\ndeadline_ms = 0\n", "line.deadline_ms"),
            ("[metrics]\nlisten = \"0.0.0.0:9898\"\n", "metrics.listen"),
            ("[web]\nlisten = \"0.0.0.0:8080\"\n", "web.token_file"),
            ("[web]\nlisten = \"192.168.1.20:8080\"\n", "web.token_file"),
            ("[web]\nrejects = 0\n", "web.rejects"),
            ("[publish]\nhost = \"broker\"\ntopic_prefix = \"plant/#\"\n", "publish.topic_prefix"),
            ("[publish]\nhost = \"broker\"\nbox = \"line/3\"\n", "publish.box"),
            ("[publish]\nhost = \"broker\"\nbox = \"a\"\npassword_file = \"/etc/p\"\n", "publish.password_file needs publish.username"),
            ("[publish]\nhost = \"broker\"\nbox = \"a\"\nca_file = \"/ca\"\nclient_cert = \"/c\"\n", "publish.client_key"),
            ("[publish]\nhost = \"broker\"\nbox = \"a\"\nmax_backlog = 0\n", "publish.max_backlog"),
            ("[publish]\nhost = \"broker\"\nbox = \"a\"\nqos = 0\n", "qos"),
            ("[source]\nkind = \"replay\"\nscans = []\n", "source.scans"),
            ("[source]\nkind = \"serial\"\n", "source.port is required"),
            ("[source]\nkind = \"spool\"\nport = \"/dev/ttyUSB0\"\n", "source.port does not apply"),
            ("[source]\nkind = \"serial\"\nport = \"/dev/ttyUSB0\"\nbaud = \"fast\"\n", "baud"),
            ("[actuator]\nkind = \"relay\"\n", "relay"),
        ] {
            std::fs::write(&path, text).unwrap();
            let message = Config::load(&path).unwrap_err().to_string();
            assert!(message.contains(key), "{text}: {message}");
        }
    }

    #[test]
    fn the_example_configuration_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../edge.example.toml");
        let config = Config::load(&path).unwrap();
        assert!(matches!(config.source.spec(), Ok(SourceConfig::Spool { settle_ms: 500, .. })));
        assert_eq!(config.actuator.kind, ActuatorKind::GpioCdev);
        assert_eq!((config.publish.port(), config.publish.client_id().as_str()), (8883, "line-3-box-a"));
    }

    #[test]
    fn sections_left_out_take_their_defaults() {
        let config: Config = toml::from_str("[models]\nroot = \"/srv/models\"\n").unwrap();
        assert_eq!(config.models.root, PathBuf::from("/srv/models"));
        assert_eq!(config.runtime, RuntimeConfig::default());
    }
}
