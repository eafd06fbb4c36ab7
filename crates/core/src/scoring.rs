//! Anomaly scores from a scan and its normality cloud: the DUS-Net reconstruction or the golden
//! part's reference (section 3.4, and `models/README.md` "Scoring").
//!
//! Two rules. The paper's (eq. 15-17) scores a point by its distance to the single nearest
//! normality point, so resampling gaps and scanner noise set its floor, one stray point decides
//! the part and missing material is invisible. The surface rule fixes each of those with one
//! term: distance to the local surface instead of to a point, the mean over the scan's own
//! neighbourhood (a defect is a region, noise is not), the material the normality cloud has and
//! the scan lacks (holes, broken parts), and an object score from the worst few points.

use nalgebra::{Matrix3, SymmetricEigen, Vector3};
use rayon::prelude::*;

use crate::spatial::{Neighbour, PointIndex};

/// How point and object scores are made; `model.toml [scoring]` (see `model::Scoring`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScoringRule {
    /// Eq. 15 (optionally both ways) and eq. 16; the object score is the worst point (eq. 17).
    Paper {
        /// Also the reconstruction's distance back to the scan.
        two_way: bool,
        /// Eq. 16's density weighting.
        weighting: bool,
    },
    /// Distance to the local surface of the normality cloud, with its terms.
    Surface(SurfaceRule),
}

/// The surface rule's terms, each of which can be switched off for ablation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SurfaceRule {
    /// Fit a plane to this many normality points around the nearest one and measure the distance
    /// to it; 0 measures the distance to the nearest point itself.
    pub surface_neighbours: usize,
    /// Average each point's distance over this many nearest scan points (itself included);
    /// 1 turns the smoothing off.
    pub smoothing: usize,
    /// The missing-material term, `None` for scans that see only part of the object.
    pub missing: Option<MissingMaterial>,
    /// The object score is the mean of this many highest point scores; 1 is eq. 17.
    pub top_points: usize,
}

/// Normality points with no scan point within `gap` scan spacings are missing; the scan points
/// within `radius` of one (the rim of the gap) score the gap beyond what sampling explains. Like
/// a defect, a hole is a region: a missing point counts only with `support` missing points
/// (itself included) within `gap` spacings of it, so one stray gap in a good scan does not.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MissingMaterial {
    /// In scan spacings (the median distance from a scan point to its nearest other scan point).
    pub gap: f32,
    /// Missing points, itself included, that must lie within `gap` spacings of a missing point.
    pub support: usize,
    /// In scan units.
    pub radius: f32,
    /// At most this many normality points are checked (a stride sample), so that a dense
    /// reference costs no more than the scan.
    pub sample: usize,
}

impl ScoringRule {
    /// How many of the highest point scores the object score averages.
    pub fn top_points(&self) -> usize {
        match self {
            ScoringRule::Paper { .. } => 1,
            ScoringRule::Surface(s) => s.top_points.max(1),
        }
    }

    fn surface_neighbours(&self) -> usize {
        match self {
            ScoringRule::Paper { .. } => 0,
            ScoringRule::Surface(s) => s.surface_neighbours,
        }
    }
}

/// A local plane of the normality cloud: the centroid and unit normal of a point's neighbours.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Plane {
    centroid: [f32; 3],
    normal: [f32; 3],
}

impl Plane {
    /// Least-squares plane of `points` (normal = eigenvector of the smallest covariance eigenvalue).
    fn fit(points: &[Vector3<f64>]) -> Plane {
        let mean = points.iter().sum::<Vector3<f64>>() / points.len().max(1) as f64;
        let covariance = points.iter().fold(Matrix3::zeros(), |acc, p| acc + (p - mean) * (p - mean).transpose());
        let eigen = SymmetricEigen::new(covariance);
        let smallest = eigen.eigenvalues.imin();
        let normal = eigen.eigenvectors.column(smallest);
        Plane { centroid: [mean.x, mean.y, mean.z].map(|v| v as f32), normal: [normal.x, normal.y, normal.z].map(|v| v as f32) }
    }

    fn distance(&self, p: &[f32; 3]) -> f32 {
        (0..3).map(|k| (p[k] - self.centroid[k]) * self.normal[k]).sum::<f32>().abs()
    }
}

/// What a scan is compared with, indexed once: the reference's planes are computed when the model
/// loads; a reconstruction meets a single scan, so only the planes its scan needs are fitted.
pub struct Normality {
    points: Vec<[f32; 3]>,
    index: PointIndex<f32>,
    surface: Surface,
}

/// How a scan point's distance to the normality cloud is measured.
enum Surface {
    /// To the nearest normality point.
    Points,
    /// To the plane of the nearest normality point, one plane per point fitted in advance.
    Fitted(Vec<Plane>),
    /// To the plane of the nearest normality point, fitted to its `k` nearest when a scan asks:
    /// a 65k-point reconstruction scored against a 16k-point scan needs at most 16k of them.
    OnDemand(usize),
}

impl Normality {
    /// `points` must not be empty (a model's reference and a reconstruction never are); every
    /// plane the rule needs is fitted now, for a cloud that many scans are compared with.
    pub fn new(points: Vec<[f32; 3]>, rule: &ScoringRule) -> Normality {
        let mut normality = Normality::for_one_scan(points, rule);
        if let Surface::OnDemand(k) = normality.surface {
            let all: Vec<usize> = (0..normality.points.len()).collect();
            normality.surface = Surface::Fitted(normality.fit_planes(&all, k));
        }
        normality
    }

    /// Like `new`, for a cloud one scan is compared with: planes are fitted as that scan needs them.
    pub fn for_one_scan(points: Vec<[f32; 3]>, rule: &ScoringRule) -> Normality {
        let index = PointIndex::<f32>::new(&points);
        let k = rule.surface_neighbours().min(points.len());
        let surface = if k == 0 { Surface::Points } else { Surface::OnDemand(k) };
        Normality { points, index, surface }
    }

    /// A cloud only compared by its points (the missing-material term needs no planes).
    pub fn points_only(points: Vec<[f32; 3]>) -> Normality {
        let index = PointIndex::<f32>::new(&points);
        Normality { points, index, surface: Surface::Points }
    }

    /// The cloud's points.
    pub fn points(&self) -> &[[f32; 3]] {
        &self.points
    }

    /// The planes of the normality points `at`, each fitted to its `k` nearest normality points.
    fn fit_planes(&self, at: &[usize], k: usize) -> Vec<Plane> {
        at.par_iter()
            .map(|&i| {
                let near: Vec<Vector3<f64>> =
                    self.index.nearest_k(&self.points[i], k).iter().map(|n| Vector3::from(self.points[n.index].map(f64::from))).collect();
                Plane::fit(&near)
            })
            .collect()
    }

    /// Each scan point's distance to the surface near its nearest normality point.
    fn distances(&self, scan: &[[f32; 3]]) -> Vec<f32> {
        let nearest: Vec<Neighbour<f32>> = scan.par_iter().map(|p| self.index.nearest(p)).collect();
        match &self.surface {
            Surface::Points => nearest.iter().map(|n| n.distance_sq.sqrt()).collect(),
            Surface::Fitted(planes) => plane_distances(scan, &nearest, |i| &planes[i]),
            Surface::OnDemand(k) => {
                // slot[i]: where normality point i's plane is among those fitted.
                let (mut slot, mut needed) = (vec![usize::MAX; self.points.len()], Vec::new());
                for n in &nearest {
                    if slot[n.index] == usize::MAX {
                        slot[n.index] = needed.len();
                        needed.push(n.index);
                    }
                }
                let planes = self.fit_planes(&needed, *k);
                plane_distances(scan, &nearest, |i| &planes[slot[i]])
            }
        }
    }
}

/// Each scan point's distance to `plane_of` its nearest normality point.
fn plane_distances<'a>(scan: &[[f32; 3]], nearest: &[Neighbour<f32>], plane_of: impl Fn(usize) -> &'a Plane + Sync) -> Vec<f32> {
    scan.par_iter().zip(nearest).map(|(p, n)| plane_of(n.index).distance(p)).collect()
}

/// One score per scan point, in scan units. The scan is measured against `normality` and, for
/// the surface rule's missing material, against `complete`: the same cloud for the golden part,
/// the reconstruction of the whole part for DUS-Net (whose reconstruction of a scan lacks what the
/// scan lacks). All share a frame whose unit is `scale` scan units.
pub fn point_scores(scan: &[[f32; 3]], normality: &Normality, complete: &Normality, rule: &ScoringRule, scale: f32) -> Vec<f32> {
    let scores = match rule {
        ScoringRule::Paper { two_way, weighting } => paper_scores(scan, normality, *two_way, *weighting),
        ScoringRule::Surface(surface) => surface_scores(scan, normality, complete, surface, scale),
    };
    scores.into_iter().map(|s| s * scale).collect()
}

/// Eq. 15 with the optional two-way term and eq. 16, in the frame's units.
fn paper_scores(scan: &[[f32; 3]], normality: &Normality, two_way: bool, weighting: bool) -> Vec<f32> {
    let mut scores: Vec<f32> = scan
        .par_iter()
        .map(|p| {
            if weighting {
                weighted(&normality.index.nearest_k(p, 3).iter().map(|n| n.distance_sq.sqrt()).collect::<Vec<_>>())
            } else {
                normality.index.nearest(p).distance_sq.sqrt() // eq. 15
            }
        })
        .collect();
    if two_way {
        let scan_index = PointIndex::<f32>::new(scan);
        for r in normality.points() {
            let nearest = scan_index.nearest(r);
            let score = &mut scores[nearest.index];
            *score = score.max(nearest.distance_sq.sqrt());
        }
    }
    scores
}

/// Eq. 16 on the distances to the 3 nearest reconstruction points (nearest first).
fn weighted(distances: &[f32]) -> f32 {
    let total: f32 = distances.iter().map(|d| d.exp()).sum();
    (1.0 - distances[0].exp() / total) * distances[0]
}

/// The surface rule in the frame's units: surface distance, smoothed over the scan's own
/// neighbourhood, raised by missing material.
fn surface_scores(scan: &[[f32; 3]], normality: &Normality, complete: &Normality, rule: &SurfaceRule, scale: f32) -> Vec<f32> {
    let distances = normality.distances(scan);
    let scan_index = PointIndex::<f32>::new(scan);
    // Two neighbours at least: the nearest other point gives the scan spacing.
    let k = rule.smoothing.max(2);
    let neighbours: Vec<Vec<usize>> = scan.par_iter().map(|p| scan_index.nearest_k(p, k).into_iter().map(|n| n.index).collect()).collect();
    let smoothing = rule.smoothing.max(1);
    let mut scores: Vec<f32> = neighbours
        .par_iter()
        .map(|near| {
            let near = &near[..smoothing.min(near.len())];
            near.iter().map(|&j| distances[j]).sum::<f32>() / near.len() as f32
        })
        .collect();
    if let Some(missing) = &rule.missing {
        let spacing = median(neighbours.iter().map(|near| near.get(1).map_or(0.0, |&j| distance(&scan[near[0]], &scan[j]))).collect());
        raise_missing(&mut scores, &scan_index, complete, missing, spacing, scale);
    }
    scores
}

/// The missing-material term: each scan point within `radius` of a missing normality point
/// scores at least that point's gap beyond `gap * spacing`.
fn raise_missing(
    scores: &mut [f32],
    scan_index: &PointIndex<f32>,
    normality: &Normality,
    missing: &MissingMaterial,
    spacing: f32,
    scale: f32,
) {
    let allowed = missing.gap * spacing;
    let points = normality.points();
    let gaps: Vec<([f32; 3], f32)> = crate::registration::stride_indices(points.len(), missing.sample.max(1))
        .into_par_iter()
        .filter_map(|i| {
            let gap = scan_index.nearest(&points[i]).distance_sq.sqrt();
            (gap > allowed).then_some((points[i], gap - allowed))
        })
        .collect();
    if gaps.is_empty() {
        return;
    }
    let missing_index = PointIndex::<f32>::new(&gaps.iter().map(|(p, _)| *p).collect::<Vec<_>>());
    let radius = missing.radius / scale;
    for (point, excess) in gaps.iter().filter(|(p, _)| missing_index.within(p, allowed).len() >= missing.support) {
        for i in scan_index.within(point, radius) {
            scores[i] = scores[i].max(*excess);
        }
    }
}

fn distance(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    (0..3).map(|k| (a[k] - b[k]) * (a[k] - b[k])).sum::<f32>().sqrt()
}

/// The lower median (element `(n - 1) / 2` of the sorted values); 0 for no values.
fn median(mut values: Vec<f32>) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    let middle = (values.len() - 1) / 2;
    *values.select_nth_unstable_by(middle, f32::total_cmp).1
}

/// Scores a scan at the density of a whole scan of the part: one with more than twice `density`
/// points is scored on a stride sample of `density` points (`score` sees only those), every
/// point then takes the score of its nearest sampled point, and the object score comes from the
/// sampled scores. Why: the rule's neighbourhoods (the smoothing, the scan spacing of missing
/// material) are counts of scan points, so its scores and the threshold calibrated on them hold
/// at the density the part was scanned at for training; and scoring a million points, each with
/// its 16 nearest, takes seconds. Scans up to twice that density are scored as they are.
pub fn at_scan_density(
    scan: &[[f32; 3]],
    density: Option<usize>,
    top_points: usize,
    score: impl FnOnce(&[[f32; 3]]) -> Vec<f32>,
) -> (Vec<f32>, f32) {
    match density {
        Some(density) if density > 0 && scan.len() > 2 * density => {
            let sample: Vec<[f32; 3]> = crate::registration::stride_indices(scan.len(), density).into_iter().map(|i| scan[i]).collect();
            let sampled = score(&sample);
            let index = PointIndex::<f32>::new(&sample);
            let every = scan.par_iter().map(|p| sampled[index.nearest(p).index]).collect();
            (every, object_score(&sampled, top_points))
        }
        _ => {
            let every = score(scan);
            let object = object_score(&every, top_points);
            (every, object)
        }
    }
}

/// The part's score: the mean of its `top` highest point scores (eq. 17 for `top` = 1).
pub fn object_score(point_scores: &[f32], top: usize) -> f32 {
    let top = top.clamp(1, point_scores.len().max(1));
    let mut sorted = point_scores.to_vec();
    sorted.sort_unstable_by(|a, b| b.total_cmp(a));
    sorted.iter().take(top).sum::<f32>() / top as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAPER: ScoringRule = ScoringRule::Paper { two_way: false, weighting: false };

    /// The default surface rule of `model::Scoring` on grids of unit spacing: the 3 mm missing
    /// radius of a 0.38 mm-spaced scan is 8 spacings.
    fn surface(missing: bool) -> ScoringRule {
        surface_with(missing.then_some(MissingMaterial { gap: 4.0, support: 8, radius: 8.0, sample: 16384 }))
    }

    fn surface_with(missing: Option<MissingMaterial>) -> ScoringRule {
        ScoringRule::Surface(SurfaceRule { surface_neighbours: 24, smoothing: 16, missing, top_points: 10 })
    }

    /// An n x n grid of unit spacing in the z = 0 plane, points `x + n * y`.
    fn plane(n: usize) -> Vec<[f32; 3]> {
        (0..n * n).map(|i| [(i % n) as f32, (i / n) as f32, 0.0]).collect()
    }

    /// The same grid sampled at half spacing, offset: no normality point coincides with a scan point.
    fn dense_plane(n: usize) -> Vec<[f32; 3]> {
        (0..4 * n * n).map(|i| [(i % (2 * n)) as f32 * 0.5 + 0.25, (i / (2 * n)) as f32 * 0.5 + 0.25, 0.0]).collect()
    }

    fn scores(scan: &[[f32; 3]], normality: Vec<[f32; 3]>, rule: &ScoringRule) -> Vec<f32> {
        let normality = Normality::new(normality, rule);
        point_scores(scan, &normality, &normality, rule, 1.0)
    }

    #[test]
    fn a_bump_scores_its_height() {
        let mut scan = plane(20);
        scan[210][2] = 0.75;
        let s = scores(&scan, plane(20), &PAPER);
        assert_eq!(s[210], 0.75);
        assert_eq!(s[0], 0.0);
        assert_eq!(object_score(&s, 1), 0.75);
    }

    #[test]
    fn surface_distance_ignores_the_sampling_gaps_of_the_normality_cloud() {
        let scan = plane(20);
        let by_point = scores(&scan, dense_plane(20), &PAPER);
        assert!(object_score(&by_point, 1) > 0.35, "a point between normality points is 0.35 from the nearest");
        let by_surface = scores(&scan, dense_plane(20), &surface(false));
        assert!(object_score(&by_surface, 1) < 1e-6, "every scan point lies on the normality surface");
    }

    #[test]
    fn planes_fitted_on_demand_score_exactly_as_planes_fitted_in_advance() {
        let mut scan = plane(20);
        for (i, p) in scan.iter_mut().enumerate() {
            p[2] = 0.3 * ((i % 7) as f32 * 0.9).sin();
        }
        let curved: Vec<[f32; 3]> = dense_plane(20).into_iter().map(|p| [p[0], p[1], 0.02 * p[0] * p[1]]).collect();
        let rule = surface(true);
        let complete = Normality::points_only(curved.clone());
        let fitted = point_scores(&scan, &Normality::new(curved.clone(), &rule), &complete, &rule, 1.0);
        let on_demand = point_scores(&scan, &Normality::for_one_scan(curved, &rule), &complete, &rule, 1.0);
        assert!(object_score(&fitted, 10) > 0.1, "the scan is off the surface");
        assert_eq!(fitted, on_demand);
    }

    #[test]
    fn a_bump_is_a_region_and_a_stray_point_is_not() {
        let mut bump = plane(30);
        for p in bump.iter_mut() {
            let r2 = (p[0] - 15.0).powi(2) + (p[1] - 15.0).powi(2);
            p[2] = 1.5 * (-r2 / 8.0).exp();
        }
        let mut stray = plane(30);
        stray[465][2] = 1.5;
        let rule = surface(false);
        let bump_score = object_score(&scores(&bump, dense_plane(30), &rule), 10);
        let stray_score = object_score(&scores(&stray, dense_plane(30), &rule), 10);
        assert!(bump_score > 0.8, "a 1.5-high bump keeps most of its height: {bump_score}");
        assert!(stray_score < 0.15, "one stray point is averaged away over 16 neighbours: {stray_score}");
        let paper = object_score(&scores(&stray, dense_plane(30), &PAPER), 1);
        assert!(paper > 1.4, "the paper's rule lets one stray point decide the part: {paper}");
    }

    #[test]
    fn a_hole_is_seen_at_its_rim() {
        let n = 30;
        let in_hole = |p: &[f32; 3]| (p[0] - 15.0).powi(2) + (p[1] - 15.0).powi(2) < 36.0;
        let scan: Vec<[f32; 3]> = plane(n).into_iter().filter(|p| !in_hole(p)).collect();
        assert_eq!(object_score(&scores(&scan, dense_plane(n), &surface(false)), 10), 0.0, "no surface term sees a hole");
        let s = scores(&scan, dense_plane(n), &surface(true));
        // The hole's center is about 5.8 from the nearest scan point; 4 spacings of that gap are
        // what sampling explains.
        let worst = object_score(&s, 1);
        assert!((1.5..=2.0).contains(&worst), "the rim scores the gap beyond 4 spacings: {worst}");
        let far = scan.iter().position(|p| p[0] == 0.0 && p[1] == 0.0).unwrap();
        assert_eq!(s[far], 0.0, "points far from the hole keep their score");
    }

    #[test]
    fn one_stray_gap_is_not_missing_material() {
        // A good scan that lost a single point: the normality points around it are just over
        // the gap of a sparser scan, but no region is missing.
        let n = 30;
        let scan: Vec<[f32; 3]> = plane(n).into_iter().filter(|p| !(p[0] == 15.0 && p[1] == 15.0)).collect();
        let tight = |support| surface_with(Some(MissingMaterial { gap: 0.5, support, radius: 8.0, sample: 16384 }));
        assert!(object_score(&scores(&scan, dense_plane(n), &tight(1)), 1) > 0.0, "without support one gap counts");
        assert_eq!(object_score(&scores(&scan, dense_plane(n), &tight(5)), 1), 0.0, "4 missing points are no region");
    }

    #[test]
    fn a_cut_off_edge_is_missing_material() {
        let scan: Vec<[f32; 3]> = plane(30).into_iter().filter(|p| p[0] < 20.0).collect();
        let s = scores(&scan, dense_plane(30), &surface(true));
        let rim = scan.iter().position(|p| p[0] == 19.0 && p[1] == 15.0).unwrap();
        assert!(s[rim] > 3.0, "the edge where the part broke off scores: {}", s[rim]);
    }

    #[test]
    fn missing_material_is_judged_against_the_complete_cloud() {
        // A reconstruction made from the scan's own centers ends where the scan ends.
        let scan: Vec<[f32; 3]> = plane(30).into_iter().filter(|p| p[0] < 20.0).collect();
        let reconstruction: Vec<[f32; 3]> = dense_plane(30).into_iter().filter(|p| p[0] < 20.0).collect();
        let rule = surface(true);
        let own = Normality::new(reconstruction, &rule);
        assert_eq!(object_score(&point_scores(&scan, &own, &own, &rule, 1.0), 1), 0.0);
        let complete = Normality::points_only(dense_plane(30));
        assert!(object_score(&point_scores(&scan, &own, &complete, &rule, 1.0), 1) > 3.0);
    }

    #[test]
    fn a_partial_scan_without_the_missing_term_is_not_a_defect() {
        // A single-view scanner sees half of the part: absence is normal there.
        let scan: Vec<[f32; 3]> = plane(30).into_iter().filter(|p| p[0] < 15.0).collect();
        let partial = surface(false);
        assert!(object_score(&scores(&scan, dense_plane(30), &partial), 10) < 1e-6);
    }

    #[test]
    fn two_way_scoring_sees_a_hole_at_its_rim() {
        let scan: Vec<[f32; 3]> = plane(20).into_iter().filter(|p| !((8.0..13.0).contains(&p[0]) && (8.0..13.0).contains(&p[1]))).collect();
        assert_eq!(object_score(&scores(&scan, plane(20), &PAPER), 1), 0.0, "input-to-reconstruction distance cannot see missing material");
        let two_way = ScoringRule::Paper { two_way: true, weighting: false };
        assert_eq!(object_score(&scores(&scan, plane(20), &two_way), 1), 3.0, "the hole's center is 3 units from its rim");
    }

    #[test]
    fn scores_are_reported_in_scan_units() {
        let mut scan = plane(20);
        scan[210][2] = 0.5;
        let rule = surface(true);
        let normality = Normality::new(dense_plane(20), &rule);
        let in_mm = point_scores(&scan, &normality, &normality, &rule, 40.0);
        assert!((in_mm[210] - 40.0 * 0.5 / 16.0).abs() < 1e-3, "{}", in_mm[210]);
    }

    #[test]
    fn eq16_weighting_damps_by_the_softmax_share_of_the_nearest() {
        let w = weighted(&[1.0, 1.0, 1.0]);
        assert!((w - 2.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn a_scan_far_denser_than_the_part_is_scored_at_the_parts_density() {
        let scan = plane(60);
        let mut scored = Vec::new();
        let (every, object) = at_scan_density(&scan, Some(1000), 10, |sample| {
            scored = sample.to_vec();
            sample.iter().map(|p| p[0]).collect()
        });
        assert_eq!(scored.len(), 1000, "3,600 points are more than twice 1,000: a stride sample is scored");
        assert_eq!(every.len(), scan.len(), "every scan point still gets a score");
        for (p, s) in scan.iter().zip(&every) {
            let nearest = scored.iter().map(|q| distance(p, q)).fold(f32::INFINITY, f32::min);
            let own = scored.iter().find(|q| q[0] == *s && (distance(p, q) - nearest).abs() < 1e-6);
            assert!(own.is_some(), "{p:?} takes the score of its nearest sampled point");
        }
        assert_eq!(object, object_score(&scored.iter().map(|p| p[0]).collect::<Vec<_>>(), 10), "the object score is the sample's");
    }

    #[test]
    fn a_scan_up_to_twice_the_parts_density_is_scored_whole() {
        let scan = plane(40);
        let (every, object) = at_scan_density(&scan, Some(800), 1, |sample| sample.iter().map(|p| p[1]).collect());
        assert_eq!(every, scan.iter().map(|p| p[1]).collect::<Vec<_>>());
        assert_eq!(object, 39.0);
        let (unlimited, _) = at_scan_density(&scan, None, 1, |sample| vec![0.0; sample.len()]);
        assert_eq!(unlimited.len(), 1600);
    }

    #[test]
    fn object_score_is_the_mean_of_the_top_points() {
        assert_eq!(object_score(&[1.0, 5.0, 3.0, 4.0], 2), 4.5);
        assert_eq!(object_score(&[1.0, 5.0], 10), 3.0, "fewer points than asked: all of them");
        assert_eq!(object_score(&[], 10), 0.0);
    }
}
