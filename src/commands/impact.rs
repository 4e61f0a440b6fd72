//! `carry impact P`: what breaks if P's upstream moves (graph level).

use std::fmt::Display;

use crate::cli::GlobalArgs;
use crate::cli::ImpactArgs;
use crate::error::CliError;
use crate::error::Outcome;

pub(crate) fn run(global: &GlobalArgs, args: &ImpactArgs) -> Result<Outcome, CliError> {
    let workspace = super::load(global)?;
    let graph = carry_orchestrator::queries::workspace_graph(&workspace)?;
    let project = super::project_arg(&graph, &args.project)?;
    let impact = graph.impact(project);
    if args.json {
        super::print_json(&impact)?;
        return Ok(Outcome::Clean);
    }
    anstream::println!("if {} moves:", impact.project);
    line("consumers", &impact.consumers);
    line("features", &impact.features);
    line("patches at risk", &impact.patches_at_risk);
    line("re-test, in order", &impact.retest);
    Ok(Outcome::Clean)
}

fn line<T: Display>(label: &str, items: &[T]) {
    if items.is_empty() {
        anstream::println!("  {label}: none");
    } else {
        let text: Vec<String> = items.iter().map(ToString::to_string).collect();
        anstream::println!("  {label} ({}): {}", items.len(), text.join(", "));
    }
}
