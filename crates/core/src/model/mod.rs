//! A DUS-Net model folder (manifest, Down-Net, Up-Net, reference cloud) behind one narrow
//! interface: points in, points out. The graphs run on an [`Engine`] (`engine.rs`: sessions in,
//! tensors out); ONNX Runtime (`onnx_runtime.rs`) is the one the product ships, and nothing
//! outside `onnx_runtime.rs` names it, so the engine can change without touching grouping,
//! scoring or the daemon.

pub mod engine;
mod manifest;
mod onnx_runtime;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::grouping::Pyramid;
pub use engine::Engine;
pub use manifest::{sha256_file, tensor, FileEntry, Manifest, ManifestError, MissingAgainst, Noise, RuleKind, ScanCheck, Scoring, Tensors};
pub use onnx_runtime::{locate_library, OnnxRuntime, ORT_VERSION};

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
    down: Box<dyn engine::Session>,
    up: Box<dyn engine::Session>,
}

impl Model {
    /// Loads `dir` on ONNX Runtime: checks the manifest and every file's sha256 before any
    /// graph is opened.
    pub fn load(dir: &Path, runtime: &RuntimeConfig) -> Result<Model, ModelError> {
        Model::load_on(dir, &OnnxRuntime::new(runtime))
    }

    /// Loads `dir` with its graphs opened by `engine` (same checks as [`Model::load`]).
    pub fn load_on(dir: &Path, engine: &dyn Engine) -> Result<Model, ModelError> {
        let manifest = Manifest::load(dir)?;
        manifest.verify_files(dir)?;
        let reference_path = dir.join(&manifest.files.reference.path);
        let reference = crate::cloud::read(&reference_path).map_err(|e| ModelError::Reference(e.to_string()))?;
        let down = engine.open(&dir.join(&manifest.files.down.path))?;
        let up = engine.open(&dir.join(&manifest.files.up.path))?;
        Ok(Model { manifest, dir: dir.to_path_buf(), reference: reference.points().to_vec(), down, up })
    }

    /// The part's registered training templates, scan units.
    pub fn reference(&self) -> &[[f32; 3]] {
        &self.reference
    }

    /// Down-Net: one (noisy centers `[G*3]`, relative patches `[G*K*3]`) pair per batch item in,
    /// predicted clean centers out.
    pub fn predict_centers(&mut self, batch: &[(Vec<f32>, Vec<f32>)]) -> Result<Vec<Vec<[f32; 3]>>, ModelError> {
        let (g, k, b) = (self.manifest.grouping.groups, self.manifest.grouping.group_size, batch.len());
        let centers: Vec<f32> = batch.iter().flat_map(|(c, _)| c.iter().copied()).collect();
        let patches: Vec<f32> = batch.iter().flat_map(|(_, p)| p.iter().copied()).collect();
        let inputs = [f32s(tensor::CENTERS, vec![b, g, 3], &centers), f32s(tensor::PATCHES, vec![b, g, k, 3], &patches)];
        let output = self.down.run(&inputs, tensor::PRED_CENTERS)?;
        split_points(output, b, g, &self.dir.join(&self.manifest.files.down.path))
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
            f32s(tensor::CENTERS, vec![b, g, 3], &flat_centers),
            i64s(tensor::L1_INDEX, vec![b, g / 2], &l1_index),
            i64s(tensor::L1_GROUP, vec![b, g / 2, s], &l1_group),
            i64s(tensor::L2_INDEX, vec![b, g / 4], &l2_index),
            i64s(tensor::L2_GROUP, vec![b, g / 4, s], &l2_group),
            i64s(tensor::L1_INTERP_INDEX, vec![b, g, 3], &l1_ii),
            f32s(tensor::L1_INTERP_WEIGHT, vec![b, g, 3], &l1_iw),
            i64s(tensor::L2_INTERP_INDEX, vec![b, g, 3], &l2_ii),
            f32s(tensor::L2_INTERP_WEIGHT, vec![b, g, 3], &l2_iw),
        ];
        let output = self.up.run(&inputs, tensor::POINTS)?;
        split_points(output, b, g * m.up_ratio, &self.dir.join(&self.manifest.files.up.path))
    }
}

fn f32s<'a>(name: &'a str, shape: Vec<usize>, data: &'a [f32]) -> engine::Tensor<'a> {
    engine::Tensor { name, shape, data: engine::Data::F32(data) }
}

fn i64s<'a>(name: &'a str, shape: Vec<usize>, data: &'a [i64]) -> engine::Tensor<'a> {
    engine::Tensor { name, shape, data: engine::Data::I64(data) }
}

/// Checks an output's shape is [b, n, 3] and its values finite, and splits it into one point
/// list per batch item.
fn split_points(output: engine::Output, b: usize, n: usize, path: &Path) -> Result<Vec<Vec<[f32; 3]>>, ModelError> {
    let engine::Output { shape, data } = output;
    if shape != [b, n, 3] {
        return Err(ModelError::Run { path: path.to_path_buf(), message: format!("output shape {shape:?}, expected [{b}, {n}, 3]") });
    }
    if data.iter().any(|v| !v.is_finite()) {
        return Err(ModelError::Run { path: path.to_path_buf(), message: "output holds NaN or infinite values".into() });
    }
    Ok(data.chunks_exact(n * 3).map(|item| item.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect()).collect())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::engine::{Data, Output, Session, Tensor};
    use super::*;

    /// What a stand-in graph does with its first input (the centers).
    #[derive(Clone, Copy)]
    enum Answer {
        /// Each center repeated `copies` times: shape-correct output.
        Repeat { copies: usize },
        /// As many values as `Repeat`, all NaN.
        Nan { copies: usize },
    }

    /// An engine that runs no graph: it records the tensor names each session is fed and
    /// answers from the centers, so the model's side of the engine contract is tested without
    /// ONNX Runtime.
    struct StandIn {
        answers: (Answer, Answer),
        fed: Arc<Mutex<Vec<Vec<String>>>>,
    }

    struct StandInSession {
        answer: Answer,
        fed: Arc<Mutex<Vec<Vec<String>>>>,
    }

    impl Engine for StandIn {
        fn open(&self, path: &Path) -> Result<Box<dyn Session>, ModelError> {
            let answer = if path.ends_with("down.onnx") { self.answers.0 } else { self.answers.1 };
            Ok(Box::new(StandInSession { answer, fed: self.fed.clone() }))
        }
    }

    impl Session for StandInSession {
        fn run(&mut self, inputs: &[Tensor<'_>], _output: &str) -> Result<Output, ModelError> {
            self.fed.lock().unwrap().push(inputs.iter().map(|t| t.name.to_string()).collect());
            let Data::F32(centers) = inputs[0].data else { panic!("the centers come first") };
            let (b, g) = (inputs[0].shape[0], inputs[0].shape[1]);
            Ok(match self.answer {
                Answer::Repeat { copies } => {
                    Output { shape: vec![b, g * copies, 3], data: centers.chunks_exact(3).flat_map(|p| p.repeat(copies)).collect() }
                }
                Answer::Nan { copies } => Output { shape: vec![b, g * copies, 3], data: vec![f32::NAN; centers.len() * copies] },
            })
        }
    }

    fn bunny(answers: (Answer, Answer)) -> (Model, Arc<Mutex<Vec<Vec<String>>>>) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/bunny");
        let fed = Arc::new(Mutex::new(Vec::new()));
        (Model::load_on(&dir, &StandIn { answers, fed: fed.clone() }).unwrap(), fed)
    }

    #[test]
    fn the_graphs_are_fed_the_contract_names_and_their_outputs_split_per_batch_item() {
        let (mut model, fed) = bunny((Answer::Repeat { copies: 1 }, Answer::Repeat { copies: 32 }));
        let (g, k) = (model.manifest.grouping.groups, model.manifest.grouping.group_size);
        let item = |shift: f32| ((0..g * 3).map(|i| i as f32 + shift).collect::<Vec<f32>>(), vec![0.0; g * k * 3]);
        let centers = model.predict_centers(&[item(0.0), item(0.5)]).unwrap();
        assert_eq!((centers.len(), centers[1].len()), (2, g));
        assert_eq!(centers[1][1], [3.5, 4.5, 5.5]);
        let pyramids: Vec<Pyramid> = centers.iter().map(|c| Pyramid::build(c, model.manifest.grouping.up_neighbours)).collect();
        let dense = model.reconstruct(&centers, &pyramids).unwrap();
        assert_eq!(dense[0].len(), g * model.manifest.grouping.up_ratio);
        assert_eq!(dense[1][32], centers[1][1]);
        let fed = fed.lock().unwrap();
        assert_eq!(fed[0], manifest::DOWN_INPUTS.map(String::from).to_vec());
        assert_eq!(fed[1], manifest::UP_INPUTS.map(String::from).to_vec());
    }

    #[test]
    fn a_wrong_shape_or_a_nan_from_a_graph_is_an_error_naming_the_graph() {
        let (mut model, _) = bunny((Answer::Repeat { copies: 2 }, Answer::Nan { copies: 32 }));
        let (g, k) = (model.manifest.grouping.groups, model.manifest.grouping.group_size);
        let err = model.predict_centers(&[(vec![0.0; g * 3], vec![0.0; g * k * 3])]).unwrap_err().to_string();
        assert!(err.contains("down.onnx") && err.contains("output shape"), "{err}");
        let centers = vec![vec![[0.0f32, 0.0, 0.0]; g]];
        let pyramid = Pyramid::build(&(0..g).map(|i| [i as f32, (i * i % 7) as f32, 0.0]).collect::<Vec<_>>(), 16);
        let err = model.reconstruct(&centers, &[pyramid]).unwrap_err().to_string();
        assert!(err.contains("up.onnx") && err.contains("NaN"), "{err}");
    }
}
