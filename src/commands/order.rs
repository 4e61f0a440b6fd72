//! `carry order`: the safe order to rebase and test, as stages.

use carry_graph::ProjectName;
use serde::Serialize;

use crate::cli::GlobalArgs;
use crate::cli::OrderArgs;
use crate::error::CliError;
use crate::error::Outcome;

#[derive(Serialize)]
struct OrderReport {
    stages: Vec<Vec<ProjectName>>,
}

pub(crate) fn run(global: &GlobalArgs, args: &OrderArgs) -> Result<Outcome, CliError> {
    let workspace = super::load(global)?;
    let graph = carry_orchestrator::queries::workspace_graph(&workspace)?;
    let stages = if args.moved.is_empty() {
        graph.stages().to_vec()
    } else {
        let moved = args
            .moved
            .iter()
            .map(|name| super::project_arg(&graph, name))
            .collect::<Result<Vec<_>, _>>()?;
        graph.stages_for_moved(&moved)
    };
    if args.json {
        super::print_json(&OrderReport { stages })?;
    } else {
        for (index, stage) in stages.iter().enumerate() {
            let names: Vec<&str> = stage.iter().map(ProjectName::as_str).collect();
            anstream::println!("stage {}: {}", index + 1, names.join(", "));
        }
    }
    Ok(Outcome::Clean)
}
