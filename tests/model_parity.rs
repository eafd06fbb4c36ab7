//! The Rust pipeline against the fixtures `tools/export.py` wrote with PyTorch and the Python
//! reference, for every shipped model: ONNX Runtime parity of both graphs (1e-4), identical
//! grouping and Up-Net indices, and the same object score on the same scan (1e-4, noise off).

use std::path::{Path, PathBuf};

use dus_core::cloud;
use dus_core::detector::{Detector, DusNet};
use dus_core::grouping::{Patches, Pyramid};
use dus_core::model::{Model, RuntimeConfig};
use dus_core::registration::stride_indices;
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixtures {
    down: Graph,
    up: Graph,
    scans: Vec<ScanFixture>,
    tolerance: f64,
}

#[derive(Deserialize)]
struct Graph {
    inputs: Vec<Tensor>,
    outputs: Vec<Tensor>,
}

#[derive(Deserialize)]
struct Tensor {
    name: String,
    dtype: String,
    shape: Vec<usize>,
    file: String,
}

#[derive(Deserialize)]
struct ScanFixture {
    file: String,
    object_score: f64,
    point_scores: Vec<f64>,
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every shipped model folder with parity fixtures.
fn shipped_models() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(repo().join("models"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|d| d.join("parity/parity.json").is_file())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no shipped model has parity fixtures");
    dirs
}

fn fixtures(dir: &Path) -> Fixtures {
    serde_json::from_str(&std::fs::read_to_string(dir.join("parity/parity.json")).unwrap()).unwrap()
}

fn raw(dir: &Path, graph: &Graph, name: &str, outputs: bool) -> (Vec<usize>, Vec<u8>, String) {
    let list = if outputs { &graph.outputs } else { &graph.inputs };
    let t = list.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("fixture {name}"));
    let bytes = std::fs::read(dir.join("parity").join(&t.file)).unwrap();
    (t.shape.clone(), bytes, t.dtype.clone())
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
}

fn i64s(bytes: &[u8]) -> Vec<i64> {
    bytes.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect()
}

fn input_f32(dir: &Path, graph: &Graph, name: &str) -> Vec<f32> {
    let (_, bytes, dtype) = raw(dir, graph, name, false);
    assert_eq!(dtype, "f32", "{name}");
    f32s(&bytes)
}

fn input_i64(dir: &Path, graph: &Graph, name: &str) -> Vec<i64> {
    let (_, bytes, dtype) = raw(dir, graph, name, false);
    assert_eq!(dtype, "i64", "{name}");
    i64s(&bytes)
}

fn max_abs_diff(found: &[[f32; 3]], expected: &[f32]) -> f32 {
    assert_eq!(found.len() * 3, expected.len());
    found.iter().flatten().zip(expected).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
}

fn points(flat: &[f32]) -> Vec<[f32; 3]> {
    flat.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect()
}

#[test]
fn onnx_runtime_matches_pytorch_and_rust_indices_match_python() {
    for dir in shipped_models() {
        let fx = fixtures(&dir);
        let mut model = Model::load(&dir, &RuntimeConfig::default()).unwrap();

        let centers = input_f32(&dir, &fx.down, "centers");
        let patches = input_f32(&dir, &fx.down, "patches");
        let predicted = model.predict_centers(&[(centers.clone(), patches.clone())]).unwrap();
        let (_, expected, _) = raw(&dir, &fx.down, "pred_centers", true);
        let diff = max_abs_diff(&predicted[0], &f32s(&expected));
        assert!(diff < 1e-4, "{}: Down-Net differs from PyTorch by {diff}", dir.display());

        let up_centers = points(&input_f32(&dir, &fx.up, "centers"));
        let pyramid = Pyramid {
            l1_index: input_i64(&dir, &fx.up, "l1_index"),
            l1_group: input_i64(&dir, &fx.up, "l1_group"),
            l2_index: input_i64(&dir, &fx.up, "l2_index"),
            l2_group: input_i64(&dir, &fx.up, "l2_group"),
            l1_interp_index: input_i64(&dir, &fx.up, "l1_interp_index"),
            l1_interp_weight: input_f32(&dir, &fx.up, "l1_interp_weight"),
            l2_interp_index: input_i64(&dir, &fx.up, "l2_interp_index"),
            l2_interp_weight: input_f32(&dir, &fx.up, "l2_interp_weight"),
        };
        let rust_pyramid = Pyramid::build(&up_centers, model.manifest.grouping.up_neighbours);
        assert_eq!(rust_pyramid.l1_index, pyramid.l1_index, "{}: level-1 FPS", dir.display());
        assert_eq!(rust_pyramid.l1_group, pyramid.l1_group, "{}: level-1 groups", dir.display());
        assert_eq!(rust_pyramid.l2_index, pyramid.l2_index, "{}: level-2 FPS", dir.display());
        assert_eq!(rust_pyramid.l2_group, pyramid.l2_group, "{}: level-2 groups", dir.display());
        assert_eq!(rust_pyramid.l1_interp_index, pyramid.l1_interp_index);
        assert_eq!(rust_pyramid.l2_interp_index, pyramid.l2_interp_index);
        let wdiff = rust_pyramid.l1_interp_weight.iter().zip(&pyramid.l1_interp_weight).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(wdiff < 1e-5, "interpolation weights differ by {wdiff}");

        let reconstruction = model.reconstruct(&[up_centers], &[pyramid]).unwrap();
        let (_, expected, _) = raw(&dir, &fx.up, "points", true);
        let diff = max_abs_diff(&reconstruction[0], &f32s(&expected));
        assert!(diff < 1e-4, "{}: Up-Net differs from PyTorch by {diff}", dir.display());
    }
}

#[test]
fn rust_grouping_gives_the_down_net_inputs_python_gave() {
    for dir in shipped_models() {
        let fx = fixtures(&dir);
        let model = Model::load(&dir, &RuntimeConfig::default()).unwrap();
        let m = model.manifest.clone();
        let scan = cloud::read(&repo().join(&fx.scans[0].file)).unwrap();
        // Register and normalise exactly as the detector does, then group.
        let reference = dus_core::registration::Reference::new(model.reference());
        let pose = reference.register(scan.points());
        let q: Vec<[f32; 3]> = scan
            .points()
            .iter()
            .map(|p| {
                let a = pose.apply(&p.map(f64::from));
                [0, 1, 2].map(|k| ((a[k] - m.normalisation.center[k]) / m.normalisation.scale) as f32)
            })
            .collect();
        let sample: Vec<[f32; 3]> = stride_indices(q.len(), m.grouping.points).into_iter().map(|i| q[i]).collect();
        let patches = Patches::group(&sample, m.grouping.groups, m.grouping.group_size);
        let (centers, relative) = patches.noisy(dus_core::grouping::NoiseLevels { alpha: 0.0, beta: 0.0 }, 0);
        let diff = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        assert!(diff(&centers, &input_f32(&dir, &fx.down, "centers")) < 1e-5, "{}: centers", dir.display());
        assert!(diff(&relative, &input_f32(&dir, &fx.down, "patches")) < 1e-5, "{}: patches", dir.display());
    }
}

#[test]
fn rust_pipeline_reproduces_the_python_reference_scores() {
    for dir in shipped_models() {
        let fx = fixtures(&dir);
        let mut detector = DusNet::new(Model::load(&dir, &RuntimeConfig::default()).unwrap());
        for scan in &fx.scans {
            let inspection = detector.inspect(&cloud::read(&repo().join(&scan.file)).unwrap()).unwrap();
            let diff = (inspection.object_score - scan.object_score).abs();
            assert!(diff < fx.tolerance, "{}: object score {} vs Python {}", scan.file, inspection.object_score, scan.object_score);
            for (i, expected) in scan.point_scores.iter().enumerate() {
                let found = f64::from(inspection.point_scores[i]);
                assert!((found - expected).abs() < fx.tolerance, "{}: point {i}: {found} vs Python {expected}", scan.file);
            }
        }
    }
}
