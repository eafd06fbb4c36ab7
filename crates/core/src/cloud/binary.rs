//! Coordinates of fixed-size binary records, read in bulk: binary and binary_compressed PCD and
//! binary PLY keep every point's x, y and z at fixed byte positions, so they are read as columns
//! straight from the file's bytes, on every core, instead of through a record per point (which
//! took 110-550 ms for a million points, where numpy takes ~30).

use rayon::prelude::*;

/// A number as stored in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scalar {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl Scalar {
    /// Bytes one value takes.
    pub(super) fn size(self) -> usize {
        match self {
            Scalar::I8 | Scalar::U8 => 1,
            Scalar::I16 | Scalar::U16 => 2,
            Scalar::I32 | Scalar::U32 | Scalar::F32 => 4,
            Scalar::I64 | Scalar::U64 | Scalar::F64 => 8,
        }
    }

    /// The value at the start of `bytes` (at least `size()` long), as f32.
    fn read(self, bytes: &[u8], big_endian: bool) -> f32 {
        macro_rules! number {
            ($t:ty) => {{
                let raw = bytes[..size_of::<$t>()].try_into().expect("a slice of the value's size");
                (if big_endian { <$t>::from_be_bytes(raw) } else { <$t>::from_le_bytes(raw) }) as f32
            }};
        }
        match self {
            Scalar::I8 => number!(i8),
            Scalar::U8 => number!(u8),
            Scalar::I16 => number!(i16),
            Scalar::U16 => number!(u16),
            Scalar::I32 => number!(i32),
            Scalar::U32 => number!(u32),
            Scalar::I64 => number!(i64),
            Scalar::U64 => number!(u64),
            Scalar::F32 => number!(f32),
            Scalar::F64 => number!(f64),
        }
    }
}

/// Where one coordinate of point `i` lies: `offset + i * stride`. Records side by side (binary
/// PCD, binary PLY) have the record size as stride; a column-major block (binary_compressed
/// PCD, once decompressed) has the value size.
#[derive(Debug, Clone, Copy)]
pub(super) struct Column {
    pub offset: usize,
    pub stride: usize,
    pub scalar: Scalar,
}

impl Column {
    /// Whether `bytes` holds this column's value for each of `n` points.
    fn fits(&self, bytes: &[u8], n: usize) -> bool {
        n == 0 || self.offset + (n - 1) * self.stride + self.scalar.size() <= bytes.len()
    }

    /// Point `i`'s value; `fits` has been checked.
    fn at(&self, bytes: &[u8], i: usize, big_endian: bool) -> f32 {
        self.scalar.read(&bytes[self.offset + i * self.stride..], big_endian)
    }
}

/// The `n` points whose x, y and z lie in `bytes` as the columns say; `None` when `bytes` is too
/// short for them (the callers have checked the length against the header; this keeps a wrong
/// check from turning into a panic).
pub(super) fn points(bytes: &[u8], n: usize, xyz: [Column; 3], big_endian: bool) -> Option<Vec<[f32; 3]>> {
    if !xyz.iter().all(|c| c.fits(bytes, n)) {
        return None;
    }
    Some((0..n).into_par_iter().map(|i| xyz.map(|c| c.at(bytes, i, big_endian))).collect())
}

/// The `n` values of one column, as [`points`] reads each coordinate.
pub(super) fn values(bytes: &[u8], n: usize, column: Column, big_endian: bool) -> Option<Vec<f32>> {
    if !column.fits(bytes, n) {
        return None;
    }
    Some((0..n).into_par_iter().map(|i| column.at(bytes, i, big_endian)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_columns_read_the_same_points() {
        let points = [[1.5f32, -2.0, 3.25], [4.0, 5.5, -6.0]];
        // Records: x y z as f32 little endian and a u8 label after each point.
        let records: Vec<u8> = points.iter().flat_map(|p| p.iter().flat_map(|v| v.to_le_bytes()).chain([7u8])).collect();
        let field = |k: usize| Column { offset: 4 * k, stride: 13, scalar: Scalar::F32 };
        assert_eq!(super::points(&records, 2, [field(0), field(1), field(2)], false).unwrap(), points);
        // Columns: all x, then all y, then all z, as f64 big endian.
        let columns: Vec<u8> = (0..3).flat_map(|k| points.iter().flat_map(move |p| f64::from(p[k]).to_be_bytes())).collect();
        let column = |k: usize| Column { offset: 16 * k, stride: 8, scalar: Scalar::F64 };
        assert_eq!(super::points(&columns, 2, [column(0), column(1), column(2)], true).unwrap(), points);
    }

    #[test]
    fn integers_of_every_width_become_their_value() {
        let bytes = [0xFFu8, 0xFE, 0xFF, 0xFF, 0xFF];
        assert_eq!(Scalar::I8.read(&bytes, false), -1.0);
        assert_eq!(Scalar::U8.read(&bytes, false), 255.0);
        assert_eq!(Scalar::I16.read(&bytes[1..], false), -2.0);
        assert_eq!(Scalar::U16.read(&[1, 0], true), 256.0);
        assert_eq!(Scalar::I32.read(&[0, 0, 0, 0x80], false), i32::MIN as f32);
        assert_eq!(Scalar::U64.read(&5u64.to_le_bytes(), false), 5.0);
    }

    #[test]
    fn too_few_bytes_is_none_not_a_panic() {
        let column = |k: usize| Column { offset: 4 * k, stride: 12, scalar: Scalar::F32 };
        assert!(super::points(&[0u8; 23], 2, [column(0), column(1), column(2)], false).is_none());
        assert_eq!(super::points(&[0u8; 24], 2, [column(0), column(1), column(2)], false).unwrap().len(), 2);
        assert_eq!(super::points(&[], 0, [column(0), column(1), column(2)], false).unwrap().len(), 0);
    }
}
