//! The status page (`[web]`): what the box sees, for the operator, the shift lead and the
//! quality engineer, in any browser: counts since the daemon started, the last decision, the
//! model, latency per stage, and the latest rejects with their pictures. Read-only, server-side
//! HTML that refreshes itself; loopback unless a token guards it (`config.rs` enforces that).
//!
//! Routes: `/` (the page) and `/rejects/<name>.png` (a picture from the heatmap folder; only a
//! plain file name, resolved and checked to lie inside the folder). Everything else is 404.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::decision::Stats;
use super::http::{self, Request, Response, Server};
use super::journal::{Journal, Query};
use super::metrics::Metrics;
use super::page::{self, Page};
use crate::config::Config;

/// The largest picture served; the daemon's are a few hundred KiB.
const MAX_PICTURE_BYTES: u64 = 32 << 20;

/// The shared secret of `[web] token_file`, kept as its SHA-256 so that comparing it takes the
/// same time whatever the guess (and whatever its length).
pub struct Token([u8; 32]);

impl Token {
    /// Reads the token: a private regular file (no group or other permissions) holding one
    /// token of at least [`Token::MIN_LEN`] URL-safe characters (`A-Z a-z 0-9 - . _ ~`).
    pub fn load(path: &Path) -> Result<Token, String> {
        let text = crate::config::read_private("web.token_file", path)?;
        let token = text.trim();
        if token.len() < Token::MIN_LEN || !token.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)) {
            return Err(format!(
                "web.token_file = {}: the token must be at least {} characters of A-Z a-z 0-9 - . _ ~",
                path.display(),
                Token::MIN_LEN
            ));
        }
        Ok(Token(Sha256::digest(token.as_bytes()).into()))
    }

    pub const MIN_LEN: usize = 16;

    fn admits(&self, given: &str) -> bool {
        let given: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        given.ct_eq(&self.0).into()
    }
}

/// What the page reads.
pub struct Web {
    pub journal: PathBuf,
    /// The heatmap folder, canonical.
    pub heatmaps: PathBuf,
    pub token: Option<Token>,
    /// How many recent rejects to list.
    pub rejects: usize,
    pub metrics: Arc<Metrics>,
    /// When the daemon started (RFC 3339, unix ms): the counts are since then.
    pub started: (String, i64),
}

/// Serves the status page on `listen` until stopped; refuses a `[web] token_file` that
/// [`Token::load`] refuses.
pub fn serve(listen: std::net::SocketAddr, config: &Config, metrics: Arc<Metrics>, started: (String, i64)) -> anyhow::Result<Server> {
    use anyhow::Context;
    let token = config.web.token_file.as_deref().map(Token::load).transpose().map_err(anyhow::Error::msg)?;
    let heatmaps =
        config.journal.heatmaps.canonicalize().with_context(|| format!("{}: the heatmap folder", config.journal.heatmaps.display()))?;
    let web = Web { journal: config.journal.path.clone(), heatmaps, token, rejects: config.web.rejects, metrics, started };
    let server = http::serve(listen, "web", move |request| web.handle(request)).with_context(|| format!("web.listen = {listen}"))?;
    log::info!("status page on http://{}/", server.address());
    Ok(server)
}

impl Web {
    /// Answers one request: the token first (when one is set), then the route.
    pub fn handle(&self, request: &Request) -> Response {
        if let Err(refusal) = self.authorise(request) {
            return refusal;
        }
        // Links on the page carry the token when the browser sent it in the query.
        let token = request.query("token");
        match request.path() {
            "/" => self.page(token),
            path => match path.strip_prefix("/rejects/") {
                Some(name) => self.picture(name),
                None => Response::text(404, "not here: the status page is /\n"),
            },
        }
    }

    fn authorise(&self, request: &Request) -> Result<(), Response> {
        let Some(token) = &self.token else { return Ok(()) };
        let bearer = request.header("authorization").and_then(|value| {
            let (scheme, credentials) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(credentials.trim())
        });
        match bearer.or(request.query("token")) {
            None => Err(Response::text(401, "a token is needed: Authorization: Bearer <token>, or ?token=<token>\n")
                .with_header("WWW-Authenticate", "Bearer")),
            Some(given) if token.admits(given) => Ok(()),
            Some(_) => Err(Response::text(403, "wrong token\n")),
        }
    }

    fn page(&self, token: Option<&str>) -> Response {
        match self.read_page(token) {
            Ok(html) => Response::new(200, "text/html; charset=utf-8", html)
                .with_header("Content-Security-Policy", "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'")
                .with_header("Referrer-Policy", "no-referrer"),
            Err(e) => {
                log::warn!("status page: {e}");
                Response::text(500, format!("cannot read the journal: {e}\n"))
            }
        }
    }

    fn read_page(&self, token: Option<&str>) -> Result<String, super::journal::JournalError> {
        let journal = Journal::read_only(&self.journal)?;
        let shift = journal.query(&Query { since_unix_ms: Some(self.started.1), ..Query::default() })?;
        let last = journal.query(&Query { limit: Some(1), ..Query::default() })?;
        let mut rejects = journal.query(&Query { rejects_only: true, limit: Some(self.rejects), ..Query::default() })?;
        rejects.reverse();
        let pictures: Vec<Option<String>> = rejects.iter().map(|d| self.picture_of(d.heatmap.as_deref())).collect();
        Ok(page::render(&Page {
            stats: &Stats::of(&shift),
            since: &self.started.0,
            last: last.last(),
            rejects: &rejects,
            pictures: &pictures,
            model: self.metrics.model(),
            trouble: self.metrics.trouble().map(|t| t.to_string()),
            broker: self.metrics.outbox.state(),
            token,
        }))
    }

    /// The picture's file name beside a reject's heatmap, when it is there.
    fn picture_of(&self, heatmap: Option<&str>) -> Option<String> {
        let picture = Path::new(heatmap?).with_extension("png");
        let name = picture.file_name()?.to_str()?.to_string();
        self.heatmaps.join(&name).is_file().then_some(name)
    }

    /// `/rejects/<name>`: a picture of the heatmap folder, by a plain name only.
    fn picture(&self, name: &str) -> Response {
        let not_found = || Response::text(404, "no such picture\n");
        if !picture_name(name) {
            return not_found();
        }
        let Ok(path) = self.heatmaps.join(name).canonicalize() else { return not_found() };
        if !path.starts_with(&self.heatmaps) || !path.is_file() {
            return not_found();
        }
        match std::fs::metadata(&path) {
            Ok(meta) if meta.len() <= MAX_PICTURE_BYTES => match std::fs::read(&path) {
                Ok(bytes) => Response::new(200, "image/png", bytes),
                Err(_) => not_found(),
            },
            _ => not_found(),
        }
    }
}

/// A picture's name as the daemon writes them: `[A-Za-z0-9._-]+.png`, not hidden. No slash, no
/// percent sign: nothing that could leave the folder, however it is decoded.
fn picture_name(name: &str) -> bool {
    name.len() <= 255
        && name.ends_with(".png")
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_picture_names_pass() {
        for good in ["0001764799200000-P-1.png", "a.b_c-d.png"] {
            assert!(picture_name(good), "{good}");
        }
        for bad in ["../x.png", "..%2fx.png", "x.ply", ".hidden.png", "a/b.png", "", ".png", "x.png\0", "é.png"] {
            assert!(!picture_name(bad), "{bad}");
        }
    }

    #[test]
    fn the_token_admits_itself_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "abcdefghijklmnop-1\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let token = Token::load(&path).unwrap();
        assert!(token.admits("abcdefghijklmnop-1"));
        assert!(!token.admits("abcdefghijklmnop-") && !token.admits("abcdefghijklmnop-12") && !token.admits(""));
        std::fs::write(&path, "has space in the token\n").unwrap();
        assert!(Token::load(&path).err().is_some_and(|e| e.contains("at least 16")));
    }
}
