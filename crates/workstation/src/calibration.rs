//! Operating points: the object-score threshold a part is rejected above.
//!
//! A threshold set on the scans a detector already knows is optimistic: the golden part scores its
//! own templates against a reference that contains them, which is why a new part with only its
//! training templates is calibrated leave-one-out (each template registered onto the others and
//! scored against them, as a new good part would be).

use dus_core::cloud::Cloud;
use dus_core::detector::{DetectError, Detector, DusNet, GoldenPart, Inspection};
use dus_core::model::Model;
use dus_core::registration::Reference;

/// Below this many good scores a false-reject rate cannot be measured, and the threshold gets a
/// safety margin above the worst of them instead.
pub const FEW_SCORES: usize = 20;
/// The margin used below `FEW_SCORES` scores, as a fraction of the threshold.
pub const FEW_SCORES_MARGIN: f64 = 0.1;

/// The smallest threshold that rejects at most `fraction` of `scores` (scores above it reject),
/// raised by `margin` (a fraction of it).
pub fn threshold_for(scores: &[f64], fraction: f64, margin: f64) -> f64 {
    let mut sorted = scores.to_vec();
    sorted.sort_by(f64::total_cmp);
    let allowed = (fraction * sorted.len() as f64).floor() as usize;
    sorted[sorted.len() - 1 - allowed.min(sorted.len() - 1)] * (1.0 + margin)
}

/// The margin calibration uses unless told otherwise: none when there are enough scores to
/// measure the rate, `FEW_SCORES_MARGIN` below that.
pub fn default_margin(scores: usize) -> f64 {
    if scores < FEW_SCORES {
        FEW_SCORES_MARGIN
    } else {
        0.0
    }
}

/// Object scores of each template against the other templates, in `model`'s frame and scoring
/// rule: the templates are registered onto the first, then each is compared with the union of the
/// rest as the golden part compares a scan with the reference.
pub fn leave_one_out_scores(templates: &[Cloud], model: &Model) -> Result<Vec<f64>, DetectError> {
    each_against_the_others(templates, |others, held_out| GoldenPart::from_templates(others, model, None).inspect(held_out))
}

/// DUS-Net's object score of each template with missing material judged against the union of
/// the other templates. Its reconstruction still comes from a model that learned every template;
/// the missing-material term is what a reference containing the template would hide completely.
pub fn dus_net_leave_one_out_scores(templates: &[Cloud], dus_net: &mut DusNet) -> Result<Vec<f64>, DetectError> {
    each_against_the_others(templates, |others, held_out| {
        dus_net.judge_missing_against(others)?;
        dus_net.inspect(held_out)
    })
}

/// `score(others, held_out)` for each template held out, the others being the union of the rest,
/// all registered onto the first template.
fn each_against_the_others(
    templates: &[Cloud],
    mut score: impl FnMut(&[[f32; 3]], &Cloud) -> Result<Inspection, DetectError>,
) -> Result<Vec<f64>, DetectError> {
    let registered = register_onto_first(templates)?;
    (0..registered.len())
        .map(|i| {
            let others: Vec<[f32; 3]> =
                registered.iter().enumerate().filter(|&(j, _)| j != i).flat_map(|(_, t)| t.points().iter().copied()).collect();
            score(&others, &registered[i]).map(|inspection| inspection.object_score)
        })
        .collect()
}

/// Every template moved onto the first one (as `tools/train.py` builds `reference.pcd`).
fn register_onto_first(templates: &[Cloud]) -> Result<Vec<Cloud>, DetectError> {
    let Some(first) = templates.first() else { return Ok(Vec::new()) };
    let reference = Reference::new(first.points());
    templates
        .iter()
        .enumerate()
        .map(|(i, template)| {
            if i == 0 {
                return Ok(template.clone());
            }
            let moved = reference.register(template.points()).apply_all(template.points());
            Cloud::from_points(moved).map_err(|problem| DetectError::Registration(format!("template {}: {problem}", i + 1)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_rejects_at_most_the_target_fraction() {
        let scores: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(threshold_for(&scores, 0.01, 0.0), 99.0);
        assert_eq!(threshold_for(&scores, 0.0, 0.0), 100.0);
        assert_eq!(threshold_for(&[0.3, 0.1, 0.2], 0.01, 0.0), 0.3);
    }

    #[test]
    fn few_scores_get_a_margin_above_the_worst() {
        assert!((threshold_for(&[0.3, 0.1, 0.2], 0.01, default_margin(3)) - 0.33).abs() < 1e-12);
        assert_eq!(default_margin(FEW_SCORES), 0.0);
    }
}
