//! A DUS-Net model folder (manifest, Down-Net, Up-Net, reference cloud) behind one narrow
//! interface: points in, points out. Nothing outside this module sees an ONNX Runtime type, so
//! the engine can change without touching grouping, scoring or the daemon.

mod engine;
mod manifest;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::grouping::Pyramid;
pub use engine::{locate_library, ORT_VERSION};
pub use manifest::{sha256_file, FileEntry, Manifest, ManifestError, MissingAgainst, Noise, RuleKind, ScanCheck, Scoring, Tensors};

/// How to run models: which ONNX Runtime library and which execution providers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Path of `libonnxruntime.so`; found automatically when unset (see `locate_library`).
    pub library: Option<PathBuf>,
    /// Execution providers in order of preference: `tensorrt`, `cuda`, `cpu`.
    pub providers: Vec<String>,
    /// Fail instead of falling back to CPU when a configured provider is unavailable.
    pub strict: bool,
    /// Threads ONNX Runtime may use within one graph.
    pub threads: usize,
    /// Where TensorRT keeps built engines.
    pub engine_cache: Option<PathBuf>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            library: None,
            providers: vec!["cpu".into()],
            strict: false,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            engine_cache: None,
        }
    }
}

/// The execution providers this runtime knows (a build may lack some; see `engine.rs`).
pub const PROVIDERS: [&str; 3] = ["cpu", "cuda", "tensorrt"];

impl RuntimeConfig {
    /// Every configured provider must be one of [`PROVIDERS`], and at least one given.
    pub fn check_providers(&self) -> Result<(), String> {
        if self.providers.is_empty() {
            return Err(format!("runtime.providers is empty; name at least one of {}", PROVIDERS.join(", ")));
        }
        match self.providers.iter().find(|p| !PROVIDERS.contains(&p.as_str())) {
            Some(unknown) => Err(format!("runtime.providers: unknown execution provider '{unknown}' ({})", PROVIDERS.join(", "))),
            None => Ok(()),
        }
    }
}

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The ONNX Runtime library is missing or would not load.
    #[error("ONNX Runtime: {0}")]
    Library(String),
    /// The runtime settings ask for something this build or box cannot do.
    #[error("runtime configuration: {0}")]
    Config(String),
    /// The model folder is not valid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A graph would not load.
    #[error("{path}: cannot load the graph: {message}")]
    Session {
        /// The graph file.
        path: PathBuf,
        /// ONNX Runtime's words.
        message: String,
    },
    /// A graph failed while running.
    #[error("{path}: inference failed: {message}")]
    Run {
        /// The graph file.
        path: PathBuf,
        /// ONNX Runtime's words.
        message: String,
    },
    /// `reference.pcd` is not usable.
    #[error("{0}")]
    Reference(String),
}

/// A loaded model folder.
pub struct Model {
    /// Its `model.toml`.
    pub manifest: Manifest,
    /// The folder it was loaded from.
    pub dir: PathBuf,
    reference: Vec<[f32; 3]>,
    down: engine::Graph,
    up: engine::Graph,
}

impl Model {
    /// Loads `dir`: checks the manifest and every file's sha256 before any graph is opened.
    pub fn load(dir: &Path, runtime: &RuntimeConfig) -> Result<Model, ModelError> {
        let manifest = Manifest::load(dir)?;
        manifest.verify_files(dir)?;
        let reference_path = dir.join(&manifest.files.reference.path);
        let reference = crate::cloud::read(&reference_path).map_err(|e| ModelError::Reference(e.to_string()))?;
        let down = engine::Graph::load(&dir.join(&manifest.files.down.path), runtime)?;
        let up = engine::Graph::load(&dir.join(&manifest.files.up.path), runtime)?;
        Ok(Model { manifest, dir: dir.to_path_buf(), reference: reference.points().to_vec(), down, up })
    }

    /// The part's registered training templates, scan units.
    pub fn reference(&self) -> &[[f32; 3]] {
        &self.reference
    }

    /// Down-Net: one (noisy centers [G*3], relative patches [G*K*3]) pair per batch item in,
    /// predicted clean centers out.
    pub fn predict_centers(&mut self, batch: &[(Vec<f32>, Vec<f32>)]) -> Result<Vec<Vec<[f32; 3]>>, ModelError> {
        let (g, k, b) = (self.manifest.grouping.groups, self.manifest.grouping.group_size, batch.len());
        let centers: Vec<f32> = batch.iter().flat_map(|(c, _)| c.iter().copied()).collect();
        let patches: Vec<f32> = batch.iter().flat_map(|(_, p)| p.iter().copied()).collect();
        let inputs = [
            engine::Input::F32("centers", vec![b, g, 3], &centers),
            engine::Input::F32("patches", vec![b, g, k, 3], &patches),
        ];
        let (shape, data) = self.down.run(&inputs, "pred_centers")?;
        split_points(&shape, data, b, g, &self.dir.join(&self.manifest.files.down.path))
    }

    /// Up-Net: predicted centers and their pyramids in, dense reconstructions (G*gamma points) out.
    pub fn reconstruct(&mut self, centers: &[Vec<[f32; 3]>], pyramids: &[Pyramid]) -> Result<Vec<Vec<[f32; 3]>>, ModelError> {
        let m = &self.manifest.grouping;
        let (g, s, b) = (m.groups, m.up_neighbours, centers.len());
        let flat_centers: Vec<f32> = centers.iter().flatten().flatten().copied().collect();
        let gather_i = |f: fn(&Pyramid) -> &Vec<i64>| pyramids.iter().flat_map(|p| f(p).iter().copied()).collect::<Vec<i64>>();
        let gather_f = |f: fn(&Pyramid) -> &Vec<f32>| pyramids.iter().flat_map(|p| f(p).iter().copied()).collect::<Vec<f32>>();
        let (l1_index, l1_group, l2_index, l2_group) =
            (gather_i(|p| &p.l1_index), gather_i(|p| &p.l1_group), gather_i(|p| &p.l2_index), gather_i(|p| &p.l2_group));
        let (l1_ii, l2_ii) = (gather_i(|p| &p.l1_interp_index), gather_i(|p| &p.l2_interp_index));
        let (l1_iw, l2_iw) = (gather_f(|p| &p.l1_interp_weight), gather_f(|p| &p.l2_interp_weight));
        let inputs = [
            engine::Input::F32("centers", vec![b, g, 3], &flat_centers),
            engine::Input::I64("l1_index", vec![b, g / 2], &l1_index),
            engine::Input::I64("l1_group", vec![b, g / 2, s], &l1_group),
            engine::Input::I64("l2_index", vec![b, g / 4], &l2_index),
            engine::Input::I64("l2_group", vec![b, g / 4, s], &l2_group),
            engine::Input::I64("l1_interp_index", vec![b, g, 3], &l1_ii),
            engine::Input::F32("l1_interp_weight", vec![b, g, 3], &l1_iw),
            engine::Input::I64("l2_interp_index", vec![b, g, 3], &l2_ii),
            engine::Input::F32("l2_interp_weight", vec![b, g, 3], &l2_iw),
        ];
        let (shape, data) = self.up.run(&inputs, "points")?;
        split_points(&shape, data, b, g * m.up_ratio, &self.dir.join(&self.manifest.files.up.path))
    }
}

/// Checks an output's shape is [b, n, 3] and splits it into one point list per batch item.
fn split_points(shape: &[usize], data: Vec<f32>, b: usize, n: usize, path: &Path) -> Result<Vec<Vec<[f32; 3]>>, ModelError> {
    if shape != [b, n, 3] {
        return Err(ModelError::Run { path: path.to_path_buf(), message: format!("output shape {shape:?}, expected [{b}, {n}, 3]") });
    }
    if data.iter().any(|v| !v.is_finite()) {
        return Err(ModelError::Run { path: path.to_path_buf(), message: "output holds NaN or infinite values".into() });
    }
    Ok(data.chunks_exact(n * 3).map(|item| item.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect()).collect())
}
