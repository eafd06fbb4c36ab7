//! Model bundles: one tar file that carries a model folder from the workstation to a box.
//!
//! Layout, in this order: `bundle.toml` (what the bundle holds: format, model, runtime range,
//! tensor contract, providers tested, size and sha256 of every member, golden samples),
//! `bundle.sig` (optional: Ed25519 over the exact bytes of `bundle.toml`), then the members listed
//! in `bundle.toml`, regular files only. [`inspect`] reads a bundle without writing anything and
//! refuses anything odd; [`extract`] writes an inspected bundle into a new folder, checking
//! everything again as it goes.

pub mod keys;
mod read;

use std::path::Path;

use serde::{Deserialize, Serialize};

use dus_core::model::Tensors;
use dus_core::verdict::Verdict;
pub use read::{extract, inspect, Inspected, Signer, Trust};

/// The bundle format this runtime reads and writes.
pub const FORMAT: u32 = 1;
/// The member that lists all others; the signature covers its exact bytes.
pub const MANIFEST: &str = "bundle.toml";
/// The detached signature member: `ed25519 <public key hex> <signature hex>`.
pub const SIGNATURE: &str = "bundle.sig";

/// What a script can tell apart: each kind has its own exit code (see `docs/technician.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Signature missing, invalid or by an untrusted key, or a member altered after signing.
    BadSignature,
    /// Not a well-formed bundle: truncated, unsafe paths, links, duplicates, unlisted or oversized
    /// members, unreadable `bundle.toml`.
    BadBundle,
    /// A good bundle this box cannot run: runtime version, tensor contract, execution provider.
    Incompatible,
    /// The model did not load or did not give the expected answers on its golden samples.
    SmokeTest,
    /// Reading or writing on the box failed (disk full, permissions, missing file, busy).
    Io,
    /// `flash --rollback` has no usable previous model to return to.
    NoRollback,
}

impl Kind {
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::BadSignature => 10,
            Kind::BadBundle => 11,
            Kind::Incompatible => 12,
            Kind::SmokeTest => 13,
            Kind::Io => 14,
            Kind::NoRollback => 15,
        }
    }
}

/// A refusal or failure of a bundle operation, with a message a technician can act on.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub kind: Kind,
    pub message: String,
}

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into() }
    }

    pub fn bad(message: impl Into<String>) -> Error {
        Error::new(Kind::BadBundle, message)
    }

    /// An I/O failure on `path` while doing `what`.
    pub fn io(what: &str, path: &Path, e: std::io::Error) -> Error {
        Error::new(Kind::Io, format!("{what} {}: {e}", path.display()))
    }
}

/// Upper bounds checked before anything is read into memory or written to disk.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `bundle.toml` and `model.toml`.
    pub manifest: u64,
    pub signature: u64,
    /// Any one member.
    pub member: u64,
    /// All members together.
    pub total: u64,
    pub members: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { manifest: 1 << 20, signature: 4096, member: 2 << 30, total: 4 << 30, members: 256 }
    }
}

/// `bundle.toml`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BundleManifest {
    /// Bundle format version ([`FORMAT`]).
    pub format: u32,
    pub model: BundleModel,
    pub runtime: Compatibility,
    /// The tensor contract of the graphs; must equal `model.toml`'s `[tensors]`.
    pub tensors: Tensors,
    /// Every member after `bundle.toml` and `bundle.sig`, in archive order.
    pub files: Vec<Member>,
    /// Scans the box runs after installing, with the answers the model gave when packed.
    pub golden: Vec<Golden>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BundleModel {
    pub name: String,
    pub version: String,
    /// When the bundle was packed (UTC, RFC 3339).
    pub packed: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Compatibility {
    /// dus-edge versions that may run this model, as a semver requirement (e.g. `^0.1.0`).
    pub dus_edge: String,
    /// Execution providers the golden answers were produced with.
    pub providers: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Golden {
    /// A listed member (`samples/<name>.pcd`).
    pub path: String,
    pub verdict: Verdict,
    /// Object score in scan units.
    pub object_score: f64,
    /// Largest accepted difference of the object score on the box, scan units.
    pub tolerance: f64,
}

/// A member path is relative, `/`-separated, at most 4 components of `[A-Za-z0-9._-]`, none of
/// them `.` or `..` or hidden, and not a name a slot reserves (`install.toml`, `engine-cache`).
pub fn check_member_path(path: &str) -> Result<(), String> {
    if path.is_empty() || path.len() > 200 {
        return Err(format!("member name '{}' is empty or too long", path.escape_default()));
    }
    let parts: Vec<&str> = path.split('/').collect();
    let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if parts.len() > 4 || parts.iter().any(|p| p.is_empty() || p.starts_with('.') || !p.chars().all(safe)) {
        return Err(format!(
            "member name '{}' is not a plain relative path (absolute paths, '..', hidden names and odd characters are refused)",
            path.escape_default()
        ));
    }
    let bundle_file_as_folder = parts.len() > 1 && (parts[0] == MANIFEST || parts[0] == SIGNATURE);
    if bundle_file_as_folder || parts[0] == crate::slots::INSTALL_RECORD || parts[0] == crate::slots::ENGINE_CACHE {
        return Err(format!("member name '{path}' is reserved"));
    }
    Ok(())
}

impl BundleManifest {
    /// Structure checks that need no other member: paths, sizes, golden samples.
    pub fn check(&self, limits: &Limits) -> Result<(), Error> {
        if self.files.is_empty() || self.files.len() > limits.members {
            return Err(Error::bad(format!("bundle.toml lists {} members (1 to {} allowed)", self.files.len(), limits.members)));
        }
        let mut seen = std::collections::HashSet::new();
        let mut total = 0u64;
        for member in &self.files {
            check_member_path(&member.path).map_err(|m| Error::bad(format!("bundle.toml: {m}")))?;
            if member.path == MANIFEST || member.path == SIGNATURE {
                return Err(Error::bad(format!("bundle.toml lists '{}' as a member", member.path)));
            }
            if !seen.insert(member.path.as_str()) {
                return Err(Error::bad(format!("bundle.toml lists '{}' twice", member.path)));
            }
            if member.size > limits.member {
                return Err(Error::bad(format!("member '{}' is {} bytes, over the limit of {}", member.path, member.size, limits.member)));
            }
            if member.sha256.len() != 64 || !member.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::bad(format!("bundle.toml: sha256 of '{}' is not 64 hex digits", member.path)));
            }
            total += member.size;
        }
        if total > limits.total {
            return Err(Error::bad(format!("members total {total} bytes, over the limit of {}", limits.total)));
        }
        // A member that is another member's folder cannot be extracted: refuse it here, so that
        // verify says so and flash never starts on it.
        for member in &self.files {
            if let Some(folder) = member.path.match_indices('/').map(|(i, _)| &member.path[..i]).find(|f| seen.contains(f)) {
                return Err(Error::bad(format!("bundle.toml lists '{folder}' as a file and as the folder of '{}'", member.path)));
            }
        }
        if !seen.contains(dus_core::model::Manifest::FILE) {
            return Err(Error::bad("bundle.toml does not list model.toml"));
        }
        if self.golden.is_empty() {
            return Err(Error::bad("bundle.toml lists no golden samples, so the box could not test the model"));
        }
        for golden in &self.golden {
            if !seen.contains(golden.path.as_str()) {
                return Err(Error::bad(format!("golden sample '{}' is not a listed member", golden.path)));
            }
            if !(golden.object_score.is_finite() && golden.tolerance.is_finite() && golden.tolerance >= 0.0) {
                return Err(Error::bad(format!("golden sample '{}': object score and tolerance must be finite", golden.path)));
            }
        }
        Ok(())
    }

    pub fn member(&self, path: &str) -> Option<&Member> {
        self.files.iter().find(|m| m.path == path)
    }
}

/// The time as UTC RFC 3339 to the second (`2026-11-29T03:13:53Z`): how bundles, slots and the
/// journal write times.
pub fn rfc3339(time: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_paths_must_be_plain_and_relative() {
        for good in ["model.toml", "samples/good.pcd", "a/b/c/d.onnx"] {
            assert!(check_member_path(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "samples/../../x",
            "a//b",
            "./a",
            ".hidden",
            "a\\b",
            "a/b/c/d/e",
            "x\0y",
            "install.toml",
            "engine-cache/x",
            "bundle.sig/x",
            "é",
        ] {
            assert!(check_member_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rfc3339_matches_known_instants() {
        let at = |s| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s);
        assert_eq!(rfc3339(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(at(1_795_923_233)), "2026-11-29T03:33:53Z");
    }
}
