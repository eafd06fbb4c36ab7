//! Rigid registration of a scan onto a part's reference cloud (trimmed point-to-point ICP).
//!
//! A shared canonical frame is what lets a per-part model heal defects (see
//! `models/README.md` and the model findings): both the DUS-Net detector and the golden-part
//! reference register every scan this way before anything else. The algorithm is fixed step by
//! step (sample, start, iteration count, trimming) so that the Python reference reproduces it.

use nalgebra::{Matrix3, Vector3};
use rayon::prelude::*;

use crate::spatial::PointIndex;

/// Points of the scan used to estimate the pose; more buys little accuracy and costs time.
pub const ICP_SAMPLE: usize = 4096;
/// ICP's iteration cap; it usually stops earlier, once the kept pairs repeat.
pub const ICP_ITERATIONS: usize = 50;
/// Fraction of correspondences kept (the closest ones): defects and missing material are outliers.
pub const ICP_KEEP: f64 = 0.9;

/// A rigid motion `p -> R p + t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pose {
    /// R.
    pub rotation: Matrix3<f64>,
    /// t.
    pub translation: Vector3<f64>,
}

impl Pose {
    /// No motion.
    pub fn identity() -> Pose {
        Pose { rotation: Matrix3::identity(), translation: Vector3::zeros() }
    }

    /// `R p + t`.
    pub fn apply(&self, p: &[f64; 3]) -> [f64; 3] {
        let q = self.rotation * Vector3::from(*p) + self.translation;
        [q.x, q.y, q.z]
    }

    /// Every point moved, back in f32 (scan coordinates never need more).
    pub fn apply_all(&self, points: &[[f32; 3]]) -> Vec<[f32; 3]> {
        points.iter().map(|p| self.apply(&p.map(f64::from)).map(|v| v as f32)).collect()
    }

    /// The pose of a 4 x 4 homogeneous matrix, given by rows (how other tools write poses).
    pub fn from_rows(rows: &[[f64; 4]; 4]) -> Pose {
        Pose { rotation: Matrix3::from_fn(|r, c| rows[r][c]), translation: Vector3::new(rows[0][3], rows[1][3], rows[2][3]) }
    }

    /// `self` after `first`.
    fn after(&self, first: &Pose) -> Pose {
        Pose { rotation: self.rotation * first.rotation, translation: self.rotation * first.translation + self.translation }
    }

    /// Rotation angle in degrees, for reports.
    pub fn angle_degrees(&self) -> f64 {
        ((self.rotation.trace() - 1.0) / 2.0).clamp(-1.0, 1.0).acos().to_degrees()
    }
}

/// A part's reference cloud, indexed once, onto which scans are registered.
pub struct Reference {
    points: Vec<[f64; 3]>,
    index: PointIndex<f64>,
    centroid: [f64; 3],
}

impl Reference {
    /// `points` must not be empty (a model's reference cloud is checked when the model loads).
    pub fn new(points: &[[f32; 3]]) -> Reference {
        let points: Vec<[f64; 3]> = points.iter().map(|p| p.map(f64::from)).collect();
        let index = PointIndex::<f64>::new(&points);
        let centroid = centroid(&points);
        Reference { points, index, centroid }
    }

    /// The reference's points.
    pub fn points(&self) -> &[[f64; 3]] {
        &self.points
    }

    /// The pose that moves `scan` onto this reference.
    pub fn register(&self, scan: &[[f32; 3]]) -> Pose {
        self.register_counting(scan).0
    }

    /// The pose and the ICP iterations it took: at most `ICP_ITERATIONS`, fewer once an
    /// iteration keeps exactly the pairs of the one before. Its motion was then fitted to these
    /// very pairs, so every later step is the identity (to rounding): stopping changes nothing.
    fn register_counting(&self, scan: &[[f32; 3]]) -> (Pose, usize) {
        let sample = icp_sample(scan);
        let start = centroid(&sample);
        let mut pose = Pose::identity();
        pose.translation = Vector3::from(self.centroid) - Vector3::from(start);
        let mut previous = Vec::new();
        for iteration in 1..=ICP_ITERATIONS {
            let pairs = self.pairs(&sample, &pose);
            if pairs == previous {
                return (pose, iteration - 1);
            }
            pose = self.motion(&sample, &pose, &pairs).after(&pose);
            previous = pairs;
        }
        (pose, ICP_ITERATIONS)
    }

    /// What ICP minimises, for comparing poses: the root mean square distance of the kept
    /// (closest `ICP_KEEP`) correspondences of `scan`'s ICP sample moved by `pose`.
    pub fn trimmed_rms(&self, scan: &[[f32; 3]], pose: &Pose) -> f64 {
        let sample = icp_sample(scan);
        let pairs = self.pairs(&sample, pose);
        let squares: f64 =
            pairs.iter().map(|&(i, j)| (Vector3::from(pose.apply(&sample[i])) - Vector3::from(self.points[j])).norm_squared()).sum();
        (squares / pairs.len().max(1) as f64).sqrt()
    }

    /// The kept correspondences of one ICP step, (sample index, reference index), closest first:
    /// each moved sample point's nearest reference point, the farthest `1 - ICP_KEEP` dropped.
    fn pairs(&self, sample: &[[f64; 3]], pose: &Pose) -> Vec<(usize, usize)> {
        let mut pairs: Vec<(usize, usize, f64)> = sample
            .par_iter()
            .enumerate()
            .map(|(i, p)| {
                let n = self.index.nearest(&pose.apply(p));
                (i, n.index, n.distance_sq)
            })
            .collect();
        pairs.sort_by(|a, b| a.2.total_cmp(&b.2));
        pairs.truncate(((pairs.len() as f64) * ICP_KEEP).floor().max(3.0) as usize);
        pairs.into_iter().map(|(i, j, _)| (i, j)).collect()
    }

    /// The Kabsch motion of the moved sample points onto their matches.
    fn motion(&self, sample: &[[f64; 3]], pose: &Pose, pairs: &[(usize, usize)]) -> Pose {
        let moved: Vec<[f64; 3]> = pairs.iter().map(|&(i, _)| pose.apply(&sample[i])).collect();
        let matched: Vec<[f64; 3]> = pairs.iter().map(|&(_, j)| self.points[j]).collect();
        kabsch(&moved, &matched)
    }
}

/// The scan points ICP works on (`models/README.md`, registration step 1), in f64.
fn icp_sample(scan: &[[f32; 3]]) -> Vec<[f64; 3]> {
    stride_indices(scan.len(), ICP_SAMPLE).into_iter().map(|i| scan[i].map(f64::from)).collect()
}

/// The rotation and translation that best move `from` onto `to` (least squares, no reflection).
fn kabsch(from: &[[f64; 3]], to: &[[f64; 3]]) -> Pose {
    let (cf, ct) = (Vector3::from(centroid(from)), Vector3::from(centroid(to)));
    let mut h = Matrix3::zeros();
    for (f, t) in from.iter().zip(to) {
        h += (Vector3::from(*f) - cf) * (Vector3::from(*t) - ct).transpose();
    }
    let svd = h.svd(true, true);
    let (u, v) = (svd.u.expect("u requested"), svd.v_t.expect("v_t requested").transpose());
    let sign = (v * u.transpose()).determinant().signum();
    let rotation = v * Matrix3::from_diagonal(&Vector3::new(1.0, 1.0, sign)) * u.transpose();
    Pose { rotation, translation: ct - rotation * cf }
}

fn centroid(points: &[[f64; 3]]) -> [f64; 3] {
    let mut sum = [0.0; 3];
    for p in points {
        for (s, c) in sum.iter_mut().zip(p) {
            *s += c;
        }
    }
    sum.map(|s| s / points.len().max(1) as f64)
}

/// Indices `floor(i * n / count)` for `i < count`, or all of `0..n` when `n <= count`.
pub fn stride_indices(n: usize, count: usize) -> Vec<usize> {
    if n <= count {
        return (0..n).collect();
    }
    (0..count).map(|i| (i as u128 * n as u128 / count as u128) as usize).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ellipsoid with two off-axis bumps, so that no small rotation maps it onto itself.
    fn lumpy_part(n: usize) -> Vec<[f32; 3]> {
        (0..n)
            .map(|i| {
                let z = 1.0 - 2.0 * (i as f32 + 0.5) / n as f32;
                let r = (1.0 - z * z).sqrt();
                let phi = i as f32 * 2.399_963;
                let unit = [r * phi.cos(), r * phi.sin(), z];
                let bump = |c: [f32; 3]| (-((0..3).map(|k| (unit[k] - c[k]).powi(2)).sum::<f32>()) / 0.08).exp();
                let radius = 1.0 + 0.4 * bump([0.6, 0.6, 0.5]) + 0.3 * bump([-0.7, 0.1, -0.6]);
                [40.0 * radius * unit[0], 30.0 * radius * unit[1], 20.0 * radius * unit[2]]
            })
            .collect()
    }

    #[test]
    fn icp_recovers_a_small_rigid_motion() {
        let reference = lumpy_part(4000);
        let motion = Pose {
            rotation: *nalgebra::Rotation3::from_euler_angles(0.02, -0.015, 0.025).matrix(),
            translation: Vector3::new(1.0, -0.8, 0.5),
        };
        let scan: Vec<[f32; 3]> = reference.iter().map(|p| motion.apply(&p.map(f64::from)).map(|c| c as f32)).collect();
        let pose = Reference::new(&reference).register(&scan);
        let worst = scan
            .iter()
            .zip(&reference)
            .map(|(s, r)| {
                let back = pose.apply(&s.map(f64::from));
                (0..3).map(|k| (back[k] - r[k] as f64).powi(2)).sum::<f64>().sqrt()
            })
            .fold(0.0, f64::max);
        assert!(worst < 1e-4, "registered points are up to {worst} away from where they belong");
        assert!((pose.angle_degrees() - motion.angle_degrees()).abs() < 1e-6);
    }

    #[test]
    fn icp_stops_once_its_pairs_repeat_and_the_pose_is_the_full_runs() {
        let reference = lumpy_part(4000);
        let motion = Pose {
            rotation: *nalgebra::Rotation3::from_euler_angles(0.01, 0.0, -0.01).matrix(),
            translation: Vector3::new(0.3, 0.2, -0.1),
        };
        let scan: Vec<[f32; 3]> = reference.iter().step_by(2).map(|p| motion.apply(&p.map(f64::from)).map(|c| c as f32)).collect();
        let target = Reference::new(&reference);
        let (pose, iterations) = target.register_counting(&scan);
        assert!(iterations < ICP_ITERATIONS, "a clean small motion converges early: {iterations} iterations");
        let sample: Vec<[f64; 3]> = scan.iter().map(|p| p.map(f64::from)).collect();
        let pairs = target.pairs(&sample, &pose);
        let step = target.motion(&sample, &pose, &pairs);
        assert!(step.angle_degrees() < 1e-9 && step.translation.norm() < 1e-9, "further steps do not move: {step:?}");
    }

    #[test]
    fn stride_indices_follow_the_contract() {
        assert_eq!(stride_indices(10, 4), vec![0, 2, 5, 7]);
        assert_eq!(stride_indices(3, 4), vec![0, 1, 2]);
    }
}
