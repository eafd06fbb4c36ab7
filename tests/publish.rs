//! MQTT publishing end to end: the real daemon, a real mosquitto on a loopback port (started
//! here; the test fails if it is missing: `apt-get install mosquitto`, which scripts/test.sh does)
//! and a subscriber on rumqttc. Every part's decision must reach the subscriber: in order and once
//! in a normal run, at least once across a broker outage, a daemon killed with SIGKILL, a wrong
//! password and a refused TLS handshake, with the journal as the outbox meanwhile.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dus_box::daemon::decision::Decision;
use dus_box::daemon::journal::Journal;
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use support::mqtt::{free_port, wait_until, Broker};
use support::{drop_scan, repo, sample, Daemon, LineBox};

const PREFIX: &str = "plant-a/dus-edge";
/// A scan with too few points: decided at once (a fault), so that tests make many decisions fast.
const TINY_SCAN: &[u8] = b"1 2 3\n4 5 6\n7 8 9\n";

/// One message as received.
#[derive(Debug, Clone)]
struct Message {
    topic: String,
    payload: String,
    retain: bool,
}

/// A persistent-session subscriber to everything under [`PREFIX`], collecting what arrives;
/// it reconnects by itself across a broker restart.
struct Subscriber {
    messages: Arc<Mutex<Vec<Message>>>,
    stop: Arc<AtomicBool>,
    _client: Client,
}

impl Subscriber {
    fn connect(broker: &Broker, credentials: Option<(&str, &str)>) -> Subscriber {
        static SUBSCRIBERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let id = format!("test-subscriber-{}-{}", broker.port, SUBSCRIBERS.fetch_add(1, Ordering::SeqCst));
        let mut options = MqttOptions::new(id, "127.0.0.1", broker.port);
        options.set_clean_session(false).set_keep_alive(Duration::from_secs(5)).set_max_packet_size(1 << 20, 1 << 20);
        if let Some((user, password)) = credentials {
            options.set_credentials(user, password);
        }
        let (client, mut connection) = Client::new(options, 64);
        client.subscribe(format!("{PREFIX}/#"), QoS::AtLeastOnce).unwrap();
        let (messages, stop, subscribed) =
            (Arc::new(Mutex::new(Vec::new())), Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let (into, stopping, acked) = (messages.clone(), stop.clone(), subscribed.clone());
        std::thread::spawn(move || {
            for event in connection.iter() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                match event {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let message =
                            Message { topic: p.topic.clone(), payload: String::from_utf8_lossy(&p.payload).into_owned(), retain: p.retain };
                        into.lock().unwrap().push(message);
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => acked.store(true, Ordering::SeqCst),
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(200)),
                }
            }
        });
        wait_until(Duration::from_secs(20), "the subscription", || subscribed.load(Ordering::SeqCst), || broker.log());
        Subscriber { messages, stop, _client: client }
    }

    fn on(&self, leaf: &str) -> Vec<Message> {
        self.messages.lock().unwrap().iter().filter(|m| m.topic.ends_with(&format!("/{leaf}"))).cloned().collect()
    }

    /// The decision messages, parsed, in arrival order.
    fn decisions(&self) -> Vec<Value> {
        self.on("decision").iter().map(|m| serde_json::from_str(&m.payload).unwrap()).collect()
    }

    /// How many decision messages each part id got.
    fn copies(&self) -> BTreeMap<String, usize> {
        let mut copies = BTreeMap::new();
        for message in self.decisions() {
            *copies.entry(message["part"].as_str().unwrap().to_string()).or_insert(0) += 1;
        }
        copies
    }

    /// Waits until every part in `parts` arrived at least once.
    fn wait_for_parts(&self, parts: &[String], limit: Duration, daemon: &Daemon) {
        let missing = || parts.iter().filter(|p| !self.copies().contains_key(*p)).cloned().collect::<Vec<_>>();
        wait_until(
            limit,
            "every decision at the subscriber",
            || missing().is_empty(),
            || format!("missing {:?}\ndaemon log:\n{}", missing(), daemon.log()),
        );
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A box on a spool that publishes to `host:port` with `extra` `[publish]` lines.
fn publishing_box(port: u16, extra: &str) -> (LineBox, PathBuf) {
    let spool = tempfile::tempdir().unwrap().keep().join("spool");
    let sections = format!(
        "[source]\nkind = \"spool\"\ndir = {spool:?}\nsettle_ms = 0\n[line]\ndeadline_ms = 60000\n[metrics]\nlisten = \"127.0.0.1:0\"\n[web]\nlisten = \"127.0.0.1:0\"\n\
         [publish]\nhost = \"localhost\"\nport = {port}\nbox = \"box-7\"\ntopic_prefix = \"{PREFIX}\"\n{extra}"
    );
    (LineBox::new(&repo().join("models/bunny"), &sections), spool)
}

/// Drops `n` quick scans named `<prefix>-<i>`, and waits until the journal holds `rows` rows.
fn decide_quick_parts(line: &LineBox, spool: &Path, daemon: &Daemon, prefix: &str, n: usize, rows: usize) -> Vec<String> {
    let names: Vec<String> = (1..=n).map(|i| format!("{prefix}-{i:03}")).collect();
    for name in &names {
        drop_scan(spool, &format!("{name}.xyz"), TINY_SCAN);
    }
    line.wait_for_rows(rows, daemon);
    names
}

/// Rows waiting in the box's outbox.
fn backlog(line: &LineBox) -> u64 {
    Journal::read_only(&line.path("journal.db")).unwrap().backlog().unwrap()
}

fn parts(rows: &[Decision]) -> Vec<String> {
    rows.iter().map(|d| d.part.clone()).collect()
}

/// GET /metrics from the address the daemon logged.
fn metrics(daemon: &Daemon) -> String {
    get(daemon, "metrics on http://", "/metrics")
}

/// GET `path` from the address the daemon logged after `announced`.
fn get(daemon: &Daemon, announced: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let log = daemon.log();
    let address = log.split(announced).nth(1).and_then(|r| r.split('/').next()).unwrap_or_else(|| panic!("{log}"));
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// The value of one unlabelled metric.
fn metric(text: &str, name: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).unwrap_or_else(|| panic!("no {name}:\n{text}")).parse().unwrap()
}

#[test]
fn two_hundred_parts_arrive_in_journal_order_each_exactly_once() {
    let broker = Broker::start();
    let subscriber = Subscriber::connect(&broker, None);
    let tiny = tempfile::tempdir().unwrap();
    let tiny_scan = tiny.path().join("tiny.xyz");
    std::fs::write(&tiny_scan, TINY_SCAN).unwrap();
    // One good and one defective part among every 20 (real inspections), the rest decided at once.
    let mut scans = vec![sample("good.pcd"), sample("defect.pcd")];
    scans.extend(std::iter::repeat_n(tiny_scan, 18));
    let list = format!("[{}]", scans.iter().map(|p| format!("{p:?}")).collect::<Vec<_>>().join(", "));
    let line = LineBox::new(
        &repo().join("models/bunny"),
        &format!(
            "[source]\nkind = \"replay\"\nscans = {list}\nparts = 200\ninterval_ms = 50\n[line]\ndeadline_ms = 60000\nqueue = 64\n\
             [publish]\nhost = \"127.0.0.1\"\nport = {}\nbox = \"box-1\"\ntopic_prefix = \"{PREFIX}\"\n",
            broker.port
        ),
    );
    let (status, log) = line.start().wait();
    assert!(status.success(), "{log}");
    let rows = line.decisions();
    assert_eq!(rows.len(), 200, "{log}");
    wait_until(Duration::from_secs(30), "200 decisions at the subscriber", || subscriber.decisions().len() >= 200, || log.clone());

    let received = subscriber.decisions();
    assert_eq!(received.len(), 200, "no duplicates in a normal run");
    assert_eq!(received.iter().map(|m| m["part"].as_str().unwrap().to_string()).collect::<Vec<_>>(), parts(&rows), "journal order");
    assert!(subscriber.copies().values().all(|&n| n == 1));
    let row_ids: Vec<i64> = received.iter().map(|m| m["row"].as_i64().unwrap()).collect();
    assert!(row_ids.windows(2).all(|w| w[0] < w[1]), "rows in order: {row_ids:?}");
    assert_eq!(backlog(&line), 0, "every row marked published");

    // A message says what the journal says.
    let (journal, message) = rows.iter().zip(&received).find(|(d, _)| d.fault.is_none() && !d.is_reject()).expect("a pass");
    assert_eq!(
        (message["box"].as_str(), message["verdict"].as_str(), message["time"].as_str()),
        (Some("box-1"), Some("pass"), Some(journal.time.as_str()))
    );
    assert_eq!((message["object_score"].as_f64(), message["threshold"].as_f64()), (journal.object_score, journal.threshold));
    assert_eq!(message["model"], serde_json::json!({ "name": "bunny", "version": "1.0.0" }));
    assert_eq!(message["fault"], Value::Null);
    // Stage and total times pass through JSON text twice (journal column, message), and
    // serde_json's float parsing may land one unit in the last place away.
    let up_net = journal.stages_ms.iter().find(|(s, _)| s == "up_net").map(|(_, ms)| *ms).expect("an inspected part");
    assert!((message["stages_ms"]["up_net"].as_f64().unwrap() - up_net).abs() < 1e-9 * up_net, "{message} vs {up_net}");
    let total = message["total_ms"].as_f64().unwrap();
    assert!((total - journal.total_ms).abs() < 1e-9 * journal.total_ms, "{message} vs {}", journal.total_ms);
    let fault = received.iter().find(|m| m["fault"]["kind"] == "too_few_points").expect("a fault");
    assert!(fault["fault"]["text"].as_str().unwrap().starts_with("too few points"), "{fault}");
    assert_eq!(fault["verdict"], "reject");

    // The retained status went online, then offline at the clean exit; the model was announced.
    let status: Vec<String> = subscriber.on("status").iter().map(|m| m.payload.clone()).collect();
    assert_eq!(status, ["online", "offline"]);
    let model: Value = serde_json::from_str(&subscriber.on("model")[0].payload).unwrap();
    assert_eq!((model["box"].as_str(), model["model"]["name"].as_str()), (Some("box-1"), Some("bunny")));
    assert!(log.contains(&format!("publish: connected to 127.0.0.1:{}", broker.port)), "{log}");
    assert!(!log.contains("ERROR dus_box::daemon::publish"), "{log}");

    // Someone subscribing later finds the retained status and model, and no old decisions.
    let late = Subscriber::connect(&broker, None);
    wait_until(
        Duration::from_secs(10),
        "the retained messages",
        || late.on("status").len() == 1 && late.on("model").len() == 1,
        || broker.log(),
    );
    let (status, model) = (&late.on("status")[0], &late.on("model")[0]);
    assert!(status.retain && status.payload == "offline" && model.retain, "{status:?} {model:?}");
    assert!(late.decisions().is_empty(), "decisions are not retained");
}

#[test]
fn decisions_made_while_the_broker_is_down_arrive_after_it_restarts() {
    let mut broker = Broker::start();
    let subscriber = Subscriber::connect(&broker, None);
    let (line, spool) = publishing_box(broker.port, "");
    let daemon = line.start();
    drop_scan(&spool, "before-good.pcd", &std::fs::read(sample("good.pcd")).unwrap());
    let mut expected = vec!["before-good".to_string()];
    expected.extend(decide_quick_parts(&line, &spool, &daemon, "before", 4, 5));
    subscriber.wait_for_parts(&expected, Duration::from_secs(30), &daemon);
    wait_until(Duration::from_secs(10), "the PUBACKs marked in the journal", || backlog(&line) == 0, || daemon.log());

    broker.kill();
    let outage = Instant::now();
    let during = decide_quick_parts(&line, &spool, &daemon, "during", 20, 25);
    drop_scan(&spool, "during-good.pcd", &std::fs::read(sample("good.pcd")).unwrap());
    line.wait_for_rows(26, &daemon);
    wait_until(
        Duration::from_secs(20),
        "the lost broker in the log",
        || daemon.log().contains("publish: lost the broker"),
        || daemon.log(),
    );
    let text = metrics(&daemon);
    assert_eq!(metric(&text, "dus_edge_publish_connected"), 0.0);
    wait_until(
        Duration::from_secs(15),
        "the backlog in the metrics",
        || metric(&metrics(&daemon), "dus_edge_publish_backlog") == 21.0,
        || metrics(&daemon),
    );
    assert_eq!(backlog(&line), 21, "the decisions made while the broker is away wait in the journal");
    let page = get(&daemon, "status page on http://", "/");
    assert!(page.contains("MQTT broker NOT CONNECTED, 21 decisions waiting"), "{page}");
    std::thread::sleep(Duration::from_secs(30).saturating_sub(outage.elapsed()));

    broker.restart();
    expected.extend(during);
    expected.push("during-good".into());
    subscriber.wait_for_parts(&expected, Duration::from_secs(60), &daemon);
    wait_until(Duration::from_secs(10), "an empty outbox", || backlog(&line) == 0, || daemon.log());
    assert_eq!(metric(&metrics(&daemon), "dus_edge_publish_connected"), 1.0);
    assert_eq!(metric(&metrics(&daemon), "dus_edge_published_total"), 26.0);
    wait_until(
        Duration::from_secs(5),
        "the page saying connected",
        || get(&daemon, "status page on http://", "/").contains("MQTT broker connected, 0 decisions"),
        || daemon.log(),
    );
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
    assert_eq!(subscriber.copies().len(), 26, "{:?}", subscriber.copies());
    assert_eq!(log.matches("publish: connected to").count(), 2, "{log}");
    assert_eq!(log.matches("publish: lost the broker").count(), 1, "{log}");
    assert_eq!(log.matches("cannot reach the broker").count(), 0, "one line per outage, not one per attempt:\n{log}");
}

#[test]
fn rows_left_unpublished_by_a_killed_daemon_are_published_after_its_restart() {
    let port = free_port();
    let (line, spool) = publishing_box(port, "");
    let daemon = line.start();
    let names = decide_quick_parts(&line, &spool, &daemon, "killed", 8, 8);
    wait_until(
        Duration::from_secs(20),
        "the unreachable broker in the log",
        || daemon.log().contains("cannot reach the broker at localhost"),
        || daemon.log(),
    );
    assert_eq!(backlog(&line), 8);
    daemon.signal(libc::SIGKILL);
    drop(daemon);

    // Now the broker is there (on the port the box knows); the restarted daemon sends the rows.
    let broker = Broker::start_with(&format!("allow_anonymous true\nlistener {port} 127.0.0.1\n"), Some(port));
    let subscriber = Subscriber::connect(&broker, None);
    let daemon = line.start();
    subscriber.wait_for_parts(&names, Duration::from_secs(60), &daemon);
    wait_until(Duration::from_secs(10), "an empty outbox", || backlog(&line) == 0, || daemon.log());
    let received: Vec<String> = subscriber.decisions().iter().map(|m| m["part"].as_str().unwrap().to_string()).collect();
    assert_eq!(received, parts(&line.decisions()), "each once, in journal order");
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

/// A private file holding `text`.
fn private_file(path: &Path, text: &str, mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    path.to_path_buf()
}

#[test]
fn a_wrong_password_is_a_clear_log_line_and_loses_no_decision() {
    let secrets = tempfile::tempdir().unwrap();
    let users = secrets.path().join("passwd");
    let made = Command::new("mosquitto_passwd")
        .arg("-c")
        .arg("-b")
        .arg(&users)
        .args(["line3", "right-password"])
        .output()
        .expect("mosquitto_passwd (package mosquitto)");
    assert!(made.status.success(), "{made:?}");
    let broker = Broker::start_with(&format!("allow_anonymous false\npassword_file {}\n", users.display()), None);
    let subscriber = Subscriber::connect(&broker, Some(("line3", "right-password")));
    let password = private_file(&secrets.path().join("mqtt.password"), "wrong-password\n", 0o600);
    let (line, spool) = publishing_box(broker.port, &format!("username = \"line3\"\npassword_file = {password:?}\n"));

    // config check reads the password file as the daemon would: one others can read is refused.
    private_file(&password, "wrong-password\n", 0o644);
    let check = Command::new(support::EXE)
        .args(["config", "check", "--config", line.config.to_str().unwrap()])
        .current_dir(repo())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stderr);
    assert!(!check.status.success() && text.contains("publish.password_file") && text.contains("chmod 600"), "{text}");
    private_file(&password, "wrong-password\n", 0o600);

    let log = refused_then_fixed(
        &line,
        &spool,
        &subscriber,
        ("refused our credentials", "check publish.username and publish.password_file"),
        || {
            private_file(&password, "right-password\n", 0o600);
        },
    );
    assert!(log.contains("publish: connected to"), "{log}");
}

/// The box cannot get through to the broker (`refusal.0` in its log, with the hint `refusal.1`):
/// its decisions wait in the journal and none reaches the subscriber. Once `fix` mended its
/// configuration, a restart publishes each of them exactly once. The second run's log.
fn refused_then_fixed(line: &LineBox, spool: &Path, subscriber: &Subscriber, refusal: (&str, &str), fix: impl FnOnce()) -> String {
    let daemon = line.start();
    let names = decide_quick_parts(line, spool, &daemon, "refused", 5, 5);
    wait_until(Duration::from_secs(20), "the refusal in the log", || daemon.log().contains(refusal.0), || daemon.log());
    assert!(daemon.log().contains(refusal.1), "{}", daemon.log());
    assert_eq!(backlog(line), 5, "the decisions wait in the journal");
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
    assert_eq!(log.matches(refusal.0).count(), 1, "logged once, not at every attempt:\n{log}");
    assert!(subscriber.decisions().is_empty());

    fix();
    let daemon = line.start();
    subscriber.wait_for_parts(&names, Duration::from_secs(60), &daemon);
    assert!(subscriber.copies().values().all(|&n| n == 1), "{:?}", subscriber.copies());
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
    log
}

/// A CA, the broker's certificate for localhost and a client certificate, signed by it; PEM files
/// in `dir` named `<name>-ca.pem`, `<name>-server.pem`, `<name>-server.key`, `<name>-client.pem`,
/// `<name>-client.key`.
fn certificates(dir: &Path, name: &str) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, format!("{name} test CA"));
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let write = |file: &str, text: String| private_file(&dir.join(format!("{name}-{file}")), &text, 0o600);
    write("ca.pem", ca.pem());
    for (role, names) in [("server", vec!["localhost".to_string()]), ("client", Vec::new())] {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, format!("{name} {role}"));
        write(&format!("{role}.pem"), params.signed_by(&key, &ca, &ca_key).unwrap().pem());
        write(&format!("{role}.key"), key.serialize_pem());
    }
}

#[test]
fn a_refused_tls_handshake_is_a_clear_log_line_and_loses_no_decision() {
    let pki = tempfile::tempdir().unwrap();
    certificates(pki.path(), "plant");
    certificates(pki.path(), "other");
    let file = |name: &str| pki.path().join(name);
    let tls_port = free_port();
    let broker = Broker::start_with(
        &format!(
            "allow_anonymous true\nlistener {tls_port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\n",
            file("plant-ca.pem").display(),
            file("plant-server.pem").display(),
            file("plant-server.key").display()
        ),
        Some(tls_port),
    );
    let subscriber = Subscriber::connect(&broker, None);
    // The box trusts another CA than the one that signed the broker's certificate.
    let client = format!("client_cert = {:?}\nclient_key = {:?}\n", file("plant-client.pem"), file("plant-client.key"));
    let (line, spool) = publishing_box(tls_port, &format!("ca_file = {:?}\n{client}", file("other-ca.pem")));
    let log = refused_then_fixed(&line, &spool, &subscriber, ("TLS handshake with localhost", "check publish.ca_file"), || {
        // With the plant's CA (and its client certificate) the same rows go out over TLS.
        let config = std::fs::read_to_string(&line.config).unwrap();
        std::fs::write(&line.config, config.replace("other-ca.pem", "plant-ca.pem")).unwrap();
    });
    assert!(log.contains("(TLS)"), "{log}");
}
