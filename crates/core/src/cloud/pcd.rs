//! PCD (Point Cloud Library) files: ascii, binary and binary_compressed. `pcd-rs` parses the
//! header and the ascii data; binary data is read in bulk (`binary.rs`), after LZF decompression
//! for binary_compressed.
//!
//! `pcd-rs` trusts the header: it would allocate whatever a binary_compressed header claims. So the
//! header is parsed first and every claimed size is checked against the bytes really there.

use std::path::Path;

use pcd_rs::{DataKind, DynReader, Field, PcdMeta, ValueKind};

use super::binary::{self, Column, Scalar};
use super::{check_claimed_points, Problem};

/// Writes `points` as a binary PCD of x, y and z (f32): the layout of `reference.pcd`, which
/// PCL, CloudCompare and numpy read directly.
pub fn write(path: &Path, points: &[[f32; 3]]) -> std::io::Result<()> {
    let n = points.len();
    let header = format!(
        "# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\n\
         WIDTH {n}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\nDATA binary\n"
    );
    let mut bytes = header.into_bytes();
    bytes.extend(points.iter().flatten().flat_map(|v| v.to_le_bytes()));
    std::fs::write(path, bytes)
}

pub(super) fn read(path: &Path) -> Result<Vec<[f32; 3]>, Problem> {
    let bytes = std::fs::read(path)?;
    let header_len = header_length(&bytes)?;
    let meta = PcdMeta::from_reader(&bytes[..header_len]).map_err(|e| Problem::Header(e.to_string()))?;
    let claimed = check_claimed_points(meta.num_points)?;
    let xyz = xyz_fields(&meta)?;
    let payload = &bytes[header_len..];
    check_payload(&meta, claimed, payload)?;
    match meta.data {
        DataKind::Binary => binary_points(payload, &meta, claimed, xyz, Layout::Records),
        DataKind::BinaryCompressed => binary_points(&decompress(payload)?, &meta, claimed, xyz, Layout::Columns),
        DataKind::Ascii => ascii_points(&bytes, claimed, xyz),
    }
}

/// How binary data holds its points: record after record, or (binary_compressed, once
/// decompressed) each field's values for all points together.
#[derive(Clone, Copy)]
enum Layout {
    Records,
    Columns,
}

fn binary_points(data: &[u8], meta: &PcdMeta, claimed: usize, xyz: [usize; 3], layout: Layout) -> Result<Vec<[f32; 3]>, Problem> {
    let fields = &meta.field_defs.fields;
    let widths: Vec<usize> = fields.iter().map(|f| f.kind.byte_size() * f.count as usize).collect();
    let record: usize = widths.iter().sum();
    let column = |f: usize| {
        let before: usize = widths[..f].iter().sum();
        let scalar = scalar(fields[f].kind);
        match layout {
            Layout::Records => Column { offset: before, stride: record, scalar },
            Layout::Columns => Column { offset: before * claimed, stride: widths[f], scalar },
        }
    };
    binary::points(data, claimed, xyz.map(column), false)
        .ok_or_else(|| Problem::SizeMismatch { claimed: format!("{claimed} points"), actual: format!("{} bytes of data", data.len()) })
}

fn scalar(kind: ValueKind) -> Scalar {
    match kind {
        ValueKind::I8 => Scalar::I8,
        ValueKind::U8 => Scalar::U8,
        ValueKind::I16 => Scalar::I16,
        ValueKind::U16 => Scalar::U16,
        ValueKind::I32 => Scalar::I32,
        ValueKind::U32 => Scalar::U32,
        ValueKind::I64 => Scalar::I64,
        ValueKind::U64 => Scalar::U64,
        ValueKind::F32 => Scalar::F32,
        ValueKind::F64 => Scalar::F64,
    }
}

/// LZF can expand its input at most this many times (a 3-byte back reference copies 264 bytes):
/// a header claiming more is lying, and believing it would allocate what it claims.
const LZF_MAX_EXPANSION: usize = 90;

/// The data of a binary_compressed payload whose size words `check_payload` has accepted.
fn decompress(payload: &[u8]) -> Result<Vec<u8>, Problem> {
    let word = |i: usize| u32::from_le_bytes([payload[i], payload[i + 1], payload[i + 2], payload[i + 3]]) as usize;
    let (compressed, uncompressed) = (&payload[8..], word(4));
    if uncompressed == 0 {
        return Ok(Vec::new());
    }
    if uncompressed > compressed.len().saturating_mul(LZF_MAX_EXPANSION) {
        return Err(Problem::SizeMismatch {
            claimed: format!("{uncompressed} bytes uncompressed"),
            actual: format!("{} compressed bytes, which LZF cannot expand to that", compressed.len()),
        });
    }
    let data = lzf::decompress(compressed, uncompressed).map_err(|e| Problem::Data(format!("binary_compressed data: {e}")))?;
    if data.len() != uncompressed {
        return Err(Problem::SizeMismatch {
            claimed: format!("{uncompressed} bytes uncompressed"),
            actual: format!("{} bytes", data.len()),
        });
    }
    Ok(data)
}

/// Ascii data through `pcd-rs`, whose header and payload checks have passed.
fn ascii_points(bytes: &[u8], claimed: usize, xyz: [usize; 3]) -> Result<Vec<[f32; 3]>, Problem> {
    let reader = DynReader::from_reader(bytes).map_err(|e| Problem::Header(e.to_string()))?;
    let mut points = Vec::with_capacity(claimed.min(bytes.len() / 3));
    for record in reader {
        let record = record.map_err(|e| Problem::Data(e.to_string()))?;
        let coordinate = |i: usize| record.0.get(i).and_then(first_value);
        match (coordinate(xyz[0]), coordinate(xyz[1]), coordinate(xyz[2])) {
            (Some(x), Some(y), Some(z)) => points.push([x, y, z]),
            _ => return Err(Problem::Data(format!("point {} has no x, y, z values", points.len()))),
        }
    }
    if points.len() != claimed {
        return Err(Problem::SizeMismatch { claimed: format!("{claimed} points"), actual: format!("{} points", points.len()) });
    }
    Ok(points)
}

/// Byte length of the header: everything up to and including the `DATA ...` line.
fn header_length(bytes: &[u8]) -> Result<usize, Problem> {
    let mut start = 0;
    // A header is a few hundred bytes; refusing to scan more keeps binary junk from being searched.
    let limit = bytes.len().min(64 * 1024);
    while start < limit {
        let end = bytes[start..limit].iter().position(|&b| b == b'\n').map_or(limit, |p| start + p + 1);
        if bytes[start..end].starts_with(b"DATA") {
            return Ok(end);
        }
        start = end;
    }
    Err(Problem::Header("no DATA line in the first 64 KiB".into()))
}

fn xyz_fields(meta: &PcdMeta) -> Result<[usize; 3], Problem> {
    let find = |name: &str| {
        meta.field_defs.fields.iter().position(|f| f.name == name).ok_or_else(|| Problem::Header(format!("no '{name}' field")))
    };
    Ok([find("x")?, find("y")?, find("z")?])
}

/// Values one field may hold per point. PCL's largest descriptors hold a few hundred; a header
/// claiming more is crafted, and its products would overflow `pcd-rs`'s arithmetic.
const MAX_FIELD_COUNT: u64 = 65_536;

/// Checks everything the header claims against what the file holds, before `pcd-rs` sees it:
/// sane field counts, WIDTH x HEIGHT = POINTS, and a payload of exactly the claimed size (binary,
/// binary_compressed) or exactly POINTS lines of the claimed width (ascii). `pcd-rs` would panic,
/// allocate what a header claims, loop, or silently read the first POINTS of a longer payload.
fn check_payload(meta: &PcdMeta, claimed: usize, payload: &[u8]) -> Result<(), Problem> {
    let mismatch = |claimed: String, actual: String| Err(Problem::SizeMismatch { claimed, actual });
    let (record, values) = record_size(meta)?;
    match meta.width.checked_mul(meta.height) {
        Some(grid) if grid == claimed as u64 => {}
        _ => return mismatch(format!("WIDTH {} x HEIGHT {}", meta.width, meta.height), format!("POINTS {claimed}")),
    }
    let needed = claimed as u128 * record as u128;
    match meta.data {
        DataKind::Ascii => check_ascii(payload, claimed, values),
        DataKind::Binary if payload.len() as u128 != needed => {
            mismatch(format!("{claimed} points ({needed} bytes)"), format!("{} bytes of data", payload.len()))
        }
        DataKind::Binary => Ok(()),
        DataKind::BinaryCompressed => {
            let word = |i: usize| payload.get(i..i + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u128);
            let (Some(compressed), Some(uncompressed)) = (word(0), word(4)) else {
                return Err(Problem::Data("binary_compressed data ends before its size words".into()));
            };
            if uncompressed != needed {
                return mismatch(format!("{claimed} points ({needed} bytes)"), format!("{uncompressed} bytes uncompressed"));
            }
            if compressed != payload.len() as u128 - 8 {
                return mismatch(format!("{compressed} compressed bytes"), format!("{} bytes", payload.len() - 8));
            }
            Ok(())
        }
    }
}

/// Bytes and values of one point record, each field's COUNT bounded first.
fn record_size(meta: &PcdMeta) -> Result<(usize, usize), Problem> {
    let (mut bytes, mut values) = (0usize, 0usize);
    for field in &meta.field_defs.fields {
        if !(1..=MAX_FIELD_COUNT).contains(&field.count) {
            return Err(Problem::Header(format!("field '{}' has COUNT {}, outside 1..={MAX_FIELD_COUNT}", field.name, field.count)));
        }
        // Bounded: at most 64 KiB of header, so ~32k fields of <= 65,536 values of <= 8 bytes.
        values += field.count as usize;
        bytes += field.kind.byte_size() * field.count as usize;
    }
    Ok((bytes, values))
}

/// An ascii payload must hold exactly `claimed` non-blank lines of `values` numbers each.
fn check_ascii(payload: &[u8], claimed: usize, values: usize) -> Result<(), Problem> {
    let mut lines = 0usize;
    for (number, line) in payload.split(|&b| b == b'\n').enumerate() {
        let numbers = line.split(|b| b.is_ascii_whitespace()).filter(|t| !t.is_empty()).count();
        if numbers == 0 {
            continue;
        }
        if numbers != values {
            return Err(Problem::Data(format!("data line {} has {numbers} values, the header says {values}", number + 1)));
        }
        lines += 1;
    }
    if lines != claimed {
        return Err(Problem::SizeMismatch { claimed: format!("{claimed} points"), actual: format!("{lines} lines of data") });
    }
    Ok(())
}

fn first_value(field: &Field) -> Option<f32> {
    Some(match field {
        Field::F32(v) => *v.first()?,
        Field::F64(v) => *v.first()? as f32,
        Field::I8(v) => *v.first()? as f32,
        Field::I16(v) => *v.first()? as f32,
        Field::I32(v) => *v.first()? as f32,
        Field::I64(v) => *v.first()? as f32,
        Field::U8(v) => *v.first()? as f32,
        Field::U16(v) => *v.first()? as f32,
        Field::U32(v) => *v.first()? as f32,
        Field::U64(v) => *v.first()? as f32,
    })
}
