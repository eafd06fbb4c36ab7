//! PLY files (ascii, binary little and big endian) through `ply-rs-bw`. The header is read
//! first and every element's row count held against the bytes that follow it: `ply-rs-bw`
//! would otherwise build billions of empty rows for a 175-byte file that claims them. A binary
//! file whose first element is the vertices, each of fixed size, is read in bulk (`binary.rs`):
//! the parser builds a map per vertex, half a second for a million.

use std::io::Cursor;
use std::path::Path;

use ply_rs_bw::parser::{Parser, Reader};
use ply_rs_bw::ply::{DefaultElement, ElementDef, Encoding, Header, Property, PropertyType, ScalarType};

use super::binary::{self, Column, Scalar};
use super::{check_claimed_points, Problem};

pub(super) fn read(path: &Path) -> Result<Vec<[f32; 3]>, Problem> {
    read_vertices(path, None).map(|(points, _)| points)
}

/// Vertex positions and, when asked for, one more property of each.
type Vertices = (Vec<[f32; 3]>, Option<Vec<f32>>);

/// The vertices and, when `extra` names a property the vertex element has, that property of
/// each (the `scalar_score` of a heatmap).
pub(super) fn read_vertices(path: &Path, extra: Option<&str>) -> Result<Vertices, Problem> {
    let bytes = std::fs::read(path)?;
    let mut reader = Reader::new(Cursor::new(&bytes[..]));
    let parser = Parser::<DefaultElement>::new();
    let header = parser.read_header(&mut reader).map_err(|e| Problem::Header(e.to_string()))?;
    let vertex = header.elements.get("vertex").ok_or_else(|| Problem::Header("no 'vertex' element".into()))?;
    let claimed = check_claimed_points(vertex.count as u64)?;
    for axis in ["x", "y", "z"] {
        if !vertex.properties.contains_key(axis) {
            return Err(Problem::Header(format!("vertex has no '{axis}' property")));
        }
    }
    let start = payload_start(&bytes);
    check_rows_fit(&header, bytes.len() - start)?;
    let extra = extra.filter(|name| vertex.properties.contains_key(*name));
    if let Some(layout) = VertexLayout::of(&header) {
        return layout.read(&bytes[start..], claimed, extra);
    }
    let payload = parser.read_payload(&mut reader, &header).map_err(|e| Problem::Data(e.to_string()))?;
    let vertices = payload.get("vertex").map(Vec::as_slice).unwrap_or(&[]);
    if vertices.len() != claimed {
        return Err(Problem::SizeMismatch { claimed: format!("{claimed} vertices"), actual: format!("{} vertices", vertices.len()) });
    }
    let mut points = Vec::with_capacity(vertices.len());
    let mut extras = extra.map(|_| Vec::with_capacity(vertices.len()));
    for (i, v) in vertices.iter().enumerate() {
        let value = |name: &str| v.get(name).and_then(scalar).ok_or_else(|| Problem::Data(format!("vertex {i}: '{name}' is not a number")));
        points.push([value("x")?, value("y")?, value("z")?]);
        if let (Some(name), Some(extras)) = (extra, extras.as_mut()) {
            extras.push(value(name)?);
        }
    }
    Ok((points, extras))
}

/// Where each vertex property lies in a binary payload whose first element is the vertices,
/// all of fixed size (scalar properties only).
struct VertexLayout {
    big_endian: bool,
    /// Name, offset in the vertex and type of each property.
    properties: Vec<(String, usize, Scalar)>,
    /// Bytes of one vertex.
    size: usize,
}

impl VertexLayout {
    /// `None` when the parser must read the file: ascii, another element first, or lists.
    fn of(header: &Header) -> Option<VertexLayout> {
        let big_endian = match header.encoding {
            Encoding::BinaryLittleEndian => false,
            Encoding::BinaryBigEndian => true,
            Encoding::Ascii => return None,
        };
        let (name, vertex) = header.elements.first()?;
        if name != "vertex" {
            return None;
        }
        let mut properties = Vec::with_capacity(vertex.properties.len());
        let mut size = 0;
        for (name, property) in &vertex.properties {
            let PropertyType::Scalar(t) = &property.data_type else { return None };
            let scalar = scalar_of(t);
            properties.push((name.clone(), size, scalar));
            size += scalar.size();
        }
        Some(VertexLayout { big_endian, properties, size })
    }

    fn column(&self, wanted: &str) -> Option<Column> {
        let &(_, offset, scalar) = self.properties.iter().find(|(name, ..)| name == wanted)?;
        Some(Column { offset, stride: self.size, scalar })
    }

    /// The vertices (and the `extra` property) of `payload`, whose header claimed `claimed`.
    fn read(&self, payload: &[u8], claimed: usize, extra: Option<&str>) -> Result<Vertices, Problem> {
        let too_short =
            || Problem::SizeMismatch { claimed: format!("{claimed} vertices"), actual: format!("{} bytes of data", payload.len()) };
        let xyz = ["x", "y", "z"].map(|axis| self.column(axis).expect("the header check found x, y and z"));
        let points = binary::points(payload, claimed, xyz, self.big_endian).ok_or_else(too_short)?;
        let extras = match extra.and_then(|name| self.column(name)) {
            Some(column) => Some(binary::values(payload, claimed, column, self.big_endian).ok_or_else(too_short)?),
            None => None,
        };
        Ok((points, extras))
    }
}

/// Where the payload starts: after the header's `end_header` line (which the parser accepted).
fn payload_start(bytes: &[u8]) -> usize {
    let mut start = 0;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        start += line.len();
        if line.trim_ascii_end() == b"end_header" {
            break;
        }
    }
    start
}

/// Every element's rows must fit in the bytes after the header: a binary row takes at least its
/// scalars' and list lengths' sizes, an ascii row at least one byte per property (and one line).
fn check_rows_fit(header: &Header, available: usize) -> Result<(), Problem> {
    let ascii = matches!(header.encoding, Encoding::Ascii);
    let mut needed: u128 = 0;
    for element in header.elements.values() {
        needed += element.count as u128 * least_row_bytes(element, ascii) as u128;
        if element.properties.is_empty() && element.count > 0 && !ascii {
            return Err(Problem::Header(format!("element '{}' has no properties but {} rows", element.name, element.count)));
        }
    }
    if needed > available as u128 {
        return Err(Problem::SizeMismatch {
            claimed: format!("rows needing at least {needed} bytes"),
            actual: format!("{available} bytes after the header"),
        });
    }
    Ok(())
}

fn least_row_bytes(element: &ElementDef, ascii: bool) -> usize {
    if ascii {
        return element.properties.len().max(1);
    }
    element
        .properties
        .values()
        .map(|p| match &p.data_type {
            PropertyType::Scalar(t) | PropertyType::List(t, _) => scalar_of(t).size(),
        })
        .sum()
}

/// How a PLY scalar type is stored.
fn scalar_of(t: &ScalarType) -> Scalar {
    match t {
        ScalarType::Char => Scalar::I8,
        ScalarType::UChar => Scalar::U8,
        ScalarType::Short => Scalar::I16,
        ScalarType::UShort => Scalar::U16,
        ScalarType::Int => Scalar::I32,
        ScalarType::UInt => Scalar::U32,
        ScalarType::Float => Scalar::F32,
        ScalarType::Double => Scalar::F64,
    }
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
