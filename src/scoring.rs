//! Anomaly scores from a scan and its anomaly-free reconstruction (section 3.4).

use crate::spatial::PointIndex;

/// Which terms make up a point's score.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ScoringRule {
    /// Also score missing material: reconstruction points far from the scan (holes, broken parts)
    /// give their distance to the scan point nearest them, the rim of the gap.
    pub two_way: bool,
    /// Eq. 16: damp each score by `1 - exp(d_1) / sum over the 3 nearest of exp(d_j)`.
    pub weighting: bool,
}

/// One score per scan point, in the units of the coordinates given.
pub fn point_scores(scan: &[[f32; 3]], reconstruction: &[[f32; 3]], rule: ScoringRule) -> Vec<f32> {
    let recon_index = PointIndex::<f32>::new(reconstruction);
    let mut scores: Vec<f32> = scan
        .iter()
        .map(|p| {
            if rule.weighting {
                weighted(&recon_index.nearest_k(p, 3).iter().map(|n| n.distance_sq.sqrt()).collect::<Vec<_>>())
            } else {
                recon_index.nearest(p).distance_sq.sqrt() // eq. 15
            }
        })
        .collect();
    if rule.two_way {
        let scan_index = PointIndex::<f32>::new(scan);
        for r in reconstruction {
            let nearest = scan_index.nearest(r);
            let missing = nearest.distance_sq.sqrt();
            let score = &mut scores[nearest.index];
            *score = score.max(missing);
        }
    }
    scores
}

/// Eq. 16 on the distances to the 3 nearest reconstruction points (nearest first).
fn weighted(distances: &[f32]) -> f32 {
    let total: f32 = distances.iter().map(|d| d.exp()).sum();
    (1.0 - distances[0].exp() / total) * distances[0]
}

/// Eq. 17: the part's score is its worst point's.
pub fn object_score(point_scores: &[f32]) -> f32 {
    point_scores.iter().copied().fold(0.0, f32::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(n: usize) -> Vec<[f32; 3]> {
        (0..n * n).map(|i| [(i % n) as f32, (i / n) as f32, 0.0]).collect()
    }

    #[test]
    fn a_bump_scores_its_height() {
        let reconstruction = plane(20);
        let mut scan = plane(20);
        scan[210][2] = 0.75;
        let scores = point_scores(&scan, &reconstruction, ScoringRule::default());
        assert_eq!(scores[210], 0.75);
        assert_eq!(scores[0], 0.0);
        assert_eq!(object_score(&scores), 0.75);
    }

    #[test]
    fn two_way_scoring_sees_a_hole_at_its_rim() {
        let reconstruction = plane(20);
        // Cut a 5x5 hole: the scan has no points where the reconstruction does.
        let scan: Vec<[f32; 3]> =
            plane(20).into_iter().filter(|p| !((8.0..13.0).contains(&p[0]) && (8.0..13.0).contains(&p[1]))).collect();
        let one_way = point_scores(&scan, &reconstruction, ScoringRule::default());
        assert_eq!(object_score(&one_way), 0.0, "input-to-reconstruction distance cannot see missing material");
        let two_way = point_scores(&scan, &reconstruction, ScoringRule { two_way: true, weighting: false });
        assert_eq!(object_score(&two_way), 3.0, "the hole's center is 3 units from its rim");
    }

    #[test]
    fn eq16_weighting_damps_by_the_softmax_share_of_the_nearest() {
        let w = weighted(&[1.0, 1.0, 1.0]);
        assert!((w - 2.0 / 3.0).abs() < 1e-6);
    }
}
