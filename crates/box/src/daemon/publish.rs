//! Publishing decisions to the plant's MQTT broker (`[publish]`, docs/publishing.md): every
//! journal row as one JSON message on `<prefix>/<box>/decision`, the model deciding on
//! `<prefix>/<box>/model`, and a retained `<prefix>/<box>/status` (`online`, last will `offline`).
//!
//! The journal is the outbox. One thread owns rumqttc's connection and its own connection to the
//! journal; it reads the rows waiting (`published IS NULL`) in order, keeps at most [`WINDOW`] of
//! them in flight at QoS 1, and marks a row published only when the broker's PUBACK for that
//! row's packet id came. Each connection is a clean session: whatever was unacknowledged when the
//! broker went away is sent again, from the oldest waiting row, once it is back (a duplicate is
//! possible, a loss is not). The line's threads never wait on any of this: they write the journal
//! as before, and the publisher finds the rows there.
//!
//! The connection is driven from this one thread (rumqttc's blocking `Connection`), so no request
//! made for one connection can leak into the next, and the packet ids rumqttc hands out (the
//! `Outgoing::Publish` events, in the order the publishes were requested) tie each PUBACK to its
//! row without guessing.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use rumqttc::{
    Client, ConnectReturnCode, Connection, ConnectionError, Event, LastWill, MqttOptions, Outgoing, Packet, QoS, TlsConfiguration,
    Transport,
};
use serde_json::{json, Value};

use super::decision::{self, Decision, FaultKind};
use super::journal::Journal;
use super::metrics::{Metrics, ModelInfo};
use crate::config::{read_private, Config, PublishConfig};

/// Rows sent and not yet acknowledged, at most.
pub const WINDOW: usize = 32;
/// Status and model messages that may be in flight besides the rows.
const NOTICES: usize = 8;
/// How long one wait for the broker lasts while connected, before the outbox is looked at again.
const TICK: Duration = Duration::from_millis(50);
/// How often the backlog is counted and bounded.
const BACKLOG_CHECK: Duration = Duration::from_secs(1);
/// Reconnect backoff: from the first, doubling up to the last.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(250), Duration::from_secs(4));
/// At shutdown, how long waiting rows may still take to go out.
pub const DRAIN: Duration = Duration::from_secs(5);
/// The largest message; a decision is well under 2 KiB.
const MAX_PACKET: usize = 256 << 10;

/// The three topics of one box.
#[derive(Debug, Clone, PartialEq)]
pub struct Topics {
    pub decision: String,
    pub model: String,
    pub status: String,
}

impl Topics {
    pub fn new(prefix: &str, box_name: &str) -> Topics {
        let topic = |leaf: &str| format!("{prefix}/{box_name}/{leaf}");
        Topics { decision: topic("decision"), model: topic("model"), status: topic("status") }
    }
}

/// `[publish]` made ready to connect, the files it names read and checked: at start and by
/// `config check`, so that a bad file is refused before the line runs.
pub struct Settings {
    options: MqttOptions,
    /// `host:port`, for the log.
    pub address: String,
    pub box_name: String,
    pub topics: Topics,
    pub tls: bool,
    max_backlog: u64,
}

impl Settings {
    pub fn load(publish: &PublishConfig) -> Result<Settings, String> {
        let host = publish.host.clone().ok_or("publish.host is not set")?;
        let (box_name, port) = (publish.box_name(), publish.port());
        let topics = Topics::new(&publish.topic_prefix, &box_name);
        let mut options = MqttOptions::new(publish.client_id(), host.clone(), port);
        options
            .set_keep_alive(Duration::from_secs(publish.keep_alive_s))
            .set_clean_session(true)
            .set_inflight((WINDOW + NOTICES) as u16)
            .set_request_channel_capacity(WINDOW + NOTICES)
            .set_max_packet_size(MAX_PACKET, MAX_PACKET)
            .set_last_will(LastWill::new(&topics.status, "offline", QoS::AtLeastOnce, true));
        if let Some(user) = &publish.username {
            let password = match &publish.password_file {
                Some(path) => read_private("publish.password_file", path)?.lines().next().unwrap_or_default().to_string(),
                None => String::new(),
            };
            options.set_credentials(user, password);
        }
        if let Some(ca) = &publish.ca_file {
            options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(Arc::new(tls(publish, ca)?))));
        }
        let tls = publish.ca_file.is_some();
        Ok(Settings { options, address: format!("{host}:{port}"), box_name, topics, tls, max_backlog: publish.max_backlog })
    }
}

/// The TLS client settings: the broker's certificate must chain to `ca`; a client certificate
/// when one is set. rustls with the ring provider.
fn tls(publish: &PublishConfig, ca: &Path) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certificates = |key: &str, path: &Path| {
        let fail = |problem: String| format!("{key} = {}: {problem}", path.display());
        let found =
            CertificateDer::pem_file_iter(path).and_then(Iterator::collect::<Result<Vec<_>, _>>).map_err(|e| fail(e.to_string()))?;
        if found.is_empty() {
            return Err(fail("no PEM certificate in it".into()));
        }
        Ok(found)
    };
    let mut roots = rustls::RootCertStore::empty();
    for certificate in certificates("publish.ca_file", ca)? {
        roots.add(certificate).map_err(|e| format!("publish.ca_file = {}: {e}", ca.display()))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots);
    let (Some(cert), Some(key)) = (&publish.client_cert, &publish.client_key) else { return Ok(builder.with_no_client_auth()) };
    let pem = read_private("publish.client_key", key)?;
    let private = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| format!("publish.client_key = {}: {e}", key.display()))?;
    builder
        .with_client_auth_cert(certificates("publish.client_cert", cert)?, private)
        .map_err(|e| format!("publish.client_key = {}: does not fit publish.client_cert: {e}", key.display()))
}

/// A decision as published: see docs/publishing.md for each field.
pub fn decision_message(box_name: &str, row: i64, d: &Decision) -> Value {
    let stages: serde_json::Map<String, Value> = d.stages_ms.iter().map(|(stage, ms)| (stage.clone(), json!(ms))).collect();
    json!({
        "box": box_name,
        "row": row,
        "part": d.part,
        "origin": d.origin,
        "time": d.time,
        "unix_ms": d.unix_ms,
        "verdict": d.action.as_str(),
        "reason": d.reason,
        "fault": d.fault.as_ref().map(|text| json!({ "kind": d.fault_kind.map(FaultKind::as_str), "text": text })),
        "object_score": d.object_score,
        "threshold": d.threshold,
        "model": model_json(&d.model),
        "stages_ms": stages,
        "total_ms": d.total_ms,
    })
}

/// The model deciding now, as published (retained) on `<prefix>/<box>/model`.
pub fn model_message(box_name: &str, model: &ModelInfo) -> Value {
    json!({ "box": box_name, "model": model_json(&model.label), "threshold": model.threshold, "time": decision::now().0 })
}

/// `{"name", "version"}` from a journal's "name version" label; `null` before a model was loaded ("-").
fn model_json(label: &str) -> Value {
    label.rsplit_once(' ').map_or(Value::Null, |(name, version)| json!({ "name": name, "version": version }))
}

/// The running publisher.
pub struct Publisher {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Publisher {
    /// Reads `[publish]` (refusing bad files), opens the outbox and starts the publisher thread.
    pub fn start(config: &Config, metrics: Arc<Metrics>) -> anyhow::Result<Publisher> {
        let settings = Settings::load(&config.publish).map_err(anyhow::Error::msg)?;
        let journal = Journal::open_outbox(&config.journal.path)?;
        let (client, connection) = Client::new(settings.options.clone(), WINDOW + NOTICES);
        log::info!(
            "publishing to {}{} as {} on {}/#",
            settings.address,
            if settings.tls { " (TLS)" } else { "" },
            settings.options.client_id(),
            settings.topics.decision.trim_end_matches("/decision")
        );
        metrics.outbox.enabled.store(true, Ordering::Relaxed);
        let stop = Arc::new(AtomicBool::new(false));
        let outbox = Outbox::new(settings, journal, client, metrics);
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("publish".into())
            .spawn(move || outbox.run(connection, &stopping))
            .context("starting the publisher thread")?;
        Ok(Publisher { stop, thread })
    }

    /// Lets the rows still waiting go out (up to [`DRAIN`] while connected), says `offline` and
    /// disconnects. Rows left are published at the next start.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        if self.thread.join().is_err() {
            log::error!("publish: the publisher thread panicked; waiting rows go out at the next start");
        }
    }
}

/// A message handed to the client, waiting for its packet id and then its PUBACK.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Sent {
    Row(i64),
    /// A status or model message.
    Notice,
}

/// A kind of problem logged once until another kind comes or it goes away, so that a broker
/// down for an hour is one log line, not one per reconnect attempt.
#[derive(Default)]
struct Episode(Option<&'static str>);

impl Episode {
    /// Whether `kind` is new (and should be logged).
    fn report(&mut self, kind: &'static str) -> bool {
        self.0.replace(kind) != Some(kind)
    }

    fn end(&mut self) {
        self.0 = None;
    }
}

/// The publisher thread's state.
struct Outbox {
    settings: Settings,
    journal: Journal,
    client: Client,
    metrics: Arc<Metrics>,
    connected: bool,
    /// Handed to the client, in order, waiting for the packet id its `Outgoing::Publish` gives.
    unnumbered: VecDeque<Sent>,
    /// Packet id -> message waiting for its PUBACK.
    unacked: HashMap<u16, Sent>,
    /// Rows handed to the client and not acknowledged.
    in_flight: usize,
    /// The last row handed to the client on this connection.
    last_sent: i64,
    /// Whether the last look at the outbox found every waiting row handed out.
    caught_up: bool,
    /// Rows acknowledged, to be marked in the journal.
    acked: Vec<i64>,
    /// The model announced on this connection.
    announced: Option<ModelInfo>,
    broker_trouble: Episode,
    journal_trouble: Episode,
    over_backlog: bool,
    /// The wait before the next connection attempt.
    backoff: Duration,
}

impl Outbox {
    fn new(settings: Settings, journal: Journal, client: Client, metrics: Arc<Metrics>) -> Outbox {
        Outbox {
            settings,
            journal,
            client,
            metrics,
            connected: false,
            unnumbered: VecDeque::new(),
            unacked: HashMap::new(),
            in_flight: 0,
            last_sent: 0,
            caught_up: false,
            acked: Vec::new(),
            announced: None,
            broker_trouble: Episode::default(),
            journal_trouble: Episode::default(),
            over_backlog: false,
            backoff: BACKOFF.0,
        }
    }

    fn run(mut self, mut connection: Connection, stop: &AtomicBool) {
        let mut checked: Option<Instant> = None;
        let mut draining: Option<Instant> = None;
        loop {
            if checked.is_none_or(|at| at.elapsed() >= BACKLOG_CHECK) {
                self.bound_backlog();
                checked = Some(Instant::now());
            }
            if stop.load(Ordering::SeqCst) {
                // The line has stopped: its last rows are in the journal; look once more before
                // counting the outbox as empty.
                let since = *draining.get_or_insert_with(|| {
                    self.caught_up = false;
                    Instant::now()
                });
                if !self.connected || (self.in_flight == 0 && self.caught_up) || since.elapsed() > DRAIN {
                    break;
                }
            }
            // Connecting is waited for whole (rumqttc bounds it); a connected wait is one tick.
            let event = if self.connected { connection.recv_timeout(TICK).ok() } else { connection.recv().ok() };
            match event {
                Some(Ok(event)) => self.on_event(event),
                Some(Err(e)) => {
                    self.on_error(&e);
                    pause(self.backoff, stop);
                    self.backoff = (self.backoff * 2).min(BACKOFF.1);
                }
                None => {}
            }
            self.mark_acked();
            if self.connected {
                self.announce_model();
                self.fill_window();
            }
        }
        self.mark_acked();
        self.say_offline(&mut connection);
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Incoming(Packet::ConnAck(_)) => {
                self.forget_connection();
                self.connected = true;
                self.metrics.outbox.connected.store(true, Ordering::Relaxed);
                self.backoff = BACKOFF.0;
                self.broker_trouble.end();
                let waiting = self.journal.backlog().unwrap_or_default();
                log::info!("publish: connected to {}; {waiting} journal rows waiting to be published", self.settings.address);
                self.notice(&self.settings.topics.status.clone(), "online".into());
            }
            Event::Outgoing(Outgoing::Publish(packet)) => {
                if let Some(sent) = self.unnumbered.pop_front() {
                    self.unacked.insert(packet, sent);
                }
            }
            Event::Incoming(Packet::PubAck(ack)) => {
                if let Some(Sent::Row(row)) = self.unacked.remove(&ack.pkid) {
                    self.acked.push(row);
                    self.in_flight -= 1;
                }
            }
            _ => {}
        }
    }

    /// The connection failed or was lost: rumqttc starts the next one clean, so everything in
    /// flight is sent again from the journal once connected.
    fn on_error(&mut self, error: &ConnectionError) {
        let address = &self.settings.address;
        let (kind, problem) = broker_problem(error, address);
        let new = self.broker_trouble.report(kind);
        if std::mem::replace(&mut self.connected, false) {
            self.metrics.outbox.connected.store(false, Ordering::Relaxed);
            log::warn!("publish: lost the broker at {address}: {error}; decisions go on and wait in the journal");
        } else if new {
            log::error!("publish: {problem}; retrying every {} s at most; decisions go on and wait in the journal", BACKOFF.1.as_secs());
        }
        self.forget_connection();
    }

    fn forget_connection(&mut self) {
        self.unnumbered.clear();
        self.unacked.clear();
        (self.in_flight, self.last_sent, self.caught_up, self.announced) = (0, 0, false, None);
    }

    /// Hands waiting rows to the client, oldest first, up to the window.
    fn fill_window(&mut self) {
        let room = WINDOW - self.in_flight;
        if room == 0 {
            return;
        }
        let rows = match self.journal.outbox(self.last_sent, room) {
            Ok(rows) => rows,
            Err(e) => return self.journal_failed(e),
        };
        self.caught_up = rows.len() < room;
        for (row, decision) in rows {
            let message = decision_message(&self.settings.box_name, row, &decision).to_string();
            if self.client.try_publish(&self.settings.topics.decision, QoS::AtLeastOnce, false, message).is_err() {
                self.caught_up = false;
                return;
            }
            self.unnumbered.push_back(Sent::Row(row));
            (self.in_flight, self.last_sent) = (self.in_flight + 1, row);
        }
    }

    /// A retained status or model message.
    fn notice(&mut self, topic: &str, payload: String) {
        if self.client.try_publish(topic, QoS::AtLeastOnce, true, payload).is_ok() {
            self.unnumbered.push_back(Sent::Notice);
        }
    }

    /// Announces the model deciding, on each connection and after each reload.
    fn announce_model(&mut self) {
        let Some(model) = self.metrics.model().filter(|m| Some(m) != self.announced.as_ref()) else { return };
        let message = model_message(&self.settings.box_name, &model).to_string();
        self.notice(&self.settings.topics.model.clone(), message);
        self.announced = Some(model);
    }

    fn mark_acked(&mut self) {
        if self.acked.is_empty() {
            return;
        }
        match self.journal.mark_published(&self.acked, decision::now().1) {
            Ok(()) => {
                self.metrics.outbox.published.fetch_add(self.acked.len() as u64, Ordering::Relaxed);
                self.acked.clear();
                self.journal_trouble.end();
            }
            Err(e) => self.journal_failed(e),
        }
    }

    /// Counts the waiting rows; beyond `max_backlog` the oldest are kept in the journal but given
    /// up (logged once per episode: until the outbox is back under half the bound).
    fn bound_backlog(&mut self) {
        let max = self.settings.max_backlog;
        let skipped = match self.journal.skip_beyond(max) {
            Ok(skipped) => skipped as u64,
            Err(e) => return self.journal_failed(e),
        };
        let backlog = self.journal.backlog().unwrap_or(max);
        let outbox = &self.metrics.outbox;
        outbox.skipped.fetch_add(skipped, Ordering::Relaxed);
        outbox.backlog.store(backlog, Ordering::Relaxed);
        if skipped > 0 && !self.over_backlog {
            self.over_backlog = true;
            log::error!(
                "publish: more than publish.max_backlog = {max} rows wait for the broker; the oldest ({skipped} so far) stay in the journal but will not be published (dus_edge_publish_skipped_total)"
            );
        } else if self.over_backlog && backlog < max / 2 {
            self.over_backlog = false;
            log::info!(
                "publish: the outbox is back to {backlog} waiting rows; {} rows were left unpublished",
                outbox.skipped.load(Ordering::Relaxed)
            );
        }
    }

    fn journal_failed(&mut self, error: super::journal::JournalError) {
        if self.journal_trouble.report("journal") {
            log::error!("publish: {error}; rows stay waiting");
        }
    }

    /// At shutdown: the retained status says `offline` (the last will covers a crash), then a
    /// clean disconnect, each waited for briefly.
    fn say_offline(&mut self, connection: &mut Connection) {
        if !self.connected {
            return;
        }
        self.notice(&self.settings.topics.status.clone(), "offline".into());
        let until = Instant::now() + Duration::from_secs(2);
        let mut disconnecting = false;
        while Instant::now() < until {
            if !disconnecting && self.unnumbered.is_empty() && self.unacked.is_empty() {
                disconnecting = self.client.try_disconnect().is_ok();
            }
            match connection.recv_timeout(TICK) {
                Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) | Ok(Err(_)) => break,
                Ok(Ok(event)) => self.on_event(event),
                Err(_) => {}
            }
        }
        self.mark_acked();
        log::info!("publish: disconnected from {}", self.settings.address);
    }
}

/// Sleeps `wait`, in ticks, unless the daemon stops meanwhile.
fn pause(wait: Duration, stop: &AtomicBool) {
    let until = Instant::now() + wait;
    while Instant::now() < until && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(TICK.min(until.saturating_duration_since(Instant::now())));
    }
}

/// What went wrong with the broker: its kind (one log line per kind and episode) and words that
/// say what to check.
fn broker_problem(error: &ConnectionError, address: &str) -> (&'static str, String) {
    match error {
        ConnectionError::ConnectionRefused(code @ (ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized)) => (
            "credentials",
            format!("the broker at {address} refused our credentials (CONNACK {code:?}): check publish.username and publish.password_file"),
        ),
        ConnectionError::ConnectionRefused(code) => ("refused", format!("the broker at {address} refused the connection (CONNACK {code:?})")),
        ConnectionError::Tls(e) => (
            "tls",
            format!("TLS handshake with {address} failed ({e}): check publish.ca_file against the broker's certificate, and publish.client_cert / client_key"),
        ),
        e => ("unreachable", format!("cannot reach the broker at {address}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::decision::Action;

    #[test]
    fn a_decision_message_carries_what_a_plant_system_needs() {
        let d = Decision {
            part: "P-7".into(),
            origin: "spool P-7.pcd".into(),
            time: "2026-12-04T05:00:00.000Z".into(),
            unix_ms: 1_796_360_400_000,
            action: Action::Reject,
            reason: "deadline missed: 2100 ms after arrival, deadline 2000 ms".into(),
            fault: Some("deadline missed: 2100 ms after arrival, deadline 2000 ms".into()),
            fault_kind: Some(FaultKind::DeadlineMissed),
            object_score: None,
            threshold: None,
            model: "bunny 1.0.0".into(),
            stages_ms: vec![("intake".into(), 3.5), ("up_net".into(), 401.0)],
            total_ms: 2100.0,
            heatmap: None,
            pulse: None,
            pulse_unix_ms: None,
        };
        let message = decision_message("line-3", 42, &d);
        assert_eq!(message["row"], 42);
        assert_eq!(message["verdict"], "reject");
        assert_eq!(message["fault"]["kind"], "deadline_missed");
        assert_eq!(message["model"], json!({ "name": "bunny", "version": "1.0.0" }));
        assert_eq!(message["stages_ms"]["up_net"], 401.0);
        assert_eq!(message["object_score"], Value::Null);
        assert_eq!(model_json("-"), Value::Null);
        assert_eq!(Topics::new("plant-a/dus-edge", "line-3").status, "plant-a/dus-edge/line-3/status");
    }

    #[test]
    fn a_problem_is_logged_once_until_it_changes() {
        let mut episode = Episode::default();
        assert!(episode.report("unreachable"));
        assert!(!episode.report("unreachable"));
        assert!(episode.report("tls"));
        episode.end();
        assert!(episode.report("tls"));
    }
}
