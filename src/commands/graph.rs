//! `carry graph`: the workspace graph as text, Graphviz dot, Mermaid or JSON.

use std::fmt::Write as _;

use carry_orchestrator::graph_view::GraphReport;
use carry_orchestrator::graph_view::report;

use crate::cli::GlobalArgs;
use crate::cli::GraphArgs;
use crate::cli::GraphFormat;
use crate::error::CliError;
use crate::error::Outcome;

pub(crate) fn run(global: &GlobalArgs, args: &GraphArgs) -> Result<Outcome, CliError> {
    let workspace = super::load(global)?;
    let graph = carry_orchestrator::queries::workspace_graph(&workspace)?;
    let report = report(&workspace.manifest.workspace, &graph);
    match args.format {
        GraphFormat::Json => super::print_json(&report)?,
        GraphFormat::Text => anstream::print!("{}", text(&report)),
        GraphFormat::Dot => anstream::print!("{}", dot(&report)),
        GraphFormat::Mermaid => anstream::print!("{}", mermaid(&report)),
    }
    Ok(Outcome::Clean)
}

fn join<T: ToString>(items: &[T]) -> String {
    if items.is_empty() {
        return "-".to_owned();
    }
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn text(report: &GraphReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "workspace {}: {} projects in {} stages, {} features",
        report.workspace,
        report.projects.len(),
        report.stages.len(),
        report.features.len()
    );
    for project in &report.projects {
        let upstream = project
            .upstream
            .url
            .as_deref()
            .or(project.upstream.path.as_deref())
            .unwrap_or("");
        let series = match (&project.series.branch, &project.series.dir) {
            (Some(branch), _) => format!("branch {branch}"),
            (_, Some(dir)) => format!("dir {dir}"),
            _ => String::new(),
        };
        let base = project
            .series
            .base
            .as_deref()
            .map_or_else(|| "merge base".to_owned(), ToOwned::to_owned);
        let _ = writeln!(
            out,
            "\n[{}] {} (stage {})",
            project.stage, project.name, project.stage
        );
        let _ = writeln!(
            out,
            "  upstream  {upstream} @ {}",
            project.upstream.reference
        );
        let _ = writeln!(out, "  series    {series} on {base}");
        let _ = writeln!(out, "  consumes  {}", join(&project.consumes));
        let _ = writeln!(out, "  consumers {}", join(&project.consumers));
        let names: Vec<&str> = project.patches.iter().map(|p| p.name.as_str()).collect();
        let _ = writeln!(out, "  patches   {}", join(&names));
    }
    for feature in &report.features {
        let mut heading = format!("\nfeature {}", feature.name);
        if let Some(description) = &feature.description {
            let _ = write!(heading, ": {description}");
        }
        if let Some(deadline) = &feature.deadline {
            let _ = write!(heading, " (deadline {deadline})");
        }
        let _ = writeln!(out, "{heading}");
        for patch in &feature.patches {
            if patch.needs.is_empty() {
                let _ = writeln!(out, "  {}", patch.id);
            } else {
                let _ = writeln!(out, "  {} needs {}", patch.id, join(&patch.needs));
            }
        }
    }
    out
}

/// An identifier safe in dot and Mermaid, one-to-one with its name: letters and digits as they
/// are, anything else as `_` and its hex code.
fn node_id(kind: &str, name: &str) -> String {
    let mut id = String::with_capacity(kind.len() + name.len() * 2 + 1);
    id.push_str(kind);
    id.push('_');
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c);
        } else {
            let _ = write!(id, "_{:x}", u32::from(c));
        }
    }
    id
}

fn dot(report: &GraphReport) -> String {
    let mut out =
        String::from("digraph carry {\n  rankdir=BT;\n  node [shape=box, style=rounded];\n");
    for project in &report.projects {
        let _ = writeln!(
            out,
            "  {} [label=\"{}\"];",
            node_id("p", project.name.as_str()),
            project.name
        );
    }
    for project in &report.projects {
        for consumed in &project.consumes {
            let _ = writeln!(
                out,
                "  {} -> {} [label=\"consumes\"];",
                node_id("p", project.name.as_str()),
                node_id("p", consumed.as_str())
            );
        }
    }
    for feature in &report.features {
        let _ = writeln!(
            out,
            "  subgraph {} {{\n    label=\"feature {}\";\n    style=dashed;",
            node_id("cluster", feature.name.as_str()),
            feature.name
        );
        for patch in &feature.patches {
            let _ = writeln!(
                out,
                "    {} [label=\"{}\", shape=note];",
                node_id("patch", &format!("{}_{}", feature.name, patch.id)),
                patch.id
            );
        }
        out.push_str("  }\n");
        for patch in &feature.patches {
            let from = node_id("patch", &format!("{}_{}", feature.name, patch.id));
            let _ = writeln!(
                out,
                "  {from} -> {} [style=dotted, arrowhead=none];",
                node_id("p", patch.id.project.as_str())
            );
            for needed in &patch.needs {
                let _ = writeln!(
                    out,
                    "  {from} -> {} [style=dashed, label=\"needs\"];",
                    node_id("patch", &format!("{}_{needed}", feature.name))
                );
            }
        }
    }
    out.push_str("}\n");
    out
}

fn mermaid(report: &GraphReport) -> String {
    let mut out = String::from("flowchart BT\n");
    for project in &report.projects {
        let _ = writeln!(
            out,
            "  {}[\"{}\"]",
            node_id("p", project.name.as_str()),
            project.name
        );
    }
    for project in &report.projects {
        for consumed in &project.consumes {
            let _ = writeln!(
                out,
                "  {} -->|consumes| {}",
                node_id("p", project.name.as_str()),
                node_id("p", consumed.as_str())
            );
        }
    }
    for feature in &report.features {
        let _ = writeln!(
            out,
            "  subgraph {}[\"feature {}\"]",
            node_id("f", feature.name.as_str()),
            feature.name
        );
        for patch in &feature.patches {
            let _ = writeln!(
                out,
                "    {}([\"{}\"])",
                node_id("patch", &format!("{}_{}", feature.name, patch.id)),
                patch.id
            );
        }
        out.push_str("  end\n");
        for patch in &feature.patches {
            let from = node_id("patch", &format!("{}_{}", feature.name, patch.id));
            for needed in &patch.needs {
                let _ = writeln!(
                    out,
                    "  {from} -.->|needs| {}",
                    node_id("patch", &format!("{}_{needed}", feature.name))
                );
            }
            let _ = writeln!(
                out,
                "  {from} --- {}",
                node_id("p", patch.id.project.as_str())
            );
        }
    }
    out
}
