//! Heatmaps: the scan with each point's anomaly score as a `scalar_score` property and a colour,
//! written as binary PLY that CloudCompare and MeshLab open directly.

use std::io::Write;
use std::path::Path;

use ply_rs_bw::ply::{Addable, DefaultElement, ElementDef, Encoding, Ply, Property, PropertyDef, PropertyType, ScalarType};
use ply_rs_bw::writer::Writer;

/// The vertex property holding each point's score.
pub const SCORE_PROPERTY: &str = "scalar_score";

/// Writes `points` with their `scores` (scan units); colours run blue (0) to red (`scale` and above).
pub fn write_heatmap(path: &Path, points: &[[f32; 3]], scores: &[f32], scale: f32) -> std::io::Result<()> {
    let mut ply = Ply::<DefaultElement>::new();
    ply.header.encoding = Encoding::BinaryLittleEndian;
    let mut vertex = ElementDef::new("vertex".to_string());
    for name in ["x", "y", "z", SCORE_PROPERTY] {
        vertex.properties.add(PropertyDef::new(name.to_string(), PropertyType::Scalar(ScalarType::Float)));
    }
    for name in ["red", "green", "blue"] {
        vertex.properties.add(PropertyDef::new(name.to_string(), PropertyType::Scalar(ScalarType::UChar)));
    }
    ply.header.elements.add(vertex);
    let vertices = points
        .iter()
        .zip(scores)
        .map(|(p, &s)| {
            let mut v = DefaultElement::new();
            for (name, value) in ["x", "y", "z"].iter().zip(p) {
                v.insert(name.to_string(), Property::Float(*value));
            }
            v.insert(SCORE_PROPERTY.to_string(), Property::Float(s));
            let [r, g, b] = colour(s / scale.max(f32::EPSILON));
            v.insert("red".to_string(), Property::UChar(r));
            v.insert("green".to_string(), Property::UChar(g));
            v.insert("blue".to_string(), Property::UChar(b));
            v
        })
        .collect();
    ply.payload.insert("vertex".to_string(), vertices);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    Writer::new().write_ply(&mut out, &mut ply).map_err(std::io::Error::other)?;
    out.flush()
}

/// The colour scale of a part's scores: its threshold, or for an uncalibrated model `fallback`
/// (its object score), so that red always means "at or over the line".
pub fn colour_scale(threshold: Option<f64>, fallback: f64) -> f32 {
    threshold.unwrap_or(fallback).max(1e-6) as f32
}

/// Blue → green → red ramp over [0, 1] (a score over its scale): the PLY heatmaps and the
/// pictures of `edge-tool show` share it, so a point has one colour wherever a person sees it.
pub fn colour(t: f32) -> [u8; 3] {
    let t = t.clamp(0.0, 1.0);
    let ramp = |x: f32| (x.clamp(0.0, 1.0) * 255.0).round() as u8;
    [ramp(2.0 * t - 1.0), ramp(1.0 - (2.0 * t - 1.0).abs()), ramp(1.0 - 2.0 * t)]
}
