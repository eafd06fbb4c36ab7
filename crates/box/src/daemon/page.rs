//! The status page's HTML: server-side, no script, refreshed by the browser every
//! [`REFRESH_SECONDS`]. Everything from the journal (part ids come from file names) is escaped.

use super::decision::{Decision, Stats};
use super::metrics::ModelInfo;

/// How often the browser reloads the page.
pub const REFRESH_SECONDS: u32 = 5;

/// What one page shows.
pub struct Page<'a> {
    /// Decisions since the daemon started.
    pub stats: &'a Option<Stats>,
    /// When the daemon started, RFC 3339.
    pub since: &'a str,
    pub last: Option<&'a Decision>,
    /// Newest first.
    pub rejects: &'a [Decision],
    /// Each reject's picture name in the heatmap folder, if it has one.
    pub pictures: &'a [Option<String>],
    pub model: Option<ModelInfo>,
    /// Why the daemon is not healthy, if it is not.
    pub trouble: Option<String>,
    /// With `[publish]`: whether the MQTT broker is connected, and the rows waiting for it.
    pub broker: Option<(bool, u64)>,
    /// The query token the page was opened with, carried into its picture links.
    pub token: Option<&'a str>,
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222;background:#fafafa}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .7em;text-align:right}\
th{background:#eee}td.l,th.l{text-align:left}.bad{color:#b00;font-weight:bold}.good{color:#175;font-weight:bold}\
figure{margin:1em 0}img{max-width:100%;border:1px solid #ccc}";

pub fn render(page: &Page) -> String {
    let mut html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">\
         <title>dus-edge status</title><style>{STYLE}</style></head><body>\n<h1>dus-edge</h1>\n"
    );
    html += &match &page.trouble {
        None => "<p id=\"health\" class=\"good\">healthy: deciding parts</p>\n".to_string(),
        Some(why) => format!("<p id=\"health\" class=\"bad\">NOT HEALTHY: {}</p>\n", escape(why)),
    };
    html += &match &page.model {
        Some(m) => format!(
            "<p>Model <b id=\"model\">{}</b>, threshold <b id=\"threshold\">{:.3}</b> mm (object score)</p>\n",
            escape(&m.label),
            m.threshold
        ),
        None => "<p class=\"bad\">No model loaded</p>\n".to_string(),
    };
    if let Some((connected, waiting)) = page.broker {
        let (class, state) = if connected { ("good", "connected") } else { ("bad", "NOT CONNECTED") };
        html += &format!("<p id=\"broker\" class=\"{class}\">MQTT broker {state}, {waiting} decisions waiting to be published</p>\n");
    }
    html += &counts(page.stats, page.since);
    html += &last(page.last);
    html += &latency(page.stats);
    html += &rejects(page);
    html += "</body></html>\n";
    html
}

fn counts(stats: &Option<Stats>, since: &str) -> String {
    let (parts, rejects, faults) =
        stats.as_ref().map_or((0, 0, Vec::new()), |s| (s.parts, s.rejects, s.faults.iter().map(|(k, n)| (*k, *n)).collect()));
    let fault_total: usize = faults.iter().map(|(_, n)| n).sum();
    let mut html = format!(
        "<h2>Since the daemon started ({})</h2>\n<table><tr><th class=\"l\">parts</th><td id=\"parts\">{parts}</td></tr>\
         <tr><th class=\"l\">passes</th><td id=\"passes\">{}</td></tr><tr><th class=\"l\">rejects</th><td id=\"rejects\">{rejects}</td></tr>\
         <tr><th class=\"l\">of them faults</th><td id=\"faults\">{fault_total}</td></tr>",
        escape(since),
        parts - rejects
    );
    for (kind, n) in faults {
        html += &format!("<tr><td class=\"l\">&nbsp;&nbsp;{}</td><td id=\"fault-{}\">{n}</td></tr>", escape(kind.words()), kind.as_str());
    }
    html + "</table>\n"
}

fn last(decision: Option<&Decision>) -> String {
    let Some(d) = decision else { return "<h2>Last decision</h2>\n<p id=\"last\">none yet</p>\n".to_string() };
    let class = if d.is_reject() { "bad" } else { "good" };
    format!(
        "<h2>Last decision</h2>\n<p id=\"last\">{} part <b>{}</b> <span class=\"{class}\">{}</span>: {} ({:.0} ms)</p>\n",
        escape(&d.time),
        escape(&d.part),
        d.action.as_str().to_uppercase(),
        escape(&d.reason),
        d.total_ms
    )
}

fn latency(stats: &Option<Stats>) -> String {
    let Some(stats) = stats else { return String::new() };
    let mut html =
        "<h2>Latency per stage (ms)</h2>\n<table><tr><th class=\"l\">stage</th><th>p50</th><th>p99</th><th>max</th></tr>".to_string();
    for s in &stats.stages {
        html +=
            &format!("<tr><td class=\"l\">{}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td></tr>", escape(&s.stage), s.p50, s.p99, s.max);
    }
    html + "</table>\n"
}

fn rejects(page: &Page) -> String {
    let mut html = "<h2>Latest rejects, newest first</h2>\n".to_string();
    if page.rejects.is_empty() {
        return html + "<p>none</p>\n";
    }
    let query = page.token.map(|t| format!("?token={}", escape(t))).unwrap_or_default();
    html += "<ol id=\"reject-list\">\n";
    for (d, picture) in page.rejects.iter().zip(page.pictures) {
        let caption = format!("{} part <b>{}</b>: {}", escape(&d.time), escape(&d.part), escape(&d.reason));
        html += &match picture {
            Some(name) => format!(
                "<li><figure><figcaption>{caption}</figcaption><img src=\"/rejects/{}{query}\" alt=\"part {}\" width=\"1420\"></figure></li>\n",
                escape(name),
                escape(&d.part)
            ),
            None => format!("<li>{caption} (no picture: not inspected, or pruned)</li>\n"),
        };
    }
    html + "</ol>\n"
}

/// Text safe inside HTML elements and quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out += "&amp;",
            '<' => out += "&lt;",
            '>' => out += "&gt;",
            '"' => out += "&quot;",
            '\'' => out += "&#39;",
            c => out.push(c),
        }
    }
    out
}
