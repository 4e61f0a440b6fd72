//! One module per subcommand; each maps arguments to library calls and prints.

mod completions;
mod conflicts;
mod debt;
mod demo;
mod doctor;
mod fetch;
mod graph;
mod impact;
mod init;
mod order;
mod promote;
mod report;
mod resolutions;
mod resolve;
mod review;
mod run;
mod serve;
mod validate;

use std::path::PathBuf;

use carry_graph::ProjectId;
use carry_graph::WorkspaceGraph;
use carry_graph::diagnostic::did_you_mean;
use carry_orchestrator::workspace::LoadedWorkspace;

use crate::cli::Cli;
use crate::cli::Command;
use crate::cli::GlobalArgs;
use crate::error::CliError;
use crate::error::Outcome;

pub(crate) fn run(cli: &Cli) -> Result<Outcome, CliError> {
    match &cli.command {
        Command::Validate(args) => validate::run(&cli.global, args),
        Command::Graph(args) => graph::run(&cli.global, args),
        Command::Order(args) => order::run(&cli.global, args),
        Command::Impact(args) => impact::run(&cli.global, args),
        Command::Fetch(args) => fetch::run(&cli.global, args),
        Command::Run(args) => run::run(&cli.global, args),
        Command::Report(args) => report::run(&cli.global, args),
        Command::Debt(args) => debt::run(&cli.global, args),
        Command::Promote(args) => promote::run(&cli.global, args),
        Command::Serve(args) => serve::run(&cli.global, args),
        Command::Demo(args) => demo::run(&cli.global, args),
        Command::Init(args) => init::run(&cli.global, args),
        Command::Doctor(args) => doctor::run(&cli.global, args),
        Command::Conflicts(args) => conflicts::run(&cli.global, args),
        Command::Resolve(args) => resolve::run(&cli.global, args),
        Command::Review(args) => review::run(&cli.global, args),
        Command::Completions(args) => completions::completions(args),
        Command::Man(args) => completions::man(args),
        Command::Resolutions(command) => resolutions::run(&cli.global, command),
    }
}

fn start_dir(global: &GlobalArgs) -> PathBuf {
    global
        .directory
        .clone()
        .unwrap_or_else(|| PathBuf::from("."))
}

fn load(global: &GlobalArgs) -> Result<LoadedWorkspace, CliError> {
    Ok(carry_orchestrator::workspace::load(&start_dir(global))?)
}

/// The project a user named on the command line, or a usage error with a near name.
fn project_arg(graph: &WorkspaceGraph, name: &str) -> Result<ProjectId, CliError> {
    graph.project(name).ok_or_else(|| {
        let message =
            match did_you_mean(name, graph.projects().map(carry_graph::ProjectName::as_str)) {
                Some(near) => format!("no project '{name}'; did you mean '{near}'?"),
                None => format!("no project '{name}'"),
            };
        let names: Vec<&str> = graph
            .projects()
            .map(carry_graph::ProjectName::as_str)
            .collect();
        CliError::usage(message).with_hint(format!("the projects are: {}", names.join(", ")))
    })
}

/// Project names from the command line, each checked against the manifest.
fn project_names(
    workspace: &LoadedWorkspace,
    names: &[String],
) -> Result<Vec<carry_graph::ProjectName>, CliError> {
    let projects = &workspace.manifest.workspace.projects;
    names
        .iter()
        .map(|name| match projects.keys().find(|p| p.as_str() == name) {
            Some(project) => Ok(project.clone()),
            None => {
                let message =
                    match did_you_mean(name, projects.keys().map(carry_graph::ProjectName::as_str))
                    {
                        Some(near) => format!("no project '{name}'; did you mean '{near}'?"),
                        None => format!("no project '{name}'"),
                    };
                Err(CliError::usage(message))
            }
        })
        .collect()
}

fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|error| CliError::failure(format!("cannot write JSON: {error}")))?;
    anstream::println!("{text}");
    Ok(())
}
