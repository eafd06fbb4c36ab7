//! The status page end to end: the real daemon deciding real scans, the page and its pictures
//! fetched over TCP as a browser would, counts held against the journal; the token, the read-only
//! rule and path traversal; and the page in a real headless Chromium.

mod support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::{drop_scan, repo, sample, Daemon, LineBox};

/// A box on a spool with the status page on an ephemeral loopback port.
fn web_box(web: &str) -> (LineBox, PathBuf) {
    let spool = tempfile::tempdir().unwrap().keep().join("spool");
    let line = LineBox::new(
        &repo().join("models/bunny"),
        &format!("[source]\nkind = \"spool\"\ndir = {spool:?}\nsettle_ms = 0\n[line]\ndeadline_ms = 60000\n[web]\n{web}"),
    );
    (line, spool)
}

/// The page's address, once the daemon logged it.
fn address(daemon: &Daemon) -> String {
    let start = Instant::now();
    loop {
        let log = daemon.log();
        if let Some(address) = log.split("status page on http://").nth(1).and_then(|r| r.split('/').next()) {
            return address.to_string();
        }
        assert!(start.elapsed() < Duration::from_secs(120), "no status page address in the log:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `request` as raw bytes (so nothing normalises the path); the status code and the body.
fn raw(address: &str, request: &[u8]) -> (u16, Vec<u8>) {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let _ = stream.write_all(request);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head: {:?}", String::from_utf8_lossy(&response)));
    let status = String::from_utf8_lossy(&response[9..12]).parse().unwrap();
    (status, response[end + 4..].to_vec())
}

fn get(address: &str, target: &str, headers: &str) -> (u16, Vec<u8>) {
    raw(address, format!("GET {target} HTTP/1.1\r\nHost: {address}\r\n{headers}Connection: close\r\n\r\n").as_bytes())
}

/// The number in the element with `id` on the page.
fn count(page: &str, id: &str) -> usize {
    let marker = format!("id=\"{id}\">");
    let rest = page.split(&marker).nth(1).unwrap_or_else(|| panic!("no {id} on the page:\n{page}"));
    rest.split('<').next().unwrap().trim().parse().unwrap_or_else(|_| panic!("{id} is not a number:\n{page}"))
}

/// The first picture link on the page.
fn first_picture(page: &str) -> String {
    let rest = page.split("<img src=\"").nth(1).unwrap_or_else(|| panic!("no picture on the page:\n{page}"));
    rest.split('"').next().unwrap().replace("&amp;", "&")
}

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

#[test]
fn the_page_counts_what_the_journal_holds_while_parts_are_decided() {
    let (line, spool) = web_box("listen = \"127.0.0.1:0\"\nrejects = 2\n");
    let daemon = line.start();
    let at = address(&daemon);
    let (good, defect) = (std::fs::read(sample("good.pcd")).unwrap(), std::fs::read(sample("defect.pcd")).unwrap());
    drop_scan(&spool, "P-1.pcd", &good);
    drop_scan(&spool, "P-2.pcd", &defect);
    drop_scan(&spool, "P-3.pcd", &good[..good.len() / 3]);
    drop_scan(&spool, "P-4.pcd", &defect);
    drop_scan(&spool, "P-5.pcd", &good);
    // While the daemon decides: the page's count lies between the journal's before and after.
    let mut seen = Vec::new();
    while seen.last() != Some(&5) {
        let before = line.decisions().len();
        let (status, body) = get(&at, "/", "");
        let after = line.decisions().len();
        assert_eq!(status, 200);
        let parts = count(&String::from_utf8_lossy(&body), "parts");
        assert!((before..=after).contains(&parts), "page {parts}, journal {before}..{after}");
        seen.push(parts);
        std::thread::sleep(Duration::from_millis(200));
        assert!(seen.len() < 1000, "the daemon did not decide 5 parts: {}", daemon.log());
    }
    let page = String::from_utf8(get(&at, "/", "").1).unwrap();
    let rows = line.decisions();
    let rejects = rows.iter().filter(|d| d.is_reject()).count();
    assert_eq!((rows.len(), rejects), (5, 3), "{rows:#?}");
    assert_eq!((count(&page, "parts"), count(&page, "passes"), count(&page, "rejects")), (5, 2, 3));
    assert_eq!((count(&page, "faults"), count(&page, "fault-unreadable_scan")), (1, 1));
    assert!(
        page.contains("<meta http-equiv=\"refresh\"") && page.contains("id=\"model\">bunny 1.0.0<") && page.contains("id=\"threshold\">"),
        "{page}"
    );
    assert!(page.contains("<td class=\"l\">up_net</td>"), "latency per stage: {page}");
    // The last 2 rejects, newest first: P-4 (a picture), then P-3 (a fault: no picture).
    let listed: Vec<&str> = page.split("part <b>").skip(2).map(|r| r.split('<').next().unwrap()).collect();
    assert_eq!(listed, ["P-4", "P-3"], "{page}");
    let picture = first_picture(&page);
    assert!(picture.starts_with("/rejects/") && picture.ends_with("-P-4.png"), "{picture}");
    let (status, png) = get(&at, &picture, "");
    assert_eq!((status, &png[..8]), (200, PNG_MAGIC));
    assert_eq!(png, std::fs::read(line.path("heatmaps").join(&picture["/rejects/".len()..])).unwrap());

    // Read-only, known paths only, no way out of the heatmap folder.
    assert_eq!(raw(&at, b"HEAD / HTTP/1.1\r\nConnection: close\r\n\r\n"), (200, Vec::new()));
    assert_eq!(raw(&at, b"POST / HTTP/1.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").0, 405);
    assert_eq!(raw(&at, b"DELETE /rejects/x.png HTTP/1.1\r\n\r\n").0, 405);
    std::os::unix::fs::symlink("/etc/passwd", line.path("heatmaps").join("evil.png")).unwrap();
    for target in [
        "/nothing-here",
        "/rejects/../../etc/passwd",
        "/rejects/..%2f..%2fetc%2fpasswd",
        "/rejects/%2e%2e/%2e%2e/etc/passwd",
        "/rejects/%2e%2e%2f%2e%2e%2fetc%2fpasswd.png",
        "/rejects/evil.png",
        "/rejects/.hidden.png",
        "/rejects/",
        "/../etc/passwd",
    ] {
        let (status, body) = get(&at, target, "");
        assert!((400..500).contains(&status), "{target}: {status}");
        assert!(!String::from_utf8_lossy(&body).contains("root:"), "{target} leaked a file");
    }
    let huge = format!("GET / HTTP/1.1\r\nX-Filler: {}\r\n\r\n", "a".repeat(64 * 1024));
    assert_eq!(raw(&at, huge.as_bytes()).0, 431);
    assert_eq!(raw(&at, b"NONSENSE\r\n\r\n").0, 400);
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

/// A private token file.
fn token_file(dir: &Path, token: &str, mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("web.token");
    std::fs::write(&path, format!("{token}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

#[test]
fn a_token_guards_every_request_when_one_is_set() {
    let secrets = tempfile::tempdir().unwrap();
    let token = "k3y-for-the-line_0123456789";
    let file = token_file(secrets.path(), token, 0o600);
    let (line, spool) = web_box(&format!("listen = \"127.0.0.1:0\"\ntoken_file = {file:?}\n"));
    let daemon = line.start();
    let at = address(&daemon);
    drop_scan(&spool, "P-9.pcd", &std::fs::read(sample("defect.pcd")).unwrap());
    line.wait_for_rows(1, &daemon);
    assert_eq!(get(&at, "/", "").0, 401);
    assert_eq!(get(&at, "/", "Authorization: Bearer wrong-token-of-some-length\r\n").0, 403);
    assert_eq!(get(&at, "/?token=k3y-for-the-line_012345678", "").0, 403, "a prefix is not the token");
    let (status, page) = get(&at, "/", &format!("Authorization: Bearer {token}\r\n"));
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&page).contains("<img src=\"/rejects/"));
    let (status, page) = get(&at, &format!("/?token={token}"), "");
    assert_eq!(status, 200);
    let picture = first_picture(&String::from_utf8_lossy(&page));
    assert!(picture.ends_with(&format!("?token={token}")), "picture links carry the token: {picture}");
    assert_eq!(get(&at, &picture, "").0, 200);
    assert_eq!(get(&at, picture.split('?').next().unwrap(), "").0, 401, "pictures need the token too");
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn a_page_open_to_the_network_needs_a_private_token() {
    let secrets = tempfile::tempdir().unwrap();
    let edge_tool = |config: &Path| {
        std::process::Command::new(support::EXE)
            .args(["config", "check", "--config", config.to_str().unwrap()])
            .current_dir(repo())
            .output()
            .unwrap()
    };
    let (line, _) = web_box("listen = \"0.0.0.0:8080\"\n");
    let out = edge_tool(&line.config);
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success() && text.contains("web.token_file"), "{text}");
    let readable = token_file(secrets.path(), "k3y-for-the-line_0123456789", 0o644);
    let (line, _) = web_box(&format!("listen = \"0.0.0.0:8080\"\ntoken_file = {readable:?}\n"));
    let out = edge_tool(&line.config);
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success() && text.contains("chmod 600"), "{text}");
    let (status, log) = line.start().wait();
    assert!(!status.success() && log.contains("chmod 600"), "the daemon refuses it too: {log}");
    let short = token_file(secrets.path(), "short", 0o600);
    let (line, _) = web_box(&format!("listen = \"[::1]:0\"\ntoken_file = {short:?}\n"));
    let out = edge_tool(&line.config);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("at least 16"));
}

/// Runs Chromium headless on `args` (the page's URL last), failing the test when it is missing:
/// `scripts/test.sh` installs Debian's package.
fn chromium(profile: &Path, args: &[&str]) -> Vec<u8> {
    let mut child = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("chromium cannot run ({e}): scripts/test.sh installs Debian's chromium package"));
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("chromium did not finish in 2 min: {args:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    out
}

#[test]
fn the_page_opens_in_a_real_browser_with_the_reject_picture() {
    let (line, spool) = web_box("listen = \"127.0.0.1:0\"\n");
    let daemon = line.start();
    let at = address(&daemon);
    drop_scan(&spool, "B-1.pcd", &std::fs::read(sample("good.pcd")).unwrap());
    drop_scan(&spool, "B-2.pcd", &std::fs::read(sample("defect.pcd")).unwrap());
    line.wait_for_rows(2, &daemon);
    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://{at}/");
    let dom = String::from_utf8(chromium(profile.path(), &["--dump-dom", &url])).unwrap();
    assert_eq!((count(&dom, "parts"), count(&dom, "passes"), count(&dom, "rejects"), count(&dom, "faults")), (2, 1, 1, 0), "{dom}");
    assert!(first_picture(&dom).ends_with("-B-2.png"), "{dom}");
    let shot = profile.path().join("page.png");
    chromium(profile.path(), &[&format!("--screenshot={}", shot.display()), "--window-size=1500,1600", "--hide-scrollbars", &url]);
    let screenshot = image::open(&shot).expect("chromium wrote the screenshot").to_rgb8();
    assert_eq!(screenshot.dimensions(), (1500, 1600));
    // Pure red exists on the page only inside the reject's picture (its title badge, legend and
    // splats over the threshold): it shows the browser loaded and drew the picture.
    let red = screenshot.pixels().filter(|p| p.0[0] >= 230 && p.0[1] <= 40 && p.0[2] <= 40).count();
    assert!(red >= 500, "{red} red pixels: the reject's picture did not load");
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
}
