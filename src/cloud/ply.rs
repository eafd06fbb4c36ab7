//! PLY files (ascii, binary little and big endian) through `ply-rs-bw`, which caps what it
//! preallocates from the header's element count, so a lying count ends as a truncation error.

use std::path::Path;

use ply_rs_bw::parser::Parser;
use ply_rs_bw::ply::{DefaultElement, Property};

use super::{check_claimed_points, Problem};

pub(super) fn read(path: &Path) -> Result<Vec<[f32; 3]>, Problem> {
    let mut file = std::io::BufReader::new(std::fs::File::open(path)?);
    let parser = Parser::<DefaultElement>::new();
    let ply = parser.read_ply(&mut file).map_err(|e| Problem::Data(e.to_string()))?;
    let vertex = ply
        .header
        .elements
        .get("vertex")
        .ok_or_else(|| Problem::Header("no 'vertex' element".into()))?;
    let claimed = check_claimed_points(vertex.count as u64)?;
    for axis in ["x", "y", "z"] {
        if !vertex.properties.contains_key(axis) {
            return Err(Problem::Header(format!("vertex has no '{axis}' property")));
        }
    }
    let vertices = ply.payload.get("vertex").map(Vec::as_slice).unwrap_or(&[]);
    if vertices.len() != claimed {
        return Err(Problem::SizeMismatch {
            claimed: format!("{claimed} vertices"),
            actual: format!("{} vertices", vertices.len()),
        });
    }
    vertices
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let axis = |name: &str| {
                v.get(name)
                    .and_then(scalar)
                    .ok_or_else(|| Problem::Data(format!("vertex {i}: '{name}' is not a number")))
            };
            Ok([axis("x")?, axis("y")?, axis("z")?])
        })
        .collect()
}

fn scalar(property: &Property) -> Option<f32> {
    Some(match *property {
        Property::Float(v) => v,
        Property::Double(v) => v as f32,
        Property::Char(v) => v as f32,
        Property::UChar(v) => v as f32,
        Property::Short(v) => v as f32,
        Property::UShort(v) => v as f32,
        Property::Int(v) => v as f32,
        Property::UInt(v) => v as f32,
        _ => return None,
    })
}
