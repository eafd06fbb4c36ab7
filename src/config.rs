//! The box's configuration file (`edge.toml`): one TOML file, validated at start, every error
//! naming the key and the problem. Sections: `[runtime]` (ONNX Runtime), `[models]` (where model
//! slots live and which bundle signers are trusted), `[daemon]` (the line daemon's process files).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::model::RuntimeConfig;

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub runtime: RuntimeConfig,
    pub models: ModelsConfig,
    pub daemon: DaemonConfig,
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

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    /// Reads and validates `path`; toml's messages name the key, line and column of a mistake.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.to_path_buf(), source })?;
        toml::from_str(&text).map_err(|e| ConfigError::Invalid { path: path.to_path_buf(), message: e.to_string() })
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
    fn sections_left_out_take_their_defaults() {
        let config: Config = toml::from_str("[models]\nroot = \"/srv/models\"\n").unwrap();
        assert_eq!(config.models.root, PathBuf::from("/srv/models"));
        assert_eq!(config.runtime, RuntimeConfig::default());
    }
}
