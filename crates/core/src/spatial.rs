//! Nearest-neighbour search: the one place that talks to `kiddo`.
//!
//! Results are ordered by distance and then by index, so that every caller (and the Python
//! reference, which follows the same rule) picks the same neighbours when distances tie.

use std::num::NonZero;

use kiddo::{ImmutableKdTree, SquaredEuclidean};

/// A k-d tree over a fixed set of 3-D points of type `f32` or `f64`.
pub struct PointIndex<A: kiddo::traits::Axis> {
    tree: ImmutableKdTree<A, 3>,
}

/// A neighbour: its index in the indexed set and its squared distance to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbour<A> {
    /// Its index in the indexed points.
    pub index: usize,
    /// Squared Euclidean distance to the query.
    pub distance_sq: A,
}

macro_rules! point_index {
    ($a:ty) => {
        impl PointIndex<$a> {
            /// Indexes `points`; panics only if `points` is empty, which every caller rules out.
            pub fn new(points: &[[$a; 3]]) -> Self {
                let tree = ImmutableKdTree::new_from_slice(points).expect("a k-d tree over a non-empty point set");
                PointIndex { tree }
            }

            /// The nearest point (the lowest index among equals).
            pub fn nearest(&self, query: &[$a; 3]) -> Neighbour<$a> {
                let found = self.tree.query(query).nearest_one::<SquaredEuclidean<$a>>().execute();
                Neighbour { index: found.item as usize, distance_sq: found.distance }
            }

            /// The `k` nearest points, ascending by distance, ties by index.
            pub fn nearest_k(&self, query: &[$a; 3], k: usize) -> Vec<Neighbour<$a>> {
                let Some(k) = NonZero::new(k) else { return Vec::new() };
                let mut found: Vec<Neighbour<$a>> = self
                    .tree
                    .query(query)
                    .nearest_n::<SquaredEuclidean<$a>>(k)
                    .execute()
                    .into_iter()
                    .map(|n| Neighbour { index: n.item as usize, distance_sq: n.distance })
                    .collect();
                found.sort_by(|a, b| a.distance_sq.total_cmp(&b.distance_sq).then(a.index.cmp(&b.index)));
                found
            }

            /// Indices of every point within `radius` of `query` (boundary included), in no order.
            pub fn within(&self, query: &[$a; 3], radius: $a) -> Vec<usize> {
                self.tree
                    .query(query)
                    .within::<SquaredEuclidean<$a>>(radius * radius)
                    .unsorted()
                    .execute()
                    .into_iter()
                    .map(|n| n.item as usize)
                    .collect()
            }
        }
    };
}

point_index!(f32);
point_index!(f64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_k_orders_by_distance_then_index() {
        let points = [[0.0f32, 0.0, 0.0], [1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [3.0, 0.0, 0.0]];
        let index = PointIndex::<f32>::new(&points);
        let found: Vec<usize> = index.nearest_k(&[0.0, 0.0, 0.0], 3).iter().map(|n| n.index).collect();
        assert_eq!(found, vec![0, 1, 2]);
        assert_eq!(index.nearest(&[2.9, 0.0, 0.0]).index, 3);
        let mut near = index.within(&[0.0, 0.0, 0.0], 1.0);
        near.sort();
        assert_eq!(near, vec![0, 1, 2], "the radius is inclusive");
    }
}
