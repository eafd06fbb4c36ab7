//! Words on the pictures, in DejaVu Sans Bold cut down to ASCII (9 KB; `assets/fonts/` has its
//! licence and how it was cut), so that a box needs no installed font.

use ab_glyph::{FontRef, PxScale};
use image::{Rgb, RgbImage};
use imageproc::drawing::{draw_filled_rect_mut, draw_text_mut, text_size};
use imageproc::rect::Rect;

use super::{INK, TITLE, WIDTH};
use dus_core::verdict::Verdict;

static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold-ascii.ttf");

fn font() -> FontRef<'static> {
    // The font is part of the binary and read by a test; it cannot be other than valid here.
    FontRef::try_from_slice(FONT_BYTES).expect("the embedded font is a valid TrueType font")
}

const SMALL: f32 = 15.0;
const LARGE: f32 = 21.0;

/// Text in `ink` with its top-left corner at `at`.
pub fn small(canvas: &mut RgbImage, at: (i32, i32), words: &str, ink: Rgb<u8>) {
    draw_text_mut(canvas, ink, at.0, at.1, PxScale::from(SMALL), &font(), words);
}

/// A region's number: black on a white box, readable over any splat colour.
pub fn label(canvas: &mut RgbImage, at: (i32, i32), words: &str) {
    let (w, h) = text_size(PxScale::from(LARGE), &font(), words);
    draw_filled_rect_mut(canvas, Rect::at(at.0 - 3, at.1 - 2).of_size(w + 6, h + 8), Rgb([255, 255, 255]));
    draw_text_mut(canvas, Rgb([0, 0, 0]), at.0, at.1, PxScale::from(LARGE), &font(), words);
}

/// The title line: the verdict on its colour (red defect, green ok, grey unknown), then `words`.
pub fn title(canvas: &mut RgbImage, verdict: Option<Verdict>, words: &str) {
    let (badge, colour) = match verdict {
        Some(Verdict::Defect) => ("DEFECT", Rgb([200, 30, 30])),
        Some(Verdict::Ok) => ("OK", Rgb([30, 140, 60])),
        None => ("NO VERDICT", Rgb([110, 110, 110])),
    };
    draw_filled_rect_mut(canvas, Rect::at(0, 0).of_size(WIDTH, TITLE), Rgb([255, 255, 255]));
    let scale = PxScale::from(LARGE);
    let (w, h) = text_size(scale, &font(), badge);
    let top = (TITLE as i32 - h as i32) / 2 - 2;
    draw_filled_rect_mut(canvas, Rect::at(8, 6).of_size(w + 20, TITLE - 12), colour);
    draw_text_mut(canvas, Rgb([255, 255, 255]), 18, top, scale, &font(), badge);
    draw_text_mut(canvas, INK, w as i32 + 44, top, scale, &font(), words);
}
