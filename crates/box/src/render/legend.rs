//! The colour legend: scores in scan units (mm) from 0 up, the threshold marked where red begins.

use image::{Rgb, RgbImage};
use imageproc::drawing::draw_filled_rect_mut;
use imageproc::rect::Rect;

use super::{text, INK, PANEL, TITLE};
use dus_core::cloud::heatmap::colour;

const BAR_WIDTH: u32 = 28;
const BAR_TOP: u32 = TITLE + 56;
const BAR_BOTTOM: u32 = TITLE + PANEL - 40;

/// Draws the legend at the right of the views. `scale` is the score drawn red; with a threshold
/// (which is then `scale`) the bar goes half as far again, so that "over the threshold" has room.
pub fn draw(canvas: &mut RgbImage, scale: f32, threshold: Option<f64>) {
    let left = 3 * PANEL + 24;
    let top = if threshold.is_some() { scale * 1.5 } else { scale };
    text::small(canvas, (left as i32 - 6, TITLE as i32 + 10), "point score (mm)", INK);
    let height = BAR_BOTTOM - BAR_TOP;
    let value_at = |y: u32| top * (BAR_BOTTOM - y) as f32 / height as f32;
    let y_of = |value: f32| BAR_BOTTOM as i32 - (value / top * height as f32).round() as i32;
    for y in BAR_TOP..BAR_BOTTOM {
        draw_filled_rect_mut(canvas, Rect::at(left as i32, y as i32).of_size(BAR_WIDTH, 1), Rgb(colour(value_at(y) / scale)));
    }
    let tick = |canvas: &mut RgbImage, value: f32| {
        let y = y_of(value);
        draw_filled_rect_mut(canvas, Rect::at(left as i32 + BAR_WIDTH as i32, y).of_size(6, 1), INK);
        text::small(canvas, (left as i32 + BAR_WIDTH as i32 + 10, y - 8), &millimetres(value), INK);
    };
    for value in [0.0, scale / 2.0, top] {
        tick(canvas, value);
    }
    let note = match threshold {
        Some(threshold) => {
            let y = y_of(scale);
            draw_filled_rect_mut(canvas, Rect::at(left as i32 - 6, y - 1).of_size(BAR_WIDTH + 12, 3), INK);
            text::small(canvas, (left as i32 + BAR_WIDTH as i32 + 10, y - 8), &format!("{} threshold", millimetres(threshold as f32)), INK);
            "red: over the threshold"
        }
        None => "no threshold: red = worst",
    };
    text::small(canvas, (left as i32 - 6, BAR_BOTTOM as i32 + 14), note, INK);
}

/// A score as the legend prints it: three decimals below 10 mm, one above.
fn millimetres(value: f32) -> String {
    if value < 10.0 {
        format!("{value:.3}")
    } else {
        format!("{value:.1}")
    }
}
