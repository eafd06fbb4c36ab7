//! The engine interface: what a model needs from a graph runtime, and nothing more. A graph file
//! is opened into a [`Session`]; a session takes named tensors in and gives one named f32 tensor
//! out. ONNX Runtime ([`OnnxRuntime`](super::OnnxRuntime)) is the implementation the product
//! ships; the rest of the code sees only these types, so another runtime (or a test's stand-in)
//! plugs in here without touching grouping, scoring or the daemon.

use std::path::Path;

use super::ModelError;

/// Opens graph files.
pub trait Engine {
    /// Loads the graph at `path`, ready to run.
    fn open(&self, path: &Path) -> Result<Box<dyn Session>, ModelError>;
}

/// One loaded graph.
pub trait Session: Send {
    /// Runs the graph on `inputs` and returns the output named `output`.
    fn run(&mut self, inputs: &[Tensor<'_>], output: &str) -> Result<Output, ModelError>;
}

/// A named input tensor, borrowed from the caller.
#[derive(Debug, Clone)]
pub struct Tensor<'a> {
    /// The graph's name for it (`model::tensor`).
    pub name: &'a str,
    /// Its shape, outermost first.
    pub shape: Vec<usize>,
    /// Its values, row-major.
    pub data: Data<'a>,
}

/// The element types the two graphs take.
#[derive(Debug, Clone, Copy)]
pub enum Data<'a> {
    /// Coordinates and weights.
    F32(&'a [f32]),
    /// Indices.
    I64(&'a [i64]),
}

/// An f32 output tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// Its shape, outermost first.
    pub shape: Vec<usize>,
    /// Its values, row-major.
    pub data: Vec<f32>,
}
