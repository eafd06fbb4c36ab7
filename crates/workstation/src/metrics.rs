//! Detection metrics with scikit-learn's semantics (`roc_auc_score`, `average_precision_score`):
//! tied scores form one threshold, so ties are neither optimistic nor pessimistic.

/// Area under the ROC curve; `None` when the labels hold only one class.
pub fn auroc(scores: &[f32], labels: &[bool]) -> Option<f64> {
    let (positives, negatives) = class_counts(labels)?;
    let (mut tp, mut fp, mut area) = (0.0, 0.0, 0.0);
    for (group_tp, group_fp) in threshold_groups(scores, labels) {
        let (prev_tp, prev_fp) = (tp, fp);
        tp += group_tp;
        fp += group_fp;
        area += (fp - prev_fp) * (tp + prev_tp) / 2.0; // trapezoid
    }
    Some(area / (positives * negatives))
}

/// Average precision: the sum over thresholds of precision times the recall gained there.
pub fn average_precision(scores: &[f32], labels: &[bool]) -> Option<f64> {
    let (positives, _) = class_counts(labels)?;
    let (mut tp, mut fp, mut ap) = (0.0, 0.0, 0.0);
    for (group_tp, group_fp) in threshold_groups(scores, labels) {
        tp += group_tp;
        fp += group_fp;
        ap += group_tp / positives * (tp / (tp + fp));
    }
    Some(ap)
}

fn class_counts(labels: &[bool]) -> Option<(f64, f64)> {
    let positives = labels.iter().filter(|&&l| l).count();
    let negatives = labels.len() - positives;
    (positives > 0 && negatives > 0).then_some((positives as f64, negatives as f64))
}

/// (positives, negatives) at each distinct score, highest score first.
fn threshold_groups(scores: &[f32], labels: &[bool]) -> Vec<(f64, f64)> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut groups: Vec<(f64, f64)> = Vec::new();
    let mut last = None;
    for i in order {
        if last != Some(scores[i].to_bits()) {
            groups.push((0.0, 0.0));
            last = Some(scores[i].to_bits());
        }
        let group = groups.last_mut().expect("a group was just pushed");
        if labels[i] {
            group.0 += 1.0;
        } else {
            group.1 += 1.0;
        }
    }
    groups
}

/// Rescales scores to [0, 1] (per category, over all its test points, as the peers report).
pub fn min_max_normalise(scores: &mut [f32]) {
    let (lo, hi) = scores.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &s| (lo.min(s), hi.max(s)));
    let span = hi - lo;
    for s in scores.iter_mut() {
        *s = if span > 0.0 { (*s - lo) / span } else { 0.0 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(bits: &[u8]) -> Vec<bool> {
        bits.iter().map(|&b| b == 1).collect()
    }

    // Expected values: sklearn 1.9.1 roc_auc_score / average_precision_score on the same arrays.
    #[test]
    fn matches_sklearn_on_scores_with_ties() {
        let scores = [0.1, 0.4, 0.35, 0.8, 0.8, 0.2, 0.5, 0.5, 0.9, 0.05];
        let y = labels(&[0, 0, 1, 1, 0, 0, 1, 0, 1, 0]);
        assert!((auroc(&scores, &y).unwrap() - 0.7916666666666666).abs() < 1e-12);
        assert!((average_precision(&scores, &y).unwrap() - 0.7095238095238094).abs() < 1e-12);
    }

    #[test]
    fn matches_sklearn_when_most_scores_tie() {
        let scores = [1.0, 1.0, 1.0, 2.0, 2.0, 3.0];
        let y = labels(&[0, 1, 0, 1, 1, 1]);
        assert!((auroc(&scores, &y).unwrap() - 0.875).abs() < 1e-12);
        assert!((average_precision(&scores, &y).unwrap() - 0.9166666666666666).abs() < 1e-12);
    }

    #[test]
    fn one_class_has_no_auroc() {
        assert_eq!(auroc(&[0.1, 0.2], &[true, true]), None);
    }

    #[test]
    fn normalising_keeps_order_and_spans_zero_to_one() {
        let mut s = [2.0, 4.0, 3.0];
        min_max_normalise(&mut s);
        assert_eq!(s, [0.0, 1.0, 0.5]);
    }
}
