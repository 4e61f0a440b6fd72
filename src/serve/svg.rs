//! The workspace graph drawn by carry itself: stages as columns, projects as boxes coloured
//! by their last outcome, `consumes` as arrows, each feature as a coloured line through the
//! projects that hold its patches.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use carry_graph::WorkspaceGraph;
use carry_graph::workspace::Workspace;
use carry_orchestrator::report::ProjectStatus;
use carry_orchestrator::report::RunReport;
use carry_orchestrator::report::TestStatus;

const COLUMN: i64 = 230;
const ROW: i64 = 92;
const BOX_W: i64 = 176;
const BOX_H: i64 = 58;
const MARGIN: i64 = 30;
const FEATURE_COLOURS: &[&str] = &[
    "#7c3aed", "#0891b2", "#db2777", "#ca8a04", "#2563eb", "#059669",
];

/// Escapes text for XML.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A project's last outcome: a CSS class and a word.
pub(crate) fn outcome(report: Option<&RunReport>, project: &str) -> (&'static str, String) {
    let Some(project) = report.and_then(|r| r.projects.iter().find(|p| p.name.as_str() == project))
    else {
        return ("none", "no run yet".to_owned());
    };
    let failed = project
        .patches
        .iter()
        .filter(|p| p.outcome.failed())
        .count();
    match project.status {
        ProjectStatus::Error => ("bad", "error".to_owned()),
        ProjectStatus::Unchanged => ("same", "unchanged".to_owned()),
        ProjectStatus::Rebased if failed > 0 => (
            "bad",
            format!(
                "{failed} patch{} stuck",
                if failed == 1 { "" } else { "es" }
            ),
        ),
        ProjectStatus::Rebased => match project.test.status {
            TestStatus::Failed | TestStatus::Timeout => ("bad", "test failed".to_owned()),
            TestStatus::Blocked => ("warn", "test blocked".to_owned()),
            TestStatus::Passed => ("good", "rebased, passed".to_owned()),
            TestStatus::Skipped => ("good", "rebased".to_owned()),
        },
    }
}

pub(crate) fn render(
    workspace: &Workspace,
    graph: &WorkspaceGraph,
    report: Option<&RunReport>,
) -> String {
    let mut position: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut rows = 0;
    for (column, stage) in graph.stages().iter().enumerate() {
        for (row, name) in stage.iter().enumerate() {
            let x = MARGIN + i64::try_from(column).unwrap_or(0) * COLUMN;
            let y = MARGIN + 24 + i64::try_from(row).unwrap_or(0) * ROW;
            position.insert(name.to_string(), (x, y));
            rows = rows.max(row + 1);
        }
    }
    let features: Vec<_> = workspace.features.values().collect();
    let width = MARGIN * 2 + i64::try_from(graph.stages().len()).unwrap_or(0) * COLUMN;
    let height = MARGIN * 2
        + 24
        + i64::try_from(rows).unwrap_or(0) * ROW
        + i64::try_from(features.len()).unwrap_or(0) * 20
        + 10;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="workspace graph" class="carry-graph">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#64748b"/></marker></defs>
<style>
.project rect {{ stroke-width: 2; rx: 10; }}
.project.good rect {{ fill: #dcfce7; stroke: #16a34a; }}
.project.bad rect {{ fill: #fee2e2; stroke: #dc2626; }}
.project.warn rect {{ fill: #fef3c7; stroke: #d97706; }}
.project.same rect {{ fill: #f1f5f9; stroke: #94a3b8; }}
.project.none rect {{ fill: #ffffff; stroke: #cbd5e1; }}
.project text {{ font: 600 15px system-ui, sans-serif; fill: #0f172a; }}
.project text.state {{ font: 12px system-ui, sans-serif; fill: #334155; }}
.stage {{ font: 12px system-ui, sans-serif; fill: #64748b; }}
.consumes {{ stroke: #64748b; stroke-width: 1.5; fill: none; }}
.feature {{ stroke-width: 3; fill: none; stroke-dasharray: 6 4; opacity: 0.85; }}
.feature-label {{ font: 600 12px system-ui, sans-serif; }}
</style>
"##
    );
    for column in 0..graph.stages().len() {
        let x = MARGIN + i64::try_from(column).unwrap_or(0) * COLUMN;
        let _ = writeln!(
            svg,
            r#"<text class="stage" x="{x}" y="{}">stage {}</text>"#,
            MARGIN + 8,
            column + 1
        );
    }
    for (name, project) in &workspace.projects {
        let Some(&(x, y)) = position.get(name.as_str()) else {
            continue;
        };
        for consumed in &project.consumes {
            if let Some(&(cx, cy)) = position.get(consumed.as_str()) {
                let _ = writeln!(
                    svg,
                    r#"<path class="consumes" marker-end="url(#arrow)" d="M {} {} C {} {} {} {} {} {}"><title>{} consumes {}</title></path>"#,
                    x,
                    y + BOX_H / 2,
                    x - 30,
                    y + BOX_H / 2,
                    cx + BOX_W + 30,
                    cy + BOX_H / 2,
                    cx + BOX_W,
                    cy + BOX_H / 2,
                    escape(name.as_str()),
                    escape(consumed.as_str())
                );
            }
        }
    }
    for (index, feature) in features.iter().enumerate() {
        let colour = FEATURE_COLOURS[index % FEATURE_COLOURS.len()];
        let mut owners: Vec<(i64, i64)> = feature
            .patches()
            .iter()
            .filter_map(|p| position.get(p.project.as_str()).copied())
            .collect();
        owners.sort_unstable();
        owners.dedup();
        let offset = 8 + i64::try_from(index).unwrap_or(0) * 6;
        let points: Vec<String> = owners
            .iter()
            .map(|(x, y)| format!("{},{}", x + BOX_W / 2, y + BOX_H - offset))
            .collect();
        if points.len() > 1 {
            let _ = writeln!(
                svg,
                r#"<polyline class="feature" stroke="{colour}" points="{}"><title>feature {}</title></polyline>"#,
                points.join(" "),
                escape(feature.name.as_str())
            );
        }
        let legend_y =
            height - MARGIN - i64::try_from(features.len() - index).unwrap_or(0) * 20 + 14;
        let (status_class, _) = feature_state(report, feature.name.as_str());
        let _ = writeln!(
            svg,
            r#"<g class="feature-legend {status_class}"><line x1="{MARGIN}" y1="{}" x2="{}" y2="{}" stroke="{colour}" stroke-width="3" stroke-dasharray="6 4"/><text class="feature-label" fill="{colour}" x="{}" y="{}">feature {} — {}</text></g>"#,
            legend_y - 4,
            MARGIN + 30,
            legend_y - 4,
            MARGIN + 38,
            legend_y,
            escape(feature.name.as_str()),
            escape(&feature_state(report, feature.name.as_str()).1)
        );
    }
    for name in workspace.projects.keys() {
        let Some(&(x, y)) = position.get(name.as_str()) else {
            continue;
        };
        let (class, state) = outcome(report, name.as_str());
        let _ = writeln!(
            svg,
            r#"<g class="project {class}" data-project="{name}"><rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}"/><text x="{}" y="{}">{name}</text><text class="state" x="{}" y="{}">{}</text></g>"#,
            x + 12,
            y + 23,
            x + 12,
            y + 43,
            escape(&state),
            name = escape(name.as_str())
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn feature_state(report: Option<&RunReport>, feature: &str) -> (&'static str, String) {
    use carry_orchestrator::report::FeatureStatus;
    match report.and_then(|r| r.features.iter().find(|f| f.name.as_str() == feature)) {
        None => ("none", "no run yet".to_owned()),
        Some(f) => match f.status {
            FeatureStatus::Ok => ("good", "ok".to_owned()),
            FeatureStatus::AtRisk => ("warn", "at risk".to_owned()),
            FeatureStatus::Blocked => ("bad", format!("blocked by {}", f.blocked_by.join(", "))),
        },
    }
}
