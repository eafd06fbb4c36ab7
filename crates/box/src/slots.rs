//! Model slots on a box: two folders under the models root, `slots/a` and `slots/b`, and a
//! symlink `active` naming one of them, swapped by an atomic rename. `edge-tool flash` installs into
//! the slot not in use and switches only after the new model passed its smoke test; the other slot
//! keeps the previous model for `flash --rollback` and as a fallback.
//!
//! ```text
//! <root>/active -> slots/b      symlink, replaced by rename(2)
//! <root>/slots/a/               previous model: bundle.toml, bundle.sig, model.toml, *.onnx,
//!                               reference.pcd, samples/, install.toml, engine-cache/ (TensorRT)
//! <root>/slots/b/               active model
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::durable;
use dus_core::model::{Manifest, RuntimeConfig};

pub const SLOTS: &str = "slots";
pub const ACTIVE: &str = "active";
/// What `flash` records in a slot after installing it.
pub const INSTALL_RECORD: &str = "install.toml";
/// Where TensorRT keeps the engines built for a slot's model.
pub const ENGINE_CACHE: &str = "engine-cache";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Slot {
    A,
    B,
}

impl Slot {
    pub const BOTH: [Slot; 2] = [Slot::A, Slot::B];

    pub fn name(self) -> &'static str {
        match self {
            Slot::A => "a",
            Slot::B => "b",
        }
    }

    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    pub fn dir(self, root: &Path) -> PathBuf {
        root.join(SLOTS).join(self.name())
    }

    /// The `active` symlink's target for this slot (relative, so the root can move).
    fn link_target(self) -> PathBuf {
        Path::new(SLOTS).join(self.name())
    }
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `install.toml`: what was installed in a slot, when, and whether its smoke test passed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InstallRecord {
    pub model: String,
    pub version: String,
    /// sha256 of the bundle file that was installed.
    pub bundle_sha256: String,
    /// Hex public key of the signer, or "unsigned".
    pub signer: String,
    /// UTC, RFC 3339.
    pub installed: String,
    pub smoke_test: SmokeTest,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SmokeTest {
    pub passed: bool,
    /// One line per golden sample, or why the model did not load.
    pub details: Vec<String>,
}

impl InstallRecord {
    pub fn read(dir: &Path) -> Option<InstallRecord> {
        toml::from_str(&std::fs::read_to_string(dir.join(INSTALL_RECORD)).ok()?).ok()
    }

    /// Writes `install.toml` atomically (temporary file, fsync, rename, fsync of the folder).
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let text = toml::to_string_pretty(self).map_err(std::io::Error::other)?;
        durable::write_atomic(&dir.join(INSTALL_RECORD), text.as_bytes())
    }
}

/// The slot `root/active` points to, if it points to one.
pub fn active_slot(root: &Path) -> Option<Slot> {
    let target = std::fs::read_link(root.join(ACTIVE)).ok()?;
    Slot::BOTH.into_iter().find(|s| target == s.link_target() || target == s.dir(root))
}

/// Points `root/active` at `slot`: a new symlink renamed over the old one, then the root fsynced.
pub fn switch_active(root: &Path, slot: Slot) -> std::io::Result<()> {
    let temp = root.join(".active.new");
    match std::fs::remove_file(&temp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::os::unix::fs::symlink(slot.link_target(), &temp)?;
    durable::rename(&temp, &root.join(ACTIVE))
}

/// Whether a model folder is usable: manifest valid, every file present with its sha256.
pub fn check_model_dir(dir: &Path) -> Result<Manifest, String> {
    let manifest = Manifest::load(dir).map_err(|e| e.to_string())?;
    manifest.verify_files(dir).map_err(|e| e.to_string())?;
    Ok(manifest)
}

/// Whether `slot` may serve as a fallback or rollback target: a valid model whose install
/// finished with a passing smoke test.
pub fn check_standby(root: &Path, slot: Slot) -> Result<(Manifest, InstallRecord), String> {
    let dir = slot.dir(root);
    if !dir.is_dir() {
        return Err(format!("slot {slot} is empty"));
    }
    let manifest = check_model_dir(&dir)?;
    match InstallRecord::read(&dir) {
        Some(record) if record.smoke_test.passed => Ok((manifest, record)),
        Some(_) => Err(format!("slot {slot} holds a model that failed its smoke test")),
        None => Err(format!("slot {slot} holds an install that did not finish (no {INSTALL_RECORD})")),
    }
}

/// The model folder the daemon should load.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub dir: PathBuf,
    /// The slot, or `None` when `root` is itself a model folder (development boxes, the demo).
    pub slot: Option<Slot>,
    /// Set when the active slot was unusable and the other slot is used instead; logged as a warning.
    pub fallback: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("no usable model under {root}: {reasons}; flash a bundle (edge-tool flash) or check the disk")]
pub struct NoModel {
    pub root: PathBuf,
    pub reasons: String,
}

/// The model folder to load from the models root: the active slot; if it is broken (missing files,
/// sha256 mismatch, invalid manifest), the other slot when it holds a fully installed model that
/// passed its smoke test (with a logged warning); if `root` has no slots but holds `model.toml`,
/// `root` itself.
pub fn resolve_active(root: &Path) -> Result<Resolved, NoModel> {
    let has_slots = Slot::BOTH.iter().any(|s| s.dir(root).is_dir()) || root.join(ACTIVE).symlink_metadata().is_ok();
    if !has_slots && root.join(Manifest::FILE).is_file() {
        return Ok(Resolved { dir: root.to_path_buf(), slot: None, fallback: None });
    }
    let mut reasons = Vec::new();
    let broken = match active_slot(root) {
        Some(slot) => match check_model_dir(&slot.dir(root)) {
            Ok(_) => return Ok(Resolved { dir: slot.dir(root), slot: Some(slot), fallback: None }),
            Err(why) => {
                reasons.push(format!("active slot {slot} is broken ({why})"));
                Some(slot)
            }
        },
        None => {
            reasons.push(format!("{} does not point to a slot", root.join(ACTIVE).display()));
            None
        }
    };
    // Standby candidates: the other slot, or with no pointer the most recently installed one.
    let mut candidates: Vec<(Slot, InstallRecord)> = Vec::new();
    for slot in Slot::BOTH.into_iter().filter(|s| Some(*s) != broken) {
        match check_standby(root, slot) {
            Ok((_, record)) => candidates.push((slot, record)),
            Err(why) => reasons.push(why),
        }
    }
    candidates.sort_by(|a, b| b.1.installed.cmp(&a.1.installed));
    if let Some((slot, record)) = candidates.into_iter().next() {
        let message = format!(
            "{}; using slot {slot} instead ({} {} installed {}); run `edge-tool models` and flash or roll back to fix it",
            reasons.join("; "),
            record.model,
            record.version,
            record.installed
        );
        log::warn!("{message}");
        return Ok(Resolved { dir: slot.dir(root), slot: Some(slot), fallback: Some(message) });
    }
    Err(NoModel { root: root.to_path_buf(), reasons: reasons.join("; ") })
}

/// The runtime configuration for a model folder: with TensorRT among the providers, its engines
/// are cached in the folder (`engine-cache/`), where `flash` builds them before switching.
pub fn runtime_for(dir: &Path, runtime: &RuntimeConfig) -> RuntimeConfig {
    let mut config = runtime.clone();
    if config.providers.iter().any(|p| p == "tensorrt") {
        config.engine_cache = Some(dir.join(ENGINE_CACHE));
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switching_replaces_the_pointer_atomically_and_relatively() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(Slot::A.dir(root.path())).unwrap();
        std::fs::create_dir_all(Slot::B.dir(root.path())).unwrap();
        assert_eq!(active_slot(root.path()), None);
        switch_active(root.path(), Slot::A).unwrap();
        assert_eq!(active_slot(root.path()), Some(Slot::A));
        switch_active(root.path(), Slot::B).unwrap();
        assert_eq!(active_slot(root.path()), Some(Slot::B));
        assert_eq!(std::fs::read_link(root.path().join(ACTIVE)).unwrap(), Path::new("slots/b"));
        assert!(!root.path().join(".active.new").exists());
    }

    #[test]
    fn an_empty_root_has_no_model_and_says_why() {
        let root = tempfile::tempdir().unwrap();
        let err = resolve_active(root.path()).unwrap_err().to_string();
        assert!(err.contains("does not point to a slot") && err.contains("slot a is empty"), "{err}");
    }

    #[test]
    fn a_plain_model_folder_is_its_own_model() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("model.toml"), "").unwrap();
        let resolved = resolve_active(root.path()).unwrap();
        assert_eq!((resolved.dir.as_path(), resolved.slot), (root.path(), None));
    }

    #[test]
    fn tensorrt_gets_an_engine_cache_in_the_slot() {
        let dir = Path::new("/srv/models/slots/a");
        let cpu = RuntimeConfig::default();
        assert_eq!(runtime_for(dir, &cpu).engine_cache, None);
        let trt = RuntimeConfig { providers: vec!["tensorrt".into(), "cpu".into()], ..cpu };
        assert_eq!(runtime_for(dir, &trt).engine_cache, Some(dir.join("engine-cache")));
    }
}
