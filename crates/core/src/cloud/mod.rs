//! Point clouds as scanners write them: reading PCD, PLY and XYZ/CSV, and writing score heatmaps.
//!
//! Every reader returns a [`Cloud`] of finite x, y, z only, or a [`CloudError`] that names the file
//! and the problem. Sizes claimed by headers are checked against the file's real size before any
//! allocation, so a lying header cannot make us reserve gigabytes.

mod binary;
pub mod heatmap;
mod pcd;
mod ply;
mod xyz;

use std::path::{Path, PathBuf};

pub use heatmap::write_heatmap;
pub use pcd::write as write_pcd;

/// The most points one scan may hold; far above any line scanner, far below what exhausts memory.
pub const MAX_POINTS: usize = 50_000_000;

/// A scan: finite points in scan units (mm on our lines).
#[derive(Debug, Clone, PartialEq)]
pub struct Cloud {
    points: Vec<[f32; 3]>,
    /// Points the source held but which had a NaN or infinite coordinate (scanners mark missing
    /// returns that way); they are left out, and counted so the operator can see it.
    skipped: usize,
}

/// What went wrong reading a scan, with the file it came from.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct CloudError {
    /// The scan file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: Problem,
}

/// Why a scan could not be read: each kind names the problem, the caller adds the file.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("cannot read the file: {0}")]
    /// The operating system refused to read it.
    Io(#[from] std::io::Error),
    #[error("{0}, not a scan file")]
    /// A folder, device or other thing that is not a regular file.
    NotAFile(&'static str),
    #[error("the file is {0} bytes, more than the {MAX_FILE_BYTES} a scan may take")]
    /// Larger than any scan this runtime accepts.
    FileTooLarge(u64),
    #[error("unknown scan format '{0}' (expected .pcd, .ply, .xyz, .csv or .txt)")]
    /// An extension that names no format this runtime reads.
    UnknownFormat(String),
    #[error("bad header: {0}")]
    /// The header is malformed or inconsistent.
    Header(String),
    #[error("the header promises {claimed} but the file holds {actual}")]
    /// The header and the data disagree on the size.
    SizeMismatch {
        /// What the header says.
        claimed: String,
        /// What the file holds.
        actual: String,
    },
    #[error("data is truncated or malformed: {0}")]
    /// The point data is cut short or does not parse.
    Data(String),
    #[error("the header claims {0} points, more than the limit of {MAX_POINTS}")]
    /// More points claimed than a scan may have.
    TooLarge(u64),
    #[error("no finite points ({skipped} points had NaN or infinite coordinates)")]
    /// Not one finite point.
    Empty {
        /// Points left out for NaN or infinite coordinates.
        skipped: usize,
    },
}

impl Cloud {
    /// Builds a cloud from raw coordinates, leaving out non-finite points.
    pub fn from_points(raw: impl IntoIterator<Item = [f32; 3]>) -> Result<Cloud, Problem> {
        let mut skipped = 0;
        let points: Vec<[f32; 3]> = raw
            .into_iter()
            .filter(|p| {
                let finite = p.iter().all(|c| c.is_finite());
                skipped += usize::from(!finite);
                finite
            })
            .collect();
        if points.is_empty() {
            return Err(Problem::Empty { skipped });
        }
        Ok(Cloud { points, skipped })
    }

    /// The points, in file order (non-finite ones left out).
    pub fn points(&self) -> &[[f32; 3]] {
        &self.points
    }

    /// How many points; never 0.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Never true for a cloud that was built through [`Cloud::from_points`]; here for clippy's sake.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// How many points of the source were left out for non-finite coordinates.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The same surface with `size` points, for benchmarks: a stride sample, or, when more points
    /// than the scan has are asked for, each point repeated in place, its copies shifted by a small
    /// fixed pattern (0.2 scan units). Copies follow their point, as a denser scanner would write
    /// them: neighbours in the file stay neighbours on the part.
    pub fn resampled(&self, size: usize) -> Cloud {
        let points = &self.points;
        let picked: Vec<[f32; 3]> = if size <= points.len() {
            crate::registration::stride_indices(points.len(), size).into_iter().map(|i| points[i]).collect()
        } else {
            (0..size)
                .map(|i| {
                    let (p, copy) = (points[(i as u128 * points.len() as u128 / size as u128) as usize], (i % 7) as f32);
                    [p[0] + 0.2 * (copy * 1.3).sin(), p[1] + 0.2 * (copy * 2.1).cos(), p[2] + 0.2 * (copy * 0.7).sin()]
                })
                .collect()
        };
        Cloud { points: picked, skipped: 0 }
    }
}

/// Root mean square distance of `points` from their centroid, in f64: a part's size that
/// rotation does not change and a few stray points barely move.
pub fn rms_radius(points: &[[f32; 3]]) -> f64 {
    let n = points.len().max(1) as f64;
    let mean = points.iter().fold([0.0f64; 3], |m, p| [0, 1, 2].map(|k| m[k] + f64::from(p[k]))).map(|v| v / n);
    (points.iter().map(|p| (0..3).map(|k| (f64::from(p[k]) - mean[k]).powi(2)).sum::<f64>()).sum::<f64>() / n).sqrt()
}

/// Reads a scan, choosing the format by the file's extension.
pub fn read(path: &Path) -> Result<Cloud, CloudError> {
    let fail = |problem| CloudError { path: path.to_path_buf(), problem };
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    check_regular_file(path).map_err(fail)?;
    let raw = match extension.as_str() {
        "pcd" => pcd::read(path),
        "ply" => ply::read(path),
        "xyz" | "csv" | "txt" => xyz::read(path),
        other => Err(Problem::UnknownFormat(other.to_string())),
    }
    .map_err(fail)?;
    let cloud = Cloud::from_points(raw).map_err(fail)?;
    if cloud.skipped > 0 {
        log::warn!("{}: left out {} points with NaN or infinite coordinates", path.display(), cloud.skipped);
    }
    Ok(cloud)
}

/// A heatmap PLY (`score --heatmap`, the daemon's rejects): its points and each point's
/// `scalar_score`; `None` when the file is a plain scan (another format, or a PLY without scores).
pub fn read_heatmap(path: &Path) -> Result<Option<(Cloud, Vec<f32>)>, CloudError> {
    let fail = |problem| CloudError { path: path.to_path_buf(), problem };
    if !path.extension().is_some_and(|e| e.eq_ignore_ascii_case("ply")) {
        return Ok(None);
    }
    check_regular_file(path).map_err(fail)?;
    let (points, Some(scores)) = ply::read_vertices(path, Some(heatmap::SCORE_PROPERTY)).map_err(fail)? else { return Ok(None) };
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err(fail(Problem::Data(format!("vertex {i}: {} is not finite", heatmap::SCORE_PROPERTY))));
    }
    let (points, scores): (Vec<[f32; 3]>, Vec<f32>) =
        points.into_iter().zip(scores).filter(|(p, _)| p.iter().all(|c| c.is_finite())).unzip();
    let cloud = Cloud::from_points(points).map_err(fail)?;
    Ok(Some((cloud, scores)))
}

/// Largest scan file read: 50M points of ascii text with a few fields fit in it.
pub const MAX_FILE_BYTES: u64 = 4 << 30;

/// A scan must be a regular file of a sane size: a FIFO or a device would block or never end,
/// and every reader takes the whole file into memory.
fn check_regular_file(path: &Path) -> Result<(), Problem> {
    let meta = std::fs::metadata(path)?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() { "a folder" } else { "not a regular file (a FIFO, socket or device)" };
        return Err(Problem::NotAFile(what));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(Problem::FileTooLarge(meta.len()));
    }
    Ok(())
}

/// Rejects a point count claimed by a header before anything is allocated for it.
fn check_claimed_points(claimed: u64) -> Result<usize, Problem> {
    if claimed > MAX_POINTS as u64 {
        return Err(Problem::TooLarge(claimed));
    }
    Ok(claimed as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_points_are_left_out_and_counted() {
        let cloud = Cloud::from_points([[0.0, 1.0, 2.0], [f32::NAN, 0.0, 0.0], [1.0, f32::INFINITY, 0.0]]).unwrap();
        assert_eq!(cloud.points(), &[[0.0, 1.0, 2.0]]);
        assert_eq!(cloud.skipped(), 2);
    }

    #[test]
    fn a_cloud_of_only_non_finite_points_is_an_error() {
        let err = Cloud::from_points([[f32::NAN, 0.0, 0.0]]).unwrap_err();
        assert!(matches!(err, Problem::Empty { skipped: 1 }), "{err}");
    }
}
