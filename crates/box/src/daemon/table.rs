//! Decisions as a CSV table for a spreadsheet (`history --csv`): a header row, then one row per
//! decision with fixed columns, each stage's milliseconds in its own column. Quoting is the `csv`
//! crate's (RFC 4180); text that a spreadsheet would run as a formula (part ids come from file
//! names) is prefixed with an apostrophe.

use std::borrow::Cow;
use std::io::Write;

use super::decision::Decision;
use dus_core::detector::Stage;

/// The columns before the stages.
const LEADING: [&str; 10] = ["time", "unix_ms", "part", "origin", "action", "fault_kind", "reason", "object_score", "threshold", "model"];
/// The columns after the stages.
const TRAILING: [&str; 3] = ["total_ms", "pulse", "heatmap"];

/// The stages with a column: intake (reading, queueing), then the detector's in pipeline order.
fn stages() -> impl Iterator<Item = &'static str> {
    std::iter::once("intake").chain(Stage::ALL.iter().map(|s| s.name()))
}

/// The header row.
pub fn header() -> Vec<String> {
    let stage_columns = stages().map(|s| format!("{s}_ms"));
    LEADING.iter().map(|c| c.to_string()).chain(stage_columns).chain(TRAILING.iter().map(|c| c.to_string())).collect()
}

/// Writes the header and one row per decision.
pub fn write_csv(decisions: &[Decision], out: impl Write) -> csv::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(header())?;
    for d in decisions {
        let number = |value: Option<f64>, places: usize| value.map_or(String::new(), |v| format!("{v:.places$}"));
        let mut row: Vec<String> = vec![
            d.time.clone(),
            d.unix_ms.to_string(),
            cell(&d.part).into_owned(),
            cell(&d.origin).into_owned(),
            d.action.as_str().to_string(),
            d.fault_kind.map_or("", |k| k.as_str()).to_string(),
            cell(&d.reason).into_owned(),
            number(d.object_score, 4),
            number(d.threshold, 4),
            cell(&d.model).into_owned(),
        ];
        row.extend(stages().map(|stage| number(d.stages_ms.iter().find(|(s, _)| s == stage).map(|(_, ms)| *ms), 1)));
        row.push(number(Some(d.total_ms), 1));
        row.push(d.pulse.map_or("", |p| p.as_str()).to_string());
        row.push(cell(d.heatmap.as_deref().unwrap_or_default()).into_owned());
        writer.write_record(&row)?;
    }
    writer.flush()?;
    Ok(())
}

/// Text as a spreadsheet shows it, never as a formula: a leading `= + - @` (or tab, CR) gets an
/// apostrophe before it (a lone "-", the model of a part rejected before one loaded, stays).
fn cell(text: &str) -> Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') if text != "-" => Cow::Owned(format!("'{text}")),
        _ => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::decision::{Action, FaultKind, PulseState};

    #[test]
    fn a_row_per_decision_under_the_header_and_no_formulas() {
        let decision = Decision {
            part: "=HYPERLINK(\"x\")".into(),
            origin: "spool a,b.pcd".into(),
            time: "2026-12-03T22:00:00.000Z".into(),
            unix_ms: 1_764_799_200_000,
            action: Action::Reject,
            reason: "unreadable scan: \"quoted\"".into(),
            fault: Some("unreadable scan".into()),
            fault_kind: Some(FaultKind::UnreadableScan),
            object_score: None,
            threshold: None,
            model: "-".into(),
            stages_ms: vec![("intake".into(), 3.24), ("score".into(), 70.0)],
            total_ms: 80.0,
            heatmap: None,
            pulse: Some(PulseState::Fired),
            pulse_unix_ms: None,
        };
        let mut out = Vec::new();
        write_csv(&[decision], &mut out).unwrap();
        let mut reader = csv::Reader::from_reader(&out[..]);
        let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
        assert_eq!(header.len(), 20);
        assert_eq!(&header[10..13], ["intake_ms", "register_ms", "group_ms"]);
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 1);
        let field = |name: &str| rows[0][header.iter().position(|h| h == name).unwrap()].to_string();
        assert_eq!(field("part"), "'=HYPERLINK(\"x\")");
        assert_eq!((field("origin"), field("reason")), ("spool a,b.pcd".to_string(), "unreadable scan: \"quoted\"".to_string()));
        assert_eq!((field("intake_ms"), field("register_ms"), field("score_ms")), ("3.2".to_string(), String::new(), "70.0".to_string()));
        assert_eq!(
            (field("fault_kind"), field("model"), field("pulse"), field("object_score")),
            ("unreadable_scan".into(), "-".into(), "fired".into(), String::new())
        );
    }
}
