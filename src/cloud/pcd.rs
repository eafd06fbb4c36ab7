//! PCD (Point Cloud Library) files: ascii, binary and binary_compressed, through `pcd-rs`.
//!
//! `pcd-rs` trusts the header: it would allocate whatever a binary_compressed header claims. So the
//! header is parsed first and every claimed size is checked against the bytes really there.

use std::path::Path;

use pcd_rs::{DataKind, DynReader, Field, PcdMeta};

use super::{check_claimed_points, Problem};

pub(super) fn read(path: &Path) -> Result<Vec<[f32; 3]>, Problem> {
    let bytes = std::fs::read(path)?;
    let header_len = header_length(&bytes)?;
    let meta = PcdMeta::from_reader(&bytes[..header_len]).map_err(|e| Problem::Header(e.to_string()))?;
    let claimed = check_claimed_points(meta.num_points)?;
    let xyz = xyz_fields(&meta)?;
    check_payload(&meta, claimed, &bytes[header_len..])?;

    let reader = DynReader::from_reader(&bytes[..]).map_err(|e| Problem::Header(e.to_string()))?;
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
        return Err(Problem::SizeMismatch {
            claimed: format!("{claimed} points"),
            actual: format!("{} points", points.len()),
        });
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
        meta.field_defs
            .fields
            .iter()
            .position(|f| f.name == name)
            .ok_or_else(|| Problem::Header(format!("no '{name}' field")))
    };
    Ok([find("x")?, find("y")?, find("z")?])
}

/// Binary payloads have a size we can know from the header; check it against what is there.
fn check_payload(meta: &PcdMeta, claimed: usize, payload: &[u8]) -> Result<(), Problem> {
    let record: usize = meta.field_defs.fields.iter().map(|f| f.kind.byte_size() * f.count as usize).sum();
    let needed = claimed as u128 * record as u128;
    let mismatch = |claimed: String, actual: String| Err(Problem::SizeMismatch { claimed, actual });
    match meta.data {
        DataKind::Ascii => Ok(()),
        DataKind::Binary if (payload.len() as u128) < needed => {
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
            if compressed > payload.len() as u128 - 8 {
                return mismatch(format!("{compressed} compressed bytes"), format!("{} bytes", payload.len() - 8));
            }
            Ok(())
        }
    }
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
