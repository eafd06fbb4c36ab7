//! Pictures of a scored scan, for the people around the box: the part from the front, the side
//! and the top (orthographic, depth-sorted splats coloured by point score with the heatmap PLY's
//! ramp), the worst regions circled and numbered as `edge-tool score` lists them, a legend in scan
//! units with the threshold on it, and a title line with the verdict and the part id.
//!
//! CPU only and quick (a few tens of milliseconds for a 16k-point scan, PNG included), so that
//! the daemon can draw every reject beside its heatmap and `edge-tool show` needs no viewer.

mod legend;
mod text;
mod views;

use std::io::Write;
use std::path::Path;

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ImageEncoder, Rgb, RgbImage};

use dus_core::cloud::heatmap::colour_scale;
use dus_core::verdict::{shown_regions, Verdict};
pub use views::{Layout, View};

/// Width of one view, pixels.
pub const PANEL: u32 = 400;
/// Height of the title line.
pub const TITLE: u32 = 44;
/// Width of the legend at the right.
pub const LEGEND: u32 = 220;
/// The picture's size: three views side by side, the legend, the title line above.
pub const WIDTH: u32 = 3 * PANEL + LEGEND;
pub const HEIGHT: u32 = TITLE + PANEL;

const BACKGROUND: Rgb<u8> = Rgb([246, 246, 246]);
const INK: Rgb<u8> = Rgb([20, 20, 20]);

/// One scored scan to draw.
pub struct Scene<'a> {
    pub points: &'a [[f32; 3]],
    /// One per point, scan units.
    pub scores: &'a [f32],
    /// The model's object-score threshold; `None`: uncalibrated, or a heatmap shown without its model.
    pub threshold: Option<f64>,
    /// `None` when not known (a heatmap shown without its model): no verdict is claimed then.
    pub object_score: Option<f64>,
    /// The part's id on the line, or the scan's file name.
    pub part: &'a str,
    /// What decided ("bunny 1.0.0"); empty when not known.
    pub model: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{points} points but {scores} scores: a score per point is needed")]
    Mismatch { points: usize, scores: usize },
    #[error("no points to draw")]
    Empty,
    #[error("{path}: cannot write the picture: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("cannot encode the picture as PNG: {0}")]
    Encode(#[from] image::ImageError),
}

impl Scene<'_> {
    /// The colour scale: red from the threshold up (or, without one, from the object score, or
    /// the worst point), as in the heatmap PLY.
    fn scale(&self) -> f32 {
        let worst = self.scores.iter().copied().fold(0.0f32, f32::max);
        colour_scale(self.threshold, self.object_score.unwrap_or(f64::from(worst)))
    }

    /// The verdict when the object score is known (defect when in doubt, as on the line).
    fn verdict(&self) -> Option<Verdict> {
        self.object_score.map(|score| Verdict::decide(score, self.threshold))
    }
}

/// Draws `scene` into a [`WIDTH`] x [`HEIGHT`] picture.
pub fn render(scene: &Scene) -> Result<RgbImage, RenderError> {
    if scene.points.len() != scene.scores.len() {
        return Err(RenderError::Mismatch { points: scene.points.len(), scores: scene.scores.len() });
    }
    if scene.points.is_empty() {
        return Err(RenderError::Empty);
    }
    let mut canvas = RgbImage::from_pixel(WIDTH, HEIGHT, BACKGROUND);
    let layout = Layout::fit(scene.points);
    let scale = scene.scale();
    let regions = shown_regions(scene.points, scene.scores, scene.threshold);
    for view in View::ALL {
        views::draw_splats(&mut canvas, &layout, view, scene.points, scene.scores, scale);
        views::circle_regions(&mut canvas, &layout, view, &regions);
    }
    views::draw_frames(&mut canvas);
    legend::draw(&mut canvas, scale, scene.threshold);
    text::title(&mut canvas, scene.verdict(), &title_words(scene));
    Ok(canvas)
}

/// The title after the verdict: part, object score against the threshold, model.
fn title_words(scene: &Scene) -> String {
    let mut words = format!("part {}", scene.part);
    match (scene.object_score, scene.threshold) {
        (Some(score), Some(threshold)) => {
            let relation = if score <= threshold { "within" } else { "over" };
            words += &format!("   object score {score:.3} mm {relation} threshold {threshold:.3} mm");
        }
        (Some(score), None) => words += &format!("   object score {score:.3} mm, no threshold (uncalibrated)"),
        (None, Some(threshold)) => words += &format!("   threshold {threshold:.3} mm"),
        (None, None) => words += "   no threshold: give --model",
    }
    if !scene.model.is_empty() {
        words += &format!("   model {}", scene.model);
    }
    words
}

/// The picture as PNG bytes (fast compression: the daemon draws every reject).
pub fn encode_png(image: &RgbImage) -> Result<Vec<u8>, RenderError> {
    let mut bytes = Vec::new();
    PngEncoder::new_with_quality(&mut bytes, CompressionType::Fast, FilterType::Adaptive).write_image(
        image.as_raw(),
        image.width(),
        image.height(),
        image::ExtendedColorType::Rgb8,
    )?;
    Ok(bytes)
}

/// Writes the picture to `path` through a temporary file and a rename, so that the status page
/// never serves half a picture.
pub fn write_png(image: &RgbImage, path: &Path) -> Result<(), RenderError> {
    let bytes = encode_png(image)?;
    let fail = |source| RenderError::Write { path: path.display().to_string(), source };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    temp.write_all(&bytes).map_err(fail)?;
    // Readable like the PLY beside it (a temporary file starts private).
    temp.as_file().set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644)).map_err(fail)?;
    temp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}
