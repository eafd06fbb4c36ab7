//! A small HTTP/1.1 server for the daemon's read-only pages: one request per connection, the
//! request head read with a hard size limit and timeouts (a client cannot make the daemon hold
//! more than [`MAX_HEAD`] bytes or a thread for longer than [`READ_TIMEOUT`]), at most
//! [`MAX_CONNECTIONS`] served at once, GET and HEAD only. `tiny_http` reads header lines without
//! a bound, which a page that may face the plant network cannot afford.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The largest request head (request line and headers) read; more is refused with 431.
pub const MAX_HEAD: usize = 8 * 1024;
/// How long a client may take to send its request head.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this much of a refused request is read (and dropped) before the connection closes.
const MAX_DRAIN: usize = 1 << 20;
/// Connections served at once; more are answered 503 and closed.
pub const MAX_CONNECTIONS: usize = 8;

/// A request as the handlers see it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The request target as sent: path and query, still percent-encoded.
    pub target: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The path part of the target.
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(path, _)| path)
    }

    /// The value of query parameter `name`, as sent (not decoded).
    pub fn query(&self, name: &str) -> Option<&str> {
        let (_, query) = self.target.split_once('?')?;
        query.split('&').find_map(|pair| pair.split_once('=').filter(|(key, _)| *key == name).map(|(_, value)| value))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// A response: status, content type, body, and any further headers.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response { status, content_type, body: body.into(), headers: Vec::new() }
    }

    /// Plain text, for errors and small endpoints.
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response::new(status, "text/plain; charset=utf-8", body.into())
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// The running server; [`Server::stop`] ends it.
pub struct Server {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Where it listens (the port chosen when `listen` asked for port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting and waits for the accepting thread (requests in flight finish alone).
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let mut wake = self.address;
        if wake.ip().is_unspecified() {
            wake.set_ip(if wake.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serves `handle` on `listen` (GET and HEAD; other methods get 405) until stopped.
pub fn serve(listen: SocketAddr, name: &str, handle: impl Fn(&Request) -> Response + Send + Sync + 'static) -> std::io::Result<Server> {
    let listener = TcpListener::bind(listen)?;
    let address = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let handle = Arc::new(handle);
    let active = Arc::new(AtomicUsize::new(0));
    let stopping = stop.clone();
    let thread = std::thread::Builder::new().name(name.into()).spawn(move || {
        for stream in listener.incoming() {
            if stopping.load(Ordering::SeqCst) {
                break;
            }
            let Ok(stream) = stream else { continue };
            if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                active.fetch_sub(1, Ordering::SeqCst);
                let _ = respond(stream, "GET", &Response::text(503, "busy: too many connections\n"));
                continue;
            }
            let (handle, active) = (handle.clone(), active.clone());
            let spawned = std::thread::Builder::new().name("http-connection".into()).spawn(move || {
                serve_one(stream, handle.as_ref());
                active.fetch_sub(1, Ordering::SeqCst);
            });
            if spawned.is_err() {
                log::warn!("cannot start a thread for a connection; dropped");
            }
        }
    })?;
    Ok(Server { address, stop, thread: Some(thread) })
}

/// Reads one request, answers it, closes the connection.
fn serve_one(mut stream: TcpStream, handle: &(dyn Fn(&Request) -> Response + Send + Sync)) {
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let (method, response) = match read_head(&mut stream) {
        Ok(request) if matches!(request.method.as_str(), "GET" | "HEAD") => (request.method.clone(), handle(&request)),
        Ok(request) => (request.method, Response::text(405, "read-only: GET or HEAD\n").with_header("Allow", "GET, HEAD")),
        Err(status) => ("GET".to_string(), Response::text(status, format!("{}\n", reason(status)))),
    };
    let _ = respond(stream, &method, &response);
}

/// The request head, or the status that refuses it: 431 over [`MAX_HEAD`], 408 on a timeout,
/// 400 when it is not HTTP/1.x.
fn read_head(stream: &mut TcpStream) -> Result<Request, u16> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let end = loop {
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if head.len() > MAX_HEAD {
            return Err(431);
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Err(400),
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => return Err(408),
            Err(_) => return Err(400),
        }
    };
    if end > MAX_HEAD {
        return Err(431);
    }
    let text = std::str::from_utf8(&head[..end]).map_err(|_| 400u16)?;
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let (Some(method), Some(target), Some(version), None) = (first.next(), first.next(), first.next(), first.next()) else {
        return Err(400);
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') || method.is_empty() {
        return Err(400);
    }
    let headers = lines
        .map(|line| line.split_once(':').map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string())).ok_or(400u16))
        .collect::<Result<Vec<_>, u16>>()?;
    Ok(Request { method: method.to_string(), target: target.to_string(), headers })
}

/// Writes `response` (headers only for HEAD) and closes.
fn respond(mut stream: TcpStream, method: &str, response: &Response) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len()
    );
    for (name, value) in &response.headers {
        head += &format!("{name}: {value}\r\n");
    }
    head += "\r\n";
    stream.write_all(head.as_bytes())?;
    if method != "HEAD" {
        stream.write_all(&response.body)?;
    }
    stream.flush()?;
    stream.shutdown(Shutdown::Write)?;
    // Read what the client still sends (the rest of an oversized head) before closing: closing
    // with unread bytes resets the connection, and the client would lose the answer.
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut drained = 0;
    let mut chunk = [0u8; 4096];
    while drained < MAX_DRAIN {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
    Ok(())
}
