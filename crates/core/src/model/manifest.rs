//! `model.toml`: everything the runtime needs to know about a model folder (see models/README.md).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::scoring::{MissingMaterial, ScoringRule, SurfaceRule};

/// `model.toml`: everything the runtime must know to run a model folder the way it was trained
/// (the contract in `models/README.md`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Name and version.
    pub model: Identity,
    /// How a scan is grouped into patches.
    pub grouping: Grouping,
    /// Noise-Gen at inference.
    pub noise: Noise,
    /// The fixed frame the nets were trained in.
    pub normalisation: Normalisation,
    /// The scoring rule and the threshold.
    pub scoring: Scoring,
    /// The graphs' tensor names.
    pub tensors: Tensors,
    /// The model's files and their sha256.
    pub files: Files,
    /// What a whole scan of this part looks like (admission).
    #[serde(default)]
    pub scan: ScanCheck,
    /// How the model was trained and what it scored; kept verbatim for reports and bundles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<toml::Table>,
    /// What `edge-tool eval` measured, when recorded; kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval: Option<toml::Table>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Identity {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub created: String,
}

impl Identity {
    /// "name version", as the journal, metrics and pictures name the model that decided.
    pub fn label(&self) -> String {
        format!("{} {}", self.name, self.version)
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Grouping {
    /// Size of the model's input sample (a stride sample of larger scans).
    pub points: usize,
    /// G: groups (patch centers).
    pub groups: usize,
    /// K: points per patch.
    pub group_size: usize,
    /// gamma: reconstructed points per center.
    pub up_ratio: usize,
    /// S: neighbours per set-abstraction group in the Up-Net.
    pub up_neighbours: usize,
    /// Groupings of the sample, each with FPS started at another point, reconstructed in one
    /// batch; the reconstruction is their union (`passes x G x gamma` points). One grouping's
    /// reconstruction is too sparse for a local plane as precise as the templates' (per-point
    /// scores of good parts 1.5x higher): density, not healing, was what DUS-Net lacked.
    #[serde(default = "one")]
    pub passes: usize,
}

/// Noise-Gen at inference (eq. 1), normalised units; 0 and 0 = off.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Noise {
    /// Relative noise, a fraction of each patch's spread.
    pub alpha: f32,
    /// Absolute noise.
    pub beta: f32,
    /// Noise draws averaged at test time (one batch); 1 = a single pass.
    #[serde(default = "one")]
    pub draws: usize,
    /// The noise's random seed, so a scan always gets the same score.
    #[serde(default)]
    pub seed: u64,
}

fn one() -> usize {
    1
}

/// `[scan]`: what a whole scan of the part looks like, so that a scan cut short in transfer or
/// of the wrong thing is a fault before it is inspected. Any subsample of a good scan has good
/// geometry, so without this a scan that lost most of its points would pass.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScanCheck {
    /// Points in a complete scan (the training scans'); unset: no completeness check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<usize>,
    /// A scan with fewer than this fraction of `points` is incomplete.
    #[serde(default = "defaults::min_fraction")]
    pub min_fraction: f64,
    /// The scan's extent (RMS distance from its centroid) may differ from the reference's by at
    /// most this factor either way: beyond it the scan is another part, or in other units, and
    /// registration would spend seconds on it.
    #[serde(default = "defaults::max_extent_ratio")]
    pub max_extent_ratio: f64,
}

impl Default for ScanCheck {
    fn default() -> Self {
        ScanCheck { points: None, min_fraction: defaults::min_fraction(), max_extent_ratio: defaults::max_extent_ratio() }
    }
}

impl ScanCheck {
    fn validate(&self) -> Result<(), String> {
        if self.points == Some(0) || !(self.min_fraction > 0.0 && self.min_fraction <= 1.0) {
            return Err(format!("scan.points must be positive and scan.min_fraction = {} in (0, 1]", self.min_fraction));
        }
        if !(self.max_extent_ratio.is_finite() && self.max_extent_ratio > 1.0) {
            return Err(format!("scan.max_extent_ratio = {} must be a number above 1", self.max_extent_ratio));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Normalisation {
    /// Register the scan onto `reference.pcd` (ICP) before normalising.
    pub register: bool,
    pub center: [f64; 3],
    pub scale: f64,
}

/// `[scoring]`: the rule that turns distances into scores, and the thresholds. A manifest without
/// `rule` was written before the surface rule existed and keeps the paper's rule its threshold was
/// calibrated for; `tools/export.py` writes `rule = "surface"` with every parameter spelled out.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scoring {
    /// Object score above which a part is a defect, in scan units.
    pub threshold: f64,
    /// Threshold of the golden-part reference detector on this part, once calibrated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_threshold: Option<f64>,
    /// `paper` (eq. 15-17) or `surface` (the terms below).
    #[serde(default)]
    pub rule: RuleKind,
    /// Paper rule: add the reconstruction-to-scan distance (missing material) to the point scores.
    #[serde(default)]
    pub two_way: bool,
    /// Paper rule: eq. 16's 3-NN weighting of point scores.
    #[serde(default)]
    pub weighting: bool,
    /// Surface rule: normality points the local plane is fitted to; 0 = distance to the nearest point.
    #[serde(default = "defaults::surface_neighbours")]
    pub surface_neighbours: usize,
    /// Surface rule: scan points each score is averaged over (itself included); 1 = off.
    #[serde(default = "defaults::smoothing")]
    pub smoothing: usize,
    /// Surface rule: score material the normality cloud has and the scan lacks (holes, broken parts).
    #[serde(default = "defaults::yes")]
    pub missing_material: bool,
    /// Single-view scanners (Real3D-AD style) see part of the object: absence is normal, and this
    /// turns the missing-material term off.
    #[serde(default)]
    pub partial_scans: bool,
    /// Surface rule: a normality point is missing beyond this many scan spacings from the scan.
    #[serde(default = "defaults::missing_gap")]
    pub missing_gap: f32,
    /// Surface rule: a missing point counts with this many missing points (itself included)
    /// within `missing_gap` spacings of it: a hole is a region, one stray gap is not.
    #[serde(default = "defaults::missing_support")]
    pub missing_support: usize,
    /// Surface rule: scan points within this distance (scan units) of a missing point score it.
    #[serde(default = "defaults::missing_radius")]
    pub missing_radius: f32,
    /// Surface rule: normality points checked for missing material, at most (stride sample).
    #[serde(default = "defaults::missing_sample")]
    pub missing_sample: usize,
    /// Surface rule: the object score is the mean of this many highest point scores (1 = eq. 17).
    #[serde(default = "defaults::top_points")]
    pub top_points: usize,
    /// DUS-Net: what missing material is judged against (the golden part always uses its reference).
    #[serde(default)]
    pub missing_against: MissingAgainst,
}

/// The cloud whose material a DUS-Net scan must have. The reconstruction of the reference is
/// the whole learned part, sampled evenly; the reference cloud keeps the scanner's own sampling,
/// so areas every scan of the part sees sparsely are sparse there too and are not "missing".
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MissingAgainst {
    /// The model's noise-off reconstruction of its reference cloud (what manifests before the
    /// key were calibrated with).
    #[default]
    Reconstruction,
    /// The reference cloud itself.
    Reference,
}

/// Which scoring rule a model uses.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// The paper's eq. 15-17 (the default of manifests that predate `rule`).
    #[default]
    Paper,
    /// The surface rule (local planes, neighbourhood mean, missing material).
    Surface,
}

/// The documented defaults (models/README.md; the surface rule's measured in tools/README.md).
mod defaults {
    pub fn surface_neighbours() -> usize {
        24
    }
    pub fn smoothing() -> usize {
        16
    }
    pub fn yes() -> bool {
        true
    }
    pub fn missing_gap() -> f32 {
        4.0
    }
    pub fn missing_support() -> usize {
        8
    }
    pub fn missing_radius() -> f32 {
        3.0
    }
    pub fn missing_sample() -> usize {
        16384
    }
    pub fn top_points() -> usize {
        10
    }
    pub fn min_fraction() -> f64 {
        0.5
    }
    pub fn max_extent_ratio() -> f64 {
        2.0
    }
}

impl Scoring {
    /// The rule `scoring.rs` applies.
    pub fn rule(&self) -> ScoringRule {
        match self.rule {
            RuleKind::Paper => ScoringRule::Paper { two_way: self.two_way, weighting: self.weighting },
            RuleKind::Surface => ScoringRule::Surface(SurfaceRule {
                surface_neighbours: self.surface_neighbours,
                smoothing: self.smoothing,
                missing: (self.missing_material && !self.partial_scans).then_some(MissingMaterial {
                    gap: self.missing_gap,
                    support: self.missing_support,
                    radius: self.missing_radius,
                    sample: self.missing_sample,
                }),
                top_points: self.top_points,
            }),
        }
    }

    fn validate(&self) -> Result<(), String> {
        if !(self.threshold.is_finite() && self.threshold >= 0.0) {
            return Err(format!("scoring.threshold = {} must be a non-negative number", self.threshold));
        }
        if self.smoothing == 0 || self.top_points == 0 || self.missing_sample == 0 {
            return Err("scoring.smoothing, scoring.top_points and scoring.missing_sample must be at least 1".into());
        }
        if self.surface_neighbours == 1 || self.surface_neighbours == 2 {
            return Err(format!(
                "scoring.surface_neighbours = {}: a plane needs at least 3 points (0 = point distance)",
                self.surface_neighbours
            ));
        }
        for (key, value) in [("missing_gap", self.missing_gap), ("missing_radius", self.missing_radius)] {
            if !(value.is_finite() && value > 0.0) {
                return Err(format!("scoring.{key} = {value} must be a positive number"));
            }
        }
        Ok(())
    }
}

/// The graphs' tensor names, as exported; they must be the names of [`tensor`], in the runtime's order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tensors {
    /// The Down-Net's inputs.
    pub down_inputs: Vec<String>,
    /// The Down-Net's outputs.
    pub down_outputs: Vec<String>,
    /// The Up-Net's inputs.
    pub up_inputs: Vec<String>,
    /// The Up-Net's outputs.
    pub up_outputs: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Files {
    pub down: FileEntry,
    pub up: FileEntry,
    pub reference: FileEntry,
}

/// One file of the model folder.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    /// Relative to the folder.
    pub path: String,
    /// Hex sha256 of its bytes, checked at load.
    pub sha256: String,
}

/// More groupings than this multiply the Up-Net's time for no gain in density that a plane fit
/// can use.
const MAX_PASSES: usize = 16;

/// The tensor names of the two graphs: defined here once, used by the manifest check and by
/// [`Model`](super::Model) when it feeds and reads the graphs (`models/README.md`).
pub mod tensor {
    /// Noisy group centers in, `[B, G, 3]` (Down-Net), or predicted centers (Up-Net).
    pub const CENTERS: &str = "centers";
    /// Each center's K neighbours relative to it, `[B, G, K, 3]`.
    pub const PATCHES: &str = "patches";
    /// The Down-Net's clean centers, `[B, G, 3]`.
    pub const PRED_CENTERS: &str = "pred_centers";
    /// Level-1 points: FPS indices into the centers, `[B, G/2]`.
    pub const L1_INDEX: &str = "l1_index";
    /// Level-1 neighbourhoods, `[B, G/2, S]`.
    pub const L1_GROUP: &str = "l1_group";
    /// Level-2 points: FPS indices into level 1, `[B, G/4]`.
    pub const L2_INDEX: &str = "l2_index";
    /// Level-2 neighbourhoods, `[B, G/4, S]`.
    pub const L2_GROUP: &str = "l2_group";
    /// Each center's 3 nearest level-1 points, `[B, G, 3]`.
    pub const L1_INTERP_INDEX: &str = "l1_interp_index";
    /// Their weights, `[B, G, 3]`.
    pub const L1_INTERP_WEIGHT: &str = "l1_interp_weight";
    /// Each center's 3 nearest level-2 points, `[B, G, 3]`.
    pub const L2_INTERP_INDEX: &str = "l2_interp_index";
    /// Their weights, `[B, G, 3]`.
    pub const L2_INTERP_WEIGHT: &str = "l2_interp_weight";
    /// The Up-Net's dense reconstruction, `[B, G * gamma, 3]`.
    pub const POINTS: &str = "points";
}

/// The Down-Net's inputs, in the order this runtime feeds them.
pub const DOWN_INPUTS: [&str; 2] = [tensor::CENTERS, tensor::PATCHES];
/// The Down-Net's output.
pub const DOWN_OUTPUTS: [&str; 1] = [tensor::PRED_CENTERS];
/// The Up-Net's inputs, in the order this runtime feeds them.
pub const UP_INPUTS: [&str; 9] = [
    tensor::CENTERS,
    tensor::L1_INDEX,
    tensor::L1_GROUP,
    tensor::L2_INDEX,
    tensor::L2_GROUP,
    tensor::L1_INTERP_INDEX,
    tensor::L1_INTERP_WEIGHT,
    tensor::L2_INTERP_INDEX,
    tensor::L2_INTERP_WEIGHT,
];
/// The Up-Net's output.
pub const UP_OUTPUTS: [&str; 1] = [tensor::POINTS];

/// What is wrong with a model folder; every kind names the file.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `model.toml` is not TOML of the manifest's shape.
    #[error("{path}: not a valid model manifest: {message}")]
    Parse {
        /// The manifest.
        path: PathBuf,
        /// The parser's words.
        message: String,
    },
    /// A value breaks a rule of the contract.
    #[error("{path}: {message}")]
    Invalid {
        /// The manifest.
        path: PathBuf,
        /// Which key and which rule.
        message: String,
    },
    /// A file's bytes are not the ones the manifest lists.
    #[error("{path}: sha256 is {actual}, the manifest says {expected} (file corrupt or replaced)")]
    Checksum {
        /// The file.
        path: PathBuf,
        /// The manifest's sha256.
        expected: String,
        /// The file's sha256.
        actual: String,
    },
}

impl Manifest {
    /// The manifest's file name in a model folder.
    pub const FILE: &'static str = "model.toml";

    /// Reads and checks `DIR/model.toml` (parameters and tensor contract, not file hashes).
    pub fn load(dir: &Path) -> Result<Manifest, ManifestError> {
        let path = dir.join(Self::FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ManifestError::Io { path: path.clone(), source })?;
        let manifest: Manifest = toml::from_str(&text).map_err(|e| ManifestError::Parse { path: path.clone(), message: e.to_string() })?;
        manifest.validate().map_err(|message| ManifestError::Invalid { path, message })?;
        Ok(manifest)
    }

    /// Writes `DIR/model.toml` (the workstation's `calibrate` records thresholds this way).
    pub fn save(&self, dir: &Path) -> Result<(), ManifestError> {
        let path = dir.join(Self::FILE);
        let text = toml::to_string_pretty(self).expect("a manifest always serialises");
        std::fs::write(&path, text).map_err(|source| ManifestError::Io { path, source })
    }

    /// The contract this runtime speaks: parameter ranges and tensor names.
    pub fn validate(&self) -> Result<(), String> {
        let g = &self.grouping;
        if g.groups < 8 || !g.groups.is_multiple_of(4) {
            return Err(format!("grouping.groups = {} must be a multiple of 4, at least 8", g.groups));
        }
        if g.group_size == 0 || g.up_ratio == 0 || g.up_neighbours == 0 || g.up_neighbours > g.groups / 4 {
            return Err("grouping.group_size, up_ratio and up_neighbours must be positive (up_neighbours <= groups/4)".into());
        }
        if g.passes == 0 || g.passes > MAX_PASSES {
            return Err(format!("grouping.passes = {} must be between 1 and {MAX_PASSES}", g.passes));
        }
        if g.points < g.groups.max(g.group_size) {
            return Err(format!("grouping.points = {} is smaller than groups and group_size", g.points));
        }
        if !(self.normalisation.scale.is_finite() && self.normalisation.scale > 0.0) {
            return Err(format!("normalisation.scale = {} must be positive", self.normalisation.scale));
        }
        self.scoring.validate()?;
        self.scan.validate()?;
        let noise = &self.noise;
        if !(noise.alpha >= 0.0 && noise.beta >= 0.0 && noise.alpha.is_finite() && noise.beta.is_finite()) || noise.draws == 0 {
            return Err("noise.alpha and noise.beta must be >= 0 and noise.draws >= 1".into());
        }
        let t = &self.tensors;
        for (key, have, want) in [
            ("tensors.down_inputs", &t.down_inputs, &DOWN_INPUTS[..]),
            ("tensors.down_outputs", &t.down_outputs, &DOWN_OUTPUTS[..]),
            ("tensors.up_inputs", &t.up_inputs, &UP_INPUTS[..]),
            ("tensors.up_outputs", &t.up_outputs, &UP_OUTPUTS[..]),
        ] {
            if have.iter().map(String::as_str).ne(want.iter().copied()) {
                return Err(format!("{key} = {have:?}; this runtime speaks {want:?}"));
            }
        }
        Ok(())
    }

    /// Checks every file's sha256 against the manifest.
    pub fn verify_files(&self, dir: &Path) -> Result<(), ManifestError> {
        for entry in [&self.files.down, &self.files.up, &self.files.reference] {
            let path = dir.join(&entry.path);
            let actual = sha256_file(&path).map_err(|source| ManifestError::Io { path: path.clone(), source })?;
            if !actual.eq_ignore_ascii_case(&entry.sha256) {
                return Err(ManifestError::Checksum { path, expected: entry.sha256.clone(), actual });
            }
        }
        Ok(())
    }

    /// The fewest scan points the model can group.
    pub fn points_needed(&self) -> usize {
        self.grouping.groups.max(self.grouping.group_size)
    }
}

/// Hex sha256 of a file's bytes, read in a stream.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}
