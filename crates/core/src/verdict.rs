//! From scores to what the line acts on: the verdict and where the defect is.

use serde::{Deserialize, Serialize};

/// What the line does with a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Passes.
    Ok,
    /// Rejected: a defect, or a doubt.
    Defect,
}

impl Verdict {
    /// Defect when the object score exceeds the threshold; a missing threshold (an uncalibrated
    /// detector) or a non-finite score is a defect too: when in doubt, reject.
    pub fn decide(object_score: f64, threshold: Option<f64>) -> Verdict {
        match threshold {
            Some(t) if object_score.is_finite() && object_score <= t => Verdict::Ok,
            _ => Verdict::Defect,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Ok => "ok",
            Verdict::Defect => "defect",
        })
    }
}

/// A cluster of high-scoring points: where to look on the part.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Region {
    /// The mean of its points, scan units.
    pub center: [f32; 3],
    /// The farthest of its points from the center.
    pub radius: f32,
    /// Its highest point score.
    pub peak_score: f32,
    /// How many points it holds.
    pub points: usize,
}

/// How many regions `score` prints and `show` circles.
pub const SHOWN_REGIONS: usize = 3;

/// The regions a person is shown (`score` prints them, `show` and the daemon's pictures circle
/// them): points above the threshold (or, uncalibrated, anywhere), linked within 5 % of the
/// scan's bounding-box diagonal, the [`SHOWN_REGIONS`] worst.
pub fn shown_regions(points: &[[f32; 3]], scores: &[f32], threshold: Option<f64>) -> Vec<Region> {
    let floor = threshold.unwrap_or(0.0) as f32;
    top_regions(points, scores, floor, diagonal(points) * 0.05, SHOWN_REGIONS)
}

/// The length of the bounding box's diagonal, scan units.
fn diagonal(points: &[[f32; 3]]) -> f32 {
    let (mut lo, mut hi) = ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]);
    for p in points {
        for k in 0..3 {
            lo[k] = lo[k].min(p[k]);
            hi[k] = hi[k].max(p[k]);
        }
    }
    (0..3).map(|k| (hi[k] - lo[k]).powi(2)).sum::<f32>().sqrt()
}

/// The `count` most anomalous regions: points scoring at least half the peak (and above `floor`)
/// are grown greedily, highest first, into clusters of radius `link` around their seed.
pub fn top_regions(points: &[[f32; 3]], scores: &[f32], floor: f32, link: f32, count: usize) -> Vec<Region> {
    let peak = scores.iter().copied().fold(0.0, f32::max);
    let cut = (peak * 0.5).max(floor);
    let mut candidates: Vec<usize> = (0..scores.len()).filter(|&i| scores[i] >= cut && scores[i] > 0.0).collect();
    candidates.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut seeds: Vec<(usize, Vec<usize>)> = Vec::new();
    for i in candidates {
        match seeds.iter_mut().find(|(seed, _)| distance(&points[*seed], &points[i]) <= link) {
            Some((_, members)) => members.push(i),
            None => seeds.push((i, vec![i])),
        }
    }
    seeds.into_iter().take(count).map(|(seed, members)| region(points, scores, seed, &members)).collect()
}

fn region(points: &[[f32; 3]], scores: &[f32], seed: usize, members: &[usize]) -> Region {
    let mut center = [0.0f32; 3];
    for &m in members {
        for k in 0..3 {
            center[k] += points[m][k] / members.len() as f32;
        }
    }
    let radius = members.iter().map(|&m| distance(&points[m], &center)).fold(0.0, f32::max);
    Region { center, radius, peak_score: scores[seed], points: members.len() }
}

fn distance(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncalibrated_or_broken_scores_reject() {
        assert_eq!(Verdict::decide(0.5, Some(1.0)), Verdict::Ok);
        assert_eq!(Verdict::decide(1.5, Some(1.0)), Verdict::Defect);
        assert_eq!(Verdict::decide(0.5, None), Verdict::Defect);
        assert_eq!(Verdict::decide(f64::NAN, Some(1.0)), Verdict::Defect);
    }

    #[test]
    fn two_separate_hot_spots_make_two_regions_worst_first() {
        let points = [[0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [10.0, 0.0, 0.0], [20.0, 0.0, 0.0]];
        let scores = [2.0, 1.8, 3.0, 0.1];
        let regions = top_regions(&points, &scores, 0.0, 2.0, 5);
        assert_eq!(regions.len(), 2);
        assert_eq!(regions[0].center, [10.0, 0.0, 0.0]);
        assert_eq!(regions[1].points, 2);
        assert!((regions[1].radius - 0.25).abs() < 1e-6);
    }
}
