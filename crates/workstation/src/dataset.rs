//! Labelled benchmark datasets, in the two layouts the field uses:
//! - Anomaly-ShapeNet: `<cls>/train/*template*.pcd`, `<cls>/test/*.pcd` (normals are
//!   `*positive*`), `<cls>/GT/<scan>.txt` with comma-separated `x,y,z,label`;
//! - Real3D-AD: `<cls>/train/*.pcd`, `<cls>/test/*.pcd` (normals are `*good*`),
//!   `<cls>/gt/<scan>.txt` with space-separated `x y z label`.
//!
//! Both are read by one loader: the GT folder is `GT` or `gt`, and either separator is accepted.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// One category (part type) of a dataset.
#[derive(Debug, Clone)]
pub struct Category {
    pub name: String,
    pub train: Vec<PathBuf>,
    pub test: Vec<TestScan>,
}

/// A test scan and where its labels are.
#[derive(Debug, Clone)]
pub struct TestScan {
    pub scan: PathBuf,
    /// Per-point labels; a normal scan may have none (all points normal).
    pub ground_truth: Option<PathBuf>,
}

/// Per-point ground truth: the labelled points and whether each is anomalous.
#[derive(Debug, Clone)]
pub struct GroundTruth {
    pub points: Vec<[f32; 3]>,
    pub labels: Vec<bool>,
}

/// Lists the categories under `root` (all, or those named in `only`), sorted by name.
pub fn categories(root: &Path, only: &[String]) -> Result<Vec<Category>> {
    let mut found = Vec::new();
    let entries = std::fs::read_dir(root).with_context(|| format!("{}: cannot list the dataset", root.display()))?;
    for entry in entries {
        let dir = entry?.path();
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if dir.join("test").is_dir() && (only.is_empty() || only.contains(&name)) {
            found.push(category(&dir, name)?);
        }
    }
    for wanted in only {
        if !found.iter().any(|c| &c.name == wanted) {
            bail!("{}: no category '{wanted}' (a folder with a test/ subfolder)", root.display());
        }
    }
    if found.is_empty() {
        bail!(
            "{}: no category here: expected <category>/test/ with scans (.pcd, .ply, .xyz) and their labels in \
             <category>/GT/<scan>.txt (Anomaly-ShapeNet, x,y,z,label) or <category>/gt/<scan>.txt (Real3D-AD, space-separated)",
            root.display()
        );
    }
    if let Some(empty) = found.iter().find(|c| c.test.is_empty()) {
        bail!("{}: no scans (.pcd, .ply, .xyz) in test/", root.join(&empty.name).display());
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

fn category(dir: &Path, name: String) -> Result<Category> {
    let gt_dir = ["GT", "gt"].iter().map(|d| dir.join(d)).find(|d| d.is_dir());
    let test = scans(&dir.join("test"))?
        .into_iter()
        .map(|scan| {
            let stem = scan.file_stem().unwrap_or_default().to_owned();
            let ground_truth = gt_dir.as_ref().map(|d| d.join(&stem).with_extension("txt")).filter(|p| p.is_file());
            TestScan { scan, ground_truth }
        })
        .collect();
    let train_dir = dir.join("train");
    let train = if train_dir.is_dir() { scans(&train_dir)? } else { Vec::new() };
    Ok(Category { name, train, test })
}

/// Scan files (pcd, ply, xyz) in a folder, sorted.
fn scans(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("pcd" | "ply" | "xyz")))
        .collect();
    files.sort();
    Ok(files)
}

/// Reads a GT file: one `x y z label` or `x,y,z,label` line per point.
pub fn read_ground_truth(path: &Path) -> Result<GroundTruth> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let mut truth = GroundTruth { points: Vec::new(), labels: Vec::new() };
    for (number, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split(|c: char| c == ',' || c.is_whitespace()).filter(|f| !f.is_empty()).collect();
        if fields.is_empty() {
            continue;
        }
        let values: Option<Vec<f32>> = fields.iter().take(4).map(|f| f.parse().ok()).collect();
        match values.as_deref() {
            Some([x, y, z, label]) => {
                truth.points.push([*x, *y, *z]);
                truth.labels.push(*label > 0.5);
            }
            _ => bail!("{}: line {}: expected x, y, z, label; found '{line}'", path.display(), number + 1),
        }
    }
    Ok(truth)
}
