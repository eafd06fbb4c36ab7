//! The three orthographic views: where a point lands on the picture, its splat, the region rings.
//! One scale (pixels per scan unit) for all three, so that sizes compare across views.

use image::{Rgb, RgbImage};
use imageproc::drawing::{draw_hollow_circle_mut, draw_hollow_rect_mut};
use imageproc::rect::Rect;

use super::{text, PANEL, TITLE};
use dus_core::cloud::heatmap::colour;
use dus_core::verdict::Region;

/// Room at the top of each view for its name.
const LABEL: u32 = 24;
/// Empty border around the part in each view, pixels.
const MARGIN: f32 = 18.0;

/// A fixed camera: looking at the part along one axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// From +z: x to the right, y up.
    Front,
    /// From +x: -z to the right, y up.
    Side,
    /// From +y: x to the right, -z up (the front at the bottom).
    Top,
}

impl View {
    pub const ALL: [View; 3] = [View::Front, View::Side, View::Top];

    fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            View::Front => "front (from +z)",
            View::Side => "side (from +x)",
            View::Top => "top (from +y)",
        }
    }

    /// (to the right, up, towards the camera) of a scan point.
    fn axes(self, p: [f32; 3]) -> [f32; 3] {
        match self {
            View::Front => [p[0], p[1], p[2]],
            View::Side => [-p[2], p[1], p[0]],
            View::Top => [p[0], -p[2], p[1]],
        }
    }
}

/// How a scan fits the pictures: one scale, each view centred on the part.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Pixels per scan unit.
    scale: f32,
    /// Each view's bounding-box centre (right, up) and depth range.
    centre: [[f32; 2]; 3],
    depth: [(f32, f32); 3],
}

impl Layout {
    /// The layout showing all of `points` in every view.
    pub fn fit(points: &[[f32; 3]]) -> Layout {
        let mut centre = [[0.0; 2]; 3];
        let mut depth = [(0.0, 0.0); 3];
        let mut largest = f32::EPSILON;
        for view in View::ALL {
            let (mut lo, mut hi) = ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]);
            for &p in points {
                let a = view.axes(p);
                for k in 0..3 {
                    lo[k] = lo[k].min(a[k]);
                    hi[k] = hi[k].max(a[k]);
                }
            }
            centre[view.index()] = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
            depth[view.index()] = (lo[2], hi[2]);
            largest = largest.max(hi[0] - lo[0]).max(hi[1] - lo[1]);
        }
        let room = (PANEL - LABEL) as f32 - 2.0 * MARGIN;
        Layout { scale: room / largest, centre, depth }
    }

    /// Pixels per scan unit, in every view.
    pub fn pixels_per_unit(&self) -> f32 {
        self.scale
    }

    /// Where `point` lands on the picture in `view`: (x, y) pixels, y down.
    pub fn pixel(&self, view: View, point: [f32; 3]) -> [f32; 2] {
        let [right, up, _] = view.axes(point);
        let [cx, cy] = self.centre[view.index()];
        let (x0, y0) = panel_origin(view);
        let middle = [x0 as f32 + PANEL as f32 / 2.0, (y0 + LABEL) as f32 + (PANEL - LABEL) as f32 / 2.0];
        [middle[0] + (right - cx) * self.scale, middle[1] - (up - cy) * self.scale]
    }

    /// 0 at the far side of the part, 1 at the near side.
    fn nearness(&self, view: View, point: [f32; 3]) -> f32 {
        let (far, near) = self.depth[view.index()];
        ((view.axes(point)[2] - far) / (near - far).max(f32::EPSILON)).clamp(0.0, 1.0)
    }
}

/// Top-left corner of a view's panel.
fn panel_origin(view: View) -> (u32, u32) {
    (view.index() as u32 * PANEL, TITLE)
}

/// Splat radius in pixels: about what tiles the visible half of the part's surface.
fn splat_radius(points: usize) -> i32 {
    let area_per_point = (PANEL * PANEL) as f32 * 0.5 / points.max(1) as f32;
    (area_per_point.sqrt().ceil() as i32).clamp(1, 4)
}

/// Paints the points far to near (the painter's algorithm), each a disc in its score's colour,
/// darker the farther it is, so that the part's shape reads without lighting.
pub fn draw_splats(canvas: &mut RgbImage, layout: &Layout, view: View, points: &[[f32; 3]], scores: &[f32], scale: f32) {
    let radius = splat_radius(points.len());
    let disc: Vec<(i32, i32)> = (-radius..=radius)
        .flat_map(|dy| (-radius..=radius).map(move |dx| (dx, dy)))
        .filter(|(dx, dy)| dx * dx + dy * dy <= radius * radius + radius)
        .collect();
    let mut order: Vec<(f32, usize)> = points.iter().enumerate().map(|(i, &p)| (layout.nearness(view, p), i)).collect();
    order.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let (x0, y0) = panel_origin(view);
    let (left, top, right, bottom) = (x0 as i32, (y0 + LABEL) as i32, (x0 + PANEL) as i32, (y0 + PANEL) as i32);
    for (near, i) in order {
        let [x, y] = layout.pixel(view, points[i]);
        let (x, y) = (x.round() as i32, y.round() as i32);
        let shade = 0.5 + 0.5 * near;
        let pixel = Rgb(colour(scores[i] / scale).map(|c| (f32::from(c) * shade) as u8));
        for &(dx, dy) in &disc {
            let (px, py) = (x + dx, y + dy);
            if (left..right).contains(&px) && (top..bottom).contains(&py) {
                canvas.put_pixel(px as u32, py as u32, pixel);
            }
        }
    }
}

/// Rings each region (numbered from 1, as `score` lists them) in black on white, so that they
/// stand out on any colour; a ring has at least a finger's width of room around the region.
pub fn circle_regions(canvas: &mut RgbImage, layout: &Layout, view: View, regions: &[Region]) {
    for (n, region) in regions.iter().enumerate() {
        let [x, y] = layout.pixel(view, region.center);
        let centre = (x.round() as i32, y.round() as i32);
        let radius = (region.radius * layout.pixels_per_unit()).round() as i32 + 10;
        for (offset, ink) in
            [(-2, Rgb([255, 255, 255])), (-1, Rgb([0, 0, 0])), (0, Rgb([0, 0, 0])), (1, Rgb([0, 0, 0])), (2, Rgb([255, 255, 255]))]
        {
            draw_hollow_circle_mut(canvas, centre, radius + offset, ink);
        }
        let corner = (centre.0 + radius * 7 / 10, centre.1 - radius * 7 / 10 - 20);
        text::label(canvas, corner, &(n + 1).to_string());
    }
}

/// A thin frame around each view and its name, drawn last so that no ring or splat covers them.
pub fn draw_frames(canvas: &mut RgbImage) {
    for view in View::ALL {
        let (x0, y0) = panel_origin(view);
        imageproc::drawing::draw_filled_rect_mut(canvas, Rect::at(x0 as i32, y0 as i32).of_size(PANEL, LABEL), super::BACKGROUND);
        draw_hollow_rect_mut(canvas, Rect::at(x0 as i32, y0 as i32).of_size(PANEL, PANEL), Rgb([190, 190, 190]));
        text::small(canvas, (x0 as i32 + 8, y0 as i32 + 4), view.name(), super::INK);
    }
}
