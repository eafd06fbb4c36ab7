//! `edge-tool show` and the pictures it draws: the real binary and the shipped model on the
//! shipped good and defective samples; pixel colours read back where the regions land.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dus_box::render::{self, Layout, Scene, View, PANEL, TITLE};
use dus_core::detector::{Detector, DusNet, Inspection};
use dus_core::model::{Model, RuntimeConfig};
use dus_core::verdict::shown_regions;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn sample(name: &str) -> PathBuf {
    repo().join("models/bunny/samples").join(name)
}

fn edge_tool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edge-tool")).args(args).current_dir(repo()).output().unwrap()
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// A splat at or over the threshold: the red end of the ramp, however far (dark) it is.
fn hot(p: &image::Rgb<u8>) -> bool {
    let [r, g, b] = p.0;
    r >= 90 && u16::from(r) > 2 * u16::from(g) && u16::from(r) > 2 * u16::from(b)
}

/// Hot pixels within `reach` pixels of `at`, inside the views (not the title or legend).
fn hot_near(picture: &image::RgbImage, at: [f32; 2], reach: i32) -> usize {
    let (x, y) = (at[0].round() as i32, at[1].round() as i32);
    let mut n = 0;
    for py in (y - reach).max(TITLE as i32)..=(y + reach).min(picture.height() as i32 - 1) {
        for px in (x - reach).max(0)..=(x + reach).min(3 * PANEL as i32 - 1) {
            n += usize::from(hot(picture.get_pixel(px as u32, py as u32)));
        }
    }
    n
}

fn inspect(name: &str) -> (dus_core::cloud::Cloud, Inspection) {
    let model = Model::load(&repo().join("models/bunny"), &RuntimeConfig::default()).unwrap();
    let cloud = dus_core::cloud::read(&sample(name)).unwrap();
    let inspection = DusNet::new(model).inspect(&cloud).unwrap();
    (cloud, inspection)
}

fn picture(cloud: &dus_core::cloud::Cloud, inspection: &Inspection, part: &str) -> image::RgbImage {
    let scene = Scene {
        points: cloud.points(),
        scores: &inspection.point_scores,
        threshold: inspection.threshold,
        object_score: Some(inspection.object_score),
        part,
        model: "bunny 1.0.0",
    };
    render::render(&scene).unwrap()
}

#[test]
fn the_defect_is_drawn_hot_where_its_region_lands_and_the_good_part_is_not() {
    let (cloud, inspection) = inspect("defect.pcd");
    let regions = shown_regions(cloud.points(), &inspection.point_scores, inspection.threshold);
    assert!(!regions.is_empty() && inspection.object_score > inspection.threshold.unwrap(), "the defective sample is a defect");
    let defect = picture(&cloud, &inspection, "defect");
    let layout = Layout::fit(cloud.points());
    // The region faces some camera: there its centre is hot; the ring (radius >= 10 px) is outside.
    let at_region: Vec<usize> = View::ALL.iter().map(|&v| hot_near(&defect, layout.pixel(v, regions[0].center), 4)).collect();
    assert!(at_region.iter().any(|&n| n >= 20), "hot pixels at region 1 per view: {at_region:?}");
    let whole = |p: &image::RgbImage| hot_near(p, [600.0, 240.0], 800);

    let (good_cloud, good_inspection) = inspect("good.pcd");
    assert!(good_inspection.object_score <= good_inspection.threshold.unwrap(), "the good sample passes");
    let good = picture(&good_cloud, &good_inspection, "good");
    let worst = (0..good_cloud.len()).max_by(|&a, &b| good_inspection.point_scores[a].total_cmp(&good_inspection.point_scores[b])).unwrap();
    let good_layout = Layout::fit(good_cloud.points());
    let at_worst: Vec<usize> = View::ALL.iter().map(|&v| hot_near(&good, good_layout.pixel(v, good_cloud.points()[worst]), 4)).collect();
    assert_eq!(at_worst, [0, 0, 0], "the good part's worst point is not drawn hot");
    assert!(whole(&good) * 20 < whole(&defect), "hot pixels: good {} vs defect {}", whole(&good), whole(&defect));
}

#[test]
fn show_draws_a_scan_and_its_heatmap_alike() {
    let dir = tempfile::tempdir().unwrap();
    let (from_scan, heatmap, from_heatmap, bare) =
        (dir.path().join("scan.png"), dir.path().join("defect.ply"), dir.path().join("heatmap.png"), dir.path().join("bare.png"));
    let defect = sample("defect.pcd");
    let out = edge_tool(&["show", defect.to_str().unwrap(), "--png", from_scan.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let picture = image::open(&from_scan).unwrap().to_rgb8();
    assert_eq!(picture.dimensions(), (render::WIDTH, render::HEIGHT));
    assert_eq!((render::WIDTH, render::HEIGHT), (3 * 400 + 220, 444));

    let out = edge_tool(&["score", defect.to_str().unwrap(), "--heatmap", heatmap.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let model = repo().join("models/bunny");
    let out = edge_tool(&["show", heatmap.to_str().unwrap(), "--model", model.to_str().unwrap(), "--png", from_heatmap.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(image::open(&from_heatmap).unwrap().to_rgb8() == picture, "a heatmap with its model draws as its scan");

    // Without the model there is no threshold and no verdict, and no model is run.
    let out = edge_tool(&["show", heatmap.to_str().unwrap(), "--png", bare.to_str().unwrap(), "--ort-library", "/nonexistent.so"]);
    assert!(out.status.success(), "{}", text(&out));
    let bare = image::open(&bare).unwrap().to_rgb8();
    assert_eq!(bare.dimensions(), (render::WIDTH, render::HEIGHT));
    assert!(bare != picture, "without a threshold the scale and title differ");
}

#[test]
fn show_names_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("cut.ply");
    std::fs::write(
        &bad,
        b"ply\nformat ascii 1.0\nelement vertex 5\nproperty float x\nproperty float y\nproperty float z\nproperty float scalar_score\nend_header\n0 0 0 1\n",
    )
    .unwrap();
    let out = edge_tool(&["show", bad.to_str().unwrap(), "--png", dir.path().join("x.png").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("cut.ply"), "{}", text(&out));
    let nan = dir.path().join("nan.ply");
    dus_core::cloud::write_heatmap(&nan, &[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]], &[0.5, f32::NAN], 1.0).unwrap();
    let out = edge_tool(&["show", nan.to_str().unwrap(), "--png", dir.path().join("y.png").to_str().unwrap()]);
    assert!(text(&out).contains("nan.ply") && text(&out).contains("scalar_score is not finite"), "{}", text(&out));
    let out =
        edge_tool(&["show", sample("good.pcd").to_str().unwrap(), "--png", dir.path().join("no/such/folder/z.png").to_str().unwrap()]);
    assert!(!out.status.success() && text(&out).contains("z.png"), "{}", text(&out));
}

#[test]
fn a_scene_whose_scores_do_not_match_its_points_is_an_error() {
    let points = [[0.0f32, 0.0, 0.0], [1.0, 0.0, 0.0]];
    let scene = Scene { points: &points, scores: &[0.5], threshold: Some(1.0), object_score: Some(0.5), part: "p", model: "" };
    let message = render::render(&scene).unwrap_err().to_string();
    assert!(message.contains("2 points but 1 scores"), "{message}");
}
