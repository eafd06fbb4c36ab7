//! Heatmaps kept for rejected parts, so a person can look at why a part was thrown out; bounded
//! by a byte budget, oldest removed first, so a run of rejects can never fill the disk.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

pub struct Heatmaps {
    dir: PathBuf,
    budget: u64,
    /// Kept files, oldest first, with their sizes.
    kept: VecDeque<(PathBuf, u64)>,
    total: u64,
}

impl Heatmaps {
    /// Takes stock of the heatmaps already in `dir` (names start with a timestamp, so name order
    /// is age order).
    pub fn open(dir: &Path, budget_bytes: u64) -> std::io::Result<Heatmaps> {
        std::fs::create_dir_all(dir)?;
        let mut files: Vec<(PathBuf, u64)> = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.path().extension().is_some_and(|e| e == "ply") {
                files.push((entry.path(), entry.metadata()?.len()));
            }
        }
        files.sort();
        let total = files.iter().map(|(_, size)| size).sum();
        let mut heatmaps = Heatmaps { dir: dir.to_path_buf(), budget: budget_bytes, kept: files.into(), total };
        heatmaps.prune()?;
        Ok(heatmaps)
    }

    /// Writes the part's heatmap and removes the oldest ones over the budget; returns its path.
    pub fn keep(&mut self, part: &str, unix_ms: i64, points: &[[f32; 3]], scores: &[f32], scale: f32) -> std::io::Result<PathBuf> {
        let safe: String = part.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
        let path = self.dir.join(format!("{unix_ms:013}-{safe}.ply"));
        crate::cloud::write_heatmap(&path, points, scores, scale)?;
        let size = std::fs::metadata(&path)?.len();
        self.kept.push_back((path.clone(), size));
        self.total += size;
        self.prune()?;
        Ok(path)
    }

    fn prune(&mut self) -> std::io::Result<()> {
        while self.total > self.budget && self.kept.len() > 1 {
            let Some((oldest, size)) = self.kept.pop_front() else { break };
            match std::fs::remove_file(&oldest) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => self.total -= size,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_heatmaps_go_first_when_over_budget() {
        let dir = tempfile::tempdir().unwrap();
        let points = vec![[0.0f32, 1.0, 2.0]; 200];
        let scores = vec![0.5f32; 200];
        let mut heatmaps = Heatmaps::open(dir.path(), u64::MAX).unwrap();
        let first = heatmaps.keep("p/1", 1, &points, &scores, 1.0).unwrap();
        let size = std::fs::metadata(&first).unwrap().len();
        assert!(first.ends_with("0000000000001-p_1.ply"));
        let mut heatmaps = Heatmaps::open(dir.path(), size * 2).unwrap();
        let second = heatmaps.keep("p2", 2, &points, &scores, 1.0).unwrap();
        let third = heatmaps.keep("p3", 3, &points, &scores, 1.0).unwrap();
        assert!(!first.exists() && second.exists() && third.exists());
    }
}
