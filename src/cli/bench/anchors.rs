//! Runs `anchors.py` (beside this file, compiled in) with the Python given to `bench --python`
//! and reads back its JSON: the anchors' median milliseconds on the scan dus-edge just timed.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use dus_core::registration::Pose;
use serde::Deserialize;

const SCRIPT: &str = include_str!("anchors.py");

/// What the anchors measured; an anchor whose package the Python lacks is `None`.
#[derive(Deserialize)]
pub struct Anchors {
    pub numpy_read_ms: f64,
    pub fpsample: Option<Sample>,
    pub pykdtree_ms: Option<f64>,
    pub small_gicp: Option<Registration>,
    pub python_reference_ms: Option<f64>,
}

/// fpsample's time and the points it picked.
#[derive(Deserialize)]
pub struct Sample {
    pub ms: f64,
    pub indices: Vec<usize>,
}

/// small_gicp's time, pose (4 x 4, rows) and iterations.
#[derive(Deserialize)]
pub struct Registration {
    pub ms: f64,
    pose: [[f64; 4]; 4],
    pub iterations: usize,
}

impl Registration {
    /// The pose as dus-edge writes one.
    pub fn pose(&self) -> Pose {
        Pose::from_rows(&self.pose)
    }
}

/// Times the anchors on `scan` (a binary PCD dus-edge wrote), the model's reference and `centers`
/// (dus-edge's FPS picks, the KNN queries).
pub fn measure(
    python: &Path,
    scan: &Path,
    reference: &Path,
    model: &Path,
    centers: &[usize],
    radius: f64,
    repeat: usize,
) -> Result<Anchors> {
    let work = tempfile::tempdir()?;
    let script = work.path().join("anchors.py");
    std::fs::write(&script, SCRIPT)?;
    let centers_file = work.path().join("centers.npy");
    std::fs::write(&centers_file, npy_indices(centers))?;
    let output = Command::new(python)
        .arg(&script)
        .args([scan, reference, model, &centers_file])
        .args([radius.to_string(), repeat.to_string()])
        .output()
        .with_context(|| format!("{}: cannot run", python.display()))?;
    if !output.status.success() {
        bail!("the anchors failed ({}): {}", python.display(), String::from_utf8_lossy(&output.stderr));
    }
    serde_json::from_slice(&output.stdout)
        .with_context(|| format!("the anchors printed no result: {}", String::from_utf8_lossy(&output.stdout)))
}

/// `indices` as a .npy file of little-endian i64 (numpy's format, version 1.0).
fn npy_indices(indices: &[usize]) -> Vec<u8> {
    let mut header = format!("{{'descr': '<i8', 'fortran_order': False, 'shape': ({},), }}", indices.len());
    // Magic (6) + version (2) + length (2) + header + newline, padded to a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.into_bytes());
    bytes.extend(indices.iter().flat_map(|&i| (i as i64).to_le_bytes()));
    bytes
}
