//! What is kept of each rejected part, so that a person can see why it was thrown out: its
//! heatmap PLY and its picture (`render`), side by side under one name. Bounded by a byte budget,
//! oldest part first (both its files together), so that a run of rejects can never fill the disk.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use crate::render::{self, Scene};
use dus_core::cloud::heatmap::colour_scale;
use dus_core::detector::Inspection;

/// The kinds of file kept per part.
const EXTENSIONS: [&str; 2] = ["ply", "png"];

pub struct Heatmaps {
    dir: PathBuf,
    budget: u64,
    /// Kept parts, oldest first: the files' common name (without extension), and their bytes.
    kept: VecDeque<(String, u64)>,
    total: u64,
}

/// One reject as the line saw it.
pub struct Reject<'a> {
    pub part: &'a str,
    pub unix_ms: i64,
    pub points: &'a [[f32; 3]],
    pub inspection: &'a Inspection,
    /// The model that decided ("bunny 1.0.0").
    pub model: &'a str,
}

impl Heatmaps {
    /// Takes stock of the parts already in `dir` (names start with a timestamp, so name order is
    /// age order).
    pub fn open(dir: &Path, budget_bytes: u64) -> std::io::Result<Heatmaps> {
        std::fs::create_dir_all(dir)?;
        let mut parts: BTreeMap<String, u64> = BTreeMap::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let file_name = entry.file_name();
            let name = file_name.to_str().and_then(|n| EXTENSIONS.iter().find_map(|x| n.strip_suffix(&format!(".{x}"))));
            if let Some(name) = name {
                *parts.entry(name.to_string()).or_default() += entry.metadata()?.len();
            }
        }
        let total = parts.values().sum();
        let mut heatmaps = Heatmaps { dir: dir.to_path_buf(), budget: budget_bytes, kept: parts.into_iter().collect(), total };
        heatmaps.prune()?;
        Ok(heatmaps)
    }

    /// Writes the part's heatmap PLY and picture, removes the oldest parts over the budget, and
    /// returns the PLY's path. A picture that cannot be drawn costs only the picture (logged).
    pub fn keep(&mut self, reject: &Reject) -> std::io::Result<PathBuf> {
        let safe: String = reject.part.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
        let name = format!("{:013}-{safe}", reject.unix_ms);
        let (ply, png) = (self.file(&name, "ply"), self.file(&name, "png"));
        let inspection = reject.inspection;
        let scale = colour_scale(inspection.threshold, inspection.object_score);
        dus_core::cloud::write_heatmap(&ply, reject.points, &inspection.point_scores, scale)?;
        let scene = Scene {
            points: reject.points,
            scores: &inspection.point_scores,
            threshold: inspection.threshold,
            object_score: Some(inspection.object_score),
            part: reject.part,
            model: reject.model,
        };
        if let Err(e) = render::render(&scene).and_then(|picture| render::write_png(&picture, &png)) {
            log::warn!("part {}: cannot draw its picture: {e}", reject.part);
        }
        let size = EXTENSIONS.iter().map(|x| std::fs::metadata(self.file(&name, x)).map_or(0, |m| m.len())).sum::<u64>();
        self.kept.push_back((name, size));
        self.total += size;
        self.prune()?;
        Ok(ply)
    }

    /// A part's file: `name` is not a path, so a dot in a part id never passes for an extension.
    fn file(&self, name: &str, extension: &str) -> PathBuf {
        self.dir.join(format!("{name}.{extension}"))
    }

    fn prune(&mut self) -> std::io::Result<()> {
        while self.total > self.budget && self.kept.len() > 1 {
            let Some((oldest, size)) = self.kept.pop_front() else { break };
            for extension in EXTENSIONS {
                match std::fs::remove_file(self.file(&oldest, extension)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            self.total -= size;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reject<'a>(part: &'a str, unix_ms: i64, points: &'a [[f32; 3]], inspection: &'a Inspection) -> Reject<'a> {
        Reject { part, unix_ms, points, inspection, model: "test 1" }
    }

    #[test]
    fn a_part_keeps_its_ply_and_picture_and_the_oldest_parts_go_first_when_over_budget() {
        let dir = tempfile::tempdir().unwrap();
        let points: Vec<[f32; 3]> = (0..200).map(|i| [i as f32 * 0.1, (i % 7) as f32, 2.0]).collect();
        let inspection = Inspection { point_scores: vec![0.5; 200], object_score: 0.5, threshold: Some(0.4), timings: Vec::new() };
        let mut heatmaps = Heatmaps::open(dir.path(), u64::MAX).unwrap();
        let first = heatmaps.keep(&reject("p/1.a", 1, &points, &inspection)).unwrap();
        assert!(first.ends_with("0000000000001-p_1.a.ply"));
        let picture = dir.path().join("0000000000001-p_1.a.png");
        assert_eq!(&std::fs::read(&picture).unwrap()[..4], b"\x89PNG");
        let size = std::fs::metadata(&first).unwrap().len() + std::fs::metadata(&picture).unwrap().len();
        // Reopened: the part counts with both files; two parts fit, a third pushes out the first.
        let mut heatmaps = Heatmaps::open(dir.path(), size * 2 + size / 2).unwrap();
        let second = heatmaps.keep(&reject("p2", 2, &points, &inspection)).unwrap();
        assert!(first.exists() && picture.exists() && second.exists());
        let third = heatmaps.keep(&reject("p3", 3, &points, &inspection)).unwrap();
        assert!(!first.exists() && !picture.exists(), "both files of the oldest part go together");
        assert!(second.exists() && third.exists() && third.with_extension("png").exists());
    }
}
