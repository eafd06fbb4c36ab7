//! ONNX Runtime, the [`Engine`] the product ships: the only file that names `ort`.
//!
//! The library is loaded at run time (`load-dynamic`) from a file the setup script unpacked from
//! the `onnxruntime` PyPI wheel, so a missing or wrong library is an error message, not a crash or a
//! download. Execution providers come from configuration and fall back to CPU unless `strict`.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::ep::ExecutionProviderDispatch;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{Session, SessionInputValue};
use ort::value::TensorRef;

use super::engine::{Data, Engine, Output, Session as GraphSession, Tensor};
use super::{ModelError, RuntimeConfig};

/// The ONNX Runtime release the setup script installs and `ort` was built against.
pub const ORT_VERSION: &str = "1.31.1";

static ENVIRONMENT: OnceLock<Environment> = OnceLock::new();

/// Loads the ONNX Runtime library once per process and returns the shared environment.
fn environment(config: &RuntimeConfig) -> Result<&'static Environment, ModelError> {
    if let Some(env) = ENVIRONMENT.get() {
        return Ok(env);
    }
    let library = locate_library(config)?;
    let env = ort::init_from(&library)
        .map_err(|e| ModelError::Library(format!("{}: {e}", library.display())))?
        .with_name("dus-edge")
        .build()
        .map_err(|e| ModelError::Library(format!("{}: {e}", library.display())))?;
    log::debug!("ONNX Runtime loaded from {}", library.display());
    Ok(ENVIRONMENT.get_or_init(|| env))
}

/// The library path: the configuration, then `ORT_DYLIB_PATH`, then `.ort/<arch>/` in the
/// working directory or above the executable (where `scripts/setup-ort.sh` puts it).
pub fn locate_library(config: &RuntimeConfig) -> Result<PathBuf, ModelError> {
    if let Some(path) = &config.library {
        return existing(path.clone());
    }
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH") {
        return existing(PathBuf::from(path));
    }
    let relative = Path::new(".ort").join(std::env::consts::ARCH).join(format!("libonnxruntime.so.{ORT_VERSION}"));
    let exe = std::env::current_exe().ok();
    let roots = std::iter::once(PathBuf::from(".")).chain(exe.iter().flat_map(|e| e.ancestors().skip(1).map(Path::to_path_buf)));
    let candidates: Vec<PathBuf> = roots.map(|root| root.join(&relative)).collect();
    candidates.iter().find(|c| c.is_file()).cloned().ok_or_else(|| {
        ModelError::Library(format!(
            "ONNX Runtime {ORT_VERSION} not found (looked for {} here and above the executable); run scripts/setup-ort.sh or set ORT_DYLIB_PATH",
            relative.display()
        ))
    })
}

fn existing(path: PathBuf) -> Result<PathBuf, ModelError> {
    if path.is_file() {
        Ok(path)
    } else {
        Err(ModelError::Library(format!("{}: no such ONNX Runtime library", path.display())))
    }
}

/// The execution providers to register, in order; CPU is always the implicit last resort.
fn providers(config: &RuntimeConfig) -> Result<Vec<ExecutionProviderDispatch>, ModelError> {
    config.check_providers().map_err(ModelError::Config)?;
    let mut dispatches = Vec::new();
    for name in &config.providers {
        let dispatch = match name.as_str() {
            "cpu" => continue,
            "cuda" => cuda(),
            "tensorrt" => tensorrt(config),
            other => return Err(ModelError::Config(format!("unknown execution provider '{other}'"))),
        };
        match dispatch {
            Some(d) if config.strict => dispatches.push(d.error_on_failure()),
            Some(d) => dispatches.push(d),
            None if config.strict => {
                return Err(ModelError::Config(format!("provider '{name}' is configured strict but this build lacks the '{name}' feature")))
            }
            None => log::warn!("provider '{name}' is not in this build (cargo feature '{name}'); falling back to CPU"),
        }
    }
    Ok(dispatches)
}

#[cfg(feature = "cuda")]
fn cuda() -> Option<ExecutionProviderDispatch> {
    Some(ort::ep::CUDA::default().build())
}
#[cfg(not(feature = "cuda"))]
fn cuda() -> Option<ExecutionProviderDispatch> {
    None
}

#[cfg(feature = "tensorrt")]
fn tensorrt(config: &RuntimeConfig) -> Option<ExecutionProviderDispatch> {
    let mut trt = ort::ep::TensorRT::default();
    if let Some(cache) = &config.engine_cache {
        // Building TensorRT engines takes minutes: cache them so only the first session pays.
        trt = trt.with_engine_cache(true).with_engine_cache_path(cache.display()).with_timing_cache(true);
    }
    Some(trt.build())
}
#[cfg(not(feature = "tensorrt"))]
fn tensorrt(_config: &RuntimeConfig) -> Option<ExecutionProviderDispatch> {
    None
}

/// ONNX Runtime with the box's runtime settings (library, execution providers, threads).
pub struct OnnxRuntime {
    config: RuntimeConfig,
}

impl OnnxRuntime {
    /// The engine for `config`; the library is loaded when the first graph is opened.
    pub fn new(config: &RuntimeConfig) -> OnnxRuntime {
        OnnxRuntime { config: config.clone() }
    }
}

impl Engine for OnnxRuntime {
    fn open(&self, path: &Path) -> Result<Box<dyn GraphSession>, ModelError> {
        let config = &self.config;
        let env = environment(config)?;
        let fail = |e: String| ModelError::Session { path: path.to_path_buf(), message: e };
        // A small box runs one part at a time beside Rust stages that want the same cores: ORT's
        // idle worker threads must sleep, not spin (spinning doubled the graphs' time and slowed
        // FPS and scoring beside them on 2 cores), and one graph runs at a time (no inter-op pool).
        let providers = providers(config)?;
        let build = || -> ort::Result<Session> {
            Session::builder(env)?
                .with_optimization_level(GraphOptimizationLevel::All)?
                .with_intra_threads(config.threads.max(1))?
                .with_inter_threads(1)?
                .with_intra_op_spinning(false)?
                .with_inter_op_spinning(false)?
                .with_execution_providers(providers)?
                .commit_from_file(path)
        };
        let session = build().map_err(|e| fail(e.to_string()))?;
        Ok(Box::new(Graph { session, path: path.to_path_buf() }))
    }
}

/// One ONNX graph ready to run.
struct Graph {
    session: Session,
    path: PathBuf,
}

impl GraphSession for Graph {
    fn run(&mut self, inputs: &[Tensor<'_>], output: &str) -> Result<Output, ModelError> {
        let fail = |e: String| ModelError::Run { path: self.path.clone(), message: e };
        let mut values: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = Vec::with_capacity(inputs.len());
        for input in inputs {
            let shape = input.shape.clone();
            let value = match input.data {
                Data::F32(data) => TensorRef::from_array_view((shape, data)).map(Into::into),
                Data::I64(data) => TensorRef::from_array_view((shape, data)).map(Into::into),
            };
            values.push((Cow::Borrowed(input.name), value.map_err(|e| fail(format!("input '{}': {e}", input.name)))?));
        }
        let outputs = self.session.run(values).map_err(|e| fail(e.to_string()))?;
        let value = outputs.get(output).ok_or_else(|| fail(format!("no output named '{output}'")))?;
        let (shape, data) = value.try_extract_tensor::<f32>().map_err(|e| fail(format!("output '{output}': {e}")))?;
        Ok(Output { shape: shape.iter().map(|&d| d as usize).collect(), data: data.to_vec() })
    }
}
