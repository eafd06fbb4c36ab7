//! Each pipeline stage on a 16k- and a 120k-point scan (the shipped default model's good sample,
//! resampled), and whole inspections by DUS-Net and the golden-part reference.
//! Run: `scripts/setup-ort.sh && cargo bench`.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use dus_box::render::{self, Scene};
use dus_core::cloud::{self, Cloud};
use dus_core::detector::{Detector, DusNet, GoldenPart};
use dus_core::grouping::{farthest_point_sampling, Patches, Pyramid};
use dus_core::model::Scoring;
use dus_core::model::{Model, RuntimeConfig};
use dus_core::registration::Reference;
use dus_core::scoring::{point_scores, Normality};

const MODEL: &str = "models/bunny";
const SIZES: [usize; 2] = [16_000, 120_000];

fn scan() -> Cloud {
    cloud::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join(MODEL).join("samples/good.pcd")).expect("the default model's sample scan")
}

fn geometry(c: &mut Criterion) {
    let base = scan();
    let mut group = c.benchmark_group("stages");
    group.sample_size(10);
    for size in SIZES {
        let cloud = base.resampled(size);
        let points = cloud.points();
        group.bench_with_input(BenchmarkId::new("fps_1024", size), points, |b, p| b.iter(|| farthest_point_sampling(black_box(p), 1024)));
        group.bench_with_input(BenchmarkId::new("group_1024x32", size), points, |b, p| b.iter(|| Patches::group(black_box(p), 1024, 32)));
        let reference = Reference::new(base.points());
        group.bench_with_input(BenchmarkId::new("register_icp", size), points, |b, p| b.iter(|| reference.register(black_box(p))));
        let rule = surface_rule();
        let reconstruction = base.resampled(16_384).points().to_vec();
        // DUS-Net: the reconstruction's planes are fitted for every scan.
        group.bench_with_input(BenchmarkId::new("score_surface_vs_16k_reconstruction", size), points, |b, p| {
            let complete = Normality::points_only(reconstruction.clone());
            b.iter(|| point_scores(black_box(p), &Normality::for_one_scan(reconstruction.clone(), &rule), &complete, &rule, 1.0))
        });
        // Golden part: the reference's planes are fitted once, when the model loads.
        let templates = Normality::new(base.points().to_vec(), &rule);
        group.bench_with_input(BenchmarkId::new("score_surface_vs_reference", size), points, |b, p| {
            b.iter(|| point_scores(black_box(p), &templates, &templates, &rule, 1.0))
        });
    }
    let centers: Vec<[f32; 3]> = farthest_point_sampling(base.points(), 1024).into_iter().map(|i| base.points()[i]).collect();
    group.bench_function("pyramid_1024", |b| b.iter(|| Pyramid::build(black_box(&centers), 16)));
    group.finish();
}

/// The surface rule with its documented defaults.
fn surface_rule() -> dus_core::scoring::ScoringRule {
    let scoring: Scoring = toml::from_str("threshold = 1.0\nrule = \"surface\"").expect("a valid [scoring] table");
    scoring.rule()
}

fn inspection(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(MODEL);
    let model = Model::load(&dir, &RuntimeConfig::default()).expect("the default model loads (run scripts/setup-ort.sh first)");
    let mut golden = GoldenPart::new(&model);
    let mut dus_net = DusNet::new(model);
    let base = scan();
    let mut group = c.benchmark_group("inspect");
    group.sample_size(10);
    for size in SIZES {
        let cloud = base.resampled(size);
        group.bench_with_input(BenchmarkId::new("dus_net", size), &cloud, |b, c| b.iter(|| dus_net.inspect(c).unwrap()));
        group.bench_with_input(BenchmarkId::new("golden_part", size), &cloud, |b, c| b.iter(|| golden.inspect(c).unwrap()));
    }
    group.finish();
}

/// `edge-tool show` and the daemon's reject pictures: drawing (issue 14's bar: 150 ms at 16k
/// points) and PNG encoding, on the good sample with a made-up hot spot as scores.
fn picture(c: &mut Criterion) {
    let cloud = scan().resampled(16_000);
    let hot = cloud.points()[0];
    let scores: Vec<f32> = cloud.points().iter().map(|p| 1.0 / (1.0 + (0..3).map(|k| (p[k] - hot[k]).powi(2)).sum::<f32>())).collect();
    let scene = Scene {
        points: cloud.points(),
        scores: &scores,
        threshold: Some(0.5),
        object_score: Some(0.9),
        part: "bench",
        model: "bunny 1.0.0",
    };
    let mut group = c.benchmark_group("picture");
    group.sample_size(20);
    group.bench_function("render_16000", |b| b.iter(|| render::render(black_box(&scene)).unwrap()));
    let picture = render::render(&scene).unwrap();
    group.bench_function("encode_png", |b| b.iter(|| render::encode_png(black_box(&picture)).unwrap()));
    group.finish();
}

/// Reading a million-point scan in each binary format (the files are written once, here).
fn reading(c: &mut Criterion) {
    let points = scan().resampled(1_000_000).points().to_vec();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let raw: Vec<u8> = points.iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
    let n = points.len();
    let binary = dir.path().join("binary.pcd");
    cloud::write_pcd(&binary, &points).expect("binary PCD written");
    let ply = dir.path().join("binary.ply");
    let header = format!(
        "ply\nformat binary_little_endian 1.0\nelement vertex {n}\nproperty float x\nproperty float y\nproperty float z\nend_header\n"
    );
    std::fs::write(&ply, [header.as_bytes(), &raw].concat()).expect("binary PLY written");
    let compressed = dir.path().join("compressed.pcd");
    write_compressed_pcd(&compressed, &points);
    let mut group = c.benchmark_group("read_1M");
    group.sample_size(10);
    for (name, path) in [("pcd_binary", &binary), ("pcd_binary_compressed", &compressed), ("ply_binary", &ply)] {
        group.bench_function(name, |b| b.iter(|| cloud::read(black_box(path)).expect("the file just written")));
    }
    group.finish();
}

fn write_compressed_pcd(path: &Path, points: &[[f32; 3]]) {
    use pcd_rs::{DataKind, DynRecord, Field, ValueKind, WriterInit};
    let schema = vec![("x", ValueKind::F32, 1), ("y", ValueKind::F32, 1), ("z", ValueKind::F32, 1)];
    let init = WriterInit {
        width: points.len() as u64,
        height: 1,
        viewpoint: Default::default(),
        data_kind: DataKind::BinaryCompressed,
        schema: Some(pcd_rs::Schema::from_iter(schema)),
        version: None,
    };
    let mut writer = init.create::<DynRecord, _>(path).expect("compressed PCD created");
    for p in points {
        writer.push(&DynRecord(p.iter().map(|&v| Field::F32(vec![v])).collect())).expect("a point written");
    }
    writer.finish().expect("compressed PCD finished");
}

criterion_group!(benches, geometry, inspection, picture, reading);
criterion_main!(benches);
