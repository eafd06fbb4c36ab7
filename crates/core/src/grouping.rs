//! Grouping a normalised cloud into patches (section 3.1): farthest point sampling picks the group
//! centers, KNN gathers each center's patch, Noise-Gen perturbs both (eq. 1). Also the multi-scale
//! indices the Up-Net needs (section 3.3), computed here so the graphs need no custom ops.
//!
//! Every rule (FPS start and tie-breaking, neighbour order) is the one `models/README.md` fixes,
//! so the Python reference picks the same points.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

use crate::spatial::PointIndex;

/// Farthest point sampling: `count` indices into `points`, starting at index 0; each next point is
/// the first one farthest from those already chosen. Distances are `(dx*dx + dy*dy) + dz*dz` in f32.
///
/// Points are kept in a k-d tree of small buckets; every node knows its bounding box and the
/// largest distance to the chosen set below it. A subtree whose box is farther from the new
/// center than that distance cannot change and is skipped whole, so late in sampling a center
/// touches only its own neighbourhood (bucket FPS). The result is exactly that of the plain
/// O(N·count) loop.
pub fn farthest_point_sampling(points: &[[f32; 3]], count: usize) -> Vec<usize> {
    farthest_point_sampling_from(points, count, 0)
}

/// Farthest point sampling as [`farthest_point_sampling`], starting at index `start`.
pub fn farthest_point_sampling_from(points: &[[f32; 3]], count: usize, start: usize) -> Vec<usize> {
    let count = count.min(points.len());
    if count == 0 {
        return Vec::new();
    }
    let mut tree = BucketTree::new(points);
    let mut chosen = Vec::with_capacity(count);
    let mut current = start.min(points.len() - 1);
    for _ in 0..count {
        chosen.push(current);
        current = tree.add_center(points[current]);
    }
    chosen
}

/// How well `chosen` (indices into `points`) covers the cloud: the largest distance from a point
/// to its nearest chosen point. FPS makes it small greedily; two samplers that pick different
/// points compare by it.
pub fn covering_radius(points: &[[f32; 3]], chosen: &[usize]) -> f32 {
    let picked: Vec<[f32; 3]> = chosen.iter().filter_map(|&i| points.get(i).copied()).collect();
    if picked.is_empty() {
        return f32::INFINITY;
    }
    let index = PointIndex::<f32>::new(&picked);
    points.par_iter().map(|p| index.nearest(p).distance_sq).reduce(|| 0.0, f32::max).sqrt()
}

/// Points per bucket: small enough to skip most of the cloud late in sampling, large enough that
/// the per-bucket work vectorises.
const BUCKET: usize = 64;
/// A subtree is skipped only when its box is farther than its largest distance by this relative
/// margin, so f32 rounding can never hide an update.
const SKIP_MARGIN: f32 = 1.0 - 1e-5;
/// Slices at least this long are split on both cores: building the tree is most of the cost on
/// a large cloud.
const PARALLEL_SPLIT: usize = 32 * 1024;

struct BucketTree {
    /// Points and their original indices, bucket by bucket; ascending index within a bucket.
    order: Vec<([f32; 3], u32)>,
    nearest: Vec<f32>,
    /// Node 0 is the root.
    nodes: Vec<Node>,
}

struct Node {
    lo: [f32; 3],
    hi: [f32; 3],
    /// Largest distance to the chosen set below this node and the smallest index holding it.
    far: f32,
    far_at: usize,
    below: Below,
}

enum Below {
    /// A bucket: positions `start..end` of `order`.
    Points { start: usize, end: usize },
    /// Two subtrees, by node index.
    Nodes(usize, usize),
}

impl BucketTree {
    fn new(points: &[[f32; 3]]) -> BucketTree {
        // Points travel with their index (u32: a cloud holds at most `cloud::MAX_POINTS`), 16
        // bytes each: the partition and the updates read contiguous memory, and no second copy
        // by columns is made (on a million points the copy cost more than it saved).
        let mut order: Vec<([f32; 3], u32)> = points.iter().copied().zip(0..).collect();
        let (lo, hi) = bounds(&order);
        partition(&mut order, lo, hi);
        let mut nodes = Vec::with_capacity(2 * order.len() / BUCKET + 1);
        link(&order, 0, &mut nodes);
        BucketTree { nearest: vec![f32::INFINITY; order.len()], order, nodes }
    }

    /// Lowers every distance by the distance to `c`; returns the first farthest point's index.
    fn add_center(&mut self, c: [f32; 3]) -> usize {
        self.visit(0, c);
        self.nodes[0].far_at
    }

    fn visit(&mut self, id: usize, c: [f32; 3]) {
        let node = &self.nodes[id];
        if box_distance(node, c) * SKIP_MARGIN > node.far {
            return;
        }
        let (far, far_at) = match node.below {
            Below::Points { start, end } => update(&self.order[start..end], &mut self.nearest[start..end], c),
            Below::Nodes(left, right) => {
                self.visit(left, c);
                self.visit(right, c);
                farther(&self.nodes[left], &self.nodes[right])
            }
        };
        (self.nodes[id].far, self.nodes[id].far_at) = (far, far_at);
    }
}

/// Orders `order` into buckets: split at the median of the widest axis of `[lo, hi]` (a box
/// holding the slice, narrowed at each split without another pass over the points) until slices
/// hold at most [`BUCKET`] points, each bucket's points in ascending index order. [`link`]
/// retraces the splits.
fn partition(order: &mut [([f32; 3], u32)], lo: [f32; 3], hi: [f32; 3]) {
    if order.len() <= BUCKET {
        order.sort_unstable_by_key(|&(_, i)| i);
        return;
    }
    let axis = (0..3).max_by(|&a, &b| (hi[a] - lo[a]).total_cmp(&(hi[b] - lo[b]))).unwrap_or(0);
    let middle = order.len() / 2;
    order.select_nth_unstable_by(middle, |a, b| a.0[axis].total_cmp(&b.0[axis]));
    let cut = order[middle].0[axis];
    let (mut left_hi, mut right_lo) = (hi, lo);
    (left_hi[axis], right_lo[axis]) = (cut, cut);
    let parallel = order.len() >= PARALLEL_SPLIT;
    let (left, right) = order.split_at_mut(middle);
    if parallel {
        rayon::join(|| partition(left, lo, left_hi), || partition(right, right_lo, hi));
    } else {
        partition(left, lo, left_hi);
        partition(right, right_lo, hi);
    }
}

/// The tree over a partitioned `order` (starting at position `offset`), appended to `nodes`;
/// returns the index of its root.
fn link(order: &[([f32; 3], u32)], offset: usize, nodes: &mut Vec<Node>) -> usize {
    let id = nodes.len();
    if order.len() <= BUCKET {
        let (lo, hi) = bounds(order);
        let below = Below::Points { start: offset, end: offset + order.len() };
        nodes.push(Node { lo, hi, far: f32::INFINITY, far_at: order[0].1 as usize, below });
        return id;
    }
    nodes.push(Node { lo: [0.0; 3], hi: [0.0; 3], far: f32::INFINITY, far_at: 0, below: Below::Nodes(0, 0) });
    let middle = order.len() / 2;
    let left = link(&order[..middle], offset, nodes);
    let right = link(&order[middle..], offset + middle, nodes);
    let (l, r) = (&nodes[left], &nodes[right]);
    let (lo, hi) = ([0, 1, 2].map(|k| l.lo[k].min(r.lo[k])), [0, 1, 2].map(|k| l.hi[k].max(r.hi[k])));
    let far_at = l.far_at.min(r.far_at);
    nodes[id] = Node { lo, hi, far: f32::INFINITY, far_at, below: Below::Nodes(left, right) };
    id
}

/// The larger of two nodes' farthest distances; on a tie, the smaller index.
fn farther(a: &Node, b: &Node) -> (f32, usize) {
    if b.far > a.far || (b.far == a.far && b.far_at < a.far_at) {
        (b.far, b.far_at)
    } else {
        (a.far, a.far_at)
    }
}

fn bounds(order: &[([f32; 3], u32)]) -> ([f32; 3], [f32; 3]) {
    let (mut lo, mut hi) = ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]);
    for (p, _) in order {
        for k in 0..3 {
            lo[k] = lo[k].min(p[k]);
            hi[k] = hi[k].max(p[k]);
        }
    }
    (lo, hi)
}

/// Squared distance from `c` to the node's bounding box (0 inside it).
fn box_distance(node: &Node, c: [f32; 3]) -> f32 {
    (0..3).map(|k| (node.lo[k] - c[k]).max(c[k] - node.hi[k]).max(0.0).powi(2)).sum()
}

/// Lowers the bucket's distances by their distance to `c`; returns its new farthest distance and
/// the first (smallest) index holding it. The first pass has no branches and vectorises; the
/// second finds that index, which exists because the maximum is one of the values just written.
fn update(points: &[([f32; 3], u32)], near: &mut [f32], c: [f32; 3]) -> (f32, usize) {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let lower = |d: &mut f32, p: &[f32; 3]| {
        let (dx, dy, dz) = (p[0] - c[0], p[1] - c[1], p[2] - c[2]);
        *d = d.min((dx * dx + dy * dy) + dz * dz);
        *d
    };
    let mut chunks = near.chunks_exact_mut(LANES).zip(points.chunks_exact(LANES));
    for (d, p) in &mut chunks {
        for l in 0..LANES {
            let v = lower(&mut d[l], &p[l].0);
            lanes[l] = if v > lanes[l] { v } else { lanes[l] };
        }
    }
    let tail = near.len() / LANES * LANES;
    for i in tail..near.len() {
        let v = lower(&mut near[i], &points[i].0);
        lanes[0] = if v > lanes[0] { v } else { lanes[0] };
    }
    let far = lanes.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let first = near.iter().position(|&d| d == far).unwrap_or(0);
    (far, points[first].1 as usize)
}

const LANES: usize = 8;

/// Index `k` nearest points of `points` around each of `queries` (indices into `points`), the
/// query point itself included when it belongs to `points`.
pub fn neighbourhoods(points: &[[f32; 3]], queries: &[[f32; 3]], k: usize) -> Vec<Vec<usize>> {
    nearest_in(&PointIndex::<f32>::new(points), queries, k)
}

/// [`neighbourhoods`] over an index already built.
fn nearest_in(index: &PointIndex<f32>, queries: &[[f32; 3]], k: usize) -> Vec<Vec<usize>> {
    queries.iter().map(|q| index.nearest_k(q, k).into_iter().map(|n| n.index).collect()).collect()
}

/// A cloud grouped for the Down-Net: G centers and, for each, its K neighbours.
#[derive(Debug, Clone, PartialEq)]
pub struct Patches {
    /// `[G][3]`, normalised frame.
    pub centers: Vec<[f32; 3]>,
    /// `[G][K][3]`, absolute positions (the Down-Net input is made relative in [`Patches::noisy`]).
    pub neighbours: Vec<Vec<[f32; 3]>>,
}

/// Noise levels of Noise-Gen, in normalised units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoiseLevels {
    /// Relative noise: a fraction of each patch's own spread (eq. 1).
    pub alpha: f32,
    /// Absolute noise floor, normalised units.
    pub beta: f32,
}

impl Patches {
    /// Groups `points` into `groups` patches of `group_size` points, FPS from point 0.
    pub fn group(points: &[[f32; 3]], groups: usize, group_size: usize) -> Patches {
        Patches::groupings(points, groups, group_size, 1).swap_remove(0)
    }

    /// `passes` groupings of `points`: pass `p` starts FPS at point `p * n / passes`, so each
    /// pass puts its centers elsewhere and their reconstructions interleave. One k-d tree serves
    /// every pass.
    pub fn groupings(points: &[[f32; 3]], groups: usize, group_size: usize, passes: usize) -> Vec<Patches> {
        let index = PointIndex::<f32>::new(points);
        let passes = passes.max(1);
        (0..passes)
            .into_par_iter()
            .map(|pass| {
                let start = pass * points.len() / passes;
                let centers: Vec<[f32; 3]> = farthest_point_sampling_from(points, groups, start).into_iter().map(|i| points[i]).collect();
                let neighbours = nearest_in(&index, &centers, group_size)
                    .into_iter()
                    .map(|group| group.into_iter().map(|i| points[i]).collect())
                    .collect();
                Patches { centers, neighbours }
            })
            .collect()
    }

    /// The Down-Net's two inputs for one draw of Noise-Gen (eq. 1): noisy centers `[G*3]` and
    /// noisy neighbours relative to their noisy center `[G*K*3]`. With zero noise, no draw is made.
    pub fn noisy(&self, noise: NoiseLevels, seed: u64) -> (Vec<f32>, Vec<f32>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut gaussian = |sigma: f32| -> [f32; 3] {
            if sigma == 0.0 {
                return [0.0; 3];
            }
            let normal = Normal::new(0.0, sigma).expect("a finite, positive noise level");
            [normal.sample(&mut rng), normal.sample(&mut rng), normal.sample(&mut rng)]
        };
        let mut centers = Vec::with_capacity(self.centers.len() * 3);
        let mut patches = Vec::with_capacity(self.neighbours.iter().map(Vec::len).sum::<usize>() * 3);
        for (c, group) in self.centers.iter().zip(&self.neighbours) {
            let shift = gaussian(noise.alpha);
            let noisy_center = [c[0] + shift[0], c[1] + shift[1], c[2] + shift[2]];
            centers.extend_from_slice(&noisy_center);
            for p in group {
                let jitter = gaussian(noise.beta);
                patches.extend((0..3).map(|k| p[k] + jitter[k] - noisy_center[k]));
            }
        }
        (centers, patches)
    }
}

/// The Up-Net's multi-scale structure over its G input centers (levels 1 and 2 at G/2 and G/4),
/// laid out as the flat index and weight tensors of `models/README.md`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pyramid {
    /// The level-1 points: FPS indices into the G centers.
    pub l1_index: Vec<i64>,
    /// Each level-1 point's neighbours among the centers.
    pub l1_group: Vec<i64>,
    /// The level-2 points: FPS indices into level 1.
    pub l2_index: Vec<i64>,
    /// Each level-2 point's neighbours in level 1.
    pub l2_group: Vec<i64>,
    /// Each center's 3 nearest level-1 points, for interpolation back to level 0.
    pub l1_interp_index: Vec<i64>,
    /// Their inverse-distance weights (summing to 1).
    pub l1_interp_weight: Vec<f32>,
    /// Each center's 3 nearest level-2 points.
    pub l2_interp_index: Vec<i64>,
    /// Their inverse-distance weights (summing to 1).
    pub l2_interp_weight: Vec<f32>,
}

impl Pyramid {
    /// Builds the pyramid over `centers` with `neighbours` points per set-abstraction group.
    pub fn build(centers: &[[f32; 3]], neighbours: usize) -> Pyramid {
        let g = centers.len();
        let l1 = farthest_point_sampling(centers, g / 2);
        let l1_points: Vec<[f32; 3]> = l1.iter().map(|&i| centers[i]).collect();
        let l2 = farthest_point_sampling(&l1_points, g / 4);
        let l2_points: Vec<[f32; 3]> = l2.iter().map(|&i| l1_points[i]).collect();
        let (l1_interp_index, l1_interp_weight) = interpolation(&l1_points, centers);
        let (l2_interp_index, l2_interp_weight) = interpolation(&l2_points, centers);
        Pyramid {
            l1_index: as_i64(l1),
            l1_group: as_i64(neighbourhoods(centers, &l1_points, neighbours).concat()),
            l2_index: as_i64(l2),
            l2_group: as_i64(neighbourhoods(&l1_points, &l2_points, neighbours).concat()),
            l1_interp_index,
            l1_interp_weight,
            l2_interp_index,
            l2_interp_weight,
        }
    }
}

/// For each of `targets`, its 3 nearest `sources` and inverse-distance weights summing to 1 (eq. 10).
fn interpolation(sources: &[[f32; 3]], targets: &[[f32; 3]]) -> (Vec<i64>, Vec<f32>) {
    let index = PointIndex::<f32>::new(sources);
    let mut indices = Vec::with_capacity(targets.len() * 3);
    let mut weights = Vec::with_capacity(targets.len() * 3);
    for t in targets {
        let found = index.nearest_k(t, 3);
        let inverse: Vec<f32> = found.iter().map(|n| 1.0 / (n.distance_sq.sqrt() + 1e-8)).collect();
        let total: f32 = inverse.iter().sum();
        indices.extend(found.iter().map(|n| n.index as i64));
        weights.extend(inverse.iter().map(|w| w / total));
    }
    (indices, weights)
}

fn as_i64(indices: Vec<usize>) -> Vec<i64> {
    indices.into_iter().map(|i| i as i64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contract's rule written the slow, obvious way.
    fn plain_fps(points: &[[f32; 3]], count: usize) -> Vec<usize> {
        let mut nearest = vec![f32::INFINITY; points.len()];
        let mut chosen = vec![0];
        while chosen.len() < count {
            let c = points[*chosen.last().unwrap()];
            let mut best = (f32::NEG_INFINITY, 0);
            for (i, p) in points.iter().enumerate() {
                let (dx, dy, dz) = (p[0] - c[0], p[1] - c[1], p[2] - c[2]);
                nearest[i] = nearest[i].min((dx * dx + dy * dy) + dz * dz);
                if nearest[i] > best.0 {
                    best = (nearest[i], i);
                }
            }
            chosen.push(best.1);
        }
        chosen
    }

    fn scattered(n: usize) -> Vec<[f32; 3]> {
        (0..n)
            .map(|i| {
                let t = i as f32;
                [(t * 0.37).sin() * 10.0, (t * 0.11).cos() * 7.0, ((t * 0.05).sin() * 3.0).round()]
            })
            .collect()
    }

    #[test]
    fn fps_matches_the_plain_rule_including_ties() {
        let points = scattered(1003);
        assert_eq!(farthest_point_sampling(&points, 100), plain_fps(&points, 100));
        // A grid has many exact ties: the first index must win.
        let grid: Vec<[f32; 3]> = (0..125).map(|i| [(i % 5) as f32, (i / 5 % 5) as f32, (i / 25) as f32]).collect();
        assert_eq!(farthest_point_sampling(&grid, 40), plain_fps(&grid, 40));
    }

    #[test]
    fn fps_matches_the_plain_rule_on_a_large_cloud() {
        let points: Vec<[f32; 3]> = (0..70_000u32)
            .map(|i| {
                let h = |k: u32| (i.wrapping_mul(2_654_435_761).wrapping_add(k * 40_503) % 10_007) as f32 / 10_007.0;
                [h(1) * 50.0, h(2) * 30.0, (h(3) * 6.0).sin() * 5.0]
            })
            .collect();
        assert_eq!(farthest_point_sampling(&points, 300), plain_fps(&points, 300));
    }

    #[test]
    fn covering_radius_is_the_farthest_point_from_the_sample() {
        let line: Vec<[f32; 3]> = (0..11).map(|i| [i as f32, 0.0, 0.0]).collect();
        assert_eq!(covering_radius(&line, &[0, 10]), 5.0);
        assert_eq!(covering_radius(&line, &farthest_point_sampling(&line, 3)), 2.0);
        assert_eq!(covering_radius(&line, &[]), f32::INFINITY, "nothing covers nothing");
    }

    #[test]
    fn fps_spreads_points_to_the_extremes() {
        let line: Vec<[f32; 3]> = (0..11).map(|i| [i as f32, 0.0, 0.0]).collect();
        assert_eq!(farthest_point_sampling(&line, 3), vec![0, 10, 5]);
    }

    #[test]
    fn each_grouping_pass_starts_fps_at_its_own_point() {
        let points: Vec<[f32; 3]> = (0..400).map(|i| [(i % 20) as f32, (i / 20) as f32, 0.0]).collect();
        let passes = Patches::groupings(&points, 16, 4, 4);
        assert_eq!(passes.len(), 4);
        assert_eq!(passes[0], Patches::group(&points, 16, 4));
        for (p, patches) in passes.iter().enumerate() {
            assert_eq!(patches.centers[0], points[p * 100], "pass {p}");
            assert_eq!(patches.neighbours[0][0], points[p * 100], "a center's nearest point is itself");
        }
        assert_ne!(passes[1].centers, passes[0].centers);
    }

    #[test]
    fn patches_hold_each_center_and_its_nearest_neighbours() {
        let points = scattered(500);
        let patches = Patches::group(&points, 32, 8);
        assert_eq!(patches.centers.len(), 32);
        for (c, group) in patches.centers.iter().zip(&patches.neighbours) {
            assert_eq!(group.len(), 8);
            assert_eq!(group[0], *c, "a patch starts with its own center");
        }
    }

    #[test]
    fn noise_off_gives_patches_relative_to_the_exact_center() {
        let points = scattered(200);
        let patches = Patches::group(&points, 16, 4);
        let (centers, relative) = patches.noisy(NoiseLevels { alpha: 0.0, beta: 0.0 }, 1);
        assert_eq!(&centers[..3], &patches.centers[0]);
        assert_eq!(&relative[..3], &[0.0, 0.0, 0.0]);
    }

    #[test]
    fn noise_gen_is_reproducible_and_scaled() {
        let points = scattered(2000);
        let patches = Patches::group(&points, 256, 8);
        let noise = NoiseLevels { alpha: 0.5, beta: 0.0 };
        assert_eq!(patches.noisy(noise, 3), patches.noisy(noise, 3));
        let (centers, _) = patches.noisy(noise, 3);
        let spread: f32 =
            centers.chunks(3).zip(&patches.centers).map(|(n, c)| (0..3).map(|k| (n[k] - c[k]).powi(2)).sum::<f32>()).sum::<f32>()
                / (3.0 * 256.0);
        assert!((spread.sqrt() - 0.5).abs() < 0.05, "alpha 0.5 gave a standard deviation of {}", spread.sqrt());
    }

    #[test]
    fn pyramid_weights_sum_to_one_and_indices_are_in_range() {
        let points = scattered(4000);
        let centers: Vec<[f32; 3]> = farthest_point_sampling(&points, 64).into_iter().map(|i| points[i]).collect();
        let pyramid = Pyramid::build(&centers, 8);
        assert_eq!(pyramid.l1_index.len(), 32);
        assert_eq!(pyramid.l2_group.len(), 16 * 8);
        assert!(pyramid.l1_group.iter().all(|&i| (0..64).contains(&i)));
        assert!(pyramid.l2_group.iter().all(|&i| (0..32).contains(&i)));
        assert!(pyramid.l2_interp_index.iter().all(|&i| (0..16).contains(&i)));
        for w in pyramid.l1_interp_weight.chunks(3) {
            assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
    }
}
