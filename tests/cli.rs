//! `edge-tool` as an operator runs it: the real binary, the shipped default model, real scans.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn model() -> PathBuf {
    repo().join("models/bunny")
}

fn edge_tool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edge-tool")).args(args).current_dir(repo()).output().unwrap()
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn score_prints_a_verdict_per_scan_and_writes_heatmaps() {
    let dir = tempfile::tempdir().unwrap();
    let good = model().join("samples/good.pcd");
    let defect = model().join("samples/defect.pcd");
    let out = edge_tool(&["score", arg(&good), arg(&defect), "--heatmap", arg(dir.path())]);
    assert!(out.status.success(), "{}", text(&out));
    let printed = text(&out);
    for scan in ["good.pcd: ", "defect.pcd: "] {
        let line = printed.lines().find(|l| l.contains(scan)).unwrap_or_else(|| panic!("no line for {scan}: {printed}"));
        assert!(line.contains("OK") || line.contains("DEFECT"), "{line}");
        assert!(line.contains("object score") && line.contains("threshold"), "{line}");
    }
    assert!(printed.contains("timings (ms): register"), "{printed}");
    for name in ["good.ply", "defect.ply"] {
        let heatmap = dus_core::cloud::read(&dir.path().join(name)).unwrap();
        assert_eq!(heatmap.len(), 16000);
    }
}

#[test]
fn score_json_agrees_with_the_library() {
    let scan = model().join("samples/defect.pcd");
    let out = edge_tool(&["score", arg(&scan), "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut detector =
        dus_core::detector::DusNet::new(dus_core::model::Model::load(&model(), &dus_core::model::RuntimeConfig::default()).unwrap());
    let inspection = dus_core::detector::Detector::inspect(&mut detector, &dus_core::cloud::read(&scan).unwrap()).unwrap();
    assert!((report["object_score"].as_f64().unwrap() - inspection.object_score).abs() < 1e-9);
    let expected = if inspection.object_score > inspection.threshold.unwrap() { "defect" } else { "ok" };
    assert_eq!(report["verdict"], expected);
    assert_eq!(report["points"], 16000);
    let stages: Vec<&str> = report["timings_ms"].as_array().unwrap().iter().map(|t| t[0].as_str().unwrap()).collect();
    assert_eq!(stages, ["register", "group", "down_net", "pyramid", "up_net", "score"]);
}

/// A scan with four times the points of the part's training scans (each point written four
/// times in a row) is scored at the part's density (`scoring::at_scan_density`): its stride
/// sample is the original scan, so the object score is the original's (to 1e-4: the model's
/// input sample differs a little).
#[test]
fn a_scan_far_denser_than_the_parts_is_scored_at_its_density() {
    let dir = tempfile::tempdir().unwrap();
    for (sample, verdict) in [("good", "ok"), ("defect", "defect")] {
        let scan = model().join(format!("samples/{sample}.pcd"));
        let dense = dir.path().join(format!("{sample}-dense.pcd"));
        let points: Vec<[f32; 3]> = dus_core::cloud::read(&scan).unwrap().points().iter().flat_map(|&p| [p; 4]).collect();
        dus_core::cloud::write_pcd(&dense, &points).unwrap();
        let report = |path: &Path| {
            let out = edge_tool(&["score", arg(path), "--json"]);
            assert!(out.status.success(), "{}", text(&out));
            serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
        };
        let (original, denser) = (report(&scan), report(&dense));
        assert_eq!(denser["points"], 64000);
        assert_eq!(denser["verdict"], verdict, "{sample}: {denser}");
        let (a, b) = (original["object_score"].as_f64().unwrap(), denser["object_score"].as_f64().unwrap());
        assert!((a - b).abs() < 1e-4, "{sample}: object score {b} at 64k points, {a} at 16k");
    }
}

/// `bench` times every stage, each against its anchor when a Python is given (CI's light venv
/// has numpy only, so the numpy reader is the anchor measured; the packages it lacks are left
/// out, not failed), and measures peak memory one process per size.
#[test]
fn bench_times_the_stages_against_their_anchors_and_peak_memory() {
    let python = repo().join(".venv-tools-light/bin/python");
    assert!(python.exists(), "{} is missing: scripts/test.sh makes it", python.display());
    let out = edge_tool(&["bench", "--sizes", "16000", "--repeat", "1", "--python", arg(&python), "--memory", "4000,16000"]);
    assert!(out.status.success(), "{}", text(&out));
    let printed = text(&out);
    for expected in [
        "16000 points: register ",
        "16000 points: read (binary PCD): dus-edge ",
        "ms, numpy ",
        "16000 points: FPS to 512: dus-edge ",
        "covering radius ",
        "16000 points: register: dus-edge ",
        "trimmed RMS ",
        "16000 points: whole part: dus-edge ",
        "4000 points: not measured: error: incomplete scan",
    ] {
        assert!(printed.contains(expected), "no '{expected}' in:\n{printed}");
    }
    let peak = printed.lines().find_map(|l| l.strip_prefix("  16000 points: peak resident memory (model loaded, one inspection): "));
    let mib: f64 =
        peak.and_then(|p| p.trim_end_matches(" MiB").parse().ok()).unwrap_or_else(|| panic!("no peak memory at 16000:\n{printed}"));
    assert!((50.0..8192.0).contains(&mib), "{mib} MiB");
}

#[test]
fn unavailable_providers_fall_back_to_cpu_unless_strict() {
    let scan = model().join("samples/good.pcd");
    let lenient = edge_tool(&["score", arg(&scan), "--providers", "cuda,cpu"]);
    assert!(lenient.status.success(), "{}", text(&lenient));
    assert!(text(&lenient).contains("falling back to CPU"), "{}", text(&lenient));
    let strict = edge_tool(&["score", arg(&scan), "--providers", "cuda", "--strict"]);
    assert!(!strict.status.success());
    assert!(text(&strict).contains("'cuda' is configured strict"), "{}", text(&strict));
    let unknown = edge_tool(&["score", arg(&scan), "--providers", "gpu"]);
    assert!(text(&unknown).contains("unknown execution provider 'gpu'"), "{}", text(&unknown));
}

#[test]
fn a_missing_onnx_runtime_is_a_clear_error() {
    let out = edge_tool(&["score", "tests/data/scan_binary.pcd", "--ort-library", "/nonexistent/libonnxruntime.so"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("/nonexistent/libonnxruntime.so: no such ONNX Runtime library"), "{}", text(&out));
}

/// A copy of the default model's folder (its files, not its subfolders) in `dir`.
fn model_copy(dir: &Path) -> PathBuf {
    let copy = dir.join("bunny");
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(model()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
        }
    }
    copy
}

#[test]
fn a_corrupt_model_file_is_refused_by_its_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let copy = model_copy(dir.path());
    let mut onnx = std::fs::read(copy.join("up.onnx")).unwrap();
    let middle = onnx.len() / 2;
    onnx[middle] ^= 0xff;
    std::fs::write(copy.join("up.onnx"), onnx).unwrap();
    let out = edge_tool(&["score", "tests/data/scan_binary.pcd", "--model", arg(&copy)]);
    assert!(!out.status.success());
    assert!(text(&out).contains("up.onnx: sha256 is"), "{}", text(&out));
}

#[test]
fn a_scan_with_too_few_points_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = dir.path().join("tiny.xyz");
    std::fs::write(&tiny, "0 0 0\n1 0 0\n0 1 0\n").unwrap();
    let out = edge_tool(&["score", arg(&tiny)]);
    assert!(!out.status.success());
    assert!(text(&out).contains("the scan has 3 points; the model needs at least"), "{}", text(&out));
}

#[test]
fn a_scan_cut_short_or_in_other_units_is_refused_before_inspection() {
    let dir = tempfile::tempdir().unwrap();
    let good = dus_core::cloud::read(&model().join("samples/good.pcd")).unwrap();
    let write = |name: &str, points: &mut dyn Iterator<Item = [f32; 3]>| {
        let path = dir.path().join(name);
        std::fs::write(&path, points.map(|p| format!("{} {} {}\n", p[0], p[1], p[2])).collect::<String>()).unwrap();
        path
    };
    let cut = write("cut.xyz", &mut good.points().iter().copied().take(4000));
    let metres = write("metres.xyz", &mut good.points().iter().map(|p| p.map(|v| v / 1000.0)));
    for detector in ["dus-net", "reference"] {
        let out = edge_tool(&["score", arg(&cut), "--detector", detector]);
        assert!(!out.status.success());
        assert!(
            text(&out).contains("incomplete scan: 4000 points, where a whole scan of this part has 16000 (at least 50 % needed)"),
            "{}",
            text(&out)
        );
        let out = edge_tool(&["score", arg(&metres), "--detector", detector]);
        assert!(!out.status.success());
        assert!(text(&out).contains("wrong extent: the scan is 0.001x the part's"), "{}", text(&out));
    }
}

/// A one-category dataset holding a normal scan and a labelled bulge, in either layout.
fn dataset(root: &Path, real3d: bool) {
    let (gt, good, bad, separator) = if real3d { ("gt", "1_good", "2_bulge", " ") } else { ("GT", "bunny_positive0", "bunny_bulge0", ",") };
    for sub in ["train", "test", gt] {
        std::fs::create_dir_all(root.join("bunny").join(sub)).unwrap();
    }
    std::fs::copy(repo().join("tests/data/scan_binary.pcd"), root.join(format!("bunny/test/{good}.pcd"))).unwrap();
    std::fs::copy(repo().join("tests/data/bulge.pcd"), root.join(format!("bunny/test/{bad}.pcd"))).unwrap();
    let labels = std::fs::read_to_string(repo().join("tests/data/bulge_gt.txt")).unwrap().replace(' ', separator);
    std::fs::write(root.join(format!("bunny/{gt}/{bad}.txt")), labels).unwrap();
}

fn eval_rows(root: &Path) -> Vec<serde_json::Value> {
    let json = root.join("table.json");
    // The test scans are 2,048- and 4,096-point subsamples of 16,000-point scans: a bunny model
    // without `[scan] points` scores them instead of refusing them as incomplete.
    let models = tempfile::tempdir().unwrap();
    let copy = model_copy(models.path());
    let mut manifest = dus_core::model::Manifest::load(&copy).unwrap();
    manifest.scan.points = None;
    manifest.save(&copy).unwrap();
    let out = edge_tool(&["eval", arg(root), "--models", arg(models.path()), "--json", arg(&json)]);
    assert!(out.status.success(), "{}", text(&out));
    let printed = text(&out);
    assert!(printed.contains("O-AUROC") && printed.contains("mean"), "{printed}");
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}

#[test]
fn eval_refuses_a_folder_in_neither_layout_and_a_category_of_one_kind() {
    let empty = tempfile::tempdir().unwrap();
    let out = edge_tool(&["eval", arg(empty.path())]);
    assert!(!out.status.success());
    assert!(text(&out).contains("no category here: expected <category>/test/"), "{}", text(&out));
    let goods = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(goods.path().join("bunny/test")).unwrap();
    std::fs::copy(model().join("samples/good.pcd"), goods.path().join("bunny/test/bunny_positive0.pcd")).unwrap();
    let out = edge_tool(&["eval", arg(goods.path()), "--detector", "reference"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("bunny: 1 test scans, 0 of them defective"), "{}", text(&out));
}

#[test]
fn eval_reads_both_dataset_layouts_to_the_same_numbers() {
    let (shapenet, real3d) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    dataset(shapenet.path(), false);
    dataset(real3d.path(), true);
    let (a, b) = (eval_rows(shapenet.path()), eval_rows(real3d.path()));
    assert_eq!(a.len(), 4, "bunny and mean, for dus-net and reference");
    assert_eq!(a, b);
    let reference = a.iter().find(|r| r["detector"] == "reference" && r["category"] == "bunny").unwrap();
    // The golden part sees the bulge: its labelled points score above the rest of the points.
    assert!(reference["p_auroc"].as_f64().unwrap() > 0.8, "{reference}");
    for row in &a {
        for metric in ["o_auroc", "p_auroc", "o_aupr", "p_aupr"] {
            let v = row[metric].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{metric} = {v}");
        }
    }
}

#[test]
fn calibrate_sets_the_threshold_from_good_scans_and_dry_run_leaves_it() {
    let dir = tempfile::tempdir().unwrap();
    let copy = model_copy(dir.path());
    let good = model().join("samples/good.pcd");
    let before = std::fs::read_to_string(copy.join("model.toml")).unwrap();
    let dry = edge_tool(&["calibrate", arg(&good), "--model", arg(&copy), "--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry));
    assert_eq!(std::fs::read_to_string(copy.join("model.toml")).unwrap(), before);

    let out = edge_tool(&["calibrate", arg(&good), "--model", arg(&copy)]);
    assert!(out.status.success(), "{}", text(&out));
    let manifest = dus_core::model::Manifest::load(&copy).unwrap();
    let report = edge_tool(&["score", arg(&good), "--model", arg(&copy), "--json"]);
    let score: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    // One good scan: the threshold becomes its object score plus the 10 % margin of few scans.
    assert!((manifest.scoring.threshold - 1.1 * score["object_score"].as_f64().unwrap()).abs() < 1e-9);
    assert_eq!(score["verdict"], "ok");
    assert!(text(&out).contains("(margin 10 %): 0 of 1 would be rejected"), "{}", text(&out));
}

#[test]
fn calibrate_leave_one_out_scores_each_template_against_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let copy = model_copy(dir.path());
    // Two halves of the good sample stand for two templates of a new part.
    let good = dus_core::cloud::read(&model().join("samples/good.pcd")).unwrap();
    let halves: Vec<std::path::PathBuf> = (0..2)
        .map(|h| {
            let path = dir.path().join(format!("template{h}.xyz"));
            let text: String = good.points().iter().skip(h).step_by(2).map(|p| format!("{} {} {}\n", p[0], p[1], p[2])).collect();
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect();
    let out = edge_tool(&["calibrate", "--leave-one-out", arg(&halves[0]), arg(&halves[1]), "--model", arg(&copy)]);
    assert!(out.status.success(), "{}", text(&out));
    let printed = text(&out);
    assert_eq!(printed.matches("object score against the other templates: reference").count(), 2, "{printed}");
    let manifest = dus_core::model::Manifest::load(&copy).unwrap();
    // DUS-Net learned its templates, so each counts at least the golden part's held-out score.
    assert!(manifest.scoring.threshold >= manifest.scoring.reference_threshold.unwrap(), "{printed}");
    let before = dus_core::model::Manifest::load(&model()).unwrap().scoring;
    assert_ne!(manifest.scoring.threshold, before.threshold, "{printed}");
    assert_ne!(manifest.scoring.reference_threshold, before.reference_threshold, "{printed}");
    // Thresholds from two halves of one good scan still pass the good sample and reject the
    // defect sample, with either detector.
    for detector in ["dus-net", "reference"] {
        for (sample, verdict) in [("good", "ok"), ("defect", "defect")] {
            let scan = model().join(format!("samples/{sample}.pcd"));
            let out = edge_tool(&["score", arg(&scan), "--model", arg(&copy), "--detector", detector, "--json"]);
            let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(report["verdict"], verdict, "{detector} on {sample}: {report}\n{printed}");
        }
    }
    let one = edge_tool(&["calibrate", "--leave-one-out", arg(&halves[0]), "--model", arg(&copy)]);
    assert!(!one.status.success() && text(&one).contains("at least 2 templates"), "{}", text(&one));
}

#[test]
fn run_demo_decides_the_shipped_samples_and_a_cut_off_scan() {
    let out = edge_tool(&["run", "--demo"]);
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    let decisions: Vec<&str> = printed.lines().filter(|l| l.starts_with("part replay-")).collect();
    assert_eq!(decisions.len(), 3, "{printed}");
    assert!(decisions[0].contains("PASS") && decisions[0].contains("good.pcd"), "{printed}");
    assert!(decisions[1].contains("REJECT: object score") && decisions[1].contains("defect.pcd"), "{printed}");
    assert!(decisions[2].contains("REJECT: unreadable scan") && decisions[2].contains("cut-off.pcd"), "{printed}");
    assert!(printed.contains("3 parts decided, 2 rejected (1 of them faults), 2 reject pulses"), "{printed}");
}

/// A decision of the journal, `age_ms` before now.
fn decision(
    part: &str,
    action: dus_box::daemon::decision::Action,
    fault: Option<dus_box::daemon::decision::FaultKind>,
    age_ms: i64,
) -> dus_box::daemon::decision::Decision {
    let (time, now) = dus_box::daemon::decision::now();
    dus_box::daemon::decision::Decision {
        part: part.into(),
        origin: format!("spool {part}.pcd"),
        time,
        unix_ms: now - age_ms,
        action,
        reason: fault.map_or("object score 0.2 within threshold 0.3".into(), |k| format!("{}: broken", k.words())),
        fault: fault.map(|k| k.words().to_string()),
        fault_kind: fault,
        object_score: fault.is_none().then_some(0.25),
        threshold: fault.is_none().then_some(0.326),
        model: "bunny 1.0.0".into(),
        stages_ms: vec![("intake".into(), 2.0), ("register".into(), 70.0), ("score".into(), 60.0)],
        total_ms: 132.0,
        heatmap: None,
        pulse: None,
        pulse_unix_ms: None,
    }
}

#[test]
fn history_csv_is_a_table_with_a_row_per_decision() {
    use dus_box::daemon::decision::{Action, FaultKind};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let journal = dus_box::daemon::journal::Journal::open(&path).unwrap();
    for d in [
        decision("old", Action::Pass, None, 2 * 3_600_000),
        decision("P-1", Action::Pass, None, 3_000),
        decision("P-2", Action::Reject, None, 2_000),
        decision("P-3", Action::Reject, Some(FaultKind::UnreadableScan), 1_000),
    ] {
        journal.record(&d, None).unwrap();
    }
    let table = |extra: &[&str]| {
        let out = edge_tool(&[&["history", "--journal", arg(&path), "--csv"], extra].concat());
        assert!(out.status.success(), "{}", text(&out));
        let mut reader = csv::Reader::from_reader(&out.stdout[..]);
        let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
        let rows: Vec<Vec<String>> = reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect();
        (header, rows)
    };
    let (header, rows) = table(&[]);
    assert_eq!(header.join(","), "time,unix_ms,part,origin,action,fault_kind,reason,object_score,threshold,model,intake_ms,register_ms,group_ms,down_net_ms,pyramid_ms,up_net_ms,score_ms,total_ms,pulse,heatmap");
    let column = |rows: &[Vec<String>], name: &str| {
        rows.iter().map(|r| r[header.iter().position(|h| h == name).unwrap()].clone()).collect::<Vec<_>>()
    };
    assert_eq!(column(&rows, "part"), ["old", "P-1", "P-2", "P-3"]);
    assert_eq!(column(&rows, "action"), ["pass", "pass", "reject", "reject"]);
    assert_eq!(column(&rows, "fault_kind"), ["", "", "", "unreadable_scan"]);
    assert_eq!(column(&rows, "register_ms"), ["70.0"; 4]);
    assert_eq!(column(&rows, "object_score")[1], "0.2500");
    let (_, recent_rejects) = table(&["--rejects", "--since", "1h"]);
    assert_eq!(column(&recent_rejects, "part"), ["P-2", "P-3"]);
    let (_, recent) = table(&["--since", "1h"]);
    assert_eq!(recent.len(), 3);
}
